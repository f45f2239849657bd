"""The Connect adapter against the emulator: units, error codes, the deadline, the port.

GIVEN the Connect emulator speaking the real wire protocol, WHEN the adapter reads and
writes through boto3, THEN what it reports and what Connect holds agree.
"""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest

from connect_user_sync.connect import ConnectInstance, RateLimiter, user_from_search
from connect_user_sync.domain.models import (
    TAG_MANAGED,
    TAG_SOURCE_ID,
    ActionKind,
    ActionStatus,
    DesiredSettings,
    PhoneSettings,
    SyncAction,
)
from connect_user_sync.errors import PermanentError
from connect_user_sync_emulators.connect import ConnectEmulator
from tests.conftest import World, person


def client(emulator: ConnectEmulator) -> Any:
    return boto3.client("connect", region_name="us-east-1", endpoint_url=emulator.url)


def desired(world: World, **phone: Any) -> DesiredSettings:
    return DesiredSettings(
        frozenset({world.sp["Agent"]}),
        world.rp["Basic"],
        None,
        PhoneSettings(**phone),
        "Ann",
        "Lee",
        None,
    )


# --------------------------------------------------------------------------- units


def test_search_users_speaks_milliseconds_and_the_adapter_seconds(world: World) -> None:
    user_id = world.emulator.add_user(
        world.iid,
        "ann.lee@example.com",
        security_profile_ids=[world.sp["Agent"]],
        routing_profile_id=world.rp["Basic"],
        phone={"PhoneType": "SOFT_PHONE", "AutoAccept": False, "AfterContactWorkTimeLimit": 45},
    )
    connect = client(world.emulator)
    (found,) = connect.search_users(InstanceId=world.iid)["Users"]
    described = connect.describe_user(InstanceId=world.iid, UserId=user_id)["User"]
    assert found["PhoneConfig"]["AfterContactWorkTimeLimit"] == 45_000  # as the model documents
    assert described["PhoneConfig"]["AfterContactWorkTimeLimit"] == 45

    (user,) = ConnectInstance(connect, world.iid).read_users()
    assert user.phone == PhoneSettings("SOFT_PHONE", False, 45)
    assert user_from_search(found) == user


def test_a_group_with_an_after_contact_work_timeout_converges(world: World) -> None:
    world.config["groups"][1]["phone"] = {"type": "SOFT_PHONE", "after_contact_work_timeout": 30}
    world.add_people(person("u1", "ana.lima@example.com"), person("u2", "bo.chen@example.com"))

    code, report, _ = world.cli("apply")
    assert code == 0 and report is not None
    assert report["targets"][0]["counts"]["create"] == 2
    phones = {name: u["PhoneConfig"] for name, u in world.users().items()}
    assert all(p["AfterContactWorkTimeLimit"] == 30 for p in phones.values())  # seconds

    code, report, _ = world.cli("plan")
    assert code == 0 and report is not None
    assert world.actions(report) == []
    assert report["targets"][0]["counts"]["unchanged"] == 2


def test_a_user_moving_between_groups_with_different_timeouts_converges(world: World) -> None:
    world.config["groups"][0]["phone"] = {"type": "SOFT_PHONE", "after_contact_work_timeout": 120}
    world.config["groups"][1]["phone"] = {"type": "SOFT_PHONE", "after_contact_work_timeout": 30}
    world.add_people(person("u1", "ana.lima@example.com"))
    assert world.cli("apply")[0] == 0
    assert world.users()["ana.lima@example.com"]["PhoneConfig"]["AfterContactWorkTimeLimit"] == 30

    world.directory["users"][0]["groups"] = ["Supervisors"]
    code, report, _ = world.cli("apply")
    assert code == 0 and report is not None
    (action,) = world.actions(report)
    assert action["action"] == "update"
    phone = action["changes"]["phone"]
    assert phone["from"]["after_contact_work_timeout"] == 30
    assert phone["to"]["after_contact_work_timeout"] == 120
    assert world.users()["ana.lima@example.com"]["PhoneConfig"]["AfterContactWorkTimeLimit"] == 120

    code, report, _ = world.cli("plan")
    assert code == 0 and report is not None and world.actions(report) == []


# --------------------------------------------------------------------------- errors


def test_connect_error_codes_survive_the_boundary(world: World) -> None:
    instance = ConnectInstance(client(world.emulator), world.iid)
    with pytest.raises(PermanentError) as raised:
        instance.call("DescribeUser", InstanceId=world.iid, UserId="no-such-user")
    assert raised.value.code == "ResourceNotFoundException"

    world.emulator.fail_username(
        "bad.one@example.com", operation="CreateUser", error="InvalidParameterException"
    )
    create = SyncAction(
        ActionKind.CREATE,
        "bad.one@example.com",
        "b1",
        None,
        desired=desired(world),
        set_tags={TAG_MANAGED: "true"},
    )
    instance.apply([create])
    assert create.status == ActionStatus.FAILED
    assert create.error is not None and "InvalidParameterException" in create.error


def test_an_unmanaged_duplicate_is_never_taken_over_at_apply_time(world: World) -> None:
    # Adoption is planned, approved and recorded (domain.adoption); a create that finds the
    # username taken by somebody else's user leaves it alone, whatever it was told.
    world.emulator.add_user(
        world.iid,
        "taken@example.com",
        security_profile_ids=[world.sp["QA"]],
        routing_profile_id=world.rp["Basic"],
    )
    before = world.users()["taken@example.com"]
    instance = ConnectInstance(client(world.emulator), world.iid)
    tags = {TAG_MANAGED: "true", TAG_SOURCE_ID: "t1"}

    def create() -> SyncAction:
        return SyncAction(
            ActionKind.CREATE,
            "taken@example.com",
            "t1",
            None,
            desired=desired(world),
            set_tags=tags,
        )

    refused = create()
    instance.apply([refused], adopt_existing=False)
    assert refused.status == ActionStatus.FAILED
    assert refused.error is not None and "was not made by this run" in refused.error

    also_refused = create()
    instance.apply([also_refused], adopt_existing=True)
    assert also_refused.status == ActionStatus.FAILED
    assert "security profiles this create would not grant" in (also_refused.error or "")
    assert world.users()["taken@example.com"] == before


def test_throttling_past_the_deadline_leaves_the_action_for_the_next_run(world: World) -> None:
    world.emulator.throttle_rate = 1.0  # every call throttled
    instance = ConnectInstance(
        client(world.emulator), world.iid, limiter=RateLimiter(multiplier=100)
    )
    action = SyncAction(
        ActionKind.CREATE,
        "late@example.com",
        "l1",
        None,
        desired=desired(world),
        set_tags={TAG_MANAGED: "true"},
    )
    began = time.monotonic()
    instance.apply([action], deadline=time.monotonic() + 1.0)
    world.emulator.throttle_rate = 0.0
    assert action.status == ActionStatus.PLANNED
    assert action.error is not None and "deadline" in action.error
    assert time.monotonic() - began < 5
    assert "late@example.com" not in world.users()
