"""The gate that counts what matters, and the ownership records an apply leaves.

GIVEN managed users (active, disabled, recorded) and group sizes, WHEN the planner and the
safety gate run, THEN the percentage is of active users, a shrunk group holds
deprovisioning, and applying a plan with the recorder then planning again changes nothing
and touches nobody unowned; the recorder announces creates in batches, never late.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connect_user_sync.domain.models import (
    ActionKind,
    ActionStatus,
    ConnectUser,
    DirectoryUser,
    GroupRead,
    OwnedRecord,
    PendingRecord,
    SyncAction,
    TargetPlan,
)
from connect_user_sync.domain.ownership import RECORDS, Ledger
from connect_user_sync.domain.planner import PlanPolicy, plan_target, view_directory
from connect_user_sync.domain.safety import (
    SafetyLimits,
    directory_shortfall,
    gate_target,
    shrunk_groups,
)
from tests.unit.test_ownership import POLICY, record, run
from tests.unit.test_planner import RULES, apply_in_memory, connect_user, dir_user

# --------------------------------------------------------------------------- the gate


def managed_users(active: int, disabled: int) -> list[ConnectUser]:
    users = [connect_user(f"a{i}@example.com", f"a{i}") for i in range(active)]
    users += [
        connect_user(f"d{i}@example.com", f"d{i}", profiles=("sp-off",), disabled=True)
        for i in range(disabled)
    ]
    return users


def test_already_disabled_users_cannot_dilute_the_percentage() -> None:
    users = managed_users(20, 180)
    plan, _ = run([], users, Ledger.of([record(u) for u in users]))
    assert plan.managed_count == 20 and len(plan.actions) == 20
    gate_target(
        plan,
        SafetyLimits(25, 10),
        read_complete=True,
        emptied_groups=[],
        approved=False,
        report_only=False,
    )
    assert {a.status for a in plan.actions} == {ActionStatus.HELD}
    assert "20 active managed users (100%)" in plan.hold_reasons[0]


@pytest.mark.parametrize(
    ("before", "after", "percent", "held"),
    [
        (21, 1, 10, True),
        (10, 8, 10, True),
        (10, 9, 10, False),
        (10, 12, 0, False),
        (5, 0, 10, False),
    ],
)
def test_a_group_that_shrank_more_than_the_percentage_is_suspect(
    before: int, after: int, percent: float, held: bool
) -> None:
    reasons = shrunk_groups([GroupRead("G", None, after)], {"G": before}, percent)
    assert bool(reasons) is held  # an emptied group (5 -> 0) is empty_groups' case


def test_without_records_the_directory_is_compared_with_active_managed_users() -> None:
    assert directory_shortfall(1, 21, 10) is not None
    assert directory_shortfall(19, 20, 10) is None
    users = managed_users(20, 0)
    plan, _ = run([dir_user("a0", "a0@example.com")], users, None)
    gate_target(
        plan,
        SafetyLimits(100, 10),
        read_complete=True,
        emptied_groups=[],
        approved=False,
        report_only=False,
        directory_users=1,  # the directory shrank to one user in scope
    )
    assert any("1 users in scope but Connect has 20" in r for r in plan.hold_reasons)
    assert {a.status for a in plan.actions} == {ActionStatus.HELD}


# --------------------------------------------------------------------------- property


@st.composite
def owned_worlds(
    draw: st.DrawFn,
) -> tuple[list[DirectoryUser], list[ConnectUser], Ledger, PlanPolicy]:
    names = st.sampled_from(["ana", "bo", "cy", "dee", "ed"])
    directory = [
        dir_user(sid, draw(names) + "@example.com", enabled=draw(st.booleans()))
        for sid in draw(st.lists(st.sampled_from(["u0", "u1", "u2", "u3"]), unique=True))
    ]
    connect: list[ConnectUser] = []
    records: list[OwnedRecord] = []
    for index, name in enumerate(draw(st.lists(names, unique=True, max_size=5))):
        user = replace(
            connect_user(
                name + "@example.com",
                draw(st.sampled_from([None, "u0", "u1", "u2", "u3"])),
                managed=draw(st.booleans()),
                profiles=draw(st.sampled_from([("sp-agent",), ("sp-admin",), ("sp-qa",)])),
            ),
            user_id=f"c{index}",
        )
        connect.append(user)
        if user.managed and user.source_id and draw(st.booleans()):
            records.append(record(user))
    policy = replace(
        POLICY,
        deprovision_action=draw(st.sampled_from(["disable", "delete"])),
        adopt_existing=draw(st.booleans()),
        approve_adoption=draw(st.booleans()),
    )
    return directory, connect, Ledger.of(records), policy


class MemoryLedger:
    """The ``OwnershipLedger`` port over a dict, as DynamoDB would keep it."""

    def __init__(self, ledger: Ledger) -> None:
        self.records = dict(ledger.records)
        self.pending: dict[str, PendingRecord] = {}

    def owned_users(self, instance_id: str) -> Ledger:
        return Ledger(self.records, self.pending)

    def write_pending(
        self, instance_id: str, pending: Sequence[PendingRecord], run_id: str
    ) -> None:
        self.pending.update({p.username: p for p in pending})

    def write(self, instance_id: str, run_id: str, *, records=(), forget=(), settled=()) -> None:  # type: ignore[no-untyped-def]
        self.records.update({r.user_id: r for r in records})
        for user_id in forget:
            self.records.pop(user_id, None)
        for username in settled:
            self.pending.pop(username, None)


def _after(ledger: Ledger, users: list[ConnectUser], plan: TargetPlan) -> Ledger:
    """The records the service's recorder leaves once ``plan`` is applied as Connect would."""
    from connect_user_sync.ownership import OwnershipRecorder

    memory = MemoryLedger(ledger)
    recorder = OwnershipRecorder(memory, "i", "run-1")
    recorder.prepare(plan)
    by_name = {u.username: u for u in users}
    for action in plan.actions:
        if action.status == ActionStatus.HELD:
            continue
        if action.kind in (ActionKind.CREATE, ActionKind.ADOPT):
            recorder.announce(action)  # what the Connect adapter calls before the first call
            assert action.username in memory.pending
        action.status = ActionStatus.APPLIED
        action.user_id = action.user_id or by_name[action.username].user_id
        recorder.on_done(action)
    recorder.finish(plan)
    assert recorder.errors == [] and memory.pending == {}
    return memory.owned_users("i")


