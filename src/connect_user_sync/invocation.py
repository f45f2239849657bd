"""The sync function's work, so that its Lambda handler is decorators and one call.

``functions/sync/app.py`` creates the Powertools logger, tracer and metrics and hands every
invocation to ``handle``. Events are described in ``connect_user_sync.events``.

Configuration comes from the SSM parameter named by ``CONFIG_PARAMETER`` (read through
Powertools Parameters, cached for ``CONFIG_CACHE_SECONDS``, 300 by default) or from the
packaged file named by ``CONFIG_FILE`` (relative to the handler's directory), or, for a
document of any size, from the S3 object named by ``CONFIG_S3_URI``, which wins over both
(``connect_user_sync.config_object``, cached the same way). The results
table and the alerts topic are wired as everywhere else (``connect_user_sync.wiring``):
``RESULTS_TABLE`` and ``ALERTS_TOPIC_ARN`` win over ``results.table`` and
``alerts.topic_arn``.

The configuration must fit what the stack's IAM allows: a target outside
``TARGET_INSTANCE_ARNS``, or a role outside ``ASSUMABLE_ROLE_ARNS``, is a configuration
error (``connect_user_sync.config.deployment``).

The configuration is loaded and validated at cold start so that a mistake shows in the
first log lines, but a bad configuration never makes the import fail: Lambda would then
retry the init on every invocation with nothing but a stack trace to show. Instead every
invocation re-reads the (cached) parameter, so a fix is picked up without a redeploy, and
while the configuration is bad each invocation logs the error, emits the ``ConfigErrors``
metric (the template alarms on it) and returns ``{"error": {...}, "exit_code": 2}``.
Nothing unexpected escapes either: an error inside a run ends that run with a report of
status ``failed`` (recorded and alerted, ``RunsFailed``); an error around it (reading the
parameter, building a client) is logged with its traceback and returned as
``{"error": {"type": "internal", ...}, "exit_code": 4}``, counted in ``RunsFailed`` too.

No write starts later than ``DEADLINE_MARGIN_SECONDS`` (30) before Lambda's timeout,
which leaves time to record the run and send the alert.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer

from connect_user_sync import metrics as run_metrics
from connect_user_sync.config import Config, ConfigError, load_config, parse_text
from connect_user_sync.config.deployment import check_deployment_scope
from connect_user_sync.config.sources import refuse_inline_secrets
from connect_user_sync.config_object import CONFIG_S3_URI_ENV, read_config_object
from connect_user_sync.domain.bounded import capped
from connect_user_sync.events import REMIND, EventError, parse_event
from connect_user_sync.service import (
    EXIT_DIRECTORY,
    EXIT_USAGE,
    RunRequest,
    new_run_id,
    remind,
    run_sync,
)
from connect_user_sync.wiring import (
    ALERTS_TOPIC_ENV,
    RESULTS_TABLE_ENV,
    build_alerter,
    build_ledger,
    build_store,
    with_environment,
)

CONFIG_PARAMETER_ENV = "CONFIG_PARAMETER"
CONFIG_FILE_ENV = "CONFIG_FILE"
CONFIG_CACHE_ENV = "CONFIG_CACHE_SECONDS"
DEADLINE_MARGIN_ENV = "DEADLINE_MARGIN_SECONDS"


def load_function_config(base_dir: Path, environ: Mapping[str, str] | None = None) -> Config:
    """The configuration this function runs with, environment overrides applied."""
    env = os.environ if environ is None else environ
    parameter = env.get(CONFIG_PARAMETER_ENV)
    path = env.get(CONFIG_FILE_ENV)
    uri = env.get(CONFIG_S3_URI_ENV)  # any size (config_object); wins over the parameter
    if uri:
        text = read_config_object(uri, max_age=int(env.get(CONFIG_CACHE_ENV) or "300"))
        config = parse_text(text, f"S3 object {uri}")
    elif parameter:
        from aws_lambda_powertools.utilities import parameters

        try:
            text = parameters.get_parameter(
                parameter, max_age=int(env.get(CONFIG_CACHE_ENV) or "300")
            )
        except parameters.exceptions.GetParameterError as exc:
            raise ConfigError(
                f"{CONFIG_PARAMETER_ENV} ({parameter})",
                f"the SSM parameter cannot be read: {exc}",
                "check that the parameter exists in this Region and the function may read it",
            ) from exc
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        config = parse_text(str(text), f"SSM parameter {parameter}")
    elif path:
        file = Path(path)
        config = load_config(file if file.is_absolute() else base_dir / file)
    else:
        raise ConfigError(
            CONFIG_PARAMETER_ENV,
            f"none of {CONFIG_S3_URI_ENV}, {CONFIG_PARAMETER_ENV}, {CONFIG_FILE_ENV} is set",
            f"set {CONFIG_PARAMETER_ENV} to the SSM parameter holding the configuration "
            f"(the template does), {CONFIG_S3_URI_ENV} to its S3 object, or "
            f"{CONFIG_FILE_ENV} to a file packaged with the function",
        )
    check_deployment_scope(config, env)  # a target IAM does not cover: stop before any write
    refuse_inline_secrets(config)  # secrets by ARN only: a parameter is no place for them
    return with_environment(config, env)


def config_error_result(exc: ConfigError) -> dict[str, Any]:
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


def check_config_at_cold_start(logger: Logger, base_dir: Path) -> str | None:
    """Validate the configuration once at init; never let the import fail."""
    try:
        load_function_config(base_dir)
    except ConfigError as exc:
        logger.error("configuration error at cold start", extra=config_error_result(exc))
        return str(exc)
    except Exception as exc:  # an init failure would crash-loop; report it per invocation
        logger.exception("configuration could not be loaded at cold start")
        return f"{type(exc).__name__}: {exc}"
    return None


def deadline_from_context(context: Any) -> float | None:
    """The ``time.monotonic`` value after which no write starts, from Lambda's context."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return None
    margin = float(os.environ.get(DEADLINE_MARGIN_ENV) or "30")
    seconds = float(remaining()) / 1000.0
    return time.monotonic() + max(0.0, seconds - margin)


