"""Connect misbehaving under a real run: throttling, bursts of server errors, lost responses.

Each test states the invariants it checks (see ``stand.py``): no wrongly deprovisioned user,
no duplicate user, every planned action either applied or recorded as failed, every run
recorded; and a fault-free run afterwards converges.
"""

from __future__ import annotations

import pytest

from tests.faults.stand import (
    Stand,
    converged,
    every_action_accounted,
    no_duplicates,
    no_wrong_deprovision,
    people,
    run_recorded,
)


def test_throttling_on_a_third_of_calls_slows_the_run_but_loses_nothing(stand: Stand) -> None:
    """Invariants: no duplicate, nothing failed, the run recorded; throttling never fails."""
    stand.add_people(*people(30))
    stand.emulator.throttle_rate = 1 / 3
    code, report, err = stand.cli("apply")
    assert stand.emulator.throttled["CreateUser"] > 0, "the fault was injected"
    assert code == 0, err
    assert report is not None and report["status"] == "succeeded"
    assert {a["status"] for a in stand.actions(report)} == {"applied"}
    every_action_accounted(report)
    run_recorded(stand, report)
    no_duplicates(stand)
    no_wrong_deprovision(stand)
    stand.emulator.throttle_rate = 0
    converged(stand)


@pytest.mark.slow
def test_a_burst_of_server_errors_fails_some_users_and_the_rerun_finishes(stand: Stand) -> None:
    """Invariants: every planned action applied or recorded as failed with its error, no
    duplicate, nobody deprovisioned, both runs recorded; the rerun converges."""
    stand.add_people(*people(12))
    code, report, _ = stand.cli("apply")
    assert code == 0 and report is not None
    leaver = stand.directory["users"].pop()
    stand.add_people(*people(10, prefix="new"))
    stand.config["safety"]["max_deprovision"] = 5
    # More 500s than ten creates can absorb in their retries (4 each): some must fail.
    stand.emulator.fail_requests(60, "InternalServiceException", operation="CreateUser")
    code, report, err = stand.cli("apply")
    assert report is not None, err
    every_action_accounted(report)
    run_recorded(stand, report)
    failed = [a for a in stand.actions(report) if a["status"] == "failed"]
    assert failed and code == 1 and report["status"] == "partial"
    assert all("InternalService" in a["error"] for a in failed)
    no_duplicates(stand)
    no_wrong_deprovision(stand)

    code, report, err = stand.cli("apply")
    assert code == 0, err
    assert report is not None
    run_recorded(stand, report)
    assert stand.users()[leaver["upn"]]["Tags"].get("connect-user-sync:disabled")
    no_duplicates(stand)
    converged(stand)


def test_lost_create_responses_never_create_a_user_twice(stand: Stand) -> None:
    """Invariants: no duplicate user, every create applied (the existing user is found and
    carried on with), the run recorded with one item per action."""
    stand.add_people(*people(8))
    for person in stand.directory["users"][::2]:
        stand.emulator.lose_create_response(person["upn"])
    code, report, err = stand.cli("apply")
    assert code == 0, err
    assert report is not None
    assert [a["status"] for a in stand.actions(report)] == ["applied"] * 8
    every_action_accounted(report)
    run_recorded(stand, report)
    no_duplicates(stand)
    assert len(stand.users()) == 8
    converged(stand)


def test_a_busy_target_is_left_alone_while_the_others_are_synced(stand: Stand) -> None:
    """Two targets, one held by another run: this run syncs the free one, reads and changes
    nothing in the held one, and ends busy (exit 1) naming the holder; once the lease is
    gone, the next run syncs the second target too. Invariants: both runs recorded, no
    duplicate, every action accounted for."""
    from connect_user_sync.lease import DynamoLeases, lease_key

    second = stand.emulator.add_instance()
    for name in ("Agent", "Supervisor", "Disabled"):
        stand.emulator.add_security_profile(second, name)
    for name in ("Basic", "Sales"):
        stand.emulator.add_routing_profile(second, name)
    stand.emulator.add_hierarchy_group(second, "Floor 1")
    stand.config["targets"].append({"instance_id": second, "region": "us-east-1"})
    stand.add_people(*people(3))
    other = DynamoLeases(stand.ddb, stand.table, wait=0)
    held = lease_key("us-east-1", second)
    assert other.acquire(held, "someone-else") is None

    code, report, err = stand.cli("apply")
    assert report is not None, err
    assert code == 1 and report["status"] == "busy"
    free, busy = report["targets"]
    assert [a["status"] for a in free["actions"]] == ["applied"] * 3
    assert busy.get("busy") is True and busy["actions"] == []
    assert "someone-else" in busy["error"]
    assert stand.emulator.users(second) == []
    every_action_accounted(report)
    run_recorded(stand, report)

    other.release(held, "someone-else")
    code, report, err = stand.cli("apply")
    assert code == 0, err
    assert report is not None and len(stand.emulator.users(second)) == 3
    run_recorded(stand, report)
    no_duplicates(stand)
