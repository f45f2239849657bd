"""From group membership to the settings a Connect user should have."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from connect_user_sync.domain.models import (
    DesiredSettings,
    DirectoryUser,
    PhoneSettings,
    email_fingerprint,
)

__all__ = ["MAX_SECURITY_PROFILES", "ResolvedRule", "desired_settings", "email_fingerprint"]

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
