"""No secret, token or directory payload in the logs of a full run, CLI and Lambda handler.

GIVEN an Entra tenant (the Graph emulator over TLS) whose client secret is stored in
Secrets Manager (moto), a Connect instance (the emulator) that already holds one of the
users in another letter case, and for the handler the stack's SSM parameter, results table
and alerts topic on moto,
WHEN a full sync runs through the CLI and through the handler, with every logger of the
package at DEBUG (what ``LogLevel: DEBUG`` gives the function) and everything else at INFO
(Lambda's default application log level), after a first attempt with a wrong secret,
THEN
- neither secret nor any access token the emulator issued appears anywhere: not in a log
  line, not on stderr, not in the report;
- no e-mail address, user principal name or name of a fixture user appears in a log line,
  except as the exact value of one of the report's own fields (an error or mismatch an
  operator needs to act on, repeated in the "run finished" line).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
import yaml

from connect_user_sync.sources import entra
from connect_user_sync_emulators.graph import GraphEmulator
from tests.conftest import World, create_results_table, person

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "functions" / "sync" / "app.py"
REGION = "us-east-1"
TENANT, CLIENT = "tenant-redact", "client-redact"
SECRET = "Gq8~client-secret-that-must-never-show"
WRONG_SECRET = "Zt3~a-wrong-secret-that-must-never-show"
TOKEN = re.compile(r"emu\.[A-Za-z0-9_-]{16,}")  # what the Graph emulator issues
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")

USERS = [
    person("d-1001", "ana.quintaval@example.com"),
    person("d-1002", "bo.zellweger@example.com", ("Supervisors",)),
    person("d-1003", "cy.ostrovsky@example.com", enabled=False),
    person("d-1004", "Dee.Marchetti@example.com"),  # Connect holds dee.marchetti@...
    person("d-1005", "eli_fabrikam.com#EXT#@tenant.onmicrosoft.com"),  # a guest
]
GROUPS = [{"id": "g-agents", "name": "Agents"}, {"id": "g-sup", "name": "Supervisors"}]
# Directory values that identify a person: addresses and the (distinctive) last names.
PERSONAL = sorted(
    {u["upn"] for u in USERS}
    | {u["email"] for u in USERS}
    | {"dee.marchetti@example.com"}
    | {u["last_name"] for u in USERS if len(u["last_name"]) > 5}
)


# --------------------------------------------------------------------------- capture


def leaves(value: Any) -> Iterator[str]:
    """Every string in a JSON-like value, keys included."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from leaves(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from leaves(item)
    elif value is not None:
        yield str(value)


_RECORD_FIELDS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def record_fields(record: logging.LogRecord) -> list[str]:
    """A standard log record as the strings a log handler would write."""
    extras = {k: v for k, v in vars(record).items() if k not in _RECORD_FIELDS}
    texts = [record.getMessage(), *leaves(extras)]
    if record.exc_info and record.exc_info[1] is not None:
        texts.append(repr(record.exc_info[1]))
    return texts


def json_log_lines(text: str) -> list[dict[str, Any]]:
    """Powertools' JSON log lines from captured stdout (EMF metric documents left out)."""
    lines = []
    for line in text.splitlines():
        if line.startswith("{") and '"_aws"' not in line:
            lines.append(json.loads(line))
    return lines


def assert_clean(logs: list[str], report: dict[str, Any], *, everything: str) -> None:
    """No secret anywhere; nothing personal in a log string unless it is a report field."""
    for secret in (SECRET, WRONG_SECRET):
        assert secret not in everything, "a client secret reached the output"
    assert TOKEN.findall(everything) == [], "an access token reached the output"
    report_values = set(leaves(report))
    leaks = sorted(
        {
            text
            for text in logs
            if text not in report_values
            and (EMAIL.search(text) or any(value in text for value in PERSONAL))
        }
    )
    assert leaks == [], f"personal data in logs outside the report's fields: {leaks}"


@pytest.fixture
def tenant(
    world: World, moto_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> Iterator[GraphEmulator]:
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto_url)
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="connect_user_sync")
    entra.clear_app_cache()
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()
    with GraphEmulator(TENANT, CLIENT, SECRET) as graph:
        for key, value in graph.env().items():
            monkeypatch.setenv(key, value)
        graph.load_directory({"users": USERS, "groups": GROUPS})
        world.emulator.add_user(
            world.iid,
            "dee.marchetti@example.com",
            security_profile_ids=[world.sp["Agent"]],
            routing_profile_id=world.rp["Basic"],
            first_name="Dee",
            last_name="Marchetti",
        )
        yield graph
    entra.clear_app_cache()


