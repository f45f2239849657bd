"""The deployment's IAM scope, checked against the configuration before any write.

``TARGET_INSTANCE_ARNS`` and ``ASSUMABLE_ROLE_ARNS`` are what template.yaml lets the
function touch; a configuration asking for more is a configuration error (exit 2) that
names the target and the stack parameter to change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from connect_user_sync.config import ConfigError, parse_text
from connect_user_sync.config.deployment import (
    ASSUMABLE_ROLE_ARNS_ENV,
    TARGET_INSTANCE_ARNS_ENV,
    check_deployment_scope,
)
from connect_user_sync.invocation import load_function_config

SYNC, OTHER = "123456789012", "222222222222"
ID_A, ID_B = "aaaaaaaa-0000-4000-8000-000000000001", "bbbbbbbb-0000-4000-8000-000000000002"
ARN_A = f"arn:aws:connect:us-east-1:{SYNC}:instance/{ID_A}"
ARN_B = f"arn:aws:connect:eu-west-2:{OTHER}:instance/{ID_B}"
ROLE_B = f"arn:aws:iam::{OTHER}:role/connect-user-sync-target"
ENV = {TARGET_INSTANCE_ARNS_ENV: f"{ARN_A},{ARN_B}", ASSUMABLE_ROLE_ARNS_ENV: ROLE_B}


def document(*targets: dict[str, Any], **source: Any) -> dict[str, Any]:
    return {
        "source": source or {"type": "file", "file": {"path": "directory.json"}},
        "username": {"attribute": "upn"},
        "groups": [{"name": "Agents", "security_profiles": ["Agent"], "routing_profile": "Basic"}],
        "targets": list(targets),
        "deprovision": {"action": "disable", "disabled_security_profile": "Disabled"},
    }


def check(doc: dict[str, Any], env: dict[str, str] = ENV) -> None:
    check_deployment_scope(parse_text(yaml.safe_dump(doc), "test"), env)


def test_targets_the_stack_covers_pass_whichever_way_they_are_written() -> None:
    check(
        document(
            {"instance_id": ID_A, "region": "us-east-1"},
            {"instance_arn": ARN_B, "role_arn": ROLE_B, "external_id": "x-1"},
        )
    )
    check(document({"instance_id": ID_B, "region": "eu-west-2", "role_arn": ROLE_B}))


def test_without_the_variables_nothing_is_checked() -> None:
    unknown = {"instance_id": "cccccccc-0000-4000-8000-000000000003", "region": "us-east-1"}
    check(document(unknown), {})
    check(document(unknown), {TARGET_INSTANCE_ARNS_ENV: " "})


@pytest.mark.parametrize(
    ("target", "path", "words"),
    [
        (
            {"instance_id": "cccccccc-0000-4000-8000-000000000003", "region": "us-east-1"},
            "targets[1]",
            "TargetInstanceArns",
        ),
        ({"instance_id": ID_A, "region": "eu-west-1"}, "targets[1]", "eu-west-1/" + ID_A),
        (
            {"instance_arn": f"arn:aws:connect:eu-west-2:{SYNC}:instance/{ID_B}"},
            "targets[1]",
            "not one this deployment may change",
        ),
        (
            {"instance_arn": ARN_B, "role_arn": f"arn:aws:iam::{OTHER}:role/Other"},
            "targets[1].role_arn",
            "TargetAccountRoleArns",
        ),
        (
            {"instance_arn": ARN_B},
            None,
            None,
        ),
    ],
)
def test_a_target_outside_the_stack_is_a_configuration_error_naming_it(
    target: dict[str, Any], path: str | None, words: str | None
) -> None:
    doc = document({"instance_id": ID_A, "region": "us-east-1"}, target)
    if path is None:  # no role: IAM in the other account decides at run time
        check(doc)
        return
    with pytest.raises(ConfigError) as caught:
        check(doc)
    assert caught.value.path == path
    assert words is not None and words in str(caught.value)


def test_a_role_in_another_account_than_its_instance_is_refused() -> None:
    third = "arn:aws:iam::333333333333:role/connect-user-sync-target"
    env = {**ENV, ASSUMABLE_ROLE_ARNS_ENV: f"{ROLE_B},{third}"}
    with pytest.raises(ConfigError) as caught:
        check(document({"instance_arn": ARN_B, "role_arn": third}), env)
    assert caught.value.path == "targets[0].role_arn"
    assert "account 333333333333" in str(caught.value) and OTHER in str(caught.value)


def test_the_identity_center_role_must_be_assumable_too() -> None:
    source = {
        "type": "identity_center",
        "identity_center": {
            "identity_store_id": "d-1234567890",
            "region": "us-east-1",
            "role_arn": f"arn:aws:iam::{SYNC}:role/store-reader",
        },
    }
    doc = document({"instance_arn": ARN_A}, **source)
    doc["username"] = {"attribute": "user_name"}
    with pytest.raises(ConfigError) as caught:
        check(doc)
    assert caught.value.path == "source.identity_center.role_arn"
    check(doc, {**ENV, ASSUMABLE_ROLE_ARNS_ENV: f"{ROLE_B},arn:aws:iam::{SYNC}:role/store-reader"})


def test_a_malformed_variable_is_an_error_naming_the_stack_parameter() -> None:
    with pytest.raises(ConfigError) as caught:
        check(document({"instance_arn": ARN_A}), {TARGET_INSTANCE_ARNS_ENV: f"{ARN_A},{ID_B}"})
    assert caught.value.path == TARGET_INSTANCE_ARNS_ENV
    assert "TargetInstanceArns" in str(caught.value)


def test_the_function_refuses_such_a_configuration_when_it_loads_it(tmp_path: Path) -> None:
    """The Lambda path: load_function_config, which runs at cold start and per invocation."""
    doc = document({"instance_id": "cccccccc-0000-4000-8000-000000000003", "region": "us-east-1"})
    (tmp_path / "sync.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    env = {"CONFIG_FILE": "sync.yaml", **ENV}
    with pytest.raises(ConfigError) as caught:
        load_function_config(tmp_path, env)
    assert caught.value.path == "targets[0]"
    doc["targets"] = [{"instance_arn": ARN_A}]
    (tmp_path / "sync.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    assert load_function_config(tmp_path, env).targets[0].instance_id == ID_A
