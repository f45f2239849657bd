"""The reconciler's diff: directory users + Connect users -> actions and mismatches.

A pure function of its inputs. Every run recomputes the plan from live state, so a
rerun is always safe and an interrupted run is completed by the next one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence

from connect_user_sync.domain.adoption import adoption, with_kept_profiles
from connect_user_sync.domain.mismatches import (
    SOURCE_ID_DIFFERS,
    TAGGED_WITHOUT_RECORD,
    attribute_mismatch,
    case_mismatch,
    ownership_conflict,
    renamed,
)
from connect_user_sync.domain.models import (
    TAG_DISABLED,
    TAG_EMAIL_HASH,
    TAG_MANAGED,
    TAG_SOURCE_ID,
    ActionKind,
    Change,
    ConnectUser,
    Mismatch,
    ProtectedUser,
    SyncAction,
    TargetPlan,
    email_fingerprint,
)
from connect_user_sync.domain.ownership import (
    RECORDS,
    TAGS_ONLY,
    UNMANAGED,
    Ledger,
    Ownership,
    Verdict,
    confirmed_record,
    ownership,
)
from connect_user_sync.domain.policy import PlanPolicy
from connect_user_sync.domain.settings import phone_dict, settings_changes
from connect_user_sync.domain.usernames import normalize
from connect_user_sync.domain.view import DirectoryView, Wanted, in_filter, view_directory

__all__ = [
    "DirectoryView",
    "PlanPolicy",
    "in_filter",
    "phone_dict",
    "plan_target",
    "settings_changes",
    "view_directory",
]


def plan_target(
    instance_id: str,
    region: str,
    view: DirectoryView,
    connect_users: Sequence[ConnectUser],
    policy: PlanPolicy,
    *,
    now: str,
    only: Collection[str] | None = None,
    ledger: Ledger | None = None,
    run_id: str | None = None,
) -> tuple[TargetPlan, list[Mismatch]]:
    """Plan one Connect instance. Returns the plan and this target's mismatches.

    Only users this tool manages (its record in ``ledger`` and the tags agree, see
    ``domain.ownership``; by the tags alone when ``ledger`` is None) ever get an update,
    disable, enable or delete; an adoption needs ``adopt_existing`` and a person's approval.
    Protected usernames, and users holding a protected security profile, are never touched.
    """
    plan = TargetPlan(instance_id, region, ownership=TAGS_ONLY if ledger is None else RECORDS)
    mismatches: list[Mismatch] = []
    protected = policy.protected_usernames
    by_name = {user.username: user for user in connect_users}
    by_lower: dict[str, list[ConnectUser]] = defaultdict(list)
    mine: dict[str, list[ConnectUser]] = defaultdict(list)
    verdicts: dict[str, Verdict] = {}  # every user that is not plainly unmanaged
    for user in connect_users:
        by_lower[user.username.lower()].append(user)
        verdict = ownership(user, ledger)
        if verdict.ownership == Ownership.UNMANAGED:
            continue
        verdicts[user.user_id] = verdict
        if verdict.managed and user.source_id:
            mine[user.source_id].append(user)
        if verdict.confirms is not None:
            plan.confirm.append(confirmed_record(user, verdict.confirms, run_id))
    managed_ids = {uid for uid, v in verdicts.items() if v.managed}
    plan.managed_count = sum(
        1
        for u in connect_users
        if u.user_id in managed_ids and not u.disabled and not _untouchable(u, policy)
    )

    # Every Connect user some wanted directory user signs in as: never deprovisioned.
    claimed: set[str] = {
        by_name[w.username].user_id for w in view.wanted.values() if w.username in by_name
    }
    asserted = {w.username.lower() for w in view.wanted.values()}
    handled: set[str] = set()
    adopted: set[str] = set()  # conflicts a person resolved with --approve-adoption

    for source_id, wanted in view.wanted.items():
        if not in_filter(only, wanted.username, source_id):
            continue
        current = by_name.get(wanted.username)
        if current is not None:
            handled.add(current.user_id)
            if current.username not in protected:
                verdict = verdicts.get(current.user_id, UNMANAGED)
                _plan_existing(plan, wanted, current, verdict, policy, now, adopted)
        else:
            _plan_missing(
                plan,
                mismatches,
                wanted,
                mine.get(source_id, []),
                by_lower,
                by_name,
                policy,
                claimed,
                asserted,
                managed_ids,
            )
        # Older Connect users made for this person under a previous username.
        for old in mine.get(source_id, []):
            if (
                old.user_id in claimed
                or old.username in protected
                or old.username == wanted.username
            ):
                continue
            handled.add(old.user_id)
            if _already_deprovisioned(old, policy):
                plan.unchanged += 1
                continue
            if _holds_protected(plan, old, policy, _deprovision_kind(policy)):
                continue
            mismatches.append(
                renamed(wanted.username, old.username, source_id, policy.deprovision_action)
            )
            _plan_deprovision(plan, old, policy, now)

    for user in connect_users:
        if (
            user.user_id not in managed_ids
            or user.user_id in handled
            or user.user_id in claimed
            or user.username in protected
        ):
            continue
        if user.source_id in view.skipped:
            continue  # still in the directory, only unusable: leave their access alone
        if not in_filter(only, user.username, user.source_id):
            continue
        if _already_deprovisioned(user, policy):
            plan.unchanged += 1
            continue
        if _holds_protected(plan, user, policy, _deprovision_kind(policy)):
            continue
        _plan_deprovision(plan, user, policy, now)
    mismatches.extend(_conflicts(connect_users, verdicts, adopted, view, only))
    return plan, mismatches


# --------------------------------------------------------------------------- pieces


def _untouchable(user: ConnectUser, policy: PlanPolicy) -> bool:
    return user.username in policy.protected_usernames or bool(
        user.security_profile_ids & policy.protected_security_profile_ids
    )


def _holds_protected(plan: TargetPlan, user: ConnectUser, policy: PlanPolicy, would: str) -> bool:
    """True (and listed in the plan) when ``user`` holds a protected security profile."""
    held = user.security_profile_ids & policy.protected_security_profile_ids
    if not held:
        return False
    plan.protected.append(ProtectedUser(user.username, user.user_id, held, would))
    return True


def _deprovision_kind(policy: PlanPolicy) -> str:
    return ActionKind.DELETE.value if policy.deprovision_action == "delete" else "disable"


def _conflicts(
    connect_users: Sequence[ConnectUser],
    verdicts: dict[str, Verdict],
    adopted: set[str],
    view: DirectoryView,
    only: Collection[str] | None,
) -> list[Mismatch]:
    """One ``ownership_conflict`` per user whose tags and record disagree."""
    found: list[Mismatch] = []
    for user in connect_users:
        verdict = verdicts.get(user.user_id)
        if verdict is None or verdict.ownership != Ownership.CONFLICT or user.user_id in adopted:
            continue
        record = verdict.record
        source_id = record.source_id if record is not None else user.source_id
        wanted = view.wanted.get(source_id) if source_id else None
        username = wanted.username if wanted is not None else user.username
        if not in_filter(only, username, user.username, source_id):
            continue
        found.append(
            ownership_conflict(
                username,
                user.username,
                user.source_id if verdict.conflict == SOURCE_ID_DIFFERS else source_id,
                why=verdict.conflict or "",
                recorded_source_id=record.source_id if record is not None else None,
            )
        )
    return found


def _plan_existing(
    plan: TargetPlan,
    wanted: Wanted,
    current: ConnectUser,
    verdict: Verdict,
    policy: PlanPolicy,
    now: str,
    adopted: set[str],
) -> None:
    source_id = wanted.user.source_id
    if verdict.ownership == Ownership.CONFLICT:
        # A user an earlier version of this tool made (tagged, no record) is recorded only
        # when a person approves it, and only for the directory user its tag names.
        if not (
            verdict.conflict == TAGGED_WITHOUT_RECORD
            and policy.approve_adoption
            and current.managed
            and current.source_id == source_id
        ):
            return
        adopted.add(current.user_id)
    if not verdict.managed:
        upgrade = verdict.ownership == Ownership.CONFLICT
        if not upgrade and not policy.adopt_existing:
            plan.not_adopted.append(current.username)  # logins work; settings not kept
            return
        if _holds_protected(plan, current, policy, ActionKind.ADOPT.value):
            return
        action = adoption(
            current,
            source_id,
            wanted.settings,
            policy.adoption,
            now,
            upgrade=upgrade,
            tags_only=plan.ownership == TAGS_ONLY,
        )
        if action is not None:
            plan.actions.append(action)
        return
    if _holds_protected(plan, current, policy, ActionKind.UPDATE.value):
        return
    settings = with_kept_profiles(wanted.settings, verdict.record, current)
    changes = settings_changes(current, settings)
    tags = {
        TAG_MANAGED: "true",
        TAG_SOURCE_ID: source_id,
        TAG_EMAIL_HASH: email_fingerprint(settings.email),
    }
    set_tags = {k: v for k, v in tags.items() if current.tags.get(k) != v}
    if current.disabled:
        kind = ActionKind.ENABLE
    elif changes or set_tags:
        kind = ActionKind.UPDATE
    else:
        plan.unchanged += 1
        return
    plan.actions.append(
        SyncAction(
            kind,
            current.username,
            source_id,
            current.user_id,
            changes,
            settings,
            set_tags=set_tags,
            remove_tags=(TAG_DISABLED,) if current.disabled else (),
            arn=current.arn,
        )
    )


def _plan_missing(
    plan: TargetPlan,
    mismatches: list[Mismatch],
    wanted: Wanted,
    previous: list[ConnectUser],
    by_lower: dict[str, list[ConnectUser]],
    by_name: dict[str, ConnectUser],
    policy: PlanPolicy,
    claimed: set[str],
    asserted: set[str],
    managed_ids: set[str],
) -> None:
    source_id = wanted.user.source_id
    if not previous:  # a renamed user of ours is recreated without these checks
        # Never create a second user next to one that only differs in case or attribute:
        # the person would land on the wrong one, or the login would keep failing.
        # Only hand-made accounts that nobody else signs in with block: a managed one
        # belongs to another directory user or is deprovisioned by this very plan.
        def blocks(user: ConnectUser) -> bool:
            return user.user_id not in managed_ids and user.user_id not in claimed

        variants = [
            u
            for u in by_lower.get(wanted.username.lower(), [])
            if u.username != wanted.username and blocks(u)
        ]
        if variants:
            mismatches.append(
                case_mismatch(wanted.username, variants[0].username, source_id, policy.source_label)
            )
            return
        for attribute, raw in sorted(wanted.user.attributes.items()):
            if attribute == policy.username_attribute or not raw:
                continue
            value = normalize(raw)
            candidates = [by_name[value]] if value in by_name else by_lower.get(value.lower(), [])
            # A user named after somebody else's asserted name is theirs, not this one's.
            found = next(
                (u for u in candidates if blocks(u) and u.username.lower() not in asserted), None
            )
            if found is not None:
                mismatches.append(
                    attribute_mismatch(
                        wanted.username,
                        found.username,
                        source_id,
                        named_after=attribute,
                        asserted=policy.username_attribute,
                        source=policy.source_label,
                    )
                )
                return
    tags = {
        TAG_MANAGED: "true",
        TAG_SOURCE_ID: source_id,
        TAG_EMAIL_HASH: email_fingerprint(wanted.settings.email),
    }
    plan.actions.append(
        SyncAction(
            ActionKind.CREATE,
            wanted.username,
            source_id,
            None,
            settings_changes(None, wanted.settings),
            wanted.settings,
            set_tags=tags,
        )
    )


def _plan_deprovision(plan: TargetPlan, user: ConnectUser, policy: PlanPolicy, now: str) -> None:
    if policy.deprovision_action == "delete":
        plan.actions.append(
            SyncAction(
                ActionKind.DELETE,
                user.username,
                user.source_id,
                user.user_id,
                {"user": Change(user.username, None)},
                arn=user.arn,
            )
        )
        return
    # "report" plans the same disable, which the safety gate then holds for a person; it
    # has no disabled profile, so it names no change it could not make.
    target_profiles = frozenset({policy.disabled_security_profile_id or ""})
    changes: dict[str, Change] = {}
    if policy.disabled_security_profile_id and user.security_profile_ids != target_profiles:
        changes["security_profile_ids"] = Change(
            sorted(user.security_profile_ids), sorted(target_profiles)
        )
    rp = policy.disabled_routing_profile_id
    if rp and user.routing_profile_id != rp:
        changes["routing_profile_id"] = Change(user.routing_profile_id, rp)
    plan.actions.append(
        SyncAction(
            ActionKind.DISABLE,
            user.username,
            user.source_id,
            user.user_id,
            changes,
            set_tags={} if user.disabled else {TAG_DISABLED: now},
            arn=user.arn,
        )
    )


def _already_deprovisioned(user: ConnectUser, policy: PlanPolicy) -> bool:
    """Disabled earlier and still exactly as a disable leaves a user."""
    return (
        user.disabled and policy.deprovision_action == "disable" and _disabled_in_step(user, policy)
    )


def _disabled_in_step(user: ConnectUser, policy: PlanPolicy) -> bool:
    profiles_ok = user.security_profile_ids == frozenset(
        {policy.disabled_security_profile_id or ""}
    )
    rp = policy.disabled_routing_profile_id
    return profiles_ok and (rp is None or user.routing_profile_id == rp)
