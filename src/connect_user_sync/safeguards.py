"""What keeps a run safe around its work: checks first, one run per target, a trail that
survives a kill.

``RunGuard.open`` runs before anything is read or written:

1. **Checks.** The results table is described (missing or forbidden: ``ConfigError``, exit
   2, nothing done: without it there is neither history nor lease). The alerts topic is
   looked up: missing or forbidden, the run still syncs, but ends ``partial`` (exit 1) with
   the problem in its errors, because it could not tell anybody about a safety stop.
2. **Interrupted runs.** Runs still ``running`` whose heartbeat stopped are marked
   ``interrupted``; this run lists them (``interrupted_runs``) and alerts.
3. **The run's item** is written with status ``running`` (``audit.DynamoRunJournal``).
4. **Leases**, one per target, for runs that may write (not for plans, which write
   nothing to Connect; ``lease.DynamoLeases``). A target whose lease another run holds is
   left alone: ``busy``.
5. A keeper thread renews the leases and the heartbeat until the run has been recorded.

Without a results table (or with a store that is not DynamoDB, as in some tests) all of
this is skipped: no checks of the table, no lease, no trail.

``read_within_budget`` bounds the directory read: it gets a deadline and a shared retry
budget (``retry.retry_scope``), and a read that still has not returned when the deadline
has passed is abandoned as incomplete.
"""

from __future__ import annotations

import contextvars
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from connect_user_sync.audit import ActionLog, DynamoRunJournal, run_so_far
from connect_user_sync.config import Config, ConfigError, TargetConfig
from connect_user_sync.domain.models import DirectorySnapshot, GroupRule, RunStatus, SyncAction
from connect_user_sync.domain.report import ActionOutcome, RunReport
from connect_user_sync.errors import DirectoryReadError
from connect_user_sync.lease import DynamoLeases, Holder, LeaseKeeper, lease_key, lease_settings
from connect_user_sync.ports import Alerter, DirectorySource, RunStore
from connect_user_sync.retry import retry_scope
from connect_user_sync.store import DynamoRunStore

log = logging.getLogger(__name__)

READ_BUDGET_ENV = "DIRECTORY_READ_SECONDS"
DEFAULT_READ_BUDGET = 600.0
# Of the time left before the run's deadline, at most this share goes to the directory read:
# the rest is for Connect, the apply, the record and the alert.
READ_SHARE = 0.5
# All the retries of one read wait at most this long together (or half the budget).
READ_RETRY_WAIT = 120.0


# --------------------------------------------------------------------------- the read budget


def read_budget(deadline: float | None, environ: Mapping[str, str] | None = None) -> float:
    """Seconds the directory read may take: ``DIRECTORY_READ_SECONDS`` (600), and never
    more than half the time left before ``deadline`` (a ``time.monotonic`` value)."""
    env = os.environ if environ is None else environ
    raw = env.get(READ_BUDGET_ENV)
    try:
        budget = float(raw) if raw else DEFAULT_READ_BUDGET
    except ValueError:
        budget = -1.0
    if not budget > 0:
        raise ConfigError(
            READ_BUDGET_ENV,
            f"{(raw or '')[:40]!r} is not a number of seconds",
            f"use a positive number of seconds (default {DEFAULT_READ_BUDGET:g}), or unset it",
        )
    if deadline is not None:
        budget = min(budget, max(1.0, (deadline - time.monotonic()) * READ_SHARE))
    return budget


def read_within_budget(
    source: DirectorySource, groups: Sequence[GroupRule], budget: float
) -> DirectorySnapshot:
    """``source.read(groups)``, given ``budget`` seconds in all.

    Inside the read every retry loop shares one budget (no wait past the deadline, at most
    ``READ_RETRY_WAIT`` seconds of waiting in all) and HTTP timeouts are clipped to the
    time left. A read that has still not returned a little after its deadline is abandoned
    (its thread is left to wind down) and raises ``DirectoryReadError``: the run reports
    the directory as unread, deprovisions nobody, and still has time to record and alert.
    """
    deadline = time.monotonic() + budget
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            with retry_scope(deadline=deadline, max_total_wait=min(READ_RETRY_WAIT, budget / 2)):
                outcome["snapshot"] = source.read(groups)
        except BaseException as exc:
            outcome["error"] = exc

    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(work,), name="directory-read", daemon=True)
    thread.start()
    # A little grace: a read that stops at its deadline needs a moment to return its result.
    thread.join(budget + min(10.0, budget * 0.1 + 1.0))
    if thread.is_alive():
        raise DirectoryReadError(
            f"the directory read did not finish within its budget of {budget:.0f} s "
            f"({READ_BUDGET_ENV}); nothing was deprovisioned. The next run reads again"
        )
    if "error" in outcome:
        error = outcome["error"]
        assert isinstance(error, BaseException)
        raise error
    snapshot = outcome["snapshot"]
    assert isinstance(snapshot, DirectorySnapshot)
    return snapshot


# --------------------------------------------------------------------------- the run guard


