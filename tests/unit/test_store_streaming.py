"""The results store writes a run's items as it makes them, never all at once.

GIVEN a run report with thousands of actions, WHEN it is recorded in DynamoDB (moto),
THEN every action has its item; the items are taken from a generator a batch at a time
(``make bench`` shows the memory staying flat: the table adds the same few MB at 2,000 and
at 10,000 actions).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from connect_user_sync import store as store_module
from connect_user_sync.domain.models import ActionKind, ActionStatus, Change
from connect_user_sync.domain.report import ActionOutcome, RunReport, SourceReport, TargetReport
from connect_user_sync.store import DynamoRunStore
from tests.conftest import create_results_table

TABLE = "runs"


@pytest.fixture
def client() -> Iterator[Any]:
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        create_results_table(ddb, TABLE)
        yield ddb


def creates(run_id: str, count: int) -> RunReport:
    actions = tuple(
        ActionOutcome(
            ActionKind.CREATE,
            f"agent.{i}@example.com",
            f"s{i}",
            None,
            ActionStatus.PLANNED,
            None,
            {"last_name": Change(None, f"N{i}"), "email": Change(None, f"agent.{i}@x.com")},
        )
        for i in range(count)
    )
    return RunReport(
        run_id=run_id,
        dry_run=True,
        started_at="2026-01-01T00:00:00Z",
        finished_at="2026-01-01T00:00:05Z",
        source=SourceReport("file", count, True, {"Agents": count}),
        targets=(TargetReport("i-1", "us-east-1", actions),),
    )


def test_every_action_is_recorded(client: Any) -> None:
    store = DynamoRunStore(TABLE, client=client, sleep=lambda _: None)
    store.record(creates("r1", 1234))
    count = client.query(
        TableName=TABLE,
        KeyConditionExpression="PK = :pk AND begins_with(SK, :a)",
        ExpressionAttributeValues={":pk": {"S": "RUN#r1"}, ":a": {"S": "ACTION#"}},
        Select="COUNT",
    )["Count"]
    assert count == 1234


def test_chunks_take_from_the_iterable_only_as_each_batch_is_needed() -> None:
    endless = ({"n": n} for n in itertools.count())
    first, second = itertools.islice(store_module._chunks(endless, 25), 2)
    assert [i["n"] for i in first] == list(range(25))
    assert [i["n"] for i in second] == list(range(25, 50))
