"""The configuration's trust rules: protected profiles, what may be granted, secrets unsaid.

GIVEN a configuration and one instance's catalog (and the function's grantable ids), WHEN
it is parsed and resolved, THEN protected profiles become ids (Admin by default, where it
exists), anything the function may not grant is an error naming the key and the stack
parameter, and no message ever quotes a secret, whatever its type.
"""

from __future__ import annotations

from typing import Any

import pytest

from connect_user_sync.config import parse_config
from connect_user_sync.config.grantable import Grantable
from connect_user_sync.config.resolve import resolve
from connect_user_sync.config.sources import refuse_inline_secrets
from connect_user_sync.domain.catalog import Catalog
from connect_user_sync.errors import ConfigError

CATALOG = Catalog.of(
    [("Agent", "sp-agent"), ("Disabled", "sp-off"), ("Admin", "sp-admin"), ("QA", "sp-qa")],
    [("Basic", "rp-basic"), ("Parked", "rp-parked")],
    [],
)
NO_ADMIN = Catalog.of([("Agent", "sp-agent"), ("Disabled", "sp-off")], [("Basic", "rp-basic")], [])


def document(**safety: Any) -> dict[str, Any]:
    return {
        "source": {"type": "file", "file": {"path": "d.json"}},
        "groups": [{"name": "Agents", "security_profiles": ["Agent"], "routing_profile": "Basic"}],
        "targets": [{"instance_id": "11111111-2222-3333-4444-555555555555", "region": "us-east-1"}],
        "deprovision": {"action": "disable", "disabled_security_profile": "Disabled"},
        "safety": safety,
    }


def test_admin_is_protected_by_default_and_adoption_is_off() -> None:
    config = parse_config(document())
    assert config.safety.adopt_existing is False
    _, policy = resolve(config, CATALOG, 0, grantable=Grantable())
    assert policy.protected_security_profile_ids == {"sp-admin"}
    assert policy.adopt_existing is False


def test_an_instance_without_an_admin_profile_is_fine_by_default_but_not_when_named() -> None:
    _, policy = resolve(parse_config(document()), NO_ADMIN, 0, grantable=Grantable())
    assert policy.protected_security_profile_ids == frozenset()
    with pytest.raises(ConfigError, match=r"safety\.protected_security_profiles.*'Admin'"):
        resolve(
            parse_config(document(protected_security_profiles=["Admin"])),
            NO_ADMIN,
            0,
            grantable=Grantable(),
        )


def test_granting_a_protected_profile_is_a_configuration_error() -> None:
    doc = document(protected_security_profiles=["Admin", "QA"])
    doc["groups"][0]["security_profiles"] = ["Agent", "QA"]
    with pytest.raises(ConfigError) as caught:
        resolve(parse_config(doc), CATALOG, 0, grantable=Grantable())
    assert caught.value.path == "groups[0].security_profiles" and "'QA'" in caught.value.problem


@pytest.mark.parametrize(
    ("grantable", "path", "missing", "parameter"),
    [
        (
            Grantable(frozenset({"sp-off"}), None),
            "groups[0].security_profiles",
            "sp-agent",
            "GrantableSecurityProfileIds",
        ),
        (
            Grantable(frozenset({"sp-agent"}), None),
            "deprovision.disabled_security_profile",
            "sp-off",
            "DisabledSecurityProfileId",
        ),
        (
            Grantable(None, frozenset({"rp-parked"})),
            "groups[0].routing_profile",
            "rp-basic",
            "GrantableRoutingProfileIds",
        ),
    ],
)
def test_a_profile_the_function_may_not_grant_is_named_with_its_fix(
    grantable: Grantable, path: str, missing: str, parameter: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        resolve(parse_config(document()), CATALOG, 0, grantable=grantable)
    assert caught.value.path == path
    assert missing in caught.value.fix and parameter in caught.value.fix


def test_grantable_ids_come_from_the_environment_and_empty_means_unchecked() -> None:
    env = {
        "GRANTABLE_SECURITY_PROFILE_IDS": "sp-agent, sp-off",
        "GRANTABLE_ROUTING_PROFILE_IDS": "",
    }
    grantable = Grantable.from_environment(env)
    assert grantable == Grantable(frozenset({"sp-agent", "sp-off"}), None)
    resolve(parse_config(document()), CATALOG, 0, grantable=grantable)  # all allowed


SECRET_NUMBER = 918273645546372819


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ({"type": "entra", "entra": {"tenant_id": "t", "client_id": "c"}}, "client_secret"),
        ({"type": "okta", "okta": {"org_url": "https://x.okta.com"}}, "api_token"),
        (
            {"type": "duo", "duo": {"api_host": "api-1.duosecurity.com", "integration_key": "DI"}},
            "secret_key",
        ),
        (
            {"type": "okta", "okta": {"org_url": "https://x.okta.com", "client_id": "c"}},
            "private_key",
        ),
    ],
)
def test_a_secret_of_another_type_is_never_quoted(section: dict[str, Any], key: str) -> None:
    doc = document()
    section[section["type"]][key] = SECRET_NUMBER
    doc["source"] = section
    with pytest.raises(ConfigError) as caught:
        parse_config(doc)
    assert str(SECRET_NUMBER) not in str(caught.value)
    assert caught.value.path.endswith(key) and "not shown" in caught.value.problem


@pytest.mark.parametrize("arn_key", ["client_secret_arn"])
def test_a_secret_pasted_into_an_arn_key_is_never_quoted(arn_key: str) -> None:
    pasted = "Gq8~this-is-the-client-secret-itself"
    doc = document()
    doc["source"] = {
        "type": "entra",
        "entra": {"tenant_id": "t", "client_id": "c", arn_key: pasted},
    }
    with pytest.raises(ConfigError) as caught:
        parse_config(doc)
    assert pasted not in str(caught.value) and "Gq8" not in str(caught.value)
    assert "arn:aws:secretsmanager" in caught.value.fix


def test_an_arn_that_is_no_secret_is_still_quoted_where_harmless() -> None:
    doc = document()
    doc["targets"][0] = {"instance_arn": "arn:aws:connect:us-east-1:123:instance/x"}
    with pytest.raises(ConfigError) as caught:
        parse_config(doc)
    assert "instance/x" in caught.value.problem  # a typo in a non-secret key stays visible


def test_the_function_refuses_inline_secrets_without_quoting_them() -> None:
    doc = document()
    doc["source"] = {
        "type": "entra",
        "entra": {"tenant_id": "t", "client_id": "c", "client_secret": "Gq8~inline-value"},
    }
    config = parse_config(doc)  # fine for a local CLI run...
    with pytest.raises(ConfigError) as caught:  # ...refused by the function
        refuse_inline_secrets(config)
    assert caught.value.path == "source.entra.client_secret"
    assert "client_secret_arn" in caught.value.fix and "Gq8" not in str(caught.value)
