"""What template.yaml and the layer promise an operator and a security review.

- The function writes only to its own log group, which is encrypted and expires.
- Every alarm notifies the alerts topic; the nightly sync not running raises one.
- The dashboard is valid JSON once deployed, names only resources of the stack, and every
  metric it or an alarm reads is one the code emits (or is listed as still to be emitted).
- The layer's lock pins, with hashes, every third-party package the runtime code imports,
  and nothing that is for the CLI or the tests only.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import load_template

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "connect_user_sync"
LAYER = ROOT / "layers" / "shared"
NAMESPACE = "ConnectUserSync"
PSEUDO = {"AWS::Region", "AWS::StackName", "AWS::AccountId", "AWS::Partition", "AWS::URLSuffix"}

# Metrics the dashboard and alarms read that the code does not emit yet. When one gets
# emitted, take it off this list (the last test fails until then, so the list stays true).
NOT_YET_EMITTED: set[str] = set()


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    resources: dict[str, Any] = load_template()["Resources"]
    return resources


def statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for policy in role["Properties"].get("Policies", []):
        for entry in policy["PolicyDocument"]["Statement"]:
            statement = entry["Fn::If"][1] if "Fn::If" in entry else entry  # configured case
            if isinstance(statement, dict) and "Effect" in statement:
                found.append(statement)
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# --------------------------------------------------------------------------- logs


def test_the_function_writes_only_to_its_own_encrypted_expiring_log_group(
    resources: dict[str, Any],
) -> None:
    function = resources["SyncFunction"]["Properties"]
    assert function["Role"] == {"Fn::GetAtt": ["SyncFunctionRole", "Arn"]}
    assert "Policies" not in function  # SAM would add AWSLambdaBasicExecutionRole again
    assert function["LoggingConfig"]["LogGroup"] == {"Ref": "SyncLogGroup"}
    group = resources["SyncLogGroup"]["Properties"]
    assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert group["KmsKeyId"] == {"Fn::GetAtt": ["EncryptionKey", "Arn"]}

    role = resources["SyncFunctionRole"]
    assert "ManagedPolicyArns" not in role["Properties"]
    logs = [s for s in statements(role) if any(a.startswith("logs:") for a in as_list(s["Action"]))]
    assert logs, "the function needs to write its logs"
    for statement in logs:
        assert set(as_list(statement["Action"])) <= {"logs:CreateLogStream", "logs:PutLogEvents"}
        assert as_list(statement["Resource"]) == [{"Fn::GetAtt": ["SyncLogGroup", "Arn"]}]
    for statement in statements(role):
        if "*" in as_list(statement["Resource"]):
            assert all(a.startswith("xray:Put") for a in as_list(statement["Action"])), statement


# --------------------------------------------------------------------------- alarms


def alarms(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: r["Properties"]
        for name, r in resources.items()
        if r["Type"] == "AWS::CloudWatch::Alarm"
    }


def test_every_alarm_notifies_the_alerts_topic(resources: dict[str, Any]) -> None:
    found = alarms(resources)
    assert {
        "FailedRunAlarm",
        "SafetyStopAlarm",
        "InterruptedRunAlarm",
        "NoSuccessfulRunAlarm",
    } <= set(found)
    for name, alarm in found.items():
        assert alarm["AlarmActions"] == [{"Ref": "AlertsTopic"}], name


def test_no_successful_run_in_26_hours_raises_an_alarm_even_with_no_data(
    resources: dict[str, Any],
) -> None:
    alarm = alarms(resources)["NoSuccessfulRunAlarm"]
    assert alarm["Namespace"] == NAMESPACE and alarm["MetricName"] == "RunsSucceeded"
    assert alarm["Statistic"] == "Sum"
    assert alarm["Period"] * alarm["EvaluationPeriods"] == 26 * 3600
    assert alarm["DatapointsToAlarm"] == alarm["EvaluationPeriods"]  # every hour without one
    assert alarm["ComparisonOperator"] == "LessThanThreshold" and alarm["Threshold"] == 1
    assert alarm["TreatMissingData"] == "breaching"  # no run at all is the case that matters
    # CloudWatch allows a 7-day range only for periods of an hour or more.
    assert alarm["Period"] >= 3600


# --------------------------------------------------------------------------- dashboard


def dashboard_body(resources: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    text = resources["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    assert isinstance(text, str)
    names = set(re.findall(r"\$\{([^}!]+)\}", text))
    return json.loads(re.sub(r"\$\{[^}]+\}", "x", text)), names


def metric_names(resources: dict[str, Any]) -> set[str]:
    """Every ConnectUserSync metric the dashboard or an alarm reads."""
    body, _ = dashboard_body(resources)
    used = {a["MetricName"] for a in alarms(resources).values() if a.get("Namespace") == NAMESPACE}
    for widget in body["widgets"]:
        for metric in widget["properties"].get("metrics", []):
            if isinstance(metric[0], dict):  # a SEARCH expression
                used |= set(re.findall(r'MetricName="(\w+)"', metric[0]["expression"]))
            elif metric[0] == NAMESPACE:
                used.add(metric[1])
    return used


def test_the_dashboard_is_valid_json_and_names_only_the_stacks_resources(
    resources: dict[str, Any],
) -> None:
    body, names = dashboard_body(resources)
    for name in names:
        assert name in PSEUDO or name.split(".")[0] in resources, name
    widgets = body["widgets"]
    for widget in widgets:
        assert widget["x"] + widget["width"] <= 24, widget["properties"].get("title")
    (alarm_widget,) = [w for w in widgets if w["type"] == "alarm"]
    assert alarm_widget["properties"]["alarms"]
    raw = resources["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    assert {a for a in alarms(resources) if f"${{{a}.Arn}}" in raw} == set(alarms(resources))
    titles = " ".join(str(w["properties"].get("title", "")) for w in widgets).lower()
    for topic in (
        "status",
        "actions",
        "failures",
        "held",
        "duration",
        "mismatches",
        "group",
        "throttles",
        "calls",
        "converge",
    ):
        assert topic in titles, topic


def emitted_literals() -> set[str]:
    literals: set[str] = set()
    for module in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                literals.add(node.value)
    return literals


def test_every_metric_the_dashboard_reads_is_emitted_or_listed_as_pending(
    resources: dict[str, Any],
) -> None:
    used, emitted = metric_names(resources), emitted_literals()
    missing = sorted(used - emitted - NOT_YET_EMITTED)
    assert missing == [], f"read by the template but emitted nowhere: {missing}"
    now_emitted = sorted(NOT_YET_EMITTED & emitted)
    assert now_emitted == [], f"emitted now, take them off NOT_YET_EMITTED: {now_emitted}"
    assert used >= NOT_YET_EMITTED  # the list names only what the template reads


# --------------------------------------------------------------------------- layer


def _runtime_imports(tree: ast.AST) -> Iterator[str]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue  # typing-only imports never run
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0]
        yield from _runtime_imports(node)


def layer_modules() -> list[Path]:
    return [
        path
        for path in PACKAGE.rglob("*.py")
        if path.relative_to(PACKAGE).parts[0] != "cli" and path.name != "__main__.py"
    ]


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def layer_pins() -> dict[str, str]:
    text = (LAYER / "requirements.lock").read_text(encoding="utf-8")
    return {
        normalized(m.group(1)): m.group(2) for m in re.finditer(r"^([\w.-]+)==(\S+)", text, re.M)
    }


def test_the_layer_lock_pins_every_package_the_runtime_code_imports() -> None:
    imported = set()
    for path in layer_modules():
        imported |= set(_runtime_imports(ast.parse(path.read_text(encoding="utf-8"))))
    third_party = {m for m in imported if m not in sys.stdlib_module_names} - {"connect_user_sync"}
    assert {"boto3", "yaml", "aws_lambda_powertools"} <= third_party  # the scan sees imports
    distributions = importlib.metadata.packages_distributions()
    pins = layer_pins()
    unshipped = sorted(
        module
        for module in third_party
        if not any(normalized(d) in pins for d in distributions.get(module, [module]))
    )
    assert unshipped == [], f"imported by runtime code but not in the layer's lock: {unshipped}"


def test_the_layer_lock_is_hashed_and_ships_nothing_for_the_cli_or_tests() -> None:
    pins = layer_pins()
    wanted = [
        normalized(re.split(r"[\[<>=~!; ]", line, maxsplit=1)[0])
        for line in (LAYER / "requirements.in").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert wanted and set(wanted) <= set(pins), "run make lock"
    assert not {"rich", "trustme", "pytest", "moto"} & set(pins)
    text = (LAYER / "requirements.lock").read_text(encoding="utf-8")
    blocks = re.split(r"\n(?=[\w.-]+==)", text.split("\n", 2)[2])
    for block in blocks:
        if "==" in block.split("\n", 1)[0]:
            assert "--hash=sha256:" in block, block.split("\n", 1)[0]