@dataclass
class RunGuard:
    """The checks, leases, heartbeat and streamed action items of one run (see the module)."""

    run_id: str
    journal: DynamoRunJournal | None = None
    leases: DynamoLeases | None = None
    setup_errors: list[str] = field(default_factory=list)
    interrupted_runs: list[str] = field(default_factory=list)
    busy: dict[str, Holder] = field(default_factory=dict)  # lease key -> holder
    held: list[str] = field(default_factory=list)  # lease keys we hold
    errors: list[str] = field(default_factory=list)  # met while guarding, reported
    keeper: LeaseKeeper | None = None
    action_log: ActionLog | None = None
    _numbers: dict[int, int] = field(default_factory=dict)

    @classmethod
    def open(
        cls,
        config: Config,
        *,
        run_id: str,
        started: str,
        dry_run: bool,
        trigger: str,
        users: tuple[str, ...],
        store: RunStore | None,
        alerter: Alerter | None,
    ) -> RunGuard:
        """Check, sweep, begin, lease (see the module). Raises ``ConfigError`` before any
        write when the results table cannot be used."""
        guard = cls(run_id)
        guard._check_alerts(alerter)
        if not isinstance(store, DynamoRunStore):
            return guard
        seconds, wait = lease_settings()
        journal = DynamoRunJournal(store, heartbeat_seconds=seconds)
        journal.check()
        guard.journal = journal
        try:
            guard.interrupted_runs = journal.sweep(run_id)
        except Exception as exc:
            guard.errors.append(f"earlier runs could not be checked for interruption: {exc}")
        so_far = run_so_far(
            run_id,
            started=started,
            dry_run=dry_run,
            trigger=trigger,
            users=users,
            source=config.source.type,
        )
        journal.begin(so_far)
        guard.action_log = journal.action_log(so_far)
        if not dry_run:
            guard.leases = DynamoLeases(store.client, store.table_name, seconds=seconds, wait=wait)
            guard._take_leases(config.targets)
        guard.keeper = LeaseKeeper(
            guard.leases,
            guard.held,
            run_id,
            interval=max(0.2, seconds / 4),
            beat=lambda: journal.heartbeat(run_id),
            on_error=guard._keeper_error,
        ).start()
        return guard

    # ----------------------------------------------------------------- opening

    def _check_alerts(self, alerter: Alerter | None) -> None:
        check = getattr(alerter, "check", None)
        if not callable(check):
            return
        try:
            problem = check()
        except Exception as exc:  # the check itself failing is no reason to stop a sync
            log.warning("the alerts topic could not be checked: %s", exc)
            return
        if problem:
            self.setup_errors.append(str(problem))

    def _take_leases(self, targets: Sequence[TargetConfig]) -> None:
        assert self.leases is not None
        for target in targets:
            key = lease_key(target.region, target.instance_id)
            if key in self.held or key in self.busy:
                continue
            try:
                holder = self.leases.acquire(key, self.run_id)
            except Exception as exc:  # no lease, no writes to that target
                self.busy[key] = Holder(f"(unknown: {type(exc).__name__}: {exc})"[:200], 0.0)
                continue
            if holder is None:
                self.held.append(key)
            else:
                self.busy[key] = holder

    def _keeper_error(self, message: str) -> None:
        if "lost" in message and message not in self.errors:
            self.errors.append(message)
        log.warning(message)

    # ----------------------------------------------------------------- during the run

    @property
    def all_busy(self) -> bool:
        return bool(self.busy) and not self.held

    def busy_message(self, target: TargetConfig) -> str | None:
        """Why this run leaves ``target`` alone, or None when it holds (or needs no) lease."""
        holder = self.busy.get(lease_key(target.region, target.instance_id))
        if holder is None:
            return None
        return (
            f"Connect instance {target.region}/{target.instance_id} is busy: another "
            f"{holder.describe()}. This run changed nothing there; run again once it is done"
        )

    def number_actions(self, plans: Sequence[Sequence[SyncAction]]) -> None:
        """Give each action the number the run's final record gives it (report order)."""
        number = 0
        for actions in plans:
            for action in actions:
                number += 1
                self._numbers[id(action)] = number

    def on_done(
        self,
        target: TargetConfig,
        names: Mapping[str, str],
        then: Callable[[SyncAction], None],
    ) -> Callable[[SyncAction], None]:
        """``then``, after queueing the finished action's item in the trail."""
        writer = self.action_log
        if writer is None:
            return then
        where = {"instance_id": target.instance_id, "region": target.region}

        def done(action: SyncAction) -> None:
            number = self._numbers.get(id(action))
            if number is not None:
                writer.add(number, {**ActionOutcome.of(action, names).to_json(), **where})
            then(action)

        return done

    # ----------------------------------------------------------------- closing

    def annotate(self, report: RunReport) -> RunReport:
        """The report with what the guard knows: busy targets, interrupted runs, setup and
        trail problems."""
        targets = tuple(
            replace(t, busy=True)
            if lease_key(t.region, t.instance_id) in self.busy and not t.actions
            else t
            for t in report.targets
        )
        self.close_log()
        return replace(
            report,
            targets=targets,
            interrupted_runs=tuple(self.interrupted_runs),
            setup_errors=tuple(self.setup_errors),
            errors_after_run=report.errors_after_run + tuple(self.errors),
        )

    def close_log(self) -> None:
        if self.action_log is not None:
            self.action_log.close()
            self.errors.extend(e for e in self.action_log.errors if e not in self.errors)
            self.action_log = None

    def end_without_report(self, status: RunStatus, error: str) -> None:
        """A configuration error or an interruption: close the item, release the leases."""
        self.close_log()
        if self.journal is not None:
            try:
                self.journal.end_without_report(self.run_id, status, error)
            except Exception as exc:
                log.warning("the run's item could not be closed: %s", exc)
        self.release()

    def release(self) -> None:
        """Stop the keeper and give the leases back (after the run has been recorded)."""
        if self.keeper is not None:
            self.keeper.stop()
            self.keeper = None
        if self.leases is not None:
            for key in self.held:
                try:
                    self.leases.release(key, self.run_id)
                except Exception as exc:  # it expires by itself
                    log.warning("the lease %s could not be released: %s", key, exc)
        self.held.clear()
