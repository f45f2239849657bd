"""The demo, the module entry point, and runs over several Connect instances."""

from __future__ import annotations

import io
import subprocess
import sys

from rich.console import Console

from connect_user_sync.cli.demo import run_demo
from tests.conftest import World, person


def test_demo_runs_plan_apply_and_a_second_apply_that_changes_nothing() -> None:
    buffer = io.StringIO()
    code = run_demo(users=60, console=Console(file=buffer, width=120))
    text = buffer.getvalue()
    assert code == 0
    assert "The second apply planned 0 actions" in text
    for kind in (
        "case_mismatch",
        "attribute_mismatch",
        "invalid_username",
        "duplicate_username",
        "renamed",
    ):
        assert kind in text


def test_demo_on_the_entra_emulator_converges_too() -> None:
    buffer = io.StringIO()
    code = run_demo(source="entra", users=40, console=Console(file=buffer, width=120))
    assert code == 0, buffer.getvalue()[-2000:]
    assert "Sample directory (entra)" in buffer.getvalue()
    assert "The second apply planned 0 actions" in buffer.getvalue()


def test_python_dash_m_is_the_same_program(tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("source: {type: file, file: {path: d.json}}\ngroups: []\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "connect_user_sync", "plan", "--config", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "groups" in result.stderr and result.stdout == ""


def test_every_target_is_converged(world: World) -> None:
    emulator = world.emulator
    second = emulator.add_instance()
    for name in ("Agent", "Supervisor", "Disabled"):
        emulator.add_security_profile(second, name)
    for name in ("Basic", "Sales"):
        emulator.add_routing_profile(second, name)
    emulator.add_hierarchy_group(second, "Floor 1")
    world.config["targets"].append({"instance_id": second, "region": "us-east-1"})
    world.add_people(
        person("u1", "ana.lima@example.com"), person("u2", "bo.chen@example.com", ("Supervisors",))
    )

    code, report, _ = world.cli("apply")

    assert code == 0
    assert [t["counts"]["create"] for t in report["targets"]] == [2, 2]
    assert {u["Username"] for u in emulator.users(second)} == {
        "ana.lima@example.com",
        "bo.chen@example.com",
    }
    assert set(world.users()) == {"ana.lima@example.com", "bo.chen@example.com"}


def test_a_name_missing_in_the_second_target_stops_the_run_before_any_write(world: World) -> None:
    emulator = world.emulator
    second = emulator.add_instance()
    emulator.add_security_profile(second, "Agent")  # no Supervisor, Disabled or Sales here
    emulator.add_routing_profile(second, "Basic")
    world.config["targets"].append({"instance_id": second, "region": "us-east-1"})
    world.add_people(person("u1", "ana.lima@example.com"))

    code, report, err = world.cli("apply")

    assert code == 2 and report is None
    assert "(target 1)" in err and "Nothing was changed" in err
    assert world.users() == {} and emulator.users(second) == []


def test_the_sandbox_verb_says_what_is_missing_instead_of_a_traceback(monkeypatch, capsys) -> None:
    import sys

    from connect_user_sync.cli import main

    # As on an installation without the emulators (or before the sandbox exists).
    monkeypatch.setitem(sys.modules, "connect_user_sync_emulators.sandbox", None)
    assert main(["sandbox"]) == 2
    err = capsys.readouterr().err
    assert "sandbox is not available" in err and "connect_user_sync_emulators.sandbox" in err
    assert "pip install" in err and "Traceback" not in err


def test_the_sandbox_verb_hands_its_options_to_the_sandbox(capsys) -> None:
    from connect_user_sync.cli import main

    # Refused by the sandbox's own option check, before any server starts.
    assert main(["sandbox", "--speed", "0"]) == 2
    assert "--speed and --max-users must be positive" in capsys.readouterr().err
