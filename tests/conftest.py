"""Shared fixtures: a Connect emulator with a seeded instance, and a way to run the CLI.

Tests drive the real CLI and the real boto3 client over HTTP; nothing in the sync path
is mocked.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from moto.server import ThreadedMotoServer

from connect_user_sync.cli import main
from connect_user_sync_emulators.connect import ConnectEmulator

SPEED = 100.0
ROOT = Path(__file__).resolve().parent.parent


class CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation short-form tags (!Sub, !If, ...) as their long forms."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


CfnLoader.add_multi_constructor("!", _intrinsic)


def load_template() -> dict[str, Any]:
    return yaml.load((ROOT / "template.yaml").read_text(encoding="utf-8"), Loader=CfnLoader)


def create_results_table(ddb: Any, name: str) -> None:
    """Create the results table exactly as template.yaml declares it (keys and indexes)."""
    props = load_template()["Resources"]["ResultsTable"]["Properties"]
    ddb.create_table(
        TableName=name,
        BillingMode=props["BillingMode"],
        AttributeDefinitions=props["AttributeDefinitions"],
        KeySchema=props["KeySchema"],
        GlobalSecondaryIndexes=props["GlobalSecondaryIndexes"],
    )


@pytest.fixture(autouse=True)
def _isolated_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test may reach a real AWS account or read the developer's profile."""
    for name in (
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL_CONNECT",
        "RESULTS_TABLE",
        "ALERTS_TOPIC_ARN",
        # pytest-xdist workers inherit COLUMNS=80 from execnet; the CLI's piped width must
        # be the same in a worker as in a plain run (tests that care set COLUMNS).
        "COLUMNS",
        "LINES",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("CONNECT_USER_SYNC_RATE_MULTIPLIER", str(SPEED))


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """A moto server for DynamoDB, SNS, SQS, SSM, Secrets Manager (reached by endpoint URL,
    so that the Connect emulator and moto can serve one test side by side)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def connect_emulator() -> Iterator[ConnectEmulator]:
    with ConnectEmulator(speed=SPEED, max_users_per_instance=20000) as emulator:
        yield emulator


@pytest.fixture
def results_table(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh results table (template.yaml's definition) on moto; DynamoDB calls go there.

    Only DynamoDB is pointed at moto, so Connect stays on its emulator. Put the name in the
    configuration (``results: {table: ...}``) to run with the tool's ownership records.
    """
    import uuid

    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_url)
    name = f"results-{uuid.uuid4().hex[:8]}"
    create_results_table(boto3.client("dynamodb", region_name="us-east-1"), name)
    return name


def person(
    sid: str, upn: str, groups: tuple[str, ...] = ("Agents",), **extra: Any
) -> dict[str, Any]:
    first, _, rest = upn.partition(".")
    return {
        "id": sid,
        "upn": upn,
        "email": upn.lower(),
        "first_name": first.title(),
        "last_name": rest.split("@")[0].title() or "X",
        "groups": list(groups),
        **extra,
    }


class World:
    """One Connect instance, a directory file and a config, driven through the CLI."""

    def __init__(
        self, emulator: ConnectEmulator, tmp: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        self.emulator = emulator
        self.tmp = tmp
        self.capsys = capsys
        self.iid = emulator.add_instance()
        self.sp = {
            n: emulator.add_security_profile(self.iid, n)
            for n in ("Agent", "Supervisor", "QA", "Disabled", "Admin")
        }
        self.rp = {
            n: emulator.add_routing_profile(self.iid, n) for n in ("Basic", "Sales", "Parked")
        }
        self.hg = {n: emulator.add_hierarchy_group(self.iid, n) for n in ("Floor 1",)}
        self.directory: dict[str, Any] = {
            "users": [],
            "groups": [{"id": "g1", "name": "Agents"}, {"id": "g2", "name": "Supervisors"}],
        }
        self.config: dict[str, Any] = {
            "source": {"type": "file", "file": {"path": "directory.json"}},
            "username": {"attribute": "upn"},
            "groups": [
                {
                    "name": "Supervisors",
                    "security_profiles": ["Supervisor", "Agent"],
                    "routing_profile": "Sales",
                    "hierarchy_group": "Floor 1",
                    "phone": {"type": "SOFT_PHONE", "auto_accept": True},
                },
                {"name": "Agents", "security_profiles": ["Agent"], "routing_profile": "Basic"},
            ],
            "targets": [{"instance_id": self.iid, "region": "us-east-1"}],
            "deprovision": {"action": "disable", "disabled_security_profile": "Disabled"},
            "safety": {"max_deprovision": 25, "max_deprovision_percent": 100},
        }

    def add_people(self, *people: dict[str, Any]) -> None:
        self.directory["users"].extend(people)

    def write(self) -> Path:
        (self.tmp / "directory.json").write_text(json.dumps(self.directory), encoding="utf-8")
        path = self.tmp / "config.yaml"
        path.write_text(yaml.safe_dump(self.config), encoding="utf-8")
        return path

    def cli(self, command: str, *args: str) -> tuple[int, dict[str, Any] | None, str]:
        """Run the CLI in-process with --format json; returns (exit code, report, stderr)."""
        path = self.write()
        self.capsys.readouterr()
        code = main([command, "--config", str(path), "--format", "json", *args])
        out, err = self.capsys.readouterr()
        return code, (json.loads(out) if out.strip() else None), err

    def users(self) -> dict[str, dict[str, Any]]:
        return {u["Username"]: u for u in self.emulator.users(self.iid)}

    def actions(self, report: dict[str, Any]) -> list[dict[str, Any]]:
        return [a for t in report["targets"] for a in t["actions"]]

    def kinds(self, report: dict[str, Any]) -> dict[str, str]:
        return {a["username"]: a["action"] for a in self.actions(report)}

    def snapshot(self) -> list[dict[str, Any]]:
        return copy.deepcopy(sorted(self.emulator.users(self.iid), key=lambda u: u["Id"]))


@pytest.fixture
def world(
    connect_emulator: ConnectEmulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[World]:
    monkeypatch.setenv("AWS_ENDPOINT_URL_CONNECT", connect_emulator.url)
    connect_emulator.clear_faults()
    yield World(connect_emulator, tmp_path, capsys)
    connect_emulator.clear_faults()
