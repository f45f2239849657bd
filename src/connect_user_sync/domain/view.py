"""The directory side of a plan: usernames derived, settings resolved, clashes found.

Computed once per target (settings depend on the target's ids) and shared by every
decision the planner makes about that target.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from connect_user_sync.domain.mismatches import duplicate_usernames, invalid_username
from connect_user_sync.domain.models import DesiredSettings, DirectoryUser, Mismatch
from connect_user_sync.domain.policy import PlanPolicy
from connect_user_sync.domain.settings import ResolvedRule, desired_settings
from connect_user_sync.domain.usernames import derive_username


@dataclass(frozen=True)
class Wanted:
    """A directory user the plan provisions: the username it asserts and its settings."""

    user: DirectoryUser
    username: str
    settings: DesiredSettings


@dataclass
class DirectoryView:
    """The directory side, reduced to what every target's plan needs."""

    wanted: dict[str, Wanted] = field(default_factory=dict)  # source_id -> wanted user
    leavers: set[str] = field(default_factory=set)  # source ids present but disabled
    skipped: set[str] = field(default_factory=set)  # source ids we must leave alone
    mismatches: list[Mismatch] = field(default_factory=list)  # target-independent ones


def view_directory(
    users: Iterable[DirectoryUser], rules: Sequence[ResolvedRule], policy: PlanPolicy
) -> DirectoryView:
    """Derive usernames, resolve settings and find invalid and duplicate usernames."""
    view = DirectoryView()
    by_username: dict[str, list[Wanted]] = defaultdict(list)
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
        by_username[result.username].append(Wanted(user, result.username, settings))
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
