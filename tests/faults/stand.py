"""The fault-injection suite's stand: Connect emulator, moto (DynamoDB, SNS, SQS), the CLI.

``Stand`` is ``tests.conftest.World`` plus what production has around a run: a results
table created from ``template.yaml``'s own definition and an alerts topic whose messages
land in an SQS queue. Runs go through the real CLI, in process (``cli``) or as a child
process (``spawn``) that a test can kill with SIGKILL.

The four invariants every fault test checks, as functions:

- ``no_wrong_deprovision``: nobody who is an active member of an in-scope group has a
  disabled (or deleted) Connect user;
- ``no_duplicates``: no directory user has two Connect users, no username exists twice;
- ``every_action_accounted``: every action of a report is applied, failed (with its
  error), held, or left ``planned`` with the deadline's note;
- ``run_recorded``: the run's item in the results table carries a final status (never
  ``running``) and one item per action.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from connect_user_sync.domain.models import TAG_DISABLED, TAG_MANAGED, TAG_SOURCE_ID
from connect_user_sync.store import DynamoRunStore
from connect_user_sync_emulators.connect import ConnectEmulator
from tests.conftest import SPEED, World, create_results_table, person

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
FINAL_STATUSES = {"planned", "succeeded", "partial", "refused", "failed", "busy"}
__all__ = ["Stand", "person"]


class Stand(World):
    """A World with a results table and an alerts topic (read back through SQS)."""

    def __init__(
        self,
        emulator: ConnectEmulator,
        tmp: Path,
        capsys: pytest.CaptureFixture[str],
        moto_url: str,
    ) -> None:
        super().__init__(emulator, tmp, capsys)
        self.moto_url = moto_url
        suffix = uuid.uuid4().hex[:8]
        self.ddb = boto3.client("dynamodb", region_name=REGION)
        self.sns = boto3.client("sns", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.table = f"results-{suffix}"
        create_results_table(self.ddb, self.table)
        self.topic_arn = self.sns.create_topic(Name=f"alerts-{suffix}")["TopicArn"]
        self.queue_url = self.sqs.create_queue(QueueName=f"alerts-{suffix}")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        self.sns.subscribe(
            TopicArn=self.topic_arn,
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={"RawMessageDelivery": "true"},
        )
        self.store = DynamoRunStore(self.table, client=self.ddb)
        self.config["results"] = {"table": self.table}
        self.config["alerts"] = {"topic_arn": self.topic_arn}

    # ----------------------------------------------------------------- running

    def env(self, **extra: str) -> dict[str, str]:
        """The environment a child process needs to reach the same emulator and moto."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        env.update(
            {
                "AWS_ENDPOINT_URL_CONNECT": self.emulator.url,
                "AWS_ENDPOINT_URL_DYNAMODB": self.moto_url,
                "AWS_ENDPOINT_URL_SNS": self.moto_url,
                "PYTHONPATH": str(ROOT),
            }
        )
        env.update(extra)
        return env

    def spawn(self, command: str = "apply", *args: str, **env: str) -> subprocess.Popen[str]:
        """The CLI as a child process (``--format json``), for killing or overlapping."""
        path = self.write()
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "connect_user_sync",
                command,
                "--config",
                str(path),
                "--format",
                "json",
                *args,
            ],
            env=self.env(**env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    @staticmethod
    def kill(process: subprocess.Popen[str]) -> None:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate(timeout=30)

    def wait_for_calls(self, operation: str, at_least: int, timeout: float = 60) -> int:
        """Block until the emulator has answered ``operation`` ``at_least`` times."""
        give_up = time.monotonic() + timeout
        while time.monotonic() < give_up:
            seen = self.emulator.calls[operation]
            if seen >= at_least:
                return seen
            time.sleep(0.005)
        raise AssertionError(f"{operation} was called {self.emulator.calls[operation]} times")

    # ----------------------------------------------------------------- reading back

    def run_item(self, run_id: str) -> dict[str, Any]:
        item = self.store.run(run_id)
        assert item is not None, f"run {run_id} has no item in the results table"
        return item

    def run_items(self, run_id: str) -> list[dict[str, Any]]:
        return list(
            self.store._query(
                KeyConditionExpression="PK = :pk",
                ExpressionAttributeValues={":pk": {"S": f"RUN#{run_id}"}},
            )
        )

    def alerts(self) -> list[dict[str, Any]]:
        """Every alert published so far (drains the queue)."""
        found = []
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=10,
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            ).get("Messages", [])
            if not batch:
                return found
            for message in batch:
                found.append({"body": message["Body"]})
                self.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )


