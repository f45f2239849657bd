"""Ownership, adoption and protected profiles in the planner; the gate that counts what matters.

GIVEN directory and Connect state and the tool's own records (a ``Ledger``, or none: no
results table), WHEN the planner and the safety gate run, THEN only users the records and
the tags agree on are touched, adoption waits for a person, protected profiles are never
touched, and the limits count active users.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from connect_user_sync.domain.mismatches import (
    RECORD_WITHOUT_TAGS,
    SOURCE_ID_DIFFERS,
    TAGGED_WITHOUT_RECORD,
)
from connect_user_sync.domain.models import (
    ActionKind,
    ActionStatus,
    ConnectUser,
    DirectoryUser,
    OwnedRecord,
    PendingRecord,
    TargetPlan,
)
from connect_user_sync.domain.ownership import TAGS_ONLY, Ledger, Ownership, ownership
from connect_user_sync.domain.planner import PlanPolicy, plan_target, view_directory
from connect_user_sync.domain.safety import (
    NO_RECORDS_DELETE,
    SafetyLimits,
    gate_target,
)
from tests.unit.test_planner import RULES, connect_user, dir_user

POLICY = PlanPolicy(
    "upn",
    deprovision_action="disable",
    disabled_security_profile_id="sp-off",
    protected_security_profile_ids=frozenset({"sp-admin"}),
)


def record(user: ConnectUser, sid: str | None = None, **kw: object) -> OwnedRecord:
    return OwnedRecord(user.user_id, user.username, sid or user.source_id or "", **kw)  # type: ignore[arg-type]


def run(
    directory: Sequence[DirectoryUser],
    connect: Sequence[ConnectUser],
    ledger: Ledger | None,
    policy: PlanPolicy = POLICY,
) -> tuple[TargetPlan, list[tuple[str, str | None]]]:
    view = view_directory(directory, RULES, policy)
    plan, found = plan_target("i", "r", view, connect, policy, now="T", ledger=ledger)
    return plan, sorted((m.kind.value, m.connect_username) for m in found)


def kinds(plan: TargetPlan) -> dict[str, tuple[str, str]]:
    return {a.username: (a.kind.value, a.status.value) for a in plan.actions}


# --------------------------------------------------------------------------- the verdict

ANA = connect_user("ana@example.com", "u1")
UNTAGGED = connect_user("ana@example.com", managed=False)


@pytest.mark.parametrize(
    ("user", "ledger", "expected", "why"),
    [
        (ANA, None, Ownership.MANAGED, None),  # no table: the tag is all there is
        (UNTAGGED, None, Ownership.UNMANAGED, None),
        (ANA, Ledger.of([record(ANA)]), Ownership.MANAGED, None),
        (UNTAGGED, Ledger.of([]), Ownership.UNMANAGED, None),
        (ANA, Ledger.of([]), Ownership.CONFLICT, TAGGED_WITHOUT_RECORD),
        (ANA, Ledger.of([record(ANA, "u2")]), Ownership.CONFLICT, SOURCE_ID_DIFFERS),
        (UNTAGGED, Ledger.of([record(ANA)]), Ownership.CONFLICT, RECORD_WITHOUT_TAGS),
        # A create a killed run left unrecorded: its pending item vouches for it...
        (ANA, Ledger.of([], [PendingRecord("ana@example.com", "u1")]), Ownership.MANAGED, None),
        # ...but only for the same directory user.
        (ANA, Ledger.of([], [PendingRecord("ana@example.com", "u2")]), Ownership.CONFLICT, None),
    ],
)
def test_a_user_is_managed_only_when_record_and_tags_agree(
    user: ConnectUser, ledger: Ledger | None, expected: Ownership, why: str | None
) -> None:
    verdict = ownership(user, ledger)
    assert verdict.ownership == expected
    if why:
        assert verdict.conflict == why


# --------------------------------------------------------------------------- forged tags

ADMIN = connect_user("boss@example.com", "x", profiles=("sp-admin",))


def test_a_forged_managed_tag_neither_deletes_nor_disables() -> None:
    stranger = connect_user("helper@example.com", "x", profiles=("sp-qa",))
    for action in ("disable", "delete"):
        plan, found = run([], [stranger], Ledger.of([]), replace(POLICY, deprovision_action=action))
        assert plan.actions == []
        assert found == [("ownership_conflict", "helper@example.com")]
        assert plan.managed_count == 0


def test_a_forged_source_id_is_no_rename_and_downgrades_nobody() -> None:
    sam = connect_user("sam.taylor@example.com", "u1", email="sam.taylor@example.com")
    forged = connect_user("pat@example.com", "u1", profiles=("sp-qa",))
    plan, found = run(
        [dir_user("u1", "sam.taylor@example.com")], [sam, forged], Ledger.of([record(sam)])
    )
    assert plan.actions == []
    assert found == [("ownership_conflict", "pat@example.com")]


def test_a_source_id_tag_changed_on_a_recorded_user_is_a_conflict() -> None:
    ana = connect_user("ana@example.com", "u2")
    plan, found = run([], [ana], Ledger.of([record(ana, "u1")]))
    assert plan.actions == [] and found == [("ownership_conflict", "ana@example.com")]


def test_a_recorded_user_that_lost_its_tags_is_a_conflict_and_left_alone() -> None:
    plan, found = run(
        [dir_user("u1", "ana@example.com", "Supervisors")], [UNTAGGED], Ledger.of([record(ANA)])
    )
    assert plan.actions == [] and found == [("ownership_conflict", "ana@example.com")]


def test_without_records_the_tag_decides_but_deletes_are_held() -> None:
    policy = replace(POLICY, deprovision_action="delete")
    plan, _ = run([], [connect_user("gone@example.com", "u9")], None, policy)
    assert plan.ownership == TAGS_ONLY
    gate_target(
        plan,
        SafetyLimits(25, 100),
        read_complete=True,
        emptied_groups=[],
        approved=True,
        report_only=False,
    )
    (held,) = plan.actions
    assert (held.kind, held.status, held.error) == (
        ActionKind.DELETE,
        ActionStatus.HELD,
        NO_RECORDS_DELETE,
    )
    assert plan.hold_reasons == []  # not a limit an approval could lift


# --------------------------------------------------------------------------- upgrade path


def test_users_an_older_version_tagged_are_recorded_only_with_approval() -> None:
    old = connect_user("ana@example.com", "u1")
    directory = [dir_user("u1", "ana@example.com")]
    plan, found = run(directory, [old], Ledger.of([]))
    assert plan.actions == [] and found == [("ownership_conflict", "ana@example.com")]

    plan, found = run(directory, [old], Ledger.of([]), replace(POLICY, approve_adoption=True))
    (adopt,) = plan.actions
    assert (adopt.kind, adopt.status) == (ActionKind.ADOPT, ActionStatus.PLANNED)
    assert adopt.changes["ownership"].after == "recorded" and found == []


def test_approval_does_not_adopt_a_tag_naming_somebody_else() -> None:
    forged = connect_user("ana@example.com", "u2")
    plan, found = run(
        [dir_user("u1", "ana@example.com")],
        [forged],
        Ledger.of([]),
        replace(POLICY, approve_adoption=True),
    )
    assert plan.actions == [] and found == [("ownership_conflict", "ana@example.com")]


def test_a_create_a_killed_run_left_unrecorded_is_confirmed() -> None:
    ana = connect_user("ana@example.com", "u1")
    plan, found = run(
        [dir_user("u1", "ana@example.com", "Supervisors")],
        [ana],
        Ledger.of([], [PendingRecord("ana@example.com", "u1")]),
    )
    assert found == [] and kinds(plan) == {"ana@example.com": ("update", "planned")}
    (confirmed,) = plan.confirm
    assert (confirmed.user_id, confirmed.source_id, confirmed.how) == (ana.user_id, "u1", "created")


# --------------------------------------------------------------------------- adoption


HAND_MADE = connect_user("hand@example.com", managed=False, profiles=("sp-qa",))
HAND_DIR = [dir_user("h1", "hand@example.com")]


def test_adoption_is_off_by_default_and_says_so() -> None:
    plan, _ = run(HAND_DIR, [HAND_MADE], Ledger.of([]))
    assert plan.actions == [] and plan.not_adopted == ["hand@example.com"]


@pytest.mark.parametrize(
    ("ledger", "approved", "held_because"),
    [
        (Ledger.of([]), False, "--approve-adoption"),
        (None, True, "results table"),
    ],
)
def test_adoption_waits_for_a_person_and_for_the_records(
    ledger: Ledger | None, approved: bool, held_because: str
) -> None:
    policy = replace(POLICY, adopt_existing=True, approve_adoption=approved)
    plan, _ = run(HAND_DIR, [HAND_MADE], ledger, policy)
    (adopt,) = plan.actions
    assert adopt.status == ActionStatus.HELD and held_because in (adopt.error or "")


def test_an_approved_adoption_keeps_every_profile_the_user_holds() -> None:
    policy = replace(POLICY, adopt_existing=True, approve_adoption=True)
    plan, _ = run(HAND_DIR, [HAND_MADE], Ledger.of([]), policy)
    (adopt,) = plan.actions
    assert adopt.status == ActionStatus.PLANNED
    assert adopt.changes["security_profile_ids"].after == ["sp-agent", "sp-qa"]
    assert adopt.changes["kept_security_profile_ids"].after == ["sp-qa"]

    # Later runs keep it too: the record remembers it.
    adopted = replace(
        HAND_MADE,
        security_profile_ids=frozenset({"sp-agent", "sp-qa"}),
        tags={**adopt.set_tags},
    )
    kept = record(adopted, "h1", how="adopted", kept_security_profile_ids=frozenset({"sp-qa"}))
    plan, found = run(HAND_DIR, [adopted], Ledger.of([kept]), POLICY)
    assert found == []
    assert "security_profile_ids" not in {c for a in plan.actions for c in a.changes}


def test_an_adoption_that_would_keep_an_ungrantable_profile_waits() -> None:
    policy = replace(
        POLICY,
        adopt_existing=True,
        approve_adoption=True,
        grantable_security_profile_ids=frozenset({"sp-agent", "sp-off"}),
    )
    plan, _ = run(HAND_DIR, [HAND_MADE], Ledger.of([]), policy)
    (adopt,) = plan.actions
    assert adopt.status == ActionStatus.HELD and "may not grant" in (adopt.error or "")


# --------------------------------------------------------------------------- protected profiles


def test_a_protected_profile_is_never_adopted_updated_or_deprovisioned() -> None:
    policy = replace(POLICY, adopt_existing=True, approve_adoption=True)
    admin_untagged = connect_user("boss@example.com", managed=False, profiles=("sp-admin",))
    admin_managed = connect_user("lead@example.com", "u2", profiles=("sp-admin", "sp-agent"))
    admin_leaver = connect_user("left@example.com", "u3", profiles=("sp-admin",))
    users = [admin_untagged, admin_managed, admin_leaver]
    ledger = Ledger.of([record(admin_managed), record(admin_leaver)])
    directory = [
        dir_user("u1", "boss@example.com"),
        dir_user("u2", "lead@example.com", "Supervisors"),
        dir_user("u3", "left@example.com", enabled=False),
    ]
    plan, found = run(directory, users, ledger, policy)
    assert plan.actions == [] and found == []
    assert {(p.username, p.would) for p in plan.protected} == {
        ("boss@example.com", "adopt"),
        ("lead@example.com", "update"),
        ("left@example.com", "disable"),
    }
    assert plan.managed_count == 0  # protected users are no base for the percentage


def test_a_rename_never_deprovisions_a_protected_old_account() -> None:
    old = connect_user("sam.lee@example.com", "u1", profiles=("sp-admin",))
    plan, found = run([dir_user("u1", "sam.taylor@example.com")], [old], Ledger.of([record(old)]))
    assert kinds(plan) == {"sam.taylor@example.com": ("create", "planned")}
    assert found == [] and [p.would for p in plan.protected] == ["disable"]
