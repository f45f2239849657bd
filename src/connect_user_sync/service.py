"""The sync service: one run of source -> plan -> safety gate -> apply -> report.

Phases are kept apart on purpose: everything that can reject the configuration (group
names, Connect profile names in every target) is resolved before the first write, so a
configuration error never leaves a run half done.

The service talks to the directory, Connect, the results store and the alerter through
the ports in ``connect_user_sync.ports``; it builds the typed ``RunReport`` once the work
is done. The weekly ``remind`` use case lives here too.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from connect_user_sync.config import Config, ConfigError, TargetConfig
from connect_user_sync.config.resolve import resolve
from connect_user_sync.connect import (
    ConnectInstance,
    RateLimiter,
    ThrottleRegistry,
    connect_client,
    quota_scope,
    rate_multiplier,
)
from connect_user_sync.connect.throttle import SLOW_RATE
from connect_user_sync.domain.models import (
    ActionStatus,
    ConnectUser,
    DirectorySnapshot,
    RunStatus,
    SyncAction,
    TargetPlan,
)
from connect_user_sync.domain.ownership import Ledger
from connect_user_sync.domain.planner import PlanPolicy
from connect_user_sync.domain.report import MismatchRecord, RunReport, TargetReport
from connect_user_sync.domain.settings import ResolvedRule
from connect_user_sync.errors import PermanentError, TransientError
from connect_user_sync.on_demand import OnDemand, TargetRead
from connect_user_sync.ownership import OwnershipRecorder, chained, read_ledger_error
from connect_user_sync.phases import (
    DirectoryRead,
    TargetOutcome,
    build_report,
    defer_beyond,
    pass_budget,
    plan_and_gate,
    read_directory,
)
from connect_user_sync.ports import (
    Alerter,
    ConnectTarget,
    DirectorySource,
    OpenMismatches,
    OwnershipLedger,
    Reminder,
    RunStore,
)
from connect_user_sync.safeguards import RunGuard

log = logging.getLogger(__name__)

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_REFUSED, EXIT_DIRECTORY = 0, 1, 2, 3, 4
EXIT_FOR_STATUS = {
    RunStatus.PLANNED: EXIT_OK,
    RunStatus.SUCCEEDED: EXIT_OK,
    RunStatus.PARTIAL: EXIT_PARTIAL,
    RunStatus.REFUSED: EXIT_REFUSED,
    RunStatus.FAILED: EXIT_DIRECTORY,
    RunStatus.BUSY: EXIT_PARTIAL,  # another run held a target; nothing changed there
}

Progress = Callable[[str, int, int], None]
# Builds the port to one target; the limiter is shared by targets in one quota scope.
ConnectFactory = Callable[[TargetConfig, RateLimiter], ConnectTarget]


@dataclass(frozen=True)
class RunRequest:
    """What one run is asked to do (the CLI flags, or the Lambda event)."""

    dry_run: bool = False
    users: tuple[str, ...] = ()
    approve_deprovision: bool = False
    deadline: float | None = None  # a time.monotonic() value; no new write starts after it
    trigger: str = "cli"
    run_id: str | None = None  # given by callers that log under the id before the run starts
    approve_adoption: bool = False  # a person approved this run's adoptions (domain.adoption)


@dataclass(frozen=True)
class RunOutcome:
    """The run's report and the exit code the contract gives its status."""

    report: RunReport
    new_mismatches: int = 0  # first seen by this run (alerted), for the NewMismatches metric

    @property
    def exit_code(self) -> int:
        return EXIT_FOR_STATUS[self.report.status]


@dataclass
class _Target:
    config: TargetConfig
    instance: ConnectTarget | None = None
    users: list[ConnectUser] = field(default_factory=list)
    rules: list[ResolvedRule] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)  # Connect id -> name, for reports
    policy: PlanPolicy | None = None
    plan: TargetPlan | None = None
    error: str | None = None
    ledger: Ledger | None = None  # the tool's ownership records (None: no results table)
    ownership_errors: list[str] = field(default_factory=list)
    on_demand: TargetRead | None = None  # what a --user run looked up (on_demand)

    @property
    def label(self) -> str:
        return f"{self.config.region}/{self.config.instance_id}"

    @property
    def scope(self) -> str:
        return quota_scope(self.config.region, self.config.account_id or self.config.role_arn)

    def report(self) -> TargetReport:
        return TargetReport.of(
            self.config.instance_id,
            self.config.region,
            self.plan,
            names=self.names,
            error=self.error,
        )


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def new_run_id() -> str:
    # Sortable by time, unique by the random tail.
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:10]}"


def default_connect(target: TargetConfig, limiter: RateLimiter) -> ConnectTarget:
    """The boto3 adapter for one target (endpoint and credentials from the AWS config)."""
    client = connect_client(target.region, role_arn=target.role_arn, external_id=target.external_id)
    return ConnectInstance(client, target.instance_id, limiter=limiter)


