"""The Step Functions workflow's Lambda steps: read once, apply per target until done, finish.

``statemachine/sync.asl.json`` calls ``functions/workflow/app.py`` with ``{"step": ...}``:

- ``read`` (execution input = the sync function's events, scheduled or manual): marks runs
  found ``running`` past their deadline ``interrupted`` (their ids travel in the run, for
  ``finish`` to report and alert), reads the directory once, keeps the snapshot in S3
  (``snapshot_store``; the state only carries its key) and returns the run and its targets
  grouped by quota scope (account and Region);
- ``check``: resolves the configuration against every target's catalog, so that a
  configuration error stops the run before any write, as in ``service.run_sync``;
- ``apply``: one pass over one target (``service.apply_target``) until the Lambda's
  deadline; its report goes to S3 and the state gets ``work_left`` and the pass count. The
  state machine calls it again while work is left, up to ``max_iterations`` passes;
- ``finish``: merges every pass's report (``phases.merge_passes``), records the run and
  alerts once (``service.finish_run``), and returns a summary (the whole report is in the
  results table and in S3, never in the state).

A configuration error makes ``read`` and ``check`` return ``{"error": {...}}`` (the
``ConfigErrors`` metric is counted), which the state machine turns into a failed
execution; in ``apply`` it becomes that target's error. Steps that fail otherwise raise,
for the state machine to retry or catch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger, Metrics

from connect_user_sync import metrics as run_metrics
from connect_user_sync.config import Config, ConfigError
from connect_user_sync.connect import quota_scope
from connect_user_sync.domain.report import MismatchRecord, TargetReport
from connect_user_sync.events import REMIND, EventError, parse_event
from connect_user_sync.invocation import (
    LogProgress,
    config_error_result,
    deadline_from_context,
    load_function_config,
)
from connect_user_sync.phases import DirectoryRead, TargetOutcome, merge_passes
from connect_user_sync.service import (
    RunRequest,
    apply_target,
    check_targets,
    finish_run,
    new_run_id,
    now_iso,
    read_directory,
)
from connect_user_sync.snapshot_store import (
    RunArtifacts,
    directory_key,
    directory_to_json,
    failure_message,
    load_directory,
    mismatches_from_json,
    outcome_to_json,
    pass_key,
    pass_results,
    report_key,
    target_report_from_json,
)
from connect_user_sync.wiring import build_alerter, build_ledger, build_store
from connect_user_sync.workflow_guard import begin_run, finish_guard, target_pass

WORK_BUCKET_ENV = "WORK_BUCKET"
MAX_ITERATIONS_ENV = "MAX_APPLY_ITERATIONS"
DEFAULT_MAX_ITERATIONS = 24
STEPS = ("read", "check", "apply", "finish")
CHANGED_CONFIG = (
    "the configuration changed while this run was under way, so nothing was written to this "
    "instance; the next run uses the new configuration"
)


def handle_step(
    event: Any,
    context: Any,
    *,
    logger: Logger,
    metrics: Metrics,
    base_dir: Path,
    artifacts: RunArtifacts | None = None,
) -> dict[str, Any]:
    """One step of the workflow; what each returns is in the module's docstring."""
    step = event.get("step") if isinstance(event, Mapping) else None
    if step not in STEPS:
        raise EventError(f"step must be one of {', '.join(STEPS)}, got {step!r}")
    store = artifacts or RunArtifacts(_work_bucket())
    try:
        config = load_function_config(base_dir)
    except ConfigError as exc:
        result = _config_error(exc, logger, metrics)
        if step in ("apply", "finish"):
            raise  # the state machine reports the target (apply) or fails (finish)
        return result
    if step == "read":
        return _read(event, context, config, logger, metrics, store)
    if step == "check":
        return _check(event, config, logger, metrics)
    if step == "apply":
        return _apply(event, context, config, logger, metrics, store)
    return _finish(event, config, logger, metrics, store)


def _work_bucket() -> str:
    bucket = os.environ.get(WORK_BUCKET_ENV)
    if not bucket:
        raise ConfigError(
            WORK_BUCKET_ENV,
            "the workflow's S3 bucket is not set",
            f"set {WORK_BUCKET_ENV} to the bucket that keeps the runs' snapshots (the template does)",
        )
    return bucket


def _config_error(exc: ConfigError, logger: Logger, metrics: Metrics) -> dict[str, Any]:
    result = config_error_result(exc)
    logger.error("configuration error", extra=result)
    run_metrics.count(metrics, run_metrics.CONFIG_ERRORS)
    return result


