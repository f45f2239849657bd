"""A workflow run's share of the safeguards: its item from the start, a lease per pass.

``run_sync`` holds its leases and heartbeat for the whole run in one process
(``safeguards.RunGuard``). A workflow run spans many Lambda invocations, so the same
safeguards come in pieces:

- the read step checks the results table, marks runs whose heartbeat stopped as
  ``interrupted``, and writes this run's item with status ``running``
  (``audit.DynamoRunJournal``), beating its heartbeat while it reads. The ids of the runs
  it marked travel in the state (``run["interrupted_runs"]``: a sweep looks at no more than
  ``audit.SWEEP_RUNS`` runs, so the list stays short);
- each apply pass takes its target's lease (``lease.DynamoLeases``) under the run's id, so
  a later pass of the same run takes it over at once while any other run (a direct invoke,
  the CLI) finds the target busy; it renews the lease and the heartbeat while it works and
  gives the lease back at the end. Between passes the lease is free for a moment: the next
  pass plans from live state, so a run that slipped in between only means less work left;
- the finish step's record completes the run's item, and its report (``interrupted_runs``),
  alert and ``RunsInterrupted`` metric tell of the runs the read step marked
  (``finish_guard``).

Without a results table (or with another store) there is nothing to guard.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from connect_user_sync.audit import DynamoRunJournal, run_so_far
from connect_user_sync.config import TargetConfig
from connect_user_sync.lease import DynamoLeases, LeaseKeeper, lease_key, lease_settings
from connect_user_sync.ports import RunStore
from connect_user_sync.safeguards import RunGuard
from connect_user_sync.store import DynamoRunStore


def _keeper(
    leases: DynamoLeases | None, keys: list[str], run_id: str, journal: DynamoRunJournal
) -> LeaseKeeper:
    seconds, _ = lease_settings()
    return LeaseKeeper(
        leases,
        keys,
        run_id,
        interval=max(0.2, seconds / 4),
        beat=lambda: journal.heartbeat(run_id),
    ).start()


def begin_run(
    store: RunStore | None,
    *,
    run_id: str,
    started: str,
    dry_run: bool,
    trigger: str,
    users: tuple[str, ...],
    source: str,
) -> tuple[list[str], Callable[[], None]]:
    """Check the table, sweep, write the run's item; returns the runs marked interrupted
    and the function that stops the heartbeat. Raises ``ConfigError`` for an unusable table."""
    if not isinstance(store, DynamoRunStore):
        return [], lambda: None
    seconds, _ = lease_settings()
    journal = DynamoRunJournal(store, heartbeat_seconds=seconds)
    journal.check()
    try:
        interrupted = journal.sweep(run_id)
    except Exception:  # a failed sweep must not stop the sync; the next run sweeps again
        interrupted = []
    journal.begin(
        run_so_far(
            run_id, started=started, dry_run=dry_run, trigger=trigger, users=users, source=source
        )
    )
    return interrupted, _keeper(None, [], run_id, journal).stop


@contextlib.contextmanager
def target_pass(
    store: RunStore | None, target: TargetConfig, run_id: str, *, writes: bool
) -> Iterator[str | None]:
    """Hold ``target``'s lease for one pass (``writes``; a dry run needs none) and keep the
    heartbeat going. Yields None, or why the target is busy (the pass must not touch it)."""
    if not isinstance(store, DynamoRunStore):
        yield None
        return
    seconds, wait = lease_settings()
    journal = DynamoRunJournal(store, heartbeat_seconds=seconds)
    leases = (
        DynamoLeases(store.client, store.table_name, seconds=seconds, wait=wait) if writes else None
    )
    key = lease_key(target.region, target.instance_id)
    if leases is not None:
        holder = leases.acquire(key, run_id)
        if holder is not None:
            yield (
                f"Connect instance {target.region}/{target.instance_id} is busy: another "
                f"{holder.describe()}. This run changed nothing there; run again once it is done"
            )
            return
    keeper = _keeper(leases, [key] if leases is not None else [], run_id, journal)
    try:
        yield None
    finally:
        keeper.stop()
        if leases is not None:
            leases.release(key, run_id)


def finish_guard(run: Mapping[str, Any]) -> RunGuard:
    """What the finish step's report adds from the run's earlier steps (``finish_run``'s
    ``guard``): the runs the read step marked interrupted. Busy targets are in the passes'
    reports already, and the leases and heartbeat ended with each step."""
    found = run.get("interrupted_runs") or ()
    return RunGuard(str(run["run_id"]), interrupted_runs=[str(r) for r in found])


__all__ = ["begin_run", "finish_guard", "target_pass"]
