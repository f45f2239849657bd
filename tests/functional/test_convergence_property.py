"""Property: after an apply, a plan from live state has nothing left to do.

Runs the real service, boto3 and the Connect emulator for every example, so it is kept
to a modest number of examples; the pure planner property runs many more.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connect_user_sync.config import parse_config
from connect_user_sync.domain.models import TAG_MANAGED, TAG_SOURCE_ID
from connect_user_sync.service import RunRequest, run_sync
from connect_user_sync.sources.file import FileSource
from connect_user_sync_emulators.connect import ConnectEmulator

NAMES = ["ana", "Ana", "bo", "cy", "dee", "bad name"]


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    people = []
    for sid in draw(
        st.lists(st.sampled_from([f"u{i}" for i in range(6)]), unique=True, max_size=6)
    ):
        people.append(
            {
                "id": sid,
                "upn": draw(st.sampled_from(NAMES)) + "@example.com",
                "email": draw(st.sampled_from(NAMES)).lower().replace(" ", "") + "@example.com",
                "first_name": draw(st.sampled_from(["Ann", "Bo", ""])) or None,
                "last_name": "L",
                "enabled": draw(st.booleans()),
                "groups": draw(
                    st.lists(st.sampled_from(["Agents", "Supervisors"]), unique=True, max_size=2)
                ),
            }
        )
    existing = []
    for name in draw(
        st.lists(st.sampled_from([n for n in NAMES if " " not in n]), unique=True, max_size=4)
    ):
        existing.append(
            {
                "name": name + "@example.com",
                "sid": draw(st.sampled_from([None, "u0", "u1", "u9"])),
                "managed": draw(st.booleans()),
            }
        )
    return {
        "people": people,
        "existing": existing,
        "action": draw(st.sampled_from(["disable", "delete"])),
        "adopt": draw(st.booleans()),
    }


def _run(emulator: ConnectEmulator, scenario: dict[str, Any], tmp_path: Any) -> None:
    iid = emulator.add_instance()
    sp = {n: emulator.add_security_profile(iid, n) for n in ("Agent", "Supervisor", "Disabled")}
    rp = {n: emulator.add_routing_profile(iid, n) for n in ("Basic", "Sales")}
    for user in scenario["existing"]:
        tags = (
            {TAG_MANAGED: "true", **({TAG_SOURCE_ID: user["sid"]} if user["sid"] else {})}
            if user["managed"]
            else None
        )
        emulator.add_user(
            iid,
            user["name"],
            security_profile_ids=[sp["Agent"]],
            routing_profile_id=rp["Basic"],
            tags=tags,
        )
    config = parse_config(
        {
            "source": {"type": "file", "file": {"path": "unused.json"}},
            "groups": [
                {
                    "name": "Supervisors",
                    "security_profiles": ["Supervisor", "Agent"],
                    "routing_profile": "Sales",
                },
                {"name": "Agents", "security_profiles": ["Agent"], "routing_profile": "Basic"},
            ],
            "targets": [{"instance_id": iid, "region": "us-east-1"}],
            "deprovision": {"action": scenario["action"], "disabled_security_profile": "Disabled"},
            "safety": {"max_deprovision_percent": 100, "adopt_existing": scenario["adopt"]},
        }
    )
    path = tmp_path / f"{iid}.json"
    path.write_text(
        json.dumps(
            {
                "users": scenario["people"],
                "groups": [{"id": "g1", "name": "Agents"}, {"id": "g2", "name": "Supervisors"}],
            }
        ),
        encoding="utf-8",
    )
    source = FileSource(str(path))
    applied = run_sync(config, RunRequest(), source=source)
    assert applied.exit_code == 0, applied.report
    again = run_sync(config, RunRequest(dry_run=True), source=source)
    actions = [a for t in again.report["targets"] for a in t["actions"]]
    leftover = [(a["action"], a["username"]) for a in actions if a["status"] != "held"]
    assert leftover == [], (scenario, applied.report)
    # Without a results table, only what waits for a person comes back: a delete (never
    # without the tool's records) or an adoption (never without them and an approval).
    assert {a["action"] for a in actions if a["status"] == "held"} <= {"delete", "adopt"}


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(scenario=scenarios())
def test_apply_then_plan_is_empty_against_the_emulator(
    scenario: dict[str, Any], connect_emulator: ConnectEmulator, tmp_path: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_CONNECT", connect_emulator.url)
    _run(connect_emulator, scenario, tmp_path)
