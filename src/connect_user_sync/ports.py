"""The ports the sync service talks through. Adapters implement these protocols.

Each adapter takes its SDK client as an optional constructor argument so tests can hand
in one pointed at an emulator; none of them is ever replaced by a mock in the tests.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Protocol

from connect_user_sync.domain.models import DirectorySnapshot, GroupRule


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


class RunStore(Protocol):
    """Remembers runs: the report, per-action and per-mismatch items, open mismatches."""

    def previous_group_counts(self) -> Mapping[str, int] | None:
        """Member count per group label seen by the last run that read completely."""
        ...

    def open_mismatch_keys(self) -> Collection[str]:
        """Keys (see ``mismatch_key``) of the mismatches already alerted and still open."""
        ...

    def record(self, report: Mapping[str, Any]) -> None:
        """Persist a finished run report. Every item written carries ``run_id``."""
        ...


class Alerter(Protocol):
    """Tells people about new mismatches and safety stops."""

    def notify(
        self, report: Mapping[str, Any], new_mismatches: Sequence[Mapping[str, Any]]
    ) -> None:
        """Send one message for the run if it has new mismatches or a safety stop."""
        ...


def mismatch_key(mismatch: Mapping[str, Any]) -> str:
    """A stable identity for a mismatch, so an unchanged one is not alerted twice."""
    return "|".join(
        str(mismatch.get(part) or "")
        for part in ("kind", "instance_id", "source_id", "username", "connect_username")
    )
