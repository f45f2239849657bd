"""The on-demand path (``--user NAME``, the ``{"users": [...]}`` event): seconds, any size.

A full run reads every member of every group and every Connect user. After an HR change
a person wants one or two people brought in step now, and that must not cost a read of
50,000 users. An on-demand run looks up only what the named people's plan depends on
(``domain.lookup`` says what, and why that is enough):

1. the directory (``NamedRead``, phase 1): the named users with their in-scope groups
   (``DirectoryLookup.read_users``), then the other users asserting the same usernames,
   so that a ``duplicate_username`` is still seen. A source without ``read_users`` is read
   in full, which is slower but sees everything;
2. each target (``OnDemand.read_target``, phase 2): a few SearchUsers calls
   (``ConnectUserLookup.lookup_users``) instead of the full read, then the directory again
   for the usernames of the Connect users found that nobody known asserts: whoever signs
   in with one of them must keep it (``claimed``), and it is not a mismatch of the named
   person's. A look-up that would be no cheaper than a full read, or that Connect refuses,
   falls back to the full read of that target;
3. the safety gate (phase 3) gets Connect's count of the active managed users of the
   whole instance (``managed``) for its percentage limit; when Connect gives none,
   deprovisioning is held (approvable) instead of being judged against a partial count.

What an on-demand run cannot see, and which the next full run does: a group that came
back empty (no group is read whole, so the emptied-group check has nothing to compare);
and a hand-made Connect user differing from a named user's username only in letter case,
spelled in none of ``case_variants``' forms, without the person's first and last names,
if Connect compares CONTAINS case-sensitively (its documentation does not say).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from connect_user_sync.config import Config
from connect_user_sync.domain.lookup import (
    LookupTooBroad,
    asserted,
    connect_query,
    merge,
)
from connect_user_sync.domain.models import ConnectUser, DirectorySnapshot, GroupRule
from connect_user_sync.errors import DirectoryReadError, PermanentError
from connect_user_sync.ports import (
    ConnectTarget,
    ConnectUserLookup,
    DirectoryLookup,
    DirectorySource,
)
from connect_user_sync.safeguards import read_budget, read_within_budget

log = logging.getLogger(__name__)

COUNT_UNKNOWN = (
    "Connect gave no count of the users this tool manages in the instance, so an on-demand "
    "run cannot check safety.max_deprovision_percent"
)


def wanted_names(users: Sequence[str]) -> tuple[str, ...]:
    """The ``--user`` values, trimmed, each once."""
    return tuple(dict.fromkeys(name.strip() for name in users if name.strip()))


@dataclass
class NamedRead:
    """A directory source whose ``read`` looks up only the named users.

    Handed to ``phases.read_directory`` in place of the source, so the on-demand read runs
    under the same time budget and retry scope as a full read.
    """

    source: DirectorySource
    names: tuple[str, ...]
    attribute: str
    lowercase: bool = False
    type: str = field(init=False)

    def __post_init__(self) -> None:
        self.type = self.source.type

    def read(self, groups: Sequence[GroupRule]) -> DirectorySnapshot:
        if not isinstance(self.source, DirectoryLookup):
            return self.source.read(groups)
        found = self.source.read_users(self.names, groups)
        # Other users asserting a named user's username make it a duplicate_username.
        claims = asserted(found.users, self.attribute, lowercase=self.lowercase)
        more = sorted(claims - set(self.names))
        if not more:
            return found
        return merge(found, self.source.read_users(more, groups))


@dataclass(frozen=True)
class TargetRead:
    """One target's on-demand read, for ``phases.plan_and_gate``.

    ``users`` are the Connect users looked up; ``snapshot`` is the directory widened by
    the users asserting their usernames (None: the snapshot of phase 1 as it is);
    ``managed`` is the instance's count of active managed users (None: not counted, and
    ``doubts`` holds deprovisioning); ``errors`` are the extra directory look-ups' problems.
    """

    users: list[ConnectUser]
    snapshot: DirectorySnapshot | None = None
    managed: int | None = None
    doubts: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()


class OnDemand:
    """One on-demand run's reads after phase 1: per target, and the directory again."""

    def __init__(
        self,
        config: Config,
        names: Sequence[str],
        snapshot: DirectorySnapshot,
        source: DirectorySource | None = None,
        *,
        deadline: float | None = None,
    ) -> None:
        self.config = config
        self.names = wanted_names(names)
        self.snapshot = snapshot
        self.deadline = deadline
        self._source = source
        self._looked_up: set[str] = set(self.names)
        self._extra = DirectorySnapshot(())

    @classmethod
    def start(
        cls,
        config: Config,
        users: Sequence[str],
        snapshot: DirectorySnapshot | None,
        source: DirectorySource | None = None,
        *,
        deadline: float | None = None,
    ) -> OnDemand | None:
        """The on-demand reader of a run with a ``--user`` filter; None for a full run."""
        if not wanted_names(users) or snapshot is None:
            return None
        return cls(config, users, snapshot, source, deadline=deadline)

    @property
    def source(self) -> DirectorySource:
        if self._source is None:
            from connect_user_sync.sources import build_source

            self._source = build_source(self.config)
        return self._source

    def read_target(self, instance: ConnectTarget) -> TargetRead:
        """The target's users a plan of the named people needs, looked up when it can.

        Raises what ``read_users`` raises (``TransientError`` once retries are spent).
        """
        username = self.config.username
        query = connect_query(
            self.snapshot.users, self.names, username.attribute, lowercase=username.lowercase
        )
        if not isinstance(instance, ConnectUserLookup):
            return TargetRead(instance.read_users())
        try:
            found = instance.lookup_users(query)
        except (LookupTooBroad, PermanentError) as exc:
            log.warning("on-demand look-up fell back to reading the instance in full: %s", exc)
            return TargetRead(instance.read_users())
        snapshot, errors = self._widen(found.users)
        doubts = (COUNT_UNKNOWN,) if found.managed is None else ()
        return TargetRead(found.users, snapshot, found.managed, doubts, errors)

    def _widen(
        self, connect_users: Sequence[ConnectUser]
    ) -> tuple[DirectorySnapshot | None, tuple[str, ...]]:
        """The snapshot with whoever asserts the usernames of ``connect_users``, and the
        new errors (None: nobody to add)."""
        if not isinstance(self.source, DirectoryLookup):
            return None, ()  # read in full: everybody is in the snapshot already
        username = self.config.username
        known = self._looked_up | asserted(
            self.snapshot.users, username.attribute, lowercase=username.lowercase
        )
        names = sorted({u.username for u in connect_users} - known)
        errors: tuple[str, ...] = ()
        if names:
            self._looked_up.update(names)
            reader = NamedRead(self.source, tuple(names), username.attribute, username.lowercase)
            try:
                extra = read_within_budget(reader, self.config.groups, read_budget(self.deadline))
            except DirectoryReadError as exc:
                extra = DirectorySnapshot((), complete=False, errors=(str(exc),))
            errors = tuple(e for e in extra.errors if e not in self._extra.errors)
            self._extra = merge(self._extra, extra)
        if not self._extra.users and self._extra.complete and not self._extra.errors:
            return None, errors
        return merge(self.snapshot, self._extra), errors


__all__ = ["COUNT_UNKNOWN", "NamedRead", "OnDemand", "TargetRead", "wanted_names"]
