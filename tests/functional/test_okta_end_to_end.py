"""Okta end to end through the CLI: secrets read by ARN, the okta SDK over TLS, Connect.

GIVEN an Okta org (emulator over TLS) and the service app's private key, or an API token,
stored in Secrets Manager (moto) and named by ARN, WHEN the CLI applies, THEN Connect
holds the active members, leavers and not-yet-active users get nothing, a profile the SDK
refuses is reported, and a read that cannot finish deprovisions nobody.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from rich.console import Console

from connect_user_sync.cli.demo import run_demo
from connect_user_sync.retry import RetryPolicy
from connect_user_sync.sources import okta_client
from connect_user_sync_emulators.okta import OktaEmulator, generate_key_pair
from tests.conftest import World, person

TOKEN = "00-e2e-api-token"
CLIENT = "0oa-e2e-service-app"
WRITES = ("CreateUser", "UpdateUserSecurityProfiles", "UpdateUserRoutingProfile", "TagResource")


@pytest.fixture(scope="module")
def key_pair() -> tuple[str, dict[str, Any]]:
    return generate_key_pair()


@pytest.fixture
def org(
    world: World,
    moto_url: str,
    monkeypatch: pytest.MonkeyPatch,
    key_pair: tuple[str, dict[str, Any]],
) -> Iterator[dict[str, Any]]:
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto_url)
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()
    # Retries as in production, without the real waiting.
    fast = RetryPolicy(max_attempts=4, max_total_wait=60.0, sleep=lambda seconds: None)
    monkeypatch.setattr(okta_client, "DEFAULT_POLICY", fast)
    with OktaEmulator(api_token=TOKEN) as okta:
        okta.register_app(CLIENT, key_pair[1])
        for key, value in okta.env().items():
            monkeypatch.setenv(key, value)
        okta.add_group("00gAgents", "Agents")
        okta.add_group("00gSup", "Supervisors")
        yield {"okta": okta, "secrets": boto3.client("secretsmanager", region_name="us-east-1")}


def use_okta(world: World, okta: OktaEmulator, **credentials: str) -> None:
    world.config["source"] = {"type": "okta", "okta": {"org_url": okta.org_url, **credentials}}
    world.config["username"] = {"attribute": "login"}


def writes(world: World) -> int:
    return sum(world.emulator.calls[name] for name in WRITES)


def test_private_key_by_arn_syncs_active_members_only(
    world: World, org: dict[str, Any], key_pair: tuple[str, dict[str, Any]]
) -> None:
    okta: OktaEmulator = org["okta"]
    arn = org["secrets"].create_secret(Name="okta-key", SecretString=key_pair[0])["ARN"]
    for uid, login, status, group in [
        ("00u1", "ana.lima@example.com", "ACTIVE", "00gAgents"),
        ("00u2", "bo.chen@example.com", "LOCKED_OUT", "00gSup"),
        ("00u3", "cy.dee@example.com", "PASSWORD_EXPIRED", "00gAgents"),
        ("00u4", "new.hire@example.com", "STAGED", "00gAgents"),
        ("00u5", "pending@example.com", "PROVISIONED", "00gAgents"),
        ("00u6", "on.leave@example.com", "SUSPENDED", "00gAgents"),
        ("00u7", "a@b", "ACTIVE", "00gAgents"),  # the SDK's models refuse this profile
    ]:
        okta.add_user(uid, login, login, "First", "Last", status=status)
        okta.add_member(group, uid)
    use_okta(world, okta, client_id=CLIENT, private_key_secret_arn=arn)

    code, report, err = world.cli("apply")

    assert code == 0, (report, err)
    assert world.kinds(report) == {
        "ana.lima@example.com": "create",
        "bo.chen@example.com": "create",
        "cy.dee@example.com": "create",
    }
    (short,) = report["mismatches"]
    assert (short["kind"], short["username"], short["source_id"]) == (
        "invalid_username",
        "a@b",
        "00u7",
    )
    assert world.users()["bo.chen@example.com"]["RoutingProfileId"] == world.rp["Sales"]
    assert okta.token_requests == 1
    assert key_pair[0].splitlines()[1] not in err

    again_code, again, _ = world.cli("apply")
    assert again_code == 0 and world.actions(again) == []


def test_api_token_by_arn_and_a_leaver_is_disabled(world: World, org: dict[str, Any]) -> None:
    okta: OktaEmulator = org["okta"]
    arn = org["secrets"].create_secret(Name="okta-token", SecretString=TOKEN)["ARN"]
    okta.add_user("00u1", "ana.lima@example.com", "ana.lima@example.com", "Ana", "Lima")
    okta.add_user("00u2", "ed.ward@example.com", "ed.ward@example.com", "Ed", "Ward")
    okta.add_member("00gAgents", "00u1")
    okta.add_member("00gAgents", "00u2")
    use_okta(world, okta, api_token_secret_arn=arn)
    assert world.cli("apply")[0] == 0

    okta.set_status("00u2", "DEPROVISIONED")
    code, report, _ = world.cli("apply")

    assert code == 0, report
    assert world.kinds(report) == {"ed.ward@example.com": "disable"}
    assert world.users()["ed.ward@example.com"]["SecurityProfileIds"] == [world.sp["Disabled"]]
    assert okta.token_requests == 0  # SSWS: no OAuth round trip


def test_a_wrong_token_exits_4_and_writes_nothing(world: World, org: dict[str, Any]) -> None:
    world.add_people(person("u1", "ana.lima@example.com"))
    assert world.cli("apply")[0] == 0  # a user this tool manages, from an earlier run
    before, written = world.snapshot(), writes(world)
    okta: OktaEmulator = org["okta"]
    arn = org["secrets"].create_secret(Name="okta-wrong", SecretString="not-the-token")["ARN"]
    use_okta(world, okta, api_token_secret_arn=arn)

    code, report, err = world.cli("apply")

    assert code == 4 and report["status"] == "failed"
    assert "E0000011" in report["errors"][0] and "API token" in report["errors"][0]
    assert "not-the-token" not in err and "not-the-token" not in str(report)
    assert world.actions(report) == []
    assert world.snapshot() == before and writes(world) == written


def test_a_page_that_keeps_failing_deprovisions_nobody(world: World, org: dict[str, Any]) -> None:
    okta: OktaEmulator = org["okta"]
    okta.page_size_cap = 2
    for n in range(5):
        okta.add_user(f"00u{n}", f"agent{n}@example.com", f"agent{n}@example.com", "A", f"N{n}")
        okta.add_member("00gAgents", f"00u{n}")
    use_okta(world, okta, api_token=TOKEN)
    world.config["safety"]["max_deprovision_percent"] = 100
    assert world.cli("apply")[0] == 0
    before = world.snapshot()

    okta.fail_page("00gAgents", 1, status=503)  # agents 2 and 3 are on the second page
    code, report, _ = world.cli("apply")

    assert code == 4, report
    assert report["source"]["complete"] is False
    assert any("Agents" in e and "incomplete" in e for e in report["errors"])
    assert not [
        a
        for a in world.actions(report)
        if a["action"] in ("disable", "delete") and a["status"] == "applied"
    ]
    assert world.snapshot() == before


def test_the_demo_on_the_okta_emulator_converges() -> None:
    buffer = io.StringIO()

    code = run_demo(source="okta", users=40, console=Console(file=buffer, width=120))

    text = buffer.getvalue()
    assert code == 0, text[-3000:]
    assert "Sample directory (okta)" in text
    assert "The second apply planned 0 actions" in text
    assert "invalid_username" in text and "attribute_mismatch" in text
