"""Keeping the tool's ownership records in step with what one apply does to one target.

Before a create's (or an adoption's) first Connect call, it is *announced*: a pending
record goes to the results table, together with the next planned creates (a batch of 25,
one ``BatchWriteItem``), so the cost is one write per 25 creates and nothing is announced
long before it starts. As each action ends its outcome changes the records (a create or
adoption that succeeded is recorded, a delete forgets the user, a failure drops the pending
item); at the end, creates a killed run left unrecorded (``TargetPlan.confirm``) are
recorded and the pending items of announced actions that never started are dropped. Record
writes are batched too and never stop the apply: a write that fails is reported, and the
pending item it leaves lets the next run finish the job. An announcement that fails fails
its action before anything is sent to Connect.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from connect_user_sync.domain.adoption import KEPT_FIELD
from connect_user_sync.domain.models import (
    ActionKind,
    ActionStatus,
    OwnedRecord,
    PendingRecord,
    SyncAction,
    TargetPlan,
)
from connect_user_sync.domain.ownership import ADOPTED, CREATED
from connect_user_sync.errors import PermanentError
from connect_user_sync.ports import OwnershipLedger

BATCH = 25
_ANNOUNCED = (ActionKind.CREATE, ActionKind.ADOPT)


def read_ledger_error(instance_label: str, exc: Exception) -> str:
    return (
        f"Connect instance {instance_label}: this tool's ownership records could not be read "
        f"from the results table ({type(exc).__name__}: {exc}); nothing was planned for it, "
        "because without them a tag written by anybody would count as proof"
    )


@dataclass
class OwnershipRecorder:
    """The ownership writes of one target's apply. Its hooks may be called from threads."""

    ledger: OwnershipLedger
    instance_id: str
    run_id: str
    errors: list[str] = field(default_factory=list)
    _upcoming: list[SyncAction] = field(default_factory=list)
    _next: int = 0
    _announced: set[str] = field(default_factory=set)
    _records: list[OwnedRecord] = field(default_factory=list)
    _forget: list[str] = field(default_factory=list)
    _settled: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def prepare(self, plan: TargetPlan) -> None:
        """Note the planned creates and adoptions, in plan order, to announce in batches."""
        self._upcoming = [
            a for a in plan.actions if a.kind in _ANNOUNCED and a.status == ActionStatus.PLANNED
        ]
        self._next = 0

    def announce(self, action: SyncAction) -> None:
        """Before ``action``'s first call: make sure its pending record is written."""
        with self._lock:
            if action.username in self._announced:
                return
            batch = [action]
            while len(batch) < BATCH and self._next < len(self._upcoming):
                upcoming = self._upcoming[self._next]
                self._next += 1
                if upcoming is not action and upcoming.username not in self._announced:
                    batch.append(upcoming)
            pending = [
                PendingRecord(a.username, a.source_id or "", _how(a), _kept(a)) for a in batch
            ]
            try:
                self.ledger.write_pending(self.instance_id, pending, self.run_id)
            except Exception as exc:
                raise PermanentError(
                    "not started: the results table did not take the pending ownership record "
                    f"({type(exc).__name__}: {exc}); the next run tries again",
                    code="OwnershipRecordUnwritten",
                ) from exc
            self._announced.update(a.username for a in batch)

    def on_done(self, action: SyncAction) -> None:
        """One action ended: change the records accordingly."""
        with self._lock:
            if action.kind in _ANNOUNCED:
                if action.status == ActionStatus.APPLIED and action.user_id:
                    self._records.append(
                        OwnedRecord(
                            action.user_id,
                            action.username,
                            action.source_id or "",
                            _how(action),
                            self.run_id,
                            _kept(action),
                        )
                    )
                    self._settled.append(action.username)
                elif action.status == ActionStatus.FAILED:
                    self._settled.append(action.username)
            elif (
                action.kind == ActionKind.DELETE
                and action.status == ActionStatus.APPLIED
                and action.user_id
            ):
                self._forget.append(action.user_id)
            if len(self._records) + len(self._forget) + len(self._settled) >= BATCH:
                self._flush()

    def finish(self, plan: TargetPlan) -> None:
        """Record confirmed creates; drop the pending items of actions that never started."""
        with self._lock:
            self._records.extend(plan.confirm)
            self._settled.extend(r.username for r in plan.confirm)
            self._settled.extend(
                a.username
                for a in self._upcoming
                if a.status == ActionStatus.PLANNED and a.username in self._announced
            )
            self._flush()

    def _flush(self) -> None:
        if not (self._records or self._forget or self._settled):
            return
        try:
            self.ledger.write(
                self.instance_id,
                self.run_id,
                records=list(self._records),
                forget=list(self._forget),
                settled=list(self._settled),
            )
        except Exception as exc:  # the pending items left behind let the next run finish
            self.errors.append(
                f"Connect instance {self.instance_id}: {len(self._records)} ownership "
                f"record(s) could not be written to the results table ({type(exc).__name__}: "
                f"{exc}); the next run records them from their pending items"
            )
        self._records.clear()
        self._forget.clear()
        self._settled.clear()


def chained(
    *callbacks: Callable[[SyncAction], None] | None,
) -> Callable[[SyncAction], None]:
    """One ``on_done`` that calls each of ``callbacks`` in turn."""
    present = [c for c in callbacks if c is not None]

    def call(action: SyncAction) -> None:
        for callback in present:
            callback(action)

    return call


def _how(action: SyncAction) -> str:
    return ADOPTED if action.kind == ActionKind.ADOPT else CREATED


def _kept(action: SyncAction) -> frozenset[str]:
    change = action.changes.get(KEPT_FIELD)
    if change is None or not isinstance(change.before, list):
        return frozenset()
    return frozenset(str(i) for i in change.before)
