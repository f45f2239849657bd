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

# The report speaks in the names people see in the Connect console, not in ids.
_NAMED_FIELDS = {
    "security_profile_ids": "security_profiles",
    "routing_profile_id": "routing_profile",
    "hierarchy_group_id": "hierarchy_group",
}
_UNFINISHED = frozenset({ActionStatus.PLANNED, ActionStatus.FAILED})


def _named(value: object, names: Mapping[str, str]) -> object:
    if isinstance(value, list):
        return sorted(names.get(v, v) for v in value)
    if isinstance(value, str):
        return names.get(value, value)
    return value


@dataclass(frozen=True)
class ActionOutcome:
    """One action of a run and what became of it. ``changes`` use the report's field names."""

    kind: ActionKind
    username: str
    source_id: str | None
    user_id: str | None
    status: ActionStatus
    error: str | None = None
    changes: Mapping[str, Change] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "changes", MappingProxyType(dict(self.changes)))

    @classmethod
    def of(cls, action: SyncAction, names: Mapping[str, str]) -> ActionOutcome:
        """The outcome of a planned (and maybe applied) action, Connect ids shown as names."""
        changes: dict[str, Change] = {}
        for name, change in action.changes.items():
            if name in _NAMED_FIELDS:
                changes[_NAMED_FIELDS[name]] = Change(
                    _named(change.before, names), _named(change.after, names)
                )
            else:
                changes[name] = change
        return cls(
            action.kind,
            action.username,
            action.source_id,
            action.user_id,
            action.status,
            action.error,
            changes,
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
            "username": self.username,
            "source_id": self.source_id,
            "user_id": self.user_id,
            "changes": {
                name: {"from": change.before, "to": change.after}
                for name, change in self.changes.items()
            },
            "status": self.status.value,
            "error": self.error,
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

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "instance_id": self.instance_id,
            "region": self.region,
            "counts": self.counts,
            "actions": [a.to_json() for a in self.actions],
            "managed_users": self.managed_users,
        }
        if self.held_because:
            out["held_because"] = list(self.held_because)
        if self.error:
            out["error"] = self.error
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
            "username": self.username,
            "connect_username": self.connect_username,
            "source_id": self.source_id,
            "detail": self.detail,
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

    def __post_init__(self) -> None:
        object.__setattr__(self, "groups", MappingProxyType(dict(self.groups)))

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "users_in_scope": self.users_in_scope,
            "complete": self.complete,
            "groups": dict(self.groups),
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

    # ----------------------------------------------------------------- derived facts

    @property
    def status(self) -> RunStatus:
        """The run's status, from the facts, in the contract's order of precedence."""
        if not self.source.complete:
            return RunStatus.FAILED
        if self.dry_run:
            return RunStatus.PLANNED
        if any(t.refused for t in self.targets):
            return RunStatus.REFUSED
        unfinished = any(a.unfinished for t in self.targets for a in t.actions)
        if unfinished or any(t.error for t in self.targets) or self.errors_after_run:
            return RunStatus.PARTIAL
        return RunStatus.SUCCEEDED

    @property
    def all_errors(self) -> tuple[str, ...]:
        return self.errors + self.errors_after_run

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
        """A safety rule kept the run from doing its whole job: a person should look."""
        return self.status in (RunStatus.REFUSED, RunStatus.FAILED) or self.held > 0

    def with_errors_after_run(self, *messages: str) -> RunReport:
        """The same report with problems met after the work (recording, alerting)."""
        return replace(self, errors_after_run=self.errors_after_run + messages)

    # ----------------------------------------------------------------- the document

    def to_json(self) -> dict[str, Any]:
        """The contract's run report: a fresh, JSON-ready document."""
        return {
            "run_id": self.run_id,
            "status": self.status.value,
            "dry_run": self.dry_run,
            "trigger": self.trigger,
            "users": list(self.users),
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "source": self.source.to_json(),
            "targets": [t.to_json() for t in self.targets],
            "mismatches": [m.to_json() for m in self.mismatches],
            "errors": list(self.all_errors),
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
