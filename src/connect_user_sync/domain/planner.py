"""The reconciler's diff: directory users + Connect users -> actions and mismatches.

A pure function of its inputs. Every run recomputes the plan from live state, so a
rerun is always safe and an interrupted run is completed by the next one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from connect_user_sync.domain.mismatches import (
    UNKNOWN_SOURCE,
    attribute_mismatch,
    case_mismatch,
    duplicate_usernames,
    invalid_username,
    renamed,
)
from connect_user_sync.domain.models import (
    TAG_ADOPTED,
    TAG_DISABLED,
    TAG_EMAIL_HASH,
    TAG_MANAGED,
    TAG_SOURCE_ID,
    ActionKind,
    Change,
    ConnectUser,
    DesiredSettings,
    DirectoryUser,
    Mismatch,
    PhoneSettings,
    SyncAction,
    TargetPlan,
    email_fingerprint,
)
from connect_user_sync.domain.settings import ResolvedRule, desired_settings
from connect_user_sync.domain.usernames import derive_username, normalize


@dataclass(frozen=True)
class PlanPolicy:
    """The configuration the planner needs, with Connect names resolved to ids."""

    username_attribute: str
    lowercase: bool = False
    deprovision_action: str = "disable"  # disable | delete | report
    disabled_security_profile_id: str | None = None
    disabled_routing_profile_id: str | None = None
    protected_usernames: frozenset[str] = frozenset()
    adopt_existing: bool = True
    source_label: str = UNKNOWN_SOURCE


@dataclass(frozen=True)
class _Wanted:
    user: DirectoryUser
    username: str
    settings: DesiredSettings


@dataclass
class DirectoryView:
    """The directory side, reduced to what every target's plan needs."""

    wanted: dict[str, _Wanted] = field(default_factory=dict)  # source_id -> wanted user
    leavers: set[str] = field(default_factory=set)  # source ids present but disabled
    skipped: set[str] = field(default_factory=set)  # source ids we must leave alone
    mismatches: list[Mismatch] = field(default_factory=list)  # target-independent ones


def view_directory(
    users: Iterable[DirectoryUser], rules: Sequence[ResolvedRule], policy: PlanPolicy
) -> DirectoryView:
    """Derive usernames, resolve settings and find invalid and duplicate usernames."""
    view = DirectoryView()
    by_username: dict[str, list[_Wanted]] = defaultdict(list)
    for user in users:
        settings = desired_settings(user, rules)
        if settings is None:
            continue
        if not user.enabled:
            view.leavers.add(user.source_id)
            continue
        result = derive_username(
            user.attributes, policy.username_attribute, lowercase=policy.lowercase
        )
        if result.username is None:
            shown = (
                user.attributes.get(policy.username_attribute)
                or f"(no {policy.username_attribute})"
            )
            view.skipped.add(user.source_id)
            view.mismatches.append(
                invalid_username(
                    str(shown).strip(), user.source_id, str(result.problem), policy.source_label
                )
            )
            continue
        by_username[result.username].append(_Wanted(user, result.username, settings))
    for username, claimants in by_username.items():
        if len(claimants) == 1:
            view.wanted[claimants[0].user.source_id] = claimants[0]
            continue
        ids = [c.user.source_id for c in claimants]
        view.skipped.update(ids)
        view.mismatches.extend(duplicate_usernames(username, ids, policy.source_label))
    return view


def in_filter(only: Collection[str] | None, *keys: str | None) -> bool:
    """True when no ``--user`` filter is set, or one of ``keys`` is named by it."""
    if only is None:
        return True
    return any(key is not None and key in only for key in keys)


