"""Alert messages: when one is sent, what it says, and what SNS receives."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
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
    parse_json_section,
)
from connect_user_sync.domain import mismatches as meaning
from connect_user_sync.domain.models import ActionKind, ActionStatus, Mismatch, RunStatus
from connect_user_sync.domain.report import (
    ActionOutcome,
    MismatchRecord,
    OpenMismatch,
    RunReport,
    SourceReport,
    TargetReport,
)


def run_report(
    *,
    dry_run: bool = False,
    held: int = 0,
    failed_read: bool = False,
    errors: tuple[str, ...] = (),
    source: str = "entra",
) -> RunReport:
    actions = tuple(
        ActionOutcome(ActionKind.DISABLE, f"leaver{i}@x.com", None, f"u{i}", ActionStatus.HELD)
        for i in range(held)
    )
    reasons = (f"{held} deprovisionings exceed max_deprovision (25)",) if held else ()
    return RunReport(
        run_id="run-1",
        dry_run=dry_run,
        trigger="schedule",
        started_at="2026-01-01T02:00:00Z",
        finished_at="2026-01-01T02:03:00Z",
        source=SourceReport(source, 10, complete=not failed_read),
        targets=(TargetReport("inst-1", "us-east-1", actions, held_because=reasons),),
        errors=errors,
    )


def record(mismatch: Mismatch, instance_id: str | None = "inst-1") -> MismatchRecord:
    return MismatchRecord.of(mismatch, instance_id)


CASE = record(meaning.case_mismatch("jane.doe@x.com", "Jane.Doe@x.com", "e-1", "Entra ID"))
EVERY_KIND = {
    "case_mismatch": CASE,
    "attribute_mismatch": record(
        meaning.attribute_mismatch(
            "jane.doe@x.com",
            "jdoe@x.com",
            "e-1",
            named_after="mail",
            asserted="upn",
            source="Okta",
        )
    ),
    "invalid_username": record(
        meaning.invalid_username("jane doe@x.com", "e-1", "'jane doe@x.com' contains ' '", "Okta"),
        None,
    ),
    "duplicate_username": record(
        meaning.duplicate_usernames("jane.doe@x.com", ["e-1", "e-2"], "Okta")[0], None
    ),
    "renamed": record(meaning.renamed("jane.doe@x.com", "jane.roe@x.com", "e-1", "disable")),
}


def test_a_clean_run_sends_nothing() -> None:
    assert run_report().status == RunStatus.SUCCEEDED
    assert compose_run_alert(run_report(), []) is None


def test_a_dry_run_alerts_only_on_a_safety_stop() -> None:
    assert compose_run_alert(run_report(dry_run=True), [CASE]) is None
    subject, body = compose_run_alert(
        run_report(dry_run=True, failed_read=True, errors=("Graph said 503",)), [CASE]
    ) or ("", "")
    assert subject.startswith("connect-user-sync: Dry run: directory read failed")
    assert "Graph said 503" in body and parse_json_section(body)["new_mismatches"] == []


def test_a_case_mismatch_is_explained_once_in_plain_english() -> None:
    subject, body = compose_run_alert(run_report(), [CASE]) or ("", "")
    plain = body.partition(JSON_MARKER)[0]
    assert subject == "connect-user-sync: 1 new mismatch"
    assert (
        "Connect user Jane.Doe@x.com differs only in letter case from what Entra ID asserts, "
        "jane.doe@x.com: logins will fail"
    ) in plain
    assert "Recreate the Connect user as jane.doe@x.com" in plain
    assert "[directory id e-1; Connect instance inst-1]" in plain
    # The report's detail is the explanation: the alert does not say it a second time.
    assert plain.count("differs only in letter case") == 1
    assert plain.count(CASE.detail) == 1


@pytest.mark.parametrize("kind", sorted(EVERY_KIND))
def test_every_kind_names_the_person_and_a_way_out(kind: str) -> None:
    mismatch = EVERY_KIND[kind]
    assert mismatch.kind.value == kind
    text = mismatch.explained
    assert "jane" in text and "e-1" in text
    assert any(verb in text for verb in ("Recreate", "Fix", "Make", "Check"))
    # The table's short advice comes from the same place as the sentence.
    assert meaning.fix_for(mismatch.kind) == meaning.MEANINGS[mismatch.kind].fix


def test_every_source_has_one_label() -> None:
    assert set(meaning.SOURCE_LABELS) == {"entra", "okta", "duo", "identity_center", "file"}
    assert meaning.source_label("identity_center") == "IAM Identity Center"
    assert meaning.source_label(None) == meaning.UNKNOWN_SOURCE


def test_held_deprovisioning_lists_who_and_how_to_approve() -> None:
    report = run_report(held=3)
    assert report.status == RunStatus.REFUSED and report.safety_stop
    subject, body = compose_run_alert(report, []) or ("", "")
    assert subject == "connect-user-sync: 3 deprovisionings held back"
    plain = body.partition(JSON_MARKER)[0]
    assert "leaver2@x.com" in plain and '{"approve_deprovision": true}' in plain
    assert "3 deprovisionings exceed max_deprovision (25)" in plain
    machine = parse_json_section(body)
    assert machine["safety_stop"] is True and len(machine["held_actions"]) == 3
    assert machine["held_actions"][0]["instance_id"] == "inst-1"


def test_a_huge_run_stays_inside_the_sns_size_limit() -> None:
    many = [
        MismatchRecord(CASE.kind, f"user{i}@x.com", "U@x.com", f"s{i}", "d" * 300, "inst-1")
        for i in range(3000)
    ]
    _, body = compose_run_alert(run_report(held=2000), many) or ("", "")
    assert len(body.encode("utf-8")) <= MESSAGE_LIMIT
    machine = parse_json_section(body)
    assert machine["new_mismatches_total"] == 3000 and len(machine["new_mismatches"]) == 50
    assert "... and 2950 more" in body


@settings(max_examples=60, deadline=None)
@given(username=st.text(min_size=0, max_size=300), count=st.integers(0, 10**6))
def test_subjects_are_short_single_line_ascii(username: str, count: int) -> None:
    action = ActionOutcome(ActionKind.DISABLE, username, None, "u1", ActionStatus.HELD)
    report = run_report(held=1)
    report = replace(report, targets=(replace(report.targets[0], actions=(action,)),))
    mismatches = [replace(CASE, username=username)] * min(count, 3)
    subject, _ = compose_run_alert(report, mismatches) or ("", "")
    assert 0 < len(subject) <= SUBJECT_LIMIT
    assert subject.isascii() and "\n" not in subject and "\r" not in subject


def test_reminder_lists_open_mismatches_with_their_age() -> None:
    assert compose_reminder([]) is None
    subject, body = compose_reminder(
        [OpenMismatch(CASE, first_seen_at="2026-01-01T02:03:00Z")]
    ) or (
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
    alerter.notify(run_report(held=1), [CASE])

    [message] = received(sqs, url)
    assert message["Subject"] == "connect-user-sync: 1 deprovisioning held back; 1 new mismatch"
    assert message["MessageAttributes"]["run_id"]["Value"] == "run-1"
    assert message["MessageAttributes"]["status"]["Value"] == "refused"
    assert parse_json_section(message["Message"])["run_id"] == "run-1"


def test_reminder_is_published_only_when_something_is_open(topic: tuple[str, Any, str]) -> None:
    arn, sqs, url = topic
    alerter = SnsAlerter(arn)
    assert alerter.send_reminder([]) is False
    assert alerter.send_reminder([OpenMismatch(CASE, run_id="run-9", first_seen_at="x")]) is True
    [message] = received(sqs, url)
    assert message["MessageAttributes"]["kind"]["Value"] == "reminder"
    assert message["MessageAttributes"]["run_id"]["Value"] == "run-9"
