"""The configuration the planner needs, with Connect names resolved to ids."""

from __future__ import annotations

from dataclasses import dataclass

from connect_user_sync.domain.adoption import AdoptionPolicy
from connect_user_sync.domain.mismatches import UNKNOWN_SOURCE


@dataclass(frozen=True)
class PlanPolicy:
    """The configuration the planner needs, with Connect names resolved to ids."""

    username_attribute: str
    lowercase: bool = False
    deprovision_action: str = "disable"  # disable | delete | report
    disabled_security_profile_id: str | None = None
    disabled_routing_profile_id: str | None = None
    protected_usernames: frozenset[str] = frozenset()
    protected_security_profile_ids: frozenset[str] = frozenset()
    adopt_existing: bool = False
    approve_adoption: bool = False  # a person approved adoptions for this run
    # The security profiles the function may grant (GRANTABLE_SECURITY_PROFILE_IDS); None
    # when unrestricted. An adoption that would have to keep another one waits.
    grantable_security_profile_ids: frozenset[str] | None = None
    source_label: str = UNKNOWN_SOURCE

    @property
    def adoption(self) -> AdoptionPolicy:
        return AdoptionPolicy(
            self.adopt_existing, self.approve_adoption, self.grantable_security_profile_ids
        )
