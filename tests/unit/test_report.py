"""The typed run report: the contract's document, and the facts derived from it."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from connect_user_sync.domain.models import (
    ActionKind,
    ActionStatus,
    Change,
    MismatchKind,
    RunStatus,
    SyncAction,
    TargetPlan,
)
from connect_user_sync.domain.report import (
    ActionOutcome,
    MismatchRecord,
    RunReport,
    SourceReport,
    TargetReport,
)


def outcome(status: ActionStatus, kind: ActionKind = ActionKind.CREATE) -> ActionOutcome:
    return ActionOutcome(kind, "ann@x.com", "s1", None, status)


def report(*actions: ActionOutcome, **changes: object) -> RunReport:
    base = RunReport(
        run_id="r1",
        dry_run=False,
        started_at="2026-01-01T02:00:00Z",
        finished_at="2026-01-01T02:00:09Z",
        source=SourceReport("file", 3, True, {"Agents": 3}),
        targets=(TargetReport("i-1", "us-east-1", actions, unchanged=2, managed_users=5),),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_the_document_has_the_contracts_shape_in_order() -> None:
    plan = TargetPlan("i-1", "us-east-1", unchanged=4, managed_count=9)
    plan.actions.append(
        SyncAction(
            ActionKind.UPDATE,
            "ann@x.com",
            "s1",
            "u-1",
            {
                "security_profile_ids": Change(["sp-2", "sp-1"], ["sp-1"]),
                "routing_profile_id": Change("rp-1", "rp-2"),
                "phone": Change(None, {"type": "SOFT_PHONE"}),
            },
            status=ActionStatus.APPLIED,
        )
    )
    plan.hold_reasons.append("a reason")
    names = {"sp-1": "Agent", "sp-2": "QA", "rp-1": "Basic", "rp-2": "Sales"}
    target = TargetReport.of("i-1", "us-east-1", plan, names=names, error="partly unreadable")
    mismatch = MismatchRecord(MismatchKind.CASE, "ann@x.com", "Ann@x.com", "s1", "d", "i-1")
    document = report(
        targets=(target,), mismatches=(mismatch,), errors=("e1",), errors_after_run=("e2",)
    ).to_json()

    # The contract's fields first and in order; fields added later follow them.
    assert list(document)[:11] == [
        "run_id",
        "status",
        "dry_run",
        "trigger",
        "users",
        "started_at",
        "finished_at",
        "source",
        "targets",
        "mismatches",
        "errors",
    ]
    assert document["error_count"] == 2 and document["users_not_found"] == []
    assert document["source"] == {
        "type": "file",
        "users_in_scope": 3,
        "complete": True,
        "groups": {"Agents": 3},
        "error_count": 0,
        "read_failed": False,
    }
    (target_json,) = document["targets"]
    assert list(target_json) == [
        "instance_id",
        "region",
        "counts",
        "actions",
        "managed_users",
        "held_because",
        "error",
        "ownership",
    ]
    assert list(target_json["counts"]) == [
        "create",
        "update",
        "adopt",
        "disable",
        "enable",
        "delete",
        "unchanged",
    ]
    assert target_json["counts"]["update"] == 1 and target_json["counts"]["unchanged"] == 4
    assert target_json["actions"] == [
        {
            "action": "update",
            "username": "ann@x.com",
            "source_id": "s1",
            "user_id": "u-1",
            "changes": {
                "security_profiles": {"from": ["Agent", "QA"], "to": ["Agent"]},
                "routing_profile": {"from": "Basic", "to": "Sales"},
                "phone": {"from": None, "to": {"type": "SOFT_PHONE"}},
            },
            "status": "applied",
            "error": None,
        }
    ]
    assert document["mismatches"] == [
        {
            "kind": "case_mismatch",
            "username": "ann@x.com",
            "connect_username": "Ann@x.com",
            "source_id": "s1",
            "detail": "d",
            "instance_id": "i-1",
        }
    ]
    assert document["errors"] == ["e1", "e2"]
    json.dumps(document)  # JSON-ready as it is


def test_a_target_without_a_plan_still_reports_zero_counts() -> None:
    target = TargetReport.of("i-1", "us-east-1", None, names={}, error="unreadable").to_json()
    assert target["counts"] == dict.fromkeys(
        ("create", "update", "adopt", "disable", "enable", "delete", "unchanged"), 0
    )
    assert target["actions"] == [] and target["managed_users"] == 0
    assert "held_because" not in target and target["error"] == "unreadable"


@pytest.mark.parametrize(
    ("changes", "actions", "status"),
    [
        ({}, (ActionStatus.APPLIED,), RunStatus.SUCCEEDED),
        ({"dry_run": True}, (ActionStatus.PLANNED,), RunStatus.PLANNED),
        ({}, (ActionStatus.APPLIED, ActionStatus.FAILED), RunStatus.PARTIAL),
        ({}, (ActionStatus.PLANNED,), RunStatus.PARTIAL),  # the deadline came first
        ({}, (ActionStatus.HELD,), RunStatus.SUCCEEDED),  # held with no hold reason: report-only
        ({"errors_after_run": ("not recorded",)}, (), RunStatus.PARTIAL),
        ({"errors_after_run": ("not recorded",), "dry_run": True}, (), RunStatus.PLANNED),
    ],
)
def test_the_status_follows_from_the_facts(
    changes: dict[str, object], actions: tuple[ActionStatus, ...], status: RunStatus
) -> None:
    assert report(*(outcome(a) for a in actions), **changes).status == status


def test_an_incomplete_read_fails_and_a_hold_refuses_whatever_else_happened() -> None:
    failed = report(outcome(ActionStatus.APPLIED), source=SourceReport("file", complete=False))
    assert failed.status == RunStatus.FAILED and failed.safety_stop
    held = TargetReport(
        "i-1",
        "us-east-1",
        (outcome(ActionStatus.HELD, ActionKind.DISABLE), outcome(ActionStatus.FAILED)),
        held_because=("too many",),
    )
    refused = report(targets=(held,))
    assert refused.status == RunStatus.REFUSED and refused.safety_stop
    assert refused.held == 1 and refused.failed == 1
    assert [a.username for _, a in refused.held_actions] == ["ann@x.com"]
    broken = replace(held, held_because=(), error="unreadable")
    assert report(targets=(broken,)).status == RunStatus.PARTIAL


def test_errors_after_the_run_make_a_new_report_and_degrade_only_a_success() -> None:
    done = report(outcome(ActionStatus.APPLIED))
    later = done.with_errors_after_run("the alert could not be sent: boom")
    assert done.status == RunStatus.SUCCEEDED and later.status == RunStatus.PARTIAL
    assert later.to_json()["errors"] == ["the alert could not be sent: boom"]
    assert done.to_json()["errors"] == []


def test_the_report_reads_as_its_document() -> None:
    done = report(outcome(ActionStatus.APPLIED))
    assert done["status"] == "succeeded" and done["targets"][0]["actions"][0]["status"] == "applied"
    assert dict(done) == done.to_json() and len(done) == len(done.to_json())


def test_a_mismatch_key_is_stable_and_ignores_the_wording() -> None:
    mismatch = MismatchRecord(MismatchKind.RENAMED, "new@x.com", "old@x.com", "s1", "d", None)
    assert mismatch.key == "renamed||s1|new@x.com|old@x.com"
    assert replace(mismatch, detail="other words").key == mismatch.key
    assert MismatchRecord.from_json(mismatch.to_json()) == mismatch
