"""The safety gate: when deprovisioning is held back, all of it, for a target.

The failure this guards against is well known from directory-sync tools: a transient
error or an empty page makes the directory look empty, and the sync faithfully removes
everybody. Creates and updates always go ahead; only removals wait.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from connect_user_sync.domain.models import ActionKind, ActionStatus, GroupRead, TargetPlan
from connect_user_sync.domain.ownership import TAGS_ONLY


@dataclass(frozen=True)
class SafetyLimits:
    max_deprovision: int
    max_deprovision_percent: float


def empty_groups(groups: Sequence[GroupRead], previous: Mapping[str, int] | None) -> list[str]:
    """Groups that came back empty although the previous complete run saw members."""
    if not previous:
        return []
    return [g.name for g in groups if g.member_count == 0 and previous.get(g.name, 0) > 0]


def shrunk_groups(
    groups: Sequence[GroupRead], previous: Mapping[str, int] | None, percent: float
) -> list[str]:
    """Reasons for groups that lost more than ``percent`` of their members since the last
    complete run (a group that emptied is ``empty_groups``' case)."""
    reasons: list[str] = []
    for group in groups:
        before = (previous or {}).get(group.name, 0)
        if before <= 0 or group.member_count == 0 or group.member_count >= before:
            continue
        drop = 100.0 * (before - group.member_count) / before
        if drop > percent:
            reasons.append(
                f"group '{group.name}' shrank from {before} to {group.member_count} members "
                f"({drop:.0f}%) since the last complete run, more than "
                f"safety.max_deprovision_percent ({percent:g}%)"
            )
    return reasons


def directory_shortfall(directory_users: int, active_managed: int, percent: float) -> str | None:
    """Without a results table there are no earlier group sizes: compare the directory's
    users in scope with the active users this tool manages in Connect instead."""
    if active_managed <= 0 or directory_users >= active_managed:
        return None
    drop = 100.0 * (active_managed - directory_users) / active_managed
    if drop <= percent:
        return None
    return (
        f"the directory holds {directory_users} users in scope but Connect has "
        f"{active_managed} active managed users ({drop:.0f}% fewer), more than "
        f"safety.max_deprovision_percent ({percent:g}%)"
    )


NO_RECORDS_DELETE = (
    "held: ownership rests on tags only (no results table), and a tag alone is no proof "
    "that this tool made the user, so nothing is deleted. Set results.table (or "
    "RESULTS_TABLE) so that the tool's own records decide"
)


def hold_deletes_without_records(plan: TargetPlan) -> int:
    """Without the tool's own records, never delete: anybody may have written the tag."""
    if plan.ownership != TAGS_ONLY:
        return 0
    held = 0
    for action in plan.actions:
        if action.kind == ActionKind.DELETE and action.status == ActionStatus.PLANNED:
            action.status = ActionStatus.HELD
            action.error = NO_RECORDS_DELETE
            held += 1
    return held


def hold_reasons(
    plan: TargetPlan,
    limits: SafetyLimits,
    *,
    read_complete: bool,
    emptied_groups: Sequence[str],
    approved: bool,
    doubts: Sequence[str] = (),
) -> tuple[list[str], bool]:
    """Why this target's deprovisioning must wait, and whether an approval can release it.

    An incomplete directory read can never be approved away: nobody can vouch for a
    list that was not read.
    """
    count = sum(1 for a in plan.actions if a.deprovisions and a.status == ActionStatus.PLANNED)
    if count == 0:
        return [], True
    reasons: list[str] = []
    if not read_complete:
        return [
            f"the directory read was incomplete, so {count} deprovisioning action(s) wait for a complete read"
        ], False
    reasons.extend(doubts)
    for group in emptied_groups:
        reasons.append(f"group '{group}' came back empty although the previous run saw members")
    if count > limits.max_deprovision:
        reasons.append(
            f"{count} deprovisioning actions exceed safety.max_deprovision ({limits.max_deprovision})"
        )
    # The base is the *active* managed users: already-disabled ones cannot dilute it.
    percent = 100.0 * count / plan.managed_count if plan.managed_count else 100.0
    if percent > limits.max_deprovision_percent:
        reasons.append(
            f"{count} deprovisioning actions against {plan.managed_count} active managed "
            f"users ({percent:.0f}%) exceed safety.max_deprovision_percent "
            f"({limits.max_deprovision_percent:g}%)"
        )
    if approved:
        return [], True
    return reasons, True


def hold_deprovisioning(
    plan: TargetPlan, reasons: Sequence[str], *, approvable: bool, report_only: bool
) -> None:
    """Mark every deprovisioning action of the plan ``held`` with a readable reason."""
    if report_only:
        message = "deprovision.action is 'report': left for a person to remove"
    elif reasons:
        way_out = (
            "Rerun with --approve-deprovision (or the approve_deprovision event) if this is intended."
            if approvable
            else "The next run with a complete directory read will carry it out."
        )
        message = "held by the safety gate: " + "; ".join(reasons) + ". " + way_out
    else:
        return
    if reasons and not report_only:
        plan.hold_reasons.extend(reasons)
    for action in plan.actions:
        if action.deprovisions and action.status == ActionStatus.PLANNED:
            action.status = ActionStatus.HELD
            action.error = message


# Fields whose value comes from group membership: a group read that stopped halfway
# would make them look smaller than they are.
_GROUP_FIELDS = ("routing_profile_id", "hierarchy_group_id")


def hold_access_reductions(plan: TargetPlan) -> int:
    """After an incomplete read, hold updates that would take access away.

    A user whose second group failed to read looks as if they had left it; dropping a
    security profile or moving their routing on that evidence is a partial
    deprovisioning. Updates that only add access or fix names still go ahead.
    """
    held = 0
    for action in plan.actions:
        if action.kind not in (ActionKind.UPDATE, ActionKind.ENABLE, ActionKind.ADOPT):
            continue
        profiles = action.changes.get("security_profile_ids")
        removes = bool(profiles and set(profiles.before or ()) - set(profiles.after or ()))  # type: ignore[call-overload]
        if removes or any(name in action.changes for name in _GROUP_FIELDS):
            action.status = ActionStatus.HELD
            action.error = (
                "held: the directory read was incomplete and this update would take access "
                "away; the next complete run will decide"
            )
            held += 1
    return held


def gate_target(
    plan: TargetPlan,
    limits: SafetyLimits,
    *,
    read_complete: bool,
    emptied_groups: Sequence[str],
    approved: bool,
    report_only: bool,
    doubts: Sequence[str] = (),
    directory_users: int | None = None,
) -> None:
    """Apply every safety rule to one target's plan: the one entry point the service uses.

    ``directory_users`` (the enabled directory users in scope, on a full run) is compared
    with the active managed users when there is no results table to remember group sizes.
    """
    hold_deletes_without_records(plan)
    doubts = list(doubts)
    if directory_users is not None and plan.ownership == TAGS_ONLY:
        shortfall = directory_shortfall(
            directory_users, plan.managed_count, limits.max_deprovision_percent
        )
        if shortfall:
            doubts.append(shortfall)
    reasons, approvable = hold_reasons(
        plan,
        limits,
        read_complete=read_complete,
        emptied_groups=emptied_groups,
        approved=approved,
        doubts=doubts,
    )
    hold_deprovisioning(plan, reasons, approvable=approvable, report_only=report_only)
    if not read_complete:
        hold_access_reductions(plan)