def run_sync(
    config: Config,
    request: RunRequest,
    *,
    store: RunStore | None = None,
    alerter: Alerter | None = None,
    source: DirectorySource | None = None,
    connect: ConnectFactory | None = None,
    progress: Progress | None = None,
    ledger: OwnershipLedger | None = None,
) -> RunOutcome:
    """Run one sync and return the contract's run report with its exit code.

    ``ledger`` holds the tool's record of the users it manages (the results table; see
    ``domain.ownership``); without it ownership rests on the tags and nothing is deleted.

    Raises ``ConfigError`` (exit 2) before any write when the configuration does not fit
    the directory or a Connect instance.
    """
    started = now_iso()
    run_id = request.run_id or new_run_id()
    notify = progress or (lambda phase, done, total: None)
    guard = RunGuard(run_id)
    targets = [_Target(t) for t in config.targets]
    directory = DirectoryRead(None)
    errors: list[str] = []
    mismatches: list[MismatchRecord] = []
    not_found: tuple[str, ...] = ()
    aborted = False
    try:
        # Checks, interrupted runs, the run's item and a lease per target (safeguards).
        guard = RunGuard.open(
            config,
            run_id=run_id,
            started=started,
            dry_run=request.dry_run,
            trigger=request.trigger,
            users=request.users,
            store=store,
            alerter=alerter,
        )
        for target in targets:
            target.error = guard.busy_message(target.config)
            if target.error:
                errors.append(target.error)

        # Phase 1: the directory (phases.read_directory, shared with the workflow's read step).
        if not guard.all_busy:
            notify("Reading the directory", 0, 0)
            directory = read_directory(
                config,
                store=store,
                source=source,
                deadline=request.deadline,
                users=request.users,
            )
            errors.extend(directory.errors)
        snapshot = directory.snapshot
        demand = OnDemand.start(config, request.users, snapshot, source, deadline=request.deadline)

        # Phase 2: every target's catalog and users, and the configuration resolved against them.
        if snapshot is not None:
            throttles = ThrottleRegistry.from_environment()  # one per run, shared by its targets
            for index, target in enumerate(targets):
                if target.error:  # busy: another run holds it
                    continue
                notify(f"Reading Connect {target.config.instance_id}", index, len(targets))
                _read_target(
                    target,
                    config,
                    connect or default_connect,
                    throttles,
                    index,
                    ledger=ledger,
                    demand=demand,
                )
                if target.error:
                    errors.append(target.error)
                if target.on_demand is not None:
                    errors.extend(target.on_demand.errors)

        # Phase 3: plans, mismatches and the safety gate.
        for target in targets:
            mismatches.extend(_plan(target, config, directory, request, started))
        not_found = _users_not_found(request.users, snapshot, targets)

        # Phase 4: apply, each finished action recorded as it completes.
        guard.number_actions([t.plan.actions for t in targets if t.plan is not None])
        for target in targets:
            try:
                _apply_plan(target, config, request, notify, guard, ledger=ledger, run_id=run_id)
            except Exception as exc:  # one target's failure never stops the others
                log.exception("applying to %s stopped on an unexpected error", target.label)
                target.error = (
                    f"Connect instance {target.label}: the apply stopped on an unexpected "
                    f"error: {type(exc).__name__}: {exc}"
                )
                errors.append(target.error)
            errors.extend(target.ownership_errors)
    except ConfigError as exc:
        guard.end_without_report(RunStatus.FAILED, str(exc))
        raise
    except Exception as exc:  # the run has started: it still ends with a report, recorded
        log.exception("run %s stopped on an unexpected error", run_id)
        aborted = True
        errors.append(f"the run stopped on an unexpected error: {type(exc).__name__}: {exc}")
    except BaseException:
        guard.end_without_report(
            RunStatus.INTERRUPTED, "interrupted (Ctrl-C or a signal) before it had finished"
        )
        raise

    try:
        return finish_run(
            config,
            request,
            directory,
            [t.report() for t in targets],
            mismatches,
            run_id=run_id,
            started=started,
            errors=errors,
            users_not_found=not_found,
            store=store,
            alerter=alerter,
            guard=guard,
            aborted=aborted,
        )
    finally:
        guard.release()  # only once the run is recorded: the next run must see it


# --------------------------------------------------------------------------- workflow phases
# run_sync above is these phases in one go. The Step Functions workflow
# (connect_user_sync.orchestration) calls them as separate Lambda steps: check_targets
# before any write, apply_target per target until nothing is left for the deadline, and
# finish_run once, with the directory read once by phases.read_directory.


