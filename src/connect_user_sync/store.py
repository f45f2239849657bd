"""Run history in one DynamoDB table: runs, their actions and mismatches, open mismatches.

Single-table layout (every item carries ``run_id``, the run that last wrote it):

=====================  ==========================  =========================================
item                   PK / SK                     GSIs and TTL
=====================  ==========================  =========================================
run summary            ``RUN#<run_id>`` / ``RUN``  GSI1 ``RUNS`` / ``<started_at>#<run_id>``
action                 ``RUN#<run_id>`` /          GSI2 ``USER#<username>`` /
                       ``ACTION#<nnnnn>``          ``<started_at>#<run_id>#ACTION#<nnnnn>``;
                                                   ``expires_at``
mismatch               ``RUN#<run_id>`` /          GSI2 as for actions (``MISMATCH#``);
                       ``MISMATCH#<nnnnn>``        ``expires_at``
open mismatch          ``OPEN`` / ``MISMATCH#<key>``  none; deleted when resolved
=====================  ==========================  =========================================

A username or mismatch key too long for a DynamoDB key (more than 512 bytes) is replaced
in the key by ``sha256:<hex>`` of it (``domain.bounded.key_component``); the value itself
stays in the item's ``username`` / ``key`` attribute. The results table also holds the run
leases (``lease.py``); a run's item says ``running`` from its start (``audit.py``).

GSI1 answers "the latest runs" (one partition, sorted by start time); GSI2 answers "what
happened to this username" across runs. Both project every attribute: the items are small
and the reads are rare, so a second round trip per result would cost more than the space.

Run summaries stay for good (one small item per run); action and mismatch items expire
after ``action_ttl_days`` through DynamoDB's TTL on ``expires_at``.

An open-mismatch item is created the first time a mismatch is recorded and removed by the
first full, complete, non-dry run that no longer reports it. Dry runs and runs limited to a
few users never change the open set: a dry run sends no alert, so marking its mismatches
"already seen" would swallow the alert of the next real run, and a run limited to some
users cannot tell whether anybody else's mismatch went away.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

from connect_user_sync.domain.bounded import capped as as_reported
from connect_user_sync.domain.bounded import key_component
from connect_user_sync.domain.models import ActionStatus, RunStatus
from connect_user_sync.domain.report import (
    MismatchRecord,
    OpenMismatch,
    RunReport,
    TargetReport,
)
from connect_user_sync.errors import TransientError
from connect_user_sync.retry import RetryPolicy

RUNS_PARTITION = "RUNS"
OPEN_PARTITION = "OPEN"
GSI_RUNS = "GSI1"
GSI_USER = "GSI2"
BATCH_SIZE = 25  # BatchWriteItem's limit
MAX_BATCH_ATTEMPTS = 8
BATCH_RETRY = RetryPolicy(max_attempts=MAX_BATCH_ATTEMPTS, base=0.05, cap=5.0)
# The run summary counts actions per status under the status's own name.
HELD, FAILED = ActionStatus.HELD.value, ActionStatus.FAILED.value
# The summary keeps this many error lines; the full list lives in the logs.
MAX_SUMMARY_ERRORS = 50
_ERROR_CHARS = 1000


def _plain(value: Any) -> Any:
    """Turn what the deserializer returns (Decimal, set) back into JSON-friendly values."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    return value


