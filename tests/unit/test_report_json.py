"""The report written piece by piece is the very document ``to_json`` describes.

GIVEN run reports with any text in them, WHEN the JSON is streamed one action at a time,
THEN the text is byte for byte what ``json.dumps(report.to_json(), indent=2)`` gives; and
the report holds each action once, as a compact record that shows ids as names on demand.
"""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from connect_user_sync.domain.models import (
    ActionKind,
    ActionStatus,
    Change,
    MismatchKind,
    SyncAction,
)
from connect_user_sync.domain.report import (
    ActionOutcome,
    MismatchRecord,
    RunReport,
    SourceReport,
    TargetReport,
)
from connect_user_sync.domain.report_json import NamedChanges, iter_json

NAMES = {"sp-1": "Agent", "sp-2": "Supervisor", "rp-1": "Basic"}


def streamed(report: RunReport, indent: int = 2) -> str:
    return "".join(iter_json(report, indent=indent))


def dumped(report: RunReport, indent: int = 2) -> str:
    return json.dumps(report.to_json(), indent=indent, default=str)


def action(username: str, **changes: Change) -> ActionOutcome:
    return ActionOutcome(
        ActionKind.CREATE, username, "s1", None, ActionStatus.PLANNED, None, changes
    )


def report(*targets: TargetReport, **extra: object) -> RunReport:
    return RunReport(
        run_id="r1",
        dry_run=True,
        started_at="2026-01-01T00:00:00Z",
        finished_at="2026-01-01T00:00:09Z",
        source=SourceReport("file", 3, True, {"Agents": 3}),
        targets=targets,
        **extra,  # type: ignore[arg-type]
    )


def test_the_streamed_document_is_the_documents_text() -> None:
    busy = TargetReport(
        "i-1",
        "us-east-1",
        (
            action("ann@x.com", first_name=Change(None, "Ann"), phone=Change(None, {"a": [1]})),
            action('quote"back\\slash@x.com', last_name=Change("Ö", "Ø\n")),
        ),
        unchanged=4,
        held_because=("too many",),
    )
    idle = TargetReport("i-2", "eu-west-1", error="could not be read")
    mismatch = MismatchRecord(MismatchKind.CASE, "Ann@x.com", "ann@x.com", "s9", "case")
    whole = report(busy, idle, mismatches=(mismatch,), errors=("boom",))
    assert streamed(whole) == dumped(whole)
    assert streamed(whole, indent=4) == dumped(whole, indent=4)
    assert json.loads(streamed(whole))["targets"][0]["actions"][1]["username"] == (
        'quote"back\\slash@x.com'
    )


def test_a_report_without_targets_or_actions_streams_too() -> None:
    assert streamed(report()) == dumped(report())
    empty = report(TargetReport("i-1", "us-east-1"))
    assert streamed(empty) == dumped(empty)


text = st.text(st.characters(codec="utf-8"), max_size=20)


@settings(max_examples=60, deadline=None)
@given(
    usernames=st.lists(text, max_size=5),
    values=st.lists(st.one_of(st.none(), text, st.lists(text, max_size=3)), min_size=1),
    targets=st.integers(min_value=1, max_value=3),
)
def test_any_text_streams_to_the_same_document(
    usernames: list[str], values: list[object], targets: int
) -> None:
    actions = tuple(
        action(name, first_name=Change(values[i % len(values)], name))
        for i, name in enumerate(usernames)
    )
    whole = report(*(TargetReport(f"i-{n}", "us-east-1", actions) for n in range(targets)))
    assert streamed(whole) == dumped(whole)


def test_outcomes_show_ids_as_names_without_copying_the_changes() -> None:
    changes = {
        "security_profile_ids": Change(["sp-2"], ["sp-1", "sp-2"]),
        "routing_profile_id": Change(None, "rp-1"),
        "last_name": Change("Lee", "Li"),
    }
    planned = SyncAction(ActionKind.UPDATE, "ann@x.com", "s1", "u1", changes)
    outcome = ActionOutcome.of(planned, NAMES)
    assert isinstance(outcome.changes, NamedChanges)
    assert dict(outcome.changes) == {
        "security_profiles": Change(["Supervisor"], ["Agent", "Supervisor"]),
        "routing_profile": Change(None, "Basic"),
        "last_name": Change("Lee", "Li"),
    }
    assert "security_profile_ids" not in outcome.changes
    assert outcome.changes["last_name"] is changes["last_name"]  # the action's own object
    assert outcome.to_json()["changes"]["routing_profile"] == {"from": None, "to": "Basic"}
    assert not hasattr(outcome, "__dict__")  # a slotted record, no per-instance dict
