"""IAM Identity Center end to end through the CLI: moto's identity store, the Connect emulator.

GIVEN an identity store (moto, behind the emulator's counting and fault-injecting front)
and a Connect instance, WHEN the CLI plans and applies, THEN Connect holds the members of
the groups, disabled users are disabled, users without the asserted attribute are
reported, and a store that cannot be read completely deprovisions nobody (exit 4).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from rich.console import Console

from connect_user_sync.cli.demo import run_demo
from connect_user_sync_emulators.identity_center import (
    IdentityStoreEmulator,
    SeededStore,
    new_store_id,
)
from tests.conftest import World, person

GROUPS = [{"id": "g-agents", "name": "Agents"}, {"id": "g-sup", "name": "Supervisors"}]


@pytest.fixture
def store(
    world: World, moto_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[IdentityStoreEmulator]:
    with IdentityStoreEmulator(moto_url=moto_url) as emulator:
        for key, value in emulator.env().items():
            monkeypatch.setenv(key, value)
        yield emulator


def use_store(world: World, store_id: str, attribute: str = "user_name", **extra: str) -> None:
    world.config["source"] = {
        "type": "identity_center",
        "identity_center": {"identity_store_id": store_id, "region": "us-east-1", **extra},
    }
    world.config["username"] = {"attribute": attribute}


def seed(store: IdentityStoreEmulator, *users: dict[str, Any], client: Any = None) -> SeededStore:
    return store.load_directory({"users": list(users), "groups": GROUPS}, client=client)


def test_members_are_synced_leavers_disabled_and_a_missing_email_reported(
    world: World, store: IdentityStoreEmulator
) -> None:
    seeded = seed(
        store,
        person("e1", "ana.lima@example.com"),
        person("e2", "bo.chen@example.com", ("Supervisors",)),
        person("e3", "left.company@example.com"),
        person("e4", "no.mail@example.com", emails=[]),
    )
    use_store(world, seeded.store_id, attribute="email")

    code, report, _ = world.cli("apply")

    assert code == 0, report
    assert report is not None
    assert world.kinds(report) == {
        "ana.lima@example.com": "create",
        "bo.chen@example.com": "create",
        "left.company@example.com": "create",
    }
    (missing,) = report["mismatches"]
    assert missing["kind"] == "invalid_username"
    assert missing["source_id"] == seeded.user_ids["e4"]
    assert world.users()["bo.chen@example.com"]["RoutingProfileId"] == world.rp["Sales"]

    store.set_user_status(seeded.user_ids["e3"], "DISABLED")
    code, report, _ = world.cli("apply")

    assert code == 0, report
    assert report is not None
    assert world.kinds(report) == {"left.company@example.com": "disable"}
    assert world.users()["left.company@example.com"]["SecurityProfileIds"] == [world.sp["Disabled"]]

    code, report, _ = world.cli("apply")
    assert code == 0 and report is not None and world.actions(report) == []


def test_access_denied_exits_4_names_the_fix_and_deprovisions_nothing(
    world: World, store: IdentityStoreEmulator
) -> None:
    seeded = seed(store, person("e1", "ana.lima@example.com"))
    use_store(world, seeded.store_id)
    assert world.cli("apply")[0] == 0
    store.deny("ListGroupMemberships")

    code, report, _ = world.cli("apply")

    assert code == 4
    assert report is not None and report["status"] == "failed"
    assert "identitystore:ListGroupMemberships" in report["errors"][0]
    assert world.actions(report) == []
    assert world.users()["ana.lima@example.com"]["SecurityProfileIds"] == [world.sp["Agent"]]


def test_a_store_that_does_not_exist_exits_4(world: World, store: IdentityStoreEmulator) -> None:
    missing = new_store_id()
    use_store(world, missing)

    code, report, _ = world.cli("plan")

    assert code == 4
    assert report is not None and report["status"] == "failed"
    assert missing in report["errors"][0] and "identity_store_id" in report["errors"][0]


def test_an_unknown_group_name_is_a_configuration_error_exit_2(
    world: World, store: IdentityStoreEmulator
) -> None:
    seeded = seed(store, person("e1", "ana.lima@example.com"))
    use_store(world, seeded.store_id)
    world.config["groups"][0]["name"] = "Supervisers"

    code, _, err = world.cli("plan")

    assert code == 2
    assert "groups[0].name" in err and "Supervisers" in err
    assert "Traceback" not in err


def test_throttling_that_never_clears_holds_every_deprovisioning(
    world: World, store: IdentityStoreEmulator
) -> None:
    seeded = seed(store, person("e1", "ana.lima@example.com"), person("e2", "bo.chen@example.com"))
    use_store(world, seeded.store_id)
    assert world.cli("apply")[0] == 0
    # The hint of 0 s keeps the test fast; the retry budget still runs out.
    store.throttle("ListGroupMemberships", times=None, retry_after=0)

    code, report, _ = world.cli("apply")

    assert code == 4
    assert report is not None and report["status"] == "failed"
    assert any("ThrottlingException" in error for error in report["errors"])
    deprovisions = [a for a in world.actions(report) if a["action"] in ("disable", "delete")]
    assert deprovisions and all(a["status"] == "held" for a in deprovisions)
    assert world.users()["bo.chen@example.com"]["SecurityProfileIds"] == [world.sp["Agent"]]


def test_brief_throttling_only_slows_the_run(world: World, store: IdentityStoreEmulator) -> None:
    seeded = seed(store, person("e1", "ana.lima@example.com"), person("e2", "bo.chen@example.com"))
    use_store(world, seeded.store_id)
    store.reset_calls()
    store.throttle("GetGroupId", times=1, retry_after=0)
    store.throttle("ListUsers", times=2)  # no hint: the policy's own backoff

    code, report, _ = world.cli("apply")

    assert code == 0, report
    assert report is not None and report["errors"] == []
    assert set(world.kinds(report)) == {"ana.lima@example.com", "bo.chen@example.com"}
    assert store.calls["ListUsers"] == 3


def test_the_stores_account_is_reached_through_the_assumed_role(
    world: World, store: IdentityStoreEmulator, moto_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", moto_url)
    role_arn = "arn:aws:iam::345678901234:role/connect-user-sync-identity-store-read"
    creds = boto3.client("sts", region_name="us-east-1").assume_role(
        RoleArn=role_arn, RoleSessionName="seed"
    )["Credentials"]
    management = store.client(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    seeded = seed(store, person("e1", "ana.lima@example.com"), client=management)
    use_store(world, seeded.store_id, role_arn=role_arn, external_id="e2e-external-id")

    code, report, _ = world.cli("apply")

    assert code == 0, report
    assert report is not None
    assert world.kinds(report) == {"ana.lima@example.com": "create"}


def test_demo_on_identity_center_converges() -> None:
    buffer = io.StringIO()

    code = run_demo(source="identity_center", users=40, console=Console(file=buffer, width=160))

    text = buffer.getvalue()
    assert code == 0, text[-3000:]
    assert "Sample directory (identity_center)" in text
    assert "The second apply planned 0 actions" in text
    # UserStatus DISABLED in the store made the sample's leaver a Connect disable.
    assert any(
        "disable" in line and "former.agent@example.com" in line for line in text.splitlines()
    )
