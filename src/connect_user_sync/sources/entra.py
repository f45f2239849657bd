"""Entra ID (formerly Azure AD) as the directory: msal for the token, Graph for the groups.

The app registration needs the Microsoft Graph *application* permissions
``GroupMember.Read.All`` and ``User.Read.All`` with admin consent (see docs/entra.md).

Each group in scope is read with ``/transitiveMembers/microsoft.graph.user`` so that nested
groups are flattened by Graph itself, 999 users a page. Throttling and server errors are
retried with ``Retry-After`` or exponential backoff; a page that still fails marks that
group, and the snapshot, incomplete instead of silently returning fewer users.
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
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
from connect_user_sync.errors import ConfigError, DirectoryReadError
from connect_user_sync.secrets import resolve_secret

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
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})

# Hosts of Entra's public and national clouds. msal validates these itself; any other
# host (a test emulator, a proxy) needs instance discovery switched off.
MICROSOFT_AUTHORITY_HOSTS = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoft.com",
        "login.windows.net",
        "sts.windows.net",
        "login.microsoftonline.us",
        "login-us.microsoftonline.com",
        "login.usgovcloudapi.net",
        "login.chinacloudapi.cn",
        "login.partner.microsoftonline.cn",
        "login.microsoftonline.de",
        "login.sovcloud-identity.fr",
        "login.sovcloud-identity.de",
        "login.sovcloud-identity.sg",
    }
)

# AADSTS codes worth a sentence of their own. Anything else is shown as Entra sent it.
_AADSTS_HINTS: Mapping[int, str] = {
    7000215: (
        "Entra rejected the client secret for app {client_id} in tenant {tenant_id}; "
        "store the secret's Value (not its Secret ID) in the secret client_secret_arn points to"
    ),
    7000222: (
        "the client secret for app {client_id} in tenant {tenant_id} has expired; "
        "create a new one in the app registration and update the stored secret"
    ),
    7000218: "no client secret reached Entra for app {client_id}; check the stored secret",
    700016: (
        "Entra has no application with client_id {client_id} in tenant {tenant_id}; check "
        "source.entra.client_id (the Application (client) ID) and source.entra.tenant_id"
    ),
    90002: (
        "Entra has no tenant {tenant_id} at {authority_host}; check source.entra.tenant_id, "
        "and authority_host if the tenant lives in a national cloud"
    ),
    900023: "{tenant_id} is not a valid tenant id; use the Directory (tenant) ID GUID",
    7000112: "app {client_id} is disabled in tenant {tenant_id}; enable it in Entra",
    500011: (
        "the resource {graph_url} is not known in tenant {tenant_id}; check that graph_url "
        "belongs to the same cloud as authority_host"
    ),
}


class _MsalHttpClient:
    """The ``http_client`` handed to msal: a requests session with an explicit timeout."""

    def __init__(self, timeout: tuple[float, float]) -> None:
        self._session = requests.Session()
        self._timeout = timeout

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self._timeout)
        return self._session.get(url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self._timeout)
        return self._session.post(url, **kwargs)

    def close(self) -> None:
        self._session.close()


# One msal application per (authority, client id, secret): msal's in-memory token cache
# lives in it, so tokens survive across pages, sources and warm Lambda invocations.
_APP_CACHE: dict[tuple[str, str, str], Any] = {}
_APP_CACHE_LOCK = threading.Lock()
_APP_CACHE_LIMIT = 16


def clear_app_cache() -> None:
    """Forget every cached msal application (and with it every cached token)."""
    with _APP_CACHE_LOCK:
        _APP_CACHE.clear()


class _GroupFailed(Exception):
    """Reading one group could not finish; the snapshot becomes incomplete."""


class _NotFound(Exception):
    """Graph answered 404 for the object."""


@dataclass
class _UserRecord:
    user: dict[str, Any]
    labels: list[str] = field(default_factory=list)


def _short(text: str, limit: int = 300) -> str:
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first if len(first) <= limit else first[: limit - 3] + "..."


def _retry_after_seconds(value: str | None) -> float | None:
    """Parse Retry-After: delta seconds, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(0.0, seconds)


