"""The pieces the workflow adds around the service's phases, table-tested.

Merging one target's apply passes into one report section, deferring the creates a pass
cannot start, grouping targets by quota scope, the configuration's fingerprint, and the
documents kept in S3 between steps (a round trip must keep every field).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from connect_user_sync.config import parse_config
from connect_user_sync.domain.models import (
    ActionKind,
    ActionStatus,
    Change,
    DirectorySnapshot,
    DirectoryUser,
    GroupRead,
    MismatchKind,
    SyncAction,
    TargetPlan,
)
from connect_user_sync.domain.report import ActionOutcome, MismatchRecord, TargetReport
from connect_user_sync.orchestration import config_fingerprint, quota_scopes
from connect_user_sync.phases import (
    DEFERRED,
    DirectoryRead,
    TargetOutcome,
    defer_beyond,
    merge_passes,
    pass_budget,
)
from connect_user_sync.snapshot_store import (
    directory_from_json,
    directory_to_json,
    outcome_to_json,
    target_report_from_json,
    target_report_to_json,
)

ROOT = Path(__file__).resolve().parents[2]


def outcome(
    username: str, status: ActionStatus, kind: ActionKind = ActionKind.CREATE
) -> ActionOutcome:
    return ActionOutcome(kind, username, f"id-{username}", None, status)


def section(*actions: ActionOutcome, unchanged: int = 0, error: str | None = None) -> TargetReport:
    return TargetReport("i-1", "us-east-1", tuple(actions), unchanged, 10, (), error)


# --------------------------------------------------------------------------- merging passes


def test_merged_passes_list_what_each_pass_applied_and_the_last_pass_as_it_ended() -> None:
    first = section(
        outcome("a", ActionStatus.APPLIED),
        outcome("b", ActionStatus.PLANNED),
        outcome("c", ActionStatus.FAILED),
        unchanged=7,
    )
    # the second pass plans b and c again (a is in step now, so it counts as unchanged)
    second = section(
        outcome("b", ActionStatus.APPLIED), outcome("c", ActionStatus.FAILED), unchanged=8
    )

    merged = merge_passes([first, second])

    assert [(a.username, a.status) for a in merged.actions] == [
        ("a", ActionStatus.APPLIED),
        ("b", ActionStatus.APPLIED),
        ("c", ActionStatus.FAILED),
    ]
    assert merged.unchanged == 7  # in step before the run changed anything
    assert merged.error is None


def test_a_last_pass_that_could_not_read_the_target_keeps_the_earlier_pass_and_its_error() -> None:
    first = section(outcome("a", ActionStatus.APPLIED), outcome("b", ActionStatus.PLANNED))
    broken = section(error="Connect instance us-east-1/i-1 could not be read: boom")

    merged = merge_passes([first, broken])

    assert [a.username for a in merged.actions] == ["a", "b"]
    assert merged.error == broken.error


def test_work_is_left_only_when_an_action_never_started_and_never_in_a_dry_run() -> None:
    left = section(outcome("a", ActionStatus.PLANNED))
    done = section(outcome("a", ActionStatus.APPLIED), outcome("b", ActionStatus.FAILED))
    assert TargetOutcome(left).work_left
    assert not TargetOutcome(done).work_left
    assert not TargetOutcome(left, dry_run=True).work_left


# --------------------------------------------------------------------------- pass budget


def plan_of(*actions: SyncAction) -> TargetPlan:
    return TargetPlan("i-1", "us-east-1", list(actions))


def action(kind: ActionKind, username: str, source_id: str) -> SyncAction:
    return SyncAction(kind, username, source_id, None)


def test_a_pass_keeps_the_creates_it_can_start_and_a_renames_deprovisioning_waits_with_it() -> None:
    plan = plan_of(
        action(ActionKind.CREATE, "new1", "s1"),
        action(ActionKind.UPDATE, "old2", "s9"),
        action(ActionKind.CREATE, "new2", "s2"),
        action(ActionKind.CREATE, "renamed", "s3"),
        action(ActionKind.DISABLE, "old-name", "s3"),  # the same person's old user
        action(ActionKind.DISABLE, "leaver", "s4"),
    )

    deferred = defer_beyond(plan, 2)

    assert [a.username for a in plan.actions] == ["new1", "old2", "new2", "leaver"]
    assert [a.username for a in deferred] == ["renamed", "old-name"]
    assert all(a.error == DEFERRED and a.status == ActionStatus.PLANNED for a in deferred)


def test_nothing_is_deferred_within_the_budget() -> None:
    plan = plan_of(action(ActionKind.CREATE, "a", "s1"), action(ActionKind.CREATE, "b", "s2"))
    assert defer_beyond(plan, 2) == []
    assert len(plan.actions) == 2


@pytest.mark.parametrize(
    ("seconds", "rate", "expected"),
    [(870.0, 2.0, 2176), (0.0, 2.0, 1), (-5.0, 2.0, 1), (10.0, 200.0, 2501)],
)
def test_pass_budget_is_the_quota_over_the_time_left_with_some_to_spare(
    seconds: float, rate: float, expected: int
) -> None:
    assert pass_budget(seconds, rate) == expected


# --------------------------------------------------------------------------- scopes


def config_with(*targets: dict[str, str]) -> object:
    return parse_config(
        {
            "source": {"type": "file", "file": {"path": "d.json"}},
            "groups": [{"name": "A", "security_profiles": ["Agent"], "routing_profile": "B"}],
            "targets": list(targets),
            "deprovision": {"action": "disable", "disabled_security_profile": "Disabled"},
        }
    )


IDS = [f"{n:08d}-0000-0000-0000-000000000000" for n in range(1, 6)]


def test_targets_group_by_account_and_region_in_configuration_order() -> None:
    config = config_with(
        {"instance_id": IDS[0], "region": "us-east-1"},
        {"instance_id": IDS[1], "region": "us-west-2"},
        {"instance_id": IDS[2], "region": "us-east-1"},
        {"instance_arn": f"arn:aws:connect:us-east-1:210987654321:instance/{IDS[3]}"},
    )
    scopes = quota_scopes(config)  # type: ignore[arg-type]
    assert [s["targets"] for s in scopes] == [[0, 2], [1], [3]]
    assert len({s["scope"] for s in scopes}) == 3


# --------------------------------------------------------------------------- fingerprint


def test_the_fingerprint_is_the_same_in_another_process_and_changes_with_the_document() -> None:
    config = config_with({"instance_id": IDS[0], "region": "us-east-1"})
    changed = config_with({"instance_id": IDS[1], "region": "us-east-1"})
    # sets inside the configuration must not make it depend on the process's hash seed
    script = (
        "from tests.unit.test_workflow_phases import config_with, IDS;"
        "from connect_user_sync.orchestration import config_fingerprint;"
        "print(config_fingerprint(config_with({'instance_id': IDS[0], 'region': 'us-east-1'})))"
    )
    other = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin"},
    ).stdout.strip()
    assert other == config_fingerprint(config)  # type: ignore[arg-type]
    assert config_fingerprint(changed) != config_fingerprint(config)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- documents


def test_the_directory_read_survives_the_round_trip_through_json() -> None:
    snapshot = DirectorySnapshot(
        users=(
            DirectoryUser(
                "u1", {"upn": "a@x.com", "mail": None}, "A", "B", "a@x.com", True, ("G",)
            ),
            DirectoryUser("u2", {"upn": "b@x.com"}, None, None, None, False, ()),
        ),
        groups=(GroupRead("G", "g-1", 1, True), GroupRead("H", None, 0, False)),
        complete=False,
        errors=("page 3 failed",),
    )
    read = DirectoryRead(snapshot, ("page 3 failed",), ("no history",), ("H",), ("doubt",))

    assert directory_from_json(directory_to_json(read)) == read
    assert directory_from_json(directory_to_json(DirectoryRead(None, ("down",)))) == DirectoryRead(
        None, ("down",)
    )


def test_a_target_report_survives_the_round_trip_through_json() -> None:
    report = TargetReport(
        "i-1",
        "us-east-1",
        (
            ActionOutcome(
                ActionKind.UPDATE,
                "a@x.com",
                "u1",
                "c1",
                ActionStatus.FAILED,
                "boom",
                {"routing_profile": Change("Basic", "Sales")},
            ),
            outcome("b", ActionStatus.HELD, ActionKind.DISABLE),
        ),
        unchanged=3,
        managed_users=9,
        held_because=("over the limit",),
        error=None,
    )
    assert target_report_from_json(target_report_to_json(report)) == report
    busy = TargetReport("i-2", "eu-west-2", error="busy: another run", busy=True)
    assert target_report_from_json(target_report_to_json(busy)) == busy


def test_an_outcome_document_keeps_mismatches_and_users_not_found() -> None:
    mismatch = MismatchRecord(MismatchKind.CASE, "a@x.com", "A@x.com", "u1", "detail", "i-1")
    document = outcome_to_json(
        TargetOutcome(section(outcome("a", ActionStatus.PLANNED)), (mismatch,), ("nobody",))
    )
    assert document["work_left"] is True
    assert MismatchRecord.from_json(document["mismatches"][0]) == mismatch
    assert document["users_not_found"] == ["nobody"]
