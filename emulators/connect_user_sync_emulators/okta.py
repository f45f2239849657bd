"""A local stand-in for an Okta org: the management API and the org authorization server.

It speaks the wire protocol the unmodified ``okta`` SDK expects, over HTTPS with a
throwaway ``trustme`` CA:

- ``POST /oauth2/v1/token``: client credentials with a private-key JWT client assertion,
  verified as Okta verifies it (``okta_auth``);
- ``GET /api/v1/groups`` with ``q`` (name prefix) or ``search`` (``profile.name eq "..."``),
  ``GET /api/v1/groups/{id}``, ``GET /api/v1/groups/{id}/users``, ``GET /api/v1/users`` and
  ``GET /api/v1/users/{id or login}``: ``limit`` and the ``after`` cursor, with one ``Link``
  header line per relation (``self``, then ``next``) as Okta sends them (``okta_wire``);
- ``GET /api/v1/users?search=...`` (``id``, ``status``, ``profile.*``; ``eq``/``sw`` joined by
  ``or``, case-insensitive) and ``GET /api/v1/users/{id}/groups``, for on-demand runs;
- ``Authorization: SSWS <api token>`` or ``Bearer <access token>``, scopes enforced per
  endpoint, an admin role required of a service app.

Every response carries ``X-Rate-Limit-Limit`` / ``-Remaining`` / ``-Reset`` for its bucket;
a spent bucket answers ``429 E0000047`` until the window resets. Throttling and failing
pages can be injected, the clock can be injected (so that a test's fake sleep moves time
on), and every request is counted by route.

Profiles are stored as given, without the SDK's validation, so that a test can seed what a
real org may hold (a three-character login, say).
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from connect_user_sync_emulators.okta_auth import (
    SCOPES,
    OrgAuthority,
    ServiceApp,
    generate_key_pair,
)
from connect_user_sync_emulators.okta_wire import (
    Group,
    group_resource,
    not_found,
    okta_error,
    page_response,
    page_window,
    search_groups,
    search_users,
    throttled,
    user_resource,
)
from connect_user_sync_emulators.server import (
    EmulatorServer,
    Request,
    Response,
    TlsEmulator,
    tls_context_for,
)

__all__ = ["SCOPES", "OktaEmulator", "ServiceApp", "generate_key_pair", "okta_demo"]

RATE_WINDOW = 60.0
DEMO_CLIENT_ID = "0oa1demo2sync3connect4"

_GROUP = re.compile(r"^/api/v1/groups/([^/]+)/?$")
_GROUP_USERS = re.compile(r"^/api/v1/groups/([^/]+)/users/?$")
_USER = re.compile(r"^/api/v1/users/([^/]+)/?$")
_USER_GROUPS = re.compile(r"^/api/v1/users/([^/]+)/groups/?$")


@dataclass
class _Bucket:
    limit: int
    remaining: int
    reset: float


@dataclass
class _PageFault:
    status: int
    remaining: int | None  # None: for ever


class OktaEmulator(TlsEmulator):
    """One Okta org. Use as a context manager (or ``start``/``stop``).

    Clients trust it through ``REQUESTS_CA_BUNDLE`` / ``SSL_CERT_FILE`` set to ``ca_file``.
    """

    def __init__(
        self,
        *,
        api_token: str | None = None,
        page_size_cap: int = 200,
        rate_limit: int = 600,
        clock: Callable[[], float] = time.time,
        host: str = "127.0.0.1",
    ) -> None:
        self.page_size_cap = max(1, page_size_cap)
        self.rate_limit = rate_limit
        self.clock = clock
        self.auth = OrgAuthority(lambda: self.org_url, clock)
        if api_token:
            self.auth.api_tokens.add(api_token)
        self.users: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, Group] = {}
        self.requests: Counter[str] = Counter()
        self.request_log: list[str] = []
        self.throttled = 0  # 429 answers sent, injected or earned
        self._buckets: dict[str, _Bucket] = {}
        self._throttle_left = 0
        self._throttle_reset_in = 1.0
        self._page_faults: dict[tuple[str, int], _PageFault] = {}
        self._lock = threading.RLock()
        context, self.ca_file = tls_context_for()
        self.server = EmulatorServer(self.handle, ssl_context=context, host=host)

    # ------------------------------------------------------------------ lifecycle

    @property
    def org_url(self) -> str:
        return self.server.url

    @property
    def apps(self) -> dict[str, ServiceApp]:
        return self.auth.apps

    @property
    def token_requests(self) -> int:
        return self.requests["token"]

    @property
    def api_requests(self) -> int:
        """Requests to ``/api/v1`` (the token endpoint not included), failed ones included."""
        return sum(n for route, n in self.requests.items() if route != "token")

    # ------------------------------------------------------------------ seeding

    def register_app(
        self,
        client_id: str,
        public_jwk: Mapping[str, Any],
        scopes: Iterable[str] = SCOPES,
        *,
        admin_role: bool = True,
    ) -> ServiceApp:
        """An API Services app with this public key, these scopes and (or not) a role."""
        return self.auth.register_app(client_id, public_jwk, scopes, admin_role=admin_role)

    def add_user(
        self,
        id: str,
        login: str | None,
        email: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        status: str = "ACTIVE",
        **profile: Any,
    ) -> dict[str, Any]:
        """Add a user as Okta stores it; logins are unique regardless of case, as in Okta."""
        with self._lock:
            if login is not None:
                for other in self.users.values():
                    taken = other["profile"].get("login")
                    if other["id"] != id and str(taken).lower() == login.lower():
                        raise ValueError(f"login {login!r} already belongs to {other['id']}")
            user = user_resource(
                self.org_url, id, login, email, first_name, last_name, status, profile
            )
            self.users[id] = user
        return user

    def set_status(self, user_id: str, status: str) -> None:
        with self._lock:
            self.users[user_id]["status"] = status

    def add_group(
        self, id: str, name: str, members: Iterable[str] = (), type: str = "OKTA_GROUP"
    ) -> None:
        with self._lock:
            self.groups[id] = Group(id, name, type, list(members))

    def add_member(self, group_id: str, user_id: str) -> None:
        with self._lock:
            members = self.groups[group_id].members
            if user_id not in members:
                members.append(user_id)

    def load_directory(self, doc: Mapping[str, Any]) -> None:
        """Seed from the file source's JSON shape; ``login`` falls back to ``upn``.

        ``enabled: false`` becomes ``DEPROVISIONED``; a user may also carry an Okta
        ``status`` of its own.
        """
        by_name: dict[str, str] = {}
        for raw in doc.get("groups") or []:
            gid = str(raw.get("id") or f"00g{len(self.groups) + 1:017d}")
            self.add_group(gid, str(raw["name"]))
            by_name[str(raw["name"])] = gid
        for raw in doc.get("users") or []:
            login = raw.get("login") or raw.get("upn") or raw.get("username") or raw.get("email")
            status = raw.get("status") or (
                "DEPROVISIONED" if raw.get("enabled") is False else "ACTIVE"
            )
            self.add_user(
                str(raw["id"]),
                login,
                raw.get("email"),
                raw.get("first_name"),
                raw.get("last_name"),
                status=str(status),
            )
            for name in raw.get("groups") or []:
                if name not in by_name:
                    by_name[name] = f"00g{len(self.groups) + 1:017d}"
                    self.add_group(by_name[name], name)
                self.add_member(by_name[name], str(raw["id"]))

    # ------------------------------------------------------------------ faults

    def throttle_next(self, n: int, reset_in: float = 1.0) -> None:
        """Answer the next ``n`` API requests with 429 E0000047, resetting ``reset_in`` s on."""
        with self._lock:
            self._throttle_left = n
            self._throttle_reset_in = reset_in

    def fail_page(
        self, group_id: str, page_index: int, status: int = 500, times: int | None = None
    ) -> None:
        """Make page ``page_index`` (0 = first) of a group's members fail ``times`` times."""
        with self._lock:
            self._page_faults[(group_id, page_index)] = _PageFault(status, times)

    def revoke_access_tokens(self) -> None:
        self.auth.revoke_access_tokens()

    def reset_counters(self) -> None:
        with self._lock:
            self.requests.clear()
            self.request_log.clear()
            self.throttled = 0

    # ------------------------------------------------------------------ dispatch

    def handle(self, request: Request) -> Response:
        path = request.raw_path
        with self._lock:
            self.request_log.append(f"{request.method} {request.full_path}")
        if path == "/oauth2/v1/token":
            self._count("token")
            return self._rate_limited("token", lambda: self.auth.token(request))
        if not path.startswith("/api/v1/"):
            self._count("unknown")
            return self._rate_limited(
                "other", lambda: okta_error(404, "E0000022", f"no route for {path}")
            )
        if _GROUP_USERS.match(path):
            route, bucket, scope = "group.users", "groups", "okta.groups.read"
        elif path.rstrip("/") == "/api/v1/groups":
            route, bucket, scope = "groups.list", "groups", "okta.groups.read"
        elif _GROUP.match(path):
            route, bucket, scope = "group", "groups", "okta.groups.read"
        elif path.rstrip("/") == "/api/v1/users":
            route, bucket, scope = "users.list", "users", "okta.users.read"
        elif _USER.match(path):
            route, bucket, scope = "user", "users", "okta.users.read"
        elif _USER_GROUPS.match(path):
            route, bucket, scope = "user.groups", "users", "okta.users.read"
        else:
            route, bucket, scope = "other", "other", ""
        self._count(route)
        return self._rate_limited(
            bucket, lambda: self.auth.authorize(request, scope) or self._route(route, request)
        )

    def _count(self, route: str) -> None:
        with self._lock:
            self.requests[route] += 1

    def _rate_limited(self, bucket_name: str, answer: Callable[[], Response]) -> Response:
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(bucket_name)
            if bucket is None or now >= bucket.reset:
                bucket = _Bucket(self.rate_limit, self.rate_limit, float(int(now + RATE_WINDOW)))
                self._buckets[bucket_name] = bucket
            injected = bucket_name != "token" and self._throttle_left > 0
            reset = bucket.reset
            if injected:
                self._throttle_left -= 1
                reset = float(int(now + self._throttle_reset_in))
            spent = bucket.remaining <= 0
            if not injected and not spent:
                bucket.remaining -= 1
            headers = {
                "X-Rate-Limit-Limit": str(bucket.limit),
                "X-Rate-Limit-Remaining": "0" if injected else str(max(0, bucket.remaining)),
                "X-Rate-Limit-Reset": str(int(reset)),
            }
            if injected or spent:
                self.throttled += 1
        response = throttled() if injected or spent else answer()
        for key, value in headers.items():
            response.headers.setdefault(key, value)
        return response

    # ------------------------------------------------------------------ api

    def _route(self, route: str, request: Request) -> Response:
        if request.method != "GET":
            return okta_error(405, "E0000022", "The endpoint does not support the method")
        with self._lock:
            users = sorted(self.users.values(), key=lambda u: u["id"])
            groups = sorted(self.groups.values(), key=lambda g: g.id)
        if route == "groups.list":
            found = search_groups(groups, request)
            if isinstance(found, Response):
                return found
            return self._page(request, [group_resource(self.org_url, g) for g in found])
        if route == "group":
            match = _GROUP.match(request.raw_path)
            assert match is not None
            group = self.groups.get(match.group(1))
            if group is None:
                return not_found(match.group(1), "UserGroup")
            return Response(200, group_resource(self.org_url, group))
        if route == "group.users":
            match = _GROUP_USERS.match(request.raw_path)
            assert match is not None
            group = self.groups.get(match.group(1))
            if group is None:
                return not_found(match.group(1), "UserGroup")
            members = set(group.members)
            return self._page(request, [u for u in users if u["id"] in members], group.id)
        if route == "users.list":
            found = search_users(users, request)
            return found if isinstance(found, Response) else self._page(request, found)
        if route == "user.groups":
            match = _USER_GROUPS.match(request.raw_path)
            assert match is not None
            if match.group(1) not in self.users:
                return not_found(match.group(1), "User")
            mine = [g for g in groups if match.group(1) in g.members]
            return self._page(request, [group_resource(self.org_url, g) for g in mine])
        if route == "user":
            match = _USER.match(request.raw_path)
            assert match is not None
            key = match.group(1)
            user = self.users.get(key) or next(
                (u for u in users if str(u["profile"].get("login")).lower() == key.lower()), None
            )
            return Response(200, user) if user else not_found(key, "User")
        return okta_error(404, "E0000022", f"no route for {request.raw_path}")

    def _page(
        self, request: Request, items: list[dict[str, Any]], group_id: str | None = None
    ) -> Response:
        window = page_window(request, items, self.page_size_cap)
        if isinstance(window, Response):
            return window
        start, limit = window
        if group_id is not None:
            fault = self._page_fault(group_id, start // limit)
            if fault is not None:
                return fault
        return page_response(request, self.org_url, items, start, limit)

    def _page_fault(self, group_id: str, page_index: int) -> Response | None:
        with self._lock:
            fault = self._page_faults.get((group_id, page_index))
            if fault is None:
                return None
            if fault.remaining is not None:
                if fault.remaining <= 0:
                    return None
                fault.remaining -= 1
        if fault.status == 429:
            return throttled()
        return okta_error(fault.status, "E0000009", "Internal Server Error")


@contextmanager
def okta_demo(
    directory_doc: Mapping[str, Any],
) -> Iterator[tuple[dict[str, Any], dict[str, str], str]]:
    """Run an Okta org seeded with ``directory_doc`` for the length of the block.

    Yields ``(source_section, env, "login")``: the ``source:`` mapping for an API Services
    app signing in with a private-key JWT (the key inline, fine for a local demo only),
    the environment that makes clients trust the org's certificate, and the username
    attribute. Okta keeps logins unique, so a user whose login another user already holds
    signs in with their e-mail instead; an Entra guest UPN in the sample becomes a
    plus-addressed login, which Connect refuses as a username just the same.
    """
    doc: dict[str, Any] = {"groups": list(directory_doc.get("groups") or []), "users": []}
    taken: set[str] = set()
    for raw in directory_doc.get("users") or []:
        user = dict(raw)
        login = str(user.get("login") or user.get("upn") or user.get("email") or "")
        if "#EXT#" in login.upper():
            login = login.split("#", 1)[0].replace("_", "+", 1) + "@example.com"
        if login.lower() in taken and user.get("email"):
            login = str(user["email"])
        taken.add(login.lower())
        user["login"] = login
        doc["users"].append(user)
    private_key, public_jwk = generate_key_pair()
    emulator = OktaEmulator()
    emulator.register_app(DEMO_CLIENT_ID, public_jwk)
    with emulator:
        emulator.load_directory(doc)
        section = {
            "type": "okta",
            "okta": {
                "org_url": emulator.org_url,
                "client_id": DEMO_CLIENT_ID,
                "private_key": private_key,
            },
        }
        yield section, emulator.env(), "login"