def config_fingerprint(config: Config) -> str:
    """A digest of the configuration, the same in every process (sets sorted)."""

    def plain(value: Any) -> Any:
        if isinstance(value, set | frozenset):
            return sorted(value)
        return str(value)

    # The table and topic come from each function's environment, not from the document.
    document = dataclasses.replace(config, results_table=None, alerts_topic_arn=None)
    text = json.dumps(dataclasses.asdict(document), sort_keys=True, default=plain)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def max_iterations() -> int:
    raw = os.environ.get(MAX_ITERATIONS_ENV) or str(DEFAULT_MAX_ITERATIONS)
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(
            MAX_ITERATIONS_ENV,
            f"{raw!r} is not a number of apply passes",
            f"use a whole number above 0 (default {DEFAULT_MAX_ITERATIONS}), or unset it",
        )
    return value


def quota_scopes(config: Config) -> list[dict[str, Any]]:
    """Targets grouped by quota scope, in configuration order: one Map item per scope."""
    scopes: dict[str, list[int]] = {}
    for index, target in enumerate(config.targets):
        scope = quota_scope(target.region, target.account_id or target.role_arn)
        scopes.setdefault(scope, []).append(index)
    return [{"scope": scope, "targets": targets} for scope, targets in scopes.items()]


# --------------------------------------------------------------------------- steps


def _read(
    event: Mapping[str, Any],
    context: Any,
    config: Config,
    logger: Logger,
    metrics: Metrics,
    artifacts: RunArtifacts,
) -> dict[str, Any]:
    try:
        invocation = parse_event(event.get("input"))
        if invocation.action == REMIND:
            raise EventError(
                'the workflow runs syncs; send {"action": "remind"} to the sync function'
            )
    except EventError as exc:
        logger.error("invalid execution input", extra={"problem": str(exc)})
        run_metrics.count(metrics, run_metrics.INVALID_EVENTS)
        return {"error": {"type": "InvalidInput", "message": str(exc)}, "exit_code": 2}
    try:
        limit = max_iterations()
    except ConfigError as exc:
        return _config_error(exc, logger, metrics)
    request = invocation.request
    run_id, started = new_run_id(), now_iso()
    logger.append_keys(run_id=run_id, trigger=request.trigger, dry_run=request.dry_run)
    store = build_store(config)
    try:
        interrupted, stop = begin_run(
            store,
            run_id=run_id,
            started=started,
            dry_run=request.dry_run,
            trigger=request.trigger,
            users=request.users,
            source=config.source.type,
        )
    except ConfigError as exc:
        return _config_error(exc, logger, metrics)
    if interrupted:
        logger.warning("earlier runs were interrupted", extra={"runs": interrupted})
    try:
        directory = read_directory(
            config,
            store=store,
            deadline=deadline_from_context(context),
            users=request.users,
        )
    finally:
        stop()
    key = artifacts.put(directory_key(run_id), directory_to_json(directory))
    scopes = quota_scopes(config) if directory.snapshot is not None else []
    logger.info(
        "directory read",
        extra={
            "users": len(directory.snapshot.users) if directory.snapshot else 0,
            "complete": directory.complete,
            "scopes": len(scopes),
        },
    )
    run = {
        "run_id": run_id,
        "started_at": started,
        "trigger": request.trigger,
        "dry_run": request.dry_run,
        "users": list(request.users),
        "approve_deprovision": request.approve_deprovision,
        "approve_adoption": request.approve_adoption,
        "directory_key": key,
        "config": config_fingerprint(config),
        "max_iterations": limit,
        "interrupted_runs": interrupted,  # marked by this run's sweep: its report says so
    }
    return {"run": run, "scopes": scopes, "error": None}


def _check(
    event: Mapping[str, Any], config: Config, logger: Logger, metrics: Metrics
) -> dict[str, Any]:
    run = dict(event["run"])
    if run["config"] != config_fingerprint(config):
        return {"error": {"type": "ConfigurationChanged", "message": CHANGED_CONFIG}}
    try:
        with run_metrics.connect_calls(metrics) as connect:  # ConnectCalls, ConnectThrottles
            run["target_errors"] = list(check_targets(config, connect=connect))
    except ConfigError as exc:
        return _config_error(exc, logger, metrics)
    return {"run": run, "scopes": event.get("scopes") or [], "error": None}


def _request(run: Mapping[str, Any], deadline: float | None = None) -> RunRequest:
    return RunRequest(
        dry_run=bool(run["dry_run"]),
        users=tuple(run.get("users") or ()),
        approve_deprovision=bool(run.get("approve_deprovision")),
        approve_adoption=bool(run.get("approve_adoption")),
        deadline=deadline,
        trigger=str(run.get("trigger") or "workflow"),
        run_id=str(run["run_id"]),
    )


