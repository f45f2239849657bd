"""The contract's promises (CONTRACT.md §1 and §5), shown through the real CLI.

GIVEN a Connect instance in the emulator and a directory file, WHEN the CLI runs,
THEN Connect and the printed run report are what the contract says.
"""

from __future__ import annotations

import json
import math

import pytest

from connect_user_sync.cli import main
from connect_user_sync.domain.models import TAG_DISABLED, TAG_EMAIL_HASH, TAG_MANAGED, TAG_SOURCE_ID
from connect_user_sync.domain.settings import email_fingerprint
from tests.conftest import World, person

WRITE_OPS = {
    "CreateUser",
    "DeleteUser",
    "TagResource",
    "UntagResource",
    "UpdateUserSecurityProfiles",
    "UpdateUserRoutingProfile",
    "UpdateUserHierarchy",
    "UpdateUserPhoneConfig",
    "UpdateUserIdentityInfo",
}


def _seed_in_sync(world: World, count: int) -> None:
    for i in range(count):
        world.add_people(person(f"s{i}", f"agent.{i}@example.com"))
    code, report, _ = world.cli("apply")
    assert code == 0, report


def test_plan_makes_no_write_call_and_apply_converges(world: World) -> None:
    world.add_people(
        person("u1", "ana.lima@example.com"),
        person("u2", "bo.chen@example.com", ("Supervisors", "Agents")),
    )
    world.emulator.reset_calls()

    code, report, _ = world.cli("plan")
    assert code == 0 and report is not None
    assert report["status"] == "planned" and report["dry_run"] is True
    assert world.kinds(report) == {
        "ana.lima@example.com": "create",
        "bo.chen@example.com": "create",
    }
    assert not set(world.emulator.calls) & WRITE_OPS
    assert world.users() == {}

    code, report, _ = world.cli("apply")
    assert code == 0 and report["status"] == "succeeded"
    assert report["targets"][0]["counts"]["create"] == 2
    users = world.users()
    bo = users["bo.chen@example.com"]
    # A user in several groups: union of profiles, the first group's routing, hierarchy and phone.
    assert set(bo["SecurityProfileIds"]) == {world.sp["Supervisor"], world.sp["Agent"]}
    assert bo["RoutingProfileId"] == world.rp["Sales"]
    assert bo["HierarchyGroupId"] == world.hg["Floor 1"]
    assert bo["PhoneConfig"]["AutoAccept"] is True
    assert bo["IdentityInfo"]["Email"] == "bo.chen@example.com"
    assert bo["Tags"][TAG_MANAGED] == "true" and bo["Tags"][TAG_SOURCE_ID] == "u2"

    code, report, _ = world.cli("apply")
    assert code == 0
    assert world.actions(report) == []
    assert report["targets"][0]["counts"]["unchanged"] == 2


def test_changes_in_the_directory_become_updates(world: World) -> None:
    world.add_people(person("u1", "ana.lima@example.com"))
    world.cli("apply")
    world.directory["users"][0].update(
        groups=["Supervisors"], email="ana.new@example.com", last_name="Lima-Souza"
    )

    code, report, _ = world.cli("apply")

    assert code == 0
    (action,) = world.actions(report)
    assert action["action"] == "update"
    assert set(action["changes"]) >= {"security_profiles", "routing_profile", "email", "last_name"}
    assert action["changes"]["routing_profile"] == {"from": "Basic", "to": "Sales"}
    ana = world.users()["ana.lima@example.com"]
    assert ana["IdentityInfo"]["Email"] == "ana.new@example.com"
    assert ana["IdentityInfo"]["LastName"] == "Lima-Souza"
    assert world.actions(world.cli("apply")[1]) == []  # type: ignore[index]


