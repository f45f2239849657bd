"""The ``source.file`` settings for real HR exports parse, and bad ones name their key.

GIVEN a configuration's ``file:`` section, WHEN it is parsed, THEN each export setting
arrives typed, and a mistake is a ConfigError naming the key's path and the fix.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from connect_user_sync.config import ConfigError, load_config, parse_config
from connect_user_sync.config.model import FileSourceConfig


def _config(file_section: dict[str, object]) -> dict[str, object]:
    return {
        "source": {"type": "file", "file": file_section},
        "username": {"attribute": "upn"},
        "groups": [{"name": "Agents", "security_profiles": ["Agent"], "routing_profile": "Basic"}],
        "targets": [{"instance_id": "11111111-2222-3333-4444-555555555555", "region": "us-east-1"}],
        "deprovision": {"action": "report"},
    }


def test_the_file_section_reads_every_export_setting() -> None:
    config = parse_config(
        _config(
            {
                "path": "export.csv",
                "encoding": "cp1252",
                "delimiter": "tab",
                "columns": {"id": "Employee ID", "enabled": "Status"},
                "active_values": ["Active", "On Leave"],
            }
        )
    )
    assert config.source.file == FileSourceConfig(
        "export.csv",
        encoding="cp1252",
        delimiter="\t",
        columns=(("id", "Employee ID"), ("enabled", "Status")),
        active_values=("Active", "On Leave"),
    )
    assert parse_config(_config({"path": "x.csv"})).source.file == FileSourceConfig("x.csv")


@pytest.mark.parametrize(
    ("section", "key", "message"),
    [
        ({"encoding": "cp-1252x"}, "source.file.encoding", "not a known text encoding"),
        ({"delimiter": ",;"}, "source.file.delimiter", "not a single separator"),
        ({"delimiter": '"'}, "source.file.delimiter", "not a single separator"),
        ({"columns": {"mail": "Work Email"}}, "source.file.columns.mail", "unknown key"),
        ({"columns": ["id"]}, "source.file.columns", "expected a mapping"),
        ({"active_values": ["Active", True]}, "source.file.active_values", "quote each value"),
        ({"active_values": []}, "source.file.active_values", "every user would read as disabled"),
        ({"active_value": ["Active"]}, "source.file.active_value", "unknown key"),
    ],
)
def test_bad_file_settings_name_the_key(section: dict[str, object], key: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        parse_config(_config({"path": "x.csv", **section}))
    assert caught.value.path == key


def test_a_relative_path_keeps_the_other_settings(tmp_path: Path) -> None:
    path = tmp_path / "sync.yaml"
    path.write_text(
        "source: {type: file, file: {path: hr/export.csv, encoding: cp1252, delimiter: ';'}}\n"
        "username: {attribute: upn}\n"
        "groups: [{name: Agents, security_profiles: [Agent], routing_profile: Basic}]\n"
        "targets: [{instance_id: 11111111-2222-3333-4444-555555555555, region: us-east-1}]\n"
        "deprovision: {action: report}\n",
        encoding="utf-8",
    )
    file = load_config(path).source.file
    assert file is not None
    assert file.path == str(tmp_path / "hr" / "export.csv")
    assert (file.encoding, file.delimiter) == ("cp1252", ";")
