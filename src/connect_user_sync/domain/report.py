"""The run report as a typed value, with every derived fact computed in one place.

A ``RunReport`` is built once a run's work is done; everything that reads it (the CLI's
table, the results store, the alerter, the metrics) asks it questions instead of walking a
dict: ``status``, ``counts``, ``held_actions``, ``safety_stop``, ``MismatchRecord.key``.
The status is never stored: it follows from the facts (was the directory read complete,
was it a dry run, what did the safety gate hold, what failed or is left, what went wrong
after the work), so it cannot drift from them.

``to_json()`` is the contract's document (CONTRACT.md section 4 plus the documented extra
fields), the only place that spells the report's keys. For scripts that treat the report as
that document, a ``RunReport`` is also a read-only mapping over it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from connect_user_sync.domain.bounded import capped, capped_value, listed
from connect_user_sync.domain.mismatches import describe, mismatch_key
from connect_user_sync.domain.models import (
    ActionKind,
    ActionStatus,
    Change,
    Mismatch,
    MismatchKind,
    RunStatus,
    SyncAction,
    TargetPlan,
)
from connect_user_sync.domain.ownership_report import OwnershipNotes
from connect_user_sync.domain.report_json import NamedChanges

_UNFINISHED = frozenset({ActionStatus.PLANNED, ActionStatus.FAILED})


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    """One action of a run and what became of it. ``changes`` use the report's field names.

    Compact on purpose (a run may have 50,000): slots, and the changes of ``of`` are a view
    of the planned action's own changes (``report_json.NamedChanges``), never a copy.
    """

    kind: ActionKind
    username: str
    source_id: str | None
    user_id: str | None
    status: ActionStatus
    error: str | None = None
    changes: Mapping[str, Change] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.changes, NamedChanges):
            object.__setattr__(self, "changes", MappingProxyType(dict(self.changes)))

    @classmethod
    def of(cls, action: SyncAction, names: Mapping[str, str]) -> ActionOutcome:
        """The outcome of a planned (and maybe applied) action, Connect ids shown as names."""
        return cls(
            action.kind,
            action.username,
            action.source_id,
            action.user_id,
            action.status,
            action.error,
            NamedChanges(action.changes, names),
        )

    @property
    def held(self) -> bool:
        return self.status == ActionStatus.HELD

    @property
    def failed(self) -> bool:
        return self.status == ActionStatus.FAILED

    @property
    def applied(self) -> bool:
        return self.status == ActionStatus.APPLIED

    @property
    def unfinished(self) -> bool:
        """Failed, or never started (the deadline came first): the next run carries on."""
        return self.status in _UNFINISHED

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.kind.value,
            "username": capped(self.username),
            "source_id": capped_value(self.source_id),
            "user_id": self.user_id,
            "changes": {
                name: {"from": capped_value(change.before), "to": capped_value(change.after)}
                for name, change in self.changes.items()
            },
            "status": self.status.value,
            "error": capped_value(self.error),
        }


@dataclass(frozen=True)
class TargetReport:
    """What a run did, or would do, to one Connect instance."""

    instance_id: str
    region: str
    actions: tuple[ActionOutcome, ...] = ()
    unchanged: int = 0
    managed_users: int = 0
    held_because: tuple[str, ...] = ()
    error: str | None = None  # the instance could not be read
    busy: bool = False  # another run held this target: nothing was read or changed here
    ownership: OwnershipNotes | None = None  # on what ownership rested; who was left alone

    @classmethod
    def of(
        cls,
        instance_id: str,
        region: str,
        plan: TargetPlan | None,
        *,
        names: Mapping[str, str],
        error: str | None = None,
    ) -> TargetReport:
        if plan is None:
            return cls(instance_id, region, error=error)
        return cls(
            instance_id,
            region,
            tuple(ActionOutcome.of(a, names) for a in plan.actions),
            plan.unchanged,
            plan.managed_count,
            tuple(plan.hold_reasons),
            error,
            ownership=OwnershipNotes.of(plan, names),
        )

    @property
    def counts(self) -> dict[str, int]:
        """Actions per kind (every kind, zeros included) and the users already in step."""
        counts = {kind.value: 0 for kind in ActionKind}
        for action in self.actions:
            counts[action.kind.value] += 1
        counts["unchanged"] = self.unchanged
        return counts

    @property
    def held_actions(self) -> tuple[ActionOutcome, ...]:
        return tuple(a for a in self.actions if a.held)

    @property
    def failed(self) -> int:
        return sum(1 for a in self.actions if a.failed)

    @property
    def refused(self) -> bool:
        """The safety gate held this target's deprovisioning for a person to approve."""
        return bool(self.held_because)

    def to_json(self, *, with_actions: bool = True) -> dict[str, Any]:
        """The target's part of the document (``with_actions=False``: an empty list, for
        ``report_json.iter_json``, which writes the actions one by one)."""
        out: dict[str, Any] = {
            "instance_id": self.instance_id,
            "region": self.region,
            "counts": self.counts,
            "actions": [a.to_json() for a in self.actions] if with_actions else [],
            "managed_users": self.managed_users,
        }
        if self.held_because:
            out["held_because"] = list(self.held_because)
        if self.error:
            out["error"] = capped(self.error)
        if self.busy:
            out["busy"] = True
        if self.ownership is not None:
            out.update(self.ownership.to_json())
        return out