def _storable(value: Any) -> Any:
    """Make a report value acceptable to DynamoDB: floats become Decimals, empty strings stay."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, Mapping):
        return {str(k): _storable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_storable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return [_storable(v) for v in sorted(value, key=str)]
    return value


def _seconds_between(started: str | None, finished: str | None) -> float | None:
    from datetime import datetime

    if not started or not finished:
        return None
    try:
        begin = datetime.fromisoformat(started.replace("Z", "+00:00"))
        end = datetime.fromisoformat(finished.replace("Z", "+00:00"))
    except ValueError:
        return None
    return round((end - begin).total_seconds(), 3)


class DynamoRunStore:
    """A ``RunStore`` on DynamoDB, with the read-backs the CLI and the reminder need.

    Parameters
    ----------
    table_name:
        The table created by ``template.yaml`` (or any table with the same keys and GSIs).
    client:
        A boto3 ``dynamodb`` client; by default one from the standard AWS configuration,
        so ``AWS_ENDPOINT_URL_DYNAMODB`` points it at a local endpoint.
    action_ttl_days:
        How long action and mismatch items are kept before DynamoDB expires them.
    """

    def __init__(
        self,
        table_name: str,
        *,
        client: Any = None,
        action_ttl_days: int = 90,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        retry: RetryPolicy = BATCH_RETRY,
    ) -> None:
        if client is None:
            import boto3

            client = boto3.client("dynamodb")
        from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

        self.table_name = table_name
        self.client = client
        self.action_ttl_days = action_ttl_days
        self._clock = clock
        # DynamoDB hands back what it could not take (throttling, partition limits): back
        # off with jitter, as its documentation asks, then resend only that.
        self._retry = replace(retry, sleep=sleep)
        self._serializer = TypeSerializer()
        self._deserializer = TypeDeserializer()

    # ----------------------------------------------------------------- RunStore

    def previous_group_counts(self) -> Mapping[str, int] | None:
        """Group sizes seen by the latest full run whose directory read was complete.

        An on-demand (``--user``) run reads no group whole, so its run is skipped. So are
        dry runs and runs the safety gate refused: sizes nobody acted on (or approved) must
        not become the baseline, or a group that emptied would hold back one run only.
        """
        for run in self._runs(page_size=25):
            if (
                run.get("source_complete")
                and not run.get("users_filter")
                and not run.get("dry_run")
                and run.get("status") != RunStatus.REFUSED.value
            ):
                groups = run.get("groups") or {}
                return {str(name): int(count) for name, count in groups.items()}
        return None

    def open_mismatch_keys(self) -> Collection[str]:
        return {str(item["key"]) for item in self._open_items()}

    def record(self, report: RunReport) -> None:
        """Write the run summary, one item per action and mismatch, and the open set.

        Items are made as they are sent, a batch at a time, never all at once.
        """
        puts, deletes = self._open_changes(report)
        expires = int(self._clock()) + self.action_ttl_days * 86400

        def items() -> Iterator[Mapping[str, Any]]:
            yield self._run_item(report)
            number = 0
            for target in report.targets:
                where = {"instance_id": target.instance_id, "region": target.region}
                for action in target.actions:
                    number += 1
                    fields = {**action.to_json(), **where}
                    yield self._detail_item(
                        report, fields, kind="ACTION", number=number, expires_at=expires
                    )
            for number, mismatch in enumerate(report.mismatches, start=1):
                fields = {**mismatch.to_json(), "key": mismatch.key}
                yield self._detail_item(
                    report, fields, kind="MISMATCH", number=number, expires_at=expires
                )
            yield from puts

        self._batch_write(
            itertools.chain(
                ({"PutRequest": {"Item": self._encode(item)}} for item in items()),
                ({"DeleteRequest": {"Key": self._encode(key)}} for key in deletes),
            )
        )

    # ----------------------------------------------------------------- read-backs

    def latest_runs(self, limit: int = 20) -> list[dict[str, Any]]:
        """Run summaries, newest first."""
        runs: list[dict[str, Any]] = []
        for run in self._runs(page_size=min(max(limit, 1), 100)):
            runs.append(run)
            if len(runs) >= limit:
                break
        return runs

    def history(self, username: str, limit: int = 50) -> list[dict[str, Any]]:
        """Actions and mismatches recorded for ``username`` (exact spelling), newest first."""
        found: list[dict[str, Any]] = []
        for item in self._query(
            IndexName=GSI_USER,
            KeyConditionExpression="GSI2PK = :pk",
            # Items hold the username as the report gave it (capped): look that up.
            ExpressionAttributeValues={
                ":pk": {"S": f"USER#{key_component(as_reported(username))}"}
            },
            ScanIndexForward=False,
            Limit=min(max(limit, 1), 100),
        ):
            found.append(item)
            if len(found) >= limit:
                break
        return found

    def open_mismatches(self) -> list[dict[str, Any]]:
        """Every mismatch that is still open, oldest first, as stored."""
        return sorted(self._open_items(), key=lambda item: str(item.get("first_seen_at", "")))

    def open_mismatch_records(self) -> list[OpenMismatch]:
        """Every mismatch that is still open, oldest first, as typed values."""
        return [
            OpenMismatch(
                MismatchRecord.from_json(item),
                first_seen_at=item.get("first_seen_at"),
                first_seen_run_id=item.get("first_seen_run_id"),
                last_seen_at=item.get("last_seen_at"),
                run_id=item.get("run_id"),
            )
            for item in self.open_mismatches()
        ]

    def run(self, run_id: str) -> dict[str, Any] | None:
        """One run's summary, or None."""
        response = self.client.get_item(
            TableName=self.table_name,
            Key=self._encode({"PK": f"RUN#{run_id}", "SK": "RUN"}),
        )
        item = response.get("Item")
        return self._decode(item) if item else None

    # ----------------------------------------------------------------- items

    def _run_item(self, report: RunReport) -> dict[str, Any]:
        errors = [e[:_ERROR_CHARS] for e in report.all_errors]
        mismatch_counts: dict[str, int] = {}
        for mismatch in report.mismatches:
            mismatch_counts[mismatch.kind.value] = mismatch_counts.get(mismatch.kind.value, 0) + 1
        return {
            "PK": f"RUN#{report.run_id}",
            "SK": "RUN",
            "GSI1PK": RUNS_PARTITION,
            "GSI1SK": f"{report.started_at}#{self._tiebreak()}#{report.run_id}",
            "type": "run",
            "run_id": report.run_id,
            "status": report.status.value,
            "dry_run": report.dry_run,
            "trigger": report.trigger,
            "users_filter": list(report.users),
            "started_at": report.started_at,
            "finished_at": report.finished_at,
            "duration_seconds": _seconds_between(report.started_at, report.finished_at),
            "source_type": report.source.type,
            "source_complete": report.source.complete,
            "users_in_scope": report.source.users_in_scope,
            "groups": dict(report.source.groups),
            "targets": [_target_summary(t) for t in report.targets],
            HELD: report.held,
            "mismatch_counts": mismatch_counts,
            "errors": errors[:MAX_SUMMARY_ERRORS],
            "error_count": len(errors),
        }

    def _tiebreak(self) -> str:
        # Start times have one-second resolution; two runs in the same second still sort
        # in the order they were recorded.
        return f"{self._clock():017.6f}"

    def _detail_item(
        self,
        report: RunReport,
        fields: Mapping[str, Any],
        *,
        kind: str,
        number: int,
        expires_at: int,
    ) -> dict[str, Any]:
        run_id = report.run_id
        started = report.started_at
        sort_key = f"{kind}#{number:05d}"
        tiebreak = self._tiebreak()
        item = {k: v for k, v in fields.items() if v is not None and k not in ("PK", "SK")}
        item.update(
            {
                "PK": f"RUN#{run_id}",
                "SK": sort_key,
                "type": kind.lower(),
                "run_id": run_id,
                "started_at": started,
                "dry_run": report.dry_run,
                "expires_at": expires_at,
            }
        )
        username = fields.get("username")
        if username:
            item["GSI2PK"] = f"USER#{key_component(str(username))}"
            item["GSI2SK"] = f"{started}#{tiebreak}#{run_id}#{sort_key}"
        return item

    def _open_changes(self, report: RunReport) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
        """Open-mismatch items to (re)write and keys to delete for this report."""
        if report.dry_run:
            return [], []
        now = report.finished_at or report.started_at
        existing = {str(item["key"]): item for item in self._open_items()}
        current: dict[str, MismatchRecord] = {}
        for mismatch in report.mismatches:
            current.setdefault(mismatch.key, mismatch)
        puts = []
        for key, mismatch in current.items():
            before = existing.get(key, {})
            item = {k: v for k, v in mismatch.to_json().items() if v is not None}
            item.update(
                {
                    "PK": OPEN_PARTITION,
                    "SK": f"MISMATCH#{key_component(key)}",
                    "type": "open_mismatch",
                    "key": key,
                    "run_id": report.run_id,
                    "first_seen_run_id": before.get("first_seen_run_id", report.run_id),
                    "first_seen_at": before.get("first_seen_at", now),
                    "last_seen_at": now,
                }
            )
            puts.append(item)
        deletes: list[dict[str, str]] = []
        if _resolves_mismatches(report):
            unreadable = {t.instance_id for t in report.targets if t.error}
            for key, item in existing.items():
                if key in current or item.get("instance_id") in unreadable:
                    continue
                deletes.append({"PK": OPEN_PARTITION, "SK": f"MISMATCH#{key_component(key)}"})
        return puts, deletes

    # ----------------------------------------------------------------- low level

    def _encode(self, item: Mapping[str, Any]) -> dict[str, Any]:
        return {k: self._serializer.serialize(_storable(v)) for k, v in item.items()}

    def _decode(self, item: Mapping[str, Any]) -> dict[str, Any]:
        plain = _plain({k: self._deserializer.deserialize(v) for k, v in item.items()})
        assert isinstance(plain, dict)
        return plain

    def _runs(self, page_size: int) -> Iterator[dict[str, Any]]:
        return self._query(
            IndexName=GSI_RUNS,
            KeyConditionExpression="GSI1PK = :pk",
            ExpressionAttributeValues={":pk": {"S": RUNS_PARTITION}},
            ScanIndexForward=False,
            Limit=page_size,
        )

    def _open_items(self) -> list[dict[str, Any]]:
        return list(
            self._query(
                KeyConditionExpression="PK = :pk",
                ExpressionAttributeValues={":pk": {"S": OPEN_PARTITION}},
            )
        )

    def _query(self, **params: Any) -> Iterator[dict[str, Any]]:
        """Every item a query returns, page after page, decoded."""
        request = {"TableName": self.table_name, **params}
        while True:
            response = self.client.query(**request)
            for item in response.get("Items", ()):
                yield self._decode(item)
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            request["ExclusiveStartKey"] = last

    def _batch_write(self, requests: Iterable[Mapping[str, Any]]) -> None:
        for chunk in _chunks(requests, BATCH_SIZE):
            pending: list[Mapping[str, Any]] = list(chunk)
            budget = self._retry.start()
            while True:
                response = self.client.batch_write_item(RequestItems={self.table_name: pending})
                pending = list((response.get("UnprocessedItems") or {}).get(self.table_name, ()))
                if not pending:
                    break
                if not budget.wait():
                    raise TransientError(
                        f"DynamoDB left {len(pending)} item(s) unwritten in {self.table_name} "
                        f"after {budget.attempts} attempts",
                        code="UnprocessedItems",
                    )


def _target_summary(target: TargetReport) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "instance_id": target.instance_id,
        "region": target.region,
        "counts": target.counts,
        FAILED: target.failed,
        HELD: len(target.held_actions),
        "managed_users": target.managed_users,
    }
    if target.held_because:
        summary["held_because"] = list(target.held_because)
    if target.error:
        summary["error"] = target.error
    return summary


def _resolves_mismatches(report: RunReport) -> bool:
    """Only a full, complete run that read some target can tell that a mismatch went away."""
    readable = any(not t.error for t in report.targets)
    return report.source.complete and not report.users and readable


def _chunks(items: Iterable[Mapping[str, Any]], size: int) -> Iterable[Sequence[Mapping[str, Any]]]:
    """``items`` in lists of ``size``, taken from the iterable as each list is needed."""
    source = iter(items)
    while chunk := list(itertools.islice(source, size)):
        yield chunk