def _apply(
    event: Mapping[str, Any],
    context: Any,
    config: Config,
    logger: Logger,
    metrics: Metrics,
    artifacts: RunArtifacts,
) -> dict[str, Any]:
    run, index = event["run"], int(event["target"])
    iteration = int(event.get("iteration") or 0)
    logger.append_keys(run_id=run["run_id"], target=index, iteration=iteration)
    request = _request(run, deadline_from_context(context))
    target = config.targets[index] if index < len(config.targets) else None
    if target is None or run["config"] != config_fingerprint(config):
        outcome = TargetOutcome(
            TargetReport(
                target.instance_id if target else f"targets[{index}]",
                target.region if target else "",
                error=f"Connect instance {target.key if target else index}: {CHANGED_CONFIG}",
            )
        )
    else:
        directory = load_directory(artifacts, run["directory_key"])
        store = build_store(config)
        writes = not request.dry_run
        with target_pass(store, target, run["run_id"], writes=writes) as busy:
            outcome = (
                TargetOutcome(
                    TargetReport(target.instance_id, target.region, error=busy, busy=True)
                )
                if busy
                else _pass(config, directory, index, request, run, logger, metrics)
            )
    artifacts.put(pass_key(run["run_id"], index, iteration), outcome_to_json(outcome))
    statuses = [a.status.value for a in outcome.report.actions]
    summary = {
        "target": index,
        "iteration": iteration + 1,
        "work_left": outcome.work_left,
        "applied": statuses.count("applied"),
        "left": statuses.count("planned") if outcome.work_left else 0,
    }
    logger.info("apply pass finished", extra=summary)
    return summary


def _pass(
    config: Config,
    directory: DirectoryRead,
    index: int,
    request: RunRequest,
    run: Mapping[str, Any],
    logger: Logger,
    metrics: Metrics,
) -> TargetOutcome:
    target = config.targets[index]
    try:
        with run_metrics.connect_calls(metrics) as connect:  # ConnectCalls, ConnectThrottles
            return apply_target(
                config,
                directory,
                index,
                request,
                started=run["started_at"],
                progress=LogProgress(logger),
                ledger=build_ledger(config),
                connect=connect,
            )
    except ConfigError as exc:
        _config_error(exc, logger, metrics)
        return TargetOutcome(
            TargetReport(target.instance_id, target.region, error=f"{target.key}: {exc}")
        )


def _finish(
    event: Mapping[str, Any],
    config: Config,
    logger: Logger,
    metrics: Metrics,
    artifacts: RunArtifacts,
) -> dict[str, Any]:
    state = event.get("state") or {}
    run = state["run"]
    logger.append_keys(run_id=run["run_id"])
    directory = load_directory(artifacts, run["directory_key"])
    results = pass_results(state)
    reports: list[TargetReport] = []
    mismatches: list[MismatchRecord] = []
    not_found: list[set[str]] = []
    errors = list(directory.errors)
    for index, target in enumerate(config.targets):
        result = results.get(index)
        if result is None or directory.snapshot is None:
            reports.append(TargetReport(target.instance_id, target.region))
            continue
        passes: list[TargetReport] = []
        for iteration in range(int(result.get("iterations") or 0)):
            document = artifacts.get(pass_key(run["run_id"], index, iteration))
            passes.append(target_report_from_json(document["report"]))
            mismatches.extend(mismatches_from_json(document.get("mismatches")))
            if iteration == int(result["iterations"]) - 1:
                not_found.append(set(document.get("users_not_found") or ()))
        report = merge_passes(passes) if passes else TargetReport(target.instance_id, target.region)
        if result.get("error"):
            failure = failure_message(result)
            report = dataclasses.replace(
                report, error=f"Connect instance {target.key}: the apply step failed: {failure}"
            )
        if report.error:
            errors.append(report.error)
        reports.append(report)
    if state.get("failure"):
        errors.append(f"the apply steps failed: {failure_message(state['failure'])}")
    wanted = list(run.get("users") or ())
    missing = set.intersection(*not_found) if not_found else set()
    outcome = finish_run(
        config,
        _request(run),
        directory,
        reports,
        mismatches,
        run_id=run["run_id"],
        started=run["started_at"],
        errors=errors,
        users_not_found=[v for v in dict.fromkeys(wanted) if v in missing],
        store=build_store(config),
        alerter=build_alerter(config),
        guard=finish_guard(run),
    )
    done = outcome.report
    artifacts.put(report_key(run["run_id"]), done.to_json())
    run_metrics.record_outcome(metrics, outcome, _seconds_since(run["started_at"]))
    summary = {
        "run_id": done.run_id,
        "status": done.status.value,
        "exit_code": outcome.exit_code,
        "counts": {t.instance_id: t.counts for t in done.targets},
        "passes": {str(i): int(r.get("iterations") or 0) for i, r in results.items()},
        "errors": len(done.all_errors),
        "report_key": report_key(run["run_id"]),
    }
    level = logger.info if outcome.exit_code == 0 else logger.warning
    level("run finished", extra=summary)
    return summary


# --------------------------------------------------------------------------- time


def _seconds_since(started: str) -> float:
    begun = datetime.fromisoformat(started.replace("Z", "+00:00"))
    return max(0.0, time.time() - begun.timestamp())


__all__ = [
    "DEFAULT_MAX_ITERATIONS",
    "MAX_ITERATIONS_ENV",
    "STEPS",
    "WORK_BUCKET_ENV",
    "config_fingerprint",
    "handle_step",
    "quota_scopes",
]
