"""The ports the sync service talks through. Adapters implement these protocols.

Each adapter takes its SDK client as an optional constructor argument so tests can hand
in one pointed at an emulator; none of them is ever replaced by a mock in the tests.
Everything crossing a port is a typed value from the domain.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Protocol, runtime_checkable

from connect_user_sync.domain.catalog import Catalog
from connect_user_sync.domain.lookup import ConnectLookup, ConnectQuery
from connect_user_sync.domain.models import (
    ConnectUser,
    DirectorySnapshot,
    GroupRule,
    OwnedRecord,
    PendingRecord,
    SyncAction,
)
from connect_user_sync.domain.ownership import Ledger
from connect_user_sync.domain.report import MismatchRecord, OpenMismatch, RunReport


class DirectorySource(Protocol):
    """Reads the members of the in-scope groups from an identity provider."""

    type: str

    def read(self, groups: Sequence[GroupRule]) -> DirectorySnapshot:
        """Return every member of every group in ``groups``.

        Each returned ``DirectoryUser.groups`` holds the ``GroupRule.label`` of each rule
        the user matched; each ``GroupRead.name`` is also a rule label. A group that
        cannot be found by name raises ``ConfigError``; credentials that do not work raise
        ``DirectoryReadError``; anything that leaves doubt about completeness (a page that
        failed after retries) returns ``complete=False`` with a readable entry in
        ``errors``. Never raises a vendor exception.
        """
        ...


class ConnectTarget(Protocol):
    """One Amazon Connect instance: its names, its users, and writes to them."""

    def catalog(self) -> Catalog:
        """The instance's security profiles, routing profiles and hierarchy groups."""
        ...

    def read_users(self) -> list[ConnectUser]:
        """Every user of the instance, with tags."""
        ...

    def apply(
        self,
        actions: Sequence[SyncAction],
        *,
        deadline: float | None = None,
        adopt_existing: bool = True,
        on_done: Callable[[SyncAction], None] | None = None,
        announce: Callable[[SyncAction], None] | None = None,
    ) -> None:
        """Carry out the ``planned`` actions, recording each outcome on the action.

        ``announce`` is called before a create's or an adoption's first write call (the
        ownership records' pending item goes out then); an error it raises fails that
        action and nothing is sent for it.

        No write starts after ``deadline`` (a ``time.monotonic`` value): actions not
        started stay ``planned`` with a note. One failing action never stops the others.
        """
        ...


@runtime_checkable
class DirectoryLookup(Protocol):
    """A directory that can look named users up: the on-demand path. Optional.

    A source without it is read in full (``DirectorySource.read``) by on-demand runs too.
    """

    def read_users(self, names: Sequence[str], groups: Sequence[GroupRule]) -> DirectorySnapshot:
        """Every user whose directory id, or a value of one of the source's username
        attributes (compared as the directory compares), is one of ``names``, with the
        labels of the groups in ``groups`` they belong to (transitively where the directory
        nests groups); users in none of them are left out. ``groups`` of the snapshot is
        empty (no group is read whole). Raises like ``read``; a look-up that fails after
        its retries returns ``complete=False`` with a readable entry in ``errors``.
        """
        ...


@runtime_checkable
class ConnectUserLookup(Protocol):
    """A Connect target that can look users up instead of reading them all. Optional."""

    def lookup_users(self, query: ConnectQuery) -> ConnectLookup:
        """The users ``query`` wants and the instance's count of managed users; raises
        ``LookupTooBroad`` when the answer would not be cheaper than a full read."""
        ...


class RunStore(Protocol):
    """Remembers runs: the report, per-action and per-mismatch items, open mismatches."""

    def previous_group_counts(self) -> Mapping[str, int] | None:
        """Member count per group label seen by the last run that read completely."""
        ...

    def open_mismatch_keys(self) -> Collection[str]:
        """Keys (``MismatchRecord.key``) of the mismatches already alerted and still open."""
        ...

    def record(self, report: RunReport) -> None:
        """Persist a finished run report. Every item written carries ``run_id``."""
        ...


class OwnershipLedger(Protocol):
    """The tool's own record of the users it manages (``domain.ownership``), per instance.

    Kept where Connect administrators cannot write (the results table): a tag on a Connect
    user is only believed when this record agrees with it.
    """

    def owned_users(self, instance_id: str) -> Ledger:
        """Every owned-user record and pending create of the instance."""
        ...

    def write_pending(
        self, instance_id: str, pending: Sequence[PendingRecord], run_id: str
    ) -> None:
        """Announce creates and adoptions; called before their first Connect call."""
        ...

    def write(
        self,
        instance_id: str,
        run_id: str,
        *,
        records: Sequence[OwnedRecord] = (),
        forget: Collection[str] = (),
        settled: Collection[str] = (),
    ) -> None:
        """Record owned users, forget deleted ones (user ids), drop pending items
        (usernames) whose create or adoption ended. Every item carries ``run_id``."""
        ...


class OpenMismatches(Protocol):
    """Where the reminder finds the mismatches still open."""

    def open_mismatch_records(self) -> list[OpenMismatch]:
        """Every mismatch still open, oldest first."""
        ...


class Alerter(Protocol):
    """Tells people about new mismatches and safety stops."""

    def notify(self, report: RunReport, new_mismatches: Sequence[MismatchRecord]) -> None:
        """Send one message for the run if it has new mismatches or a safety stop."""
        ...


class Reminder(Protocol):
    """Reminds people of the mismatches nobody has fixed yet."""

    def send_reminder(self, open_mismatches: Sequence[OpenMismatch]) -> bool:
        """Send the reminder; False when nothing is open and nothing was sent."""
        ...
