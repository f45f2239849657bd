"""The Lambda handler, in process, against moto (DynamoDB, SNS, SQS, SSM) and the Connect emulator.

Every sample event in ``events/`` is sent through ``functions/sync/app.py``'s handler exactly
as Lambda would. The configuration comes from SSM, results go to DynamoDB, alerts to SNS
(read back through an SQS subscription), and Connect is the project's emulator spoken to by
the real boto3 client. No real AWS account and no network beyond 127.0.0.1.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
import yaml

from connect_user_sync.alerts import JSON_MARKER, parse_json_section
from connect_user_sync.config import parse_text
from connect_user_sync.domain.models import TAG_MANAGED
from connect_user_sync.store import DynamoRunStore
from connect_user_sync_emulators.connect import ConnectEmulator
from tests.conftest import create_results_table, load_template, person

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
APP = ROOT / "functions" / "sync" / "app.py"
REGION = "us-east-1"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def app() -> Iterator[ModuleType]:
    """The handler module, imported once like a Lambda cold start (tracing off, no X-Ray)."""
    saved = {
        k: os.environ.get(k)
        for k in ("POWERTOOLS_TRACE_DISABLED", "CONFIG_PARAMETER", "CONFIG_FILE")
    }
    os.environ["POWERTOOLS_TRACE_DISABLED"] = "1"
    os.environ.pop("CONFIG_PARAMETER", None)
    os.environ.pop("CONFIG_FILE", None)
    spec = importlib.util.spec_from_file_location("connect_user_sync_lambda_app", APP)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


class Context:
    """What the handler reads from Lambda's context object."""

    function_name = "connect-user-sync-SyncFunction"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:connect-user-sync"

    def __init__(self, remaining_ms: int = 900_000) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self._remaining = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self._remaining