class LogProgress:
    """Logs phase changes and about every tenth step, not every single action."""

    def __init__(self, logger: Logger) -> None:
        self.logger = logger
        self.phase = ""

    def __call__(self, phase: str, done: int = 0, total: int = 0) -> None:
        step = max(1, total // 10)
        if phase != self.phase or done == total or done % step == 0:
            self.logger.info(phase, extra={"done": done, "total": total})
        self.phase = phase


def handle(
    event: Any,
    context: Any,
    *,
    logger: Logger,
    metrics: Metrics,
    tracer: Tracer,
    base_dir: Path,
) -> dict[str, Any]:
    """One invocation: the run report, the reminder's result, or a readable error."""
    try:
        invocation = parse_event(event)
    except EventError as exc:
        logger.error("invalid event", extra={"problem": str(exc)})
        run_metrics.count(metrics, run_metrics.INVALID_EVENTS)
        return {"error": {"type": "event", "message": str(exc)}, "exit_code": EXIT_USAGE}
    try:
        config = load_function_config(base_dir)
        if invocation.action == REMIND:
            return _remind(config, logger, metrics)
        return _sync(config, invocation.request, context, logger, metrics, tracer)
    except ConfigError as exc:
        result = config_error_result(exc)
        logger.error("configuration error", extra=result)
        run_metrics.count(metrics, run_metrics.CONFIG_ERRORS)
        return result
    except Exception as exc:  # the boundary: a readable result, counted as a failed run
        # A run that had started has already ended with a failed report (service.run_sync);
        # this is an error around it (the configuration's parameter, the clients).
        logger.exception("unexpected error; no run report")
        run_metrics.count(metrics, run_metrics.RUNS_FAILED)
        return internal_error_result(exc)


def internal_error_result(exc: BaseException) -> dict[str, Any]:
    return {
        "error": {
            "type": "internal",
            "message": f"{type(exc).__name__}: {capped(str(exc), 500)}",
        },
        "exit_code": EXIT_DIRECTORY,
    }


def _sync(
    config: Config,
    request: RunRequest,
    context: Any,
    logger: Logger,
    metrics: Metrics,
    tracer: Tracer,
) -> dict[str, Any]:
    run_id = new_run_id()
    logger.append_keys(run_id=run_id, trigger=request.trigger, dry_run=request.dry_run)
    request = dataclasses.replace(request, deadline=deadline_from_context(context), run_id=run_id)
    logger.info(
        "run starting",
        extra={"users": list(request.users), "approve_deprovision": request.approve_deprovision},
    )
    began = time.monotonic()
    with run_metrics.connect_calls(metrics) as connect:  # ConnectCalls, ConnectThrottles
        outcome = run_sync(
            config,
            request,
            store=build_store(config),
            alerter=build_alerter(config),
            ledger=build_ledger(config),
            progress=LogProgress(logger),
            connect=connect,
        )
    report = outcome.report
    run_metrics.record_outcome(metrics, outcome, time.monotonic() - began)
    tracer.put_annotation("status", report.status.value)
    level = logger.info if outcome.exit_code == 0 else logger.warning
    level(
        "run finished",
        extra={
            "status": report.status.value,
            "exit_code": outcome.exit_code,
            "counts": {t.instance_id: t.counts for t in report.targets},
            "mismatches": len(report.mismatches),
            "errors": report.listed_errors,  # the first 50: one log event stays readable
            "error_count": report.error_count,
        },
    )
    return report.to_json()


def _remind(config: Config, logger: Logger, metrics: Metrics) -> dict[str, Any]:
    store, alerter = build_store(config), build_alerter(config)
    if store is None or alerter is None:
        missing = RESULTS_TABLE_ENV if store is None else ALERTS_TOPIC_ENV
        raise ConfigError(
            missing,
            "the reminder needs both the results table and the alerts topic",
            f"set {missing} (the template does) or results.table / alerts.topic_arn",
        )
    outcome = remind(store, alerter)
    run_metrics.record_reminder(metrics, outcome.open_mismatches)
    logger.info(
        "reminder", extra={"open_mismatches": outcome.open_mismatches, "sent": outcome.sent}
    )
    return {
        "action": REMIND,
        "open_mismatches": outcome.open_mismatches,
        "sent": outcome.sent,
        "exit_code": 0,
    }
