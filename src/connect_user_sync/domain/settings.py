"""From group membership to the settings a Connect user should have."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from connect_user_sync.domain.models import (
    TAG_EMAIL_HASH,
    Change,
    ConnectUser,
    DesiredSettings,
    DirectoryUser,
    PhoneSettings,
    email_fingerprint,
)

__all__ = [
    "MAX_SECURITY_PROFILES",
    "ResolvedRule",
    "desired_settings",
    "email_fingerprint",
    "phone_dict",
    "settings_changes",
]

MAX_SECURITY_PROFILES = 10


@dataclass(frozen=True)
class ResolvedRule:
    """A ``GroupRule`` with its Connect names turned into the ids of one instance."""

    label: str
    security_profile_ids: tuple[str, ...]
    routing_profile_id: str
    hierarchy_group_id: str | None
    phone: PhoneSettings


def desired_settings(user: DirectoryUser, rules: Sequence[ResolvedRule]) -> DesiredSettings | None:
    """Settings for ``user``, or None when none of their groups is in scope.

    Security profiles are the union over every matching group, in the groups' priority
    order, capped at Connect's limit of ten; routing profile, hierarchy group and phone
    come from the first matching group.
    """
    matching = [rule for rule in rules if rule.label in user.groups]
    if not matching:
        return None
    profiles: list[str] = []
    for rule in matching:
        for profile in rule.security_profile_ids:
            if profile not in profiles:
                profiles.append(profile)
    first = matching[0]
    return DesiredSettings(
        security_profile_ids=frozenset(profiles[:MAX_SECURITY_PROFILES]),
        routing_profile_id=first.routing_profile_id,
        hierarchy_group_id=first.hierarchy_group_id,
        phone=first.phone,
        first_name=_clean(user.first_name),
        last_name=_clean(user.last_name),
        email=_clean(user.email),
    )


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


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