def plan_target(
    instance_id: str,
    region: str,
    view: DirectoryView,
    connect_users: Sequence[ConnectUser],
    policy: PlanPolicy,
    *,
    now: str,
    only: Collection[str] | None = None,
) -> tuple[TargetPlan, list[Mismatch]]:
    """Plan one Connect instance. Returns the plan and this target's mismatches.

    Only users this tool manages (tagged, or adopted in this plan) ever get an update,
    disable, enable or delete; protected usernames are never touched at all.
    """
    plan = TargetPlan(instance_id, region)
    mismatches: list[Mismatch] = []
    protected = policy.protected_usernames
    by_name = {user.username: user for user in connect_users}
    by_lower: dict[str, list[ConnectUser]] = defaultdict(list)
    mine: dict[str, list[ConnectUser]] = defaultdict(list)
    for user in connect_users:
        by_lower[user.username.lower()].append(user)
        if user.managed and user.source_id:
            mine[user.source_id].append(user)
    plan.managed_count = sum(1 for u in connect_users if u.managed and u.username not in protected)

    # Every Connect user some wanted directory user signs in as: never deprovisioned.
    claimed: set[str] = {
        by_name[w.username].user_id for w in view.wanted.values() if w.username in by_name
    }
    asserted = {w.username.lower() for w in view.wanted.values()}
    handled: set[str] = set()

    for source_id, wanted in view.wanted.items():
        if not in_filter(only, wanted.username, source_id):
            continue
        current = by_name.get(wanted.username)
        if current is not None:
            handled.add(current.user_id)
            if current.username not in protected:
                _plan_existing(plan, wanted, current, policy, now)
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
            mismatches.append(
                renamed(wanted.username, old.username, source_id, policy.deprovision_action)
            )
            _plan_deprovision(plan, old, policy, now)

    for user in connect_users:
        if (
            not user.managed
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
        _plan_deprovision(plan, user, policy, now)
    return plan, mismatches


# --------------------------------------------------------------------------- pieces


def _plan_existing(
    plan: TargetPlan, wanted: _Wanted, current: ConnectUser, policy: PlanPolicy, now: str
) -> None:
    if not current.managed and not policy.adopt_existing:
        return  # exists and logins work; the tool was told not to take it over
    changes = settings_changes(current, wanted.settings)
    tags = {
        TAG_MANAGED: "true",
        TAG_SOURCE_ID: wanted.user.source_id,
        TAG_EMAIL_HASH: email_fingerprint(wanted.settings.email),
    }
    if not current.managed:
        tags[TAG_ADOPTED] = now
    set_tags = {k: v for k, v in tags.items() if current.tags.get(k) != v}
    if not current.managed:
        kind = ActionKind.ADOPT
    elif current.disabled:
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
            wanted.user.source_id,
            current.user_id,
            changes,
            wanted.settings,
            set_tags=set_tags,
            remove_tags=(TAG_DISABLED,) if current.disabled else (),
            arn=current.arn,
        )
    )


def _plan_missing(
    plan: TargetPlan,
    mismatches: list[Mismatch],
    wanted: _Wanted,
    previous: list[ConnectUser],
    by_lower: dict[str, list[ConnectUser]],
    by_name: dict[str, ConnectUser],
    policy: PlanPolicy,
    claimed: set[str],
    asserted: set[str],
) -> None:
    source_id = wanted.user.source_id
    if not previous:  # a renamed user of ours is recreated without these checks
        # Never create a second user next to one that only differs in case or attribute:
        # the person would land on the wrong one, or the login would keep failing.
        # Only hand-made accounts that nobody else signs in with block: a managed one
        # belongs to another directory user or is deprovisioned by this very plan.
        def blocks(user: ConnectUser) -> bool:
            return not user.managed and user.user_id not in claimed

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
    # "report" plans the same disable, which the safety gate then holds for a person.
    target_profiles = frozenset({policy.disabled_security_profile_id or ""})
    changes: dict[str, Change] = {}
    if user.security_profile_ids != target_profiles:
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


def settings_changes(current: ConnectUser | None, desired: DesiredSettings) -> dict[str, Change]:
    """Field-by-field differences between a Connect user and what it should be.

    Only what SearchUsers returns is compared directly; the e-mail is compared through
    its fingerprint tag. Names the directory does not hold are left as they are.
    """
    changes: dict[str, Change] = {}

    def differ(name: str, before: object, after: object) -> None:
        if before != after:
            changes[name] = Change(before, after)

    if current is None:
        differ("security_profile_ids", None, sorted(desired.security_profile_ids))
        differ("routing_profile_id", None, desired.routing_profile_id)
        differ("hierarchy_group_id", None, desired.hierarchy_group_id)
        differ("phone", None, phone_dict(desired.phone))
        for name in ("first_name", "last_name", "email"):
            differ(name, None, getattr(desired, name))
        return changes
    if current.security_profile_ids != desired.security_profile_ids:
        differ(
            "security_profile_ids",
            sorted(current.security_profile_ids),
            sorted(desired.security_profile_ids),
        )
    differ("routing_profile_id", current.routing_profile_id, desired.routing_profile_id)
    differ("hierarchy_group_id", current.hierarchy_group_id, desired.hierarchy_group_id)
    if current.phone != desired.phone:
        differ("phone", phone_dict(current.phone), phone_dict(desired.phone))
    if desired.first_name is not None:
        differ("first_name", current.first_name, desired.first_name)
    if desired.last_name is not None:
        differ("last_name", current.last_name, desired.last_name)
    if desired.email is not None and current.tags.get(TAG_EMAIL_HASH) != email_fingerprint(
        desired.email
    ):
        changes["email"] = Change(None, desired.email)  # the old value is not visible to us
    return changes


def phone_dict(phone: PhoneSettings | None) -> dict[str, object] | None:
    if phone is None:
        return None
    out: dict[str, object] = {
        "type": phone.phone_type,
        "auto_accept": phone.auto_accept,
        "after_contact_work_timeout": phone.after_contact_work_timeout,
    }
    if phone.desk_phone_number:
        out["desk_phone_number"] = phone.desk_phone_number
    return out