def _graph_error_text(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        return (
            f"HTTP {response.status_code} {error.get('code')}: {_short(str(error.get('message')))}"
        )
    return f"HTTP {response.status_code}: {_short(response.text or response.reason or '')}"


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
        self._app = msal_app
        self._timeout = timeout
        self._max_retries = max(0, max_retries)
        self._sleep = sleep
        self._graph = config.graph_url.rstrip("/")
        self._scopes = [f"{self._graph}/.default"]

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
                f"no Entra group is named {name!r}",
                "check the display name in the Entra admin center, or give the group's "
                "Object ID as 'id:' instead of 'name:'",
            )
        raise ConfigError(
            f"groups[{index}].name",
            f"{len(ids)} Entra groups are named {name!r} (ids {', '.join(ids)})",
            "give the intended group's Object ID as 'id:' instead of 'name:'",
        )

    def _members(self, group_id: str) -> Iterator[dict[str, Any]]:
        url = (
            f"{self._graph}/v1.0/groups/{quote(group_id, safe='')}/transitiveMembers/"
            f"microsoft.graph.user?$select={','.join(USER_FIELDS)}&$top={PAGE_SIZE}&$count=true"
        )
        for page in self._pages(url, eventual=True):
            for item in page:
                if not isinstance(item, dict) or not item.get("id"):
                    continue
                kind = item.get("@odata.type")
                if kind is not None and kind != "#microsoft.graph.user":
                    continue
                yield item

    def _pages(self, url: str, *, eventual: bool) -> Iterator[list[Any]]:
        """Yield the ``value`` of each page, following ``@odata.nextLink`` to the end."""
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
        attempt = 0
        while True:
            headers = {"Authorization": f"Bearer {self._token()}", "Accept": "application/json"}
            if eventual:
                headers["ConsistencyLevel"] = "eventual"
            retry_after: float | None = None
            try:
                response = self._session.get(url, headers=headers, timeout=self._timeout)
            except requests.exceptions.SSLError as exc:
                raise DirectoryReadError(
                    f"TLS verification failed for {self._graph}: {exc}. If a proxy or private "
                    "CA sits in between, point REQUESTS_CA_BUNDLE at its CA bundle"
                ) from exc
            except requests.RequestException as exc:
                problem = f"{type(exc).__name__}: {_short(str(exc))}"
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
                    retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
                else:
                    raise _GroupFailed(f"page {page} failed: {_graph_error_text(response)}")
            if attempt >= self._max_retries:
                raise _GroupFailed(f"page {page} failed after {attempt + 1} attempts: {problem}")
            delay = self._delay(attempt, retry_after)
            log.warning(
                "graph page %d: %s; retrying in %.1f s (retry %d of %d)",
                page,
                problem,
                delay,
                attempt + 1,
                self._max_retries,
            )
            self._sleep(delay)
            attempt += 1

    @staticmethod
    def _delay(attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, MAX_RETRY_AFTER)
        ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt)
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not crypto

    # ------------------------------------------------------------------ tokens

    def _token(self) -> str:
        app = self._msal_app()
        attempt = 0
        while True:
            problem: str
            try:
                result = app.acquire_token_for_client(scopes=self._scopes)
            except Exception as exc:  # msal raises for 5xx and transport errors
                if not self._transient_msal_failure(exc):
                    raise DirectoryReadError(
                        f"cannot get a token for app {self.config.client_id} from "
                        f"{self.config.authority_host}: {type(exc).__name__}: {_short(str(exc))}"
                    ) from exc
                problem = f"{type(exc).__name__}: {_short(str(exc))}"
            else:
                if isinstance(result, dict) and result.get("access_token"):
                    return str(result["access_token"])
                error = result if isinstance(result, dict) else {}
                if error.get("error") not in ("temporarily_unavailable", "server_error"):
                    raise DirectoryReadError(self._token_error_message(error))
                problem = f"{error.get('error')}: {_short(str(error.get('error_description')))}"
            if attempt >= self._max_retries:
                raise DirectoryReadError(
                    f"cannot get a token for app {self.config.client_id} from "
                    f"{self.config.authority_host} after {attempt + 1} attempts: {problem}"
                )
            delay = self._delay(attempt, None)
            log.warning("entra token request failed (%s); retrying in %.1f s", problem, delay)
            self._sleep(delay)
            attempt += 1

    def _token_error_message(self, error: Mapping[str, Any]) -> str:
        description = _short(str(error.get("error_description") or "no description"))
        codes = error.get("error_codes") or []
        code = codes[0] if codes and isinstance(codes[0], int) else None
        if code is None and description.startswith("AADSTS"):
            digits = description[6:].split(":", 1)[0]
            code = int(digits) if digits.isdigit() else None
        template = _AADSTS_HINTS.get(code) if code is not None else None
        if template is None:
            return (
                f"Entra refused a token for app {self.config.client_id} in tenant "
                f"{self.config.tenant_id} ({error.get('error')}: {description})"
            )
        return f"{self._fill(template)} ({description})"

    def _fill(self, template: str) -> str:
        return template.format(
            client_id=self.config.client_id,
            tenant_id=self.config.tenant_id,
            authority_host=self.config.authority_host,
            graph_url=self._graph,
        )

    @staticmethod
    def _transient_msal_failure(exc: BaseException) -> bool:
        if isinstance(exc, requests.exceptions.SSLError):
            return False
        if isinstance(exc, requests.ConnectionError | requests.Timeout):
            return True
        # msal raises MsalServiceError (or RuntimeError) for a 5xx from the identity service.
        return type(exc).__name__ == "MsalServiceError" or isinstance(exc, RuntimeError)

    def _msal_app(self) -> Any:
        if self._app is not None:
            return self._app
        cfg = self.config
        secret = resolve_secret(
            cfg.client_secret_arn, cfg.client_secret, key_path="source.entra.client_secret_arn"
        )
        authority = f"https://{cfg.authority_host}/{cfg.tenant_id}"
        key = (authority, cfg.client_id, hashlib.sha256(secret.encode("utf-8")).hexdigest())
        with _APP_CACHE_LOCK:
            app = _APP_CACHE.get(key)
            if app is None:
                app = self._build_app(authority, secret)
                if len(_APP_CACHE) >= _APP_CACHE_LIMIT:
                    _APP_CACHE.pop(next(iter(_APP_CACHE)))
                _APP_CACHE[key] = app
        self._app = app
        return app

    def _build_app(self, authority: str, secret: str) -> Any:
        import msal

        host = self.config.authority_host.split(":", 1)[0].lower()
        options: dict[str, Any] = {}
        if host not in MICROSOFT_AUTHORITY_HOSTS:
            options["instance_discovery"] = False
        attempt = 0
        while True:
            try:
                # The constructor fetches the tenant's OpenID configuration.
                return msal.ConfidentialClientApplication(
                    self.config.client_id,
                    client_credential=secret,
                    authority=authority,
                    http_client=_MsalHttpClient(self._timeout),
                    **options,
                )
            except Exception as exc:
                if not self._transient_msal_failure(exc) or attempt >= self._max_retries:
                    raise DirectoryReadError(self._authority_error_message(authority, exc)) from exc
                delay = self._delay(attempt, None)
                log.warning("entra discovery at %s failed (%s); retrying", authority, exc)
                self._sleep(delay)
                attempt += 1

    def _authority_error_message(self, authority: str, exc: BaseException) -> str:
        # msal wraps the discovery response (AADSTS90002 for an unknown tenant) in a
        # ValueError whose __context__ holds the original text.
        texts = [str(exc)]
        if exc.__context__ is not None:
            texts.append(str(exc.__context__))
        for text in texts:
            if "AADSTS90002" in text or "invalid_tenant" in text:
                return f"{self._fill(_AADSTS_HINTS[90002])} ({authority})"
            if "AADSTS900023" in text:
                return f"{self._fill(_AADSTS_HINTS[900023])} ({authority})"
        if isinstance(exc, ValueError):
            return (
                f"Entra did not answer as a tenant at {authority}: check source.entra.tenant_id "
                f"and authority_host ({_short(texts[-1])})"
            )
        return f"cannot reach Entra at {authority}: {type(exc).__name__}: {_short(str(exc))}"
