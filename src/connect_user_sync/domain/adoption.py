"""Taking over a Connect user this tool did not create: explicit, approved, never lossy.

An adoption needs two yeses: ``safety.adopt_existing: true`` in the configuration, and a
person's approval of the run (``--approve-adoption`` or the ``approve_adoption`` event).
It also needs the results table, where the tool records every user it adopts. Without
all three, the adoption is planned but ``held``, with the reason and the way to approve.

An adoption never takes a security profile away: a profile the user holds that the
configuration does not grant is *kept* (the action's ``changes`` say which, and the
alert repeats it), remembered in the ownership record, and left alone by later updates.

A user that an earlier version of this tool created (tagged, but never recorded) is an
``ownership_conflict`` until a person approves: then it is adopted the same way, without
``adopt_existing``, because the tool made it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from connect_user_sync.domain.models import (
    TAG_ADOPTED,
    TAG_EMAIL_HASH,
    TAG_MANAGED,
    TAG_SOURCE_ID,
    ActionKind,
    ActionStatus,
    Change,
    ConnectUser,
    DesiredSettings,
    OwnedRecord,
    SyncAction,
    email_fingerprint,
)
from connect_user_sync.domain.settings import MAX_SECURITY_PROFILES, settings_changes

KEPT_FIELD = "kept_security_profile_ids"  # in an adopt action's changes: profiles kept
OWNERSHIP_FIELD = "ownership"  # in an adopt action's changes: tags only -> recorded
APPROVE_HOW = (
    'run apply with --approve-adoption (or invoke the function with {"approve_adoption": true})'
)


@dataclass(frozen=True)
class AdoptionPolicy:
    adopt_existing: bool = False
    approved: bool = False
    grantable_security_profile_ids: frozenset[str] | None = None


def with_kept_profiles(
    settings: DesiredSettings, record: OwnedRecord | None, current: ConnectUser
) -> DesiredSettings:
    """``settings`` plus the kept profiles an adopted user still holds."""
    if record is None or not record.kept_security_profile_ids:
        return settings
    kept = record.kept_security_profile_ids & current.security_profile_ids
    if not kept - settings.security_profile_ids:
        return settings
    return replace(settings, security_profile_ids=settings.security_profile_ids | kept)


def adoption(
    current: ConnectUser,
    source_id: str,
    settings: DesiredSettings,
    policy: AdoptionPolicy,
    now: str,
    *,
    upgrade: bool,
    tags_only: bool,
) -> SyncAction | None:
    """The adopt action for ``current``, ``held`` unless everything allows it.

    None when the configuration does not adopt at all (``adopt_existing`` false and the
    user was not made by an earlier version of this tool): the user stays as it is.
    """
    if not upgrade and not policy.adopt_existing:
        return None
    kept = current.security_profile_ids - settings.security_profile_ids
    if kept:
        settings = replace(settings, security_profile_ids=settings.security_profile_ids | kept)
    changes = settings_changes(current, settings)
    if kept:
        changes[KEPT_FIELD] = Change(sorted(kept), sorted(kept))
    if upgrade:
        changes[OWNERSHIP_FIELD] = Change("tags only", "recorded")
    tags = {
        TAG_MANAGED: "true",
        TAG_SOURCE_ID: source_id,
        TAG_EMAIL_HASH: email_fingerprint(settings.email),
    }
    if not current.managed:
        tags[TAG_ADOPTED] = now
    action = SyncAction(
        ActionKind.ADOPT,
        current.username,
        source_id,
        current.user_id,
        changes,
        settings,
        set_tags={k: v for k, v in tags.items() if current.tags.get(k) != v},
        arn=current.arn,
    )
    reason = _held_because(action, kept, policy, tags_only=tags_only)
    if reason:
        action.status = ActionStatus.HELD
        action.error = reason
    return action


def _held_because(
    action: SyncAction, kept: frozenset[str], policy: AdoptionPolicy, *, tags_only: bool
) -> str | None:
    if tags_only:
        return (
            "adoption needs the results table, where this tool records the users it adopts: "
            "set results.table (or RESULTS_TABLE), then " + APPROVE_HOW
        )
    if not policy.approved:
        return f"adoption waits for a person: {APPROVE_HOW} to let this tool manage this user"
    desired = action.desired
    if desired is not None and len(desired.security_profile_ids) > MAX_SECURITY_PROFILES:
        return (
            f"adoption would leave the user with {len(desired.security_profile_ids)} security "
            f"profiles (it keeps the ones it holds); Connect allows {MAX_SECURITY_PROFILES}. "
            "Remove some from the user in Connect, then approve again"
        )
    grantable = policy.grantable_security_profile_ids
    if grantable is not None and "security_profile_ids" in action.changes and kept - grantable:
        return (
            "adoption would keep security profile(s) the function may not grant "
            f"({', '.join(sorted(kept - grantable))}): add them to the stack's grantable "
            "security profiles, or remove them from the user in Connect, then approve again"
        )
    return None
