"""Entra ID, on demand: the named users and their in-scope groups, never a whole group.

Per name, two Graph requests find every user it can name: ``GET /users/{name}`` (the
object id or the userPrincipalName; 404 when neither) and
``GET /users?$filter=mail eq '{name}'``. Both are default (strongly consistent) queries,
so a user created a minute ago is found; Graph compares the values without regard to case.
Per user found, ``GET /users/{id}/transitiveMemberOf?$select=id`` lists the groups they
belong to, nested ones included (no cast, which would make it an eventually consistent
advanced query); the groups in scope are picked from it by id. Groups named in the
configuration are resolved as a full read resolves them. The permissions are the ones a
full read needs (``User.Read.All``, ``GroupMember.Read.All``).

A request that fails after its retries leaves the snapshot incomplete (nothing is
deprovisioned) with the reason in ``errors``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from connect_user_sync.domain.models import DirectorySnapshot, DirectoryUser, GroupRule
from connect_user_sync.errors import ConfigError
from connect_user_sync.sources.entra import USER_FIELDS, _GroupFailed, _NotFound, _UserRecord

if TYPE_CHECKING:
    from connect_user_sync.sources.entra import EntraSource

log = logging.getLogger(__name__)

MEMBER_OF_PAGE = 999


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def read_users(
    source: EntraSource, names: Sequence[str], groups: Sequence[GroupRule]
) -> DirectorySnapshot:
    """The users ``names`` name, with the labels of the groups in scope they belong to."""
    errors: list[str] = []
    scope = _resolve(source, groups, errors)
    select = ",".join(USER_FIELDS)
    found: dict[str, dict[str, Any]] = {}
    for name in names:
        try:
            for item in _lookups(source, name, select):
                if isinstance(item, dict) and item.get("id"):
                    found.setdefault(str(item["id"]), item)
        except _GroupFailed as exc:
            errors.append(f"Entra: looking up {name!r} failed: {exc}")
    users: list[DirectoryUser] = []
    for user_id, raw in found.items():
        try:
            member_of = _member_of(source, user_id)
        except (_GroupFailed, _NotFound) as exc:
            errors.append(f"Entra: the groups of user {user_id} could not be read: {exc}")
            continue
        labels = [label for label, group_id in scope if group_id in member_of]
        if labels:
            users.append(source._to_user(_UserRecord(raw, labels)))
    log.info("entra look-up of %d name(s): %d user(s) in scope", len(names), len(users))
    return DirectorySnapshot(tuple(users), (), complete=not errors, errors=tuple(errors))


def _lookups(source: EntraSource, name: str, select: str) -> list[Any]:
    """Every user ``name`` is the id, UPN or mail of."""
    graph = source._graph
    items: list[Any] = []
    with contextlib.suppress(_NotFound):  # neither an object id nor a UPN
        items.append(
            source._get_json(
                f"{graph}/v1.0/users/{quote(name, safe='@')}?$select={select}",
                page=1,
                eventual=False,
            )
        )
    by_mail = f"{graph}/v1.0/users?$filter={quote('mail eq ' + _literal(name), safe='')}"
    for page in source._pages(f"{by_mail}&$select={select}", eventual=False):
        items.extend(page)
    return items


def _member_of(source: EntraSource, user_id: str) -> set[str]:
    url = (
        f"{source._graph}/v1.0/users/{quote(user_id, safe='')}/transitiveMemberOf"
        f"?$select=id&$top={MEMBER_OF_PAGE}"
    )
    return {
        str(item["id"])
        for page in source._pages(url, eventual=False)
        for item in page
        if isinstance(item, dict) and item.get("id")
    }


def _resolve(
    source: EntraSource, groups: Sequence[GroupRule], errors: list[str]
) -> list[tuple[str, str]]:
    """(label, group id) of each group in scope that could be resolved."""
    scope: list[tuple[str, str]] = []
    for index, rule in enumerate(groups):
        try:
            if rule.by_id:
                source._get_json(
                    f"{source._graph}/v1.0/groups/{quote(rule.key, safe='')}?$select=id",
                    page=1,
                    eventual=False,
                )
                scope.append((rule.label, rule.key))
            else:
                scope.append((rule.label, source._group_id_by_name(index, rule.key)))
        except _NotFound as exc:
            raise ConfigError(
                f"groups[{index}].id",
                f"Entra has no group with id {rule.key!r}",
                "copy the Object ID from the group's overview page in the Entra admin "
                "center, or name the group with 'name:'",
            ) from exc
        except _GroupFailed as exc:
            errors.append(f"Entra group {rule.label!r}: the look-up failed: {exc}")
    return scope
