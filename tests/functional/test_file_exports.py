"""Real HR exports through the CLI (issue 9: the admin's first hour).

GIVEN an export as an HR system writes it (Windows-1252, UTF-8 with a BOM, semicolons,
tabs, its own header names, extra columns) and a Connect instance in the emulator,
WHEN `connect-user-sync plan|apply` runs, THEN the right people reach Connect, leavers
do not, and anything doubtful stops deprovisioning with a message naming the file, the
line and the fix, never a traceback.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import World

DATA = Path(__file__).resolve().parent.parent / "data"
CUSTOM = {
    "columns": {
        "id": "Employee ID",
        "upn": "Work Email",
        "email": "Work Email",
        "first_name": "Preferred Name",
        "last_name": "Legal Last Name",
        "enabled": "Worker Status",
        "groups": "Teams",
    },
    "active_values": ["Active", "On Leave"],
}


def _use(world: World, path: Path | str, **settings: Any) -> None:
    world.config["source"] = {"type": "file", "file": {"path": str(path), **settings}}


def _csv(world: World, text: str, name: str = "export.csv") -> None:
    path = world.tmp / name
    path.write_text(text, encoding="utf-8")
    _use(world, path)
    _agents_only(world)


def _agents_only(world: World) -> None:
    world.config["groups"] = [g for g in world.config["groups"] if g["name"] == "Agents"]


@pytest.mark.parametrize(
    ("name", "settings"),
    [
        ("export_cp1252.csv", {"encoding": "cp1252"}),
        ("export_utf8_bom.csv", {}),
        ("export_semicolon.csv", {}),
        ("export_tab.tsv", {}),
        ("export_custom_headers.csv", CUSTOM),
    ],
)
def test_each_export_layout_converges_through_the_cli(
    world: World, caplog: pytest.LogCaptureFixture, name: str, settings: dict[str, Any]
) -> None:
    caplog.set_level(logging.WARNING, logger="connect_user_sync")
    _use(world, DATA / name, **settings)

    code, report, err = world.cli("apply")

    assert code == 0 and report is not None, (report, err)
    assert report["status"] == "succeeded" and report["errors"] == []
    users = world.users()
    # Björn is Terminated (and Pat a pre-hire in the custom export): nobody creates them.
    assert set(users) == {
        "jose.nunez@example.com",
        "zoe.oconnor@example.com",
        "ana.lima@example.com",
    }
    jose = users["jose.nunez@example.com"]["IdentityInfo"]
    assert (jose["FirstName"], jose["LastName"]) == ("José", "Núñez")
    zoe = users["zoe.oconnor@example.com"]
    assert zoe["IdentityInfo"]["LastName"] == "O\u2019Connor"
    assert set(zoe["SecurityProfileIds"]) == {world.sp["Supervisor"], world.sp["Agent"]}
    assert zoe["RoutingProfileId"] == world.rp["Sales"]
    # The extra columns were named once, as a warning, not as an error per row.
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "ignoring" in warnings[0]

    code, report, _ = world.cli("apply")
    assert code == 0 and report is not None and world.actions(report) == []


def test_a_windows_export_read_as_utf8_fails_with_the_fix(world: World) -> None:
    _use(world, DATA / "export_cp1252.csv")

    code, report, err = world.cli("apply")

    assert code == 4 and report is not None and report["status"] == "failed"
    (error,) = report["errors"]
    assert "export_cp1252.csv, line 2" in error and "source.file.encoding" in error
    assert "cp1252" in error and "Traceback" not in err
    assert world.users() == {}


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "is empty"),
        (b"\xef\xbb\xbf\r\n", "is empty"),
        (b"id,upn,email,enabled,groups\r\n", "has a header (line 1) but no users"),
        (b"Employee,Mail,Team\nE1,a@example.com,Agents\n", "no column gives the users' id"),
    ],
)
def test_empty_and_header_only_exports_fail_clearly(
    world: World, capsys: pytest.CaptureFixture[str], content: bytes, problem: str
) -> None:
    path = world.tmp / "export.csv"
    path.write_bytes(content)
    _use(world, path)

    code, report, err = world.cli("plan")
    assert code == 4 and report is not None and report["status"] == "failed"
    (error,) = report["errors"]
    assert problem in error and str(path) in error and "Fix:" in error
    assert "does not exist" not in error and "Traceback" not in err

    # The table format says the same to a person.
    config = world.write()
    from connect_user_sync.cli import main

    capsys.readouterr()
    assert main(["plan", "--config", str(config)]) == 4
    out, err = capsys.readouterr()
    shown = " ".join((out + err).split())  # the table may wrap the message
    assert problem in shown and "Traceback" not in shown


def test_the_enabled_column_fails_closed(world: World) -> None:
    header = "id,upn,first_name,last_name,enabled,groups\n"

    def rows(**status: str) -> str:
        names = ("ana", "bo", "cy", "dee", "eve", "fay")
        return header + "".join(
            f"{n},{n}@example.com,{n.title()},Test,{status[n]},Agents\n"
            for n in names
            if n in status
        )

    # Night 1: four active people.
    _csv(world, rows(ana="Active", bo="active", cy="TRUE", dee="yes"))
    code, _, _ = world.cli("apply")
    assert code == 0 and len(world.users()) == 4

    # Night 2: two leavers, written the way HR systems write them.
    _csv(world, rows(ana="Terminated", bo=" inactive ", cy="Active", dee="1"))
    code, report, _ = world.cli("apply")
    assert code == 0 and report is not None
    assert world.kinds(report) == {"ana@example.com": "disable", "bo@example.com": "disable"}
    assert world.users()["ana@example.com"]["SecurityProfileIds"] == [world.sp["Disabled"]]

    # Night 3: typos. cy's "ture" is neither a yes nor a no, eve is new with "ture",
    # bo (a leaver) comes back as "Actve", fay is new and fine.
    _csv(world, rows(ana="Terminated", bo="Actve", cy="ture", dee="yes", eve="ture", fay="yes"))
    code, report, _ = world.cli("apply")

    assert code == 4 and report is not None and report["status"] == "failed"
    errors = report["errors"]
    assert any(e.startswith("export.csv line 3: (id 'bo') enabled value 'Actve'") for e in errors)
    assert any(e.startswith("export.csv line 4: (id 'cy') enabled value 'ture'") for e in errors)
    assert any(e.startswith("export.csv line 6: (id 'eve') enabled value 'ture'") for e in errors)
    users = world.users()
    assert "fay@example.com" in users  # creates still go ahead for rows that are clear
    assert "eve@example.com" not in users  # a doubtful newcomer gets no access
    assert users["bo@example.com"]["SecurityProfileIds"] == [world.sp["Disabled"]]  # not re-enabled
    assert users["cy@example.com"]["SecurityProfileIds"] == [world.sp["Agent"]]  # not removed
    statuses = {a["username"]: (a["action"], a["status"]) for a in world.actions(report)}
    assert statuses["cy@example.com"] == ("disable", "held")
    assert "bo@example.com" not in statuses


def test_a_field_over_the_csv_limit_is_one_row_error(world: World) -> None:
    huge = "x" * (130 * 1024)
    _csv(
        world,
        "id,upn,groups,notes\n"
        f"u1,ana.lima@example.com,Agents,ok\n"
        f'u2,bo.chen@example.com,Agents,"{huge}"\n'
        "u3,cy.diaz@example.com,Agents,\n",
    )

    code, report, err = world.cli("apply")

    assert code == 4 and report is not None
    (error,) = report["errors"]
    assert error.startswith("export.csv line 3: cannot be read as CSV (field larger than")
    assert set(world.users()) == {"ana.lima@example.com", "cy.diaz@example.com"}
    assert "Traceback" not in err


def test_json_fields_of_the_wrong_type_are_row_errors(world: World) -> None:
    users = [
        {"id": "u1", "upn": "ana.lima@example.com", "groups": ["Agents"]},
        {"id": "u2", "upn": "bo.chen@example.com", "first_name": 5, "groups": ["Agents"]},
        {"id": "u3", "upn": "cy.diaz@example.com", "email": ["a", "b"], "groups": ["Agents"]},
        {"id": "u4", "upn": ["dee@example.com"], "groups": ["Agents"]},
    ]
    path = world.tmp / "export.json"
    path.write_text(json.dumps({"users": users}, indent=1), encoding="utf-8")
    _use(world, path)
    _agents_only(world)

    code, report, err = world.cli("apply")

    assert code == 4 and report is not None
    assert sorted(report["errors"]) == [
        "export.json line 10: (id 'u2') 'first_name' must be text, not a number (5)",
        "export.json line 18: (id 'u3') 'email' must be text, not a list",
        "export.json line 29: (id 'u4') 'upn' must be text, not a list",
    ]
    assert set(world.users()) == {"ana.lima@example.com"}
    assert "Traceback" not in err
