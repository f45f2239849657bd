"""Hostile configuration documents: alias bombs, deep nesting, bad bytes, huge values.

Each is a ``ConfigError`` naming the problem, with a bounded message, never a traceback,
a MemoryError or a message that echoes the expanded document.
"""

from __future__ import annotations

import json
import time
import tracemalloc
from pathlib import Path

import pytest
import yaml

from connect_user_sync.cli import main
from connect_user_sync.config import ConfigError, load_config, parse_text
from connect_user_sync.config.document import MAX_NODES


def alias_bomb(levels: int) -> str:
    """The classic "billion laughs" in YAML: each level repeats the previous one nine times."""
    lines = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, levels + 1):
        name, previous = chr(ord("a") + level), chr(ord("a") + level - 1)
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
    return "\n".join(lines) + "\n"


BASE = """\
source: {type: file, file: {path: d.json}}
groups: [{name: Agents, security_profiles: [Agent], routing_profile: Basic}]
targets: [{instance_id: 11111111-2222-3333-4444-555555555555, region: us-east-1}]
deprovision: {action: disable, disabled_security_profile: Disabled}
"""


def test_a_one_kilobyte_alias_bomb_is_refused_without_expanding_it() -> None:
    # 9**7 = 4.8 million strings once expanded, in a key whose error quotes its value.
    bomb = alias_bomb(7) + "safety: {max_deprovision: *h}\n" + BASE
    assert len(bomb) < 1024
    tracemalloc.start()
    began = time.perf_counter()
    with pytest.raises(ConfigError) as caught:
        parse_text(bomb)
    took = time.perf_counter() - began
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert "expands to more than" in str(caught.value)
    assert peak < 20_000_000 and took < 5
    assert len(str(caught.value)) < 400


@pytest.mark.parametrize("key", ["safety: {max_deprovision: *e}", "groups: *e", "bogus: *e"])
def test_an_alias_under_the_limit_is_never_expanded_in_a_message(key: str) -> None:
    # 9**5 = 59,049 values: below the limit, so parsing gets as far as the error message.
    text = alias_bomb(4) + BASE.replace("groups:", "groups_:" if "groups" in key else "groups:")
    text += key + "\n"
    with pytest.raises(ConfigError) as caught:
        parse_text(text)
    assert len(str(caught.value)) < 1000


def test_an_alias_may_still_be_reused() -> None:
    text = BASE.replace(
        "groups: [{name: Agents, security_profiles: [Agent], routing_profile: Basic}]",
        "groups:\n"
        "  - {name: Agents, security_profiles: &p [Agent], routing_profile: Basic}\n"
        "  - {name: Leads, security_profiles: *p, routing_profile: Basic}",
    )
    config = parse_text(text)
    assert [g.security_profiles for g in config.groups] == [("Agent",), ("Agent",)]


def test_a_recursive_alias_is_refused() -> None:
    with pytest.raises(ConfigError, match="refers to the node that contains it"):
        parse_text(BASE + "safety: &s {protected_usernames: [*s]}\n")


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000,
        "a:\n" + "".join(" " * i + "- \n" for i in range(500)),
        "x: " + "[" * 5000 + "]" * 5000,
    ],
)
def test_deep_nesting_is_a_config_error_not_a_recursion_error(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_text(text)


def test_a_value_of_two_megabytes_is_capped_in_the_message() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_text(BASE + f"safety: {{max_deprovision: '{'x' * 2_000_000}'}}\n")
    message = str(caught.value)
    assert "safety.max_deprovision" in message and len(message) < 1000


def test_a_huge_unknown_key_is_capped_in_the_message() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_text(json.dumps({**yaml.safe_load(BASE), "k" * 100_000: 1}))
    assert "unknown key" in str(caught.value) and len(str(caught.value)) < 1000


def test_the_expansion_limit_leaves_room_for_large_configurations() -> None:
    groups = "".join(
        f"  - {{name: G{i}, security_profiles: [A, B, C], routing_profile: R}}\n"
        for i in range(2000)
    )
    config = parse_text(BASE.replace(BASE.splitlines()[1] + "\n", "groups:\n" + groups))
    assert len(config.groups) == 2000 and MAX_NODES > 2000 * 12


def test_a_config_file_that_is_not_utf8_exits_2_with_the_byte(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(BASE.encode("utf-8") + b"# caf\xe9 in Latin-1\n")
    with pytest.raises(ConfigError, match="not valid UTF-8"):
        load_config(path)
    code = main(["plan", "--config", str(path)])
    _, err = capsys.readouterr()
    assert code == 2
    assert "not valid UTF-8" in err and "Traceback" not in err


def test_a_config_path_that_never_ends_is_read_only_so_far(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_bytes(b"#" * 6_000_000)
    with pytest.raises(ConfigError, match="at most"):
        load_config(path)
