"""The sync service: one run of source -> plan -> safety gate -> apply -> report.

Phases are kept apart on purpose: everything that can reject the configuration (group
names, Connect profile names in every target) is resolved before the first write, so a
configuration error never leaves a run half done.

The service talks to the directory, Connect, the results store and the alerter through
the ports in ``connect_user_sync.ports``; it builds the typed ``RunReport`` once the work
is done. The weekly ``remind`` use case lives here too.
"""

from __future__ import annotations

import threading
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
)
from connect_user_sync.domain.models import (
    ActionStatus,
    ConnectUser,
    DirectorySnapshot,
    RunStatus,
    SyncAction,
    TargetPlan,
)
from connect_user_sync.domain.planner import PlanPolicy, in_filter, plan_target, view_directory
from connect_user_sync.domain.report import MismatchRecord, RunReport, SourceReport, TargetReport
from connect_user_sync.domain.safety import SafetyLimits, empty_groups, gate_target
from connect_user_sync.domain.settings import ResolvedRule
from connect_user_sync.errors import DirectoryReadError, PermanentError, TransientError
from connect_user_sync.ports import (
    Alerter,
    ConnectTarget,
    DirectorySource,
    OpenMismatches,
    Reminder,
    RunStore,
)

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_REFUSED, EXIT_DIRECTORY = 0, 1, 2, 3, 4
EXIT_FOR_STATUS = {
    RunStatus.PLANNED: EXIT_OK,
    RunStatus.SUCCEEDED: EXIT_OK,
    RunStatus.PARTIAL: EXIT_PARTIAL,
    RunStatus.REFUSED: EXIT_REFUSED,
    RunStatus.FAILED: EXIT_DIRECTORY,
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


@dataclass(frozen=True)
class RunOutcome:
    """The run's report and the exit code the contract gives its status."""

    report: RunReport

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

    @property
    def label(self) -> str:
        return f"{self.config.region}/{self.config.instance_id}"

    @property
    def scope(self) -> str:
        return quota_scope(self.config.region, self.config.account_id or self.config.role_arn)


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
) -> RunOutcome:
    """Run one sync and return the contract's run report with its exit code.

    Raises ``ConfigError`` (exit 2) before any write when the configuration does not fit
    the directory or a Connect instance.
    """
    started = now_iso()
    run_id = request.run_id or new_run_id()
    only = frozenset(request.users) if request.users else None
    errors: list[str] = []
    notify = progress or (lambda phase, done, total: None)

    # Phase 1: the directory.
    notify("Reading the directory", 0, 0)
    if source is None:
        from connect_user_sync.sources import build_source

        source = build_source(config)
    snapshot: DirectorySnapshot | None
    try:
        snapshot = source.read(config.groups)
    except DirectoryReadError as exc:
        snapshot = None
        errors.append(str(exc))
    if snapshot is not None:
        errors.extend(snapshot.errors)
    complete = snapshot is not None and snapshot.complete
    emptied: list[str] = []
    doubts: list[str] = []
    if store is not None and snapshot is not None:
        try:
            emptied = empty_groups(snapshot.groups, store.previous_group_counts())
        except Exception as exc:  # without the last run's counts an emptied group goes unseen
            errors.append(f"the previous run could not be read from the results table: {exc}")
            doubts.append(
                "the previous run's group sizes could not be read, so an emptied group would go unnoticed"
            )

    # Phase 2: every target's catalog and users, and the configuration resolved against them.
    targets = [_Target(t) for t in config.targets]
    if snapshot is not None:
        throttles = ThrottleRegistry.from_environment()  # one per run, shared by its targets
        for index, target in enumerate(targets):
            notify(f"Reading Connect {target.config.instance_id}", index, len(targets))
            _read_target(target, config, connect or default_connect, throttles, index)
            if target.error:
                errors.append(target.error)

    # Phase 3: plans, mismatches and the safety gate.
    mismatches: dict[str, MismatchRecord] = {}
    limits = SafetyLimits(config.safety.max_deprovision, config.safety.max_deprovision_percent)
    for target in targets:
        if target.policy is None or snapshot is None:
            continue
        view = view_directory(snapshot.users, target.rules, target.policy)
        plan, found = plan_target(
            target.config.instance_id,
            target.config.region,
            view,
            target.users,
            target.policy,
            now=started,
            only=only,
        )
        target.plan = plan
        shared = [m for m in view.mismatches if in_filter(only, m.username, m.source_id)]
        for record in [MismatchRecord.of(m) for m in shared] + [
            MismatchRecord.of(m, plan.instance_id) for m in found
        ]:
            mismatches.setdefault(record.key, record)
        gate_target(
            plan,
            limits,
            read_complete=complete,
            emptied_groups=emptied,
            approved=request.approve_deprovision,
            report_only=config.deprovision.action == "report",
            doubts=doubts,
        )

    # Phase 4: apply.
    if not request.dry_run:
        for target in targets:
            if target.plan is None or target.instance is None:
                continue
            target.instance.apply(
                target.plan.actions,
                deadline=request.deadline,
                adopt_existing=config.safety.adopt_existing,
                on_done=_progress_counter(notify, target.plan, target.config.instance_id),
            )

    report = RunReport(
        run_id=run_id,
        dry_run=request.dry_run,
        trigger=request.trigger,
        users=request.users,
        started_at=started,
        finished_at=now_iso(),
        source=SourceReport(
            type=config.source.type,
            users_in_scope=_in_scope(snapshot, only),
            complete=complete,
            groups={g.name: g.member_count for g in snapshot.groups} if snapshot else {},
        ),
        targets=tuple(
            TargetReport.of(
                t.config.instance_id, t.config.region, t.plan, names=t.names, error=t.error
            )
            for t in targets
        ),
        mismatches=tuple(mismatches.values()),
        errors=tuple(errors),
    )
    return RunOutcome(_record_and_alert(report, store, alerter))


# --------------------------------------------------------------------------- phases


def _progress_counter(
    notify: Progress, plan: TargetPlan, label: str
) -> Callable[[SyncAction], None]:
    total = sum(1 for a in plan.actions if a.status == ActionStatus.PLANNED)
    done = 0
    lock = threading.Lock()

    def step(_: SyncAction) -> None:
        nonlocal done
        with lock:
            done += 1
            notify(f"Applying to {label}", done, total)

    return step


def _read_target(
    target: _Target,
    config: Config,
    connect: ConnectFactory,
    throttles: ThrottleRegistry,
    index: int,
) -> None:
    try:
        target.instance = connect(target.config, throttles.limiter(target.scope))
        catalog = target.instance.catalog()
        target.names = catalog.names_by_id()
        target.rules, target.policy = resolve(config, catalog, index)
        target.users = target.instance.read_users()
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


def _in_scope(snapshot: DirectorySnapshot | None, only: frozenset[str] | None) -> int:
    if snapshot is None:
        return 0
    if only is None:
        return len(snapshot.users)
    return sum(
        1
        for u in snapshot.users
        if in_filter(only, u.source_id, *(v for v in u.attributes.values() if v))
    )


def _record_and_alert(
    report: RunReport, store: RunStore | None, alerter: Alerter | None
) -> RunReport:
    """Record the run and alert. A failure here is reported in the run, never swallowed."""
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
    return report


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
    "ReminderOutcome",
    "RunOutcome",
    "RunRequest",
    "default_connect",
    "new_run_id",
    "remind",
    "run_sync",
]
