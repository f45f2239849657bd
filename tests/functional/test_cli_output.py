"""What an admin reads and what a pipeline trusts: exit codes, the table output, messages.

GIVEN a Connect instance in the emulator and a directory file, WHEN the real CLI runs
(table or JSON format, stdout piped as in CI), THEN the exit code, the first lines and the
tables say what happened, each thing once, readably, whatever the values hold.
"""

from __future__ import annotations

import re
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from connect_user_sync.cli import main
from tests.conftest import World, create_results_table, load_template, person

ROOT = Path(__file__).resolve().parents[2]
_BORDERS = re.compile(r"[\s│┃┆╎|]+")


def table(world: World, command: str, *args: str) -> tuple[int, str, str]:
    """Run the CLI with the table format; returns (exit code, stdout, stderr)."""
    path = world.write()
    world.capsys.readouterr()
    code = main([command, "--config", str(path), *args])
    out, err = world.capsys.readouterr()
    return code, out, err


def words(text: str) -> set[str]:
    return set(_BORDERS.split(text))


def _seed(world: World, count: int) -> None:
    world.add_people(*[person(f"s{i}", f"agent.{i}@example.com") for i in range(count)])
    code, report, _ = world.cli("apply")
    assert code == 0, report


# --------------------------------------------------------------------------- exit codes


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("broken", ["wrong instance id", "endpoint down", "no credentials"])
def test_plan_against_an_unreadable_target_exits_1_with_its_error_once_at_the_top(
    world: World, monkeypatch: pytest.MonkeyPatch, broken: str
) -> None:
    world.add_people(person("u1", "ana.lima@example.com"))
    if broken == "wrong instance id":
        world.config["targets"][0]["instance_id"] = str(uuid.uuid4())
    elif broken == "endpoint down":
        monkeypatch.setenv("AWS_ENDPOINT_URL_CONNECT", f"http://127.0.0.1:{_closed_port()}")
    else:
        monkeypatch.delenv("AWS_ACCESS_KEY_ID")
        monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    code, report, _ = world.cli("plan")
    assert code == 1 and report is not None
    assert report["status"] == "partial" and report["dry_run"] is True
    error = report["targets"][0]["error"]
    assert error.startswith("Connect instance us-east-1/")
    assert report["errors"] == [error]

    code, out, _ = table(world, "plan")
    assert code == 1
    flat, said = " ".join(out.split()), " ".join(error.split())
    assert flat.startswith(f"error: {said}")
    assert flat.count(said) == 1  # once, at the top; the target's section points there
    assert "nothing to do" not in out
    assert "not read (the error is at the top)" in out
    assert out.splitlines()[-1].startswith("Status: partial")


def test_a_user_value_that_matches_nobody_is_an_error_and_exits_1(world: World) -> None:
    world.add_people(person("u1", "ana.lima@example.com"), person("u2", "bo.chen@example.com"))

    code, report, _ = world.cli("plan", "--user", "ana.lima@example.com", "--user", "ghost")
    assert code == 1 and report is not None
    assert report["status"] == "partial" and report["users_not_found"] == ["ghost"]
    assert world.kinds(report) == {"ana.lima@example.com": "create"}

    code, report, _ = world.cli("apply", "--user", "ana.lima@example.com", "--user", "ghost")
    assert code == 1 and report["status"] == "partial"
    assert set(world.users()) == {"ana.lima@example.com"}  # the one found is still served

    code, out, _ = table(world, "apply", "--user", "ghost")
    assert code == 1
    assert out.splitlines()[0].startswith("error: --user 'ghost' matches nobody in scope")

    # A managed Connect user who left every group is still "in scope" for --user.
    world.directory["users"] = [person("u2", "bo.chen@example.com")]
    code, report, _ = world.cli("apply", "--user", "ana.lima@example.com")
    assert code == 0 and world.kinds(report) == {"ana.lima@example.com": "disable"}


