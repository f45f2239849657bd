"""Duo, on demand: the named users and their in-scope groups, never a whole group.

Per name, ``GET /admin/v1/users?username=n`` (a username or one of its aliases) and
``GET /admin/v1/users?email=n`` (every user with that e-mail); names shaped like Duo user
ids (``DU`` and 18 more letters or digits) are fetched with one ``user_id_list`` request.
Per user found, ``GET /admin/v1/users/{id}/groups`` (paged by ``offset``) lists their
groups; the groups in scope are picked from it by id, resolved as a full read resolves
them (a group given by ``id:`` is checked with ``GET /admin/v2/groups/{id}``). The Admin
API permission is a full read's ("Grant read resource"). A request that fails after its
retries leaves the snapshot incomplete with the reason in ``errors``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from connect_user_sync.domain.models import DirectorySnapshot, DirectoryUser, GroupRule
from connect_user_sync.errors import ConfigError
from connect_user_sync.sources.duo import USER_BATCH, _NotFound, _PageFailed

if TYPE_CHECKING:
    from connect_user_sync.sources.duo import DuoSource

log = logging.getLogger(__name__)

USER_GROUPS_PAGE = 500  # the user groups endpoint's maximum
DUO_USER_ID = re.compile(r"DU[0-9A-Z]{18}")


def read_users(
    source: DuoSource, names: Sequence[str], groups: Sequence[GroupRule]
) -> DirectorySnapshot:
    """The users ``names`` name, with the labels of the groups in scope they belong to."""
    errors: list[str] = []
    scope: list[tuple[str, str]] = []
    for index, (rule, group_id, problem) in enumerate(source._resolve(groups)):
        if group_id is None:
            errors.append(f"{problem}; its members could not be looked up")
        elif _exists(source, index, rule, group_id, errors):
            scope.append((rule.label, group_id))
    found = _lookups(source, names, errors)
    users: list[DirectoryUser] = []
    for user_id, raw in found.items():
        try:
            member_of = _groups_of(source, user_id)
        except (_PageFailed, _NotFound) as exc:
            errors.append(f"Duo: the groups of user {user_id} could not be read: {exc}")
            continue
        labels = tuple(label for label, group_id in scope if group_id in member_of)
        if not labels:
            continue
        user = source._to_user(user_id, raw, str(raw.get("username") or ""), labels)
        if user is None:
            errors.append(
                f"Duo user {raw.get('username') or user_id} ({user_id}) has the unknown status "
                f"{raw.get('status')!r}; the user is left out and deprovisioning waits"
            )
            continue
        users.append(user)
    log.info("duo look-up of %d name(s): %d user(s) in scope", len(names), len(users))
    return DirectorySnapshot(tuple(users), (), complete=not errors, errors=tuple(errors))


def _exists(
    source: DuoSource, index: int, rule: GroupRule, group_id: str, errors: list[str]
) -> bool:
    if not rule.by_id:
        return True  # found by name in the group list
    try:
        source._call(f"/admin/v2/groups/{quote(group_id, safe='')}", {}, "group")
    except _NotFound as exc:
        raise ConfigError(
            f"groups[{index}].id",
            f"Duo has no group with id {group_id!r}",
            "copy the group ID from the group's page in the Duo Admin Panel "
            "(Users → Groups), or name the group with 'name:'",
        ) from exc
    except _PageFailed as exc:
        errors.append(f"Duo group {rule.label!r}: the look-up failed: {exc}")
        return False
    return True


def _lookups(source: DuoSource, names: Sequence[str], errors: list[str]) -> dict[str, Any]:
    """Every user a name is the id, username, alias or e-mail of, by user id."""
    found: dict[str, Any] = {}

    def keep(items: Any) -> None:
        for item in items if isinstance(items, list) else [items]:
            if isinstance(item, dict) and item.get("user_id"):
                found.setdefault(str(item["user_id"]), item)

    for name in names:
        for key in ("username", "email"):
            try:
                keep(source._call("/admin/v1/users", {key: name}, f"user by {key}")[0])
            except (_PageFailed, _NotFound) as exc:
                errors.append(f"Duo: looking up the {key} {name!r} failed: {exc}")
    ids = [name for name in names if DUO_USER_ID.fullmatch(name)]
    for start in range(0, len(ids), USER_BATCH):
        batch = {"user_id_list": json.dumps(ids[start : start + USER_BATCH])}
        try:
            for items, _ in source._pages("/admin/v1/users", batch, USER_BATCH, "users by id"):
                keep(items)
        except (_PageFailed, _NotFound) as exc:
            errors.append(f"Duo: looking users up by id failed: {exc}")
    return found


def _groups_of(source: DuoSource, user_id: str) -> set[str]:
    path = f"/admin/v1/users/{quote(user_id, safe='')}/groups"
    return {
        str(group["group_id"])
        for items, _ in source._pages(path, {}, USER_GROUPS_PAGE, "groups page")
        for group in items
        if isinstance(group, dict) and group.get("group_id")
    }
