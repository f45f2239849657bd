"""Entra end to end through the CLI: secret read by ARN, Graph over TLS, Connect emulator.

GIVEN an Entra tenant (Graph emulator over TLS), the client secret stored in Secrets
Manager (moto) and named by ARN, WHEN the CLI applies, THEN Connect holds the members of
the groups, disabled accounts are disabled and guests are reported.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from connect_user_sync.sources import entra
from connect_user_sync_emulators.graph import GraphEmulator
from tests.conftest import World, person

SECRET = "s3cr3t-value"


@pytest.fixture
def tenant(
    world: World, moto_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, Any]]:
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto_url)
    entra.clear_app_cache()
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()
    with GraphEmulator("tenant-e2e", "client-e2e", SECRET) as graph:
        for key, value in graph.env().items():
            monkeypatch.setenv(key, value)
        yield {"graph": graph, "secrets": boto3.client("secretsmanager", region_name="us-east-1")}
    entra.clear_app_cache()


def _use_entra(world: World, graph: GraphEmulator, secret_arn: str) -> None:
    world.config["source"] = {
        "type": "entra",
        "entra": {
            "tenant_id": "tenant-e2e",
            "client_id": "client-e2e",
            "client_secret_arn": secret_arn,
            "authority_host": graph.authority_host,
            "graph_url": graph.graph_url,
        },
    }


def test_members_are_synced_with_the_secret_read_by_arn(
    world: World, tenant: dict[str, Any]
) -> None:
    graph: GraphEmulator = tenant["graph"]
    arn = tenant["secrets"].create_secret(Name="entra-e2e", SecretString=SECRET)["ARN"]
    graph.load_directory(
        {
            "users": [
                person("e1", "ana.lima@example.com"),
                person("e2", "bo.chen@example.com", ("Supervisors",)),
                person("e3", "left.company@example.com", enabled=False),
                person("e4", "x_contoso.com#EXT#@tenant.onmicrosoft.com"),
            ],
            "groups": [
                {"id": "g-agents", "name": "Agents"},
                {"id": "g-sup", "name": "Supervisors"},
            ],
        }
    )
    _use_entra(world, graph, arn)

    code, report, _ = world.cli("apply")

    assert code == 0, report
    assert world.kinds(report) == {
        "ana.lima@example.com": "create",
        "bo.chen@example.com": "create",
    }
    (guest,) = report["mismatches"]
    assert guest["kind"] == "invalid_username" and "username.attribute: mail" in guest["detail"]
    assert world.users()["bo.chen@example.com"]["RoutingProfileId"] == world.rp["Sales"]
    assert graph.token_requests == 1


def test_a_wrong_secret_is_named_exits_4_and_deprovisions_nothing(
    world: World, tenant: dict[str, Any]
) -> None:
    world.add_people(person("u1", "ana.lima@example.com"))
    assert world.cli("apply")[0] == 0  # a user this tool manages, from an earlier run
    graph: GraphEmulator = tenant["graph"]
    graph.load_directory(
        {
            "users": [],
            "groups": [
                {"id": "g-agents", "name": "Agents"},
                {"id": "g-sup", "name": "Supervisors"},
            ],
        }
    )
    arn = tenant["secrets"].create_secret(Name="entra-wrong", SecretString="not-the-secret")["ARN"]
    _use_entra(world, graph, arn)

    code, report, _ = world.cli("apply")

    assert code == 4 and report["status"] == "failed"
    assert "client secret" in report["errors"][0] and "client-e2e" in report["errors"][0]
    assert world.actions(report) == []
    assert world.users()["ana.lima@example.com"]["SecurityProfileIds"] == [world.sp["Agent"]]