class Stack:
    """What ``template.yaml`` deploys, stood up on moto and the Connect emulator."""

    def __init__(
        self,
        app: ModuleType,
        emulator: ConnectEmulator,
        tmp: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        self.app = app
        self.emulator = emulator
        self.tmp = tmp
        self.capsys = capsys
        self.iid = emulator.add_instance()
        self.sp = {n: emulator.add_security_profile(self.iid, n) for n in ("Agent", "Disabled")}
        self.rp = {n: emulator.add_routing_profile(self.iid, n) for n in ("Basic Routing Profile",)}
        suffix = uuid.uuid4().hex[:8]
        self.ddb = boto3.client("dynamodb", region_name=REGION)
        self.sns = boto3.client("sns", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.ssm = boto3.client("ssm", region_name=REGION)
        self.table = f"results-{suffix}"
        create_results_table(self.ddb, self.table)
        self.topic_arn = self.sns.create_topic(Name=f"alerts-{suffix}")["TopicArn"]
        self.queue_url = self.sqs.create_queue(QueueName=f"alerts-{suffix}")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        self.sns.subscribe(TopicArn=self.topic_arn, Protocol="sqs", Endpoint=queue_arn)
        self.parameter = f"/connect-user-sync/test-{suffix}/config"
        self.directory: dict[str, Any] = {"users": [], "groups": [{"id": "g1", "name": "Agents"}]}
        self.config: dict[str, Any] = {
            "source": {"type": "file", "file": {"path": str(tmp / "directory.json")}},
            "username": {"attribute": "upn"},
            "groups": [
                {
                    "name": "Agents",
                    "security_profiles": ["Agent"],
                    "routing_profile": "Basic Routing Profile",
                }
            ],
            "targets": [{"instance_id": self.iid, "region": REGION}],
            "deprovision": {"action": "disable", "disabled_security_profile": "Disabled"},
            "safety": {"max_deprovision": 2, "max_deprovision_percent": 100},
        }
        self.store = DynamoRunStore(self.table, client=self.ddb)

    def write(self) -> None:
        (self.tmp / "directory.json").write_text(json.dumps(self.directory), encoding="utf-8")
        self.ssm.put_parameter(
            Name=self.parameter, Type="String", Overwrite=True, Value=yaml.safe_dump(self.config)
        )
        from aws_lambda_powertools.utilities import parameters

        parameters.clear_caches()

    def invoke(self, event: Any) -> dict[str, Any]:
        self.write()
        self.capsys.readouterr()
        # The Logger bound its stream at import; point it at this test's captured stdout.
        self.app.logger.registered_handler.stream = sys.stdout
        result = self.app.handler(event, Context())
        out, _ = self.capsys.readouterr()
        self.stdout = out
        return json.loads(json.dumps(result))  # what Lambda would serialize

    def invoke_sample(self, name: str) -> dict[str, Any]:
        return self.invoke(json.loads((EVENTS / name).read_text(encoding="utf-8")))

    def metrics(self) -> dict[str, float]:
        """Metric values from the EMF documents the last invocation printed."""
        values: dict[str, float] = {}
        for line in self.stdout.splitlines():
            if '"_aws"' not in line:
                continue
            document = json.loads(line)
            for directive in document["_aws"]["CloudWatchMetrics"]:
                assert directive["Namespace"] == "ConnectUserSync"
                for metric in directive["Metrics"]:
                    value = document[metric["Name"]]
                    values[metric["Name"]] = value[0] if isinstance(value, list) else value
        return values

    def log_lines(self) -> list[dict[str, Any]]:
        lines = []
        for line in self.stdout.splitlines():
            if line.startswith("{") and '"_aws"' not in line:
                lines.append(json.loads(line))
        return lines

    def messages(self) -> list[dict[str, Any]]:
        """SNS notifications delivered to the test queue since the last call."""
        found = []
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if not batch:
                return found
            for message in batch:
                found.append(json.loads(message["Body"]))
                self.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )

    def run_items(self, run_id: str) -> list[dict[str, Any]]:
        from boto3.dynamodb.types import TypeDeserializer

        plain = TypeDeserializer()
        response = self.ddb.query(
            TableName=self.table,
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": {"S": f"RUN#{run_id}"}},
        )
        return [{k: plain.deserialize(v) for k, v in item.items()} for item in response["Items"]]

    def all_items(self) -> list[dict[str, Any]]:
        from boto3.dynamodb.types import TypeDeserializer

        plain = TypeDeserializer()
        items = self.ddb.scan(TableName=self.table)["Items"]
        return [{k: plain.deserialize(v) for k, v in item.items()} for item in items]

    def users(self) -> dict[str, dict[str, Any]]:
        return {u["Username"]: u for u in self.emulator.users(self.iid)}

    def seed_connect_user(self, username: str, *, managed: bool = False) -> str:
        tags = {TAG_MANAGED: "true"} if managed else None
        return self.emulator.add_user(
            self.iid,
            username,
            security_profile_ids=[self.sp["Agent"]],
            routing_profile_id=self.rp["Basic Routing Profile"],
            first_name="Seeded",
            last_name="User",
            tags=tags,
        )


@pytest.fixture
def stack(
    app: ModuleType,
    moto_url: str,
    connect_emulator: ConnectEmulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Stack]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_CONNECT", connect_emulator.url)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
    connect_emulator.clear_faults()
    built = Stack(app, connect_emulator, tmp_path, capsys)
    monkeypatch.setenv("CONFIG_PARAMETER", built.parameter)
    monkeypatch.setenv("RESULTS_TABLE", built.table)
    monkeypatch.setenv("ALERTS_TOPIC_ARN", built.topic_arn)
    yield built
    connect_emulator.clear_faults()


def actions(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for t in report["targets"] for a in t["actions"]]


# --------------------------------------------------------------------------- sample events


def test_scheduled_event_runs_a_full_sync_and_records_it(stack: Stack) -> None:
    stack.directory["users"] = [
        person("u1", "jane.doe@example.com"),
        person("u2", "raj.patel@example.com"),
    ]

    report = stack.invoke_sample("scheduled.json")

    assert report["status"] == "succeeded"
    assert report["trigger"] == "schedule"
    assert sorted(stack.users()) == ["jane.doe@example.com", "raj.patel@example.com"]
    items = stack.run_items(report["run_id"])
    assert all(item["run_id"] == report["run_id"] for item in items)
    run = next(i for i in items if i["SK"] == "RUN")
    assert run["status"] == "succeeded" and run["trigger"] == "schedule"
    assert run["targets"][0]["counts"]["create"] == 2
    assert run["users_in_scope"] == 2 and run["groups"] == {"Agents": 2}
    created = [i for i in items if i["SK"].startswith("ACTION#")]
    assert {i["username"] for i in created} == {"jane.doe@example.com", "raj.patel@example.com"}
    assert all(i["status"] == "applied" and int(i["expires_at"]) > 0 for i in created)
    # The GSIs answer "latest runs" and "what happened to this user".
    assert [r["run_id"] for r in stack.store.latest_runs(5)] == [report["run_id"]]
    history = stack.store.history("jane.doe@example.com")
    assert [(h["run_id"], h["action"]) for h in history] == [(report["run_id"], "create")]
    # EMF metrics, and the run id on every log line of the run.
    metrics = stack.metrics()
    assert metrics["Created"] == 2 and metrics["Failed"] == 0 and metrics["SafetyStop"] == 0
    assert metrics["DirectoryUsersInScope"] == 2 and "RunDuration" in metrics
    lines = stack.log_lines()
    assert {"run starting", "run finished"} <= {line["message"] for line in lines}
    assert all(line.get("run_id") == report["run_id"] for line in lines)
    assert stack.messages() == []  # nothing to tell anybody


def test_second_scheduled_run_changes_nothing_and_history_lists_both(stack: Stack) -> None:
    stack.directory["users"] = [person("u1", "jane.doe@example.com")]
    first = stack.invoke_sample("scheduled.json")
    second = stack.invoke_sample("scheduled.json")

    assert actions(second) == []
    assert second["targets"][0]["counts"]["unchanged"] == 1
    assert [r["run_id"] for r in stack.store.latest_runs(10)] == [second["run_id"], first["run_id"]]
    assert stack.store.previous_group_counts() == {"Agents": 1}


def test_dry_run_event_writes_nothing_to_connect_but_is_recorded(stack: Stack) -> None:
    stack.directory["users"] = [person("u1", "jane.doe@example.com")]
    stack.seed_connect_user("Raj.Patel@example.com")
    stack.directory["users"].append(person("u2", "raj.patel@example.com"))
    before = stack.users()

    report = stack.invoke_sample("dry-run.json")

    assert report["status"] == "planned" and report["dry_run"] is True
    assert stack.users() == before
    assert {a["username"]: a["status"] for a in actions(report)} == {
        "jane.doe@example.com": "planned"
    }
    items = stack.run_items(report["run_id"])
    assert {i["SK"].split("#")[0] for i in items} == {"RUN", "ACTION", "MISMATCH"}
    assert all(i["dry_run"] is True for i in items)
    # A dry run alerts nobody and does not mark the mismatch as already told.
    assert stack.messages() == []
    assert stack.store.open_mismatch_keys() == set()
    real = stack.invoke_sample("scheduled.json")
    assert [m["kind"] for m in real["mismatches"]] == ["case_mismatch"]
    assert len(stack.messages()) == 1


def test_single_user_event_touches_only_that_user(stack: Stack) -> None:
    stack.directory["users"] = [
        person("u1", "jane.doe@example.com"),
        person("u2", "raj.patel@example.com"),
    ]

    report = stack.invoke_sample("single-user.json")

    assert report["trigger"] == "manual"
    assert list(stack.users()) == ["jane.doe@example.com"]
    assert {a["username"] for a in actions(report)} == {"jane.doe@example.com"}
    run = stack.store.latest_runs(1)[0]
    assert run["users_filter"] == ["jane.doe@example.com"]


def test_single_user_event_for_nobody_in_scope_is_an_error_in_the_report(stack: Stack) -> None:
    stack.directory["users"] = [person("u1", "jane.doe@example.com")]

    report = stack.invoke({"users": ["jane.doe@exmaple.com"]})  # a typo in the domain

    assert report["status"] == "partial"
    assert report["users_not_found"] == ["jane.doe@exmaple.com"]
    assert any("jane.doe@exmaple.com" in e and "nobody in scope" in e for e in report["errors"])
    assert stack.users() == {} and actions(report) == []


def test_held_deprovisioning_alerts_then_approve_event_releases_it(stack: Stack) -> None:
    people = [person(f"u{i}", f"agent{i}.x@example.com") for i in range(4)]
    stack.directory["users"] = list(people)
    assert stack.invoke_sample("scheduled.json")["status"] == "succeeded"
    stack.messages()
    stack.directory["users"] = []  # all four leave: above max_deprovision (2)

    refused = stack.invoke_sample("scheduled.json")

    assert refused["status"] == "refused"
    assert {a["status"] for a in actions(refused)} == {"held"}
    assert stack.metrics()["SafetyStop"] == 1 and stack.metrics()["Held"] == 4
    [alert] = stack.messages()
    assert len(alert["Subject"]) <= 100 and "held back" in alert["Subject"]
    body = alert["Message"]
    plain, _, _ = body.partition(JSON_MARKER)
    assert "agent0.x@example.com" in plain and "approve_deprovision" in plain
    machine = parse_json_section(body)
    assert machine["status"] == "refused" and machine["safety_stop"] is True
    assert len(machine["held_actions"]) == 4
    assert alert["MessageAttributes"]["run_id"]["Value"] == refused["run_id"]
    assert alert["MessageAttributes"]["status"]["Value"] == "refused"
    assert all(
        TAG_MANAGED in u["Tags"] and u["SecurityProfileIds"] == [stack.sp["Agent"]]
        for u in stack.users().values()
    )

    approved = stack.invoke_sample("approve-deprovision.json")

    assert approved["status"] == "succeeded"
    assert sorted(a["action"] for a in actions(approved)) == ["disable"] * 4
    assert all(u["SecurityProfileIds"] == [stack.sp["Disabled"]] for u in stack.users().values())
    assert stack.metrics()["Disabled"] == 4
    assert stack.messages() == []


def test_a_group_that_comes_back_empty_holds_deprovisioning(stack: Stack) -> None:
    stack.directory["groups"].append({"id": "g2", "name": "Floor"})
    stack.config["groups"].append(
        {
            "name": "Floor",
            "security_profiles": ["Agent"],
            "routing_profile": "Basic Routing Profile",
        }
    )
    stack.config["safety"] = {"max_deprovision": 25, "max_deprovision_percent": 100}
    stack.directory["users"] = [person("a1", "stay.here@example.com")] + [
        person(f"f{i}", f"floor{i}.x@example.com", groups=["Floor"]) for i in range(2)
    ]
    assert stack.invoke_sample("scheduled.json")["status"] == "succeeded"
    stack.messages()
    # Floor still exists but reads empty, as a broken sync of an IdP group would look.
    stack.directory["users"] = stack.directory["users"][:1]

    refused = stack.invoke_sample("scheduled.json")

    assert refused["status"] == "refused"
    assert {(a["action"], a["status"]) for a in actions(refused)} == {("disable", "held")}
    assert "'Floor' came back empty" in " ".join(refused["targets"][0]["held_because"])
    assert all(u["SecurityProfileIds"] == [stack.sp["Agent"]] for u in stack.users().values())
    approved = stack.invoke_sample("approve-deprovision.json")
    assert approved["status"] == "succeeded"
    assert sorted(a["action"] for a in actions(approved)) == ["disable", "disable"]


def test_mismatch_alerts_once_then_reminder_then_resolves(stack: Stack) -> None:
    stack.seed_connect_user("Jane.Doe@example.com")
    stack.directory["users"] = [person("u1", "jane.doe@example.com")]

    first = stack.invoke_sample("scheduled.json")

    assert [m["kind"] for m in first["mismatches"]] == ["case_mismatch"]
    assert stack.metrics()["CaseMismatches"] == 1
    [alert] = stack.messages()
    assert "mismatch" in alert["Subject"] and len(alert["Subject"]) <= 100
    plain = alert["Message"].partition(JSON_MARKER)[0]
    assert re.search(
        r"Connect user Jane\.Doe@example\.com .*differs only in letter case.*"
        r"jane\.doe@example\.com.*logins will fail",
        plain,
        re.S,
    )
    assert "Recreate the Connect user" in plain
    machine = parse_json_section(alert["Message"])
    assert machine["new_mismatches"][0]["connect_username"] == "Jane.Doe@example.com"
    mismatch_items = [
        i for i in stack.run_items(first["run_id"]) if i["SK"].startswith("MISMATCH#")
    ]
    assert (
        mismatch_items[0]["kind"] == "case_mismatch"
        and mismatch_items[0]["run_id"] == first["run_id"]
    )
    assert stack.store.history("jane.doe@example.com")[0]["kind"] == "case_mismatch"

    # The same mismatch the next night: recorded again, alerted no more.
    second = stack.invoke_sample("scheduled.json")
    assert len(second["mismatches"]) == 1
    assert stack.messages() == []
    [still_open] = stack.store.open_mismatches()
    assert (
        still_open["first_seen_run_id"] == first["run_id"]
        and still_open["run_id"] == second["run_id"]
    )

    # The weekly reminder lists it.
    reminded = stack.invoke_sample("remind.json")
    assert reminded == {"action": "remind", "open_mismatches": 1, "sent": True, "exit_code": 0}
    [reminder] = stack.messages()
    assert "still open" in reminder["Subject"]
    assert "Jane.Doe@example.com" in reminder["Message"].partition(JSON_MARKER)[0]
    assert parse_json_section(reminder["Message"])["type"] == "reminder"
    assert reminder["MessageAttributes"]["status"]["Value"] == "open_mismatches"

    # Somebody fixes it (the stray Connect user goes); the next full run closes it.
    user_id = stack.users()["Jane.Doe@example.com"]["Id"]
    boto3.client("connect", region_name=REGION).delete_user(InstanceId=stack.iid, UserId=user_id)
    stack.invoke_sample("scheduled.json")
    assert stack.store.open_mismatches() == []
    assert stack.invoke_sample("remind.json")["sent"] is False
    assert stack.messages() == []


def test_failed_directory_read_alerts_as_a_safety_stop(stack: Stack) -> None:
    stack.directory["users"] = [person("u1", "jane.doe@example.com")]
    stack.invoke_sample("scheduled.json")
    stack.config["source"]["file"]["path"] = str(stack.tmp / "missing.json")

    report = stack.invoke_sample("scheduled.json")

    assert report["status"] == "failed"
    assert stack.users()["jane.doe@example.com"]["SecurityProfileIds"] == [stack.sp["Agent"]]
    [alert] = stack.messages()
    assert "directory read failed" in alert["Subject"]
    assert "missing.json" in alert["Message"] and "nothing deprovisioned" in alert["Subject"]
    assert stack.metrics()["SafetyStop"] == 1


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("event", "fragment"),
    [
        ({"dry_run": True, "user": ["x@example.com"]}, "unknown event key(s) user"),
        ({"dry_run": "yes"}, "dry_run must be true or false"),
        ({"users": "jane@example.com"}, "users must be a list"),
        ({"action": "purge"}, "action must be one of sync, remind"),
        ({"action": "remind", "dry_run": True}, "takes no other keys"),
        (
            {"detail-type": "Scheduled Event", "source": "aws.events", "detail": {"force": True}},
            "unknown event key(s) force in detail",
        ),
        (["dry_run"], "must be a JSON object"),
    ],
)
def test_bad_events_get_a_clear_error_and_do_nothing(
    stack: Stack, event: Any, fragment: str
) -> None:
    stack.directory["users"] = [person("u1", "jane.doe@example.com")]

    result = stack.invoke(event)

    assert result["exit_code"] == 2 and fragment in result["error"]["message"]
    assert stack.users() == {}
    assert stack.all_items() == []


