"""A run killed with SIGKILL mid-apply, and two runs at once.

The apply runs as a child process (the real CLI) against a Connect emulator slowed to a
few creates per second, so that a kill lands in the middle of the work and a second run
really overlaps the first.
"""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from connect_user_sync_emulators.connect import ConnectEmulator
from tests.faults.stand import (
    Stand,
    converged,
    every_action_accounted,
    load,
    no_duplicates,
    no_wrong_deprovision,
    people,
    run_recorded,
)

SLOW = 5.0  # CreateUser at 10 requests a second, as Connect would at a raised quota
LEASE = "2"  # seconds: a killed holder's lease expires quickly in these tests
USERS = 60

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def slow_emulator() -> Iterator[ConnectEmulator]:
    with ConnectEmulator(speed=SLOW, max_users_per_instance=5000) as emulator:
        yield emulator


@pytest.fixture
def slow_stand(
    slow_emulator: ConnectEmulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    moto_url: str,
) -> Stand:
    monkeypatch.setenv("AWS_ENDPOINT_URL_CONNECT", slow_emulator.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SNS", moto_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", moto_url)
    monkeypatch.setenv("CONNECT_USER_SYNC_RATE_MULTIPLIER", str(SLOW))
    monkeypatch.setenv("LEASE_SECONDS", LEASE)
    monkeypatch.setenv("LEASE_WAIT_SECONDS", "1")
    slow_emulator.clear_faults()
    slow_emulator.reset_calls()
    return Stand(slow_emulator, tmp_path, capsys, moto_url)


def test_a_run_killed_mid_apply_is_finished_by_the_next_one(slow_stand: Stand) -> None:
    """GIVEN an apply of 60 new users killed with SIGKILL at a random point,
    THEN the killed run's item and the actions it completed are in the results table, the
    next run marks it interrupted, says so in its report and alert, creates the rest, and:
    no duplicate user, nobody deprovisioned, every action of the rerun accounted for, both
    runs recorded, and the next plan is empty."""
    stand = slow_stand
    seed = random.randrange(1 << 30)
    kill_after = random.Random(seed).randint(15, USERS - 15)
    stand.add_people(*people(USERS))
    child = stand.spawn("apply")
    stand.wait_for_calls("CreateUser", kill_after)
    stand.kill(child)
    created_before_kill = len(stand.users())
    assert 0 < created_before_kill < USERS, f"seed {seed}: the kill landed mid-apply"

    (killed,) = stand.store.latest_runs(1)
    assert killed["status"] == "running", "the run's item exists from its start"
    streamed = [
        i
        for i in stand.run_items(killed["run_id"])
        if i["SK"].startswith("ACTION#") and i["status"] == "applied"
    ]
    # What the child had applied is on record, less at most the actions in flight (six
    # workers) and the batch being written when the kill came.
    assert created_before_kill - 10 <= len(streamed) <= created_before_kill, f"seed {seed}"
    assert {i["username"] for i in streamed} <= set(stand.users())

    # The killed holder's lease and heartbeat run out: the heartbeat's deadline is rounded
    # up to the next whole second plus one, and the sweep allows a further second of grace.
    time.sleep(float(LEASE) + 3.5)
    stand.alerts()
    code, report, err = stand.cli("apply")
    assert code == 0, err
    assert report is not None
    assert report["interrupted_runs"] == [killed["run_id"]]
    assert stand.run_item(killed["run_id"])["status"] == "interrupted"
    assert any(killed["run_id"] in a["body"] for a in stand.alerts())
    assert len(stand.actions(report)) == USERS - created_before_kill
    every_action_accounted(report)
    run_recorded(stand, report)
    no_duplicates(stand)
    no_wrong_deprovision(stand)
    assert len(stand.users()) == USERS
    converged(stand)


def test_a_second_apply_finds_the_target_busy_and_changes_nothing(slow_stand: Stand) -> None:
    """GIVEN an apply under way (a child process holding the lease), WHEN a second apply
    starts, THEN it waits briefly and ends with status busy, exit 1, no action of its own,
    no Connect write, and a report that names the other run; the first run then finishes
    alone and reports every create as its own. Invariants: no duplicate user, both runs
    recorded, every action of the first run accounted for."""
    stand = slow_stand
    stand.add_people(*people(40, prefix="overlap"))
    first = stand.spawn("apply")
    stand.wait_for_calls("CreateUser", 5)
    code, second, err = stand.cli("apply")
    assert second is not None, err
    assert code == 1 and second["status"] == "busy"
    assert second["targets"][0]["busy"] is True and stand.actions(second) == []
    assert "busy" in second["errors"][0] and "holds it" in second["errors"][0]
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    report = load(out)
    assert report["status"] == "succeeded"
    assert len(stand.actions(report)) == 40
    every_action_accounted(report)
    run_recorded(stand, report)
    run_recorded(stand, second)
    assert stand.run_item(second["run_id"])["status"] == "busy"
    no_duplicates(stand)
    converged(stand)


def test_a_plan_during_an_apply_is_not_held_up(slow_stand: Stand) -> None:
    """A plan writes nothing to Connect, so it takes no lease: it runs beside an apply."""
    stand = slow_stand
    stand.add_people(*people(30, prefix="planned"))
    first = stand.spawn("apply")
    stand.wait_for_calls("CreateUser", 3)
    code, report, err = stand.cli("plan")
    assert code == 0, err
    assert report is not None and report["status"] == "planned"
    _out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    no_duplicates(stand)


def test_ctrl_c_marks_the_run_interrupted_without_a_traceback(slow_stand: Stand) -> None:
    """Ctrl-C (SIGINT) mid-apply: exit 130, one line on stderr, the run's item interrupted
    at once (not only when the next run looks), its lease released for the next run."""
    stand = slow_stand
    stand.add_people(*people(40, prefix="interrupted"))
    child = stand.spawn("apply")
    stand.wait_for_calls("CreateUser", 5)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=120)
    assert child.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    (run,) = stand.store.latest_runs(1)
    assert run["status"] == "interrupted"
    code, report, err = stand.cli("apply")
    assert code == 0, err
    assert report is not None and report["status"] == "succeeded"
    no_duplicates(stand)
    converged(stand)
