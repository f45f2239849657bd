"""The per-target phases of a run: read one Connect target, plan and gate it, apply.

``service.run_sync`` runs them for every target in one go; the Step Functions workflow
(``connect_user_sync.orchestration``) calls ``check_targets`` before any write and
``apply_target`` per target and pass, as separate Lambda steps. Reading a target resolves
the configuration against its catalog, so a configuration error stops the run before the
first write.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

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
    SyncAction,
    TargetPlan,
)
from connect_user_sync.domain.ownership import Ledger
from connect_user_sync.domain.planner import PlanPolicy
from connect_user_sync.domain.report import MismatchRecord, TargetReport
from connect_user_sync.domain.settings import ResolvedRule
from connect_user_sync.errors import PermanentError, TransientError
from connect_user_sync.on_demand import OnDemand, TargetRead
from connect_user_sync.ownership import OwnershipRecorder, chained, read_ledger_error
from connect_user_sync.phases import (
    DirectoryRead,
    TargetOutcome,
    defer_beyond,
    pass_budget,
    plan_and_gate,
)
from connect_user_sync.ports import ConnectTarget, OwnershipLedger
from connect_user_sync.safeguards import RunGuard

log = logging.getLogger(__name__)

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


@dataclass
class TargetRun:
    """One target in one run: its port, what was read and resolved, its plan, its errors."""

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


def default_connect(target: TargetConfig, limiter: RateLimiter) -> ConnectTarget:
    """The boto3 adapter for one target (endpoint and credentials from the AWS config)."""
    client = connect_client(target.region, role_arn=target.role_arn, external_id=target.external_id)
    return ConnectInstance(client, target.instance_id, limiter=limiter)


# --------------------------------------------------------------------------- workflow phases
# service.run_sync is these phases in one go. The Step Functions workflow
# (connect_user_sync.orchestration) calls them as separate Lambda steps: check_targets
# before any write, apply_target per target until nothing is left for the deadline, and
# service.finish_run once, with the directory read once by phases.read_directory.


def check_targets(config: Config, *, connect: ConnectFactory | None = None) -> tuple[str, ...]:
    """Resolve the configuration against every target's catalog before any write.

    Raises ``ConfigError`` like ``run_sync``; returns the errors of targets that could not
    be read (those are reported again by their own apply step).
    """
    throttles = ThrottleRegistry.from_environment()
    errors: list[str] = []
    for index, target_config in enumerate(config.targets):
        target = TargetRun(target_config)
        read_target(target, config, connect or default_connect, throttles, index, users=False)
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
    target = TargetRun(config.targets[index])
    if directory.snapshot is not None:
        throttles = ThrottleRegistry.from_environment()
        demand = OnDemand.start(
            config, request.users, directory.snapshot, deadline=request.deadline
        )
        read_target(
            target,
            config,
            connect or default_connect,
            throttles,
            index,
            ledger=ledger,
            demand=demand,
        )
    mismatches = plan_and_gate_target(target, config, directory, request, started)
    deferred: list[SyncAction] = []  # creates the quota cannot start before the deadline
    if target.plan is not None and request.deadline is not None and not request.dry_run:
        rate = SLOW_RATE * rate_multiplier()  # CreateUser's quota, per account and Region
        left = request.deadline - time.monotonic()
        deferred = defer_beyond(target.plan, pass_budget(left, rate))
    notify = progress or (lambda phase, done, total: None)
    apply_plan(target, config, request, notify, ledger=ledger, run_id=request.run_id or "")
    if target.plan is not None:
        target.plan.actions.extend(deferred)
    for problem in target.ownership_errors:
        log.warning("%s", problem)
    for problem in target.on_demand.errors if target.on_demand else ():
        log.warning("%s", problem)  # the plan already holds what they leave in doubt
    return TargetOutcome(
        target.report(),
        tuple(mismatches),
        users_not_found(request.users, directory.snapshot, [target]),
        dry_run=request.dry_run,
    )


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


def plan_and_gate_target(
    target: TargetRun, config: Config, directory: DirectoryRead, request: RunRequest, started: str
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


def apply_plan(
    target: TargetRun,
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


def read_target(
    target: TargetRun,
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


def users_not_found(
    wanted: Sequence[str], snapshot: DirectorySnapshot | None, targets: Sequence[TargetRun]
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


__all__ = [
    "ConnectFactory",
    "Progress",
    "RunRequest",
    "TargetRun",
    "apply_plan",
    "apply_target",
    "check_targets",
    "default_connect",
    "plan_and_gate_target",
    "read_target",
    "users_not_found",
]
