"""One way to wire the results table and the alerts topic, for the CLI and the Lambda alike.

GIVEN a configuration naming one table and topic and an environment naming others,
WHEN the CLI or the function wires its store and alerter, THEN the environment wins.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from connect_user_sync.cli import main
from connect_user_sync.config import load_config
from connect_user_sync.errors import ConfigError
from connect_user_sync.invocation import load_function_config
from connect_user_sync.wiring import build_alerter, build_store, history_days
from tests.conftest import create_results_table

FILE_TOPIC = "arn:aws:sns:us-east-1:123456789012:from-the-file"
ENV_TOPIC = "arn:aws:sns:us-east-1:123456789012:from-the-environment"


def write_config(tmp_path: Path, table: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "source": {"type": "file", "file": {"path": "directory.json"}},
                "groups": [{"name": "A", "security_profiles": ["Agent"], "routing_profile": "B"}],
                "targets": [
                    {"instance_id": "11111111-2222-3333-4444-555555555555", "region": "us-east-1"}
                ],
                "deprovision": {"action": "report"},
                "results": {"table": table},
                "alerts": {"topic_arn": FILE_TOPIC},
            }
        ),
        encoding="utf-8",
    )
    return path


def test_the_environment_wins_over_the_file_for_cli_and_lambda_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(tmp_path, "table-from-the-file")
    config = load_config(path)
    env = {"RESULTS_TABLE": "table-from-the-environment", "ALERTS_TOPIC_ARN": ENV_TOPIC}

    store, alerter = build_store(config, env), build_alerter(config, env)
    assert store is not None and store.table_name == "table-from-the-environment"
    assert alerter is not None and alerter.topic_arn == ENV_TOPIC

    lambda_config = load_function_config(tmp_path, {"CONFIG_FILE": "config.yaml", **env})
    assert lambda_config.results_table == "table-from-the-environment"
    assert lambda_config.alerts_topic_arn == ENV_TOPIC

    # Unset (or empty) variables leave the file's values, in both.
    store = build_store(config, {"RESULTS_TABLE": ""})
    assert store is not None and store.table_name == "table-from-the-file"
    assert load_function_config(tmp_path, {"CONFIG_FILE": str(path)}).results_table == (
        "table-from-the-file"
    )
    assert build_store(None, {}) is None and build_alerter(None, {}) is None


def test_history_days_must_be_a_positive_number() -> None:
    assert history_days({}) == 90 and history_days({"ACTION_TTL_DAYS": "30"}) == 30
    with pytest.raises(ConfigError, match="ACTION_TTL_DAYS"):
        history_days({"ACTION_TTL_DAYS": "a month"})


def test_the_runs_command_reads_the_table_the_environment_names(
    moto_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    ddb: Any = boto3.client("dynamodb", region_name="us-east-1")
    create_results_table(ddb, "wired-from-the-environment")
    path = write_config(tmp_path, "no-such-table-in-the-file")

    monkeypatch.setenv("RESULTS_TABLE", "wired-from-the-environment")
    assert main(["runs", "--config", str(path)]) == 0
    assert "No runs recorded yet" in capsys.readouterr().out

    monkeypatch.delenv("RESULTS_TABLE")
    assert main(["runs", "--config", str(path)]) == 2
    assert "no-such-table-in-the-file" in capsys.readouterr().err