@settings(max_examples=800, deadline=None)
@given(owned_worlds())
def test_with_records_a_second_plan_is_empty_and_nobody_unowned_is_touched(
    world: tuple[list[DirectoryUser], list[ConnectUser], Ledger, PlanPolicy],
) -> None:
    directory, connect, ledger, policy = world
    first, _ = plan_target(
        "i", "r", view_directory(directory, RULES, policy), connect, policy, now="T", ledger=ledger
    )
    assert first.ownership == RECORDS
    protected = {u.user_id for u in connect if "sp-admin" in u.security_profile_ids}
    owned = {
        u.user_id
        for u in connect
        if u.user_id in ledger.records
        and u.managed
        and u.source_id == ledger.records[u.user_id].source_id
    }
    for action in first.actions:
        if action.kind == ActionKind.CREATE:
            continue
        assert action.user_id not in protected
        assert action.user_id in owned or action.kind == ActionKind.ADOPT
    after = apply_in_memory(connect, first.actions)
    second, _ = plan_target(
        "i",
        "r",
        view_directory(directory, RULES, policy),
        after,
        policy,
        now="T2",
        ledger=_after(ledger, after, first),
    )
    assert [(a.kind, a.username) for a in second.actions if a.status != ActionStatus.HELD] == []


# --------------------------------------------------------------------------- the recorder


