"""Looking users up in one Connect instance for an on-demand run: a few searches, any size.

A full read pages through every user (ceil(N/500) SearchUsers calls at 2 requests a
second by default: 50 s at 50,000 users). An on-demand run needs only the users a plan of
the named people can depend on (``domain.lookup.ConnectQuery``), so it asks for them:

1. one SearchUsers per ``MAX_CONDITIONS`` username conditions (EXACT for each spelling,
   CONTAINS for each window) and first-and-last-name pairs, ORed together;
2. one SearchUsers per ``MAX_CONDITIONS`` source ids, by the ``connect-user-sync:source-id``
   tag;
3. two SearchUsers with ``MaxResults=1`` for Connect's ``ApproximateTotalCount`` of the
   users carrying the managed tag, less those also carrying the disabled tag: the active
   managed users, the base of the safety gate's percentage limit.

Two named users cost four or five calls whatever the instance's size. A search whose
results run past ``MAX_PAGES`` pages (a very common name, say) raises ``LookupTooBroad``:
the caller reads the instance in full rather than plan on a partial answer.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from connect_user_sync.connect.writes import user_from_search
from connect_user_sync.domain.lookup import ConnectLookup, ConnectQuery, LookupTooBroad
from connect_user_sync.domain.models import TAG_DISABLED, TAG_MANAGED, TAG_SOURCE_ID, ConnectUser
from connect_user_sync.errors import PermanentError

log = logging.getLogger(__name__)

# Conditions ORed in one request. The API model sets no limit; this keeps each request
# small and the calls few (a named user makes about a dozen conditions).
MAX_CONDITIONS = 20
MAX_PAGES = 4  # of 500 users: more than that and a look-up is no cheaper than a full read
PAGE_SIZE = 500


class _Caller(Protocol):
    instance_id: str

    def call(self, operation: str, /, **params: Any) -> dict[str, Any]: ...


def _string(field: str, value: str, comparison: str) -> dict[str, Any]:
    return {"StringCondition": {"FieldName": field, "Value": value, "ComparisonType": comparison}}


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def criteria(query: ConnectQuery) -> list[dict[str, Any]]:
    """The SearchCriteria of the name searches, each ORing at most ``MAX_CONDITIONS``."""
    conditions = [_string("Username", value, "EXACT") for value in query.exact]
    conditions += [_string("Username", value, "CONTAINS") for value in query.windows]
    conditions += [
        {
            "AndConditions": [
                _string("FirstName", first, "EXACT"),
                _string("LastName", last, "EXACT"),
            ]
        }
        for first, last in query.people
    ]
    return [
        chunk[0] if len(chunk) == 1 else {"OrConditions": list(chunk)}
        for chunk in _chunks(conditions, MAX_CONDITIONS)
    ]


def tag_filters(query: ConnectQuery) -> list[dict[str, Any]]:
    """The SearchFilters of the source-id searches, each ORing at most ``MAX_CONDITIONS``."""
    filters = []
    for chunk in _chunks(query.source_ids, MAX_CONDITIONS):
        conditions = [{"TagKey": TAG_SOURCE_ID, "TagValue": sid} for sid in chunk]
        tag_filter = (
            {"TagCondition": conditions[0]}
            if len(conditions) == 1
            else {"OrConditions": [[c] for c in conditions]}
        )
        filters.append({"TagFilter": tag_filter})
    return filters


def _search(instance: _Caller, **params: Any) -> Iterator[dict[str, Any]]:
    token: str | None = None
    for _ in range(MAX_PAGES):
        extra = {"NextToken": token} if token else {}
        page = instance.call(
            "SearchUsers", InstanceId=instance.instance_id, MaxResults=PAGE_SIZE, **params, **extra
        )
        yield from page.get("Users") or ()
        token = page.get("NextToken")
        if not token:
            return
    raise LookupTooBroad(
        f"a search for the named users matched more than {MAX_PAGES * PAGE_SIZE} users "
        f"(by {', '.join(sorted(params))}); the instance is read in full instead"
    )


def _count(instance: _Caller, tag_filter: dict[str, Any]) -> int | None:
    page = instance.call(
        "SearchUsers",
        InstanceId=instance.instance_id,
        MaxResults=1,
        SearchFilter={"TagFilter": tag_filter},
    )
    total = page.get("ApproximateTotalCount")
    return int(total) if isinstance(total, int) and total >= 0 else None


def managed_count(instance: _Caller) -> int | None:
    """Connect's approximate count of the active users carrying this tool's managed tag.

    Those tagged managed, less those also carrying the disabled tag (a condition on the
    tag's key alone: the model makes ``TagValue`` optional). None when Connect gives no
    count or refuses the second search: the caller then holds deprovisioning.
    """
    managed = {"TagKey": TAG_MANAGED, "TagValue": "true"}
    total = _count(instance, {"TagCondition": managed})
    if total is None:
        return None
    try:
        disabled = _count(instance, {"AndConditions": [managed, {"TagKey": TAG_DISABLED}]})
    except PermanentError as exc:
        log.warning("the disabled managed users could not be counted: %s", exc)
        return None
    return None if disabled is None else max(0, total - disabled)


def lookup_users(instance: _Caller, query: ConnectQuery) -> ConnectLookup:
    """The users ``query`` wants, each once, and the instance's count of managed users.

    Raises ``LookupTooBroad`` when a search runs past ``MAX_PAGES`` pages, and the
    instance's ``TransientError`` / ``PermanentError`` as its reads do.
    """
    found: dict[str, ConnectUser] = {}
    searches = [{"SearchCriteria": c} for c in criteria(query)]
    searches += [{"SearchFilter": f} for f in tag_filters(query)]
    for params in searches:
        for item in _search(instance, **params):
            user = user_from_search(item)
            if query.wanted(user):
                found.setdefault(user.user_id, user)
    return ConnectLookup(list(found.values()), managed_count(instance))
