"""The ``enabled`` column fails closed (CONTRACT.md §2): the table of every value.

GIVEN the value an export holds in its enabled column, WHEN the file source reads it,
THEN it means enabled, disabled, or it is an error naming the row and the value: that
user is left out (no new access) and the read is incomplete (nothing deprovisioned).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from connect_user_sync.config.model import FileSourceConfig
from connect_user_sync.domain.models import DirectorySnapshot, GroupRule
from connect_user_sync.errors import DirectoryReadError
from connect_user_sync.sources.file import (
    DISABLED_WORDS,
    ENABLED_WORDS,
    FileSource,
    read_enabled,
)

AGENTS = [GroupRule("Agents", False, ("Agent",), "Basic")]


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def _read(path: str, active_values: tuple[str, ...] | None = None) -> DirectorySnapshot:
    return FileSource(FileSourceConfig(path, active_values=active_values)).read(AGENTS)


# (value in the file, what it means without active_values): True, False or None = error.
ENABLED_TABLE = [
    *[(word, True) for word in ("true", "yes", "1", "active", "enabled")],
    *[
        (word, False)
        for word in ("false", "no", "0", "inactive", "disabled", "terminated", "suspended")
    ],
    ("TRUE", True),
    ("Yes", True),
    ("Active", True),
    ("ENABLED", True),
    ("False", False),
    ("Terminated", False),
    ("INACTIVE", False),
    ("Suspended", False),
    (" Terminated ", False),  # surrounding spaces are an export artefact, not a new word
    ("\tactive", True),
    ("ture", None),
    ("Actve", None),
    ("on leave", None),
    ("y", None),
    ("n", None),
    ("off", None),
    ("2", None),
    ("Terminated - pending", None),
    ("-", None),
    ("", True),  # not given: the contract's default
]


def test_the_table_covers_every_word_of_the_contract() -> None:
    words = {w.strip().casefold() for w, _ in ENABLED_TABLE}
    assert words >= ENABLED_WORDS | DISABLED_WORDS


@pytest.mark.parametrize(("value", "meaning"), ENABLED_TABLE)
def test_enabled_values_without_active_values(value: str, meaning: bool | None) -> None:
    if meaning is None:
        with pytest.raises(ValueError, match="not recognised"):
            read_enabled(value, None)
    else:
        assert read_enabled(value, None) is meaning


@pytest.mark.parametrize(
    ("value", "meaning"),
    [
        ("Active", True),
        ("active", True),
        (" ON LEAVE ", True),
        ("On Leave", True),
        ("Terminated", False),
        ("true", False),  # with active_values, only a listed value means enabled
        ("yes", False),
        ("ture", False),
        ("", False),
        (None, False),
        (True, True),  # a JSON boolean is unambiguous
        (False, False),
    ],
)
def test_enabled_values_with_active_values(value: object, meaning: bool) -> None:
    assert read_enabled(value, frozenset({"active", "on leave"})) is meaning


@pytest.mark.parametrize(
    ("value", "meaning"), [(True, True), (False, False), (1, True), (0, False), (None, True)]
)
def test_json_enabled_values(value: object, meaning: bool) -> None:
    assert read_enabled(value, None) is meaning


@pytest.mark.parametrize("value", [2, 1.0, ["yes"], {"v": 1}])
def test_json_enabled_values_of_another_type_are_doubtful(value: object) -> None:
    with pytest.raises(ValueError, match="enabled"):
        read_enabled(value, None)


def test_each_doubtful_enabled_value_is_an_error_naming_its_line(tmp_path: Path) -> None:
    lines = ["id,upn,enabled,groups"]
    for index, (value, _) in enumerate(ENABLED_TABLE):
        lines.append(f'u{index},user{index}@example.com,"{value}",Agents')
    snapshot = _read(_write(tmp_path, "hr.csv", "\n".join(lines) + "\n"))
    users = {u.source_id: u.enabled for u in snapshot.users}
    assert not snapshot.complete
    for index, (value, meaning) in enumerate(ENABLED_TABLE):
        line = index + 2
        if meaning is None:
            assert f"u{index}" not in users  # left out: no new access in this run
            (message,) = [e for e in snapshot.errors if e.startswith(f"hr.csv line {line}:")]
            assert repr(value.strip()) in message and "no new access" in message
        else:
            assert users[f"u{index}"] is meaning, value
    assert len(snapshot.errors) == sum(1 for _, m in ENABLED_TABLE if m is None)


def test_active_values_need_the_enabled_column(tmp_path: Path) -> None:
    path = _write(tmp_path, "hr.csv", "id,upn,groups\nu1,a@example.com,Agents\n")
    with pytest.raises(DirectoryReadError, match="users' enabled"):
        _read(path, ("Active",))
