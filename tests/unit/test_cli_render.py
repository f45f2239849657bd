"""The pieces behind the CLI's output: closest names, caps, statuses and literal rendering."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from connect_user_sync.cli.render import (
    describe,
    headline,
    new_table,
    plain,
    print_table,
    render_report,
)
from connect_user_sync.domain.bounded import capped, capped_value, listed
from connect_user_sync.domain.models import ActionKind, ActionStatus, Change, RunStatus
from connect_user_sync.domain.names import closest
from connect_user_sync.domain.report import ActionOutcome, RunReport, SourceReport, TargetReport

KEYS = ("max_deprovision", "max_deprovision_percent", "protected_usernames", "adopt_existing")


@pytest.mark.parametrize(
    ("name", "known", "meant"),
    [
        ("max_deprovison", KEYS, "max_deprovision"),
        ("maxdeprovision", KEYS, "max_deprovision"),
        ("adopt-existing", KEYS, "adopt_existing"),
        ("protected_username", KEYS, "protected_usernames"),
        ("securityprofile", ("security_profiles", "routing_profile"), "security_profiles"),
        ("Agnets", ("Agents", "Supervisors"), "Agents"),
        ("cc-agents", ("CC-Agents", "CC-Supervisors"), "CC-Agents"),
        ("Finance", ("Agents", "Supervisors"), None),
        ("Agents", ("Agents",), None),  # the name itself is no suggestion
        ("Agents", (), None),
    ],
)
def test_the_closest_name_is_a_likely_typo_or_nothing(
    name: str, known: tuple[str, ...], meant: str | None
) -> None:
    assert closest(name, known) == meant


def test_values_are_capped_with_a_visible_marker_everywhere_in_a_value() -> None:
    long = "x" * 300
    assert capped("abc", 40) == "abc" and len(capped(long, 200)) == 200
    assert capped(long, 200).endswith("[300 chars, sha256 " + capped(long, 200)[-13:])
    assert capped_value({"to": [long, 7, None]}, 200) == {"to": [capped(long, 200), 7, None]}
    shown = listed([f"row {n}" for n in range(60)], limit=50)
    assert len(shown) == 51 and shown[-1] == "… and 10 more (error_count has the total)"


def _report(**changes: object) -> RunReport:
    fields: dict[str, object] = {
        "run_id": "r1",
        "dry_run": True,
        "started_at": "2026-01-01T02:00:00Z",
        "finished_at": "2026-01-01T02:00:09Z",
        "source": SourceReport("file", 1, complete=True),
        **changes,
    }
    return RunReport(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({}, RunStatus.PLANNED),
        ({"targets": (TargetReport("i-1", "us-east-1", error="unreadable"),)}, RunStatus.PARTIAL),
        ({"users_not_found": ("ghost",)}, RunStatus.PARTIAL),
        ({"users_not_found": ("ghost",), "dry_run": False}, RunStatus.PARTIAL),
        ({"source": SourceReport("file", complete=False)}, RunStatus.FAILED),
    ],
)
def test_a_plan_is_planned_only_when_every_target_and_user_was_found(
    changes: dict[str, object], status: RunStatus
) -> None:
    assert _report(**changes).status == status


def _action(kind: ActionKind, status: ActionStatus, **changes: Change) -> ActionOutcome:
    return ActionOutcome(kind, "ann@x.com", "s1", "u1", status, None, changes)


@pytest.mark.parametrize(
    ("action", "said"),
    [
        (_action(ActionKind.DISABLE, ActionStatus.HELD), "would disable"),
        (_action(ActionKind.UPDATE, ActionStatus.PLANNED), "tags only"),
        (
            _action(
                ActionKind.DISABLE,
                ActionStatus.APPLIED,
                security_profiles=Change(["Agent", "QA"], ["Disabled"]),
            ),
            "disabled: security_profiles: Agent, QA → Disabled",
        ),
        (
            _action(ActionKind.DELETE, ActionStatus.PLANNED, user=Change("ann@x.com", None)),
            "would delete (cannot be undone)",
        ),
        (
            _action(
                ActionKind.CREATE,
                ActionStatus.PLANNED,
                security_profiles=Change(None, ["Agent"]),
                routing_profile=Change(None, "Basic"),
            ),
            "new: Agent · Basic",
        ),
        (
            _action(ActionKind.UPDATE, ActionStatus.APPLIED, hierarchy_group=Change("A", None)),
            "hierarchy_group: A → ∅",
        ),
    ],
)
def test_an_action_is_described_in_words(action: ActionOutcome, said: str) -> None:
    assert describe(action) == said


def _print(report: RunReport, width: int = 200) -> str:
    console = Console(file=io.StringIO(), width=width, highlight=False)
    render_report(report, console)
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_markup_in_any_value_prints_literally() -> None:
    action = ActionOutcome(
        ActionKind.UPDATE,
        "[bold]x",
        "[/bold]",
        "u1",
        ActionStatus.FAILED,
        "[/red] refused",
        {"first_name": Change("[i]", "[/i]")},
    )
    target = TargetReport("i-1", "us-east-1", (action,))
    out = _print(_report(targets=(target,), errors=("bad value '[/link]'",), dry_run=False))
    for literal in ("[bold]x", "[/red] refused", "first_name: [i] → [/i]", "'[/link]'"):
        assert literal in out


def test_the_first_line_says_what_an_incomplete_read_did() -> None:
    incomplete = SourceReport("okta", complete=False, error_count=3)
    assert headline(_report(source=incomplete, dry_run=False)) == (
        "directory read incomplete: 3 errors; creates and updates applied; deprovisioning held"
    )
    out = _print(_report(source=SourceReport("file", complete=False, error_count=1)))
    assert out.splitlines()[0] == (
        "directory read incomplete: 1 row with errors; creates and updates planned; "
        "deprovisioning held"
    )
    assert headline(_report()) is None


def test_a_table_too_narrow_for_its_words_becomes_blocks_that_keep_every_word() -> None:
    table = new_table("kind", "who", "detail")
    long_word = "someone.with.a.long.name@subsidiary.example.com"
    table.add_row(plain("case_mismatch"), plain(long_word), plain(f"{long_word} differs " * 3))
    for width in (60, 300):
        console = Console(file=io.StringIO(), width=width)
        print_table(console, table)
        out = console.file.getvalue()  # type: ignore[attr-defined]
        assert out.count(long_word) == 4 and max(len(line) for line in out.splitlines()) <= width
        assert ("detail:" in out) is (width == 60)
