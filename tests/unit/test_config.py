"""Configuration errors name the key and the fix; good documents parse to what they say."""

from __future__ import annotations

from typing import Any

import pytest

from connect_user_sync.config import ConfigError, parse_config, parse_text

IID = "11111111-2222-3333-4444-555555555555"


def base() -> dict[str, Any]:
    return {
        "source": {"type": "file", "file": {"path": "d.json"}},
        "groups": [
            {"name": "CC-Agents", "security_profiles": ["Agent"], "routing_profile": "Basic"}
        ],
        "targets": [{"instance_id": IID, "region": "us-east-1"}],
        "deprovision": {"action": "disable", "disabled_security_profile": "Disabled"},
    }


def test_minimal_document_gets_the_documented_defaults() -> None:
    config = parse_config(base())
    assert config.username.attribute == "upn" and config.username.lowercase is False
    assert config.safety.max_deprovision == 25 and config.safety.max_deprovision_percent == 10
    assert config.safety.adopt_existing is False  # adoption is explicit (and approved)
    assert config.safety.protected_security_profiles is None  # i.e. [Admin]
    assert config.groups[0].phone.phone_type == "SOFT_PHONE"


def test_instance_arn_gives_id_region_and_account() -> None:
    doc = base()
    doc["targets"] = [{"instance_arn": f"arn:aws:connect:eu-west-2:123456789012:instance/{IID}"}]
    (target,) = parse_config(doc).targets
    assert (target.instance_id, target.region, target.account_id) == (
        IID,
        "eu-west-2",
        "123456789012",
    )


def _set(doc: dict[str, Any], path: str, value: Any) -> None:
    keys = path.split(".")
    node: Any = doc
    for key in keys[:-1]:
        node = node[int(key)] if key.isdigit() else node.setdefault(key, {})
    node[keys[-1]] = value


@pytest.mark.parametrize(
    ("path", "value", "where", "fix"),
    [
        ("safety.max_deprovison", 3, "safety.max_deprovison", "max_deprovision"),
        ("source.type", "ldap", "source.type", "entra"),
        ("username.attribute", "mail", "username.attribute", "upn"),
        ("targets.0.instance_id", "not-a-uuid", "targets[0].instance_id", "UUID"),
        ("targets.0.region", "useast1", "targets[0].region", "us-east-1"),
        (
            "groups.0.security_profiles",
            [f"p{i}" for i in range(11)],
            "groups[0].security_profiles",
            "1 to 10",
        ),
        (
            "deprovision.disabled_security_profile",
            None,
            "deprovision.disabled_security_profile",
            "report",
        ),
        ("deprovision.action", "archive", "deprovision.action", "disable"),
        ("safety.max_deprovision", True, "safety.max_deprovision", "int"),
        ("safety.max_deprovision_percent", 150, "safety.max_deprovision_percent", "0 and 100"),
        ("groups.0.phone", {"type": "DESK_PHONE"}, "groups[0].phone.desk_phone_number", "E.164"),
        ("alerts.topic_arn", "my-topic", "alerts.topic_arn", "arn:aws:sns"),
        ("targets.0.external_id", "x", "targets[0].external_id", "role_arn"),
    ],
)
def test_errors_name_the_key_and_the_fix(path: str, value: Any, where: str, fix: str) -> None:
    doc = base()
    _set(doc, path, value)
    with pytest.raises(ConfigError) as caught:
        parse_config(doc)
    assert caught.value.path == where
    assert fix in caught.value.fix or fix in caught.value.problem


def test_entra_needs_a_secret_arn_and_https_graph() -> None:
    doc = base()
    doc["source"] = {"type": "entra", "entra": {"tenant_id": "t", "client_id": "c"}}
    with pytest.raises(ConfigError, match="client_secret_arn"):
        parse_config(doc)
    doc["source"]["entra"].update(
        client_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:x",
        graph_url="http://graph.local",
    )
    with pytest.raises(ConfigError, match="https"):
        parse_config(doc)


def test_settings_for_another_source_type_are_an_error() -> None:
    doc = base()
    doc["source"]["okta"] = {"org_url": "https://x.okta.com"}
    with pytest.raises(ConfigError) as caught:
        parse_config(doc)
    assert caught.value.path == "source.okta"


def test_yaml_syntax_errors_give_the_position() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_text("source:\n  type: [file\n", "c.yaml")
    assert "line" in caught.value.path


def test_duplicate_group_and_target_are_errors() -> None:
    doc = base()
    doc["groups"].append(dict(doc["groups"][0]))
    with pytest.raises(ConfigError, match="twice"):
        parse_config(doc)
