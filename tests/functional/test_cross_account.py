"""Targets in two AWS accounts synced in one run, the second through an assumed role.

moto's STS hands out the assumed role's credentials; the Connect emulator asks moto (over
its wire protocol, GetCallerIdentity) which account each request's access key belongs to
and refuses a resource of another account with AccessDeniedException, as AWS does: Connect
has no resource policies, so only credentials of the instance's own account reach it. The
run goes through the real CLI and the real boto3 clients.

- Account 123456789012 runs the sync (moto's default account, the base credentials).
- Account 222222222222 holds a second instance and the role the sync assumes there.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.sts.models import sts_backends

from connect_user_sync.config import TargetConfig, load_config
from connect_user_sync.connect import ConnectInstance, RateLimiter
from connect_user_sync.connect.client import USER_AGENT, connect_client
from connect_user_sync.domain.models import TAG_MANAGED
from connect_user_sync.service import RunRequest, run_sync
from connect_user_sync_emulators.connect import ConnectEmulator
from tests.cfn_iam import render, trusted
from tests.conftest import SPEED, World, person

ROOT = Path(__file__).resolve().parents[2]
SYNC, OTHER, THIRD = "123456789012", "222222222222", "333333333333"
ROLE_B = f"arn:aws:iam::{OTHER}:role/connect-user-sync-target"
EXTERNAL_ID = "connect-user-sync-7f3a"
PEOPLE = [
    person("u1", "ana.alves@example.com"),
    person("u2", "bo.berg@example.com"),
    person("u3", "cy.chan@example.com"),
]


def account_of(moto_url: str) -> Callable[[str], str | None]:
    """Which account an access key belongs to, asked of moto's STS like AWS would."""

    @functools.cache
    def lookup(access_key_id: str) -> str | None:
        sts = boto3.client(
            "sts",
            region_name="us-east-1",
            endpoint_url=moto_url,
            aws_access_key_id=access_key_id,
            aws_secret_access_key="moto-does-not-check-signatures",
        )
        account: str = sts.get_caller_identity()["Account"]
        return account

    return lookup


@pytest.fixture(scope="module")
def accounts(moto_url: str) -> Iterator[ConnectEmulator]:
    with ConnectEmulator(speed=SPEED, caller_account=account_of(moto_url)) as emulator:
        yield emulator


class Accounts(World):
    """The conftest World (instance A, in the sync account) plus instances in account B."""

    def __init__(self, emulator: ConnectEmulator, tmp: Path, capsys: Any) -> None:
        super().__init__(emulator, tmp, capsys)
        self.iid_b = self.instance(OTHER)
        self.arn_b = emulator.instance_arn(self.iid_b)
        self.add_people(*PEOPLE)
        self.config["targets"] = [
            {"instance_id": self.iid, "region": "us-east-1"},
            {"instance_arn": self.arn_b, "role_arn": ROLE_B, "external_id": EXTERNAL_ID},
        ]

    def instance(self, account: str) -> str:
        iid = self.emulator.add_instance(account_id=account)
        for name in ("Agent", "Supervisor", "Disabled"):
            self.emulator.add_security_profile(iid, name)
        for name in ("Basic", "Sales"):
            self.emulator.add_routing_profile(iid, name)
        self.emulator.add_hierarchy_group(iid, "Floor 1")
        return iid

    def names(self, iid: str) -> set[str]:
        return {u["Username"] for u in self.emulator.users(iid)}