class CountingLedger(MemoryLedger):
    def __init__(self, *, fail_pending: bool = False, fail_write: bool = False) -> None:
        super().__init__(Ledger())
        self.pending_writes = 0
        self.fail_pending, self.fail_write = fail_pending, fail_write

    def write_pending(
        self, instance_id: str, pending: Sequence[PendingRecord], run_id: str
    ) -> None:
        self.pending_writes += 1
        if self.fail_pending:
            raise RuntimeError("ProvisionedThroughputExceededException")
        super().write_pending(instance_id, pending, run_id)

    def write(self, instance_id: str, run_id: str, **changes: Any) -> None:  # type: ignore[override]
        if self.fail_write:
            raise RuntimeError("AccessDeniedException")
        super().write(instance_id, run_id, **changes)


def creates(count: int) -> TargetPlan:
    plan = TargetPlan("i", "r", ownership=RECORDS)
    plan.actions = [
        SyncAction(ActionKind.CREATE, f"n{i}@example.com", f"s{i}", None) for i in range(count)
    ]
    return plan


def test_creates_are_announced_25_to_a_write_and_unstarted_ones_are_dropped() -> None:
    from connect_user_sync.ownership import OwnershipRecorder

    ledger = CountingLedger()
    plan = creates(60)
    recorder = OwnershipRecorder(ledger, "i", "run-1")
    recorder.prepare(plan)
    for n, action in enumerate(plan.actions[:30]):  # the deadline came after 30
        recorder.announce(action)
        action.status, action.user_id = ActionStatus.APPLIED, f"id-{n}"
        recorder.on_done(action)
    recorder.finish(plan)
    assert ledger.pending_writes == 2  # 50 announced in two writes, not 60 up front
    assert sorted(ledger.records) == sorted(f"id-{n}" for n in range(30))
    assert ledger.pending == {} and recorder.errors == []


def test_an_unwritable_announcement_fails_the_create_before_connect_hears_of_it() -> None:
    from connect_user_sync.errors import PermanentError
    from connect_user_sync.ownership import OwnershipRecorder

    recorder = OwnershipRecorder(CountingLedger(fail_pending=True), "i", "run-1")
    plan = creates(1)
    recorder.prepare(plan)
    with pytest.raises(PermanentError, match="pending ownership record"):
        recorder.announce(plan.actions[0])


def test_an_unwritable_record_is_reported_and_its_pending_item_kept() -> None:
    from connect_user_sync.ownership import OwnershipRecorder

    ledger = CountingLedger(fail_write=True)
    recorder = OwnershipRecorder(ledger, "i", "run-1")
    plan = creates(1)
    recorder.prepare(plan)
    recorder.announce(plan.actions[0])
    plan.actions[0].status, plan.actions[0].user_id = ActionStatus.APPLIED, "id-0"
    recorder.on_done(plan.actions[0])
    recorder.finish(plan)
    assert "could not be written" in recorder.errors[0]
    assert list(ledger.pending) == ["n0@example.com"]  # the next run confirms the user by it


# --------------------------------------------------------------------------- what people are told


def test_the_alert_names_kept_profiles_and_a_waiting_adoption_is_no_safety_stop() -> None:
    from connect_user_sync.alerts import compose_run_alert
    from connect_user_sync.domain.models import Change
    from connect_user_sync.domain.report import ActionOutcome, RunReport, SourceReport, TargetReport

    def adoption(status: ActionStatus, **changes: Change) -> ActionOutcome:
        return ActionOutcome(
            ActionKind.ADOPT, "hand@example.com", "h1", "id-1", status, None, changes
        )

    def report(action: ActionOutcome) -> RunReport:
        target = TargetReport("i-1", "us-east-1", (action,))
        return RunReport("r1", False, "T0", "T1", SourceReport("file", 1, True), (target,))

    kept = adoption(ActionStatus.APPLIED, kept_security_profiles=Change(["QA"], ["QA"]))
    subject, body = compose_run_alert(report(kept), []) or ("", "")
    assert "adoptions to check" in subject and "hand@example.com adopted, keeping QA" in body

    waiting = report(adoption(ActionStatus.HELD))
    assert waiting.held == 1 and not waiting.safety_stop  # it waits for a person by design
