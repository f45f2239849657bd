"""Okta, on demand: the named users and their in-scope groups, never a whole group.

Per name, two requests find every user it can name:

- ``GET /api/v1/users?search=profile.login eq "n" or profile.email eq "n" or id eq "n"``:
  Okta's ``search`` compares these without regard to case and finds every user sharing an
  e-mail, but it reads an eventually consistent index;
- ``GET /api/v1/users/{n}`` (the id or login; strongly consistent, so a user created a
  minute ago is found). Okta also answers it for an unambiguous login *short name*, so its
  answer is kept only when the id, login or e-mail really is the name.

Per user found, ``GET /api/v1/users/{id}/groups`` (paged with the ``after`` cursor) lists
their groups; the groups in scope are picked from it by id, resolved as a full read
resolves them. The scopes are a full read's (``okta.users.read``, ``okta.groups.read``).
A request that fails after its retries leaves the snapshot incomplete with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from connect_user_sync.domain.models import DirectorySnapshot, DirectoryUser, GroupRule
from connect_user_sync.sources.okta import (
    PAGE_SIZE,
    _GroupFailed,
    _run,
    _search_literal,
    _UserRecord,
)
from connect_user_sync.sources.okta_client import NotFound, OktaConnection, RequestFailed

if TYPE_CHECKING:
    from connect_user_sync.sources.okta import OktaSource

log = logging.getLogger(__name__)


def read_users(
    source: OktaSource, names: Sequence[str], groups: Sequence[GroupRule]
) -> DirectorySnapshot:
    """The users ``names`` name, with the labels of the groups in scope they belong to."""
    return _run(lambda: _read(source, names, groups))


async def _read(
    source: OktaSource, names: Sequence[str], groups: Sequence[GroupRule]
) -> DirectorySnapshot:
    connection = OktaConnection(
        source.config, policy=source._policy, clock=source._clock, timeout=source._timeout
    )
    errors: list[str] = []
    users: list[DirectoryUser] = []
    async with connection as okta:
        scope: list[tuple[str, str]] = []
        for index, rule in enumerate(groups):
            try:
                scope.append((rule.label, await source._resolve(okta, index, rule)))
            except _GroupFailed as exc:
                errors.append(f"Okta group {rule.label!r}: {exc}")
        found: dict[str, dict[str, Any]] = {}
        for name in names:
            try:
                for item in await _lookups(source, okta, name):
                    found.setdefault(str(item["id"]), item)
            except _GroupFailed as exc:
                errors.append(f"Okta: looking up {name!r} failed: {exc}")
        for user_id, raw in found.items():
            try:
                member_of = await _groups_of(source, okta, user_id)
            except (_GroupFailed, NotFound) as exc:
                errors.append(f"Okta: the groups of user {user_id} could not be read: {exc}")
                continue
            labels = [label for label, group_id in scope if group_id in member_of]
            if not labels:
                continue
            user, problem = source._to_user(_UserRecord(raw, labels))
            users.append(user)
            if problem:
                errors.append(problem)
    log.info("okta look-up of %d name(s): %d user(s) in scope", len(names), len(users))
    return DirectorySnapshot(tuple(users), (), complete=not errors, errors=tuple(errors))


def _names_it(item: Any, name: str) -> bool:
    if not isinstance(item, dict) or not item.get("id"):
        return False
    found = item.get("profile")
    profile: dict[str, Any] = found if isinstance(found, dict) else {}
    values = (profile.get("login"), profile.get("email"))
    return item["id"] == name or any(
        isinstance(v, str) and v.casefold() == name.casefold() for v in values
    )


async def _lookups(source: OktaSource, okta: OktaConnection, name: str) -> list[dict[str, Any]]:
    """Every user ``name`` is the id, login or e-mail of."""
    literal = _search_literal(name)
    search = f"profile.login eq {literal} or profile.email eq {literal} or id eq {literal}"
    params = [("search", search), ("limit", str(PAGE_SIZE))]
    items: list[Any] = []
    async for page in source._pages(okta, "/api/v1/users", params, bucket="users", what="search"):
        items.extend(page)
    try:
        answer = await okta.get(
            f"/api/v1/users/{quote(name, safe='@')}", bucket="users", what=f"user {name}"
        )
        items.append(answer.body)
    except NotFound:
        pass  # neither an id nor a login
    except RequestFailed as exc:
        raise _GroupFailed(str(exc)) from exc
    return [item for item in items if _names_it(item, name)]


async def _groups_of(source: OktaSource, okta: OktaConnection, user_id: str) -> set[str]:
    path = f"/api/v1/users/{quote(user_id, safe='')}/groups"
    params = [("limit", str(PAGE_SIZE))]
    return {
        str(group["id"])
        async for page in source._pages(okta, path, params, bucket="users", what="groups page")
        for group in page
        if isinstance(group, dict) and group.get("id")
    }
