"""A local stand-in for Entra ID's token service and the Microsoft Graph group APIs.

It speaks the wire protocol that msal and a plain ``requests`` client expect, over HTTPS
with a throwaway ``trustme`` CA, so that the unmodified msal library runs against it:

- ``GET /{tenant}/v2.0/.well-known/openid-configuration`` (OIDC discovery)
- ``POST /{tenant}/oauth2/v2.0/token`` (client credentials grant, AADSTS-style errors)
- ``GET /v1.0/groups?$filter=displayName eq '...'`` and ``GET /v1.0/groups/{id}``
- ``GET /v1.0/groups/{id}/members`` and ``/transitiveMembers``, optionally cast with
  ``/microsoft.graph.user``, with ``$select``, ``$top``, ``$count`` and ``@odata.nextLink``
- ``GET /v1.0/users/{id or upn}``, ``/v1.0/users?$filter=...`` and a user's ``memberOf`` /
  ``transitiveMemberOf`` (``graph_users``), which on-demand runs look people up with

Faults can be injected (throttling, failing pages, revoked tokens, missing consent) and
every request is counted by route, so tests can assert how a client behaves, not only
what it returns.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote

from connect_user_sync_emulators import graph_users
from connect_user_sync_emulators.server import (
    EmulatorServer,
    Request,
    Response,
    TlsEmulator,
    tls_context_for,
)

MAX_PAGE_SIZE = 999
DEFAULT_PAGE_SIZE = 100
TOKEN_LIFETIME = 3599

# Graph's default property set for a user when no $select is given: note that
# accountEnabled and userType are not in it, exactly as on the real service.
_DEFAULT_USER_FIELDS = (
    "id",
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
)
_DEFAULT_GROUP_FIELDS = ("id", "displayName", "description", "mailNickname", "securityEnabled")
_FILTER = re.compile(r"^\s*displayName\s+eq\s+'((?:[^']|'')*)'\s*$", re.IGNORECASE)
_MEMBERS_PATH = re.compile(
    r"^/v1\.0/groups/([^/]+)/(members|transitiveMembers)(/microsoft\.graph\.user)?/?$"
)
_GROUP_PATH = re.compile(r"^/v1\.0/groups/([^/]+)/?$")
_DISCOVERY_PATH = re.compile(r"^/([^/]+)/v2\.0/\.well-known/openid-configuration$")
_TOKEN_PATH = re.compile(r"^/([^/]+)/oauth2/v2\.0/token$")

DEMO_TENANT_ID = "0b0e0e0e-7e57-4a11-9d00-00000000c0de"
DEMO_CLIENT_ID = "c11e0700-5e7c-4e57-a000-00000000d3e0"


@dataclass
class EmulatedUser:
    id: str
    user_principal_name: str
    mail: str | None = None
    given_name: str | None = None
    surname: str | None = None
    account_enabled: bool = True
    user_type: str = "Member"
    display_name: str | None = None

    def resource(self) -> dict[str, Any]:
        display = self.display_name or " ".join(
            part for part in (self.given_name, self.surname) if part
        )
        return {
            "id": self.id,
            "businessPhones": [],
            "displayName": display or self.user_principal_name,
            "givenName": self.given_name,
            "jobTitle": None,
            "mail": self.mail,
            "mobilePhone": None,
            "officeLocation": None,
            "preferredLanguage": None,
            "surname": self.surname,
            "userPrincipalName": self.user_principal_name,
            "accountEnabled": self.account_enabled,
            "userType": self.user_type,
        }


@dataclass
class EmulatedGroup:
    id: str
    display_name: str
    members: list[str] = field(default_factory=list)

    def resource(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "displayName": self.display_name,
            "description": None,
            "mailNickname": re.sub(r"[^A-Za-z0-9]", "", self.display_name) or self.id[:8],
            "securityEnabled": True,
        }


@dataclass
class _Cursor:
    """Server-side state behind one opaque skiptoken: the listing and where it stopped."""

    group_id: str
    items: list[dict[str, Any]]
    offset: int
    page_index: int
    page_size: int


@dataclass
class _PageFault:
    status: int
    remaining: int | None  # None: fail for ever


def _graph_error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    body = {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "request-id": str(uuid.uuid4()),
                "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
            },
        }
    }
    return Response(status, body, headers)


def _aad_error(status: int, error: str, code: int, description: str) -> Response:
    trace = str(uuid.uuid4())
    return Response(
        status,
        {
            "error": error,
            "error_description": f"AADSTS{code}: {description}\r\nTrace ID: {trace}\r\n"
            f"Correlation ID: {uuid.uuid4()}\r\nTimestamp: {time.strftime('%Y-%m-%d %H:%M:%SZ')}",
            "error_codes": [code],
            "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ"),
            "trace_id": trace,
            "correlation_id": str(uuid.uuid4()),
        },
    )


class GraphEmulator(TlsEmulator):
    """Entra ID token service plus the Graph group endpoints, for one tenant and one app.

    Use as a context manager (or ``start``/``stop``). Clients trust it through
    ``REQUESTS_CA_BUNDLE`` set to ``ca_file``; msal needs ``instance_discovery=False``
    because ``authority_host`` is not a Microsoft host.
    """

    def __init__(
        self,
        tenant_id: str,
        client_id: str,
        client_secret: str,
        *,
        page_size_cap: int = MAX_PAGE_SIZE,
        host: str = "127.0.0.1",
    ) -> None:
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.page_size_cap = max(1, min(page_size_cap, MAX_PAGE_SIZE))
        self.users: dict[str, EmulatedUser] = {}
        self.groups: dict[str, EmulatedGroup] = {}
        # False: the app has no consented GroupMember.Read.All / User.Read.All (Graph 403).
        self.admin_consent = True
        self.secret_expired = False  # expire_secret()
        self.requests: Counter[str] = Counter()
        self.graph_request_log: list[str] = []
        self._tokens: dict[str, float] = {}
        self._cursors: dict[str, _Cursor] = {}
        self._throttle_left = 0
        self._throttle_status = 429
        self._throttle_retry_after: float | None = 1
        self._page_faults: dict[tuple[str, int], _PageFault] = {}
        self._truncated: dict[str, int] = {}  # group id -> pages served before the chain ends
        self._lock = threading.RLock()
        context, self.ca_file = tls_context_for()
        self.server = EmulatorServer(self.handle, ssl_context=context, host=host)

    # ------------------------------------------------------------------ lifecycle

    @property
    def authority_host(self) -> str:
        return f"{self.server.host}:{self.server.port}"

    @property
    def graph_url(self) -> str:
        return self.server.url

    @property
    def authority(self) -> str:
        return f"https://{self.authority_host}/{self.tenant_id}"

    @property
    def token_requests(self) -> int:
        return self.requests["token"]

    @property
    def graph_requests(self) -> int:
        """Requests to Graph proper (not discovery, not token), failed ones included."""
        return sum(n for route, n in self.requests.items() if route.startswith("graph."))

    def source_section(self) -> dict[str, Any]:
        """The ``source:`` mapping of a configuration pointing at this emulator."""
        return {
            "type": "entra",
            "entra": {
                "tenant_id": self.tenant_id,
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "authority_host": self.authority_host,
                "graph_url": self.graph_url,
            },
        }

    # ------------------------------------------------------------------ seeding

    def add_user(
        self,
        id: str,
        upn: str,
        mail: str | None = None,
        given_name: str | None = None,
        surname: str | None = None,
        account_enabled: bool = True,
        user_type: str = "Member",
        display_name: str | None = None,
    ) -> EmulatedUser:
        user = EmulatedUser(
            id, upn, mail, given_name, surname, account_enabled, user_type, display_name
        )
        with self._lock:
            self.users[id] = user
        return user

    def add_group(self, id: str, display_name: str, members: Iterable[str] = ()) -> EmulatedGroup:
        """Add a group; ``members`` are ids of users or groups (which may be added later)."""
        group = EmulatedGroup(id, display_name, list(members))
        with self._lock:
            self.groups[id] = group
        return group

    def add_member(self, group_id: str, member_id: str) -> None:
        with self._lock:
            members = self.groups[group_id].members
            if member_id not in members:
                members.append(member_id)

    def remove_member(self, group_id: str, member_id: str) -> None:
        with self._lock:
            members = self.groups[group_id].members
            if member_id in members:
                members.remove(member_id)

    def load_directory(self, doc: Mapping[str, Any]) -> None:
        """Seed from the file source's JSON shape: ``{"users": [...], "groups": [...]}``.

        A group named by a user but missing from ``groups`` gets a stable generated id.
        A UPN containing ``#EXT#`` makes the user a guest.
        """
        by_name: dict[str, str] = {}
        for raw in doc.get("groups") or []:
            gid = str(raw.get("id") or uuid.uuid5(uuid.NAMESPACE_URL, f"group:{raw['name']}"))
            self.add_group(gid, str(raw["name"]))
            by_name[str(raw["name"])] = gid
        for raw in doc.get("users") or []:
            upn = raw.get("upn") or raw.get("username") or raw.get("login") or raw.get("email")
            if not upn:
                upn = f"{raw['id']}@emulated.onmicrosoft.com"
            enabled = raw.get("enabled")
            self.add_user(
                str(raw["id"]),
                str(upn),
                mail=raw.get("email"),
                given_name=raw.get("first_name"),
                surname=raw.get("last_name"),
                account_enabled=True if enabled is None else bool(enabled),
                user_type="Guest" if "#EXT#" in str(upn).upper() else "Member",
            )
            for name in raw.get("groups") or []:
                if name not in by_name:
                    gid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"group:{name}"))
                    self.add_group(gid, name)
                    by_name[name] = gid
                self.add_member(by_name[name], str(raw["id"]))

    # ------------------------------------------------------------------ faults

    def throttle_next(self, n: int, retry_after: float | None = 1, status: int = 429) -> None:
        """Answer the next ``n`` Graph requests with ``status`` (429 or 503) and Retry-After."""
        with self._lock:
            self._throttle_left = n
            self._throttle_retry_after = retry_after
            self._throttle_status = status

    def truncate_members(self, group_id: str, pages: int = 1) -> None:
        """End the member listing of ``group_id`` after ``pages`` pages, with no
        ``@odata.nextLink``, while ``@odata.count`` still counts every member: a page chain
        cut short (a proxy, a Graph fault) that only the count can give away."""
        with self._lock:
            self._truncated[group_id] = pages

    def fail_page(
        self, group_id: str, page_index: int, status: int = 500, times: int | None = None
    ) -> None:
        """Make page ``page_index`` (0 = first) of a member listing fail ``times`` times."""
        with self._lock:
            self._page_faults[(group_id, page_index)] = _PageFault(status, times)

    def expire_secret(self) -> None:
        """The app's client secret has expired: the token service answers AADSTS7000222."""
        with self._lock:
            self.secret_expired = True

    def revoke_tokens(self) -> None:
        """Invalidate every issued token: Graph answers 401 until a new one is fetched."""
        with self._lock:
            self._tokens.clear()

    def reset_counters(self) -> None:
        with self._lock:
            self.requests.clear()
            self.graph_request_log.clear()

    # ------------------------------------------------------------------ dispatch

    def handle(self, request: Request) -> Response:
        path = request.raw_path
        if match := _DISCOVERY_PATH.match(path):
            self._count("discovery")
            return self._discovery(match.group(1), request)
        if match := _TOKEN_PATH.match(path):
            self._count("token")
            return self._token(match.group(1), request)
        if path.startswith("/v1.0/"):
            return self._graph(request)
        self._count("unknown")
        return _graph_error(404, "UnknownRoute", f"no route for {request.method} {path}")

    def _count(self, route: str) -> None:
        with self._lock:
            self.requests[route] += 1

    # ------------------------------------------------------------------ identity

    def _discovery(self, tenant: str, request: Request) -> Response:
        if request.method != "GET":
            return Response(405, {"error": "method_not_allowed"})
        if tenant != self.tenant_id:
            return _tenant_not_found(tenant)
        base = f"https://{self.authority_host}/{self.tenant_id}"
        return Response(
            200,
            {
                "issuer": f"{base}/v2.0",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "tenant_region_scope": "EU",
                "cloud_instance_name": "emulated.local",
                "msgraph_host": self.graph_url.removeprefix("https://"),
            },
        )

    def _token(self, tenant: str, request: Request) -> Response:
        if request.method != "POST":
            return Response(405, {"error": "method_not_allowed"})
        if tenant != self.tenant_id:
            return _tenant_not_found(tenant)
        form = {
            k: v[-1]
            for k, v in parse_qs(request.body.decode("utf-8"), keep_blank_values=True).items()
        }
        client_id, secret = form.get("client_id"), form.get("client_secret")
        basic = request.headers.get("Authorization", "")
        if basic.lower().startswith("basic "):
            import base64

            decoded = base64.b64decode(basic.split(None, 1)[1]).decode("utf-8")
            client_id, _, secret = decoded.partition(":")
        if form.get("grant_type") != "client_credentials":
            return _aad_error(
                400,
                "unsupported_grant_type",
                70003,
                f"The app requested an unsupported grant type '{form.get('grant_type')}'.",
            )
        if client_id != self.client_id:
            return _aad_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory "
                f"'{self.tenant_id}'. This can happen if the application has not been installed "
                "by the administrator of the tenant or consented to by any user in the tenant.",
            )
        if not secret:
            return _aad_error(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or "
                "'client_secret'.",
            )
        if not secrets.compare_digest(secret, self.client_secret):
            return _aad_error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is "
                "the client secret value, not the client secret ID, for a secret added to app "
                f"'{self.client_id}'.",
            )
        if self.secret_expired:
            return _aad_error(
                401,
                "invalid_client",
                7000222,
                f"The provided client secret keys for app '{self.client_id}' are expired. Visit "
                "the Azure portal to create new keys for your app.",
            )
        scopes = (form.get("scope") or "").split()
        if not any(scope.endswith("/.default") for scope in scopes):
            return _aad_error(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {' '.join(scopes)} is not valid. Client credential "
                "flows must have a scope value with /.default suffixed to the resource identifier "
                "(application ID URI).",
            )
        token = "emu." + secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = time.monotonic() + TOKEN_LIFETIME
        return Response(
            200,
            {
                "token_type": "Bearer",
                "expires_in": TOKEN_LIFETIME,
                "ext_expires_in": TOKEN_LIFETIME,
                "access_token": token,
            },
        )

    # ------------------------------------------------------------------ graph

    def _graph(self, request: Request) -> Response:
        path = request.raw_path
        if _MEMBERS_PATH.match(path):
            route = "graph.members"
        elif path.rstrip("/") == "/v1.0/groups":
            route = "graph.groups"
        elif _GROUP_PATH.match(path):
            route = "graph.group"
        else:
            route = graph_users.route(path) or "graph.other"
        self._count(route)
        with self._lock:
            self.graph_request_log.append(request.full_path)
        auth = request.headers.get("Authorization", "")
        token = auth[7:] if auth[:7].lower() == "bearer " else ""
        with self._lock:
            expiry = self._tokens.get(token)
        if not token:
            return _graph_error(401, "InvalidAuthenticationToken", "Access token is empty.")
        if expiry is None or expiry < time.monotonic():
            return _graph_error(
                401,
                "InvalidAuthenticationToken",
                "Access token has expired or is not yet valid."
                if expiry
                else "IDX14100: JWT is not well formed.",
            )
        with self._lock:
            if self._throttle_left > 0:
                self._throttle_left -= 1
                headers = {}
                if self._throttle_retry_after is not None:
                    headers["Retry-After"] = _format_seconds(self._throttle_retry_after)
                if self._throttle_status == 429:
                    return _graph_error(429, "TooManyRequests", "Too many requests.", headers)
                return _graph_error(
                    self._throttle_status, "ServiceUnavailable", "Service is unavailable.", headers
                )
        if request.method != "GET":
            return _graph_error(405, "Request_BadRequest", "Method not allowed on this emulator.")
        if not self.admin_consent:
            return _graph_error(
                403,
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.",
            )
        if route == "graph.members":
            return self._members(request)
        if route.startswith("graph.user") or route == "graph.memberof":
            return graph_users.answer(self, route, request)
        if route == "graph.groups":
            return self._group_list(request)
        if route == "graph.group":
            match = _GROUP_PATH.match(path)
            assert match is not None
            group = self.groups.get(match.group(1))
            if group is None:
                return _not_found(match.group(1))
            return Response(
                200, _project(group.resource(), _select(request), _DEFAULT_GROUP_FIELDS)
            )
        return _graph_error(400, "BadRequest", f"Resource not found for the segment in '{path}'.")

    def _group_list(self, request: Request) -> Response:
        raw_filter = _param(request, "$filter")
        with self._lock:
            groups = list(self.groups.values())
        if raw_filter is not None:
            match = _FILTER.match(raw_filter)
            if not match:
                return _graph_error(
                    400,
                    "Request_UnsupportedQuery",
                    "Unsupported or invalid query filter clause specified for property: "
                    f"{raw_filter}",
                )
            wanted = match.group(1).replace("''", "'")
            # Entra compares display names without regard to letter case.
            groups = [g for g in groups if g.display_name.casefold() == wanted.casefold()]
        select = _select(request)
        items = [_project(g.resource(), select, _DEFAULT_GROUP_FIELDS) for g in groups]
        return self._page(request, "", items, 0, 0, context="groups")

    def _members(self, request: Request) -> Response:
        match = _MEMBERS_PATH.match(request.raw_path)
        assert match is not None
        group_id, relation, cast = match.group(1), match.group(2), match.group(3)
        count = (_param(request, "$count") or "").lower() == "true"
        if count and request.headers.get("ConsistencyLevel", "").lower() != "eventual":
            return _graph_error(400, "Request_BadRequest", "$count is not currently supported.")
        skiptoken = _param(request, "$skiptoken")
        if skiptoken is not None:
            with self._lock:
                cursor = self._cursors.get(skiptoken)
            if cursor is None or cursor.group_id != group_id:
                return _graph_error(
                    400,
                    "Directory_ExpiredPageToken",
                    "The specified page token value has expired and can no longer be included in "
                    "your request.",
                )
            fault = self._page_fault(group_id, cursor.page_index)
            if fault is not None:
                return fault
            return self._page(
                request,
                skiptoken,
                cursor.items,
                cursor.offset,
                cursor.page_index,
                page_size=cursor.page_size,
                group_id=group_id,
            )
        with self._lock:
            group = self.groups.get(group_id)
        if group is None:
            return _not_found(group_id)
        page_size = DEFAULT_PAGE_SIZE
        top = _param(request, "$top")
        if top is not None:
            if not top.isdigit() or not 1 <= int(top) <= MAX_PAGE_SIZE:
                return _graph_error(400, "Request_BadRequest", "Invalid page size specified.")
            page_size = int(top)
        fault = self._page_fault(group_id, 0)
        if fault is not None:
            return fault
        members = (
            self._transitive(group) if relation == "transitiveMembers" else self._direct(group)
        )
        select = _select(request)
        items: list[dict[str, Any]] = []
        for member in members:
            if isinstance(member, EmulatedUser):
                body = _project(member.resource(), select, _DEFAULT_USER_FIELDS)
                if not cast:
                    body = {"@odata.type": "#microsoft.graph.user", **body}
                items.append(body)
            elif not cast:
                body = _project(member.resource(), select, _DEFAULT_GROUP_FIELDS)
                items.append({"@odata.type": "#microsoft.graph.group", **body})
        return self._page(request, "", items, 0, 0, page_size=page_size, group_id=group_id)

    def _page(
        self,
        request: Request,
        skiptoken: str,
        items: list[dict[str, Any]],
        offset: int,
        page_index: int,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        group_id: str = "",
        context: str = "directoryObjects",
    ) -> Response:
        size = min(page_size, self.page_size_cap)
        chunk = items[offset : offset + size]
        body: dict[str, Any] = {"@odata.context": f"{self.graph_url}/v1.0/$metadata#{context}"}
        if (_param(request, "$count") or "").lower() == "true":
            body["@odata.count"] = len(items)
        with self._lock:
            cut = self._truncated.get(group_id)
        if offset + size < len(items) and (cut is None or page_index + 1 < cut):
            token = secrets.token_urlsafe(24)
            with self._lock:
                self._cursors[token] = _Cursor(
                    group_id, items, offset + size, page_index + 1, page_size
                )
            query = [
                (key, values[-1]) for key, values in request.query.items() if key != "$skiptoken"
            ]
            query.append(("$skiptoken", token))
            encoded = "&".join(f"{k}={quote(v, safe=',=/')}" for k, v in query)
            body["@odata.nextLink"] = f"{self.graph_url}{request.raw_path}?{encoded}"
        body["value"] = chunk
        return Response(200, body)

    def _page_fault(self, group_id: str, page_index: int) -> Response | None:
        with self._lock:
            fault = self._page_faults.get((group_id, page_index))
            if fault is None:
                return None
            if fault.remaining is not None:
                if fault.remaining <= 0:
                    return None
                fault.remaining -= 1
        codes = {
            500: "InternalServerError",
            502: "BadGateway",
            503: "ServiceUnavailable",
            504: "GatewayTimeout",
        }
        return _graph_error(
            fault.status, codes.get(fault.status, "UnknownError"), "Injected failure."
        )

    def _direct(self, group: EmulatedGroup) -> list[EmulatedUser | EmulatedGroup]:
        with self._lock:
            found: list[EmulatedUser | EmulatedGroup] = []
            for member_id in group.members:
                member = self.users.get(member_id) or self.groups.get(member_id)
                if member is not None:
                    found.append(member)
            return found

    def _transitive(self, group: EmulatedGroup) -> list[EmulatedUser | EmulatedGroup]:
        """Every user and group below ``group``, each once, nested groups included."""
        found: dict[str, EmulatedUser | EmulatedGroup] = {}
        visited = {group.id}
        stack = [group]
        while stack:
            current = stack.pop(0)
            for member in self._direct(current):
                if member.id in found or member.id == group.id:
                    continue
                found[member.id] = member
                if isinstance(member, EmulatedGroup) and member.id not in visited:
                    visited.add(member.id)
                    stack.append(member)
        return list(found.values())