def test_bad_configuration_is_reported_on_every_invocation_until_fixed(stack: Stack) -> None:
    stack.directory["users"] = [person("u1", "jane.doe@example.com")]
    stack.config["safety"]["max_deprovison"] = 3  # misspelt

    for _ in range(2):
        result = stack.invoke_sample("scheduled.json")
        assert result["exit_code"] == 2
        assert result["error"]["path"] == "safety.max_deprovison"
        assert "max_deprovision" in result["error"]["fix"]
        assert stack.metrics()["ConfigErrors"] == 1

    del stack.config["safety"]["max_deprovison"]
    assert stack.invoke_sample("scheduled.json")["status"] == "succeeded"


def test_missing_parameter_is_a_configuration_error(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONFIG_PARAMETER", "/connect-user-sync/nobody/config")
    result = stack.invoke_sample("dry-run.json")
    assert result["exit_code"] == 2 and "cannot be read" in result["error"]["problem"]


def test_deadline_follows_the_remaining_time(app: ModuleType) -> None:
    import time

    class Short:
        def get_remaining_time_in_millis(self) -> int:
            return 40_000

    deadline = app._deadline(Short())
    assert 9.0 < deadline - time.monotonic() <= 10.0
    assert app._deadline(object()) is None


def test_cold_start_with_a_broken_configuration_does_not_crash_the_import(tmp_path: Path) -> None:
    """Also: the handler's imports never pull in rich, which the layer does not ship."""
    bad = tmp_path / "config.yaml"
    bad.write_text("source: {type: file}\n", encoding="utf-8")
    script = textwrap.dedent(f"""
        import importlib.abc, importlib.util, json, sys
        class NoRich(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "rich" or name.startswith("rich."):
                    raise ImportError("rich is not in the Lambda layer")
        sys.meta_path.insert(0, NoRich())
        spec = importlib.util.spec_from_file_location("app", {str(APP)!r})
        app = importlib.util.module_from_spec(spec)
        sys.modules["app"] = app
        spec.loader.exec_module(app)
        class Context:
            function_name = "f"; memory_limit_in_mb = 512; aws_request_id = "r"
            invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:f"
            def get_remaining_time_in_millis(self): return 60000
        print("RESULT " + json.dumps(app.handler({{"dry_run": True}}, Context())))
        print("COLD " + str(app.COLD_START_PROBLEM))
    """)
    env = {
        **os.environ,
        "CONFIG_FILE": str(bad),
        "POWERTOOLS_TRACE_DISABLED": "1",
        "AWS_DEFAULT_REGION": REGION,
        "CONFIG_PARAMETER": "",
    }
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(
        next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))[7:]
    )
    assert result["exit_code"] == 2 and result["error"]["path"] == "source.file"
    assert "COLD config error at 'source.file'" in done.stdout