@pytest.fixture
def world(
    accounts: ConnectEmulator,
    moto_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Accounts]:
    monkeypatch.setenv("AWS_ENDPOINT_URL_CONNECT", accounts.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", moto_url)
    accounts.clear_faults()
    yield Accounts(accounts, tmp_path, capsys)
    accounts.clear_faults()


def sections(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["instance_id"]: t for t in report["targets"]}


def assumed(role_arn: str) -> list[Any]:
    return [r for r in sts_backends[OTHER]["aws"].assumed_roles if r.role_arn == role_arn]


# --------------------------------------------------------------------------- tests


def test_two_accounts_are_synced_in_one_run_through_the_assumed_role(world: Accounts) -> None:
    before = len(assumed(ROLE_B))

    code, report, err = world.cli("apply")

    assert code == 0, err
    assert report is not None and report["status"] == "succeeded"
    by_instance = sections(report)
    assert set(by_instance) == {world.iid, world.iid_b}  # one report section per target
    for iid in (world.iid, world.iid_b):
        assert by_instance[iid]["counts"]["create"] == 3
        assert "error" not in by_instance[iid]
        assert world.names(iid) == {p["upn"] for p in PEOPLE}
        assert all(u["Tags"][TAG_MANAGED] == "true" for u in world.emulator.users(iid))
    # The second account was reached with the role's credentials, asked for as configured.
    sessions = assumed(ROLE_B)[before:]
    assert sessions, "the run never assumed the role in the other account"
    assert {(s.external_id, s.session_name) for s in sessions} == {(EXTERNAL_ID, USER_AGENT)}
    # ... and that request is exactly what the role template, deployed with this external
    # id, lets the sync role do.
    role = render(
        ROOT / "templates" / "target-account-role.yaml",
        {
            "SyncRoleArn": f"arn:aws:iam::{SYNC}:role/sync-SyncFunctionRole-1",
            "ExternalId": EXTERNAL_ID,
            "TargetInstanceArns": world.arn_b,
            "GrantableSecurityProfileIds": "5a000000-0000-4000-8000-00000000a001",
            "GrantableRoutingProfileIds": "7b000000-0000-4000-8000-00000000b001",
        },
        account=OTHER,
    )
    trust = role.resource("TargetAccountRole")["AssumeRolePolicyDocument"]
    context = {"sts:ExternalId": sessions[-1].external_id}
    assert trusted(trust, f"arn:aws:iam::{SYNC}:role/sync-SyncFunctionRole-1", context)

    code, report, err = world.cli("apply")  # converged in both accounts
    assert code == 0, err
    assert report is not None
    for section in report["targets"]:
        assert section["counts"]["create"] == 0 and section["counts"]["unchanged"] == 3


def test_without_the_role_the_other_account_refuses_and_the_first_is_still_synced(
    world: Accounts,
) -> None:
    world.config["targets"][1].pop("role_arn")
    world.config["targets"][1].pop("external_id")

    code, report, _ = world.cli("apply")

    assert code == 1
    assert report is not None and report["status"] == "partial"
    by_instance = sections(report)
    assert "AccessDenied" in by_instance[world.iid_b]["error"]
    assert world.names(world.iid_b) == set()
    assert by_instance[world.iid]["counts"]["create"] == 3
    assert world.names(world.iid) == {p["upn"] for p in PEOPLE}


def test_a_target_that_fails_never_stops_the_others(world: Accounts) -> None:
    """Three targets: A (own account), B (assumed role), C (B's account through a role of a
    third account, which AWS refuses). C fails alone; A and B are synced."""
    iid_c = world.instance(OTHER)
    world.config["targets"].insert(
        1,
        {
            "instance_arn": world.emulator.instance_arn(iid_c),
            "role_arn": f"arn:aws:iam::{THIRD}:role/connect-user-sync-target",
            "external_id": EXTERNAL_ID,
        },
    )

    code, report, _ = world.cli("apply")

    assert code == 1
    assert report is not None and report["status"] == "partial"
    by_instance = sections(report)
    assert len(report["targets"]) == 3
    assert "AccessDenied" in by_instance[iid_c]["error"] and world.names(iid_c) == set()
    assert any(iid_c in e for e in report["errors"])
    for iid in (world.iid, world.iid_b):
        assert "error" not in by_instance[iid]
        assert by_instance[iid]["counts"]["create"] == 3
        assert world.names(iid) == {p["upn"] for p in PEOPLE}


class BrokenApply(ConnectInstance):
    """A target whose apply breaks on something no adapter anticipated (a bug)."""

    def apply(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("unexpected state in the writer")


def test_a_target_whose_apply_breaks_does_not_stop_the_next(world: Accounts) -> None:
    path = world.write()
    config = load_config(path)

    def connect(target: TargetConfig, limiter: RateLimiter) -> ConnectInstance:
        client = connect_client(
            target.region, role_arn=target.role_arn, external_id=target.external_id
        )
        kind = BrokenApply if target.instance_id == world.iid else ConnectInstance
        return kind(client, target.instance_id, limiter=limiter)

    outcome = run_sync(config, RunRequest(), connect=connect)

    report = outcome.report.to_json()
    assert outcome.exit_code == 1 and report["status"] == "partial"
    by_instance = sections(report)
    assert "RuntimeError" in by_instance[world.iid]["error"]
    assert world.names(world.iid) == set()
    assert by_instance[world.iid_b]["counts"]["create"] == 3
    assert world.names(world.iid_b) == {p["upn"] for p in PEOPLE}
