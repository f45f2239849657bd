"""The run lease and the run journal against moto's DynamoDB (the table from template.yaml).

GIVEN the results table, WHEN runs start, hold, renew, crash and record, THEN one run at a
time holds a target, a crashed holder's lease expires, a run's item exists from its start,
a stopped heartbeat is found and marked interrupted, and keys built from hostile usernames
always fit DynamoDB's limits.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from connect_user_sync.audit import DynamoRunJournal, run_so_far
from connect_user_sync.config import ConfigError
from connect_user_sync.domain.models import ActionKind, ActionStatus, MismatchKind
from connect_user_sync.domain.report import (
    ActionOutcome,
    MismatchRecord,
    RunReport,
    SourceReport,
    TargetReport,
)
from connect_user_sync.lease import DynamoLeases, LeaseKeeper, lease_key, lease_settings
from connect_user_sync.store import DynamoRunStore
from tests.conftest import create_results_table

TABLE = "runs"
KEY = lease_key("us-east-1", "11111111-2222-3333-4444-555555555555")


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def client() -> Iterator[Any]:
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        create_results_table(ddb, TABLE)
        yield ddb


def leases(client: Any, clock: Clock, **kwargs: Any) -> DynamoLeases:
    return DynamoLeases(
        client, TABLE, clock=clock, sleep=lambda s: setattr(clock, "now", clock.now + s), **kwargs
    )


# --------------------------------------------------------------------------- the lease


def test_one_holder_at_a_time_and_a_waiter_learns_who_holds_it(client: Any) -> None:
    clock = Clock()
    first, second = leases(client, clock, seconds=60, wait=3), leases(client, clock, wait=3)
    assert first.acquire(KEY, "run-1") is None
    began = clock.now
    holder = second.acquire(KEY, "run-2")
    assert holder is not None and holder.run_id == "run-1"
    assert 2.5 <= clock.now - began <= 3, "the second run waited briefly, then gave up"
    assert "run-1" in holder.describe() and "holds it until" in holder.describe()
    assert first.acquire(KEY, "run-1") is None, "taking one's own lease again is fine"


def test_a_released_lease_is_free_and_a_release_never_frees_someone_elses(client: Any) -> None:
    clock = Clock()
    lease = leases(client, clock, wait=0)
    assert lease.acquire(KEY, "run-1") is None
    lease.release(KEY, "run-2")  # not its lease: nothing happens
    assert lease.acquire(KEY, "run-2") is not None
    lease.release(KEY, "run-1")
    assert lease.acquire(KEY, "run-2") is None


def test_a_crashed_holders_lease_expires_and_renewal_keeps_a_live_one(client: Any) -> None:
    clock = Clock()
    lease = leases(client, clock, seconds=60, wait=0)
    assert lease.acquire(KEY, "crashed") is None
    clock.now += 45
    assert lease.renew(KEY, "crashed"), "renewed at 45 s: good until 105 s"
    clock.now += 59
    assert lease.acquire(KEY, "next") is not None, "still held"
    clock.now += 2
    assert lease.acquire(KEY, "next") is None, "expired: the next run takes it"
    assert not lease.renew(KEY, "crashed"), "the old holder learns it lost the lease"


def test_the_keeper_renews_until_stopped_and_reports_a_lost_lease(client: Any) -> None:
    clock = Clock()
    lease = leases(client, clock, seconds=10, wait=0)
    assert lease.acquire(KEY, "run-1") is None
    beats = threading.Event()
    lost: list[str] = []
    keeper = LeaseKeeper(lease, [KEY], "run-1", interval=0.05, beat=beats.set, on_error=lost.append)
    keeper.start()
    assert beats.wait(5)
    clock.now += 100  # nobody renewed in time: another run takes over
    assert lease.acquire(KEY, "run-2") is None
    keeper.renew_now()
    keeper.stop()
    assert keeper.lost == [KEY] and any("lost" in m for m in lost)


def test_lease_settings_come_from_the_environment() -> None:
    assert lease_settings({}) == (120.0, 5.0)
    assert lease_settings({"LEASE_SECONDS": "30", "LEASE_WAIT_SECONDS": "0"}) == (30.0, 0.0)
    with pytest.raises(ConfigError, match="LEASE_SECONDS"):
        lease_settings({"LEASE_SECONDS": "0.1"})


# --------------------------------------------------------------------------- the journal


def _report(
    run_id: str, *actions: ActionOutcome, mismatches: tuple[MismatchRecord, ...] = ()
) -> RunReport:
    return RunReport(
        run_id=run_id,
        dry_run=False,
        started_at="2027-01-01T00:00:00Z",
        finished_at="2027-01-01T00:01:00Z",
        source=SourceReport("file", 1, True, {"Agents": 1}),
        targets=(TargetReport("i-1", "us-east-1", actions=tuple(actions)),),
        mismatches=mismatches,
    )


def _applied(username: str) -> ActionOutcome:
    return ActionOutcome(ActionKind.CREATE, username, "s1", "u1", ActionStatus.APPLIED)


def test_a_run_is_on_record_from_its_start_and_its_actions_as_they_finish(client: Any) -> None:
    clock = Clock()
    store = DynamoRunStore(TABLE, client=client, clock=clock)
    journal = DynamoRunJournal(store, heartbeat_seconds=60, clock=clock)
    so_far = run_so_far(
        "run-1",
        started="2027-01-01T00:00:00Z",
        dry_run=False,
        trigger="cli",
        users=(),
        source="file",
    )
    journal.begin(so_far)
    item = store.run("run-1")
    assert item is not None and item["status"] == "running"
    assert item["running_until"] > clock.now
    log = journal.action_log(so_far)
    log.add(1, {**_applied("ana@example.com").to_json(), "instance_id": "i-1"})
    log.add(2, {**_applied("bo@example.com").to_json(), "instance_id": "i-1"})
    log.close()
    assert log.written == 2 and log.errors == []
    history = store.history("bo@example.com")
    assert [h["run_id"] for h in history] == ["run-1"]

    # The final record overwrites the same keys: one item per action, never two.
    store.record(_report("run-1", _applied("ana@example.com"), _applied("bo@example.com")))
    items = client.query(
        TableName=TABLE,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": "RUN#run-1"}},
    )["Items"]
    assert sorted(i["SK"]["S"] for i in items) == ["ACTION#00001", "ACTION#00002", "RUN"]
    final = store.run("run-1")
    assert final is not None and final["status"] == "succeeded" and "running_until" not in final


def test_a_stopped_heartbeat_is_marked_interrupted_by_the_next_run(client: Any) -> None:
    clock = Clock()
    store = DynamoRunStore(TABLE, client=client, clock=clock)
    journal = DynamoRunJournal(store, heartbeat_seconds=60, clock=clock)
    for run_id in ("alive", "killed"):
        journal.begin(
            run_so_far(
                run_id,
                started="2027-01-01T00:00:00Z",
                dry_run=False,
                trigger="cli",
                users=(),
                source="file",
            )
        )
    clock.now += 50
    journal.heartbeat("alive")
    assert journal.sweep("next") == [], "both heartbeats are still fresh"
    clock.now += 30
    assert journal.sweep("next") == ["killed"]
    killed, alive = store.run("killed"), store.run("alive")
    assert killed is not None and killed["status"] == "interrupted"
    assert killed["interrupted_by"] == "next"
    assert alive is not None and alive["status"] == "running"
    assert journal.sweep("later") == [], "marked once"


def test_a_missing_table_is_a_configuration_error(client: Any) -> None:
    journal = DynamoRunJournal(DynamoRunStore("no-such-table", client=client), heartbeat_seconds=60)
    with pytest.raises(ConfigError, match="does not exist"):
        journal.check()


def test_hostile_usernames_are_recorded_with_keys_that_fit(client: Any) -> None:
    """A 3,000-character username made the whole recording fail (ValidationException)."""
    store = DynamoRunStore(TABLE, client=client)
    long_name = "x" * 3000 + "@example.com"
    wide = "名" * 1000  # 3,000 bytes in UTF-8
    mismatch = MismatchRecord(MismatchKind.INVALID, long_name, None, "s9", "too long", "i-1")
    store.record(_report("run-1", _applied(long_name), _applied(wide), mismatches=(mismatch,)))
    assert [h["run_id"] for h in store.history(long_name)] == ["run-1", "run-1"]
    assert len(store.history(wide)) == 1
    assert [m.record.username for m in store.open_mismatch_records()] == [
        mismatch.to_json()["username"]
    ]
    # The next complete run no longer sees it: the hashed key is found and deleted.
    store.record(_report("run-2"))
    assert store.open_mismatch_records() == []
