"""A local stand-in for the Duo Admin API, so that the unmodified ``duo_client`` runs against it.

Over HTTPS (a ``trustme`` certificate for ``localhost``) it serves ``/admin/v1/groups``,
``/admin/v1|v2/groups/{id}``, ``/admin/v2/groups/{id}/users``, ``/admin/v1/users``
(``user_id_list`` of at most 100 ids, ``username`` or ``email``), ``/admin/v1/users/{id}``
and ``/admin/v1/users/{id}/groups``, with
Duo's paging metadata (``total_objects``, ``next_offset``, ``prev_offset``). Every request
must carry a valid v5 signature, checked here from Duo's specification (not borrowed from
the client): HMAC-SHA512 over the date (``X-Duo-Date`` or ``Date``), the method, the host
lower-cased without its port, the path, the sorted percent-encoded parameters and the
SHA-512 of the body and of the ``X-Duo-*`` headers. Codes 40101-40103, 40301, 40401, 40002
and 42901 are Duo's; 40105 for a stale date is this emulator's. Page sizes above Duo's
maxima are refused with 400. Faults can be injected and every request is counted by route.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import hashlib
import hmac
import json
import secrets
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

from connect_user_sync_emulators.server import (
    EmulatorServer,
    Request,
    Response,
    TlsEmulator,
    tls_context_for,
)

DEFAULT_LIMIT = 100
MAX_LIMITS = {"groups": 500, "group_users": 500, "users": 300, "user_groups": 500}
MAX_USER_IDS = 100
CLOCK_SKEW = 300.0
DEMO_INTEGRATION_KEY = "DIDEMO0CONNECTSYNC00"
_GROUP_FLAGS = dict.fromkeys(("mobile_otp_enabled", "push_enabled", "sms_enabled"), False)
_USER_LISTS = ("phones", "tokens", "u2ftokens", "webauthncredentials")


@dataclass
class DuoUser:
    user_id: str
    username: str
    email: str | None = None
    status: str = "active"
    firstname: str | None = None
    lastname: str | None = None
    realname: str | None = None
    aliases: list[str] = field(default_factory=list)

    def resource(self, groups: list[dict[str, Any]]) -> dict[str, Any]:
        """The user as ``/admin/v1/users`` returns it (Duo sends "" for empty strings)."""
        aliases = {f"alias{n}": value for n, value in enumerate(self.aliases[:8], start=1)}
        body: dict[str, Any] = {f"alias{n}": aliases.get(f"alias{n}") for n in range(1, 5)}
        body.update({key: [] for key in _USER_LISTS})
        body.update(aliases=aliases, created=1489612729, groups=groups, is_enrolled=True)
        body.update(last_directory_sync=None, last_login=None, notes="", status=self.status)
        body.update(user_id=self.user_id, username=self.username, email=self.email or "")
        body.update(firstname=self.firstname or "", lastname=self.lastname or "")
        body.update(realname=self.realname or "")
        return body


@dataclass
class DuoGroup:
    group_id: str
    name: str
    desc: str = ""
    members: list[str] = field(default_factory=list)

    def resource(self) -> dict[str, Any]:
        body = {"desc": self.desc, "group_id": self.group_id, "name": self.name}
        return {**body, **_GROUP_FLAGS, "status": "Active", "voice_enabled": False}


@dataclass
class _Fault:
    status: int
    remaining: int | None  # None: fail for ever


def duo_error(
    status: int, code: int, message: str, detail: str | None = None, **headers: str
) -> Response:
    body: dict[str, Any] = {"code": code, "message": message, "stat": "FAIL"}
    if detail is not None:
        body["message_detail"] = detail
    return Response(status, body, headers)


def canonical_params(params: Mapping[str, list[str]]) -> str:
    """Parameters as Duo signs them: percent-encoded (``~`` kept), sorted, joined by ``&``."""
    pairs: list[str] = []
    for key, values in sorted((quote(name, safe="~"), values) for name, values in params.items()):
        pairs.extend(f"{key}={value}" for value in sorted(quote(v, safe="~") for v in values))
    return "&".join(pairs)


def x_duo_digest(headers: Mapping[str, str]) -> str:
    """SHA-512 of the ``X-Duo-*`` headers: lower-cased names, sorted, NUL between all parts."""
    lowered = {name.lower(): value for name, value in headers.items()}
    parts = [part for name in sorted(lowered) for part in (name, lowered[name])]
    return hashlib.sha512("\x00".join(parts).encode("utf-8")).hexdigest()


def canonical_request(
    date: str,
    method: str,
    host: str,
    path: str,
    params: Mapping[str, list[str]],
    body: str,
    x_duo_headers: Mapping[str, str],
) -> str:
    """The text a v5 signature covers, line by line."""
    body_hash = hashlib.sha512(body.encode("utf-8")).hexdigest()
    lines = (date, method.upper(), host.lower(), path, canonical_params(params), body_hash)
    return "\n".join((*lines, x_duo_digest(x_duo_headers)))


def _host_without_port(value: str) -> str:
    host = value.strip().rsplit(":", 1)[0] if value.count(":") == 1 else value.strip()
    return host.removeprefix("[").split("]")[0]  # [::1]:443 -> ::1


class DuoEmulator(TlsEmulator):
    """The Duo Admin API for one account and one Admin API application.

    Use as a context manager (or ``start``/``stop``). Clients reach it at ``api_host``
    (``localhost:PORT``) and trust it through ``ca_file`` (``ca_certs=`` for duo_client).
    """

    def __init__(
        self,
        integration_key: str,
        secret_key: str,
        *,
        page_size_cap: int | None = None,
        clock_skew: float = CLOCK_SKEW,
    ) -> None:
        self.integration_key = integration_key
        self.secret_key = secret_key
        self.page_size_cap = page_size_cap
        self.clock_skew = clock_skew
        self.users: dict[str, DuoUser] = {}
        self.groups: dict[str, DuoGroup] = {}
        # False: the application lacks "Grant read resource" (Duo answers 403, code 40301).
        self.read_permission = True
        self.requests: Counter[str] = Counter()
        self.rejected: Counter[int] = Counter()  # refused requests by Duo error code
        self.request_log: list[str] = []
        self._throttle_left = 0
        self._throttle_retry_after: float | None = None
        self._member_faults: dict[tuple[str, int], _Fault] = {}
        self._route_faults: dict[str, _Fault] = {}
        self._hidden: dict[str, int] = {}
        self._lock = threading.RLock()
        context, self.ca_file = tls_context_for(("localhost",))
        self.server = EmulatorServer(self.handle, ssl_context=context)

    @property
    def api_host(self) -> str:
        return f"localhost:{self.server.port}"

    @property
    def api_requests(self) -> int:
        """Every request that reached the emulator, refused and throttled ones included."""
        return sum(self.requests.values())

    def source_section(self) -> dict[str, Any]:
        """The ``source:`` mapping of a configuration pointing at this emulator."""
        keys = {"integration_key": self.integration_key, "secret_key": self.secret_key}
        return {"type": "duo", "duo": {"api_host": self.api_host, **keys}}

    def add_user(self, user_id: str, username: str, **fields: Any) -> DuoUser:
        user = DuoUser(user_id, username, **fields)
        with self._lock:
            self.users[user_id] = user
        return user

    def add_group(self, group_id: str, name: str, members: Iterable[str] = ()) -> DuoGroup:
        group = DuoGroup(group_id, name, members=list(members))
        with self._lock:
            self.groups[group_id] = group
        return group

    def load_directory(self, doc: Mapping[str, Any]) -> None:
        """Seed from the file source's JSON shape: ``{"users": [...], "groups": [...]}``.

        The Duo username is the user's ``username``, else ``upn``, ``login`` or ``email``;
        ``enabled: false`` becomes the status ``disabled`` unless a ``status`` is given.
        """
        by_name: dict[str, DuoGroup] = {}
        for raw in doc.get("groups") or []:
            gid = str(raw.get("id") or f"DG{len(by_name):018d}")
            by_name[str(raw["name"])] = self.add_group(gid, str(raw["name"]))
        for raw in doc.get("users") or []:
            name = raw.get("username") or raw.get("upn") or raw.get("login") or raw.get("email")
            first, last = raw.get("first_name"), raw.get("last_name")
            status = raw.get("status") or ("disabled" if raw.get("enabled") is False else "active")
            realname = " ".join(str(part) for part in (first, last) if part) or None
            uid = str(raw["id"])
            self.add_user(
                uid, str(name or uid), email=raw.get("email"), status=str(status),
                firstname=first, lastname=last, realname=realname,
            )  # fmt: skip
            for group in raw.get("groups") or []:
                if group not in by_name:
                    by_name[group] = self.add_group(f"DG{len(by_name):018d}", group)
                by_name[group].members.append(uid)

    # ------------------------------------------------------------------ faults

    def throttle_next(self, n: int, retry_after: float | None = None) -> None:
        """Answer the next ``n`` signed requests with 429 (code 42901)."""
        with self._lock:
            self._throttle_left = n
            self._throttle_retry_after = retry_after

    def fail_members(
        self, group_id: str, offset: int = 0, status: int = 500, times: int | None = None
    ) -> None:
        """Make the member page of ``group_id`` starting at ``offset`` fail ``times`` times."""
        with self._lock:
            self._member_faults[(group_id, offset)] = _Fault(status, times)

    def fail_route(self, route: str, status: int = 500, times: int | None = None) -> None:
        """Make every request to ``route`` (``users``, ``groups``...) fail ``times`` times."""
        with self._lock:
            self._route_faults[route] = _Fault(status, times)

    def hide_members(self, group_id: str, count: int) -> None:
        """Leave the last ``count`` members out of listings while ``total_objects`` counts them."""
        with self._lock:
            self._hidden[group_id] = count

    # ------------------------------------------------------------------ dispatch

    def handle(self, request: Request) -> Response:
        route, ident = _route(request.raw_path)
        with self._lock:
            self.requests[route] += 1
            self.request_log.append(request.full_path)
        refusal = self._authenticate(request)
        if refusal is not None:
            return refusal
        with self._lock:
            throttled = self._throttle_left > 0
            self._throttle_left = max(0, self._throttle_left - 1)
            wait = self._throttle_retry_after
        if throttled:
            extra = {} if wait is None else {"Retry-After": str(int(wait))}
            return self._refuse(429, 42901, "Too Many Requests", **extra)
        if request.method != "GET":
            return duo_error(405, 40501, "Method not allowed")
        if not self.read_permission:
            return self._refuse(403, 40301, "Access forbidden")
        fault = self._fault(self._route_faults, route)
        if fault is not None:
            return fault
        with self._lock:
            if route == "groups":
                groups = [g.resource() for g in self.groups.values()]
                return self._page(request, route, groups, len(groups))
            if route == "group_users":
                return self._group_users(request, ident)
            if route == "users":
                return self._user_list(request)
            if route == "user_groups":
                if ident not in self.users:
                    return duo_error(404, 40401, "Resource not found")
                mine = [g.resource() for g in self.groups.values() if ident in g.members]
                return self._page(request, route, mine, len(mine))
            group, user = self.groups.get(ident), self.users.get(ident)
            if route in ("group_v1", "group_v2") and group is not None:
                body = group.resource()
                if route == "group_v1":  # v1 still lists the members
                    body["users"] = [self._row(uid) for uid in self._members_of(group)]
                return Response(200, {"stat": "OK", "response": body})
            if route == "user" and user is not None:
                return Response(200, {"stat": "OK", "response": self._user(user)})
        return duo_error(404, 40401, "Resource not found")

    def _refuse(self, status: int, code: int, message: str, **headers: str) -> Response:
        with self._lock:
            self.rejected[code] += 1
        return duo_error(status, code, message, **headers)

    def _authenticate(self, request: Request) -> Response | None:
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        try:
            decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        ikey, sep, signature = decoded.partition(":")
        date = request.headers.get("X-Duo-Date") or request.headers.get("Date")
        if scheme.lower() != "basic" or not sep or not date:
            return self._refuse(401, 40101, "Missing request credentials")
        try:
            when = email.utils.parsedate_to_datetime(date)
        except (TypeError, ValueError):
            return self._refuse(401, 40105, "Invalid request date")
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        if abs((datetime.now(UTC) - when).total_seconds()) > self.clock_skew:
            return self._refuse(401, 40105, "Request date too far from the server's clock")
        if not hmac.compare_digest(ikey.encode(), self.integration_key.encode()):
            return self._refuse(401, 40102, "Invalid integration key in request credentials")
        in_body = request.method in ("POST", "PUT", "PATCH")
        canonical = canonical_request(
            date,
            request.method,
            _host_without_port(request.headers.get("Host", "")),
            request.raw_path,
            {} if in_body else request.query,
            request.body.decode("utf-8") if in_body else "",
            {k: v for k, v in request.headers.items() if k.lower().startswith("x-duo-")},
        )
        key = self.secret_key.encode("utf-8")
        expected = hmac.new(key, canonical.encode("utf-8"), hashlib.sha512).hexdigest()
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            return self._refuse(401, 40103, "Invalid signature in request credentials")
        return None

    def _fault(self, faults: Mapping[Any, _Fault], key: Any) -> Response | None:
        with self._lock:
            fault = faults.get(key)
            if fault is None or fault.remaining == 0:
                return None
            if fault.remaining is not None:
                fault.remaining -= 1
        if fault.status == 429:
            return self._refuse(429, 42901, "Too Many Requests")
        return duo_error(fault.status, fault.status * 100, "Injected failure")

    def _members_of(self, group: DuoGroup) -> list[str]:
        return [uid for uid in dict.fromkeys(group.members) if uid in self.users]

    def _row(self, user_id: str) -> dict[str, Any]:
        return {"user_id": user_id, "username": self.users[user_id].username}

    def _user(self, user: DuoUser) -> dict[str, Any]:
        groups = [g.resource() for g in self.groups.values() if user.user_id in g.members]
        return user.resource(groups)

    def _group_users(self, request: Request, group_id: str) -> Response:
        group = self.groups.get(group_id)
        if group is None:
            return duo_error(404, 40401, "Resource not found")
        fault = self._fault(self._member_faults, (group_id, _int_param(request, "offset", 0)))
        if fault is not None:
            return fault
        members = self._members_of(group)
        listed = members[: len(members) - self._hidden.get(group_id, 0)]
        return self._page(request, "group_users", [self._row(u) for u in listed], len(members))

    def _user_list(self, request: Request) -> Response:
        users = list(self.users.values())
        if "user_id_list" in request.query:
            try:
                wanted = json.loads(request.query["user_id_list"][-1])
            except ValueError:
                wanted = None
            if not isinstance(wanted, list) or not all(isinstance(w, str) for w in wanted):
                return duo_error(400, 40002, "Invalid request parameters", "user_id_list")
            if len(wanted) > MAX_USER_IDS:
                return duo_error(400, 40002, "Invalid request parameters", "user_id_list")
            users = [self.users[uid] for uid in dict.fromkeys(wanted) if uid in self.users]
        elif "username" in request.query:
            name = request.query["username"][-1]
            users = [u for u in users if name == u.username or name in u.aliases]
        elif "email" in request.query:
            address = request.query["email"][-1].lower()
            users = [u for u in users if (u.email or "").lower() == address]
        items = [self._user(u) for u in users]
        return self._page(request, "users", items, len(items))

    def _page(self, request: Request, route: str, items: list[Any], total: int) -> Response:
        limit = _int_param(request, "limit", DEFAULT_LIMIT)
        if not 1 <= limit <= MAX_LIMITS[route]:
            return duo_error(400, 40002, "Invalid request parameters", "limit")
        offset = _int_param(request, "offset", 0)
        if offset < 0:
            return duo_error(400, 40002, "Invalid request parameters", "offset")
        size = min(limit, self.page_size_cap or limit)
        metadata: dict[str, Any] = {"total_objects": total}
        if offset + size < len(items):
            metadata["next_offset"] = offset + size
        if offset > 0:
            metadata["prev_offset"] = max(0, offset - size)
        body = {"stat": "OK", "response": items[offset : offset + size], "metadata": metadata}
        return Response(200, body)


def _route(path: str) -> tuple[str, str]:
    parts = path.rstrip("/").split("/")
    if parts[:2] != ["", "admin"] or len(parts) < 4:
        return "unknown", ""
    version, kind, rest = parts[2], parts[3], [unquote(p) for p in parts[4:]]
    if kind == "groups" and not rest and version == "v1":
        return "groups", ""
    if kind == "groups" and len(rest) == 1 and version in ("v1", "v2"):
        return f"group_{version}", rest[0]
    if kind == "groups" and rest[1:] == ["users"] and version == "v2":
        return "group_users", rest[0]
    if kind == "users" and version == "v1" and len(rest) <= 1:
        return ("user", rest[0]) if rest else ("users", "")
    if kind == "users" and version == "v1" and rest[1:] == ["groups"]:
        return "user_groups", rest[0]
    return "unknown", ""


def _int_param(request: Request, name: str, default: int) -> int:
    """The parameter's value; -1 (refused by every caller) when it is not a whole number."""
    values = request.query.get(name)
    if not values:
        return default
    return int(values[-1]) if values[-1].isdigit() else -1


@contextmanager
def duo_demo(
    directory_doc: Mapping[str, Any],
) -> Iterator[tuple[dict[str, Any], dict[str, str], str]]:
    """Run a Duo emulator seeded with ``directory_doc`` for the length of the block.

    Yields ``(source_section, env, username_attribute)``: the ``source:`` mapping (with an
    inline ``secret_key``, fine for a local demo only), the variables that make clients
    trust the emulator's CA, and ``username`` (the sample's Duo usernames are its UPNs).
    """
    emulator = DuoEmulator(DEMO_INTEGRATION_KEY, secrets.token_hex(20))
    emulator.load_directory(directory_doc)
    with emulator:
        yield emulator.source_section(), emulator.env(), "username"