def entra_section(graph: GraphEmulator, secret_arn: str) -> dict[str, Any]:
    return {
        "type": "entra",
        "entra": {
            "tenant_id": TENANT,
            "client_id": CLIENT,
            "client_secret_arn": secret_arn,
            "authority_host": graph.authority_host,
            "graph_url": graph.graph_url,
        },
    }


def store_secret(value: str) -> str:
    client = boto3.client("secretsmanager", region_name=REGION)
    name = f"entra-redact-{uuid.uuid4().hex[:8]}"
    return str(client.create_secret(Name=name, SecretString=value)["ARN"])


# --------------------------------------------------------------------------- CLI


def test_cli_logs_of_a_full_run_hold_no_secret_token_or_personal_data(
    world: World, tenant: GraphEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    world.config["source"] = entra_section(tenant, store_secret(WRONG_SECRET))
    failed_code, failed, failed_err = world.cli("apply")
    world.config["source"] = entra_section(tenant, store_secret(SECRET))
    code, report, err = world.cli("apply")

    assert failed_code == 4 and failed is not None and failed["status"] == "failed"
    assert code == 0 and report is not None
    assert {a["username"] for t in report["targets"] for a in t["actions"]} == {
        "ana.quintaval@example.com",
        "bo.zellweger@example.com",
    }
    assert {m["kind"] for m in report["mismatches"]} == {"case_mismatch", "invalid_username"}
    assert tenant.token_requests >= 1  # a token was issued, so there was one to leak
    logs = [text for record in caplog.records for text in record_fields(record)]
    logs += [line for line in (failed_err + err).splitlines() if line.strip()]
    assert any("Agents" in text for text in logs)  # the capture saw the run's own logging
    everything = "\n".join([*logs, json.dumps(failed), json.dumps(report)])
    assert_clean(logs, report | {"failed": failed}, everything=everything)


# --------------------------------------------------------------------------- handler


class Context:
    """What the handler reads from Lambda's context object."""

    function_name = "connect-user-sync-SyncFunction"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:connect-user-sync"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


@pytest.fixture(scope="module")
def app() -> Iterator[ModuleType]:
    """The handler module, imported once as Lambda's init would (tracing off)."""
    saved = {k: os.environ.get(k) for k in ("POWERTOOLS_TRACE_DISABLED", "CONFIG_PARAMETER")}
    os.environ["POWERTOOLS_TRACE_DISABLED"] = "1"
    os.environ.pop("CONFIG_PARAMETER", None)
    spec = importlib.util.spec_from_file_location("connect_user_sync_redaction_app", APP)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def test_handler_logs_of_a_full_run_hold_no_secret_token_or_personal_data(
    app: ModuleType,
    world: World,
    tenant: GraphEmulator,
    moto_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
    suffix = uuid.uuid4().hex[:8]
    ddb = boto3.client("dynamodb", region_name=REGION)
    table = f"results-{suffix}"
    create_results_table(ddb, table)
    topic = boto3.client("sns", region_name=REGION).create_topic(Name=f"alerts-{suffix}")
    parameter = f"/connect-user-sync/redact-{suffix}/config"
    monkeypatch.setenv("CONFIG_PARAMETER", parameter)
    monkeypatch.setenv("RESULTS_TABLE", table)
    monkeypatch.setenv("ALERTS_TOPIC_ARN", topic["TopicArn"])
    app.logger.setLevel("DEBUG")
    ssm = boto3.client("ssm", region_name=REGION)
    scheduled = json.loads((ROOT / "events" / "scheduled.json").read_text(encoding="utf-8"))

    def invoke(secret_arn: str) -> tuple[dict[str, Any], str]:
        from aws_lambda_powertools.utilities import parameters

        config = {**world.config, "source": entra_section(tenant, secret_arn)}
        ssm.put_parameter(
            Name=parameter, Type="String", Overwrite=True, Value=yaml.safe_dump(config)
        )
        parameters.clear_caches()
        capsys.readouterr()
        app.logger.registered_handler.stream = sys.stdout  # bound at import; capture it here
        result = app.handler(scheduled, Context())
        out, err = capsys.readouterr()
        return json.loads(json.dumps(result, default=str)), out + err

    failed, failed_out = invoke(store_secret(WRONG_SECRET))
    report, out = invoke(store_secret(SECRET))

    assert failed["status"] == "failed" and report["status"] == "succeeded"
    assert {m["kind"] for m in report["mismatches"]} == {"case_mismatch", "invalid_username"}
    lines = json_log_lines(failed_out + out)
    assert {"run starting", "run finished"} <= {line.get("message") for line in lines}
    logs = [text for line in lines for text in leaves(line)]
    logs += [text for record in caplog.records for text in record_fields(record)]
    everything = "\n".join([failed_out, out, *logs, json.dumps(failed), json.dumps(report)])
    assert_clean(logs, report | {"failed": failed}, everything=everything)