def _tenant_not_found(tenant: str) -> Response:
    return _aad_error(
        400,
        "invalid_tenant",
        90002,
        f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and "
        "are signing into the correct cloud. Check with your subscription administrator, this "
        "may happen if there are no active subscriptions for the tenant.",
    )


def _not_found(object_id: str) -> Response:
    return _graph_error(
        404,
        "Request_ResourceNotFound",
        f"Resource '{object_id}' does not exist or one of its queried reference-property objects "
        "are not present.",
    )


def _param(request: Request, name: str) -> str | None:
    values = request.query.get(name)
    return values[-1] if values else None


def _select(request: Request) -> list[str] | None:
    raw = _param(request, "$select")
    if raw is None:
        return None
    return [part.strip() for part in raw.split(",") if part.strip()]


def _project(
    resource: dict[str, Any], select: list[str] | None, default: tuple[str, ...]
) -> dict[str, Any]:
    fields = select if select is not None else list(default)
    by_lower = {key.lower(): key for key in resource}
    projected: dict[str, Any] = {"id": resource["id"]}
    for name in fields:
        key = by_lower.get(name.lower())
        if key is not None:
            projected[key] = resource[key]
    return projected


def _format_seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


@contextmanager
def entra_demo(directory_doc: Mapping[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, str]]]:
    """Run a Graph emulator seeded with ``directory_doc`` for the length of the block.

    Yields ``(source_section, env)``: the configuration's ``source:`` mapping (with an
    inline ``client_secret``, fine for a local demo only) and the environment variables
    (``REQUESTS_CA_BUNDLE``, ``SSL_CERT_FILE``) the caller must set so clients trust it.
    """
    emulator = GraphEmulator(DEMO_TENANT_ID, DEMO_CLIENT_ID, "demo~" + secrets.token_urlsafe(24))
    emulator.load_directory(directory_doc)
    with emulator:
        yield emulator.source_section(), emulator.env()
