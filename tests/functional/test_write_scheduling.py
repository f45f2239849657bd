"""Writes side by side against the Connect emulator: the outcome is what the plan said.

GIVEN a plan that mixes creates, updates and disables (in the directory's order, so each
kind comes in a block), WHEN apply runs them side by side through boto3, THEN every
action is applied, each user ends as the directory says, and the next plan is empty; with
Connect throttling a third of the calls on top, the same, only slower.
"""

from __future__ import annotations

from connect_user_sync.domain.models import TAG_DISABLED
from tests.conftest import World, person


def mixed_world(world: World) -> None:
    """20 agents in step; then 10 renamed, 8 gone, 12 new: in the directory's order."""
    people = [person(f"s{i}", f"agent.{i}@example.com") for i in range(20)]
    world.add_people(*people)
    code, report, err = world.cli("apply")
    assert code == 0, err
    assert report is not None and len(world.actions(report)) == 20
    for p in people[:10]:
        p["last_name"] = f"Renamed{p['id']}"
    del world.directory["users"][10:18]
    world.add_people(*(person(f"n{i}", f"new.{i}@example.com") for i in range(12)))


def assert_converged(world: World, report: dict[str, object]) -> None:
    kinds = world.kinds(report)  # type: ignore[arg-type]
    assert sorted(kinds.values()) == ["create"] * 12 + ["disable"] * 8 + ["update"] * 10
    assert all(a["status"] == "applied" for a in world.actions(report))  # type: ignore[arg-type]
    users = world.users()
    for i in range(10):
        assert users[f"agent.{i}@example.com"]["IdentityInfo"]["LastName"] == f"Renameds{i}"
    for i in range(10, 18):
        gone = users[f"agent.{i}@example.com"]
        assert gone["SecurityProfileIds"] == [world.sp["Disabled"]]
        assert TAG_DISABLED in gone["Tags"]  # the tag went out after the profiles
    for i in range(12):
        assert users[f"new.{i}@example.com"]["SecurityProfileIds"] == [world.sp["Agent"]]
    code, again, _ = world.cli("plan")
    assert code == 0 and again is not None and world.actions(again) == []


def test_a_mixed_plan_applied_side_by_side_converges(world: World) -> None:
    mixed_world(world)
    world.emulator.reset_calls()
    code, report, err = world.cli("apply")
    assert code == 0, err
    assert report is not None
    assert world.emulator.throttled.total() == 0  # within every quota, side by side
    assert_converged(world, report)


def test_throttling_on_top_slows_the_mix_down_and_never_fails_it(world: World) -> None:
    mixed_world(world)
    world.emulator.throttle_rate = 0.3
    code, report, err = world.cli("apply")
    world.emulator.throttle_rate = 0.0
    assert code == 0, err
    assert report is not None
    assert world.emulator.throttled.total() > 0
    assert_converged(world, report)
