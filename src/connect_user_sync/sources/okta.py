"""Okta as the directory: group members through the official ``okta`` SDK (3.x, async).

Credentials: preferably an API Services app signing a private-key JWT (OAuth 2.0 client
credentials, scopes ``okta.groups.read okta.users.read`` only), or an SSWS API token; see
docs/okta.md. How the SDK is wired, and which of its parts are left out and why, is told
in ``okta_client``.

Each group in scope is resolved first (by id, or by exact name through
``search=profile.name eq "..."``), then its members are read 200 a page, following the
``after`` cursor of each ``Link: rel="next"`` to the end of the chain. Okta gives no member
total, so the chain is the completeness check: a page that fails for good, a cursor seen
twice, a full page with no ``Link`` header at all, or a status this code does not know
leaves the group, and the snapshot, incomplete (nothing is deprovisioned).

User statuses (the Okta lifecycle):

- ``ACTIVE``, ``PASSWORD_EXPIRED``, ``LOCKED_OUT``, ``RECOVERY``: the person can still sign
  in (perhaps after a reset), so they stay provisioned (``enabled``);
- ``SUSPENDED``, ``DEPROVISIONED``: leavers (``enabled=False``: disabled or deleted in
  Connect as ``deprovision.action`` says);
- ``STAGED``, ``PROVISIONED``: not created yet; the person cannot sign in to Okta, so no
  Connect user is made for them yet. They are passed on as not enabled, which the planner
  treats like a leaver: never created, and a Connect user this tool made for them (possible
  only if an admin sent the activation again) is deprovisioned.

Attributes are passed on raw: ``login`` and ``email`` from the profile, whatever the SDK's
models would say about them. A value Connect cannot use (``a@b``, say) is reported as
``invalid_username`` by the planner; nothing is guessed in its place.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

from connect_user_sync.config.model import USERNAME_ATTRIBUTES, OktaSourceConfig
from connect_user_sync.domain.models import (
    DirectorySnapshot,
    DirectoryUser,
    GroupRead,
    GroupRule,
)
from connect_user_sync.domain.names import SUGGEST_FROM, closest
from connect_user_sync.errors import ConfigError
from connect_user_sync.retry import RetryPolicy
from connect_user_sync.sources import okta_client
from connect_user_sync.sources.okta_client import (
    NotFound,
    OktaConnection,
    RequestFailed,
    cursor_of,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

PAGE_SIZE = 200
ACTIVE_STATUSES = frozenset({"ACTIVE", "PASSWORD_EXPIRED", "LOCKED_OUT", "RECOVERY"})
LEAVER_STATUSES = frozenset({"SUSPENDED", "DEPROVISIONED"})
NOT_YET_STATUSES = frozenset({"STAGED", "PROVISIONED"})


class _GroupFailed(Exception):
    """Reading one group could not finish; the snapshot becomes incomplete."""


@dataclass
class _UserRecord:
    user: dict[str, Any]
    labels: list[str] = field(default_factory=list)


def _run(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to the end from synchronous code, even under a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    # Called from inside an event loop (an async host, a notebook): a loop of its own, on a
    # worker thread, rather than blocking or re-entering the caller's.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


def _search_literal(name: str) -> str:
    """``name`` as a quoted string for Okta's ``search`` expression."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text(value: object) -> str | None:
    return None if value is None else str(value)