@dataclass(frozen=True)
class MismatchRecord:
    """A mismatch as reported: ``instance_id`` is None when no instance is involved."""

    kind: MismatchKind
    username: str
    connect_username: str | None
    source_id: str | None
    detail: str
    instance_id: str | None = None

    @classmethod
    def of(cls, mismatch: Mismatch, instance_id: str | None = None) -> MismatchRecord:
        return cls(
            mismatch.kind,
            mismatch.username,
            mismatch.connect_username,
            mismatch.source_id,
            mismatch.detail,
            instance_id,
        )

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> MismatchRecord:
        """Read back what ``to_json`` wrote (for instance from the results table)."""
        return cls(
            MismatchKind(str(item["kind"])),
            str(item.get("username") or ""),
            item.get("connect_username") or None,
            item.get("source_id") or None,
            str(item.get("detail") or ""),
            item.get("instance_id") or None,
        )

    @property
    def key(self) -> str:
        return mismatch_key(
            self.kind.value, self.instance_id, self.source_id, self.username, self.connect_username
        )

    @property
    def explained(self) -> str:
        """The detail with who and where, for a message to a person."""
        return describe(self.detail, source_id=self.source_id, instance_id=self.instance_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "username": capped(self.username),
            "connect_username": capped_value(self.connect_username),
            "source_id": capped_value(self.source_id),
            "detail": capped(self.detail),
            "instance_id": self.instance_id,
        }


@dataclass(frozen=True)
class OpenMismatch:
    """A mismatch still open in the results table, with when it was first and last seen."""

    record: MismatchRecord
    first_seen_at: str | None = None
    first_seen_run_id: str | None = None
    last_seen_at: str | None = None
    run_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            **self.record.to_json(),
            "key": self.record.key,
            "first_seen_at": self.first_seen_at,
            "first_seen_run_id": self.first_seen_run_id,
            "last_seen_at": self.last_seen_at,
            "run_id": self.run_id,
        }


@dataclass(frozen=True)
class SourceReport:
    """How the directory read went."""

    type: str
    users_in_scope: int = 0
    complete: bool = False
    groups: Mapping[str, int] = field(default_factory=dict)  # members per group label
    error_count: int = 0  # problems of the read (rows or groups with errors), exactly
    read_failed: bool = False  # nothing could be read at all

    def __post_init__(self) -> None:
        object.__setattr__(self, "groups", MappingProxyType(dict(self.groups)))

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "users_in_scope": self.users_in_scope,
            "complete": self.complete,
            "groups": dict(self.groups),
            "error_count": self.error_count,
            "read_failed": self.read_failed,
        }


