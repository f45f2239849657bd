"""Duo end to end through the CLI: the secret key read by ARN, duo_client over TLS, Connect.

GIVEN a Duo account (emulator over TLS, every request's signature checked) and the Admin
API application's secret key stored in Secrets Manager (moto) and named by ARN, WHEN the
CLI applies, THEN Connect holds the members who may sign in, leavers are disabled, a user
without the asserted attribute is reported, a wrong key changes nothing (exit 4) and a
read that cannot finish deprovisions nobody.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from rich.console import Console

from connect_user_sync.cli.demo import run_demo
from connect_user_sync.retry import RetryPolicy
from connect_user_sync.sources import duo as duo_source
from connect_user_sync_emulators.duo import DuoEmulator
from tests.conftest import World, person

IKEY = "DIE2EXAMPLEINTEGRATN"
SKEY = "e2e0secret0key0that0only0moto0knows0abc"
WRITES = ("CreateUser", "UpdateUserSecurityProfiles", "UpdateUserRoutingProfile", "TagResource")


@pytest.fixture
def account(
    world: World, moto_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, Any]]:
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto_url)
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()
    # Retries as in production, without the real waiting.
    fast = RetryPolicy(max_attempts=4, max_total_wait=60.0, sleep=lambda seconds: None)
    monkeypatch.setattr(duo_source, "DEFAULT_RETRY", fast)
    with DuoEmulator(IKEY, SKEY) as duo:
        for key, value in duo.env().items():
            monkeypatch.setenv(key, value)
        duo.add_group("DGAGENTS", "Agents")
        duo.add_group("DGSUP", "Supervisors")
        secrets = boto3.client("secretsmanager", region_name="us-east-1")
        yield {"duo": duo, "secrets": secrets}


def use_duo(world: World, duo: DuoEmulator, attribute: str = "email", **keys: str) -> None:
    world.config["source"] = {
        "type": "duo",
        "duo": {"api_host": duo.api_host, "integration_key": IKEY, **keys},
    }
    world.config["username"] = {"attribute": attribute}


def writes(world: World) -> int:
    return sum(world.emulator.calls[name] for name in WRITES)


def add(duo: DuoEmulator, uid: str, email: str | None, group: str, **fields: Any) -> None:
    local = (email or uid).split("@")[0]
    duo.add_user(uid, local, email=email, firstname="First", lastname=local.title(), **fields)
    duo.groups[group].members.append(uid)


def test_the_secret_key_by_arn_syncs_who_may_sign_in(world: World, account: dict[str, Any]) -> None:
    duo: DuoEmulator = account["duo"]
    arn = account["secrets"].create_secret(Name="duo-skey", SecretString=SKEY)["ARN"]
    add(duo, "DU1", "ana.lima@example.com", "DGAGENTS")
    add(duo, "DU2", "bo.chen@example.com", "DGSUP", status="bypass")
    add(duo, "DU3", "cy.dee@example.com", "DGAGENTS", status="locked out")
    add(duo, "DU4", "gone.soon@example.com", "DGAGENTS", status="pending deletion")
    add(duo, "DU5", "left@example.com", "DGAGENTS", status="disabled")
    add(duo, "DU6", None, "DGAGENTS")  # no e-mail: Duo SSO has nothing to assert
    use_duo(world, duo, secret_key_arn=arn)

    code, report, err = world.cli("apply")

    assert code == 0, (report, err)
    assert world.kinds(report) == {
        "ana.lima@example.com": "create",
        "bo.chen@example.com": "create",
        "cy.dee@example.com": "create",
    }
    (missing,) = report["mismatches"]
    assert (missing["kind"], missing["source_id"]) == ("invalid_username", "DU6")
    assert "email" in missing["detail"]
    assert world.users()["bo.chen@example.com"]["RoutingProfileId"] == world.rp["Sales"]
    assert SKEY not in err and SKEY not in str(report)
    # Two groups by name: one group list, one member page each, one details batch.
    assert duo.api_requests == 4

    duo.users["DU1"].status = "disabled"
    code, report, _ = world.cli("apply")

    assert code == 0, report
    assert world.kinds(report) == {"ana.lima@example.com": "disable"}
    assert world.users()["ana.lima@example.com"]["SecurityProfileIds"] == [world.sp["Disabled"]]


def test_a_wrong_secret_key_exits_4_and_writes_nothing(
    world: World, account: dict[str, Any]
) -> None:
    world.add_people(person("u1", "ana.lima@example.com"))
    assert world.cli("apply")[0] == 0  # a user this tool manages, from an earlier run
    before, written = world.snapshot(), writes(world)
    duo: DuoEmulator = account["duo"]
    arn = account["secrets"].create_secret(Name="duo-wrong", SecretString="not-the-key")["ARN"]
    use_duo(world, duo, secret_key_arn=arn)

    code, report, err = world.cli("apply")

    assert code == 4 and report["status"] == "failed"
    assert "40103" in report["errors"][0] and "secret key" in report["errors"][0]
    assert "not-the-key" not in err and "not-the-key" not in str(report)
    assert world.actions(report) == []
    assert world.snapshot() == before and writes(world) == written
    assert duo.rejected[40103] >= 1


def test_a_group_that_cannot_be_read_deprovisions_nobody(
    world: World, account: dict[str, Any]
) -> None:
    duo: DuoEmulator = account["duo"]
    duo.page_size_cap = 2
    for n in range(5):
        add(duo, f"DU{n}", f"agent{n}@example.com", "DGAGENTS")
    add(duo, "DUS", "sup@example.com", "DGSUP")
    use_duo(world, duo, secret_key=SKEY)
    assert world.cli("apply")[0] == 0
    before = world.snapshot()

    duo.fail_members("DGAGENTS", offset=2, status=503)  # agents 2 and 3 are on page 2
    duo.users["DUS"].status = "disabled"
    code, report, _ = world.cli("apply")

    assert code == 4, report
    assert any("Agents" in e and "incomplete" in e for e in report["errors"])
    assert not [
        a
        for a in world.actions(report)
        if a["action"] in ("disable", "delete") and a["status"] == "applied"
    ]
    assert world.snapshot() == before


def test_throttling_slows_the_run_down_and_does_not_fail_it(
    world: World, account: dict[str, Any]
) -> None:
    duo: DuoEmulator = account["duo"]
    add(duo, "DU1", "ana.lima@example.com", "DGAGENTS")
    use_duo(world, duo, secret_key=SKEY)

    duo.throttle_next(3)
    code, report, _ = world.cli("apply")

    assert code == 0, report
    assert world.kinds(report) == {"ana.lima@example.com": "create"}
    assert duo.rejected[42901] == 3


def test_the_demo_on_the_duo_emulator_converges() -> None:
    buffer = io.StringIO()

    code = run_demo(source="duo", users=40, console=Console(file=buffer, width=120))

    text = buffer.getvalue()
    assert code == 0, text[-3000:]
    assert "Sample directory (duo)" in text
    assert "The second apply planned 0 actions" in text
    assert "invalid_username" in text and "attribute_mismatch" in text
