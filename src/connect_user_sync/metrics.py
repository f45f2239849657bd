"""The CloudWatch metrics (EMF, through Powertools Metrics) of the sync and workflow functions.

Namespace ``ConnectUserSync``, dimension ``service``; template.yaml's dashboard and alarms
read them (``tests/unit/test_template.py`` checks that every one it reads is emitted here).

Per run (``record_run``, from the direct invoke and from the workflow's finish step):

- ``Runs<Status>``: 1 for the run's final status (``RunsSucceeded``, ``RunsPartial``,
  ``RunsRefused``, ``RunsFailed``, ``RunsBusy``, ``RunsPlanned``). ``RunsSucceeded`` feeds
  the "no successful run in 26 hours" alarm, ``RunsFailed`` the failed-run alarm; a dry
  run that failed is not counted in ``RunsFailed`` (a preview pages nobody: its caller
  sees the report). ``RunsFailed`` also counts an invocation that failed around its run,
  with no report (``invocation.handle``). ``RunsInterrupted`` counts earlier runs this run
  found killed (marked interrupted).
- applied actions per kind, ``Failed``, ``Held``, mismatches per kind and in all,
  ``NewMismatches`` (first seen by this run, so alerted; 0 for dry runs), ``RunDuration``,
  ``DirectoryUsersInScope``, ``SafetyStop`` (not for dry runs);
- ``GroupMembers`` per directory group, with the extra dimension ``group``;
- ``FirstLoadConvergeSeconds``: a run that finished a first load (see ``first_load``)
  without anything left over: the seconds from the run's start to its end. A workflow run
  applies a first load pass after pass in one execution, so this is the time to converge.

Per Lambda invocation that calls Connect (``connect_calls``): ``ConnectCalls`` and
``ConnectThrottles`` per operation, with the extra dimension ``operation``, counted by the
rate limiters (``connect.throttle.RateLimiter.count``). A workflow run emits them from its
check and apply steps, each for its own calls.

EMF gives every metric of one document the same dimensions, so the metrics with an extra
dimension are written as documents of their own (Powertools' ``single_metric``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from aws_lambda_powertools import Metrics, single_metric
from aws_lambda_powertools.metrics import MetricUnit

from connect_user_sync.config import TargetConfig
from connect_user_sync.connect import RateLimiter
from connect_user_sync.domain.models import ActionKind, MismatchKind, RunStatus
from connect_user_sync.domain.report import RunReport
from connect_user_sync.ports import ConnectTarget
from connect_user_sync.service import ConnectFactory, RunOutcome, default_connect

ACTION_METRICS: dict[ActionKind, str] = {
    ActionKind.CREATE: "Created",
    ActionKind.UPDATE: "Updated",
    ActionKind.ADOPT: "Adopted",
    ActionKind.DISABLE: "Disabled",
    ActionKind.ENABLE: "Enabled",
    ActionKind.DELETE: "Deleted",
}
MISMATCH_METRICS: dict[MismatchKind, str] = {
    MismatchKind.CASE: "CaseMismatches",
    MismatchKind.ATTRIBUTE: "AttributeMismatches",
    MismatchKind.INVALID: "InvalidUsernames",
    MismatchKind.DUPLICATE: "DuplicateUsernames",
    MismatchKind.RENAMED: "RenamedUsers",
    MismatchKind.OWNERSHIP_CONFLICT: "OwnershipConflicts",
}
CONFIG_ERRORS = "ConfigErrors"
INVALID_EVENTS = "InvalidEvents"
RUNS_FAILED = "RunsFailed"
RUNS_INTERRUPTED = "RunsInterrupted"
RUNS_BUSY = "RunsBusy"
STATUS_METRICS: dict[RunStatus, str] = {
    RunStatus.SUCCEEDED: "RunsSucceeded",
    RunStatus.PARTIAL: "RunsPartial",
    RunStatus.REFUSED: "RunsRefused",
    RunStatus.FAILED: RUNS_FAILED,
    RunStatus.BUSY: RUNS_BUSY,
    RunStatus.PLANNED: "RunsPlanned",
}
NEW_MISMATCHES = "NewMismatches"
FIRST_LOAD_SECONDS = "FirstLoadConvergeSeconds"
GROUP_MEMBERS = "GroupMembers"
CONNECT_CALLS = "ConnectCalls"
CONNECT_THROTTLES = "ConnectThrottles"
# CloudWatch takes dimension values of ASCII characters, up to 1,024 of them.
DIMENSION_CHARS = 250


def count(metrics: Metrics, name: str, value: float = 1) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def record_run(
    metrics: Metrics, report: RunReport, seconds: float, *, new_mismatches: int = 0
) -> None:
    """Every metric of one sync run; ``new_mismatches`` is ``RunOutcome.new_mismatches``."""
    status = report.status
    if not (report.dry_run and status == RunStatus.FAILED):
        count(metrics, STATUS_METRICS[status])
    applied = Counter(a.kind for t in report.targets for a in t.actions if a.applied)
    for kind, name in ACTION_METRICS.items():
        count(metrics, name, applied[kind])
    count(metrics, "Failed", report.failed)
    count(metrics, "Held", report.held)
    kinds = Counter(m.kind for m in report.mismatches)
    for mismatch_kind, name in MISMATCH_METRICS.items():
        count(metrics, name, kinds[mismatch_kind])
    count(metrics, "Mismatches", len(report.mismatches))
    count(metrics, NEW_MISMATCHES, 0 if report.dry_run else new_mismatches)
    metrics.add_metric(name="RunDuration", unit=MetricUnit.Seconds, value=round(seconds, 3))
    count(metrics, "DirectoryUsersInScope", report.source.users_in_scope)
    if not report.dry_run:
        count(metrics, "SafetyStop", int(report.safety_stop))
    if report.interrupted_runs:
        count(metrics, RUNS_INTERRUPTED, len(report.interrupted_runs))
    if status == RunStatus.SUCCEEDED and first_load(report):
        metrics.add_metric(
            name=FIRST_LOAD_SECONDS, unit=MetricUnit.Seconds, value=round(seconds, 3)
        )
    for group, members in report.source.groups.items():
        _with_dimension(metrics, GROUP_MEMBERS, members, "group", group)


def record_outcome(metrics: Metrics, outcome: RunOutcome, seconds: float) -> None:
    """``record_run`` for a finished run, with the mismatches it found new."""
    record_run(metrics, outcome.report, seconds, new_mismatches=outcome.new_mismatches)


def first_load(report: RunReport) -> bool:
    """The run loaded a target the tool managed nobody in: it found no managed user there
    (before it changed anything) and created or adopted users."""
    return not report.dry_run and any(
        target.managed_users == 0
        and any(
            a.applied and a.kind in (ActionKind.CREATE, ActionKind.ADOPT) for a in target.actions
        )
        for target in report.targets
    )


def record_reminder(metrics: Metrics, open_mismatches: int) -> None:
    count(metrics, "OpenMismatches", open_mismatches)


# --------------------------------------------------------------------------- Connect calls


class ConnectCalls:
    """A ``ConnectFactory`` that keeps the rate limiters it hands out, whose counts are the
    calls and throttles of the invocation (a limiter is shared by a quota scope's targets)."""

    def __init__(self, build: ConnectFactory = default_connect) -> None:
        self.build = build
        self._limiters: dict[int, RateLimiter] = {}

    def __call__(self, target: TargetConfig, limiter: RateLimiter) -> ConnectTarget:
        self._limiters[id(limiter)] = limiter
        return self.build(target, limiter)

    def totals(self) -> tuple[Counter[str], Counter[str]]:
        """Requests sent and requests throttled, per operation."""
        calls: Counter[str] = Counter()
        throttled: Counter[str] = Counter()
        for limiter in self._limiters.values():
            with limiter.lock:
                calls.update(limiter.calls)
                throttled.update(limiter.throttled)
        return calls, throttled


@contextmanager
def connect_calls(
    metrics: Metrics, build: ConnectFactory = default_connect
) -> Iterator[ConnectCalls]:
    """Hand the yielded factory to the service as ``connect``; on the way out (an error
    too), ``ConnectCalls`` and ``ConnectThrottles`` are emitted per operation called."""
    factory = ConnectCalls(build)
    try:
        yield factory
    finally:
        record_connect_calls(metrics, *factory.totals())


def record_connect_calls(
    metrics: Metrics, calls: Mapping[str, int], throttled: Mapping[str, int]
) -> None:
    for operation in sorted(calls):
        _with_dimension(metrics, CONNECT_CALLS, calls[operation], "operation", operation)
        _with_dimension(
            metrics, CONNECT_THROTTLES, throttled.get(operation, 0), "operation", operation
        )


def _with_dimension(metrics: Metrics, name: str, value: float, dimension: str, key: str) -> None:
    """One metric with ``service`` and one more dimension, as a document of its own."""
    defaults = {"service": str(metrics.service)} if metrics.service else {}
    with single_metric(
        name=name,
        unit=MetricUnit.Count,
        value=value,
        namespace=metrics.namespace,
        default_dimensions=defaults,
    ) as metric:
        metric.add_dimension(name=dimension, value=dimension_value(key))


def dimension_value(text: str) -> str:
    """``text`` as CloudWatch takes a dimension value: ASCII (others escaped), not blank,
    at most ``DIMENSION_CHARS`` characters."""
    ascii_text = text.encode("ascii", "backslashreplace").decode("ascii").strip()
    return ascii_text[:DIMENSION_CHARS] or "(blank)"
