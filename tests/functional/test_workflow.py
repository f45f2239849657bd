"""The Step Functions workflow, executed: statemachine/sync.asl.json walked state by state.

The ASL interpreter (``connect_user_sync_emulators.states``) runs the definition with the
template's substitutions; every Task calls ``functions/workflow/app.py`` in-process, the
way Lambda would; S3, DynamoDB, SNS and SSM are moto and Connect is the emulator with its
quotas enforced at ``SPEED`` times the published rates. See ``tests/workflow_harness.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from connect_user_sync_emulators.connect import ConnectEmulator
from connect_user_sync_emulators.states import PAYLOAD_LIMIT
from tests.conftest import ROOT, SPEED, person
from tests.workflow_harness import FUNCTIONS, Workflow

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")


class World:
    """One or more Connect instances, a directory file, and the workflow around them."""

    def __init__(self, emulator: ConnectEmulator, tmp: Any, workflow: Workflow) -> None:
        self.emulator = emulator
        self.tmp = tmp
        self.workflow = workflow
        self.instances: list[str] = []
        self.directory: dict[str, Any] = {"users": [], "groups": [{"id": "g1", "name": "Agents"}]}
        self.config: dict[str, Any] = {
            "source": {"type": "file", "file": {"path": str(tmp / "directory.json")}},
            "username": {"attribute": "upn"},
            "groups": [
                {"name": "Agents", "security_profiles": ["Agent"], "routing_profile": "Basic"}
            ],
            "targets": [],
            "deprovision": {"action": "disable", "disabled_security_profile": "Disabled"},
            "safety": {"max_deprovision": 25, "max_deprovision_percent": 100},
        }

    def add_instance(self, region: str = "us-east-1") -> str:
        iid = self.emulator.add_instance()
        self.emulator.add_security_profile(iid, "Agent")
        self.emulator.add_security_profile(iid, "Disabled")
        self.emulator.add_routing_profile(iid, "Basic")
        self.instances.append(iid)
        self.config["targets"].append({"instance_id": iid, "region": region})
        return iid

    def people(self, count: int) -> None:
        self.directory["users"] = [person(f"u{i}", f"agent.{i}@example.com") for i in range(count)]

    def start(self, execution_input: Any = None) -> Any:
        (self.tmp / "directory.json").write_text(json.dumps(self.directory), encoding="utf-8")
        self.workflow.configure(self.config)
        return self.workflow.start(execution_input)

    def managed(self, iid: str) -> set[str]:
        return {
            u["Username"]
            for u in self.emulator.users(iid)
            if (u.get("Tags") or {}).get("connect-user-sync:managed") == "true"
        }


def make_world(
    request: pytest.FixtureRequest,
    moto_url: str,
    connect_emulator: ConnectEmulator,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
    **options: Any,
) -> World:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_CONNECT", connect_emulator.url)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
    workflow = Workflow(speed=SPEED, quiet=True, **options)
    for key, value in workflow.environment().items():
        monkeypatch.setenv(key, value)
    return World(connect_emulator, tmp_path, workflow)


@pytest.fixture
def world(
    request: pytest.FixtureRequest,
    moto_url: str,
    connect_emulator: ConnectEmulator,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[World]:
    connect_emulator.clear_faults()
    yield make_world(request, moto_url, connect_emulator, tmp_path, monkeypatch)
    connect_emulator.clear_faults()


# --------------------------------------------------------------------------- first load


@pytest.mark.slow
def test_a_first_load_of_5000_users_converges_in_one_execution_over_several_passes(
    request: pytest.FixtureRequest,
    moto_url: str,
    connect_emulator: ConnectEmulator,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN 5,000 new agents and Connect at its CreateUser quota (2/s, simulated at SPEED x):
    # 2,500 s of creates at least, while an apply pass has the function's 900 s minus a 30 s
    # margin, so no fewer than three passes can do it. No results table here: moto answers
    # a Query over N ownership records in seconds where DynamoDB takes milliseconds, and at
    # SPEED x that would eat the passes (the recording is covered by the tests below).
    world = make_world(
        request, moto_url, connect_emulator, tmp_path, monkeypatch, results_table=False
    )
    iid = world.add_instance()
    world.people(5000)

    # WHEN the nightly schedule starts one execution
    run = world.start({"detail-type": "Scheduled Event", "source": "aws.scheduler", "detail": {}})

    # THEN it succeeds unattended, after several passes of the apply loop
    assert run.status == "SUCCEEDED", (run.error, run.cause)
    summary = run.output
    report = world.workflow.report(summary)
    assert summary["status"] == "succeeded", (report["errors"], summary)
    assert [a for t in report["targets"] for a in t["actions"] if a["status"] != "applied"] == []
    passes = summary["passes"]["0"]
    assert passes >= 3
    assert run.invocations[FUNCTIONS["ReadFunctionArn"]] == 1  # the directory is read once
    assert run.invocations[FUNCTIONS["ApplyFunctionArn"]] == passes + 1  # the check, the passes
    assert run.invocations[FUNCTIONS["FinishFunctionArn"]] == 1  # recorded and alerted once
    assert run.entered("ApplyPass") == passes
    assert run.entered("TargetCapped") == 0
    assert run.entered("TargetDone") == 1
    # every agent exists once, tagged as managed
    assert len(world.managed(iid)) == 5000
    assert len(connect_emulator.users(iid)) == 5000
    # reported once, as one run of 5,000 creates
    assert summary["counts"][iid]["create"] == 5000
    assert report["source"]["users_in_scope"] == 5000
    # the snapshot never travelled in the state: it is far above the payload limit in S3
    assert run.largest_payload < 16_000
    directory = json.dumps(world.directory).encode()
    assert len(directory) > PAYLOAD_LIMIT

    # AND a second execution finds everybody in step in one pass and writes nothing
    connect_emulator.reset_calls()
    again = world.start({})
    assert again.status == "SUCCEEDED"
    assert again.output["status"] == "succeeded"
    assert again.output["passes"]["0"] == 1
    assert again.output["counts"][iid]["unchanged"] == 5000
    assert connect_emulator.calls["CreateUser"] == 0


# --------------------------------------------------------------------------- fan-out


def test_targets_sharing_a_quota_take_turns_and_other_scopes_get_their_own_item(
    world: World,
) -> None:
    # GIVEN two instances in us-east-1 (one quota) and one in us-west-2 (another)
    east_a = world.add_instance("us-east-1")
    west = world.add_instance("us-west-2")
    east_b = world.add_instance("us-east-1")
    world.people(12)

    run = world.start({})

    # THEN one Map item per scope, the east targets one after the other in the first
    assert run.status == "SUCCEEDED", (run.error, run.cause)
    assert run.map_concurrency["/ApplyByQuotaScope/TargetsOfTheScopeInTurn"] == 1
    assert run.entered("TargetsOfTheScopeInTurn") == 2
    assert run.entered("ApplyPass") == 3
    # every instance got every agent, and each has its own section of the report
    for iid in (east_a, west, east_b):
        assert len(world.managed(iid)) == 12
        assert run.output["counts"][iid]["create"] == 12
    assert run.output["status"] == "succeeded"


def test_a_target_that_cannot_be_read_is_reported_and_the_others_still_sync(
    world: World,
) -> None:
    good = world.add_instance()
    world.config["targets"].append(
        {"instance_id": "00000000-0000-0000-0000-000000000000", "region": "us-east-1"}
    )
    world.people(5)

    run = world.start({})

    assert run.status == "SUCCEEDED", (run.error, run.cause)
    assert run.output["status"] == "partial"
    assert run.output["exit_code"] == 1
    assert len(world.managed(good)) == 5
    assert world.workflow.run_item(run.output["run_id"])["status"] == "partial"


def test_a_target_another_run_holds_is_left_alone_and_the_run_is_recorded_from_its_start(
    world: World,
) -> None:
    # GIVEN another run (a direct invoke, the CLI) holding the lease of one of two targets
    from connect_user_sync.lease import DynamoLeases, lease_key

    held = world.add_instance()
    free = world.add_instance()
    world.people(6)
    leases = DynamoLeases(world.workflow.ddb, world.workflow.table, seconds=600, wait=0)
    assert leases.acquire(lease_key("us-east-1", held), "another-run") is None

    run = world.start({})

    # THEN the held target is untouched and said busy; the other one is synced
    assert run.status == "SUCCEEDED", (run.error, run.cause)
    assert connect_emulator_users(world, held) == 0
    assert len(world.managed(free)) == 6
    report = world.workflow.report(run.output)
    busy = next(t for t in report["targets"] if t["instance_id"] == held)
    assert busy.get("busy") is True
    assert "another-run" in " ".join(report["errors"])
    assert world.workflow.run_item(run.output["run_id"])["status"] == run.output["status"]


def test_a_run_left_running_past_its_deadline_is_marked_interrupted_reported_and_alerted(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a run killed long ago: its item still says running, its heartbeat stopped
    from connect_user_sync.audit import DynamoRunJournal, run_so_far
    from connect_user_sync.store import DynamoRunStore

    killed = "19700112T134640Z-killed"
    table, ddb = world.workflow.table, world.workflow.ddb
    store = DynamoRunStore(table, client=ddb, clock=lambda: 1_000_000.0)
    DynamoRunJournal(store, heartbeat_seconds=60, clock=lambda: 1_000_000.0).begin(
        run_so_far(
            killed,
            started="1970-01-12T13:46:40Z",
            dry_run=False,
            trigger="schedule",
            users=(),
            source="file",
        )
    )
    assert world.workflow.run_item(killed)["status"] == "running"
    queue = alerts_queue(world)
    from connect_user_sync import metrics

    counted: list[tuple[str, float]] = []
    count = metrics.count

    def counting(into: Any, name: str, value: float = 1) -> None:
        counted.append((name, value))
        count(into, name, value)

    monkeypatch.setattr(metrics, "count", counting)
    iid = world.add_instance()
    world.people(3)

    # WHEN the workflow runs
    run = world.start({})

    # THEN the read step marked it interrupted, and the finish step's report and alert say so
    assert run.status == "SUCCEEDED", (run.error, run.cause)
    assert world.workflow.run_item(killed)["status"] == "interrupted"
    assert world.workflow.run_item(killed)["interrupted_by"] == run.output["run_id"]
    report = world.workflow.report(run.output)
    assert report["interrupted_runs"] == [killed]
    assert run.output["status"] == "succeeded"
    assert len(world.managed(iid)) == 3
    (alert,) = queue()
    assert killed in alert["Message"]
    assert "interrupted" in alert["Subject"]
    assert (metrics.RUNS_INTERRUPTED, 1) in counted
    # only the ids travelled, in the run, from the read step to the finish step
    finish = next(p for p in world.workflow.payloads if p["step"] == "finish")
    assert finish["state"]["run"]["interrupted_runs"] == [killed]

    # AND the next run finds nothing more to mark and alerts nobody
    again = world.start({})
    assert again.status == "SUCCEEDED", (again.error, again.cause)
    assert world.workflow.report(again.output)["interrupted_runs"] == []
    assert queue() == []


def alerts_queue(world: World) -> Any:
    """An SQS queue on the workflow's alert topic; returns a function that drains it."""
    import boto3

    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName=f"alerts-{world.workflow.bucket[-8:]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    world.workflow.sns.subscribe(TopicArn=world.workflow.topic_arn, Protocol="sqs", Endpoint=arn)

    def drain() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
            for message in batch:
                found.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return found

    return drain


