"""Lambda handler: the nightly sync, manual runs, and the weekly reminder of open mismatches.

Events (unknown keys are refused with a clear error in the return value):

- the EventBridge scheduled event (``"detail-type": "Scheduled Event"``, from a rule or
  from EventBridge Scheduler with the template's input): a full sync. Its ``detail`` may
  carry the manual keys below, which is how the weekly schedule asks for ``remind``;
- ``{"dry_run": true}``, ``{"users": ["jane@example.com"]}``,
  ``{"approve_deprovision": true}``, in any combination; ``{}`` is a full sync;
- ``{"action": "remind"}``: send the reminder of mismatches still open.

Configuration comes from the SSM parameter named by ``CONFIG_PARAMETER`` (read through
Powertools Parameters, cached for ``CONFIG_CACHE_SECONDS``) or from the packaged file named
by ``CONFIG_FILE``. ``RESULTS_TABLE`` and ``ALERTS_TOPIC_ARN`` fill or override
``results.table`` and ``alerts.topic_arn``.

The configuration is loaded and validated at cold start so that a mistake shows in the
first log lines, but a bad configuration never makes the import fail: Lambda would then
retry the init on every invocation with nothing but a stack trace to show. Instead every
invocation re-reads the (cached) parameter, so a fix is picked up without a redeploy, and
while the configuration is bad each invocation logs the error, emits the ``ConfigErrors``
metric (the template alarms on it) and returns ``{"error": {...}, "exit_code": 2}``.
Unexpected exceptions are not caught: they count as Lambda errors, trip the Errors alarm,
and an asynchronous invocation's event lands in the dead-letter queue.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from connect_user_sync import service
from connect_user_sync.alerts import SnsAlerter, safety_stop
from connect_user_sync.config import Config, ConfigError, load_config, parse_text
from connect_user_sync.service import RunRequest, new_run_id
from connect_user_sync.store import DynamoRunStore

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "connect-user-sync")
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "ConnectUserSync")
# Stop starting writes this long before Lambda's timeout, leaving time to record and alert.
SAFETY_MARGIN_SECONDS = float(os.environ.get("DEADLINE_MARGIN_SECONDS", "30"))
CONFIG_CACHE_SECONDS = int(os.environ.get("CONFIG_CACHE_SECONDS", "300"))
HISTORY_DAYS = int(os.environ.get("ACTION_TTL_DAYS", "90"))
EXIT_USAGE = 2

MANUAL_KEYS = ("dry_run", "users", "approve_deprovision", "action")
ACTIONS = ("sync", "remind")
SCHEDULED_DETAIL_TYPE = "Scheduled Event"
SCHEDULED_SOURCES = ("aws.events", "aws.scheduler")
ACTION_METRICS = {
    "create": "Created",
    "update": "Updated",
    "adopt": "Adopted",
    "disable": "Disabled",
    "enable": "Enabled",
    "delete": "Deleted",
}
MISMATCH_METRICS = {
    "case_mismatch": "CaseMismatches",
    "attribute_mismatch": "AttributeMismatches",
    "invalid_username": "InvalidUsernames",
    "duplicate_username": "DuplicateUsernames",
    "renamed": "RenamedUsers",
}

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


class EventError(ValueError):
    """The event cannot be understood; nothing was done."""


@dataclasses.dataclass(frozen=True)
class Invocation:
    action: str
    request: RunRequest


# --------------------------------------------------------------------------- event


def _flag(payload: Mapping[str, Any], key: str, where: str) -> bool:
    value = payload.get(key, False)
    if not isinstance(value, bool):
        raise EventError(f"{where}{key} must be true or false, got {value!r}")
    return value


def _users(payload: Mapping[str, Any], where: str) -> tuple[str, ...]:
    value = payload.get("users", [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise EventError(
            f'{where}users must be a list of usernames or directory ids, e.g. ["jane@example.com"]; '
            f"got {value!r}"
        )
    return tuple(v.strip() for v in value)


def _manual(payload: Any, *, trigger: str, where: str = "") -> Invocation:
    if not isinstance(payload, Mapping):
        raise EventError(
            f"{where or 'the event'} must be a JSON object, got {type(payload).__name__}"
        )
    unknown = sorted(str(k) for k in payload if k not in MANUAL_KEYS)
    if unknown:
        raise EventError(
            f"unknown event key(s) {', '.join(unknown)}{' in ' + where.rstrip('.') if where else ''}; "
            f"allowed: {', '.join(MANUAL_KEYS)} (or send the scheduled event)"
        )
    action = payload.get("action", "sync")
    if action not in ACTIONS:
        raise EventError(f"{where}action must be one of {', '.join(ACTIONS)}, got {action!r}")
    request = RunRequest(
        dry_run=_flag(payload, "dry_run", where),
        users=_users(payload, where),
        approve_deprovision=_flag(payload, "approve_deprovision", where),
        trigger=trigger,
    )
    if action == "remind" and (request.dry_run or request.users or request.approve_deprovision):
        raise EventError('"action": "remind" takes no other keys')
    return Invocation(action, request)


def parse_event(event: Any) -> Invocation:
    """Turn a Lambda event into what to do; raises ``EventError`` with a readable message."""
    if event is None:
        event = {}
    if isinstance(event, Mapping) and event.get("detail-type") == SCHEDULED_DETAIL_TYPE:
        if event.get("source") not in SCHEDULED_SOURCES:
            raise EventError(f"a scheduled event must come from {' or '.join(SCHEDULED_SOURCES)}")
        return _manual(event.get("detail") or {}, trigger="schedule", where="detail.")
    return _manual(event, trigger="manual")


# --------------------------------------------------------------------------- config


def load_function_config() -> Config:
    """The configuration this function runs with, environment overrides applied."""
    parameter = os.environ.get("CONFIG_PARAMETER")
    path = os.environ.get("CONFIG_FILE")
    if parameter:
        from aws_lambda_powertools.utilities import parameters

        try:
            text = parameters.get_parameter(parameter, max_age=CONFIG_CACHE_SECONDS)
        except parameters.exceptions.GetParameterError as exc:
            raise ConfigError(
                f"CONFIG_PARAMETER ({parameter})",
                f"the SSM parameter cannot be read: {exc}",
                "check that the parameter exists in this Region and the function may read it",
            ) from exc
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        config = parse_text(str(text), f"SSM parameter {parameter}")
    elif path:
        file = Path(path)
        if not file.is_absolute():
            file = Path(__file__).resolve().parent / file
        config = load_config(file)
    else:
        raise ConfigError(
            "CONFIG_PARAMETER",
            "neither CONFIG_PARAMETER nor CONFIG_FILE is set",
            "set CONFIG_PARAMETER to the SSM parameter holding the configuration "
            "(the template does), or CONFIG_FILE to a file packaged with the function",
        )
    table = os.environ.get("RESULTS_TABLE") or config.results_table
    topic = os.environ.get("ALERTS_TOPIC_ARN") or config.alerts_topic_arn
    return dataclasses.replace(config, results_table=table, alerts_topic_arn=topic)


def _config_error_result(exc: ConfigError) -> dict[str, Any]:
    return {
        "error": {
            "type": "configuration",
            "path": exc.path,
            "problem": exc.problem,
            "fix": exc.fix,
            "message": str(exc),
        },
        "exit_code": EXIT_USAGE,
    }


def _cold_start() -> str | None:
    """Validate the configuration once at init; never let the import fail."""
    try:
        load_function_config()
    except ConfigError as exc:
        logger.error("configuration error at cold start", extra=_config_error_result(exc))
        return str(exc)
    except Exception as exc:  # an init failure would crash-loop; report it per invocation
        logger.exception("configuration could not be loaded at cold start")
        return f"{type(exc).__name__}: {exc}"
    return None


COLD_START_PROBLEM = _cold_start()


# --------------------------------------------------------------------------- run


def _deadline(context: Any) -> float | None:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return None
    return time.monotonic() + max(0.0, remaining() / 1000.0 - SAFETY_MARGIN_SECONDS)


class _Progress:
    """Logs phase changes and about every tenth step, not every single action."""

    def __init__(self) -> None:
        self.phase = ""

    def __call__(self, phase: str, done: int = 0, total: int = 0) -> None:
        step = max(1, total // 10)
        if phase != self.phase or done == total or done % step == 0:
            logger.info(phase, extra={"done": done, "total": total})
        self.phase = phase


def _record_metrics(report: Mapping[str, Any], seconds: float) -> None:
    applied: Counter[str] = Counter()
    failed = held = 0
    for target in report.get("targets", ()):
        for action in target.get("actions", ()):
            status = action.get("status")
            if status == "applied":
                applied[str(action.get("action"))] += 1
            elif status == "failed":
                failed += 1
            elif status == "held":
                held += 1
    for kind, name in ACTION_METRICS.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=applied[kind])
    metrics.add_metric(name="Failed", unit=MetricUnit.Count, value=failed)
    metrics.add_metric(name="Held", unit=MetricUnit.Count, value=held)
    kinds = Counter(str(m.get("kind")) for m in report.get("mismatches", ()))
    for kind, name in MISMATCH_METRICS.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=kinds[kind])
    metrics.add_metric(name="Mismatches", unit=MetricUnit.Count, value=sum(kinds.values()))
    metrics.add_metric(name="RunDuration", unit=MetricUnit.Seconds, value=round(seconds, 3))
    users = (report.get("source") or {}).get("users_in_scope") or 0
    metrics.add_metric(name="DirectoryUsersInScope", unit=MetricUnit.Count, value=users)
    # A dry run's hold is a preview, not an event to page anybody about.
    if not report.get("dry_run"):
        metrics.add_metric(name="SafetyStop", unit=MetricUnit.Count, value=int(safety_stop(report)))


def _store(config: Config) -> DynamoRunStore | None:
    if not config.results_table:
        return None
    return DynamoRunStore(config.results_table, action_ttl_days=HISTORY_DAYS)


def _alerter(config: Config) -> SnsAlerter | None:
    return SnsAlerter(config.alerts_topic_arn) if config.alerts_topic_arn else None


@tracer.capture_method(capture_response=False)  # reports can exceed X-Ray limits
def _sync(config: Config, request: RunRequest, context: Any) -> dict[str, Any]:
    run_id = new_run_id()
    logger.append_keys(run_id=run_id, trigger=request.trigger, dry_run=request.dry_run)
    request = dataclasses.replace(request, deadline=_deadline(context), run_id=run_id)
    logger.info(
        "run starting",
        extra={"users": list(request.users), "approve_deprovision": request.approve_deprovision},
    )
    began = time.monotonic()
    outcome = service.run_sync(
        config, request, store=_store(config), alerter=_alerter(config), progress=_Progress()
    )
    report = outcome.report
    _record_metrics(report, time.monotonic() - began)
    tracer.put_annotation("status", str(report.get("status")))
    level = logger.info if outcome.exit_code == 0 else logger.warning
    level(
        "run finished",
        extra={
            "status": report.get("status"),
            "exit_code": outcome.exit_code,
            "counts": {t.get("instance_id"): t.get("counts") for t in report.get("targets", ())},
            "mismatches": len(report.get("mismatches", ())),
            "errors": report.get("errors", []),
        },
    )
    return report


@tracer.capture_method(capture_response=False)  # reports can exceed X-Ray limits
def _remind(config: Config) -> dict[str, Any]:
    if not config.results_table or not config.alerts_topic_arn:
        missing = "RESULTS_TABLE" if not config.results_table else "ALERTS_TOPIC_ARN"
        raise ConfigError(
            missing,
            "the reminder needs both the results table and the alerts topic",
            f"set {missing} (the template does) or results.table / alerts.topic_arn",
        )
    store = DynamoRunStore(config.results_table, action_ttl_days=HISTORY_DAYS)
    open_mismatches = store.open_mismatches()
    sent = SnsAlerter(config.alerts_topic_arn).send_reminder(open_mismatches)
    metrics.add_metric(name="OpenMismatches", unit=MetricUnit.Count, value=len(open_mismatches))
    logger.info("reminder", extra={"open_mismatches": len(open_mismatches), "sent": sent})
    return {
        "action": "remind",
        "open_mismatches": len(open_mismatches),
        "sent": sent,
        "exit_code": 0,
    }


@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
@logger.inject_lambda_context(clear_state=True)
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    try:
        invocation = parse_event(event)
    except EventError as exc:
        logger.error("invalid event", extra={"problem": str(exc)})
        metrics.add_metric(name="InvalidEvents", unit=MetricUnit.Count, value=1)
        return {"error": {"type": "event", "message": str(exc)}, "exit_code": EXIT_USAGE}
    try:
        config = load_function_config()
        if invocation.action == "remind":
            return _remind(config)
        return _sync(config, invocation.request, context)
    except ConfigError as exc:
        result = _config_error_result(exc)
        logger.error("configuration error", extra=result)
        metrics.add_metric(name="ConfigErrors", unit=MetricUnit.Count, value=1)
        return result
