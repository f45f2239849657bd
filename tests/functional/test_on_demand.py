"""On-demand runs (``--user``) through the CLI: a few Connect reads, every rule intact.

GIVEN a Connect instance (emulator) and a directory file, WHEN the CLI applies with
``--user``, THEN only the named people change, Connect is read with a handful of
SearchUsers calls however many users it holds, and every mismatch kind and safety rule
of a full run still holds for them.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from connect_user_sync.domain.models import TAG_DISABLED, TAG_EMAIL_HASH, TAG_MANAGED, TAG_SOURCE_ID
from connect_user_sync.domain.settings import email_fingerprint
from tests.conftest import World, create_results_table, person

READS = ("SearchUsers", "ListUsers", "DescribeUser")
CATALOG = ("ListSecurityProfiles", "ListRoutingProfiles", "ListUserHierarchyGroups")


def managed(world: World, username: str, source_id: str, **extra: Any) -> str:
    """A Connect user this tool made earlier, in step with an Agents member."""
    return world.emulator.add_user(
        world.iid,
        username,
        security_profile_ids=[world.sp["Agent"]],
        routing_profile_id=world.rp["Basic"],
        first_name=extra.pop("first_name", None),
        last_name=extra.pop("last_name", None),
        email=extra.pop("email", username.lower()),
        tags={
            TAG_MANAGED: "true",
            TAG_SOURCE_ID: source_id,
            TAG_EMAIL_HASH: email_fingerprint(username.lower()),
            **extra.pop("tags", {}),
        },
    )


def hand_made(world: World, username: str, **names: str) -> None:
    world.emulator.add_user(
        world.iid,
        username,
        security_profile_ids=[world.sp["Agent"]],
        routing_profile_id=world.rp["Basic"],
        **names,
    )


def reads(world: World) -> int:
    return sum(world.emulator.calls[name] for name in READS)


def crowd(world: World, count: int, start: int = 0) -> None:
    """``count`` people already in step: in the directory and managed in Connect."""
    for i in range(start, start + count):
        name = f"agent.{i}@example.com"
        world.add_people(person(f"s{i}", name))
        managed(world, name, f"s{i}", first_name="Agent", last_name=str(i))


def test_connect_reads_do_not_grow_with_the_instance(world: World) -> None:
    counts = []
    for size, newcomer in ((10, "first.hire@example.com"), (1200, "second.hire@example.com")):
        crowd(world, size - len(world.directory["users"]), start=len(world.directory["users"]))
        world.add_people(person(newcomer.split("@")[0], newcomer))
        world.emulator.reset_calls()

        code, report, _ = world.cli("apply", "--user", newcomer, "--user", "agent.3@example.com")

        assert code == 0, report
        assert world.kinds(report) == {newcomer: "create"}
        assert report["targets"][0]["counts"]["unchanged"] == 1
        counts.append(reads(world))
        assert reads(world) + sum(world.emulator.calls[c] for c in CATALOG) <= 12
    assert counts[0] == counts[1], counts  # 1200 users would be 3 pages of a full read
    assert set(world.users()) == {u["upn"] for u in world.directory["users"]}


def test_case_and_attribute_mismatches_are_still_seen(world: World) -> None:
    crowd(world, 3)
    hand_made(world, "Jane.Doe@example.com")  # a usual spelling
    hand_made(world, "roB.LEE@example.com", first_name="Rob", last_name="Lee")  # by the names
    hand_made(world, "maria.garcia@example.com")
    world.add_people(
        person("c1", "jane.doe@example.com"),
        person("c2", "rob.lee@example.com"),
        {**person("a1", "mgarcia@example.com"), "email": "maria.garcia@example.com"},
    )

    code, report, _ = world.cli(
        "apply", "--user", "c1", "--user", "rob.lee@example.com", "--user", "mgarcia@example.com"
    )

    assert code == 0 and report is not None
    assert world.actions(report) == []
    kinds = {(m["kind"], m["username"], m["connect_username"]) for m in report["mismatches"]}
    assert kinds == {
        ("case_mismatch", "jane.doe@example.com", "Jane.Doe@example.com"),
        ("case_mismatch", "rob.lee@example.com", "roB.LEE@example.com"),
        ("attribute_mismatch", "mgarcia@example.com", "maria.garcia@example.com"),
    }
    assert "jane.doe@example.com" not in world.users()


def test_a_duplicate_username_is_seen_from_one_of_its_users(world: World) -> None:
    world.add_people(person("d1", "alex.kim@example.com"), person("d2", "alex.kim@example.com"))

    code, report, _ = world.cli("apply", "--user", "d1")

    assert code == 0 and report is not None
    assert world.actions(report) == []
    (duplicate,) = report["mismatches"]
    assert duplicate["kind"] == "duplicate_username" and duplicate["source_id"] == "d1"
    assert world.users() == {}


def test_a_renamed_user_is_recreated_and_the_old_one_disabled(world: World) -> None:
    crowd(world, 2)
    managed(world, "old.name@example.com", "r1")
    world.add_people(person("r1", "new.name@example.com"))

    code, report, _ = world.cli("apply", "--user", "new.name@example.com")

    assert code == 0, report
    assert world.kinds(report) == {
        "new.name@example.com": "create",
        "old.name@example.com": "disable",
    }
    (renamed,) = report["mismatches"]
    assert renamed["kind"] == "renamed" and renamed["connect_username"] == "old.name@example.com"
    assert world.users()["old.name@example.com"]["Tags"][TAG_DISABLED]


def test_a_connect_user_somebody_else_signs_in_with_is_kept(world: World) -> None:
    crowd(world, 2)
    managed(world, "shared@example.com", "r1")  # made for r1 under their old username...
    world.add_people(
        person("r1", "new.name@example.com"),
        person("o1", "shared@example.com"),  # ...which o1 asserts now
    )

    code, report, _ = world.cli("apply", "--user", "new.name@example.com")

    assert code == 0, report
    assert world.kinds(report) == {"new.name@example.com": "create"}
    assert TAG_DISABLED not in world.users()["shared@example.com"]["Tags"]


def test_leavers_are_deprovisioned_against_the_whole_instance_count(world: World) -> None:
    crowd(world, 30)
    world.config["safety"]["max_deprovision_percent"] = 10
    world.directory["users"][0]["enabled"] = False  # agent.0 left
    world.directory["users"][1]["groups"] = []  # agent.1 moved out of every group in scope

    code, report, _ = world.cli(
        "apply", "--user", "agent.0@example.com", "--user", "agent.1@example.com"
    )

    # 2 of 30 active managed users is under 10%: a count of the users read (2) would hold it.
    assert code == 0, report
    assert world.kinds(report) == {
        "agent.0@example.com": "disable",
        "agent.1@example.com": "disable",
    }
    assert report["targets"][0]["managed_users"] >= 30
    users = world.users()
    assert users["agent.0@example.com"]["SecurityProfileIds"] == [world.sp["Disabled"]]
    assert users["agent.2@example.com"]["SecurityProfileIds"] == [world.sp["Agent"]]


def test_the_percentage_limit_still_holds_on_demand(world: World) -> None:
    crowd(world, 6)
    world.config["safety"]["max_deprovision_percent"] = 10
    world.directory["users"][0]["enabled"] = False

    code, report, _ = world.cli("apply", "--user", "agent.0@example.com")

    assert code == 3 and report is not None and report["status"] == "refused"
    (held,) = world.actions(report)
    assert held["status"] == "held" and "max_deprovision_percent" in held["error"]
    assert world.users()["agent.0@example.com"]["SecurityProfileIds"] == [world.sp["Agent"]]


def test_a_deleted_directory_user_is_found_by_its_tag(world: World) -> None:
    crowd(world, 3)
    world.directory["users"].pop()  # agent.2 deleted from the directory

    code, report, _ = world.cli("apply", "--user", "s2")

    assert code == 0, report
    assert world.kinds(report) == {"agent.2@example.com": "disable"}
    assert report["source"]["groups"] == {}  # no group is read whole on demand


def test_an_on_demand_run_does_not_hide_an_emptied_group(
    world: World, moto_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_url)
    create_results_table(boto3.client("dynamodb", region_name="us-east-1"), "on-demand-runs")
    world.config["results"] = {"table": "on-demand-runs"}
    world.add_people(
        person("a1", "ann.agent@example.com"),
        person("s1", "sam.super@example.com", ("Supervisors",)),
        person("s2", "sue.super@example.com", ("Supervisors",)),
    )
    assert world.cli("apply")[0] == 0
    code, report, _ = world.cli("apply", "--user", "ann.agent@example.com")
    assert code == 0 and report is not None and report["source"]["groups"] == {}

    world.directory["users"] = world.directory["users"][:1]  # Supervisors came back empty
    code, report, _ = world.cli("apply")

    # The last full run's group sizes are the baseline, not the on-demand run's none.
    assert code == 3 and report is not None, report
    assert all(a["status"] == "held" for a in world.actions(report))
    assert "Supervisors" in " ".join(report["targets"][0]["held_because"])


def test_already_disabled_users_do_not_dilute_the_percentage(world: World) -> None:
    crowd(world, 6)
    for i in range(6, 30):  # disabled by earlier runs: not active, so not in the base
        world.add_people(person(f"s{i}", f"agent.{i}@example.com", enabled=False))
        managed(world, f"agent.{i}@example.com", f"s{i}", tags={TAG_DISABLED: "2024-01-01"})
    world.config["safety"]["max_deprovision_percent"] = 10
    world.directory["users"][0]["enabled"] = False

    code, report, _ = world.cli("apply", "--user", "agent.0@example.com")

    assert code == 3, report  # 1 of 6 active managed users, not 1 of 30
    assert report is not None and report["targets"][0]["managed_users"] == 6


def test_a_look_up_broader_than_a_full_read_falls_back_to_one(world: World) -> None:
    for i in range(2001):  # namesakes: the search by first and last name finds them all
        hand_made(world, f"john.smith{i}@example.com", first_name="John", last_name="Smith")
    world.add_people(person("j1", "john.smith@example.com"))
    world.emulator.reset_calls()

    code, report, _ = world.cli("apply", "--user", "john.smith@example.com")

    assert code == 0, report
    assert world.kinds(report) == {"john.smith@example.com": "create"}
    assert world.emulator.calls["SearchUsers"] == 4 + 5  # 4 pages given up, then 5 pages