# --------------------------------------------------------------------------- the loop's cap


def test_the_pass_cap_ends_the_loop_and_the_run_reports_what_is_left(
    request: pytest.FixtureRequest,
    moto_url: str,
    connect_emulator: ConnectEmulator,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN passes of 200 simulated seconds (the last 30 kept free) and a cap of 2
    world = make_world(
        request,
        moto_url,
        connect_emulator,
        tmp_path,
        monkeypatch,
        timeout_seconds=200,
        max_iterations=2,
    )
    iid = world.add_instance()
    world.people(600)

    run = world.start({})

    # THEN the loop stopped at the cap, the run is partial and the rest is left planned
    assert run.status == "SUCCEEDED", (run.error, run.cause)
    assert run.entered("ApplyPass") == 2
    assert run.entered("TargetCapped") == 1
    assert run.output["status"] == "partial"
    created = len(world.managed(iid))
    assert 0 < created < 600
    assert run.output["counts"][iid]["create"] == 600  # the report lists every create


# --------------------------------------------------------------------------- refusals


def test_a_configuration_error_fails_the_execution_before_any_write(world: World) -> None:
    iid = world.add_instance()
    world.people(3)
    world.config["groups"][0]["routing_profile"] = "No Such Profile"

    run = world.start({})

    assert run.status == "FAILED"
    assert run.error == "configuration"
    assert "No Such Profile" in (run.cause or "") or "routing_profile" in (run.cause or "")
    assert run.entered("ApplyPass") == 0
    assert connect_emulator_users(world, iid) == 0


def test_invalid_input_fails_the_execution_with_a_readable_cause(world: World) -> None:
    world.add_instance()
    run = world.start({"dry_runn": True})
    assert run.status == "FAILED"
    assert run.error == "InvalidInput"
    assert "dry_runn" in (run.cause or "")


def test_a_dry_run_through_the_workflow_plans_and_writes_nothing(world: World) -> None:
    iid = world.add_instance()
    world.people(4)

    run = world.start({"dry_run": True})

    assert run.status == "SUCCEEDED", (run.error, run.cause)
    assert run.output["status"] == "planned"
    assert run.output["counts"][iid]["create"] == 4
    assert run.entered("ApplyPass") == 1
    assert connect_emulator_users(world, iid) == 0


def shape(value: Any) -> Any:
    """The keys of a document, nested, without the values."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items() if k not in ("input", "applied")}
    return type(value).__name__ if value is not None else None


def test_the_event_samples_of_each_step_have_the_shape_the_state_machine_sends(
    world: World,
) -> None:
    world.add_instance()
    world.people(2)
    run = world.start({"approve_deprovision": False})
    assert run.status == "SUCCEEDED", (run.error, run.cause)

    sent = {p["step"]: p for p in world.workflow.payloads}
    for step in ("read", "check", "apply", "finish"):
        sample = json.loads((ROOT / "events" / "workflow" / f"{step}.json").read_text("utf-8"))
        assert shape(sample) == shape(sent[step]), step


def connect_emulator_users(world: World, iid: str) -> int:
    return len(world.emulator.users(iid))
