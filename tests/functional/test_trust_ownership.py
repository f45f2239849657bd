"""Ownership nobody can forge: forged tags, adoption and the tool's own records.

GIVEN the Connect emulator (and, where the run keeps records, the results table on moto),
WHEN somebody forges this tool's tags or an untagged admin matches a directory user, THEN
no forged user is deleted, disabled or downgraded and no Admin is touched, with and without
a results table; users an older version tagged are recorded after one approval; a create a
killed run left unrecorded is confirmed; records follow creates and deletes.
"""

from __future__ import annotations

import pytest

from connect_user_sync.alerts import parse_json_section
from connect_user_sync.domain.models import PendingRecord
from connect_user_sync.ledger import DynamoOwnershipLedger
from tests.conftest import World, person
from tests.functional.trust_world import (  # the handler's fixtures: app, stack
    MODES,
    Stack,
    app,
    kinds,
    mode,
    seed,
    stack,
    use_mode,
)

__all__ = ["app", "mode", "stack"]


# --------------------------------------------------------------------------- forged ownership


@pytest.mark.parametrize("mode", MODES, indirect=True)
def test_a_forged_tag_never_gets_a_user_deleted(
    world: World, request: pytest.FixtureRequest, mode: str
) -> None:
    ledger = use_mode(world, request, mode)
    world.config["deprovision"] = {"action": "delete"}
    world.add_people(person("u1", "ana.lima@example.com"))
    assert world.cli("apply")[0] == 0
    # A Connect admin tags a human admin, and a plain user, as this tool's.
    seed(world, "boss.admin@example.com", profile="Admin", sid="forged-1")
    seed(world, "help.desk@example.com", profile="QA", sid="forged-2")
    before = world.snapshot()

    code, report, _ = world.cli("apply", "--approve-deprovision")

    assert world.snapshot() == before  # nobody deleted, nothing changed
    target = report["targets"][0]
    if ledger is not None:
        assert code == 0 and world.actions(report) == []
        assert kinds(report) == [
            ("ownership_conflict", "boss.admin@example.com"),
            ("ownership_conflict", "help.desk@example.com"),
        ]
        assert "no record of creating or adopting it" in report["mismatches"][0]["detail"]
    else:
        assert target["ownership"] == "tags only (no results table)"
        assert [p["username"] for p in target["protected_users"]] == ["boss.admin@example.com"]
        (held,) = world.actions(report)  # the tag is believed, but a delete never goes ahead
        assert (held["username"], held["action"], held["status"]) == (
            "help.desk@example.com",
            "delete",
            "held",
        )
        assert "no results table" in held["error"]


@pytest.mark.parametrize("mode", MODES, indirect=True)
def test_a_forged_source_id_is_no_rename_and_downgrades_no_admin(
    world: World, request: pytest.FixtureRequest, mode: str
) -> None:
    ledger = use_mode(world, request, mode)
    world.add_people(person("u1", "sam.taylor@example.com"))
    assert world.cli("apply")[0] == 0
    seed(world, "boss.admin@example.com", profile="Admin", sid="u1")  # someone's source-id
    if ledger is not None:
        seed(world, "pat.quality@example.com", profile="QA", sid="u1")
    before = world.snapshot()

    code, report, _ = world.cli("apply")

    assert code == 0 and world.snapshot() == before
    assert world.actions(report) == []
    assert "renamed" not in {m["kind"] for m in report["mismatches"]}
    boss = world.users()["boss.admin@example.com"]
    assert boss["SecurityProfileIds"] == [world.sp["Admin"]]
    if ledger is not None:
        assert kinds(report) == [
            ("ownership_conflict", "boss.admin@example.com"),
            ("ownership_conflict", "pat.quality@example.com"),
        ]


@pytest.mark.parametrize("mode", MODES, indirect=True)
def test_an_untagged_admin_with_a_matching_username_keeps_admin(
    world: World, request: pytest.FixtureRequest, mode: str
) -> None:
    use_mode(world, request, mode)
    seed(world, "boss.admin@example.com", profile="Admin")  # made by hand, untagged
    world.add_people(person("b1", "boss.admin@example.com"))
    world.config["safety"]["adopt_existing"] = True
    before = world.snapshot()

    code, report, _ = world.cli("apply", "--approve-adoption")

    assert code == 0 and world.actions(report) == [] and world.snapshot() == before
    (protected,) = report["targets"][0]["protected_users"]
    assert protected == {
        "username": "boss.admin@example.com",
        "user_id": before[0]["Id"],
        "security_profiles": ["Admin"],
        "would": "adopt",
    }


