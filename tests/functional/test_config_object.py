"""A configuration of any size from S3 (``CONFIG_S3_URI``), on moto's S3.

A document with 50 targets and 200 groups is far past what SSM holds (4 KB, 8 KB in the
Advanced tier): the functions read it from the stack's bucket instead. Every failure is a
configuration error that names ``CONFIG_S3_URI`` and the fix, and the function reports it
(``ConfigErrors``) instead of failing its import. The SSM parameter and a packaged file
still work.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from connect_user_sync.config_object import clear_cache, read_config_object
from connect_user_sync.errors import ConfigError
from connect_user_sync.invocation import load_function_config

ROOT = Path(__file__).resolve().parents[2]
ADVANCED_PARAMETER_BYTES = 8 * 1024  # SSM's Advanced tier; Standard holds 4 KB


def large_config(targets: int = 50, groups: int = 200) -> dict[str, Any]:
    return {
        "source": {"type": "file", "file": {"path": "directory.json"}},
        "username": {"attribute": "upn"},
        "groups": [
            {
                "name": f"CC-Team-{n:03d}-Customer-Care",
                "security_profiles": ["Agent", f"Team {n:03d}"],
                "routing_profile": f"Routing profile {n:03d}",
                "phone": {"type": "SOFT_PHONE", "auto_accept": False},
            }
            for n in range(groups)
        ],
        "targets": [
            {"instance_id": str(uuid.UUID(int=n + 1)), "region": "us-east-1"}
            for n in range(targets)
        ],
        "deprovision": {"action": "disable", "disabled_security_profile": "Disabled"},
    }


@pytest.fixture
def bucket(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    for name in ("CONFIG_S3_URI", "CONFIG_PARAMETER", "CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    s3 = boto3.client("s3", region_name="us-east-1")
    name = f"config-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    clear_cache()
    yield s3, name
    clear_cache()


def test_a_configuration_past_ssm_limits_is_read_from_s3(
    bucket: tuple[Any, str], tmp_path: Path
) -> None:
    # GIVEN a 50-target, 200-group document, bigger than an Advanced SSM parameter holds
    s3, name = bucket
    text = yaml.safe_dump(large_config())
    assert len(text.encode()) > ADVANCED_PARAMETER_BYTES
    s3.put_object(Bucket=name, Key="config/sync.yaml", Body=text.encode())

    # WHEN the function loads its configuration from CONFIG_S3_URI
    config = load_function_config(tmp_path, {"CONFIG_S3_URI": f"s3://{name}/config/sync.yaml"})

    # THEN every target and group is there
    assert len(config.targets) == 50
    assert len(config.groups) == 200


def test_s3_wins_over_the_parameter_and_the_parameter_and_a_file_still_work(
    bucket: tuple[Any, str], tmp_path: Path
) -> None:
    s3, name = bucket
    from_s3 = large_config(targets=3, groups=1)
    from_ssm = large_config(targets=2, groups=1)
    s3.put_object(Bucket=name, Key="c.yaml", Body=yaml.safe_dump(from_s3).encode())
    ssm = boto3.client("ssm", region_name="us-east-1")
    parameter = f"/connect-user-sync/test-{uuid.uuid4().hex[:6]}/config"
    ssm.put_parameter(Name=parameter, Type="String", Value=json.dumps(from_ssm))
    (tmp_path / "packaged.yaml").write_text(yaml.safe_dump(large_config(1, 1)), encoding="utf-8")
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()
    both = {"CONFIG_S3_URI": f"s3://{name}/c.yaml", "CONFIG_PARAMETER": parameter}

    assert len(load_function_config(tmp_path, both).targets) == 3
    assert len(load_function_config(tmp_path, {"CONFIG_PARAMETER": parameter}).targets) == 2
    assert len(load_function_config(tmp_path, {"CONFIG_FILE": "packaged.yaml"}).targets) == 1
    # the template sets CONFIG_S3_URI to "" when the configuration lives in SSM
    empty = {"CONFIG_S3_URI": "", "CONFIG_PARAMETER": parameter}
    assert len(load_function_config(tmp_path, empty).targets) == 2


@pytest.mark.parametrize(
    ("uri", "problem", "fix"),
    [
        ("s3://{bucket}/missing.yaml", "does not exist", "aws s3 cp sync.yaml s3://"),
        ("s3://no-such-bucket-{bucket}/c.yaml", "does not exist", "ConfigObjectUri"),
        ("https://{bucket}/c.yaml", "not an S3 object URI", "s3://BUCKET/KEY"),
        ("s3://{bucket}", "not an S3 object URI", "s3://BUCKET/KEY"),
    ],
)
def test_an_unusable_object_is_a_configuration_error_naming_the_variable_and_the_fix(
    bucket: tuple[Any, str], tmp_path: Path, uri: str, problem: str, fix: str
) -> None:
    _, name = bucket
    with pytest.raises(ConfigError) as caught:
        load_function_config(tmp_path, {"CONFIG_S3_URI": uri.format(bucket=name)})
    assert caught.value.path.startswith("CONFIG_S3_URI")
    assert problem in caught.value.problem
    assert fix in caught.value.fix


def test_an_object_that_is_not_utf8_or_not_a_configuration_is_refused(
    bucket: tuple[Any, str], tmp_path: Path
) -> None:
    s3, name = bucket
    s3.put_object(Bucket=name, Key="latin1.yaml", Body="groups: [Café]".encode("latin-1"))
    s3.put_object(Bucket=name, Key="typo.yaml", Body=b"sources: {type: file}\n")

    with pytest.raises(ConfigError) as not_text:
        load_function_config(tmp_path, {"CONFIG_S3_URI": f"s3://{name}/latin1.yaml"})
    assert "UTF-8" in not_text.value.problem
    with pytest.raises(ConfigError) as wrong_key:
        load_function_config(tmp_path, {"CONFIG_S3_URI": f"s3://{name}/typo.yaml"})
    assert "sources" in str(wrong_key.value)


def test_reads_are_cached_for_max_age_then_a_new_upload_is_picked_up(
    bucket: tuple[Any, str],
) -> None:
    s3, name = bucket
    uri = f"s3://{name}/c.yaml"
    now = [0.0]
    s3.put_object(Bucket=name, Key="c.yaml", Body=b"first")
    assert read_config_object(uri, max_age=300, clock=lambda: now[0]) == "first"

    s3.put_object(Bucket=name, Key="c.yaml", Body=b"second")
    now[0] = 299.0
    assert read_config_object(uri, max_age=300, clock=lambda: now[0]) == "first"
    now[0] = 301.0
    assert read_config_object(uri, max_age=300, clock=lambda: now[0]) == "second"


@pytest.fixture
def sync_app() -> Iterator[Any]:
    """functions/sync/app.py imported like a cold start, with a missing S3 configuration."""
    os.environ["POWERTOOLS_TRACE_DISABLED"] = "1"
    spec = importlib.util.spec_from_file_location(
        "sync_app_config_s3", ROOT / "functions" / "sync" / "app.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_the_function_reports_a_missing_object_as_a_counted_configuration_error(
    bucket: tuple[Any, str],
    sync_app: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN the stack's function pointed at an object nobody uploaded yet
    _, name = bucket
    monkeypatch.setenv("CONFIG_S3_URI", f"s3://{name}/config/sync.yaml")
    sync_app.logger.registered_handler.stream = sys.stdout
    capsys.readouterr()

    # WHEN it is invoked
    result = sync_app.handler({}, _context())

    # THEN it answers with the error and its fix, and counts it for the ConfigErrors alarm
    out = capsys.readouterr().out
    assert result["exit_code"] == 2
    assert result["error"]["path"].startswith("CONFIG_S3_URI")
    assert "aws s3 cp sync.yaml" in result["error"]["fix"]
    emitted = [json.loads(line) for line in out.splitlines() if '"_aws"' in line]
    assert any(document.get("ConfigErrors") for document in emitted)


def _context() -> Any:
    class Context:
        function_name = "connect-user-sync-SyncFunction"
        function_version = "$LATEST"
        memory_limit_in_mb = 512
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:sync"
        aws_request_id = str(uuid.uuid4())

        @staticmethod
        def get_remaining_time_in_millis() -> int:
            return 900_000

    return Context()