# --------------------------------------------------------------------------- template


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def test_the_templates_example_configuration_is_valid(template: dict[str, Any]) -> None:
    value = template["Resources"]["ConfigParameter"]["Properties"]["Value"]["Fn::If"][2]
    text, variables = value["Fn::Sub"]
    assert set(variables) == {"SecretArn", "TargetArns"}
    instance = (
        "arn:aws:connect:eu-central-1:123456789012:instance/11111111-2222-3333-4444-555555555555"
    )
    substitutions = {
        "EntraTenantId": "00000000-0000-0000-0000-000000000000",
        "EntraClientId": "00000000-0000-0000-0000-000000000000",
        "SecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:connect-user-sync/entra-AbCdEf",
        "DirectoryGroupName": "CC-Agents",
        "TargetArns": instance,  # one instance; tests/unit/test_template_iam.py renders two
    }
    rendered = re.sub(r"\$\{([^}]+)\}", lambda m: substitutions[m.group(1)], text)
    config = parse_text(rendered, "template example")
    assert config.targets[0].region == "eu-central-1" and config.targets[0].role_arn is None
    assert config.source.entra is not None and config.source.entra.client_secret_arn.endswith(
        "AbCdEf"
    )


def test_every_sample_event_is_understood(app: ModuleType) -> None:
    parsed = {
        p.name: app.parse_event(json.loads(p.read_text(encoding="utf-8")))
        for p in sorted(EVENTS.glob("*.json"))
    }
    assert set(parsed) == {
        "approve-adoption.json",
        "approve-deprovision.json",
        "dry-run.json",
        "remind.json",
        "scheduled.json",
        "single-user.json",
    }
    assert parsed["scheduled.json"].request.trigger == "schedule"
    assert parsed["remind.json"].action == "remind"
    assert parsed["dry-run.json"].request.dry_run is True
    assert parsed["approve-deprovision.json"].request.approve_deprovision is True
    assert parsed["approve-adoption.json"].request.approve_adoption is True
    assert parsed["single-user.json"].request.users == ("jane.doe@example.com",)