@dataclass(frozen=True)
class RunReport(Mapping[str, Any]):
    """One run, as the contract reports it. Frozen; derived facts are properties.

    ``errors`` are the problems of the run itself; ``errors_after_run`` are those met while
    recording or alerting once the work was done. Both are reported under ``errors``.
    """

    run_id: str
    dry_run: bool
    started_at: str
    finished_at: str
    source: SourceReport
    targets: tuple[TargetReport, ...] = ()
    mismatches: tuple[MismatchRecord, ...] = ()
    errors: tuple[str, ...] = ()
    trigger: str = "cli"
    users: tuple[str, ...] = ()  # the --user filter; empty for a full run
    errors_after_run: tuple[str, ...] = ()
    users_not_found: tuple[str, ...] = ()  # --user values that matched nobody in scope
    # The run stopped on an unexpected error (its message is in ``errors``).
    aborted: bool = False
    # Earlier runs found still "running" after their heartbeat stopped, now marked interrupted.
    interrupted_runs: tuple[str, ...] = ()
    # Found before any write: something the run relies on is missing (the alerts topic).
    setup_errors: tuple[str, ...] = ()

    # ----------------------------------------------------------------- derived facts

    @property
    def status(self) -> RunStatus:
        """The run's status, from the facts, in the contract's order of precedence."""
        if self.targets and all(t.busy for t in self.targets):
            return RunStatus.BUSY
        if self.aborted or not self.source.complete:
            return RunStatus.FAILED
        # A plan is only "planned" when every target was read and every --user was found.
        incomplete = any(t.error for t in self.targets) or bool(self.users_not_found)
        if self.dry_run:
            return RunStatus.PARTIAL if incomplete else RunStatus.PLANNED
        if any(t.refused for t in self.targets):
            return RunStatus.REFUSED
        if any(t.busy for t in self.targets):
            return RunStatus.BUSY
        unfinished = any(a.unfinished for t in self.targets for a in t.actions)
        if unfinished or incomplete or self.errors_after_run or self.setup_errors:
            return RunStatus.PARTIAL
        return RunStatus.SUCCEEDED

    @property
    def all_errors(self) -> tuple[str, ...]:
        """Every error message, uncapped (``listed_errors`` is what a person is shown)."""
        return self.setup_errors + self.errors + self.errors_after_run

    @property
    def error_count(self) -> int:
        return len(self.all_errors)

    @property
    def listed_errors(self) -> list[str]:
        """The first errors, each capped, and a line saying how many more there are."""
        return listed(self.all_errors)

    @property
    def held_actions(self) -> tuple[tuple[TargetReport, ActionOutcome], ...]:
        """Every held action with the target it belongs to."""
        return tuple((t, a) for t in self.targets for a in t.actions if a.held)

    @property
    def held(self) -> int:
        return len(self.held_actions)

    @property
    def failed(self) -> int:
        return sum(t.failed for t in self.targets)

    @property
    def safety_stop(self) -> bool:
        """A safety rule kept the run from doing its whole job (an adoption waiting for its
        approval is no stop: it waits for a person by design): a person should look."""
        waiting = any(a.kind != ActionKind.ADOPT for _, a in self.held_actions)
        return self.status in (RunStatus.REFUSED, RunStatus.FAILED) or waiting

    def with_errors_after_run(self, *messages: str) -> RunReport:
        """The same report with problems met after the work (recording, alerting)."""
        return replace(self, errors_after_run=self.errors_after_run + messages)

    # ----------------------------------------------------------------- the document

    def to_json(self, *, with_actions: bool = True) -> dict[str, Any]:
        """The contract's run report: a fresh, JSON-ready document.

        A large report is better written with ``report_json.iter_json``, which gives the
        same text without building the document.
        """
        return {
            "run_id": self.run_id,
            "status": self.status.value,
            "dry_run": self.dry_run,
            "trigger": self.trigger,
            "users": list(self.users),
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "source": self.source.to_json(),
            "targets": [t.to_json(with_actions=with_actions) for t in self.targets],
            "mismatches": [m.to_json() for m in self.mismatches],
            "errors": self.listed_errors,
            "error_count": self.error_count,
            "users_not_found": list(self.users_not_found),
            "interrupted_runs": list(self.interrupted_runs),
        }

    @functools.cached_property
    def _document(self) -> dict[str, Any]:
        return self.to_json()

    def __getitem__(self, key: str) -> Any:
        return self._document[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._document)

    def __len__(self) -> int:
        return len(self._document)
