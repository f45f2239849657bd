"""What to do when a create finds the username taken.

CreateUser has no idempotency token: when its response is lost, the retry (or the next
run) meets DuplicateResourceException for a user that this very run created. The adapter
finds the existing user and asks here whether to take it over (and bring its settings in
step) or to leave it alone and report why.
"""

from __future__ import annotations

from dataclasses import dataclass

from connect_user_sync.domain.models import ActionKind, ConnectUser, SyncAction
from connect_user_sync.domain.settings import settings_changes


@dataclass(frozen=True)
class Takeover:
    """Carry on with ``update`` on the existing user, whose tags are ``existing.tags``."""

    existing: ConnectUser
    update: SyncAction


@dataclass(frozen=True)
class Refusal:
    """Leave the existing user alone; ``reason`` says why, for the action's error."""

    reason: str


def after_duplicate(
    create: SyncAction, existing: ConnectUser | None, *, adopt_existing: bool
) -> Takeover | Refusal:
    """Decide about the user that made ``create`` fail with DuplicateResourceException."""
    if existing is None:
        return Refusal(
            f"CreateUser said '{create.username}' exists, but SearchUsers cannot find it"
        )
    owner = existing.source_id
    if existing.managed and owner not in (None, create.source_id):
        return Refusal(f"'{create.username}' already exists for directory user {owner}")
    if not existing.managed and not adopt_existing:
        return Refusal(
            f"'{create.username}' already exists and was not made by this run; the next "
            "run's plan decides about it (an adoption needs safety.adopt_existing and a "
            "person's approval)"
        )
    if create.desired is None:
        return Refusal(f"the create of '{create.username}' carries no settings to apply")
    # What this create made holds exactly the profiles it asked for; anything more (an
    # Admin, say) means somebody else's user: never carry on over it.
    extra = existing.security_profile_ids - create.desired.security_profile_ids
    if extra:
        return Refusal(
            f"'{create.username}' already exists with security profiles this create would "
            "not grant; it is left alone"
        )
    update = SyncAction(
        ActionKind.UPDATE,
        create.username,
        create.source_id,
        existing.user_id,
        settings_changes(existing, create.desired),
        create.desired,
        set_tags={k: v for k, v in create.set_tags.items() if existing.tags.get(k) != v},
        arn=existing.arn,
    )
    return Takeover(existing, update)
