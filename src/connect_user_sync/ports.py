"""The ports the sync service talks through. Adapters implement these protocols.

Each adapter takes its SDK client as an optional constructor argument so tests can hand
in one pointed at an emulator; none of them is ever replaced by a mock in the tests.
Everything crossing a port is a typed value from the domain.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Protocol

from connect_user_sync.domain.catalog import Catalog
from connect_user_sync.domain.models import ConnectUser, DirectorySnapshot, GroupRule, SyncAction
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
    ) -> None:
        """Carry out the ``planned`` actions, recording each outcome on the action.

        No write starts after ``deadline`` (a ``time.monotonic`` value): actions not
        started stay ``planned`` with a note. One failing action never stops the others.
        """
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
