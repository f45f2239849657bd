"""The sync service: one run of source -> plan -> safety gate -> apply -> report.

Phases are kept apart on purpose: everything that can reject the configuration (group
names, Connect profile names in every target) is resolved before the first write, so a
configuration error never leaves a run half done.

The service talks to the directory, Connect, the results store and the alerter through
the ports in ``connect_user_sync.ports``; it builds the typed ``RunReport`` once the work
is done. The weekly ``remind`` use case lives here too. The per-target phases (read,
plan and gate, apply) are in ``target_phases``; their names are importable from here.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from connect_user_sync.config import Config, ConfigError
from connect_user_sync.connect import ThrottleRegistry
from connect_user_sync.domain.models import RunStatus
from connect_user_sync.domain.report import MismatchRecord, RunReport, TargetReport
from connect_user_sync.on_demand import OnDemand
from connect_user_sync.phases import (
    DirectoryRead,
    TargetOutcome,
    build_report,
    read_directory,
)
from connect_user_sync.ports import (
    Alerter,
    DirectorySource,
    OpenMismatches,
    OwnershipLedger,
    Reminder,
    RunStore,
)
from connect_user_sync.safeguards import RunGuard
from connect_user_sync.target_phases import (
    ConnectFactory,
    Progress,
    RunRequest,
    TargetRun,
    apply_plan,
    apply_target,
    check_targets,
    default_connect,
    plan_and_gate_target,
    read_target,
    users_not_found,
)

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


@dataclass(frozen=True)
class RunOutcome:
    """The run's report and the exit code the contract gives its status."""

    report: RunReport
    new_mismatches: int = 0  # first seen by this run (alerted), for the NewMismatches metric

    @property
    def exit_code(self) -> int:
        return EXIT_FOR_STATUS[self.report.status]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def new_run_id() -> str:
    # Sortable by time, unique by the random tail.
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:10]}"


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
    targets = [TargetRun(t) for t in config.targets]
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
                read_target(
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
            mismatches.extend(plan_and_gate_target(target, config, directory, request, started))
        not_found = users_not_found(request.users, snapshot, targets)

        # Phase 4: apply, each finished action recorded as it completes.
        guard.number_actions([t.plan.actions for t in targets if t.plan is not None])
        for target in targets:
            try:
                apply_plan(target, config, request, notify, guard, ledger=ledger, run_id=run_id)
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
# The workflow's other steps, check_targets and apply_target, live in target_phases with
# the per-target work run_sync shares with them; finish_run ends both kinds of run.


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