def test_unmanaged_and_protected_users_are_never_touched(world: World) -> None:
    world.emulator.add_user(
        world.iid,
        "admin",
        security_profile_ids=[world.sp["Admin"]],
        routing_profile_id=world.rp["Basic"],
    )
    world.emulator.add_user(
        world.iid,
        "break.glass@example.com",
        security_profile_ids=[world.sp["Admin"]],
        routing_profile_id=world.rp["Basic"],
        tags={TAG_MANAGED: "true", TAG_SOURCE_ID: "bg"},
    )
    world.emulator.add_user(
        world.iid,
        "kept.agent@example.com",
        security_profile_ids=[world.sp["Agent"]],
        routing_profile_id=world.rp["Basic"],
    )
    world.config["safety"]["protected_usernames"] = [
        "break.glass@example.com",
        "kept.agent@example.com",
    ]
    world.add_people(
        person("k1", "kept.agent@example.com", ("Supervisors",)),
        person("n1", "new.one@example.com"),
    )
    before = {u["Username"]: u for u in world.snapshot()}

    code, report, _ = world.cli("apply")

    assert code == 0
    assert world.kinds(report) == {"new.one@example.com": "create"}
    after = world.users()
    for name in ("admin", "break.glass@example.com", "kept.agent@example.com"):
        assert after[name] == before[name]


def test_leaver_is_disabled_with_the_same_id_and_enabled_again_on_return(world: World) -> None:
    world.config["deprovision"]["disabled_routing_profile"] = "Parked"
    world.add_people(person("u1", "ana.lima@example.com"), person("u2", "bo.chen@example.com"))
    world.cli("apply")
    user_id = world.users()["bo.chen@example.com"]["Id"]

    world.directory["users"][1]["enabled"] = False
    code, report, _ = world.cli("apply")
    assert code == 0
    assert world.kinds(report) == {"bo.chen@example.com": "disable"}
    bo = world.users()["bo.chen@example.com"]
    assert bo["Id"] == user_id
    assert bo["SecurityProfileIds"] == [world.sp["Disabled"]]
    assert bo["RoutingProfileId"] == world.rp["Parked"]
    assert bo["Tags"].get(TAG_DISABLED)
    assert world.actions(world.cli("apply")[1]) == []  # type: ignore[index]

    world.directory["users"][1]["enabled"] = True
    world.directory["users"][1]["groups"] = ["Supervisors"]
    code, report, _ = world.cli("apply")
    assert world.kinds(report) == {"bo.chen@example.com": "enable"}
    bo = world.users()["bo.chen@example.com"]
    assert bo["Id"] == user_id
    assert set(bo["SecurityProfileIds"]) == {world.sp["Supervisor"], world.sp["Agent"]}
    assert bo["RoutingProfileId"] == world.rp["Sales"]
    assert TAG_DISABLED not in bo["Tags"]
    assert len(world.users()) == 2


def test_removed_from_groups_is_deleted_when_action_is_delete(
    world: World, results_table: str
) -> None:
    # A delete needs the tool's own records (the results table): a tag alone is no proof.
    world.config["results"] = {"table": results_table}
    world.config["deprovision"] = {"action": "delete"}
    world.add_people(person("u1", "ana.lima@example.com"), person("u2", "bo.chen@example.com"))
    world.cli("apply")
    world.directory["users"].pop()
    code, report, _ = world.cli("apply")
    assert code == 0
    assert world.kinds(report) == {"bo.chen@example.com": "delete"}
    assert report["targets"][0]["ownership"] == "results table records"
    assert set(world.users()) == {"ana.lima@example.com"}


def test_report_action_holds_removals_for_a_person(world: World) -> None:
    world.config["deprovision"] = {"action": "report"}
    world.add_people(person("u1", "ana.lima@example.com"), person("u2", "bo.chen@example.com"))
    world.cli("apply")
    world.directory["users"].pop()
    code, report, _ = world.cli("apply")
    assert code == 0 and report["status"] == "succeeded"
    (action,) = world.actions(report)
    assert action["status"] == "held" and "report" in action["error"]
    assert world.users()["bo.chen@example.com"]["SecurityProfileIds"] == [world.sp["Agent"]]