def test_the_handler_resists_the_same_attacks_and_alerts_once(stack: Stack) -> None:
    ledger = DynamoOwnershipLedger(stack.table, client=stack.ddb)
    stack.config["deprovision"] = {"action": "delete"}
    stack.config["safety"] = {
        "max_deprovision": 25,
        "max_deprovision_percent": 100,
        "adopt_existing": True,
    }
    stack.directory["users"] = [
        person("u1", "sam.taylor@example.com"),
        person("b1", "boss.admin@example.com"),
    ]
    seed(stack, "boss.admin@example.com", profile="Admin")  # hand-made admin, same username
    assert stack.invoke_sample("scheduled.json")["status"] == "succeeded"
    seed(stack, "other.admin@example.com", profile="Admin", sid="forged")  # forged managed tag
    seed(stack, "help.desk@example.com", sid="u1")  # forged source-id of sam
    stack.messages()
    before = stack.users()

    first = stack.invoke({"approve_deprovision": True, "approve_adoption": True})

    assert stack.users() == before
    assert [a for t in first["targets"] for a in t["actions"]] == []
    assert kinds(first) == [
        ("ownership_conflict", "help.desk@example.com"),
        ("ownership_conflict", "other.admin@example.com"),
    ]
    assert [p["username"] for p in first["targets"][0]["protected_users"]] == [
        "boss.admin@example.com"
    ]
    [alert] = stack.messages()
    machine = parse_json_section(alert["Message"])
    assert {m["kind"] for m in machine["new_mismatches"]} == {"ownership_conflict"}
    assert stack.metrics()["OwnershipConflicts"] == 2
    # The next night: the same conflicts, alerted no more; still nobody touched.
    stack.invoke_sample("scheduled.json")
    assert stack.messages() == [] and stack.users() == before
    assert "sam.taylor@example.com" in {
        r.username for r in ledger.owned_users(stack.iid).records.values()
    }


# --------------------------------------------------------------------------- upgrade path


def test_users_an_older_version_tagged_are_recorded_after_one_approval(stack: Stack) -> None:
    ledger = DynamoOwnershipLedger(stack.table, client=stack.ddb)
    people = [person(f"o{i}", f"old.agent{i}@example.com") for i in range(3)]
    stack.directory["users"] = people
    for p in people:  # what an older version left: tags, and no record anywhere
        seed(stack, p["upn"], sid=p["id"], routing=stack.rp["Basic Routing Profile"])

    first = stack.invoke_sample("scheduled.json")
    assert (
        first["status"] == "succeeded" and [a for t in first["targets"] for a in t["actions"]] == []
    )
    assert {m["kind"] for m in first["mismatches"]} == {"ownership_conflict"}
    assert "--approve-adoption" in first["mismatches"][0]["detail"]
    assert len(stack.messages()) == 1

    approved = stack.invoke_sample("approve-adoption.json")

    adopted = [a for t in approved["targets"] for a in t["actions"]]
    assert {(a["action"], a["status"]) for a in adopted} == {("adopt", "applied")}
    assert approved["mismatches"] == []
    records = ledger.owned_users(stack.iid).records.values()
    assert sorted((r.username, r.how, r.run_id) for r in records) == [
        (p["upn"], "adopted", approved["run_id"]) for p in people
    ]
    after = stack.invoke_sample("scheduled.json")
    assert [a for t in after["targets"] for a in t["actions"]] == [] and after["mismatches"] == []
    assert stack.store.open_mismatches() == []


def test_a_create_a_killed_run_left_unrecorded_is_confirmed(
    world: World, results_table: str
) -> None:
    ledger = DynamoOwnershipLedger(results_table)
    world.config["results"] = {"table": results_table}
    world.add_people(person("u1", "ana.lima@example.com"))
    # The run announced the create, Connect made the user, then the run was killed.
    ledger.write_pending(world.iid, [PendingRecord("ana.lima@example.com", "u1")], "killed-run")
    user_id = seed(world, "ana.lima@example.com", sid="u1", routing=world.rp["Basic"])

    code, report, _ = world.cli("apply")

    assert code == 0 and report["mismatches"] == []
    found = ledger.owned_users(world.iid)
    assert [(r.user_id, r.how) for r in found.records.values()] == [(user_id, "created")]
    assert found.pending == {}


def test_records_follow_creates_and_deletes(world: World, results_table: str) -> None:
    ledger = DynamoOwnershipLedger(results_table)
    world.config["results"] = {"table": results_table}
    world.config["deprovision"] = {"action": "delete"}
    world.add_people(person("u1", "ana.lima@example.com"), person("u2", "bo.chen@example.com"))

    code, report, _ = world.cli("apply")

    assert code == 0
    records = ledger.owned_users(world.iid)
    assert sorted((r.username, r.source_id, r.how, r.run_id) for r in records.records.values()) == [
        ("ana.lima@example.com", "u1", "created", report["run_id"]),
        ("bo.chen@example.com", "u2", "created", report["run_id"]),
    ]
    assert records.pending == {}  # every pending item settled
    world.directory["users"].pop()
    assert world.cli("apply")[0] == 0
    assert [r.username for r in ledger.owned_users(world.iid).records.values()] == [
        "ana.lima@example.com"
    ]


# --------------------------------------------------------------------------- what a person sees


def test_the_table_says_when_ownership_rests_on_tags_and_who_is_protected(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    from connect_user_sync.cli import main

    seed(world, "lead.admin@example.com", profile="Admin", sid="l1")
    world.add_people(person("l1", "lead.admin@example.com", ("Supervisors",)))
    path = world.write()
    capsys.readouterr()
    assert main(["apply", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "ownership rests on tags only (no results table)" in out
    assert (
        "hold a protected security profile and were left alone: lead.admin@example.com (Admin)"
        in out
    )
