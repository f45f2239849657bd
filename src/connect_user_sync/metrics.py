"""The sync function's CloudWatch metrics (EMF, through Powertools Metrics), from a report.

Namespace ``ConnectUserSync``: applied actions per kind, ``Failed``, ``Held``, mismatches
per kind and in all, ``RunDuration``, ``DirectoryUsersInScope``, ``SafetyStop`` (not for
dry runs: a preview is not an event to page anybody about), and ``OpenMismatches`` for the
reminder. The template's alarms watch ``SafetyStop``, ``ConfigErrors`` and ``InvalidEvents``.
"""

from __future__ import annotations

from collections import Counter

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from connect_user_sync.domain.models import ActionKind, MismatchKind
from connect_user_sync.domain.report import RunReport

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
}
CONFIG_ERRORS = "ConfigErrors"
INVALID_EVENTS = "InvalidEvents"


def count(metrics: Metrics, name: str, value: float = 1) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def record_run(metrics: Metrics, report: RunReport, seconds: float) -> None:
    """Every metric of one sync run."""
    applied = Counter(a.kind for t in report.targets for a in t.actions if a.applied)
    for kind, name in ACTION_METRICS.items():
        count(metrics, name, applied[kind])
    count(metrics, "Failed", report.failed)
    count(metrics, "Held", report.held)
    kinds = Counter(m.kind for m in report.mismatches)
    for mismatch_kind, name in MISMATCH_METRICS.items():
        count(metrics, name, kinds[mismatch_kind])
    count(metrics, "Mismatches", len(report.mismatches))
    metrics.add_metric(name="RunDuration", unit=MetricUnit.Seconds, value=round(seconds, 3))
    count(metrics, "DirectoryUsersInScope", report.source.users_in_scope)
    if not report.dry_run:
        count(metrics, "SafetyStop", int(report.safety_stop))


def record_reminder(metrics: Metrics, open_mismatches: int) -> None:
    count(metrics, "OpenMismatches", open_mismatches)