@pytest.mark.parametrize(
    ("limits", "reason"),
    [
        ({"max_deprovision": 2, "max_deprovision_percent": 100}, "max_deprovision"),
        ({"max_deprovision": 25, "max_deprovision_percent": 10}, "max_deprovision_percent"),
    ],
)
def test_safety_limits_hold_back_every_removal_but_creates_go_ahead(
    world: World, limits: dict[str, int], reason: str
) -> None:
    _seed_in_sync(world, 10)
    world.config["safety"].update(limits)
    world.directory["users"] = [*world.directory["users"][:7], person("n1", "newcomer@example.com")]

    code, report, _err = world.cli("apply")

    assert code == 3 and report["status"] == "refused"
    statuses = {a["username"]: (a["action"], a["status"]) for a in world.actions(report)}
    assert statuses["newcomer@example.com"] == ("create", "applied")
    held = [a for a in world.actions(report) if a["action"] == "disable"]
    assert len(held) == 3 and all(a["status"] == "held" and reason in a["error"] for a in held)
    assert reason in " ".join(report["targets"][0]["held_because"])
    assert all(
        world.users()[f"agent.{i}@example.com"]["SecurityProfileIds"] == [world.sp["Agent"]]
        for i in (7, 8, 9)
    )

    code, report, _ = world.cli("apply", "--approve-deprovision")
    assert code == 0
    assert sorted(a["status"] for a in world.actions(report)) == ["applied"] * 3
    assert world.users()["agent.9@example.com"]["SecurityProfileIds"] == [world.sp["Disabled"]]


def test_incomplete_directory_read_deprovisions_nothing_and_exits_4(world: World) -> None:
    _seed_in_sync(world, 3)
    world.directory["users"] = [
        *world.directory["users"][:1],
        {"upn": "no.id@example.com", "groups": ["Agents"]},
        person("n1", "newcomer@example.com"),
    ]
    code, report, _ = world.cli("apply", "--approve-deprovision")
    assert code == 4 and report["status"] == "failed"
    assert any("no 'id'" in e for e in report["errors"])
    kinds = {a["username"]: (a["action"], a["status"]) for a in world.actions(report)}
    assert kinds["newcomer@example.com"] == ("create", "applied")  # creates still go ahead
    assert kinds["agent.1@example.com"] == ("disable", "held")
    assert world.users()["agent.1@example.com"]["SecurityProfileIds"] == [world.sp["Agent"]]


def test_incomplete_read_never_takes_access_away_through_an_update(world: World) -> None:
    world.add_people(
        person("u1", "lead@example.com", ("Supervisors", "Agents")), person("u2", "ana@example.com")
    )
    world.cli("apply")
    world.directory["users"][0]["groups"] = ["Agents"]  # looks like Supervisors was lost...
    world.directory["users"][1]["last_name"] = "Renamed"  # ...while a harmless update waits too
    world.add_people(
        {"upn": "broken.row@example.com", "groups": ["Agents"]}
    )  # ...because the read broke
    code, report, _ = world.cli("apply")
    assert code == 4
    statuses = {a["username"]: a["status"] for a in world.actions(report)}
    assert statuses == {"lead@example.com": "held", "ana@example.com": "applied"}
    assert world.users()["lead@example.com"]["RoutingProfileId"] == world.rp["Sales"]
    assert world.users()["ana@example.com"]["IdentityInfo"]["LastName"] == "Renamed"


def test_unreadable_directory_exits_4_with_a_failed_report(world: World) -> None:
    world.write()
    world.config["source"]["file"]["path"] = "missing.json"
    code, report, _ = world.cli("apply")
    assert code == 4 and report["status"] == "failed"
    assert "missing.json" in report["errors"][0]


def test_user_filter_touches_nobody_else(world: World) -> None:
    _seed_in_sync(world, 3)
    world.directory["users"][0]["groups"] = ["Supervisors"]
    world.directory["users"][1]["groups"] = ["Supervisors"]
    world.directory["users"].pop()  # agent.2 left
    world.add_people(person("n1", "newcomer@example.com"))

    code, report, _ = world.cli("apply", "--user", "agent.0@example.com", "--user", "s2")

    assert code == 0
    assert world.kinds(report) == {
        "agent.0@example.com": "update",
        "agent.2@example.com": "disable",
    }
    assert report["source"]["users_in_scope"] == 1
    assert "newcomer@example.com" not in world.users()
    assert world.users()["agent.1@example.com"]["RoutingProfileId"] == world.rp["Basic"]


