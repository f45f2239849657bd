"""A gate nobody can dilute, a role that cannot grant Admin, secrets never echoed.

GIVEN the Connect emulator (and, where the run keeps records, the results table on moto),
WHEN a group comes back empty or shrinks, Graph's page chain is cut short, the function is
asked to grant a profile its role was not given, or a secret is put where it does not
belong, THEN no more than the limits are deprovisioned, the read is incomplete, the run
stops before any write, and no secret is printed: through the CLI and the handler.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from connect_user_sync.ledger import DynamoOwnershipLedger
from connect_user_sync.sources import entra
from connect_user_sync_emulators.graph import GraphEmulator
from tests.conftest import World, person
from tests.functional.trust_world import (  # the handler's fixtures: app, stack
    MODES,
    PASTED,
    RECORDS,
    SECRET_NUMBER,
    Stack,
    app,
    mode,
    seed,
    stack,
    use_mode,
)

__all__ = ["app", "mode", "stack"]


# --------------------------------------------------------------------------- the gate


def seed_managed(
    where: World | Stack, active: int, disabled: int, ledger: DynamoOwnershipLedger | None
) -> None:
    for i in range(active):
        seed(where, f"active.agent{i}@example.com", sid=f"a{i}", ledger=ledger)
    for i in range(disabled):
        seed(
            where,
            f"gone.agent{i}@example.com",
            profile="Disabled",
            sid=f"d{i}",
            disabled=True,
            ledger=ledger,
        )


@pytest.mark.parametrize("mode", MODES, indirect=True)
def test_disabled_users_cannot_dilute_the_limit_when_a_group_comes_back_empty(
    world: World, request: pytest.FixtureRequest, mode: str
) -> None:
    ledger = use_mode(world, request, mode)
    world.config["safety"] = {"max_deprovision": 25, "max_deprovision_percent": 10}
    seed_managed(world, 20, 180, ledger)
    world.directory["users"] = []  # the IdP answers with an empty group

    code, report, _ = world.cli("apply")

    assert code == 3 and report["status"] == "refused"
    target = report["targets"][0]
    assert target["managed_users"] == 20
    assert {(a["action"], a["status"]) for a in world.actions(report)} == {("disable", "held")}
    assert any("20 active managed users (100%)" in r for r in target["held_because"])
    active = [u for u in world.users().values() if u["Username"].startswith("active")]
    assert len(active) == 20 and all(u["SecurityProfileIds"] == [world.sp["Agent"]] for u in active)


@pytest.mark.parametrize("mode", MODES, indirect=True)
def test_a_group_with_one_member_left_holds_deprovisioning(
    world: World, request: pytest.FixtureRequest, mode: str
) -> None:
    use_mode(world, request, mode)
    world.add_people(*[person(f"m{i}", f"member{i}.x@example.com") for i in range(21)])
    assert world.cli("apply")[0] == 0
    world.config["safety"] = {"max_deprovision": 25, "max_deprovision_percent": 10}
    world.directory["users"] = world.directory["users"][:1]

    code, report, _ = world.cli("apply")

    assert code == 3
    held = [a for a in world.actions(report) if a["status"] == "held"]
    assert len(held) == 20
    reasons = " ".join(report["targets"][0]["held_because"])
    assert "20 deprovisioning actions against 21 active managed users" in reasons
    if mode == RECORDS:
        assert "group 'Agents' shrank from 21 to 1 members" in reasons


def test_a_group_that_shrank_more_than_the_percentage_holds_until_approved(stack: Stack) -> None:
    stack.directory["groups"].append({"id": "g2", "name": "Floor"})
    stack.config["groups"].append(
        {
            "name": "Floor",
            "security_profiles": ["Agent"],
            "routing_profile": "Basic Routing Profile",
        }
    )
    stack.config["safety"] = {"max_deprovision": 25, "max_deprovision_percent": 10}
    agents = [person(f"a{i}", f"agent{i}.x@example.com") for i in range(20)]
    floor = [person(f"f{i}", f"floor{i}.x@example.com", groups=["Floor"]) for i in range(10)]
    stack.directory["users"] = agents + floor
    assert stack.invoke_sample("scheduled.json")["status"] == "succeeded"
    stack.messages()
    # Two of ten leave Floor: 2 of 30 users (7%) is within both limits, but Floor lost 20%.
    stack.directory["users"] = agents + floor[:8]

    for _ in range(2):  # a refused run is no new baseline: the hold lasts until approved
        refused = stack.invoke_sample("scheduled.json")
        assert refused["status"] == "refused"
        assert "group 'Floor' shrank from 10 to 8 members (20%)" in " ".join(
            refused["targets"][0]["held_because"]
        )
        assert all(u["SecurityProfileIds"] == [stack.sp["Agent"]] for u in stack.users().values())

    approved = stack.invoke_sample("approve-deprovision.json")
    assert approved["status"] == "succeeded"
    assert sorted(a["username"] for t in approved["targets"] for a in t["actions"]) == [
        "floor8.x@example.com",
        "floor9.x@example.com",
    ]
    assert stack.invoke_sample("scheduled.json")["status"] == "succeeded"


@pytest.fixture
def graph(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[GraphEmulator]:
    entra.clear_app_cache()
    with GraphEmulator("tenant-trust", "client-trust", "s3cret", page_size_cap=2) as emulator:
        for key, value in emulator.env().items():
            monkeypatch.setenv(key, value)
        yield emulator
    entra.clear_app_cache()


def test_a_truncated_graph_page_chain_is_an_incomplete_read(
    world: World, graph: GraphEmulator
) -> None:
    people = [person(f"e{i}", f"entra{i}.x@example.com") for i in range(5)]
    graph.load_directory({"users": people, "groups": [{"id": "g-agents", "name": "Agents"}]})
    world.config["groups"] = [world.config["groups"][1]]  # Agents only
    world.config["source"] = {"type": "entra", "entra": {**graph.source_section()["entra"]}}
    assert world.cli("apply")[0] == 0 and len(world.users()) == 5
    graph.truncate_members("g-agents", pages=1)  # 2 of 5 members, no next link, count 5

    code, report, _ = world.cli("apply", "--approve-deprovision")

    assert code == 4 and report["status"] == "failed"
    assert any("@odata.count" in e and "announced 5 members" in e for e in report["errors"])
    assert {(a["action"], a["status"]) for a in world.actions(report)} == {("disable", "held")}
    assert all(u["SecurityProfileIds"] == [world.sp["Agent"]] for u in world.users().values())


# --------------------------------------------------------------------------- least privilege


def test_the_function_refuses_a_profile_its_role_may_not_grant_before_any_write(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack.directory["users"] = [person("u1", "ana.lima@example.com")]
    monkeypatch.setenv("GRANTABLE_SECURITY_PROFILE_IDS", stack.sp["Disabled"])
    monkeypatch.setenv("GRANTABLE_ROUTING_PROFILE_IDS", stack.rp["Basic Routing Profile"])
    stack.emulator.reset_calls()

    result = stack.invoke_sample("scheduled.json")

    assert result["exit_code"] == 2
    error = result["error"]
    assert error["path"] == "groups[0].security_profiles"
    assert stack.sp["Agent"] in error["fix"] and "GrantableSecurityProfileIds" in error["fix"]
    assert stack.users() == {}
    assert not {
        op for op in stack.emulator.calls if not op.startswith(("List", "Search", "Describe"))
    }

    monkeypatch.setenv(
        "GRANTABLE_SECURITY_PROFILE_IDS", f"{stack.sp['Agent']},{stack.sp['Disabled']}"
    )
    assert stack.invoke_sample("scheduled.json")["status"] == "succeeded"


def test_the_cli_checks_grantable_profiles_too_when_they_are_set(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.add_people(person("u1", "ana.lima@example.com"))
    granted = f"{world.sp['Agent']},{world.sp['Supervisor']}"  # not the Disabled profile
    monkeypatch.setenv("GRANTABLE_SECURITY_PROFILE_IDS", granted)
    code, report, err = world.cli("apply")
    assert code == 2 and report is None
    assert "deprovision.disabled_security_profile" in err and world.sp["Disabled"] in err
    assert world.users() == {}


# --------------------------------------------------------------------------- secrets


def entra_section(**secret: Any) -> dict[str, Any]:
    return {
        "type": "entra",
        "entra": {"tenant_id": "t-1", "client_id": "c-1", **secret},
    }


@pytest.mark.parametrize(
    ("secret", "leak"),
    [
        ({"client_secret": SECRET_NUMBER}, str(SECRET_NUMBER)),
        ({"client_secret_arn": PASTED}, PASTED),
    ],
)
def test_the_cli_never_prints_a_secret(world: World, secret: dict[str, Any], leak: str) -> None:
    world.config["source"] = entra_section(**secret)
    code, report, err = world.cli("plan")
    assert code == 2 and report is None
    assert "source.entra.client_secret" in err and "not shown" in err
    assert leak not in err and leak[:8] not in err


@pytest.mark.parametrize(
    ("secret", "leak", "problem"),
    [
        ({"client_secret": SECRET_NUMBER}, str(SECRET_NUMBER), "not shown"),
        ({"client_secret_arn": PASTED}, PASTED, "not shown"),
        ({"client_secret": PASTED}, PASTED, "Secrets Manager only"),
    ],
)
def test_the_function_never_echoes_a_secret_and_refuses_inline_ones(
    stack: Stack, secret: dict[str, Any], leak: str, problem: str
) -> None:
    stack.config["source"] = entra_section(**secret)

    result = stack.invoke_sample("scheduled.json")

    assert result["exit_code"] == 2 and result["error"]["path"].startswith(
        "source.entra.client_secret"
    )
    assert problem in result["error"]["problem"]
    for text in (json.dumps(result), stack.stdout):  # the return value and every log line
        assert leak not in text and leak[:8] not in text
    assert stack.metrics()["ConfigErrors"] == 1
