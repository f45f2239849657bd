"""Okta's wire shapes for the emulator: error bodies, resources, search and Link paging."""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from connect_user_sync_emulators.server import Request, Response

DEFAULT_LIMIT = 1000  # Okta's historical default for listings without ?limit
_STAMP = "2024-01-02T03:04:05.000Z"
_SEARCH = re.compile(r'^\s*profile\.name\s+(eq|sw)\s+"((?:[^"\\]|\\.)*)"\s*$')


@dataclass
class Group:
    id: str
    name: str
    type: str = "OKTA_GROUP"
    members: list[str] = field(default_factory=list)


def okta_error(
    status: int, code: str, summary: str, headers: dict[str, str] | None = None
) -> Response:
    """The management API's error body (``errorCode``, ``errorSummary`` ...)."""
    body = {
        "errorCode": code,
        "errorSummary": summary,
        "errorLink": code,
        "errorId": "oae" + secrets.token_urlsafe(16),
        "errorCauses": [],
    }
    return Response(status, body, headers)


def oauth_error(status: int, error: str, description: str) -> Response:
    """The authorization server's error body (``error``, ``error_description``)."""
    return Response(status, {"error": error, "error_description": description})


def not_found(key: str, kind: str) -> Response:
    return okta_error(404, "E0000007", f"Not found: Resource not found: {key} ({kind})")


def throttled() -> Response:
    return okta_error(429, "E0000047", "API call exceeded rate limit due to too many requests.")


def param(request: Request, name: str) -> str | None:
    values = request.query.get(name)
    return values[-1] if values else None


def user_resource(
    org_url: str,
    id: str,
    login: str | None,
    email: str | None,
    first_name: str | None,
    last_name: str | None,
    status: str,
    extra: dict[str, Any],
) -> dict[str, Any]:
    return {
        "id": id,
        "status": status,
        "created": _STAMP,
        "activated": None if status == "STAGED" else _STAMP,
        "statusChanged": _STAMP,
        "lastLogin": None,
        "lastUpdated": _STAMP,
        "passwordChanged": None,
        "type": {"id": "oty1default"},
        "profile": {
            "firstName": first_name,
            "lastName": last_name,
            "mobilePhone": None,
            "secondEmail": None,
            "login": login,
            "email": email,
            **extra,
        },
        "credentials": {"provider": {"type": "OKTA", "name": "OKTA"}},
        "_links": {"self": {"href": f"{org_url}/api/v1/users/{id}"}},
    }


def group_resource(org_url: str, group: Group) -> dict[str, Any]:
    return {
        "id": group.id,
        "created": _STAMP,
        "lastUpdated": _STAMP,
        "lastMembershipUpdated": _STAMP,
        "objectClass": ["okta:user_group"],
        "type": group.type,
        "profile": {"name": group.name, "description": None},
        "_links": {"users": {"href": f"{org_url}/api/v1/groups/{group.id}/users"}},
    }


def search_groups(groups: Sequence[Group], request: Request) -> list[Group] | Response:
    """``q`` (name prefix) and ``search`` (``profile.name eq|sw "..."``), case-insensitive."""
    found = list(groups)
    q = param(request, "q")
    search = param(request, "search")
    if q is not None:
        found = [g for g in found if g.name.lower().startswith(q.lower())]
    if search is not None:
        match = _SEARCH.match(search)
        if not match:
            return okta_error(400, "E0000031", "Invalid search criteria.")
        operator = match.group(1)
        wanted = re.sub(r"\\(.)", r"\1", match.group(2)).lower()
        found = [
            g
            for g in found
            if (g.name.lower() == wanted if operator == "eq" else g.name.lower().startswith(wanted))
        ]
    return found


_USER_TERM = re.compile(r'\s*([A-Za-z][\w.]*)\s+(eq|sw)\s+"((?:[^"\\]|\\.)*)"\s*', re.IGNORECASE)
_OR = re.compile(r"or\s+", re.IGNORECASE)


def search_users(
    users: Sequence[dict[str, Any]], request: Request
) -> list[dict[str, Any]] | Response:
    """``search`` on users: terms ``id``, ``status`` or ``profile.<attribute>`` with ``eq``
    or ``sw``, joined by ``or``; values compare without regard to case, as Okta's search
    does for profile attributes. Without ``search``, every user."""
    search = param(request, "search")
    if search is None:
        return list(users)
    terms: list[tuple[str, str, str]] = []
    position = 0
    while True:
        match = _USER_TERM.match(search, position)
        if match is None:
            return okta_error(400, "E0000031", "Invalid search criteria.")
        terms.append(
            (match.group(1), match.group(2).lower(), re.sub(r"\\(.)", r"\1", match.group(3)))
        )
        position = match.end()
        if position == len(search):
            break
        joiner = _OR.match(search, position)
        if joiner is None:
            return okta_error(400, "E0000031", "Invalid search criteria.")
        position = joiner.end()

    def value(user: dict[str, Any], attribute: str) -> str:
        if attribute.lower().startswith("profile."):
            raw = (user.get("profile") or {}).get(attribute[len("profile.") :])
        else:
            raw = user.get(attribute)
        return str(raw).lower() if raw is not None else ""

    def matches(user: dict[str, Any]) -> bool:
        for attribute, operator, wanted in terms:
            held = value(user, attribute)
            if held and (
                held == wanted.lower() if operator == "eq" else held.startswith(wanted.lower())
            ):
                return True
        return False

    return [u for u in users if matches(u)]


def page_window(
    request: Request, items: Sequence[dict[str, Any]], cap: int
) -> tuple[int, int] | Response:
    """(start, limit) of the page after the ``after`` cursor (an id, as in Okta)."""
    raw_limit = param(request, "limit")
    if raw_limit is not None and (not raw_limit.isdigit() or int(raw_limit) < 1):
        return okta_error(400, "E0000001", "Api validation failed: limit")
    limit = min(int(raw_limit) if raw_limit else DEFAULT_LIMIT, cap)
    after = param(request, "after")
    start = 0
    if after is not None:
        start = next((i + 1 for i, item in enumerate(items) if item["id"] == after), -1)
        if start < 0:  # the cursor's object is gone: resume where its id would sort
            start = sum(1 for item in items if item["id"] <= after)
    return start, limit


def page_response(
    request: Request, org_url: str, items: Sequence[dict[str, Any]], start: int, limit: int
) -> Response:
    """The page, with a ``self`` and (when more follow) a ``next`` Link header line."""
    chunk = list(items[start : start + limit])
    query = {k: v[-1] for k, v in request.query.items() if k != "after"}
    base = f"{org_url}{request.raw_path}"
    # Okta sends each relation as a header line of its own. The emulator's headers are a
    # dict, and HTTP header names are case-insensitive: two spellings make two lines.
    headers = {"Link": f'<{base}?{urlencode(query, quote_via=quote)}>; rel="self"'}
    if start + limit < len(items):
        query["after"] = chunk[-1]["id"]
        headers["link"] = f'<{base}?{urlencode(query, quote_via=quote)}>; rel="next"'
    return Response(200, chunk, headers)