def test_mismatches_create_nothing_and_do_not_change_the_exit_code(world: World) -> None:
    world.emulator.add_user(
        world.iid,
        "Jane.Doe@example.com",
        security_profile_ids=[world.sp["Agent"]],
        routing_profile_id=world.rp["Basic"],
    )
    world.emulator.add_user(
        world.iid,
        "maria.garcia@example.com",
        security_profile_ids=[world.sp["Agent"]],
        routing_profile_id=world.rp["Basic"],
    )
    world.add_people(
        person("c1", "jane.doe@example.com"),
        {**person("a1", "mgarcia@example.com"), "email": "maria.garcia@example.com"},
        person("g1", "x_contoso.com#EXT#@t.onmicrosoft.com"),
        person("d1", "alex.kim@example.com"),
        person("d2", "alex.kim@example.com"),
        person("ok", "fine.user@example.com"),
    )
    code, report, _ = world.cli("apply")
    assert code == 0
    kinds = sorted((m["kind"], m["source_id"]) for m in report["mismatches"])
    assert kinds == [
        ("attribute_mismatch", "a1"),
        ("case_mismatch", "c1"),
        ("duplicate_username", "d1"),
        ("duplicate_username", "d2"),
        ("invalid_username", "g1"),
    ]
    case = next(m for m in report["mismatches"] if m["kind"] == "case_mismatch")
    assert "Jane.Doe@example.com" in case["detail"] and "jane.doe@example.com" in case["detail"]
    assert world.kinds(report) == {"fine.user@example.com": "create"}
    assert set(world.users()) == {
        "Jane.Doe@example.com",
        "maria.garcia@example.com",
        "fine.user@example.com",
    }


def test_renamed_user_gets_a_new_account_and_the_old_one_is_deprovisioned(world: World) -> None:
    world.add_people(person("u1", "sam.lee@example.com"), person("u2", "bo.chen@example.com"))
    world.cli("apply")
    old_id = world.users()["sam.lee@example.com"]["Id"]
    world.directory["users"][0]["upn"] = "sam.taylor@example.com"

    code, report, _ = world.cli("apply")

    assert code == 0
    assert world.kinds(report) == {
        "sam.taylor@example.com": "create",
        "sam.lee@example.com": "disable",
    }
    (renamed,) = report["mismatches"]
    assert renamed["kind"] == "renamed" and renamed["connect_username"] == "sam.lee@example.com"
    users = world.users()
    assert users["sam.lee@example.com"]["Id"] == old_id
    assert users["sam.lee@example.com"]["SecurityProfileIds"] == [world.sp["Disabled"]]
    assert users["sam.taylor@example.com"]["Tags"][TAG_SOURCE_ID] == "u1"
    code, report, _ = world.cli("apply")
    assert world.actions(report) == [] and report["mismatches"] == []


def test_adopts_an_untagged_user_only_when_configured_and_approved(
    world: World, results_table: str
) -> None:
    world.emulator.add_user(
        world.iid,
        "hand.made@example.com",
        security_profile_ids=[world.sp["QA"]],
        routing_profile_id=world.rp["Basic"],
    )
    world.add_people(person("h1", "hand.made@example.com"))
    world.config["results"] = {"table": results_table}
    before = world.snapshot()
    code, report, _ = world.cli("apply")  # adopt_existing is false by default
    assert code == 0 and world.actions(report) == []
    assert report["targets"][0]["not_adopted"] == ["hand.made@example.com"]

    world.config["safety"]["adopt_existing"] = True
    code, report, _ = world.cli("apply")  # configured, but nobody approved
    (held,) = world.actions(report)
    assert (held["action"], held["status"]) == ("adopt", "held")
    assert "--approve-adoption" in held["error"]
    assert world.snapshot() == before

    code, report, _ = world.cli("apply", "--approve-adoption")
    assert code == 0 and world.kinds(report) == {"hand.made@example.com": "adopt"}
    (adopted,) = world.actions(report)
    assert adopted["changes"]["kept_security_profiles"] == {"from": ["QA"], "to": ["QA"]}
    user = world.users()["hand.made@example.com"]
    assert user["Tags"][TAG_SOURCE_ID] == "h1"
    # Adoption never takes a profile away: QA is kept next to what the group grants.
    assert set(user["SecurityProfileIds"]) == {world.sp["Agent"], world.sp["QA"]}
    code, report, _ = world.cli("apply")  # recorded: managed now, kept profile stays
    assert code == 0 and world.actions(report) == []


