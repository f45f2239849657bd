"""Alert messages: when one is sent, what it says, and what SNS receives."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws

from connect_user_sync.alerts import (
    JSON_MARKER,
    MESSAGE_LIMIT,
    SUBJECT_LIMIT,
    SnsAlerter,
    compose_reminder,
    compose_run_alert,
    describe_mismatch,
    parse_json_section,
)


def run_report(
    status: str = "succeeded",
    *,
    dry_run: bool = False,
    held: int = 0,
    errors: tuple[str, ...] = (),
    source: str = "entra",
) -> dict[str, Any]:
    actions = [
        {
            "action": "disable",
            "username": f"leaver{i}@x.com",
            "source_id": None,
            "user_id": f"u{i}",
            "changes": {},
            "status": "held",
            "error": None,
        }
        for i in range(held)
    ]
    target: dict[str, Any] = {
        "instance_id": "inst-1",
        "region": "us-east-1",
        "counts": {"disable": held},
        "actions": actions,
    }
    if held:
        target["held_because"] = [f"{held} deprovisionings exceed max_deprovision (25)"]
    return {
        "run_id": "run-1",
        "status": status,
        "dry_run": dry_run,
        "trigger": "schedule",
        "started_at": "2026-01-01T02:00:00Z",
        "finished_at": "2026-01-01T02:03:00Z",
        "source": {"type": source, "users_in_scope": 10, "complete": status != "failed"},
        "targets": [target],
        "mismatches": [],
        "errors": list(errors),
    }


CASE = {
    "kind": "case_mismatch",
    "username": "jane.doe@x.com",
    "connect_username": "Jane.Doe@x.com",
    "source_id": "e-1",
    "detail": "Login would fail.",
    "instance_id": "inst-1",
}


def test_a_clean_run_sends_nothing() -> None:
    assert compose_run_alert(run_report(), []) is None


def test_a_dry_run_alerts_only_on_a_safety_stop() -> None:
    assert compose_run_alert(run_report("planned", dry_run=True), [CASE]) is None
    subject, body = compose_run_alert(
        run_report("failed", dry_run=True, errors=("Graph said 503",)), [CASE]
    ) or ("", "")
    assert subject.startswith("connect-user-sync: Dry run: directory read failed")
    assert "Graph said 503" in body and parse_json_section(body)["new_mismatches"] == []


def test_a_case_mismatch_is_explained_in_plain_english() -> None:
    subject, body = compose_run_alert(run_report(), [CASE]) or ("", "")
    plain = body.partition(JSON_MARKER)[0]
    assert subject == "connect-user-sync: 1 new mismatch"
    assert (
        "Connect user Jane.Doe@x.com (Connect instance inst-1) differs only in letter case "
        "from what Entra ID asserts, jane.doe@x.com"
    ) in plain
    assert "logins will fail" in plain and "Recreate the Connect user as jane.doe@x.com" in plain


@pytest.mark.parametrize(
    "kind", ["attribute_mismatch", "invalid_username", "duplicate_username", "renamed"]
)
def test_every_kind_names_the_person_and_a_way_out(kind: str) -> None:
    text = describe_mismatch({**CASE, "kind": kind}, "Okta")
    assert "jane.doe@x.com" in text and "e-1" in text
    assert any(verb in text for verb in ("Recreate", "Fix", "Make", "Check"))


def test_held_deprovisioning_lists_who_and_how_to_approve() -> None:
    subject, body = compose_run_alert(run_report("refused", held=3), []) or ("", "")
    assert subject == "connect-user-sync: 3 deprovisionings held back"
    plain = body.partition(JSON_MARKER)[0]
    assert "leaver2@x.com" in plain and '{"approve_deprovision": true}' in plain
    assert "3 deprovisionings exceed max_deprovision (25)" in plain
    machine = parse_json_section(body)
    assert machine["safety_stop"] is True and len(machine["held_actions"]) == 3


def test_a_huge_run_stays_inside_the_sns_size_limit() -> None:
    many = [{**CASE, "username": f"user{i}@x.com", "detail": "d" * 300} for i in range(3000)]
    _, body = compose_run_alert(run_report("refused", held=2000), many) or ("", "")
    assert len(body.encode("utf-8")) <= MESSAGE_LIMIT
    machine = parse_json_section(body)
    assert machine["new_mismatches_total"] == 3000 and len(machine["new_mismatches"]) == 50
    assert "... and 2950 more" in body


@settings(max_examples=60, deadline=None)
@given(username=st.text(min_size=0, max_size=300), count=st.integers(0, 10**6))
def test_subjects_are_short_single_line_ascii(username: str, count: int) -> None:
    report = run_report("refused", held=1)
    report["targets"][0]["actions"][0]["username"] = username
    mismatches = [{**CASE, "username": username}] * min(count, 3)
    subject, _ = compose_run_alert(report, mismatches) or ("", "")
    assert 0 < len(subject) <= SUBJECT_LIMIT
    assert subject.isascii() and "\n" not in subject and "\r" not in subject


def test_reminder_lists_open_mismatches_with_their_age() -> None:
    assert compose_reminder([]) is None
    subject, body = compose_reminder([{**CASE, "first_seen_at": "2026-01-01T02:03:00Z"}]) or (
        "",
        "",
    )
    assert subject == "connect-user-sync: reminder, 1 mismatch still open"
    assert "open since 2026-01-01T02:03:00Z" in body and "Jane.Doe@x.com" in body


@pytest.fixture
def topic() -> Iterator[tuple[str, Any, str]]:
    with mock_aws():
        sns = boto3.client("sns", region_name="eu-west-1")
        sqs = boto3.client("sqs", region_name="eu-west-1")
        arn = sns.create_topic(Name="alerts")["TopicArn"]
        url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)
        yield arn, sqs, url


def received(sqs: Any, url: str) -> list[dict[str, Any]]:
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def test_sns_gets_one_message_with_attributes(topic: tuple[str, Any, str]) -> None:
    arn, sqs, url = topic
    alerter = SnsAlerter(arn)  # the Region comes from the topic ARN
    alerter.notify(run_report(), [])
    alerter.notify(run_report("refused", held=1), [CASE])

    [message] = received(sqs, url)
    assert message["Subject"] == "connect-user-sync: 1 deprovisioning held back; 1 new mismatch"
    assert message["MessageAttributes"]["run_id"]["Value"] == "run-1"
    assert message["MessageAttributes"]["status"]["Value"] == "refused"
    assert parse_json_section(message["Message"])["run_id"] == "run-1"


def test_reminder_is_published_only_when_something_is_open(topic: tuple[str, Any, str]) -> None:
    arn, sqs, url = topic
    alerter = SnsAlerter(arn)
    assert alerter.send_reminder([]) is False
    assert alerter.send_reminder([{**CASE, "run_id": "run-9", "first_seen_at": "x"}]) is True
    [message] = received(sqs, url)
    assert message["MessageAttributes"]["kind"]["Value"] == "reminder"
    assert message["MessageAttributes"]["run_id"]["Value"] == "run-9"
