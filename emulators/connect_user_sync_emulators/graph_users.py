"""The Graph emulator's user endpoints, which an on-demand run looks people up with.

- ``GET /v1.0/users/{id or userPrincipalName}`` (404 ``Request_ResourceNotFound`` when
  neither matches; the UPN compares without regard to case, as Entra compares it);
- ``GET /v1.0/users?$filter=<property> eq '<value>'`` for ``userPrincipalName``, ``mail``
  and ``id``, the ``eq`` filters Graph supports on users without advanced query
  parameters (values compare without regard to case; ``''`` is a quoted ``'``);
- ``GET /v1.0/users/{id}/memberOf`` and ``/transitiveMemberOf``: the groups the user is a
  member of, directly or through nested groups. A ``/microsoft.graph.group`` cast is an
  advanced query, as on Graph: it needs ``ConsistencyLevel: eventual`` and ``$count``.

All take ``$select``; lists take ``$top`` and page with ``@odata.nextLink``. ``GraphEmulator``
routes here (``route``), counting ``graph.user``, ``graph.users`` and ``graph.memberof``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from connect_user_sync_emulators.server import Request, Response

if TYPE_CHECKING:
    from connect_user_sync_emulators.graph import EmulatedGroup, EmulatedUser, GraphEmulator

_USERS = re.compile(r"^/v1\.0/users/?$")
_USER = re.compile(r"^/v1\.0/users/([^/]+)/?$")
_MEMBER_OF = re.compile(
    r"^/v1\.0/users/([^/]+)/(memberOf|transitiveMemberOf)(/microsoft\.graph\.group)?/?$"
)
_FILTER = re.compile(r"^\s*(userPrincipalName|mail|id)\s+eq\s+'((?:[^']|'')*)'\s*$", re.IGNORECASE)
_PROPERTY = {"userprincipalname": "user_principal_name", "mail": "mail", "id": "id"}


def route(path: str) -> str | None:
    """The counter name of a user endpoint, or None when ``path`` is not one."""
    if _USERS.match(path):
        return "graph.users"
    if _MEMBER_OF.match(path):
        return "graph.memberof"
    if _USER.match(path):
        return "graph.user"
    return None


def answer(graph: GraphEmulator, name: str, request: Request) -> Response:
    """The answer to an authorized request on a user endpoint."""
    from connect_user_sync_emulators import graph as g

    if name == "graph.users":
        return _filtered(graph, request)
    if name == "graph.user":
        match = _USER.match(request.raw_path)
        assert match is not None
        user = _find(graph, match.group(1))
        if user is None:
            return g._not_found(match.group(1))
        return Response(
            200, g._project(user.resource(), g._select(request), g._DEFAULT_USER_FIELDS)
        )
    return _member_of(graph, request)


def _find(graph: GraphEmulator, key: str) -> EmulatedUser | None:
    with graph._lock:
        user = graph.users.get(key)
        if user is not None:
            return user
        return next(
            (u for u in graph.users.values() if u.user_principal_name.lower() == key.lower()),
            None,
        )


def _filtered(graph: GraphEmulator, request: Request) -> Response:
    from connect_user_sync_emulators import graph as g

    raw = g._param(request, "$filter")
    match = _FILTER.match(raw or "")
    if match is None:
        return g._graph_error(
            400,
            "Request_UnsupportedQuery",
            f"Unsupported or invalid query filter clause specified for property: {raw}",
        )
    attribute = _PROPERTY[match.group(1).lower()]
    wanted = match.group(2).replace("''", "'").casefold()
    with graph._lock:
        users = [
            u for u in graph.users.values() if (getattr(u, attribute) or "").casefold() == wanted
        ]
    select = g._select(request)
    items = [g._project(u.resource(), select, g._DEFAULT_USER_FIELDS) for u in users]
    return _listing(graph, request, items, "users", context="users")


def _member_of(graph: GraphEmulator, request: Request) -> Response:
    from connect_user_sync_emulators import graph as g

    match = _MEMBER_OF.match(request.raw_path)
    assert match is not None
    user_id, relation, cast = match.group(1), match.group(2), match.group(3)
    if cast and (
        request.headers.get("ConsistencyLevel", "").lower() != "eventual"
        or (g._param(request, "$count") or "").lower() != "true"
    ):
        return g._graph_error(
            400,
            "Request_UnsupportedQuery",
            "The specified type cast requires ConsistencyLevel: eventual and $count=true.",
        )
    with graph._lock:
        user = graph.users.get(user_id)
        groups = list(graph.groups.values())
    if user is None:
        return g._not_found(user_id)
    member_of: list[EmulatedGroup] = []
    for group in groups:
        members = (
            graph._transitive(group) if relation == "transitiveMemberOf" else graph._direct(group)
        )
        if any(m.id == user.id for m in members):
            member_of.append(group)
    select = g._select(request)
    items = [
        {
            "@odata.type": "#microsoft.graph.group",
            **g._project(grp.resource(), select, g._DEFAULT_GROUP_FIELDS),
        }
        for grp in member_of
    ]
    return _listing(graph, request, items, f"memberof:{user_id}")


def _listing(
    graph: GraphEmulator,
    request: Request,
    items: list[dict[str, Any]],
    key: str,
    *,
    context: str = "directoryObjects",
) -> Response:
    """A page of ``items``, or the page a ``$skiptoken`` of an earlier page points to."""
    from connect_user_sync_emulators import graph as g

    skiptoken = g._param(request, "$skiptoken")
    if skiptoken is not None:
        with graph._lock:
            cursor = graph._cursors.get(skiptoken)
        if cursor is None or cursor.group_id != key:
            return g._graph_error(
                400, "Directory_ExpiredPageToken", "The specified page token value has expired."
            )
        return graph._page(
            request,
            skiptoken,
            cursor.items,
            cursor.offset,
            cursor.page_index,
            page_size=cursor.page_size,
            group_id=key,
            context=context,
        )
    page_size = g.DEFAULT_PAGE_SIZE
    top = g._param(request, "$top")
    if top is not None:
        if not top.isdigit() or not 1 <= int(top) <= g.MAX_PAGE_SIZE:
            return g._graph_error(400, "Request_BadRequest", "Invalid page size specified.")
        page_size = int(top)
    return graph._page(request, "", items, 0, 0, page_size=page_size, group_id=key, context=context)