def test_throttling_slows_a_run_down_but_never_fails_it(world: World) -> None:
    world.emulator.throttle_rate = 0.3
    world.add_people(*[person(f"t{i}", f"throttled.{i}@example.com") for i in range(30)])
    code, report, _ = world.cli("apply")
    world.emulator.throttle_rate = 0.0
    assert code == 0 and report["status"] == "succeeded"
    assert sum(world.emulator.throttled.values()) > 0
    assert len(world.users()) == 30


def test_a_failing_user_does_not_stop_the_run_and_the_next_run_finishes(world: World) -> None:
    world.emulator.fail_username(
        "bad.one@example.com", operation="CreateUser", error="InvalidParameterException"
    )
    world.add_people(person("b1", "bad.one@example.com"), person("g1", "good.one@example.com"))
    code, report, _ = world.cli("apply")
    assert code == 1 and report["status"] == "partial"
    bad = next(a for a in world.actions(report) if a["username"] == "bad.one@example.com")
    assert bad["status"] == "failed" and "InvalidParameterException" in bad["error"]
    assert "good.one@example.com" in world.users()

    world.emulator.clear_faults()
    code, report, _ = world.cli("apply")
    assert code == 0 and world.kinds(report) == {"bad.one@example.com": "create"}


def test_a_lost_create_response_adopts_the_user_instead_of_failing(world: World) -> None:
    world.emulator.lose_create_response("lost.reply@example.com")
    world.add_people(person("l1", "lost.reply@example.com"))
    code, report, _ = world.cli("apply")
    assert code == 0, report
    (action,) = world.actions(report)
    assert action["status"] == "applied" and action["user_id"]
    assert world.users()["lost.reply@example.com"]["Tags"][TAG_SOURCE_ID] == "l1"
    assert world.actions(world.cli("apply")[1]) == []  # type: ignore[index]


def test_users_per_instance_quota_fails_the_user_without_retrying_forever(world: World) -> None:
    world.emulator.fail_username(
        "over.quota@example.com", operation="CreateUser", error="LimitExceededException"
    )
    world.add_people(person("q1", "over.quota@example.com"))
    world.emulator.reset_calls()
    code, report, _ = world.cli("apply")
    assert code == 1
    (action,) = world.actions(report)
    assert action["status"] == "failed" and "LimitExceededException" in action["error"]
    assert world.emulator.calls["CreateUser"] == 1


def test_config_errors_name_the_key_exit_2_and_change_nothing(world: World) -> None:
    world.add_people(person("u1", "ana.lima@example.com"))
    world.config["groups"][1]["routing_profile"] = "Basic Routng"
    world.emulator.reset_calls()
    code, report, err = world.cli("apply")
    assert code == 2 and report is None
    assert "groups[1].routing_profile" in err and "Basic Routng" in err
    assert not set(world.emulator.calls) & WRITE_OPS

    world.config["groups"][1]["routing_profile"] = "Basic"
    world.config["safety"]["max_deprovison"] = 3
    code, report, err = world.cli("apply")
    assert code == 2 and "safety.max_deprovison" in err and "max_deprovision" in err
    assert world.users() == {}


