"""The on-demand path's reasoning: whom a ``--user`` run must look up, and what it may ignore.

A full run reads every member of every group and every Connect user; an on-demand run
(``--user NAME``, the ``{"users": [...]}`` event) looks up only what the plan of the named
people can depend on, so that it costs the same whatever the directory's and the
instance's size. What the planner reads about a named person, and where it comes from:

- the Connect user with exactly their username, and the ones differing only in letter
  case (``case_mismatch``): usernames searched EXACT in the spellings such accounts
  usually have (``case_variants``), a CONTAINS window of the value (which catches every
  spelling if Connect compares case-insensitively, something its documentation does not
  say), and the people's first and last names;
- the Connect users named after another of their attributes (``attribute_mismatch``):
  the same searches for each attribute value;
- the Connect users made for them under an older username (``renamed``): the
  ``connect-user-sync:source-id`` tag;
- the other directory users asserting the same username (``duplicate_username``), or
  signing in with a Connect user found above (never deprovision what somebody uses):
  directory look-ups by value, done by the source (``DirectoryLookup.read_users``).

Everything here is pure; the adapters do the calls.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from connect_user_sync.domain.models import ConnectUser, DirectorySnapshot, DirectoryUser
from connect_user_sync.domain.usernames import derive_username, normalize

# Connect's search documentation: "contains" queries take 2 to 25 characters.
CONTAINS_MIN = 2
CONTAINS_MAX = 25
_LETTERS = re.compile(r"[^\W\d_]+")


def case_variants(value: str) -> tuple[str, ...]:
    """``value`` and the spellings a hand-made account differing only in case usually has.

    As typed, all lower case, all upper case, every word capitalised
    (``Jane.Doe@Example.Com``), the local part's words capitalised with the domain in
    lower case (``Jane.Doe@example.com``), and only the first letter capitalised.
    """
    lower = value.lower()
    title = _LETTERS.sub(lambda m: m.group(0).capitalize(), lower)
    local, at, domain = title.partition("@")
    spellings = (
        value,
        lower,
        value.upper(),
        title,
        local + at + domain.lower(),
        lower[:1].upper() + lower[1:],
    )
    return tuple(dict.fromkeys(s for s in spellings if s))


def window(value: str) -> str | None:
    """The CONTAINS value for ``value``: its first 25 characters, or None when too short."""
    return value[:CONTAINS_MAX] if len(value) >= CONTAINS_MIN else None


def _fold(value: str) -> str:
    return normalize(value).casefold()


def names_user(user: DirectoryUser, names: Collection[str]) -> bool:
    """True when one of ``names`` is the user's directory id or one of their attribute values.

    Attribute values compare without regard to case, as the directories themselves look
    them up; the planner's own filter then compares exactly.
    """
    if user.source_id in names:
        return True
    folded = {_fold(n) for n in names}
    return any(v and _fold(v) in folded for v in user.attributes.values())


def only_named(snapshot: DirectorySnapshot, names: Collection[str]) -> DirectorySnapshot:
    """The users of a full snapshot that ``names`` name, as a look-up would return them.

    Group counts are left out: they describe the whole directory, which an on-demand run
    does not report.
    """
    return DirectorySnapshot(
        tuple(u for u in snapshot.users if names_user(u, names)),
        (),
        snapshot.complete,
        snapshot.errors,
    )


def merge(first: DirectorySnapshot, second: DirectorySnapshot) -> DirectorySnapshot:
    """Two look-ups' results as one: each user once, complete only if both were."""
    users = {u.source_id: u for u in first.users}
    for user in second.users:
        users.setdefault(user.source_id, user)
    return DirectorySnapshot(
        tuple(users.values()),
        (),
        first.complete and second.complete,
        tuple(dict.fromkeys((*first.errors, *second.errors))),
    )


def asserted(users: Iterable[DirectoryUser], attribute: str, *, lowercase: bool) -> set[str]:
    """The usernames ``users`` would assert (the ones that can be derived)."""
    found = set()
    for user in users:
        result = derive_username(user.attributes, attribute, lowercase=lowercase)
        if result.username is not None:
            found.add(result.username)
    return found


@dataclass(frozen=True)
class ConnectQuery:
    """What to search one Connect instance for, and which users found matter.

    ``exact`` usernames are searched EXACT and ``windows`` CONTAINS (case spellings
    included); ``people`` are (first name, last name) pairs searched EXACT together;
    ``source_ids`` are searched by the source-id tag. A user found is ``wanted`` when its
    username is one of ``exact``, folds to one of ``folded``, or its tag names one of
    ``source_ids``: the users a plan of the named people can depend on.
    """

    exact: tuple[str, ...] = ()
    windows: tuple[str, ...] = ()
    people: tuple[tuple[str, str], ...] = ()
    source_ids: tuple[str, ...] = ()
    folded: frozenset[str] = frozenset()

    def wanted(self, user: ConnectUser) -> bool:
        return (
            user.username in self.exact
            or user.username.casefold() in self.folded
            or (user.source_id is not None and user.source_id in self.source_ids)
        )


def connect_query(
    users: Iterable[DirectoryUser],
    names: Sequence[str],
    attribute: str,
    *,
    lowercase: bool,
) -> ConnectQuery:
    """The Connect searches that a plan of the users ``names`` name can depend on.

    ``users`` may hold more than the named people (the other users a look-up found): only
    those the planner's filter selects (by the username they assert or by directory id)
    are searched for, as in ``planner.in_filter``; every name given is also searched as a
    username and as a source id, so a leaver or a deleted user's Connect user is found.
    """
    wanted = set(names)
    exact: dict[str, None] = dict.fromkeys(names)
    windows: dict[str, None] = {}
    people: dict[tuple[str, str], None] = {}
    source_ids: dict[str, None] = dict.fromkeys(names)
    folded: set[str] = set()
    for user in users:
        derived = derive_username(user.attributes, attribute, lowercase=lowercase).username
        if user.source_id not in wanted and (derived is None or derived not in wanted):
            continue
        source_ids[user.source_id] = None
        values = [derived] if derived else []
        values += [normalize(v) for k, v in sorted(user.attributes.items()) if v and k != attribute]
        for value in dict.fromkeys(v for v in values if v):
            folded.add(value.casefold())
            exact.update(dict.fromkeys(case_variants(value)))
            part = window(value)
            if part:
                windows[part] = None
        if user.first_name and user.last_name:
            people[(user.first_name, user.last_name)] = None
    return ConnectQuery(
        tuple(exact), tuple(windows), tuple(people), tuple(source_ids), frozenset(folded)
    )


@dataclass(frozen=True)
class ConnectLookup:
    """What a look-up in one instance found.

    ``managed`` is the number of users carrying this tool's managed tag in the whole
    instance (Connect's approximate count), or None when Connect gave none: the safety
    gate's percentage limit needs it.
    """

    users: list[ConnectUser] = field(default_factory=list)
    managed: int | None = None


class LookupTooBroad(Exception):
    """A search matched more users than a look-up should; read the instance in full."""