def check_targets(config: Config, *, connect: ConnectFactory | None = None) -> tuple[str, ...]:
    """Resolve the configuration against every target's catalog before any write.

    Raises ``ConfigError`` like ``run_sync``; returns the errors of targets that could not
    be read (those are reported again by their own apply step).
    """
    throttles = ThrottleRegistry.from_environment()
    errors: list[str] = []
    for index, target_config in enumerate(config.targets):
        target = _Target(target_config)
        _read_target(target, config, connect or default_connect, throttles, index, users=False)
        if target.error:
            errors.append(target.error)
    return tuple(errors)


def apply_target(
    config: Config,
    directory: DirectoryRead,
    index: int,
    request: RunRequest,
    *,
    started: str,
    connect: ConnectFactory | None = None,
    progress: Progress | None = None,
    ledger: OwnershipLedger | None = None,
) -> TargetOutcome:
    """Phases 2 to 4 for ``config.targets[index]``: read it, plan, gate, apply until
    ``request.deadline``.

    Every pass plans from live state, so what an earlier pass applied is in step and what
    it left is planned again: call it again while ``work_left``. Raises ``ConfigError``.
    """
    target = _Target(config.targets[index])
    if directory.snapshot is not None:
        throttles = ThrottleRegistry.from_environment()
        demand = OnDemand.start(
            config, request.users, directory.snapshot, deadline=request.deadline
        )
        _read_target(
            target,
            config,
            connect or default_connect,
            throttles,
            index,
            ledger=ledger,
            demand=demand,
        )
    mismatches = _plan(target, config, directory, request, started)
    deferred: list[SyncAction] = []  # creates the quota cannot start before the deadline
    if target.plan is not None and request.deadline is not None and not request.dry_run:
        rate = SLOW_RATE * rate_multiplier()  # CreateUser's quota, per account and Region
        left = request.deadline - time.monotonic()
        deferred = defer_beyond(target.plan, pass_budget(left, rate))
    notify = progress or (lambda phase, done, total: None)
    _apply_plan(target, config, request, notify, ledger=ledger, run_id=request.run_id or "")
    if target.plan is not None:
        target.plan.actions.extend(deferred)
    for problem in target.ownership_errors:
        log.warning("%s", problem)
    for problem in target.on_demand.errors if target.on_demand else ():
        log.warning("%s", problem)  # the plan already holds what they leave in doubt
    return TargetOutcome(
        target.report(),
        tuple(mismatches),
        _users_not_found(request.users, directory.snapshot, [target]),
        dry_run=request.dry_run,
    )


def finish_run(
    config: Config,
    request: RunRequest,
    directory: DirectoryRead,
    targets: Sequence[TargetReport],
    mismatches: Sequence[MismatchRecord],
    *,
    run_id: str,
    started: str,
    errors: Sequence[str] = (),
    users_not_found: Sequence[str] = (),
    store: RunStore | None = None,
    alerter: Alerter | None = None,
    guard: RunGuard | None = None,
    aborted: bool = False,
) -> RunOutcome:
    """The run report from every target's result, recorded and alerted once.

    ``guard`` adds busy targets, interrupted runs and setup problems; ``aborted`` says the
    run stopped on an unexpected error (status ``failed``).
    """
    report = build_report(
        config,
        directory,
        targets,
        mismatches,
        run_id=run_id,
        started=started,
        finished=now_iso(),
        dry_run=request.dry_run,
        trigger=request.trigger,
        users=request.users,
        errors=errors,
        users_not_found=users_not_found,
    )
    if aborted:
        report = dataclasses.replace(report, aborted=True)
    if guard is not None:
        report = guard.annotate(report)
    return RunOutcome(*_record_and_alert(report, store, alerter))


# --------------------------------------------------------------------------- phases


def _progress_counter(
    notify: Progress, plan: TargetPlan, label: str
) -> Callable[[SyncAction], None]:
    total = sum(1 for a in plan.actions if a.status == ActionStatus.PLANNED)
    done = 0
    lock = threading.Lock()
    if total:
        notify(f"Applying to {label}", 0, total)  # the clock for the time left starts here

    def step(_: SyncAction) -> None:
        nonlocal done
        with lock:
            done += 1
            notify(f"Applying to {label}", done, total)

    return step


def _plan(
    target: _Target, config: Config, directory: DirectoryRead, request: RunRequest, started: str
) -> list[MismatchRecord]:
    if target.policy is None:
        return []
    target.plan, records = plan_and_gate(
        config,
        directory,
        instance_id=target.config.instance_id,
        region=target.config.region,
        rules=target.rules,
        policy=target.policy,
        connect_users=target.users,
        started=started,
        users=request.users,
        approve_deprovision=request.approve_deprovision,
        approve_adoption=request.approve_adoption,
        ledger=target.ledger,
        looked_up=target.on_demand,
    )
    return records


