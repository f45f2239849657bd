"""The EMF metrics the dashboard and alarms read, from real runs on the emulators.

A direct invoke goes through ``functions/sync/app.py``'s handler (the stack of
``tests/functional/test_handler.py``: moto for SSM, DynamoDB and SNS, the Connect emulator
over HTTP); a workflow run goes through ``statemachine/sync.asl.json`` with
``functions/workflow/app.py`` (``tests/workflow_harness.py``). Powertools prints the EMF
documents to stdout; the tests read them back with their names, units, dimensions and
values, and compare the Connect call counts with what the emulator itself counted.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from connect_user_sync.metrics import dimension_value
from connect_user_sync_emulators.connect import ConnectEmulator
from tests.conftest import SPEED, person
from tests.functional import test_handler
from tests.functional.test_handler import Stack
from tests.workflow_harness import Workflow

# The handler's fixtures: its module imported like a cold start, and the stack around it.
app = test_handler.app
stack = test_handler.stack

NAMESPACE = "ConnectUserSync"
SERVICE = "connect-user-sync"
STATUS_METRICS = {
    "RunsSucceeded",
    "RunsPartial",
    "RunsRefused",
    "RunsFailed",
    "RunsBusy",
    "RunsPlanned",
}


@dataclass(frozen=True)
class Point:
    name: str
    unit: str
    dimensions: tuple[tuple[str, str], ...]
    value: float


def emf_points(text: str) -> list[Point]:
    """Every data point of the EMF documents in ``text`` (one JSON document a line)."""
    points = []
    for line in text.splitlines():
        if '"_aws"' not in line:
            continue
        document = json.loads(line)
        for directive in document["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == NAMESPACE
            [keys] = directive["Dimensions"]  # one dimension set per document
            dimensions = tuple(sorted((key, str(document[key])) for key in keys))
            for metric in directive["Metrics"]:
                raw = document[metric["Name"]]
                for value in raw if isinstance(raw, list) else [raw]:
                    points.append(Point(metric["Name"], metric["Unit"], dimensions, value))
    return points


def plain(points: list[Point]) -> dict[str, float]:
    """The metrics with only the ``service`` dimension, summed per name."""
    found: Counter[str] = Counter()
    for point in points:
        if point.dimensions == (("service", SERVICE),):
            found[point.name] += point.value
    return dict(found)


def per(points: list[Point], name: str, dimension: str) -> dict[str, float]:
    """One metric's values per value of its extra dimension (summed), checking that it
    carries exactly ``service`` and that dimension, as the dashboard's SEARCH expects."""
    found: Counter[str] = Counter()
    for point in (p for p in points if p.name == name):
        dims = dict(point.dimensions)
        assert set(dims) == {"service", dimension}, point
        assert dims["service"] == SERVICE and point.unit == "Count"
        found[dims[dimension]] += point.value
    return dict(found)


def unit_of(points: list[Point], name: str) -> str:
    return next(p.unit for p in points if p.name == name)


# --------------------------------------------------------------------------- direct invoke


@pytest.fixture
def floor(stack: Stack) -> Stack:
    """Two groups, one with a name that is not ASCII; Raj exists in Connect with another
    case (a case mismatch: not created, reported, alerted once)."""
    stack.directory["groups"].append({"id": "g2", "name": "Équipe Nord"})
    stack.config["groups"].append(
        {
            "name": "Équipe Nord",
            "security_profiles": ["Agent"],
            "routing_profile": "Basic Routing Profile",
        }
    )
    stack.directory["users"] = [
        person("u1", "jane.doe@example.com"),
        person("u2", "raj.patel@example.com"),
        person("u3", "amy.lee@example.com", groups=("Équipe Nord",)),
    ]
    stack.seed_connect_user("Raj.Patel@example.com")
    return stack


def test_a_first_load_by_direct_invoke_emits_every_metric_the_dashboard_reads(
    floor: Stack,
) -> None:
    emulator = floor.emulator
    emulator.fail_requests(2, "ThrottlingException", "CreateUser")  # Connect pushes back twice
    emulator.reset_calls()

    report = floor.invoke_sample("scheduled.json")

    assert report["status"] == "succeeded", report["errors"]
    points = emf_points(floor.stdout)
    run = plain(points)
    assert run["RunsSucceeded"] == 1
    assert not (STATUS_METRICS - {"RunsSucceeded"}) & set(run)  # one status per run
    assert run["Created"] == 2 and run["CaseMismatches"] == 1
    assert run["NewMismatches"] == 1  # first seen now, so alerted
    # A first load (the tool managed nobody there) that converged in this run.
    assert run["FirstLoadConvergeSeconds"] == run["RunDuration"] > 0
    assert unit_of(points, "FirstLoadConvergeSeconds") == "Seconds"
    # Directory users per group: "Équipe Nord" escaped to ASCII for CloudWatch.
    assert per(points, "GroupMembers", "group") == {"Agents": 2, "\\xc9quipe Nord": 1}
    assert run["DirectoryUsersInScope"] == 3
    # Every Connect request the run sent, as the emulator counted them, per operation.
    calls = per(points, "ConnectCalls", "operation")
    assert calls == dict(emulator.calls)
    assert calls["CreateUser"] == 2 + 2  # two creates, two throttled and retried
    throttles = per(points, "ConnectThrottles", "operation")
    assert set(throttles) == set(calls)
    expected = Counter(dict.fromkeys(calls, 0)) + Counter(emulator.throttled)
    expected["CreateUser"] += 2
    assert throttles == {op: expected[op] for op in calls}
    [alert] = floor.messages()
    assert "Raj.Patel@example.com" in alert["Message"]

    # The next night: nothing new, nothing loaded; the open mismatch is not new again.
    emulator.reset_calls()
    again = floor.invoke_sample("scheduled.json")

    assert again["status"] == "succeeded"
    points = emf_points(floor.stdout)
    run = plain(points)
    assert run["RunsSucceeded"] == 1 and run["Created"] == 0
    assert run["NewMismatches"] == 0 and run["CaseMismatches"] == 1
    assert "FirstLoadConvergeSeconds" not in run  # the tool already managed users there
    assert per(points, "ConnectCalls", "operation") == dict(emulator.calls)
    assert set(per(points, "ConnectThrottles", "operation").values()) == {0}


