"""The phases of a run, as values and functions that ``service`` composes.

``service.run_sync`` runs them in one go. The Step Functions workflow
(``connect_user_sync.orchestration``) runs the same phases as separate Lambda steps: the
directory is read once (``read_directory``), each target is planned, gated and applied as
often as it takes (``service.apply_target``, which plans with ``plan_and_gate``), and the
run is reported once (``build_report``, through ``service.finish_run``). Nothing here is
specific to either caller, so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from connect_user_sync.config import Config
from connect_user_sync.domain.models import (
    ActionKind,
    ActionStatus,
    ConnectUser,
    DirectorySnapshot,
    SyncAction,
    TargetPlan,
)
from connect_user_sync.domain.ownership import Ledger
from connect_user_sync.domain.planner import PlanPolicy, in_filter, plan_target, view_directory
from connect_user_sync.domain.report import MismatchRecord, RunReport, SourceReport, TargetReport
from connect_user_sync.domain.safety import (
    SafetyLimits,
    empty_groups,
    gate_target,
    shrunk_groups,
)
from connect_user_sync.domain.settings import ResolvedRule
from connect_user_sync.errors import DirectoryReadError
from connect_user_sync.on_demand import NamedRead, TargetRead, wanted_names
from connect_user_sync.ports import DirectorySource, RunStore
from connect_user_sync.safeguards import read_budget, read_within_budget


@dataclass(frozen=True)
class DirectoryRead:
    """Phase 1's result: the snapshot (None when nothing could be read) and what it means.

    ``read_errors`` are the directory's own problems; ``history_errors`` say that the last
    run's group sizes could not be read. ``emptied`` names groups that came back empty (or
    shrank) since the last complete run; ``doubts`` are reasons to hold deprovisioning.
    """

    snapshot: DirectorySnapshot | None
    read_errors: tuple[str, ...] = ()
    history_errors: tuple[str, ...] = ()
    emptied: tuple[str, ...] = ()
    doubts: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        return self.snapshot is not None and self.snapshot.complete

    @property
    def errors(self) -> tuple[str, ...]:
        return self.read_errors + self.history_errors


@dataclass(frozen=True)
class TargetOutcome:
    """One target after one pass of plan, gate and apply.

    ``users_not_found`` are the ``--user`` values that neither the directory nor this
    target's managed users know. ``work_left`` is True when the deadline came before every
    planned action had started: another pass (which plans again from live state) has work.
    """

    report: TargetReport
    mismatches: tuple[MismatchRecord, ...] = ()
    users_not_found: tuple[str, ...] = ()
    dry_run: bool = False

    @property
    def work_left(self) -> bool:
        if self.dry_run:
            return False
        return any(a.status == ActionStatus.PLANNED for a in self.report.actions)


# A pass with a deadline starts (and announces in the results table) only the creates and
# adoptions the quota lets it start before the deadline, with some to spare; the others
# wait for the next pass, which plans them again from live state.
PASS_OVERBOOK = 1.25
DEFERRED = "deferred to the next pass: the quota allows fewer creates before this pass's deadline"
_BUDGETED = frozenset({ActionKind.CREATE, ActionKind.ADOPT})


def pass_budget(seconds_left: float, rate: float) -> int:
    """How many creates (and adoptions) a pass may start: ``rate`` per second, overbooked."""
    return int(max(0.0, seconds_left) * rate * PASS_OVERBOOK) + 1


def defer_beyond(plan: TargetPlan, budget: int) -> list[SyncAction]:
    """Keep at most ``budget`` planned creates and adoptions in ``plan``; take the rest
    out, with every other action of the same directory users (a rename's deprovisioning
    waits for its create), marked ``DEFERRED``, and return them."""
    budgeted = [a for a in plan.actions if a.kind in _BUDGETED and a.status == ActionStatus.PLANNED]
    if len(budgeted) <= budget:
        return []
    later = {id(a) for a in budgeted[budget:]}
    people = {a.source_id for a in budgeted[budget:] if a.source_id}
    deferred: list[SyncAction] = []
    kept: list[SyncAction] = []
    for action in plan.actions:
        waits = id(action) in later or (
            action.source_id in people and action.status == ActionStatus.PLANNED
        )
        if waits:
            action.error = DEFERRED
            deferred.append(action)
        else:
            kept.append(action)
    plan.actions[:] = kept
    return deferred


def merge_passes(passes: Sequence[TargetReport]) -> TargetReport:
    """One target's report over the apply passes of one workflow run (at least one).

    Each pass plans from live state, so what an earlier pass applied is not in a later
    plan. The merged report lists the actions every earlier pass applied, then the last
    readable pass's actions as they ended (held, failed, or left for the next run). Users
    in step and managed users are counted as the first pass found them, before the run
    changed anything; the error is the last pass's, if it could not read the target.
    """
    readable = [p for p in passes if not p.error]
    first = readable[0] if readable else passes[0]
    last = readable[-1] if readable else None
    actions = [a for p in readable[:-1] for a in p.actions if a.applied]
    if last is not None:
        actions.extend(last.actions)
    return TargetReport(
        first.instance_id,
        first.region,
        tuple(actions),
        first.unchanged,
        first.managed_users,
        last.held_because if last is not None else (),
        passes[-1].error,
        busy=passes[-1].busy,
        ownership=last.ownership if last is not None else None,
    )


def read_directory(
    config: Config,
    *,
    store: RunStore | None = None,
    source: DirectorySource | None = None,
    deadline: float | None = None,
    users: Sequence[str] = (),
) -> DirectoryRead:
    """Phase 1: read the directory once, and compare its groups with the last complete run.

    The read has a time budget (``safeguards.read_budget``: at most half the time left
    before ``deadline``, a ``time.monotonic`` value); a read that runs out of it is
    incomplete, so nothing is deprovisioned, and the run still records and alerts in time.
    With ``users`` (an on-demand run) only those users are looked up (``on_demand``).
    """
    budget = read_budget(deadline)
    if source is None:
        from connect_user_sync.sources import build_source

        source = build_source(config)
    if wanted_names(users):
        named = config.username
        source = NamedRead(source, wanted_names(users), named.attribute, named.lowercase)
    read_errors: list[str] = []
    snapshot: DirectorySnapshot | None
    try:
        snapshot = read_within_budget(source, config.groups, budget)
    except DirectoryReadError as exc:
        snapshot = None
        read_errors.append(str(exc))
    if snapshot is not None:
        read_errors.extend(snapshot.errors)
    emptied: list[str] = []
    history: list[str] = []
    doubts: list[str] = []
    if store is not None and snapshot is not None:
        try:
            previous = store.previous_group_counts()
            emptied = empty_groups(snapshot.groups, previous)
            # A group that shrank by more than the percentage limit is as suspect.
            doubts.extend(
                shrunk_groups(snapshot.groups, previous, config.safety.max_deprovision_percent)
            )
        except Exception as exc:  # without the last run's counts an emptied group goes unseen
            history.append(f"the previous run could not be read from the results table: {exc}")
            doubts.append(
                "the previous run's group sizes could not be read, so an emptied group would go unnoticed"
            )
    return DirectoryRead(
        snapshot, tuple(read_errors), tuple(history), tuple(emptied), tuple(doubts)
    )


def only_filter(users: Sequence[str]) -> frozenset[str] | None:
    """The ``--user`` filter as the planner takes it (None: everybody)."""
    return frozenset(users) if users else None


def plan_and_gate(
    config: Config,
    directory: DirectoryRead,
    *,
    instance_id: str,
    region: str,
    rules: Sequence[ResolvedRule],
    policy: PlanPolicy,
    connect_users: Sequence[ConnectUser],
    started: str,
    users: Sequence[str] = (),
    approve_deprovision: bool = False,
    approve_adoption: bool = False,
    ledger: Ledger | None = None,
    looked_up: TargetRead | None = None,
) -> tuple[TargetPlan | None, list[MismatchRecord]]:
    """Phase 3 for one target: its plan, its mismatches, and the safety gate's holds.

    ``ledger`` is the tool's ownership records for the target (None: no results table, and
    ownership rests on the tags; see ``domain.ownership``). ``looked_up`` is what an
    on-demand run looked up in this target (``on_demand``): the directory as its look-ups
    widened it, and the instance's count of active managed users, the base of the
    percentage limit that the few users read cannot give.
    """
    if looked_up is not None:
        directory = replace(
            directory,
            snapshot=looked_up.snapshot or directory.snapshot,
            read_errors=(*directory.read_errors, *looked_up.errors),
            doubts=(*directory.doubts, *looked_up.doubts),
        )
    snapshot = directory.snapshot
    if snapshot is None:
        return None, []
    only = only_filter(users)
    policy = replace(policy, approve_adoption=approve_adoption)
    view = view_directory(snapshot.users, list(rules), policy)
    plan, found = plan_target(
        instance_id, region, view, connect_users, policy, now=started, only=only, ledger=ledger
    )
    if looked_up is not None and looked_up.managed is not None:
        plan.managed_count = max(plan.managed_count, looked_up.managed)
    shared = [m for m in view.mismatches if in_filter(only, m.username, m.source_id)]
    records = [MismatchRecord.of(m) for m in shared] + [
        MismatchRecord.of(m, plan.instance_id) for m in found
    ]
    gate_target(
        plan,
        SafetyLimits(config.safety.max_deprovision, config.safety.max_deprovision_percent),
        read_complete=directory.complete,
        emptied_groups=list(directory.emptied),
        approved=approve_deprovision,
        report_only=config.deprovision.action == "report",
        doubts=list(directory.doubts),
        # Without a results table, the directory's size against the active managed users.
        directory_users=len(view.wanted) + len(view.skipped) if only is None else None,
    )
    return plan, records


def users_in_scope(snapshot: DirectorySnapshot | None, users: Sequence[str]) -> int:
    if snapshot is None:
        return 0
    only = only_filter(users)
    if only is None:
        return len(snapshot.users)
    return sum(
        1
        for u in snapshot.users
        if in_filter(only, u.source_id, *(v for v in u.attributes.values() if v))
    )


def not_found_message(value: str) -> str:
    return (
        f"--user {value!r} matches nobody in scope: no directory user in the configured "
        "groups and no Connect user this tool manages has that username or directory id"
    )


def build_report(
    config: Config,
    directory: DirectoryRead,
    targets: Sequence[TargetReport],
    mismatches: Iterable[MismatchRecord],
    *,
    run_id: str,
    started: str,
    finished: str,
    dry_run: bool,
    trigger: str,
    users: Sequence[str],
    errors: Sequence[str] = (),
    users_not_found: Sequence[str] = (),
) -> RunReport:
    """The run report from the directory read and every target's report.

    ``errors`` are the run's problems (the directory's come first); a message for each
    ``--user`` value that matched nobody is added after them. Mismatches are listed once
    per key, in the order first seen.
    """
    snapshot = directory.snapshot
    unique: dict[str, MismatchRecord] = {}
    for record in mismatches:
        unique.setdefault(record.key, record)
    return RunReport(
        run_id=run_id,
        dry_run=dry_run,
        trigger=trigger,
        users=tuple(users),
        started_at=started,
        finished_at=finished,
        source=SourceReport(
            type=config.source.type,
            users_in_scope=users_in_scope(snapshot, users),
            complete=directory.complete,
            groups={g.name: g.member_count for g in snapshot.groups} if snapshot else {},
            error_count=len(directory.read_errors),
            read_failed=snapshot is None,
        ),
        targets=tuple(targets),
        mismatches=tuple(unique.values()),
        errors=(*errors, *(not_found_message(v) for v in users_not_found)),
        users_not_found=tuple(users_not_found),
    )


__all__ = [
    "DirectoryRead",
    "TargetOutcome",
    "build_report",
    "defer_beyond",
    "merge_passes",
    "not_found_message",
    "only_filter",
    "pass_budget",
    "plan_and_gate",
    "read_directory",
    "users_in_scope",
]