def test_an_incomplete_read_says_on_the_first_line_what_was_applied_and_held(
    world: World,
) -> None:
    _seed(world, 3)
    world.directory["users"] = [
        *world.directory["users"][:1],
        {"upn": "no.id@example.com", "groups": ["Agents"]},
        {"upn": "no.id.either@example.com", "groups": ["Agents"]},
        person("n1", "newcomer@example.com"),
    ]

    code, out, _ = table(world, "apply")

    assert code == 4
    lines = out.splitlines()
    assert lines[0] == (
        "directory read incomplete: 2 rows with errors; creates and updates applied; "
        "deprovisioning held"
    )
    assert sum(1 for line in lines if line.startswith("error: ")) == 2
    assert "newcomer@example.com" in world.users()
    assert lines[-1].startswith("Status: failed")

    code, report, _ = world.cli("plan")
    assert code == 4 and report["source"]["error_count"] == 2
    assert report["error_count"] == 2


def test_a_directory_that_cannot_be_read_says_nothing_was_changed(world: World) -> None:
    world.add_people(person("u1", "ana.lima@example.com"))
    world.config["source"]["file"]["path"] = "missing.json"
    code, out, _ = table(world, "apply")
    assert code == 4
    lines = out.splitlines()
    assert lines[0] == "directory read failed: nothing was read; nothing was changed"
    assert "missing.json" in lines[1] and "nothing to do" not in out


# --------------------------------------------------------------------------- readable tables