def _apply_plan(
    target: _Target,
    config: Config,
    request: RunRequest,
    notify: Progress,
    guard: RunGuard | None = None,
    *,
    ledger: OwnershipLedger | None = None,
    run_id: str = "",
) -> None:
    if request.dry_run or target.plan is None or target.instance is None:
        return
    # Ownership records: pending before a create's first call, a record once it succeeded.
    recorder = None
    hooks: dict[str, Callable[[SyncAction], None]] = {}
    if ledger is not None and target.ledger is not None:
        recorder = OwnershipRecorder(ledger, target.config.instance_id, run_id)
        recorder.prepare(target.plan)
        hooks["announce"] = recorder.announce
    on_done = _progress_counter(notify, target.plan, target.config.instance_id)
    if guard is not None:  # each finished action's item is written as it completes
        on_done = guard.on_done(target.config, target.names, on_done)
    try:
        target.instance.apply(
            target.plan.actions,
            deadline=request.deadline,
            adopt_existing=False,  # a taken username is adopted only as planned and approved
            on_done=chained(recorder.on_done if recorder else None, on_done),
            **hooks,
        )
    finally:
        if recorder is not None:
            recorder.finish(target.plan)
            target.ownership_errors.extend(recorder.errors)


def _read_target(
    target: _Target,
    config: Config,
    connect: ConnectFactory,
    throttles: ThrottleRegistry,
    index: int,
    *,
    users: bool = True,
    ledger: OwnershipLedger | None = None,
    demand: OnDemand | None = None,
) -> None:
    try:
        target.instance = connect(target.config, throttles.limiter(target.scope))
        catalog = target.instance.catalog()
        target.names = catalog.names_by_id()
        target.rules, target.policy = resolve(config, catalog, index)
        if users and demand is not None:  # --user: only what the named users' plan needs
            target.on_demand = demand.read_target(target.instance)
            target.users = target.on_demand.users
        elif users:  # check_targets only resolves the configuration
            target.users = target.instance.read_users()
        if users and ledger is not None:
            try:
                target.ledger = ledger.owned_users(target.config.instance_id)
            except Exception as exc:  # never fall back to trusting tags: skip the target
                target.error = read_ledger_error(target.label, exc)
    except ConfigError:
        raise
    except (PermanentError, TransientError) as exc:
        target.error = f"Connect instance {target.label} could not be read: {exc}"
    except Exception as exc:  # credentials, endpoints: say what failed, keep other targets going
        target.error = (
            f"Connect instance {target.label} could not be read: {type(exc).__name__}: {exc}"
        )
    if target.error:
        target.policy = None


def _users_not_found(
    wanted: Sequence[str], snapshot: DirectorySnapshot | None, targets: Sequence[_Target]
) -> tuple[str, ...]:
    """The ``--user`` values that name no directory user in scope and no managed user.

    Judged on what was read: without a directory snapshot nothing can be said.
    """
    if not wanted or snapshot is None:
        return ()
    known: set[str] = set()
    for user in snapshot.users:
        known.add(user.source_id)
        known.update(v for v in user.attributes.values() if v)
    for target in targets:
        for connect_user in target.users:
            if connect_user.managed:
                known.add(connect_user.username)
                known.add(connect_user.source_id or "")
    return tuple(dict.fromkeys(v for v in wanted if v not in known))


def _record_and_alert(
    report: RunReport, store: RunStore | None, alerter: Alerter | None
) -> tuple[RunReport, int]:
    """Record the run and alert; the report, and how many of its mismatches were new.

    A failure here is reported in the run, never swallowed.
    """
    new: Sequence[MismatchRecord] = report.mismatches
    if store is not None:
        try:
            known = set(store.open_mismatch_keys())
            new = [m for m in report.mismatches if m.key not in known]
            store.record(report)
        except Exception as exc:
            report = report.with_errors_after_run(
                f"the run could not be recorded in DynamoDB: {exc}"
            )
    if alerter is not None:
        try:
            alerter.notify(report, new)
        except Exception as exc:
            report = report.with_errors_after_run(f"the alert could not be sent: {exc}")
    return report, 0 if report.dry_run else len(new)


# --------------------------------------------------------------------------- remind


@dataclass(frozen=True)
class ReminderOutcome:
    open_mismatches: int
    sent: bool


def remind(store: OpenMismatches, reminder: Reminder) -> ReminderOutcome:
    """The weekly reminder: tell people about every mismatch still open."""
    still_open = store.open_mismatch_records()
    return ReminderOutcome(len(still_open), reminder.send_reminder(still_open))


__all__ = [
    "EXIT_FOR_STATUS",
    "ConnectFactory",
    "DirectoryRead",
    "ReminderOutcome",
    "RunOutcome",
    "RunRequest",
    "TargetOutcome",
    "apply_target",
    "check_targets",
    "default_connect",
    "finish_run",
    "new_run_id",
    "read_directory",
    "remind",
    "run_sync",
]