def test_json_format_prints_exactly_one_document(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.add_people(person("u1", "ana.lima@example.com"))
    path = world.write()
    capsys.readouterr()
    code = main(["plan", "--config", str(path), "--format", "json"])
    out, _ = capsys.readouterr()
    report = json.loads(out)
    assert code == 0
    for key in (
        "run_id",
        "status",
        "dry_run",
        "started_at",
        "finished_at",
        "source",
        "targets",
        "mismatches",
    ):
        assert key in report
    assert set(report["targets"][0]["counts"]) == {
        "create",
        "update",
        "adopt",
        "disable",
        "enable",
        "delete",
        "unchanged",
    }
    action = report["targets"][0]["actions"][0]
    assert set(action) == {
        "action",
        "username",
        "source_id",
        "user_id",
        "changes",
        "status",
        "error",
    }


def test_table_format_is_readable(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.add_people(person("u1", "ana.lima@example.com"))
    path = world.write()
    capsys.readouterr()
    assert main(["plan", "--config", str(path)]) == 0
    out, _ = capsys.readouterr()
    assert "1 create" in out and "ana.lima@example.com" in out and "Status: planned" in out


def test_deadline_leaves_work_for_the_next_run(world: World) -> None:
    import time

    from connect_user_sync.config import load_config
    from connect_user_sync.service import RunRequest, run_sync

    world.add_people(*[person(f"d{i}", f"deadline.{i}@example.com") for i in range(5)])
    config = load_config(world.write())
    outcome = run_sync(config, RunRequest(deadline=time.monotonic() - 1))
    assert outcome.exit_code == 1 and outcome.report["status"] == "partial"
    assert {a["status"] for a in world.actions(outcome.report)} == {"planned"}
    assert all("deadline" in a["error"] for a in world.actions(outcome.report))
    assert world.users() == {}
    code, _report, _ = world.cli("apply")
    assert code == 0 and len(world.users()) == 5


def test_a_plan_over_5000_in_sync_users_stays_within_the_call_budget(world: World) -> None:
    for i in range(5000):
        world.emulator.add_user(
            world.iid,
            f"bulk.{i}@example.com",
            security_profile_ids=[world.sp["Agent"]],
            routing_profile_id=world.rp["Basic"],
            first_name="Bulk",
            last_name=f"N{i}",
            email=f"bulk.{i}@example.com",
            phone={"PhoneType": "SOFT_PHONE", "AutoAccept": False, "AfterContactWorkTimeLimit": 0},
            tags={
                TAG_MANAGED: "true",
                TAG_SOURCE_ID: f"b{i}",
                TAG_EMAIL_HASH: email_fingerprint(f"bulk.{i}@example.com"),
            },
        )
        world.directory["users"].append(
            {
                "id": f"b{i}",
                "upn": f"bulk.{i}@example.com",
                "email": f"bulk.{i}@example.com",
                "first_name": "Bulk",
                "last_name": f"N{i}",
                "groups": ["Agents"],
            }
        )
    world.emulator.reset_calls()
    code, report, _ = world.cli("plan")
    assert code == 0 and world.actions(report) == []
    assert report["targets"][0]["counts"]["unchanged"] == 5000
    assert sum(world.emulator.calls.values()) <= math.ceil(5000 / 500) + 10
    assert "DescribeUser" not in world.emulator.calls


def test_an_unreadable_results_table_holds_removals_instead_of_crashing(world: World) -> None:
    from connect_user_sync.config import load_config
    from connect_user_sync.service import RunRequest, run_sync

    class BrokenStore:
        def previous_group_counts(self) -> None:
            raise RuntimeError("AccessDeniedException: dynamodb:Query")

        def open_mismatch_keys(self) -> list[str]:
            return []

        def record(self, report: object) -> None:
            self.recorded = report

    _seed_in_sync(world, 3)
    world.directory["users"].pop()
    store = BrokenStore()
    outcome = run_sync(load_config(world.write()), RunRequest(), store=store)
    assert outcome.exit_code == 3
    (held,) = world.actions(outcome.report)
    assert held["status"] == "held" and "group sizes could not be read" in held["error"]
    assert "AccessDeniedException" in outcome.report["errors"][0]
    assert store.recorded is outcome.report