def test_piped_tables_take_the_width_of_COLUMNS_and_never_split_a_word(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.emulator.add_user(
        world.iid,
        "Jane.Doe-Fitzgerald-Montgomery@example.com",
        security_profile_ids=[world.sp["Agent"]],
        routing_profile_id=world.rp["Basic"],
    )
    people = [person(f"p{i}", f"person.number.{i}@subsidiary.example.com") for i in range(5)]
    world.add_people(
        *people,
        person("c1", "jane.doe-fitzgerald-montgomery@example.com", ("Supervisors", "Agents")),
        person("d1", "same.name@example.com"),
        person("d2", "same.name@example.com"),
    )
    monkeypatch.setenv("COLUMNS", "120")
    code, out, _ = table(world, "plan")
    assert code == 0, out
    assert max(len(line) for line in out.splitlines()) <= 120, out
    seen = words(out)
    for someone in people:
        assert someone["upn"] in seen
    _, report, _ = world.cli("plan")
    for mismatch in report["mismatches"]:  # every word of every explanation, whole
        assert set(mismatch["detail"].split()) <= seen

    monkeypatch.delenv("COLUMNS")
    code, out, _ = table(world, "plan")
    widest = max(len(line) for line in out.splitlines())
    assert 120 < widest <= 200  # piped: a wide default, not 80 columns


def test_every_row_is_shown_unless_a_limit_is_asked_for(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    world.add_people(*[person(f"r{i}", f"row.{i:02d}@example.com") for i in range(70)])

    code, out, _ = table(world, "plan")
    assert code == 0, out
    assert all(f"row.{i:02d}@example.com" in out for i in range(70))
    assert "more actions" not in out

    code, out, _ = table(world, "plan", "--limit", "10")
    assert code == 0, out
    assert sum(f"row.{i:02d}@example.com" in out for i in range(70)) == 10
    assert "… and 60 more actions not shown (--limit 10); --format json lists them all" in out


def test_mismatch_rows_show_their_detail_and_the_duplicates_ids(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # one line per row
    world.add_people(
        person("d1", "alex.kim@example.com"),
        person("d2", "alex.kim@example.com"),
        person("g1", "x_contoso.com#EXT#@t.onmicrosoft.com"),
    )
    code, out, _ = table(world, "plan")
    assert code == 0, out
    duplicates = [line for line in out.splitlines() if "duplicate_username" in line]
    assert len(duplicates) == 2
    assert all("d1, d2" in line and "would all sign in as" in line for line in duplicates)
    (guest,) = [line for line in out.splitlines() if "invalid_username" in line]
    # The advice names the attribute this source offers for the e-mail address.
    assert "Entra guest UPN" in guest and "username.attribute: email" in guest


def test_report_action_shows_would_disable_and_no_empty_profile(world: World) -> None:
    world.config["deprovision"] = {"action": "report"}
    world.add_people(person("u1", "ana.lima@example.com"), person("u2", "bo.chen@example.com"))
    world.cli("apply")
    world.directory["users"].pop()

    code, out, _ = table(world, "plan")
    assert code == 0, out
    (row,) = [line for line in out.splitlines() if "bo.chen@example.com" in line]
    assert "would disable" in row and "held" in row
    assert '[""]' not in out and '""' not in out
    assert out.count("deprovision.action is 'report'") == 1  # the reason, once
    code, report, _ = world.cli("apply")
    (action,) = world.actions(report)
    assert action["changes"] == {} and action["status"] == "held"


def test_a_held_reason_is_printed_once_per_target(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    _seed(world, 10)
    world.config["safety"].update(max_deprovision=2, max_deprovision_percent=100)
    world.directory["users"] = world.directory["users"][:6]

    code, out, _ = table(world, "apply")

    assert code == 3
    assert out.count("deprovisioning held:") == 1
    assert out.count("safety.max_deprovision (2)") == 1
    held_rows = [line for line in out.splitlines() if "would disable" in line]
    assert len(held_rows) == 4 and all("held" in line for line in held_rows)


def test_history_draws_its_rows_like_plan(
    world: World, moto_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("COLUMNS", "300")
    name = f"results-{uuid.uuid4().hex[:8]}"
    create_results_table(boto3.client("dynamodb", region_name="us-east-1"), name)
    world.config["results"] = {"table": name}
    world.add_people(person("u1", "ana.lima@example.com", ("Supervisors",)))

    _, planned, _ = table(world, "plan")
    _, applied, _ = table(world, "apply")
    code, history, _ = table(world, "history", "ana.lima@example.com")

    assert code == 0, history
    describe = "new: Agent, Supervisor · Sales · Floor 1"
    assert describe in planned and describe in applied
    rows = [line for line in history.splitlines() if describe in line]
    assert len(rows) == 2  # the plan and the apply, drawn as plan and apply draw them
    assert any("applied" in r for r in rows) and any("planned (dry run)" in r for r in rows)


def test_markup_in_values_prints_literally_and_never_breaks_the_output(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    world.add_people(
        person("m1", "[/bold]x@example.com"),
        person("m2", "[bold]y"),
        person("ok", "fine.user@example.com"),
    )
    code, out, err = table(world, "apply")
    assert code == 0, err
    assert "[/bold]x@example.com" in out and "[bold]y" in out
    assert "fine.user@example.com" in world.users() and "Traceback" not in err

    world.directory["users"].append(person("m3", "later@example.com", enabled="[/red]maybe"))
    code, out, err = table(world, "apply")
    assert code == 4, err
    assert "[/red]maybe" in out


def test_long_values_are_capped_in_tables_and_in_the_json_report(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "400")
    huge = "a" * 3000 + "@example.com"
    world.add_people(person("big", huge), person("ok", "fine.user@example.com"))

    code, out, err = table(world, "plan")
    assert code == 0, (out, err)
    assert "a" * 150 in out and "a" * 200 not in out  # a value: 200 characters at most
    assert "chars, sha256" in out  # and the cut is plain to see

    code, report, _ = world.cli("plan")
    (mismatch,) = report["mismatches"]
    assert 200 < len(mismatch["username"]) <= 1000
    assert len(mismatch["detail"]) <= 1000


def test_errors_are_listed_up_to_fifty_and_counted_exactly(world: World) -> None:
    world.add_people(person("ok", "fine.user@example.com"))
    world.add_people(
        *[{"upn": f"broken.{i}@example.com", "groups": ["Agents"]} for i in range(120)]
    )

    code, report, _ = world.cli("plan")
    assert code == 4
    assert report["error_count"] == 120 and report["source"]["error_count"] == 120
    assert len(report["errors"]) == 51
    assert report["errors"][-1] == "… and 70 more (error_count has the total)"

    code, out, _ = table(world, "plan")
    lines = out.splitlines()
    assert lines[0].startswith("directory read incomplete: 120 rows with errors;")
    assert sum(1 for line in lines if line.startswith("error: ")) == 51


def test_progress_lines_on_a_piped_stderr_say_done_total_and_time_left(world: World) -> None:
    world.add_people(*[person(f"p{i}", f"progress.{i}@example.com") for i in range(30)])
    code, _, err = table(world, "apply")
    assert code == 0, err
    lines = err.splitlines()
    assert "Reading the directory…" in lines
    applying = [line for line in lines if line.startswith(f"Applying to {world.iid}: ")]
    assert applying[0].startswith(f"Applying to {world.iid}: 0/30 (0%)")
    assert re.fullmatch(rf"Applying to {world.iid}: 30/30 \(100%\), done in \d+ s", applying[-1])
    assert len(applying) <= 12  # every 10 % (or 10 s), not a line per user
    assert "\r" not in err and "\033[" not in err


# --------------------------------------------------------------------------- did you mean


def test_unknown_keys_get_the_closest_key_as_the_readme_promises(world: World) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    promised = re.search(r"\(`(config error at 'safety\.max_deprovison':[^`]*)`\)", readme)
    assert promised is not None
    world.config["safety"]["max_deprovison"] = 3
    code, report, err = world.cli("plan")
    assert code == 2 and report is None
    assert " ".join(promised.group(1).split()) in err

    del world.config["safety"]["max_deprovison"]
    world.config["groups"][0]["securityprofile"] = ["Agent"]  # not only underscores
    code, _, err = world.cli("plan")
    assert code == 2 and "groups[0].securityprofile" in err
    assert "did you mean 'security_profiles'?" in err


def test_a_misspelt_group_name_gets_the_closest_group_of_the_file(world: World) -> None:
    world.add_people(person("u1", "ana.lima@example.com"))
    world.config["groups"][1]["name"] = "Agnets"
    code, report, err = world.cli("plan")
    assert code == 2 and report is None
    assert "groups[1].name" in err and "did you mean 'Agents'?" in err


@pytest.fixture
def idp(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Start the directory emulator of ``request.param`` through its demo factory."""
    import importlib

    from connect_user_sync_emulators.demo import SOURCE_DEMOS

    module, _, factory = SOURCE_DEMOS[request.param].partition(":")
    make = getattr(importlib.import_module(module), factory)

    def start(directory: dict[str, Any]) -> Any:
        manager = make(directory)
        section, env, *attribute = manager.__enter__()
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        started.append(manager)
        return section, (attribute[0] if attribute else None)

    started: list[Any] = []
    yield start
    for manager in started:
        manager.__exit__(None, None, None)


@pytest.mark.parametrize("idp", ["entra", "okta", "duo", "identity_center"], indirect=True)
def test_a_misspelt_group_name_gets_the_closest_group_of_the_directory(
    world: World, idp: Any
) -> None:
    world.add_people(person("u1", "ana.lima@example.com"))
    directory = {
        "users": world.directory["users"],
        "groups": [
            {"id": "g1", "name": "CC-Agents"},
            {"id": "g2", "name": "Supervisors"},
            {"id": "g3", "name": "Finance"},
        ],
    }
    world.directory["users"][0]["groups"] = ["CC-Agents"]
    section, attribute = idp(directory)
    world.config["source"] = section
    if attribute:
        world.config["username"]["attribute"] = attribute
    world.config["groups"][1]["name"] = "CC-Agnets"

    code, report, err = world.cli("plan")

    assert code == 2 and report is None, err
    assert "groups[1].name" in err and "did you mean 'CC-Agents'?" in err
    assert "Traceback" not in err


def test_the_readme_names_only_sources_that_exist_and_deploys_without_python_313() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    from connect_user_sync.config.model import SOURCE_TYPES, USERNAME_ATTRIBUTES

    (types,) = re.findall(r"type: file\s+# ([a-z_ |]+)\n", readme)
    assert set(types.replace(" ", "").split("|")) == set(SOURCE_TYPES)
    (attributes,) = re.findall(r"attribute: upn\s+# (.+)\n", readme)
    for source, offered in USERNAME_ATTRIBUTES.items():
        assert f"{source}: {'|'.join(offered)}" in attributes
    deploy = readme[readme.index("## Deploying") :]
    assert "sam build && sam deploy" in deploy and "needs no Python 3.13" in deploy
    # What makes that true: nothing in the template is built by SAM's python3.13 builder.
    resources = load_template()["Resources"]
    for name in ("SyncFunction", "SharedLayer"):
        assert resources[name]["Metadata"]["BuildMethod"] == "makefile"
    assert "build-SyncFunction:" in (ROOT / "functions/sync/Makefile").read_text(encoding="utf-8")
    # Every secret a document asks for is one a source really takes.
    from connect_user_sync.config.sources import SECRET_KEYS

    offered = {arn for _, _, arn in SECRET_KEYS} | {key for _, key, _ in SECRET_KEYS}
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        asked = set(re.findall(r"\b[a-z_]*secret[a-z_]*_arn\b", doc.read_text(encoding="utf-8")))
        assert asked <= offered, (doc.name, asked - offered)
