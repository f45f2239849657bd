"""The sync service: one run of source -> plan -> safety gate -> apply -> report.

Phases are kept apart on purpose: everything that can reject the configuration (group
names, Connect profile names in every target) is resolved before the first write, so a
configuration error never leaves a run half done.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from connect_user_sync.config import Config, ConfigError, TargetConfig
from connect_user_sync.connect import Catalog, ConnectInstance, RateLimiter, connect_client
from connect_user_sync.domain.models import (
    ActionStatus,
    ConnectUser,
    DirectorySnapshot,
    Mismatch,
    RunStatus,
    SyncAction,
    TargetPlan,
)
from connect_user_sync.domain.planner import PlanPolicy, in_filter, plan_target, view_directory
from connect_user_sync.domain.safety import SafetyLimits, empty_groups, gate_target
from connect_user_sync.domain.settings import ResolvedRule
from connect_user_sync.errors import DirectoryReadError, PermanentError, TransientError
from connect_user_sync.ports import Alerter, DirectorySource, RunStore, mismatch_key

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_REFUSED, EXIT_DIRECTORY = 0, 1, 2, 3, 4
_EXIT_FOR_STATUS = {
    RunStatus.PLANNED: EXIT_OK,
    RunStatus.SUCCEEDED: EXIT_OK,
    RunStatus.PARTIAL: EXIT_PARTIAL,
    RunStatus.REFUSED: EXIT_REFUSED,
    RunStatus.FAILED: EXIT_DIRECTORY,
}
SOURCE_LABELS = {"entra": "Entra ID", "okta": "Okta", "duo": "Duo", "file": "the directory"}


@dataclass(frozen=True)
class RunRequest:
    """What one run is asked to do (the CLI flags, or the Lambda event)."""

    dry_run: bool = False
    users: tuple[str, ...] = ()
    approve_deprovision: bool = False
    deadline: float | None = None  # a time.monotonic() value; no new write starts after it
    trigger: str = "cli"
    run_id: str | None = None  # given by callers that log under the id before the run starts


@dataclass
class RunOutcome:
    report: dict[str, Any]
    exit_code: int


@dataclass
class _Target:
    config: TargetConfig
    instance: ConnectInstance | None = None
    users: list[ConnectUser] = field(default_factory=list)
    rules: list[ResolvedRule] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)  # Connect id -> name, for reports
    policy: PlanPolicy | None = None
    plan: TargetPlan | None = None
    error: str | None = None


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
    connect_client_factory: Callable[[TargetConfig], Any] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
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
    factory = connect_client_factory or _default_client
    if snapshot is not None:
        for index, target in enumerate(targets):
            notify(f"Reading Connect {target.config.instance_id}", index, len(targets))
            _read_target(target, config, factory, index)
            if target.error:
                errors.append(target.error)

    # Phase 3: plans, mismatches and the safety gate.
    mismatches: list[dict[str, Any]] = []
    seen_keys: set[str] = set()
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
        for mismatch, instance_id in [(m, None) for m in shared] + [
            (m, plan.instance_id) for m in found
        ]:
            entry = _mismatch_dict(mismatch, instance_id)
            if mismatch_key(entry) not in seen_keys:
                seen_keys.add(mismatch_key(entry))
                mismatches.append(entry)
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

    status = _status(request, complete, targets)
    report = {
        "run_id": run_id,
        "status": status.value,
        "dry_run": request.dry_run,
        "trigger": request.trigger,
        "users": list(request.users),
        "started_at": started,
        "finished_at": now_iso(),
        "source": {
            "type": config.source.type,
            "users_in_scope": _in_scope(snapshot, only),
            "complete": complete,
            "groups": {g.name: g.member_count for g in snapshot.groups} if snapshot else {},
        },
        "targets": [_target_dict(t) for t in targets],
        "mismatches": mismatches,
        "errors": errors,
    }
    _finish(report, store, alerter)
    final = RunStatus(str(report["status"]))  # _finish may have degraded it
    return RunOutcome(report, _EXIT_FOR_STATUS[final])


# --------------------------------------------------------------------------- phases


def _progress_counter(
    notify: Callable[[str, int, int], None], plan: TargetPlan, label: str
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


def _default_client(target: TargetConfig) -> Any:
    return connect_client(target.region, role_arn=target.role_arn, external_id=target.external_id)


def _read_target(
    target: _Target, config: Config, factory: Callable[[TargetConfig], Any], index: int
) -> None:
    label = f"{target.config.region}/{target.config.instance_id}"
    try:
        client = factory(target.config)
        scope = f"{target.config.region}/{target.config.account_id or target.config.role_arn or 'default'}"
        target.instance = ConnectInstance(
            client, target.config.instance_id, limiter=RateLimiter.for_scope(scope)
        )
        catalog = target.instance.catalog()
        target.names = catalog.names_by_id()
        target.rules, target.policy = _resolve(config, catalog, index)
        target.users = target.instance.read_users()
    except ConfigError:
        raise
    except (PermanentError, TransientError) as exc:
        target.error = f"Connect instance {label} could not be read: {exc}"
    except Exception as exc:  # credentials, endpoints: say what failed, keep other targets going
        target.error = f"Connect instance {label} could not be read: {type(exc).__name__}: {exc}"
    if target.error:
        target.policy = None


def _resolve(
    config: Config, catalog: Catalog, target_index: int
) -> tuple[list[ResolvedRule], PlanPolicy]:
    rules: list[ResolvedRule] = []
    where = f" (target {target_index})" if len(config.targets) > 1 else ""
    for index, rule in enumerate(config.groups):
        path = f"groups[{index}]"
        rules.append(
            ResolvedRule(
                label=rule.label,
                security_profile_ids=tuple(
                    catalog.security_profile(name, f"{path}.security_profiles{where}")
                    for name in rule.security_profiles
                ),
                routing_profile_id=catalog.routing_profile(
                    rule.routing_profile, f"{path}.routing_profile{where}"
                ),
                hierarchy_group_id=catalog.hierarchy_group(
                    rule.hierarchy_group, f"{path}.hierarchy_group{where}"
                )
                if rule.hierarchy_group
                else None,
                phone=rule.phone,
            )
        )
    deprovision = config.deprovision
    disabled_sp = disabled_rp = None
    if deprovision.disabled_security_profile:
        disabled_sp = catalog.security_profile(
            deprovision.disabled_security_profile, f"deprovision.disabled_security_profile{where}"
        )
    if deprovision.disabled_routing_profile:
        disabled_rp = catalog.routing_profile(
            deprovision.disabled_routing_profile, f"deprovision.disabled_routing_profile{where}"
        )
    policy = PlanPolicy(
        username_attribute=config.username.attribute,
        lowercase=config.username.lowercase,
        deprovision_action=deprovision.action,
        disabled_security_profile_id=disabled_sp,
        disabled_routing_profile_id=disabled_rp,
        protected_usernames=config.safety.protected_usernames,
        adopt_existing=config.safety.adopt_existing,
        source_label=SOURCE_LABELS.get(config.source.type, "the IdP"),
    )
    return rules, policy


def _status(request: RunRequest, complete: bool, targets: Sequence[_Target]) -> RunStatus:
    if not complete:
        return RunStatus.FAILED
    if request.dry_run:
        return RunStatus.PLANNED
    actions = [a for t in targets if t.plan for a in t.plan.actions]
    if any(t.plan and t.plan.hold_reasons for t in targets):
        return RunStatus.REFUSED
    unfinished = any(a.status in (ActionStatus.FAILED, ActionStatus.PLANNED) for a in actions)
    if unfinished or any(t.error for t in targets):
        return RunStatus.PARTIAL
    return RunStatus.SUCCEEDED


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


def _finish(report: dict[str, Any], store: RunStore | None, alerter: Alerter | None) -> None:
    """Record the run and alert. A failure here is reported, never swallowed."""
    new = report["mismatches"]
    if store is not None:
        try:
            known = set(store.open_mismatch_keys())
            new = [m for m in report["mismatches"] if mismatch_key(m) not in known]
            store.record(report)
        except Exception as exc:
            _degrade(report, f"the run could not be recorded in DynamoDB: {exc}")
    if alerter is not None:
        try:
            alerter.notify(report, new)
        except Exception as exc:
            _degrade(report, f"the alert could not be sent: {exc}")


def _degrade(report: dict[str, Any], message: str) -> None:
    report["errors"].append(message)
    if report["status"] == RunStatus.SUCCEEDED.value:
        report["status"] = RunStatus.PARTIAL.value


# --------------------------------------------------------------------------- report


def _target_dict(target: _Target) -> dict[str, Any]:
    plan = target.plan or TargetPlan(target.config.instance_id, target.config.region)
    out: dict[str, Any] = {
        "instance_id": target.config.instance_id,
        "region": target.config.region,
        "counts": plan.counts(),
        "actions": [_action_dict(a, target.names) for a in plan.actions],
        "managed_users": plan.managed_count,
    }
    if plan.hold_reasons:
        out["held_because"] = list(plan.hold_reasons)
    if target.error:
        out["error"] = target.error
    return out


# Reports speak in the names people see in the Connect console, not in ids.
_NAMED_FIELDS = {
    "security_profile_ids": "security_profiles",
    "routing_profile_id": "routing_profile",
    "hierarchy_group_id": "hierarchy_group",
}


def _named(value: Any, names: Mapping[str, str]) -> Any:
    if isinstance(value, list):
        return sorted(names.get(v, v) for v in value)
    if isinstance(value, str):
        return names.get(value, value)
    return value


def _action_dict(action: SyncAction, names: Mapping[str, str]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for field_name, change in action.changes.items():
        if field_name in _NAMED_FIELDS:
            changes[_NAMED_FIELDS[field_name]] = {
                "from": _named(change.before, names),
                "to": _named(change.after, names),
            }
        else:
            changes[field_name] = {"from": change.before, "to": change.after}
    return {
        "action": action.kind.value,
        "username": action.username,
        "source_id": action.source_id,
        "user_id": action.user_id,
        "changes": changes,
        "status": action.status.value,
        "error": action.error,
    }


def _mismatch_dict(mismatch: Mismatch, instance_id: str | None) -> dict[str, Any]:
    return {
        "kind": mismatch.kind.value,
        "username": mismatch.username,
        "connect_username": mismatch.connect_username,
        "source_id": mismatch.source_id,
        "detail": mismatch.detail,
        "instance_id": instance_id,
    }


__all__ = ["RunOutcome", "RunRequest", "run_sync"]
