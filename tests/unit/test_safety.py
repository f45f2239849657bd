"""The safety gate decides when removals wait."""

from __future__ import annotations

import pytest

from connect_user_sync.domain.models import (
    ActionKind,
    ActionStatus,
    GroupRead,
    SyncAction,
    TargetPlan,
)
from connect_user_sync.domain.safety import (
    SafetyLimits,
    empty_groups,
    hold_deprovisioning,
    hold_reasons,
)


def target(removals: int, managed: int, creates: int = 1) -> TargetPlan:
    plan = TargetPlan("i", "r", managed_count=managed)
    plan.actions = [
        SyncAction(ActionKind.DISABLE, f"d{i}", None, f"id{i}") for i in range(removals)
    ]
    plan.actions += [SyncAction(ActionKind.CREATE, f"c{i}", None, None) for i in range(creates)]
    return plan


LIMITS = SafetyLimits(max_deprovision=5, max_deprovision_percent=10)


@pytest.mark.parametrize(
    ("removals", "managed", "held"),
    [
        (0, 0, False),
        (5, 100, False),
        (6, 100, True),
        (10, 100, True),
        (1, 10, False),
        (2, 10, True),
    ],
)
def test_limits(removals: int, managed: int, held: bool) -> None:
    reasons, approvable = hold_reasons(
        target(removals, managed), LIMITS, read_complete=True, emptied_groups=[], approved=False
    )
    assert bool(reasons) is held and approvable


def test_approval_releases_limits_but_never_an_incomplete_read() -> None:
    plan = target(50, 60)
    assert hold_reasons(plan, LIMITS, read_complete=True, emptied_groups=["G"], approved=True) == (
        [],
        True,
    )
    reasons, approvable = hold_reasons(
        plan, LIMITS, read_complete=False, emptied_groups=[], approved=True
    )
    assert reasons and not approvable


def test_holding_marks_only_removals() -> None:
    plan = target(3, 10)
    hold_deprovisioning(plan, ["too many"], approvable=True, report_only=False)
    statuses = {a.kind: a.status for a in plan.actions}
    assert statuses == {
        ActionKind.DISABLE: ActionStatus.HELD,
        ActionKind.CREATE: ActionStatus.PLANNED,
    }
    assert "--approve-deprovision" in (plan.actions[0].error or "")


def test_a_group_that_empties_after_having_members_is_suspicious() -> None:
    reads = [GroupRead("A", None, 0), GroupRead("B", None, 0), GroupRead("C", None, 4)]
    assert empty_groups(reads, {"A": 12, "B": 0, "C": 5}) == ["A"]
    assert empty_groups(reads, None) == []


def test_the_gate_after_an_incomplete_read_holds_removals_and_access_reductions() -> None:
    from connect_user_sync.domain.models import Change
    from connect_user_sync.domain.safety import gate_target

    plan = target(1, 50)
    plan.actions.append(
        SyncAction(
            ActionKind.UPDATE,
            "u",
            None,
            "id-u",
            {"security_profile_ids": Change(["a", "b"], ["a"])},
        )
    )
    plan.actions.append(
        SyncAction(ActionKind.UPDATE, "n", None, "id-n", {"last_name": Change("X", "Y")})
    )
    gate_target(
        plan, LIMITS, read_complete=False, emptied_groups=[], approved=True, report_only=False
    )
    assert [(a.username, a.status) for a in plan.actions] == [
        ("d0", ActionStatus.HELD),
        ("c0", ActionStatus.PLANNED),
        ("u", ActionStatus.HELD),
        ("n", ActionStatus.PLANNED),
    ]
