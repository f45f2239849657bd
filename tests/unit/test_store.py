"""DynamoRunStore against moto's DynamoDB: item layout, GSIs, open mismatches, batch retries."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer
from moto import mock_aws

from connect_user_sync.domain.models import ActionKind, ActionStatus, Change, MismatchKind
from connect_user_sync.domain.report import (
    ActionOutcome,
    MismatchRecord,
    RunReport,
    SourceReport,
    TargetReport,
)
from connect_user_sync.errors import TransientError
from connect_user_sync.store import MAX_BATCH_ATTEMPTS, DynamoRunStore
from tests.conftest import create_results_table

TABLE = "runs"
NOW = 1_800_000_000.0


@pytest.fixture
def client() -> Iterator[Any]:
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        create_results_table(ddb, TABLE)
        yield ddb


def make_store(client: Any, **kwargs: Any) -> DynamoRunStore:
    return DynamoRunStore(TABLE, client=client, clock=lambda: NOW, sleep=lambda _: None, **kwargs)


def mismatch(
    username: str,
    connect: str | None = None,
    *,
    kind: MismatchKind = MismatchKind.CASE,
    instance: str | None = "i-1",
    sid: str = "s1",
) -> MismatchRecord:
    return MismatchRecord(kind, username, connect, sid, "x", instance)


def report(
    run_id: str,
    started: str,
    *,
    actions: tuple[ActionOutcome, ...] = (),
    mismatches: tuple[MismatchRecord, ...] = (),
    complete: bool = True,
    dry_run: bool = False,
    users: tuple[str, ...] = (),
    groups: dict[str, int] | None = None,
    target_error: str | None = None,
) -> RunReport:
    return RunReport(
        run_id=run_id,
        dry_run=dry_run,
        trigger="schedule",
        users=users,
        started_at=started,
        finished_at=started.replace(":00Z", ":30Z"),
        source=SourceReport("file", 3, complete, groups if groups is not None else {"Agents": 3}),
        targets=(TargetReport("i-1", "us-east-1", actions, error=target_error),),
        mismatches=mismatches,
    )


def create(username: str, *, changes: dict[str, Change] | None = None) -> ActionOutcome:
    return ActionOutcome(
        ActionKind.CREATE,
        username,
        "s-" + username,
        None,
        ActionStatus.APPLIED,
        None,
        changes or {},
    )


def items(client: Any) -> list[dict[str, Any]]:
    plain = TypeDeserializer()
    return [
        {k: plain.deserialize(v) for k, v in i.items()}
        for i in client.scan(TableName=TABLE)["Items"]
    ]


def test_record_writes_a_run_item_and_one_item_per_action_and_mismatch(client: Any) -> None:
    store = make_store(client, action_ttl_days=30)
    store.record(
        report(
            "r1",
            "2026-01-01T02:00:00Z",
            actions=(
                create(
                    "a@x.com",
                    changes={
                        "security_profiles": Change(frozenset(), {"sp2", "sp1"}),
                        "ratio": Change(0.5, 1.25),
                    },
                ),
                create("b@x.com"),
            ),
            mismatches=(mismatch("c@x.com", "C@x.com"),),
        )
    )

    found = {i["SK"]: i for i in items(client) if i["PK"] == "RUN#r1"}
    assert set(found) == {"RUN", "ACTION#00001", "ACTION#00002", "MISMATCH#00001"}
    assert all(i["run_id"] == "r1" for i in items(client))
    run = found["RUN"]
    assert run["GSI1PK"] == "RUNS" and run["GSI1SK"] == f"2026-01-01T02:00:00Z#{NOW:017.6f}#r1"
    assert "expires_at" not in run
    assert run["duration_seconds"] == 30 and run["mismatch_counts"] == {"case_mismatch": 1}
    action = found["ACTION#00001"]
    assert action["GSI2PK"] == "USER#a@x.com" and action["instance_id"] == "i-1"
    assert action["expires_at"] == int(NOW) + 30 * 86400
    assert action["changes"]["security_profiles"]["to"] == ["sp1", "sp2"]
    assert found["MISMATCH#00001"]["key"] == mismatch("c@x.com", "C@x.com").key
    assert found["MISMATCH#00001"]["key"] == "case_mismatch|i-1|s1|c@x.com|C@x.com"
    assert store.history("a@x.com")[0]["changes"]["ratio"] == {"from": 0.5, "to": 1.25}


def test_latest_runs_and_history_come_newest_first_across_pages(client: Any) -> None:
    store = make_store(client)
    for day in range(1, 8):
        store.record(report(f"r{day}", f"2026-01-0{day}T02:00:00Z", actions=(create("a@x.com"),)))

    assert [r["run_id"] for r in store.latest_runs(3)] == ["r7", "r6", "r5"]
    assert len(store.latest_runs(150)) == 7
    history = store.history("a@x.com", limit=4)
    assert [h["run_id"] for h in history] == ["r7", "r6", "r5", "r4"]
    assert store.history("nobody@x.com") == []
    assert store.run("r3")["started_at"] == "2026-01-03T02:00:00Z"  # type: ignore[index]
    assert store.run("missing") is None


def test_previous_group_counts_come_from_the_latest_complete_read(client: Any) -> None:
    store = make_store(client)
    assert store.previous_group_counts() is None
    store.record(report("r1", "2026-01-01T02:00:00Z", groups={"Agents": 40, "Leads": 2}))
    store.record(report("r2", "2026-01-02T02:00:00Z", complete=False, groups={"Agents": 0}))

    assert store.previous_group_counts() == {"Agents": 40, "Leads": 2}


def test_open_mismatches_are_created_kept_and_resolved_only_by_a_full_complete_run(
    client: Any,
) -> None:
    store = make_store(client)
    jane, raj = (
        mismatch("jane@x.com", "Jane@x.com", sid="s1"),
        mismatch("raj@x.com", "Raj@x.com", sid="s2"),
    )

    store.record(report("r0", "2026-01-01T01:00:00Z", mismatches=(jane,), dry_run=True))
    assert store.open_mismatch_keys() == set()  # a dry run told nobody

    store.record(report("r1", "2026-01-01T02:00:00Z", mismatches=(jane, raj)))
    assert store.open_mismatch_keys() == {jane.key, raj.key}

    store.record(report("r2", "2026-01-02T02:00:00Z", users=("raj@x.com",)))  # scoped run
    store.record(report("r3", "2026-01-03T02:00:00Z", complete=False))  # incomplete read
    store.record(report("r4", "2026-01-04T02:00:00Z", target_error="instance unreadable"))
    assert len(store.open_mismatch_keys()) == 2

    store.record(report("r5", "2026-01-05T02:00:00Z", mismatches=(raj,)))
    [still] = store.open_mismatches()
    assert still["username"] == "raj@x.com"
    assert still["first_seen_run_id"] == "r1" and still["run_id"] == "r5"
    assert still["first_seen_at"] == "2026-01-01T02:00:30Z"
    [typed] = store.open_mismatch_records()  # what the reminder reads
    assert typed.record == raj and typed.first_seen_run_id == "r1" and typed.run_id == "r5"


class FlakyClient:
    """The real (moto) client, except BatchWriteItem hands back part of each batch unprocessed."""

    def __init__(self, inner: Any, *, give_up: bool = False) -> None:
        self.inner = inner
        self.give_up = give_up
        self.batch_calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def batch_write_item(self, RequestItems: dict[str, list[Any]]) -> dict[str, Any]:
        self.batch_calls += 1
        requests = RequestItems[TABLE]
        if self.give_up:
            return {"UnprocessedItems": {TABLE: requests}}
        keep, back = requests[: len(requests) // 2 + 1], requests[len(requests) // 2 + 1 :]
        self.inner.batch_write_item(RequestItems={TABLE: keep})
        return {"UnprocessedItems": {TABLE: back} if back else {}}


def test_unprocessed_items_are_sent_again_until_written(client: Any) -> None:
    flaky = FlakyClient(client)
    store = make_store(flaky)
    actions = tuple(create(f"user{i}@x.com") for i in range(40))

    store.record(report("r1", "2026-01-01T02:00:00Z", actions=actions))

    assert len([i for i in items(client) if i["SK"].startswith("ACTION#")]) == 40
    assert flaky.batch_calls > 2  # 41 items: two batches, each needing resends


def test_a_write_dynamodb_never_accepts_is_an_error_not_a_silent_loss(client: Any) -> None:
    store = make_store(FlakyClient(client, give_up=True))
    with pytest.raises(TransientError, match=f"after {MAX_BATCH_ATTEMPTS} attempts"):
        store.record(report("r1", "2026-01-01T02:00:00Z"))
