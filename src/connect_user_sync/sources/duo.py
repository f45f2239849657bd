"""Duo as the directory: the Duo Admin API through ``duo_client`` (setup: docs/duo.md).

Each group is listed with ``GET /admin/v2/groups/{id}/users``, 500 rows a page (the API's
maximum: ids and usernames only); the members' details (e-mail, status, names, aliases)
come from ``GET /admin/v1/users`` with ``user_id_list``, 100 ids a request: never one
request per user. A count short of ``metadata.total_objects``, a count that moves between
pages, a page that still fails after its retries or a member without details make the
read incomplete: creates and updates go ahead, deprovisioning waits.

duo_client would retry a 429 itself for about a minute a request; its loop is turned off
and throttling and 5xx answers are retried here under ``connect_user_sync.retry``, with
bounded attempts and a bounded total wait.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import ssl
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from connect_user_sync.config.model import USERNAME_ATTRIBUTES, DuoSourceConfig
from connect_user_sync.domain.models import DirectorySnapshot, DirectoryUser, GroupRead, GroupRule
from connect_user_sync.domain.names import closest
from connect_user_sync.errors import ConfigError, DirectoryReadError
from connect_user_sync.retry import RetryPolicy, retry_after_seconds
from connect_user_sync.secrets import resolve_secret

log = logging.getLogger(__name__)

MEMBER_PAGE = 500  # the v2 group users endpoint's maximum
GROUP_PAGE = 500  # the groups endpoint's maximum
USER_BATCH = 100  # user_id_list takes at most 100 ids
DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRY = RetryPolicy(max_attempts=6, base=1.0, cap=32.0, max_total_wait=120.0)
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
ACTIVE_STATUSES = frozenset({"active", "bypass", "locked out"})
LEAVER_STATUSES = frozenset({"disabled", "pending deletion"})

_APPLICATION = "the Admin API application in the Duo Admin Panel (Applications)"
_AUTH_HINTS: Mapping[int, str] = {
    40101: "Duo received no usable credentials from integration key {ikey}",
    40102: (
        "Duo at {host} has no Admin API application with integration key {ikey}: check "
        "source.duo.integration_key and source.duo.api_host against " + _APPLICATION
    ),
    40103: (
        "Duo rejected the request signature for integration key {ikey}: the secret key does "
        "not belong to this integration key. Copy the Secret key from " + _APPLICATION + " into "
        "the secret that source.duo.secret_key_arn names (or secret_key for a local run)"
    ),
    40105: "Duo refused the request date: check that this machine's clock is right",
}


class _PageFailed(Exception):
    """A request failed for good; what it was reading is incomplete."""


class _NotFound(Exception):
    """Duo answered 404 for the object."""


def split_api_host(api_host: str) -> tuple[str, int | None]:
    """``host[:port]`` into the host duo_client signs and the port it connects to."""
    host, sep, port = api_host.strip().partition(":")
    if not sep:
        return host.lower(), None
    number = int(port) if port.isdigit() else 0
    if not 1 <= number <= 65535:
        raise ConfigError(
            "source.duo.api_host",
            f"{api_host!r} has no valid port",
            "use api-XXXXXXXX.duosecurity.com, with :PORT only for a proxy or a local emulator",
        )
    return host.lower(), number


def _error_text(body: Any, response: Any) -> tuple[int | None, str]:
    if isinstance(body, dict) and body.get("stat") == "FAIL":
        code = body.get("code")
        text = f"{code} {body.get('message')}"
        if body.get("message_detail"):
            text += f" ({body['message_detail']})"
        return (code if isinstance(code, int) else None), text
    return None, str(getattr(response, "reason", "") or "no error body")


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


class DuoSource:
    """Reads the in-scope groups' members from Duo through the Admin API."""

    type = "duo"

    def __init__(
        self,
        config: DuoSourceConfig,
        username_attribute: str,
        *,
        admin: Any = None,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
    ) -> None:
        if username_attribute not in USERNAME_ATTRIBUTES["duo"]:
            raise ConfigError(
                "username.attribute",
                f"{username_attribute!r} is not an attribute the duo source offers",
                "use username or email, matching what Duo SSO sends as RoleSessionName",
            )
        self.config = config
        self.username_attribute = username_attribute
        self.host, self.port = split_api_host(config.api_host)
        self._admin = admin
        self._timeout = timeout
        self._retry = retry or DEFAULT_RETRY

    # ------------------------------------------------------------------ reading

    def read(self, groups: Sequence[GroupRule]) -> DirectorySnapshot:
        # Resolve every name first: a configuration mistake stops the run before any
        # member is read.
        resolved = self._resolve(groups)
        members: dict[str, dict[str, str]] = {}  # label -> {user id: listed username}
        problems: dict[str, str | None] = {}
        fetched: dict[str, tuple[dict[str, str], str | None]] = {}  # one read per group id
        for index, (rule, group_id, lookup_error) in enumerate(resolved):
            label = rule.label
            if group_id is None:
                members[label], problems[label] = {}, f"{lookup_error}; members not read"
                continue
            if group_id not in fetched:
                fetched[group_id] = self._read_group(index, rule, group_id)
            members[label], problem = fetched[group_id]
            problems[label] = problem and f"Duo group {label!r} (id {group_id}): {problem}"
        errors = [problem for problem in problems.values() if problem]
        labels: dict[str, list[str]] = {}  # user id -> labels of the groups they are in
        listed: dict[str, str] = {}
        for label, rows in members.items():
            for user_id, name in rows.items():
                labels.setdefault(user_id, []).append(label)
                listed.setdefault(user_id, name)

        details, failed, detail_errors = self._details(list(labels))
        errors.extend(detail_errors)
        users: list[DirectoryUser] = []
        unreadable = {uid for uid in labels if uid not in details}
        for user_id, detail in details.items():
            user = self._to_user(user_id, detail, listed[user_id], tuple(labels[user_id]))
            if user is None:
                unreadable.add(user_id)
                errors.append(
                    f"Duo user {listed[user_id] or user_id} ({user_id}) has the unknown status "
                    f"{detail.get('status')!r}; the user is left out and deprovisioning waits"
                )
            else:
                users.append(user)
        missing = [uid for uid in labels if uid not in details and uid not in failed]
        if missing:
            errors.append(
                f"Duo returned no details for {len(missing)} group members (for example "
                f"{missing[0]}); they may have been deleted during the read"
            )
        reads: list[GroupRead] = []
        for rule, group_id, _ in resolved:
            label, rows = rule.label, members[rule.label]
            ok = group_id is not None and not problems[label] and not unreadable.intersection(rows)
            reads.append(GroupRead(label, group_id, len(rows), complete=ok))
            log.info("duo group %r: %d users%s", label, len(rows), "" if ok else " (incomplete)")
        return DirectorySnapshot(
            users=tuple(users),
            groups=tuple(reads),
            complete=all(read.complete for read in reads),
            errors=tuple(errors),
        )

    def read_users(self, names: Sequence[str], groups: Sequence[GroupRule]) -> DirectorySnapshot:
        """The on-demand path: only the named users and their groups (``duo_lookup``)."""
        from connect_user_sync.sources.duo_lookup import read_users

        return read_users(self, names, groups)

    def _read_group(
        self, index: int, rule: GroupRule, group_id: str
    ) -> tuple[dict[str, str], str | None]:
        """The group's members (id -> username), and what makes the list incomplete."""
        rows: dict[str, str] = {}
        try:
            self._members(group_id, rows)
        except _NotFound as exc:
            if rule.by_id and not rows:
                raise ConfigError(
                    f"groups[{index}].id",
                    f"Duo has no group with id {group_id!r}",
                    "copy the group ID from the group's page in the Duo Admin Panel "
                    "(Users → Groups), or name the group with 'name:'",
                ) from exc
            return rows, "the group disappeared while it was read; its member list is incomplete"
        except _PageFailed as exc:
            return rows, f"{exc}; its member list is incomplete ({len(rows)} members read)"
        return rows, None

    def _to_user(
        self, user_id: str, raw: Mapping[str, Any], listed_name: str, labels: tuple[str, ...]
    ) -> DirectoryUser | None:
        status = str(raw.get("status") or "").strip().lower()
        if status in ACTIVE_STATUSES:
            enabled = True
        elif status in LEAVER_STATUSES:
            enabled = False
        else:
            return None
        attributes: dict[str, str | None] = {
            "username": _text(raw.get("username")) or _text(listed_name),
            "email": _text(raw.get("email")),
        }
        # Aliases are other names of the same person: a Connect user named after one is
        # reported as an attribute mismatch instead of getting a twin.
        aliases = raw.get("aliases")
        if not isinstance(aliases, dict):
            aliases = {f"alias{n}": raw.get(f"alias{n}") for n in range(1, 5)}
        for key, value in sorted(aliases.items()):
            if _text(value):
                attributes[str(key)] = _text(value)
        first, last = _text(raw.get("firstname")), _text(raw.get("lastname"))
        realname = _text(raw.get("realname"))
        if first is None and last is None and realname:
            head, _, tail = realname.rpartition(" ")
            first, last = (head or None), tail
        return DirectoryUser(
            source_id=user_id,
            attributes=attributes,
            first_name=first,
            last_name=last,
            email=attributes["email"],
            enabled=enabled,
            groups=labels,
        )

    def _resolve(
        self, groups: Sequence[GroupRule]
    ) -> list[tuple[GroupRule, str | None, str | None]]:
        listing: list[dict[str, Any]] | None = None
        failure = ""
        if any(not rule.by_id for rule in groups):
            try:
                listing = self._all_groups()
            except (_PageFailed, _NotFound) as exc:
                failure = str(exc)
        resolved: list[tuple[GroupRule, str | None, str | None]] = []
        for index, rule in enumerate(groups):
            if rule.by_id:
                resolved.append((rule, rule.key, None))
            elif listing is None:
                resolved.append(
                    (rule, None, f"Duo group {rule.label!r}: the group list: {failure}")
                )
            else:
                resolved.append((rule, self._group_id_by_name(index, rule.key, listing), None))
        return resolved

    @staticmethod
    def _group_id_by_name(index: int, name: str, listing: list[dict[str, Any]]) -> str:
        ids = [str(g.get("group_id")) for g in listing if g.get("name") == name]
        if len(ids) == 1:
            return ids[0]
        if not ids:
            near = closest(name, (str(g.get("name") or "") for g in listing))
            hint = f" (names are compared exactly; did you mean {near!r}?)" if near else ""
            raise ConfigError(
                f"groups[{index}].name",
                f"no Duo group is named {name!r}{hint}",
                "check the name under Users → Groups in the Duo Admin Panel, or give the "
                "group's ID as 'id:' instead of 'name:'",
            )
        raise ConfigError(
            f"groups[{index}].name",
            f"{len(ids)} Duo groups are named {name!r} (ids {', '.join(ids)})",
            "give the intended group's ID as 'id:' instead of 'name:'",
        )

    def _all_groups(self) -> list[dict[str, Any]]:
        listing: list[dict[str, Any]] = []
        total: Any = None
        for items, metadata in self._pages("/admin/v1/groups", {}, GROUP_PAGE, "the group list"):
            listing.extend(item for item in items if isinstance(item, dict))
            total = metadata.get("total_objects")
        if isinstance(total, int) and len(listing) < total:
            raise _PageFailed(f"Duo reported {total} groups but {len(listing)} came back")
        return listing

    def _members(self, group_id: str, rows: dict[str, str]) -> None:
        """Add the group's members to ``rows``; raise _PageFailed on any doubt."""
        path = f"/admin/v2/groups/{quote(group_id, safe='')}/users"
        totals: set[Any] = set()
        for items, metadata in self._pages(path, {}, MEMBER_PAGE, "member page"):
            for item in items:
                if isinstance(item, dict) and item.get("user_id"):
                    rows.setdefault(str(item["user_id"]), str(item.get("username") or ""))
            totals.add(metadata.get("total_objects"))
        if len(totals) > 1:
            raise _PageFailed("the group changed while it was read (total_objects moved)")
        total = totals.pop() if totals else None
        if not isinstance(total, int):
            raise _PageFailed("Duo's answer has no metadata.total_objects to check the count")
        if len(rows) < total:
            raise _PageFailed(f"Duo reported {total} members but {len(rows)} came back")

    def _details(
        self, user_ids: list[str]
    ) -> tuple[dict[str, dict[str, Any]], set[str], list[str]]:
        """Each user's details by id, the ids of batches that failed, and the errors."""
        found: dict[str, dict[str, Any]] = {}
        failed: set[str] = set()
        errors: list[str] = []
        for start in range(0, len(user_ids), USER_BATCH):
            batch = user_ids[start : start + USER_BATCH]
            params = {"user_id_list": json.dumps(batch)}
            try:
                for items, _ in self._pages("/admin/v1/users", params, USER_BATCH, "user details"):
                    for item in items:
                        if isinstance(item, dict) and item.get("user_id") in batch:
                            found[str(item["user_id"])] = item
            except (_PageFailed, _NotFound) as exc:
                failed.update(batch)
                errors.append(
                    f"details of {len(batch)} Duo group members could not be read ({exc}); "
                    "those users are left out and deprovisioning waits"
                )
        return found, failed, errors

    def _pages(
        self, path: str, params: Mapping[str, str], limit: int, what: str
    ) -> Iterator[tuple[list[Any], dict[str, Any]]]:
        """Yield ``(items, metadata)`` per page, following ``metadata.next_offset``."""
        offset = 0
        number = 1
        while True:
            query = {**params, "limit": str(limit), "offset": str(offset)}
            items, metadata = self._call(path, query, f"{what} {number}")
            if not isinstance(items, list):
                raise _PageFailed(f"{what} {number} from Duo is not a list")
            yield items, metadata
            next_offset = metadata.get("next_offset")
            if next_offset is None:
                return
            try:
                next_offset = int(next_offset)
            except (TypeError, ValueError):
                raise _PageFailed(f"Duo sent the next offset {next_offset!r}") from None
            if next_offset <= offset:
                raise _PageFailed(f"Duo's paging did not advance after {what} {number}")
            offset = next_offset
            number += 1

    def _call(self, path: str, params: dict[str, str], what: str) -> tuple[Any, dict[str, Any]]:
        """One GET with retries. Raises _PageFailed, _NotFound or DirectoryReadError."""
        from duo_client.https_wrapper import InvalidCertificateException

        admin = self._client()
        budget = self._retry.start()
        while True:
            hint: float | None = None
            try:
                response, data = admin.api_call("GET", path, dict(params))
            except (ssl.SSLCertVerificationError, InvalidCertificateException) as exc:
                raise DirectoryReadError(
                    f"TLS verification failed for Duo at {self.config.api_host}: {exc}. Behind a "
                    "TLS-inspecting proxy, point REQUESTS_CA_BUNDLE at a bundle with its CA"
                ) from exc
            except (OSError, http.client.HTTPException) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                status = int(response.status)
                try:
                    body = json.loads(data)
                except ValueError:
                    body = None
                if status == 200:
                    if isinstance(body, dict) and body.get("stat") == "OK" and "response" in body:
                        metadata = body.get("metadata")
                        return body["response"], metadata if isinstance(metadata, dict) else {}
                    problem = "HTTP 200 whose body is not a Duo OK answer"
                else:
                    code, text = _error_text(body, response)
                    if status == 401:
                        raise DirectoryReadError(self._auth_message(code, text))
                    if status == 403:
                        raise DirectoryReadError(
                            f"Duo refused integration key {self.config.integration_key} ({text}): "
                            f"give {_APPLICATION} the permission 'Grant read resource'"
                        )
                    if status == 404:
                        raise _NotFound(text)
                    if status not in RETRYABLE_STATUS:
                        raise _PageFailed(f"{what} failed: HTTP {status} {text}")
                    problem = f"HTTP {status} {text}"
                    hint = retry_after_seconds(response.getheader("Retry-After"))
            delay = budget.next_delay(hint)
            if delay is None:
                raise _PageFailed(f"{what} failed after {budget.retries + 1} attempts: {problem}")
            log.warning("duo %s: %s; retrying in %.1f s", what, problem, delay)
            budget.sleep(delay)

    def _auth_message(self, code: int | None, text: str) -> str:
        template = _AUTH_HINTS.get(code) if code is not None else None
        if template is None:
            return f"Duo refused integration key {self.config.integration_key}: {text}"
        filled = template.format(ikey=self.config.integration_key, host=self.config.api_host)
        return f"{filled} (Duo: {text})"

    def _client(self) -> Any:
        if self._admin is not None:
            return self._admin
        import duo_client

        cfg = self.config
        secret = resolve_secret(
            cfg.secret_key_arn, cfg.secret_key, key_path="source.duo.secret_key_arn"
        )
        options: dict[str, Any] = {}
        # duo_client pins Duo's own CA bundle and ignores the usual variables; honour them
        # so that a TLS-inspecting proxy (or a local emulator) can be trusted explicitly.
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("SSL_CERT_FILE")
        if bundle:
            if not os.path.isfile(bundle):
                raise DirectoryReadError(
                    f"the CA bundle {bundle} (REQUESTS_CA_BUNDLE or SSL_CERT_FILE) is not a file"
                )
            options["ca_certs"] = bundle
        admin = duo_client.Admin(
            ikey=cfg.integration_key,
            skey=secret,
            host=self.host,
            port=self.port,
            timeout=self._timeout,
            **options,
        )
        # One attempt per call: retries and their total wait are ours (see the module doc).
        admin._MAX_BACKOFF_WAIT_SECS = 0
        self._admin = admin
        return admin
