"""IAM Identity Center, on demand: the named users and their in-scope groups.

Per name, ``GetUserId`` with the unique attribute ``userName`` and with ``emails.value``
(the address Identity Center asserts as ``${user:email}``), and ``DescribeUser`` when the
name is shaped like a user id. Per user found, one ``IsMemberInGroups`` call (up to 100
group ids) says which groups in scope they belong to (the Identity Store has no nested
groups). Groups are resolved as a full read resolves them. Besides a full read's actions,
the role needs ``identitystore:GetUserId`` and ``identitystore:IsMemberInGroups``. A call
that fails after its retries leaves the snapshot incomplete with the reason in ``errors``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from connect_user_sync.domain.models import DirectorySnapshot, DirectoryUser, GroupRule
from connect_user_sync.errors import TransientError
from connect_user_sync.sources.identity_center_api import RefusedError, short

if TYPE_CHECKING:
    from connect_user_sync.sources.identity_center import IdentityCenterSource

log = logging.getLogger(__name__)

MEMBERSHIP_BATCH = 100  # IsMemberInGroups takes at most 100 group ids
UNIQUE_ATTRIBUTES = ("userName", "emails.value")
# The model's UserId pattern: an optional 10-hex-digit prefix and a UUID.
USER_ID = re.compile(r"([0-9a-f]{10}-)?[A-Fa-f0-9]{8}(-[A-Fa-f0-9]{4}){3}-[A-Fa-f0-9]{12}")
NOT_THERE = frozenset({"ResourceNotFoundException", "ValidationException"})


def read_users(
    source: IdentityCenterSource, names: Sequence[str], groups: Sequence[GroupRule]
) -> DirectorySnapshot:
    """The users ``names`` name, with the labels of the groups in scope they belong to."""
    errors: list[str] = []
    scope: list[tuple[str, str]] = []
    for index, rule in enumerate(groups):
        try:
            scope.append((rule.label, source._group_id(index, rule)))
        except TransientError as exc:
            errors.append(
                f"Identity Center group {rule.label!r}: the lookup failed after retries "
                f"({exc.code}: {short(exc)})"
            )
    found: dict[str, dict[str, Any]] = {}
    for name in names:
        for user_id in _user_ids(source, name, errors):
            if user_id not in found:
                raw = _describe(source, user_id, errors)
                if raw is not None:
                    found[user_id] = raw
    users: list[DirectoryUser] = []
    for user_id, raw in found.items():
        member_of = _member_of(source, user_id, [gid for _, gid in scope], errors)
        if member_of is None:
            continue
        labels = [label for label, group_id in scope if group_id in member_of]
        if not labels:
            continue
        user = source._to_user(raw, labels)
        if user is None:
            errors.append(
                f"Identity Center user {raw.get('UserName')!r} (id {user_id}) has the unknown "
                f"UserStatus {raw.get('UserStatus')!r}; it is left out of this run and nothing "
                "is deprovisioned until the status is one this tool knows"
            )
            continue
        users.append(user)
    log.info("identity center look-up of %d name(s): %d user(s) in scope", len(names), len(users))
    return DirectorySnapshot(tuple(users), (), complete=not errors, errors=tuple(errors))


def _user_ids(source: IdentityCenterSource, name: str, errors: list[str]) -> list[str]:
    ids = [name] if USER_ID.fullmatch(name) else []
    for path in UNIQUE_ATTRIBUTES:
        try:
            response = source._api.call(
                "GetUserId",
                IdentityStoreId=source._store,
                AlternateIdentifier={
                    "UniqueAttribute": {"AttributePath": path, "AttributeValue": name}
                },
            )
        except RefusedError as exc:
            if exc.code not in NOT_THERE:
                errors.append(f"Identity Center: GetUserId by {path} {name!r} was refused: {exc}")
            continue
        except TransientError as exc:
            errors.append(
                f"Identity Center: GetUserId by {path} {name!r} failed after retries "
                f"({exc.code}: {short(exc)})"
            )
            continue
        user_id = response.get("UserId")
        if isinstance(user_id, str) and user_id:
            ids.append(user_id)
    return ids


def _describe(
    source: IdentityCenterSource, user_id: str, errors: list[str]
) -> dict[str, Any] | None:
    try:
        return source._api.call("DescribeUser", IdentityStoreId=source._store, UserId=user_id)
    except RefusedError as exc:
        if exc.code not in NOT_THERE:
            errors.append(f"Identity Center user {user_id}: DescribeUser was refused: {exc}")
    except TransientError as exc:
        errors.append(
            f"Identity Center user {user_id}: DescribeUser failed after retries "
            f"({exc.code}: {short(exc)})"
        )
    return None


def _member_of(
    source: IdentityCenterSource, user_id: str, group_ids: Sequence[str], errors: list[str]
) -> set[str] | None:
    member_of: set[str] = set()
    for start in range(0, len(group_ids), MEMBERSHIP_BATCH):
        try:
            response = source._api.call(
                "IsMemberInGroups",
                IdentityStoreId=source._store,
                MemberId={"UserId": user_id},
                GroupIds=list(group_ids[start : start + MEMBERSHIP_BATCH]),
            )
        except (RefusedError, TransientError) as exc:
            errors.append(
                f"Identity Center user {user_id}: IsMemberInGroups failed ({exc.code}: "
                f"{short(exc)}); the user's groups are unknown"
            )
            return None
        for result in response.get("Results") or []:
            if isinstance(result, dict) and result.get("MembershipExists") is True:
                member_of.add(str(result.get("GroupId")))
    return member_of
