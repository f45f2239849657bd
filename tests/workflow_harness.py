"""The stack's Step Functions workflow on one machine, for tests and ``make bench``.

``statemachine/sync.asl.json`` (with the template's substitutions) is run by the ASL
interpreter of the emulators package; its three Lambda functions are
``functions/workflow/app.py``, imported like a cold start and called in-process with a
Lambda context whose remaining time is the function's timeout divided by the speed
factor. S3, DynamoDB, SNS and SSM are moto; Connect is the project's emulator, at the same
speed factor (its quotas and the client's limiter both multiplied), so simulated seconds
are wall seconds times ``speed``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import sys
import threading
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import yaml

from connect_user_sync_emulators.states import Execution, StateMachine

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "functions" / "workflow" / "app.py"
DEFINITION = ROOT / "statemachine" / "sync.asl.json"
REGION = "us-east-1"
ACCOUNT = "123456789012"
FUNCTIONS = {
    "ReadFunctionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:workflow-read",
    "ApplyFunctionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:workflow-apply",
    "FinishFunctionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:workflow-finish",
}
TIMEOUT_SECONDS = 900.0  # the functions' timeout in template.yaml
MARGIN_SECONDS = 30.0  # DEADLINE_MARGIN_SECONDS in template.yaml
RESULTS_KEYS = ("PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK")


def definition() -> dict[str, Any]:
    """The definition with the template's substitutions, as CloudFormation would make it."""
    text = DEFINITION.read_text(encoding="utf-8")
    for key, arn in FUNCTIONS.items():
        text = text.replace("${" + key + "}", arn)
    document: dict[str, Any] = json.loads(text)
    return document


def load_app() -> ModuleType:
    """``functions/workflow/app.py`` as Lambda imports it (a fresh module, tracing off)."""
    os.environ["POWERTOOLS_TRACE_DISABLED"] = "1"
    name = f"workflow_app_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, APP)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class Context:
    """What the handler reads from Lambda's context object."""

    memory_limit_in_mb = 1024
    function_version = "$LATEST"

    def __init__(self, arn: str, remaining_ms: int) -> None:
        self.invoked_function_arn = arn
        self.function_name = arn.rsplit(":", 1)[-1]
        self.aws_request_id = str(uuid.uuid4())
        self._remaining = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self._remaining


class Workflow:
    """The workflow's AWS resources on moto, its functions in-process, one speed factor."""

    def __init__(
        self,
        *,
        speed: float,
        timeout_seconds: float = TIMEOUT_SECONDS,
        max_iterations: int = 24,
        quiet: bool = False,
        results_table: bool = True,
    ) -> None:
        self.speed = speed
        self.timeout_seconds = timeout_seconds
        self.max_iterations = max_iterations
        self.quiet = quiet
        suffix = uuid.uuid4().hex[:8]
        self.s3 = boto3.client("s3", region_name=REGION)
        self.ddb = boto3.client("dynamodb", region_name=REGION)
        self.sns = boto3.client("sns", region_name=REGION)
        self.ssm = boto3.client("ssm", region_name=REGION)
        self.bucket = f"connect-user-sync-{suffix}"
        self.s3.create_bucket(Bucket=self.bucket)
        # Without the table a run has no history and no ownership records (tags decide).
        self.table = f"results-{suffix}" if results_table else ""
        if results_table:
            self._create_table()
        self.topic_arn = self.sns.create_topic(Name=f"alerts-{suffix}")["TopicArn"]
        self.parameter = f"/connect-user-sync/wf-{suffix}/config"
        self.app: ModuleType | None = None
        self.payloads: list[Any] = []  # every event a function received, in order
        self._lock = threading.Lock()  # one execution environment: calls take turns

    def _create_table(self) -> None:
        from tests.conftest import create_results_table

        create_results_table(self.ddb, self.table)

    def environment(self) -> dict[str, str]:
        """The functions' environment variables, as template.yaml sets them."""
        return {
            "CONFIG_PARAMETER": self.parameter,
            "RESULTS_TABLE": self.table,
            "ALERTS_TOPIC_ARN": self.topic_arn,
            "WORK_BUCKET": self.bucket,
            "MAX_APPLY_ITERATIONS": str(self.max_iterations),
            "DEADLINE_MARGIN_SECONDS": str(MARGIN_SECONDS / self.speed),
            "CONNECT_USER_SYNC_RATE_MULTIPLIER": str(self.speed),
        }

    def configure(self, config: Mapping[str, Any]) -> None:
        self.ssm.put_parameter(
            Name=self.parameter, Type="String", Overwrite=True, Value=yaml.safe_dump(dict(config))
        )
        from aws_lambda_powertools.utilities import parameters

        parameters.clear_caches()

    def _invoke(self, arn: str, payload: Any) -> Any:
        with self._lock:
            if self.app is None:
                self.app = load_app()
            app = self.app
            self.payloads.append(json.loads(json.dumps(payload)))
            remaining = int(self.timeout_seconds / self.speed * 1000)
            sink = io.StringIO() if self.quiet else sys.stdout
            app.logger.registered_handler.stream = sink
            with contextlib.redirect_stdout(sink):
                return app.handler(payload, Context(arn, remaining))

    def machine(self) -> StateMachine:
        functions = {
            arn: (lambda payload, arn=arn: self._invoke(arn, payload)) for arn in FUNCTIONS.values()
        }
        return StateMachine(definition(), functions, name="connect-user-sync")

    def start(self, execution_input: Any = None) -> Execution:
        return self.machine().start(execution_input if execution_input is not None else {})

    def run_item(self, run_id: str) -> dict[str, Any]:
        from boto3.dynamodb.types import TypeDeserializer

        item = self.ddb.get_item(
            TableName=self.table, Key={"PK": {"S": f"RUN#{run_id}"}, "SK": {"S": "RUN"}}
        ).get("Item")
        assert item is not None, f"run {run_id} was not recorded"
        plain = TypeDeserializer()
        return {k: plain.deserialize(v) for k, v in item.items()}

    def report(self, summary: Mapping[str, Any]) -> dict[str, Any]:
        """The whole run report the finish step kept in S3."""
        import gzip

        body = self.s3.get_object(Bucket=self.bucket, Key=f"runs/{summary['report_key']}")["Body"]
        document: dict[str, Any] = json.loads(gzip.decompress(body.read()))
        return document

    def objects(self, run_id: str) -> list[str]:
        listed = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=f"runs/{run_id}/")
        return sorted(o["Key"] for o in listed.get("Contents", []))


@contextlib.contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
