"""The audit trail while a run is under way: its item from the start, actions as they finish.

``store.DynamoRunStore.record`` writes a run once it is over. A run that is killed (SIGKILL,
a Lambda timeout, a laptop closed) never gets there, so this journal writes, in the same
table and the same item layout:

- the run's item at the start, with ``status: running`` and a heartbeat ``running_until``
  (epoch seconds) that the run pushes forward while it is alive;
- each action's item as soon as the action is applied or has failed, through a writer
  thread (``ActionLog``) that sends what has finished at once, batching only what finishes
  while a write is under way: a kill loses at most the actions in flight;
- at the start of the next run, every run still ``running`` whose heartbeat has stopped is
  marked ``interrupted`` (``sweep``); that run reports their ids and alerts about them.

``record`` then overwrites the run's item with the final summary; action items keep their
keys (``ACTION#<nnnnn>`` in report order), so nothing is written twice under two keys.
``running`` and ``interrupted`` exist only here, in the history: a report never ends with
either status.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from connect_user_sync.domain.models import RunStatus
from connect_user_sync.domain.report import RunReport, SourceReport
from connect_user_sync.errors import ConfigError, TransientError
from connect_user_sync.store import DynamoRunStore

log = logging.getLogger(__name__)

SWEEP_RUNS = 50  # the latest runs looked at for a stopped heartbeat
FLUSH_SECONDS = 0.5  # the writer's thread also looks this often, woken or not
GRACE_SECONDS = 1.0  # a heartbeat this late is not yet a stopped one


class DynamoRunJournal:
    """Start, heartbeat, streamed actions and the interrupted sweep, on a ``DynamoRunStore``."""

    def __init__(
        self,
        store: DynamoRunStore,
        *,
        heartbeat_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.client = store.client
        self.table_name = store.table_name
        self.heartbeat_seconds = heartbeat_seconds
        self._clock = clock

    # ----------------------------------------------------------------- checks

    def check(self) -> None:
        """The table exists and can be described; raises ``ConfigError`` when it cannot."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.describe_table(TableName=self.table_name)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code == "ResourceNotFoundException":
                raise ConfigError(
                    "results.table (or RESULTS_TABLE)",
                    f"the DynamoDB table {self.table_name!r} does not exist in this account "
                    "and Region",
                    "create it (the template does) or point results.table / RESULTS_TABLE at "
                    "the right table; without it there is no history and no lease",
                ) from None
            if code in ("AccessDeniedException", "UnrecognizedClientException"):
                raise ConfigError(
                    "results.table (or RESULTS_TABLE)",
                    f"the table {self.table_name!r} cannot be used: {code}",
                    "allow dynamodb:DescribeTable, Query, GetItem, PutItem, UpdateItem, "
                    "DeleteItem and BatchWriteItem on it",
                ) from None
            raise TransientError(f"DescribeTable {self.table_name}: {code}", code=code) from exc
        except BotoCoreError as exc:
            raise TransientError(
                f"the results table {self.table_name} cannot be reached: {exc}",
                code=type(exc).__name__,
            ) from exc

    # ----------------------------------------------------------------- the run item

    def begin(self, report: RunReport) -> None:
        """Write the run's item with status ``running`` (``report`` is the run so far)."""
        item = self.store._run_item(report)
        item["status"] = RunStatus.RUNNING.value
        item["running_until"] = self._until()
        item.pop("finished_at", None)
        item.pop("duration_seconds", None)
        self.client.put_item(TableName=self.table_name, Item=self.store._encode(item))

    def heartbeat(self, run_id: str) -> None:
        """Push ``running_until`` forward while the run's item still says ``running``."""
        # Already recorded (or marked) when the condition fails: nothing left to keep alive.
        with contextlib.suppress(self.client.exceptions.ConditionalCheckFailedException):
            self.client.update_item(
                TableName=self.table_name,
                Key={"PK": {"S": f"RUN#{run_id}"}, "SK": {"S": "RUN"}},
                UpdateExpression="SET running_until = :until",
                ConditionExpression="#s = :running",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":until": {"N": str(self._until())},
                    ":running": {"S": RunStatus.RUNNING.value},
                },
            )

    def end_without_report(self, run_id: str, status: RunStatus, error: str) -> None:
        """Close the run's item when no report will follow (a configuration error mid-run,
        Ctrl-C): ``failed`` or ``interrupted``, with the reason."""
        with contextlib.suppress(self.client.exceptions.ConditionalCheckFailedException):
            self.client.update_item(
                TableName=self.table_name,
                Key={"PK": {"S": f"RUN#{run_id}"}, "SK": {"S": "RUN"}},
                UpdateExpression="SET #s = :status, finished_at = :now, errors = :errors, "
                "error_count = :one REMOVE running_until",
                ConditionExpression="#s = :running",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":status": {"S": status.value},
                    ":now": {"S": _iso(self._clock())},
                    ":errors": {"L": [{"S": error[:1000]}]},
                    ":one": {"N": "1"},
                    ":running": {"S": RunStatus.RUNNING.value},
                },
            )

    def sweep(self, by_run: str) -> list[str]:
        """Mark runs whose heartbeat stopped ``interrupted``; return their ids, oldest first."""
        now = self._clock()
        found: list[str] = []
        for run in self.store.latest_runs(SWEEP_RUNS):
            if run.get("status") != RunStatus.RUNNING.value or run.get("run_id") == by_run:
                continue
            until = run.get("running_until")
            if not isinstance(until, int | float) or until + GRACE_SECONDS > now:
                continue  # alive (or written by a version without a heartbeat)
            try:
                self.client.update_item(
                    TableName=self.table_name,
                    Key={"PK": {"S": f"RUN#{run['run_id']}"}, "SK": {"S": "RUN"}},
                    UpdateExpression="SET #s = :interrupted, interrupted_by = :me, "
                    "interrupted_found_at = :now",
                    ConditionExpression="#s = :running AND running_until = :until",
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={
                        ":interrupted": {"S": RunStatus.INTERRUPTED.value},
                        ":me": {"S": by_run},
                        ":now": {"S": _iso(now)},
                        ":running": {"S": RunStatus.RUNNING.value},
                        ":until": self.store._encode({"u": until})["u"],
                    },
                )
            except self.client.exceptions.ConditionalCheckFailedException:
                continue  # it came back to life, or another run marked it first
            found.append(str(run["run_id"]))
        return sorted(found)

    def _until(self) -> int:
        return int(self._clock() + self.heartbeat_seconds) + 1

    # ----------------------------------------------------------------- actions

    def action_log(self, report: RunReport) -> ActionLog:
        """A writer for this run's action items as they complete."""
        return ActionLog(self, report)