class OktaSource:
    """Reads the in-scope groups' members from an Okta org."""

    type = "okta"

    def __init__(
        self,
        config: OktaSourceConfig,
        username_attribute: str,
        *,
        retry_policy: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
        timeout: tuple[float, float] = (5.0, 30.0),
    ) -> None:
        if username_attribute not in USERNAME_ATTRIBUTES["okta"]:
            raise ConfigError(
                "username.attribute",
                f"{username_attribute!r} is not an attribute the okta source offers",
                "use login (the app's 'Okta username' format) or email (its 'Email' format), "
                "matching the Application username format of the Amazon Connect app in Okta",
            )
        self.config = config
        self.username_attribute = username_attribute
        # Looked up per source, so that one deployment-wide policy can be set in one place.
        self._policy = retry_policy or okta_client.DEFAULT_POLICY
        self._clock = clock
        self._timeout = timeout

    def read(self, groups: Sequence[GroupRule]) -> DirectorySnapshot:
        return _run(lambda: self._read(groups))

    def read_users(self, names: Sequence[str], groups: Sequence[GroupRule]) -> DirectorySnapshot:
        """The on-demand path: only the named users and their groups (``okta_lookup``)."""
        from connect_user_sync.sources.okta_lookup import read_users

        return read_users(self, names, groups)

    async def _read(self, groups: Sequence[GroupRule]) -> DirectorySnapshot:
        connection = OktaConnection(
            self.config, policy=self._policy, clock=self._clock, timeout=self._timeout
        )
        async with connection as okta:
            # Resolve every group first: a configuration mistake should stop the run before
            # thousands of members are read.
            resolved: list[tuple[GroupRule, str | None, str | None]] = []
            for index, rule in enumerate(groups):
                try:
                    resolved.append((rule, await self._resolve(okta, index, rule), None))
                except _GroupFailed as exc:
                    resolved.append((rule, None, str(exc)))

            records: dict[str, _UserRecord] = {}
            reads: list[GroupRead] = []
            errors: list[str] = []
            for rule, group_id, lookup_error in resolved:
                if group_id is None:
                    errors.append(
                        f"Okta group {rule.label!r}: {lookup_error}; its members were not read"
                    )
                    reads.append(GroupRead(rule.label, None, 0, complete=False))
                    continue
                seen: set[str] = set()
                complete = True
                try:
                    async for member in self._members(okta, group_id):
                        member_id = str(member["id"])
                        if member_id in seen:
                            continue
                        seen.add(member_id)
                        records.setdefault(member_id, _UserRecord(member)).labels.append(rule.label)
                except NotFound:
                    complete = False
                    errors.append(
                        f"Okta group {rule.label!r} (id {group_id}) disappeared while it was "
                        "read; its member list is incomplete"
                    )
                except _GroupFailed as exc:
                    complete = False
                    errors.append(
                        f"Okta group {rule.label!r} (id {group_id}): {exc}; its member list is "
                        f"incomplete ({len(seen)} members read before the failure)"
                    )
                reads.append(GroupRead(rule.label, group_id, len(seen), complete=complete))
                log.info(
                    "okta group %r: %d users%s",
                    rule.label,
                    len(seen),
                    "" if complete else " (incomplete)",
                )

        users: list[DirectoryUser] = []
        doubtful = False
        for record in records.values():
            user, problem = self._to_user(record)
            users.append(user)
            if problem:
                doubtful = True
                errors.append(problem)
        return DirectorySnapshot(
            users=tuple(users),
            groups=tuple(reads),
            complete=not doubtful and all(read.complete for read in reads),
            errors=tuple(errors),
        )

    # ------------------------------------------------------------------ groups

    async def _resolve(self, okta: OktaConnection, index: int, rule: GroupRule) -> str:
        """The group's id; ConfigError when the configuration names no single group."""
        if rule.by_id:
            try:
                group = await okta.get(
                    f"/api/v1/groups/{quote(rule.key, safe='')}",
                    bucket="groups",
                    what=f"group {rule.key}",
                )
            except NotFound as exc:
                raise ConfigError(
                    f"groups[{index}].id",
                    f"Okta has no group with id {rule.key!r}",
                    "copy the id from the group's page in the Okta Admin Console (the end of "
                    "its URL, 00g...), or name the group with 'name:'",
                ) from exc
            except RequestFailed as exc:
                raise _GroupFailed(f"looking the group up failed: {exc}") from exc
            if not isinstance(group.body, dict) or group.body.get("id") != rule.key:
                raise _GroupFailed("Okta answered the group lookup with something else")
            return rule.key

        name = rule.key
        candidates: list[dict[str, Any]] = []
        params = [("search", f"profile.name eq {_search_literal(name)}"), ("limit", "200")]
        try:
            async for page in self._pages(
                okta, "/api/v1/groups", params, bucket="groups", what="group search"
            ):
                candidates.extend(item for item in page if isinstance(item, dict))
        except NotFound as exc:
            raise _GroupFailed("Okta answered 404 to the group search") from exc
        exact = [str(g["id"]) for g in candidates if (g.get("profile") or {}).get("name") == name]
        if len(exact) == 1:
            return exact[0]
        if not exact:
            known = [str((g.get("profile") or {}).get("name") or "") for g in candidates]
            near = closest(name, known + await self._group_names(okta))
            hint = f" (did you mean {near!r}? names must match exactly)" if near else ""
            raise ConfigError(
                f"groups[{index}].name",
                f"no Okta group is named {name!r}{hint}",
                "copy the name from Directory > Groups in the Okta Admin Console, or give the "
                "group's id as 'id:' instead of 'name:'",
            )
        raise ConfigError(
            f"groups[{index}].name",
            f"{len(exact)} Okta groups are named {name!r} (ids {', '.join(exact)})",
            "give the intended group's id as 'id:' instead of 'name:' (an application "
            "group imported from AD may share a name with an Okta group)",
        )

    async def _group_names(self, okta: OktaConnection) -> list[str]:
        """Group names to suggest from (a bounded listing); none when the listing fails."""
        names: list[str] = []
        try:
            async for page in self._pages(
                okta, "/api/v1/groups", [("limit", "200")], bucket="groups", what="group list"
            ):
                names.extend(
                    str((g.get("profile") or {}).get("name") or "")
                    for g in page
                    if isinstance(g, dict)
                )
                if len(names) >= SUGGEST_FROM:
                    break
        except (_GroupFailed, NotFound):
            pass  # only a suggestion: the configuration error is raised either way
        return names

    # ------------------------------------------------------------------ members

    async def _members(self, okta: OktaConnection, group_id: str) -> AsyncIterator[dict[str, Any]]:
        path = f"/api/v1/groups/{quote(group_id, safe='')}/users"
        params = [("limit", str(PAGE_SIZE))]
        async for page in self._pages(okta, path, params, bucket="members", what="page"):
            for item in page:
                if isinstance(item, dict) and item.get("id"):
                    yield item

    async def _pages(
        self,
        okta: OktaConnection,
        path: str,
        params: list[tuple[str, str]],
        *,
        bucket: str,
        what: str,
    ) -> AsyncIterator[list[Any]]:
        """Yield each page's list, following the ``after`` cursor to the end of the chain.

        Only the cursor is taken from a ``next`` link; the URL is always built here, so the
        credentials never travel to a host a ``Link`` header names.
        """
        cursors: set[str] = set()
        after: str | None = None
        number = 1
        while True:
            query = params + ([("after", after)] if after is not None else [])
            try:
                response = await okta.get(path, query, bucket=bucket, what=f"{what} {number}")
            except RequestFailed as exc:
                raise _GroupFailed(str(exc)) from exc
            if not isinstance(response.body, list):
                raise _GroupFailed(f"{what} {number} from Okta is not a JSON list")
            yield response.body
            link = response.links.get("next")
            if link is None:
                if not response.links and len(response.body) >= PAGE_SIZE:
                    raise _GroupFailed(
                        f"{what} {number} is full but carries no Link header, so whether more "
                        "follow is unknown (a proxy may strip Link headers)"
                    )
                return
            after = cursor_of(link)
            if not after:
                raise _GroupFailed(f"the next link after {what} {number} has no 'after' cursor")
            if after in cursors:
                raise _GroupFailed(f"Okta sent the cursor after {what} {number} twice")
            cursors.add(after)
            number += 1

    # ------------------------------------------------------------------ users

    def _to_user(self, record: _UserRecord) -> tuple[DirectoryUser, str | None]:
        raw = record.user
        found = raw.get("profile")
        profile: dict[str, Any] = found if isinstance(found, dict) else {}
        status = str(raw.get("status") or "")
        problem: str | None = None
        if status in ACTIVE_STATUSES:
            enabled = True
        elif status in LEAVER_STATUSES or status in NOT_YET_STATUSES:
            enabled = False
        else:
            # Fail closed: no new access, and no deprovisioning decided on a guess.
            enabled = False
            problem = (
                f"Okta user {raw.get('id')} ({_text(profile.get('login'))}) has the status "
                f"{status or '(none)'!r}, which this tool does not know; the read is treated "
                "as incomplete and the user gets no new access"
            )
        email = _text(profile.get("email"))
        user = DirectoryUser(
            source_id=str(raw["id"]),
            attributes={"login": _text(profile.get("login")), "email": email},
            first_name=_text(profile.get("firstName")),
            last_name=_text(profile.get("lastName")),
            email=email,
            enabled=enabled,
            groups=tuple(record.labels),
        )
        return user, problem