def test_the_schedules_send_events_the_handler_accepts(
    app: ModuleType, template: dict[str, Any]
) -> None:
    for name, action in (("NightlySchedule", "sync"), ("ReminderSchedule", "remind")):
        text = template["Resources"][name]["Properties"]["Target"]["Input"]["Fn::Sub"]
        event = json.loads(
            text.replace("${AWS::AccountId}", "123456789012").replace("${AWS::Region}", REGION)
        )
        invocation = app.parse_event(event)
        assert invocation.action == action and invocation.request.trigger == "schedule"


# What the function's role may do in Connect (scoped to TargetInstanceArns, the managed
# tag and the grantable profiles) is tested in tests/unit/test_template_iam.py.


# --------------------------------------------------------------------------- reading it back


def cli(*argv: str) -> int:
    from connect_user_sync.cli import main

    return main(list(argv))


def test_runs_and_history_commands_read_what_the_function_recorded(stack: Stack) -> None:
    stack.seed_connect_user("Raj.Patel@example.com")
    stack.directory["users"] = [
        person("u1", "jane.doe@example.com"),
        person("u2", "raj.patel@example.com"),
    ]
    dry = stack.invoke_sample("dry-run.json")
    real = stack.invoke_sample("scheduled.json")
    stack.capsys.readouterr()

    assert cli("runs", "--format", "json") == 0
    runs = json.loads(stack.capsys.readouterr().out)["runs"]
    assert [r["run_id"] for r in runs] == [real["run_id"], dry["run_id"]]
    assert not any(key.startswith(("PK", "SK", "GSI")) for key in runs[0])

    assert cli("runs", "--limit", "1") == 0
    table = stack.capsys.readouterr().out
    assert real["run_id"] in table and dry["run_id"] not in table and "succeeded" in table

    assert cli("history", "jane.doe@example.com", "--format", "json") == 0
    history = json.loads(stack.capsys.readouterr().out)["history"]
    assert [(h["run_id"], h["action"], h["status"]) for h in history] == [
        (real["run_id"], "create", "applied"),
        (dry["run_id"], "create", "planned"),
    ]
    assert cli("history", "raj.patel@example.com") == 0
    out = stack.capsys.readouterr().out
    assert "case_mismatch" in out and "dry run" in out

    config = stack.tmp / "config.yaml"
    config.write_text(
        yaml.safe_dump({**stack.config, "results": {"table": stack.table}}), encoding="utf-8"
    )
    assert cli("history", "Nobody@example.com", "--config", str(config)) == 0
    assert "case-sensitive" in stack.capsys.readouterr().out


def test_results_commands_without_a_table_exit_2_with_a_fix(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RESULTS_TABLE")
    stack.capsys.readouterr()
    assert cli("runs") == 2
    assert "export RESULTS_TABLE" in stack.capsys.readouterr().err

    monkeypatch.setenv("RESULTS_TABLE", "no-such-table")
    assert cli("history", "jane.doe@example.com") == 2
    assert "does not exist" in stack.capsys.readouterr().err

    bad = stack.tmp / "bad.yaml"
    bad.write_text("results: {tabel: x}\n", encoding="utf-8")
    assert cli("runs", "--config", str(bad)) == 2
    assert "config error" in stack.capsys.readouterr().err