class ActionLog:
    """Buffers finished actions' items and writes them in batches from its own thread.

    ``add`` never blocks on DynamoDB and never raises: the apply must not wait for, or fail
    because of, its audit trail. ``close`` writes what is left. Problems are collected in
    ``errors`` (the run reports them).
    """

    def __init__(self, journal: DynamoRunJournal, report: RunReport) -> None:
        self.journal = journal
        self.report = report
        self.expires_at = int(journal._clock()) + journal.store.action_ttl_days * 86400
        self.errors: list[str] = []
        self.written = 0
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="action-log", daemon=True)
        self._thread.start()

    def add(self, number: int, fields: Mapping[str, Any]) -> None:
        """Queue the item of action ``number`` (its place in the report, from 1)."""
        try:
            item = self.journal.store._detail_item(
                self.report, fields, kind="ACTION", number=number, expires_at=self.expires_at
            )
        except Exception as exc:  # a value the item cannot hold: the final record retries
            self._note(f"an action item could not be built: {type(exc).__name__}: {exc}")
            return
        with self._lock:
            self._pending.append(item)
        self._wake.set()  # written at once; what finishes meanwhile joins the next batch

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        self._thread.join(timeout=60)
        self._flush()

    def _loop(self) -> None:
        while not self._closed:
            self._wake.wait(FLUSH_SECONDS)
            self._wake.clear()
            self._flush()

    def _flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        if not batch:
            return
        store = self.journal.store
        try:
            store._batch_write([{"PutRequest": {"Item": store._encode(i)}} for i in batch])
            self.written += len(batch)
        except Exception as exc:
            self._note(
                f"{len(batch)} action item(s) could not be written as they completed "
                f"({type(exc).__name__}: {exc}); the run's final record writes them"
            )

    def _note(self, message: str) -> None:
        log.warning(message)
        if len(self.errors) < 5:
            self.errors.append(message[:500])


def _iso(epoch: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def run_so_far(
    run_id: str, *, started: str, dry_run: bool, trigger: str, users: tuple[str, ...], source: str
) -> RunReport:
    """The report of a run that has just started: what its item and action keys need."""
    return RunReport(
        run_id=run_id,
        dry_run=dry_run,
        started_at=started,
        finished_at="",
        source=SourceReport(type=source),
        trigger=trigger,
        users=users,
    )
