"""What the function may grant, and the configuration checked against it before any write.

The stack scopes ``CreateUser``, ``UpdateUserSecurityProfiles`` and
``UpdateUserRoutingProfile`` to the security and routing profiles it was given
(``GrantableSecurityProfileIds``, ``GrantableRoutingProfileIds``, and the disabled
profiles) and hands the same ids to the function as ``GRANTABLE_SECURITY_PROFILE_IDS`` and
``GRANTABLE_ROUTING_PROFILE_IDS`` (comma-separated). A configuration that names any other
profile would only fail user by user at the first write with AccessDenied; checked here,
it is a configuration error naming the key, before the run writes anything.

Unset or empty variables mean no check (a CLI run with the operator's own credentials).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from connect_user_sync.errors import ConfigError

GRANTABLE_SECURITY_PROFILES_ENV = "GRANTABLE_SECURITY_PROFILE_IDS"
GRANTABLE_ROUTING_PROFILES_ENV = "GRANTABLE_ROUTING_PROFILE_IDS"
_PARAMETERS = {
    GRANTABLE_SECURITY_PROFILES_ENV: "GrantableSecurityProfileIds (or DisabledSecurityProfileId)",
    GRANTABLE_ROUTING_PROFILES_ENV: "GrantableRoutingProfileIds (or DisabledRoutingProfileId)",
}


def _ids(raw: str | None) -> frozenset[str] | None:
    ids = frozenset(part.strip() for part in (raw or "").split(",") if part.strip())
    return ids or None


@dataclass(frozen=True)
class Grantable:
    """The profile ids the function may grant; None for a kind means "not restricted"."""

    security_profile_ids: frozenset[str] | None = None
    routing_profile_ids: frozenset[str] | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Grantable:
        env = os.environ if environ is None else environ
        return cls(
            _ids(env.get(GRANTABLE_SECURITY_PROFILES_ENV)),
            _ids(env.get(GRANTABLE_ROUTING_PROFILES_ENV)),
        )

    def check_security_profiles(self, path: str, pairs: Iterable[tuple[str, str]]) -> None:
        """``pairs`` are (name, id) as the configuration named and the catalog resolved."""
        _check(path, pairs, self.security_profile_ids, GRANTABLE_SECURITY_PROFILES_ENV)

    def check_routing_profile(self, path: str, name: str, profile_id: str) -> None:
        _check(path, [(name, profile_id)], self.routing_profile_ids, GRANTABLE_ROUTING_PROFILES_ENV)


def _check(
    path: str, pairs: Iterable[tuple[str, str]], allowed: frozenset[str] | None, env: str
) -> None:
    if allowed is None:
        return
    for name, profile_id in pairs:
        if profile_id not in allowed:
            raise ConfigError(
                path,
                f"{name!r} (id {profile_id}) is not a profile this function may grant ({env} "
                "lists the ids its IAM role is scoped to)",
                f"add {profile_id} to the stack parameter {_PARAMETERS[env]} and deploy, or "
                "name a profile that is already listed",
            )