@pytest.fixture
def stand(
    connect_emulator: ConnectEmulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    moto_url: str,
) -> Iterator[Stand]:
    monkeypatch.setenv("AWS_ENDPOINT_URL_CONNECT", connect_emulator.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SNS", moto_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", moto_url)
    monkeypatch.setenv("LEASE_WAIT_SECONDS", "1")
    connect_emulator.clear_faults()
    yield Stand(connect_emulator, tmp_path, capsys, moto_url)
    connect_emulator.clear_faults()


def people(count: int, prefix: str = "agent", groups: tuple[str, ...] = ("Agents",)) -> list[Any]:
    return [person(f"{prefix}-{i}", f"{prefix}.n{i}@example.com", groups) for i in range(count)]


# --------------------------------------------------------------------------- invariants


def active_members(stand: Stand) -> dict[str, str]:
    """source id -> username of every enabled directory user in an in-scope group."""
    scoped = {g["name"] for g in stand.config["groups"]}
    return {
        u["id"]: u["upn"]
        for u in stand.directory["users"]
        if u.get("enabled", True) and scoped & set(u.get("groups", ()))
    }


def no_wrong_deprovision(stand: Stand) -> None:
    """Nobody active in an in-scope group is disabled or missing after being created."""
    users = stand.users()
    for source_id, username in active_members(stand).items():
        user = users.get(username)
        if user is None:
            continue  # not created yet (a fault left the create for the next run)
        assert not user["Tags"].get(TAG_DISABLED), f"{username} is active but was disabled"
        assert user["Tags"].get(TAG_SOURCE_ID) in (None, source_id)


def no_duplicates(stand: Stand) -> None:
    """No directory user has two Connect users; no username twice (case included)."""
    managed = [u for u in stand.emulator.users(stand.iid) if u["Tags"].get(TAG_MANAGED) == "true"]
    by_source = Counter(u["Tags"].get(TAG_SOURCE_ID) for u in managed)
    assert [s for s, n in by_source.items() if n > 1] == []
    names = Counter(u["Username"].lower() for u in stand.emulator.users(stand.iid))
    assert [n for n, c in names.items() if c > 1] == []


def every_action_accounted(report: dict[str, Any]) -> None:
    """Every planned action ended applied, failed (with why), held, or waits for the next run."""
    for target in report["targets"]:
        for action in target["actions"]:
            status = action["status"]
            assert status in ("applied", "failed", "held", "planned"), action
            if status == "failed":
                assert action["error"], action
            if status == "planned" and not report["dry_run"]:
                assert action["error"] and "next run" in action["error"], action


def run_recorded(stand: Stand, report: dict[str, Any]) -> dict[str, Any]:
    """The run has its final item, with one item per action of its report."""
    item = stand.run_item(report["run_id"])
    assert item["status"] == report["status"] and item["status"] in FINAL_STATUSES
    assert "running_until" not in item
    actions = [i for i in stand.run_items(report["run_id"]) if i["SK"].startswith("ACTION#")]
    expected = sum(len(t["actions"]) for t in report["targets"])
    assert len(actions) == expected, "one item per action, none twice"
    return item


def converged(stand: Stand) -> None:
    """A fault-free plan finds nothing left to do."""
    code, report, err = stand.cli("plan")
    assert code == 0, err
    assert report is not None and stand.actions(report) == []


def load(text: str) -> dict[str, Any]:
    value = json.loads(text)
    assert isinstance(value, dict)
    return value


__all__ += [
    "SPEED",
    "active_members",
    "converged",
    "every_action_accounted",
    "load",
    "no_duplicates",
    "no_wrong_deprovision",
    "people",
    "run_recorded",
]
