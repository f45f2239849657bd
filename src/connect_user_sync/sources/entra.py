"""Entra ID (formerly Azure AD) as the directory: msal for the token, Graph for the groups.

The app registration needs the Microsoft Graph *application* permissions
``GroupMember.Read.All`` and ``User.Read.All`` with admin consent (see docs/entra.md).

Each group in scope is read with ``/transitiveMembers/microsoft.graph.user`` so that nested
groups are flattened by Graph itself, 999 users a page. Throttling and server errors are
retried with ``Retry-After`` or exponential backoff; a page that still fails marks that
group, and the snapshot, incomplete instead of silently returning fewer users.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from connect_user_sync.config.model import USERNAME_ATTRIBUTES, EntraSourceConfig
from connect_user_sync.domain.models import (
    DirectorySnapshot,
    DirectoryUser,
    GroupRead,
    GroupRule,
)
from connect_user_sync.domain.names import SUGGEST_FROM, did_you_mean
from connect_user_sync.errors import ConfigError, DirectoryReadError
from connect_user_sync.retry import RetryPolicy, request_timeout, retry_after_seconds
from connect_user_sync.sources.entra_token import EntraTokens, clear_app_cache, short

log = logging.getLogger(__name__)

USER_FIELDS = (
    "id",
    "userPrincipalName",
    "mail",
    "givenName",
    "surname",
    "displayName",
    "accountEnabled",
    "userType",
)
PAGE_SIZE = 999
MAX_RETRY_AFTER = 120.0
BACKOFF_BASE = 1.0
BACKOFF_CAP = 60.0
MAX_TOTAL_WAIT = 600.0  # per page or token; a Lambda run has 15 minutes in all
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})

__all__ = ["EntraSource", "clear_app_cache"]


class _GroupFailed(Exception):
    """Reading one group could not finish; the snapshot becomes incomplete."""


class _NotFound(Exception):
    """Graph answered 404 for the object."""


@dataclass
class _UserRecord:
    user: dict[str, Any]
    labels: list[str] = field(default_factory=list)


def _graph_error_text(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        return (
            f"HTTP {response.status_code} {error.get('code')}: {short(str(error.get('message')))}"
        )
    return f"HTTP {response.status_code}: {short(response.text or response.reason or '')}"


class EntraSource:
    """Reads the in-scope groups' members from Entra ID through Microsoft Graph."""

    type = "entra"

    def __init__(
        self,
        config: EntraSourceConfig,
        username_attribute: str,
        *,
        session: requests.Session | None = None,
        msal_app: Any = None,
        timeout: tuple[float, float] = (5, 30),
        max_retries: int = 8,
        sleep: Callable[[float], None] = time.sleep,
        retry: RetryPolicy | None = None,
    ) -> None:
        if username_attribute not in USERNAME_ATTRIBUTES["entra"]:
            raise ConfigError(
                "username.attribute",
                f"{username_attribute!r} is not an attribute the entra source offers",
                "use upn or mail, matching the claim Entra sends as RoleSessionName",
            )
        self.config = config
        self.username_attribute = username_attribute
        self._session = session or requests.Session()
        self._timeout = timeout
        self._retry = retry or RetryPolicy(
            max_attempts=max(0, max_retries) + 1,
            base=BACKOFF_BASE,
            cap=BACKOFF_CAP,
            max_hint=MAX_RETRY_AFTER,
            max_total_wait=MAX_TOTAL_WAIT,
            sleep=sleep,
        )
        self._graph = config.graph_url.rstrip("/")
        self._tokens = EntraTokens(
            config, self._graph, self._retry, msal_app=msal_app, timeout=timeout
        )

    # ------------------------------------------------------------------ reading

    def read(self, groups: Sequence[GroupRule]) -> DirectorySnapshot:
        # Resolve every name first: a configuration mistake should stop the run before
        # thousands of members are read.
        resolved: list[tuple[GroupRule, str | None, str | None]] = []
        for index, rule in enumerate(groups):
            if rule.by_id:
                resolved.append((rule, rule.key, None))
                continue
            try:
                resolved.append((rule, self._group_id_by_name(index, rule.key), None))
            except _GroupFailed as exc:
                resolved.append(
                    (rule, None, f"Entra group {rule.label!r}: lookup by name failed: {exc}")
                )

        records: dict[str, _UserRecord] = {}
        reads: list[GroupRead] = []
        errors: list[str] = []
        for index, (rule, group_id, lookup_error) in enumerate(resolved):
            if group_id is None:
                errors.append(f"{lookup_error}; its members were not read")
                reads.append(GroupRead(rule.label, None, 0, complete=False))
                continue
            seen: set[str] = set()
            complete = True
            try:
                for member in self._members(group_id):
                    member_id = member["id"]
                    if member_id in seen:
                        continue
                    seen.add(member_id)
                    record = records.setdefault(member_id, _UserRecord(member))
                    record.labels.append(rule.label)
            except _NotFound as exc:
                if rule.by_id:
                    raise ConfigError(
                        f"groups[{index}].id",
                        f"Entra has no group with id {group_id!r}",
                        "copy the Object ID from the group's overview page in the Entra admin "
                        "center, or name the group with 'name:'",
                    ) from exc
                complete = False
                errors.append(
                    f"Entra group {rule.label!r} (id {group_id}) disappeared while it was read; "
                    "its member list is incomplete"
                )
            except _GroupFailed as exc:
                complete = False
                errors.append(
                    f"Entra group {rule.label!r} (id {group_id}): {exc}; its member list is "
                    f"incomplete ({len(seen)} members read before the failure)"
                )
            reads.append(GroupRead(rule.label, group_id, len(seen), complete=complete))
            log.info(
                "entra group %r: %d users%s",
                rule.label,
                len(seen),
                "" if complete else " (incomplete)",
            )

        users = tuple(self._to_user(record) for record in records.values())
        return DirectorySnapshot(
            users=users,
            groups=tuple(reads),
            complete=all(read.complete for read in reads),
            errors=tuple(errors),
        )

    def read_users(self, names: Sequence[str], groups: Sequence[GroupRule]) -> DirectorySnapshot:
        """The on-demand path: only the named users and their groups (``entra_lookup``)."""
        from connect_user_sync.sources.entra_lookup import read_users

        return read_users(self, names, groups)

    @staticmethod
    def _to_user(record: _UserRecord) -> DirectoryUser:
        raw = record.user
        enabled = raw.get("accountEnabled")
        return DirectoryUser(
            source_id=str(raw["id"]),
            attributes={"upn": raw.get("userPrincipalName"), "mail": raw.get("mail")},
            first_name=raw.get("givenName"),
            last_name=raw.get("surname"),
            email=raw.get("mail"),
            enabled=True if enabled is None else bool(enabled),
            groups=tuple(record.labels),
        )

    def _group_id_by_name(self, index: int, name: str) -> str:
        odata_filter = "displayName eq '{}'".format(name.replace("'", "''"))
        url = (
            f"{self._graph}/v1.0/groups?$filter={quote(odata_filter, safe='')}"
            "&$select=id,displayName"
        )
        matches: list[dict[str, Any]] = []
        try:
            for page in self._pages(url, eventual=False):
                matches.extend(page)
        except _NotFound as exc:
            raise _GroupFailed("Graph answered 404 for the group search") from exc
        ids = [str(item["id"]) for item in matches if isinstance(item, dict) and item.get("id")]
        if len(ids) == 1:
            return ids[0]
        if not ids:
            raise ConfigError(
                f"groups[{index}].name",
                f"no Entra group is named {name!r}{did_you_mean(name, self._group_names())}",
                "check the display name in the Entra admin center, or give the group's "
                "Object ID as 'id:' instead of 'name:'",
            )
        raise ConfigError(
            f"groups[{index}].name",
            f"{len(ids)} Entra groups are named {name!r} (ids {', '.join(ids)})",
            "give the intended group's Object ID as 'id:' instead of 'name:'",
        )

    def _group_names(self) -> list[str]:
        """Group names to suggest from (a bounded listing); none when the listing fails."""
        names: list[str] = []
        try:
            for page in self._pages(
                f"{self._graph}/v1.0/groups?$select=displayName&$top=999", eventual=False
            ):
                names.extend(str(g.get("displayName") or "") for g in page if isinstance(g, dict))
                if len(names) >= SUGGEST_FROM:
                    break
        except (_GroupFailed, _NotFound, DirectoryReadError):
            pass  # only a suggestion: the configuration error is raised either way
        return names

    def _members(self, group_id: str) -> Iterator[dict[str, Any]]:
        url = (
            f"{self._graph}/v1.0/groups/{quote(group_id, safe='')}/transitiveMembers/"
            f"microsoft.graph.user?$select={','.join(USER_FIELDS)}&$top={PAGE_SIZE}&$count=true"
        )
        announced: list[int] = []
        received = 0
        for page in self._pages(url, eventual=True, counts=announced):
            received += len(page)
            for item in page:
                if not isinstance(item, dict) or not item.get("id"):
                    continue
                kind = item.get("@odata.type")
                if kind is not None and kind != "#microsoft.graph.user":
                    continue
                yield item
        # $count=true makes Graph say how many members the chain holds: fewer received means
        # the chain ended early (a lost next link), however complete each page looked.
        if announced and received < announced[0]:
            raise _GroupFailed(
                f"Graph announced {announced[0]} members (@odata.count) but the page chain "
                f"ended after {received}"
            )

    def _pages(
        self, url: str, *, eventual: bool, counts: list[int] | None = None
    ) -> Iterator[list[Any]]:
        """Yield the ``value`` of each page, following ``@odata.nextLink`` to the end.

        The first page's ``@odata.count``, when Graph sends one, is appended to ``counts``.
        """
        visited: set[str] = set()
        number = 1
        next_url: str | None = url
        while next_url is not None:
            if next_url in visited:
                raise _GroupFailed(f"Graph sent the same next page link twice (page {number})")
            visited.add(next_url)
            body = self._get_json(next_url, page=number, eventual=eventual)
            value = body.get("value")
            if not isinstance(value, list):
                raise _GroupFailed(f"page {number} from Graph has no 'value' list")
            total = body.get("@odata.count")
            if counts is not None and number == 1 and isinstance(total, int):
                counts.append(total)
            yield value
            link = body.get("@odata.nextLink")
            if link is not None and not self._is_graph_link(link):
                raise _GroupFailed(
                    f"Graph's next page link after page {number} points outside {self._graph}; "
                    "not following it (the bearer token would go with it)"
                )
            next_url = link
            number += 1

    def _is_graph_link(self, link: object) -> bool:
        if not isinstance(link, str):
            return False
        ours, theirs = urlsplit(self._graph), urlsplit(link)
        return (theirs.scheme, theirs.netloc.lower()) == (ours.scheme, ours.netloc.lower())

    def _get_json(self, url: str, *, page: int, eventual: bool) -> dict[str, Any]:
        """GET one Graph page with retries. Raises _GroupFailed, _NotFound, DirectoryReadError."""
        budget = self._retry.start()
        while True:
            headers = {
                "Authorization": f"Bearer {self._tokens.token()}",
                "Accept": "application/json",
            }
            if eventual:
                headers["ConsistencyLevel"] = "eventual"
            retry_after: float | None = None
            try:
                response = self._session.get(
                    url, headers=headers, timeout=request_timeout(self._timeout)
                )
            except requests.exceptions.SSLError as exc:
                raise DirectoryReadError(
                    f"TLS verification failed for {self._graph}: {exc}. If a proxy or private "
                    "CA sits in between, point REQUESTS_CA_BUNDLE at its CA bundle"
                ) from exc
            except requests.RequestException as exc:
                problem = f"{type(exc).__name__}: {short(str(exc))}"
            else:
                status = response.status_code
                if status == 200:
                    try:
                        body = response.json()
                    except ValueError:
                        body = None
                    if isinstance(body, dict):
                        return body
                    problem = "HTTP 200 whose body is not a JSON object"
                elif status == 401:
                    raise DirectoryReadError(
                        f"Graph at {self._graph} rejected the access token of app "
                        f"{self.config.client_id} ({_graph_error_text(response)}); check that "
                        "graph_url is the Graph endpoint of the same cloud as authority_host"
                    )
                elif status == 403:
                    raise DirectoryReadError(
                        f"Graph refused app {self.config.client_id} access to group members "
                        f"({_graph_error_text(response)}). Give the app registration the "
                        "Microsoft Graph application permissions GroupMember.Read.All and "
                        "User.Read.All and have an administrator grant admin consent"
                    )
                elif status == 404:
                    raise _NotFound(_graph_error_text(response))
                elif status in RETRYABLE_STATUS:
                    problem = _graph_error_text(response)
                    retry_after = retry_after_seconds(response.headers.get("Retry-After"))
                else:
                    raise _GroupFailed(f"page {page} failed: {_graph_error_text(response)}")
            delay = budget.next_delay(retry_after)
            if delay is None:
                raise _GroupFailed(
                    f"page {page} failed after {budget.attempts} attempts: {problem}"
                )
            log.warning(
                "graph page %d: %s; retrying in %.1f s (retry %d of %d)",
                page,
                problem,
                delay,
                budget.attempts,
                self._retry.max_attempts - 1,
            )
            budget.sleep(delay)