def test_a_failed_run_counts_in_runs_failed_and_a_dry_run_in_runs_planned(stack: Stack) -> None:
    stack.directory["users"] = [person("u1", "jane.doe@example.com")]
    planned = stack.invoke_sample("dry-run.json")

    assert planned["status"] == "planned"
    run = plain(emf_points(stack.stdout))
    assert run["RunsPlanned"] == 1 and not (STATUS_METRICS - {"RunsPlanned"}) & set(run)
    assert run["NewMismatches"] == 0 and "SafetyStop" not in run
    assert "FirstLoadConvergeSeconds" not in run  # a plan loads nothing

    # The directory cannot be read: the run ends failed, and the failed-run alarm's
    # metric counts it (not only invocations that produced no report).
    stack.config["source"]["file"]["path"] = str(stack.tmp / "gone.json")
    failed = stack.invoke_sample("scheduled.json")

    assert failed["status"] == "failed"
    points = emf_points(stack.stdout)
    run = plain(points)
    assert run["RunsFailed"] == 1 and "RunsSucceeded" not in run
    assert run["SafetyStop"] == 1
    assert per(points, "ConnectCalls", "operation") == {}  # Connect was never reached


def test_dimension_values_are_ascii_short_and_never_blank() -> None:
    assert dimension_value("Agents") == "Agents"
    assert dimension_value("Équipe") == "\\xc9quipe"
    assert dimension_value("  ") == "(blank)"
    assert len(dimension_value("x" * 2000)) == 250


# --------------------------------------------------------------------------- workflow


@pytest.fixture
def workflow(
    moto_url: str,
    connect_emulator: ConnectEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Workflow]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_CONNECT", connect_emulator.url)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
    connect_emulator.clear_faults()
    # Passes of 120 simulated seconds (the last 30 kept free) at a quarter of the suite's
    # speed: under 200 creates each, 3.6 seconds of wall time, slack for a busy machine.
    flow = Workflow(speed=SPEED / 4, timeout_seconds=120)
    for key, value in flow.environment().items():
        monkeypatch.setenv(key, value)
    yield flow
    connect_emulator.clear_faults()


def workflow_config(emulator: ConnectEmulator, directory: Path) -> tuple[str, dict[str, Any]]:
    iid = emulator.add_instance()
    emulator.add_security_profile(iid, "Agent")
    emulator.add_security_profile(iid, "Disabled")
    emulator.add_routing_profile(iid, "Basic")
    config = {
        "source": {"type": "file", "file": {"path": str(directory)}},
        "username": {"attribute": "upn"},
        "groups": [{"name": "Agents", "security_profiles": ["Agent"], "routing_profile": "Basic"}],
        "targets": [{"instance_id": iid, "region": "us-east-1"}],
        "deprovision": {"action": "disable", "disabled_security_profile": "Disabled"},
        "safety": {"max_deprovision": 25, "max_deprovision_percent": 100},
    }
    return iid, config


def test_a_workflow_first_load_emits_runs_succeeded_and_its_time_to_converge(
    workflow: Workflow,
    connect_emulator: ConnectEmulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    directory = tmp_path / "directory.json"
    people = [person(f"u{i}", f"agent.{i}@example.com") for i in range(300)]
    directory.write_text(
        json.dumps({"users": people, "groups": [{"id": "g1", "name": "Agents"}]}),
        encoding="utf-8",
    )
    _, config = workflow_config(connect_emulator, directory)
    workflow.configure(config)
    connect_emulator.reset_calls()
    capsys.readouterr()

    execution = workflow.start({})

    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    assert execution.output["status"] == "succeeded"
    assert execution.entered("ApplyPass") >= 2  # more than one Lambda's worth of creates
    points = emf_points(capsys.readouterr().out)
    run = plain(points)  # only the finish step records the run
    assert run["RunsSucceeded"] == 1 and run["Created"] == 300
    assert not (STATUS_METRICS - {"RunsSucceeded"}) & set(run)
    assert run["FirstLoadConvergeSeconds"] == run["RunDuration"] > 0
    assert per(points, "GroupMembers", "group") == {"Agents": 300}
    # The check step and every apply pass emit their own calls; together, every request.
    calls = per(points, "ConnectCalls", "operation")
    assert calls == dict(connect_emulator.calls)
    assert calls["CreateUser"] >= 300
    throttles = per(points, "ConnectThrottles", "operation")
    assert sum(throttles.values()) == sum(connect_emulator.throttled.values())
