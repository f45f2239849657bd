"""Fuzzing the two readers of outside bytes: the file source and the configuration parser.

Arbitrary bytes in (a corpus of known-nasty files in ``corpus/``, plus what hypothesis
makes up: raw bytes, and JSON, CSV and YAML shaped like the real thing with hostile values)
and exactly one of these out, within a few seconds:

- the file source: a ``DirectorySnapshot`` whose users hold text (or None) in every text
  field, or a ``DirectoryReadError`` / ``ConfigError``;
- the configuration: a ``Config``, or a ``ConfigError`` whose message is bounded.

Never another exception, never a hang (each example runs under a timer that raises).
"""

from __future__ import annotations

import contextlib
import json
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from connect_user_sync.config import Config, ConfigError, load_config, parse_text
from connect_user_sync.config.model import FileSourceConfig
from connect_user_sync.domain.models import DirectorySnapshot, GroupRule
from connect_user_sync.errors import DirectoryReadError
from connect_user_sync.sources.file import FileSource

CORPUS = Path(__file__).parent / "corpus"
GROUPS = (
    GroupRule("Agents", False, ("Agent",), "Basic"),
    GroupRule("g1", True, ("Agent",), "Basic"),
)
SECONDS = 10  # per example; a hang fails the test instead of stalling the suite
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class Hang(Exception):
    pass


@contextlib.contextmanager
def within(seconds: float) -> Iterator[None]:
    def expired(signum: int, frame: Any) -> None:
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def read_file_source(data: bytes, suffix: str, **options: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"export{suffix}"
        path.write_bytes(data)
        source = FileSource(FileSourceConfig(str(path), **options))
        try:
            with within(SECONDS):
                snapshot = source.read(GROUPS)
        except (DirectoryReadError, ConfigError) as exc:
            refused: Exception = exc
        else:
            refused = None  # type: ignore[assignment]
    if refused is not None:
        assert str(refused) and len(str(refused)) < 5000
        return
    assert isinstance(snapshot, DirectorySnapshot)
    for user in snapshot.users:
        assert isinstance(user.source_id, str) and user.source_id
        for value in (user.first_name, user.last_name, user.email, *user.attributes.values()):
            assert value is None or (isinstance(value, str) and len(value) <= 1000)
            if value is not None:
                value.encode("utf-8")  # no lone surrogates reach Connect or DynamoDB
    if not snapshot.complete:
        assert snapshot.errors, "an incomplete read says why"


def parse_config_bytes(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.yaml"
        path.write_bytes(data)
        try:
            with within(SECONDS):
                config: Config | ConfigError = load_config(path)
        except ConfigError as exc:
            config = exc
    if isinstance(config, ConfigError):
        assert len(str(config)) < 2000
    else:
        assert isinstance(config, Config)


# --------------------------------------------------------------------------- the corpus


@pytest.mark.parametrize(
    "path", sorted(p for p in CORPUS.iterdir() if not p.name.startswith("config_")), ids=str
)
def test_the_file_source_corpus(path: Path) -> None:
    read_file_source(path.read_bytes(), path.suffix)
    read_file_source(path.read_bytes(), ".txt", encoding="cp1252", delimiter=";")


@pytest.mark.parametrize(
    "path", sorted(p for p in CORPUS.iterdir() if p.name.startswith("config_")), ids=str
)
def test_the_configuration_corpus(path: Path) -> None:
    parse_config_bytes(path.read_bytes())


def test_oversized_values_in_exports() -> None:
    """Big enough not to keep in the corpus: made here."""
    read_file_source(
        b'id,upn,groups\nu1,"' + b"x" * 140_000 + b'",Agents\nu2,b@example.com,Agents\n', ".csv"
    )
    huge = {"users": [{"id": "u1", "upn": "a" * 10_000_000, "groups": ["Agents"]}]}
    read_file_source(json.dumps(huge).encode(), ".json")


# --------------------------------------------------------------------------- made up


@settings(FUZZ)
@given(st.binary(max_size=4000), st.sampled_from([".json", ".csv", ".tsv", ""]))
@example(b"\xef\xbb\xbf", ".csv")
@example(b"\xff\xfe" + "id,groups\n".encode("utf-16-le"), ".csv")
def test_the_file_source_takes_any_bytes(data: bytes, suffix: str) -> None:
    read_file_source(data, suffix)


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=40),
    st.sampled_from(["Agents", "g1", "true", "no", "", " ", "[red]x[/red]", "\x1b[2J", "a@b.c"]),
)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
_field = st.sampled_from(
    ["id", "upn", "email", "login", "username", "first_name", "last_name", "enabled", "groups", "x"]
)
_user = st.dictionaries(_field, _json, max_size=9)


@settings(FUZZ)
@given(
    st.one_of(
        st.fixed_dictionaries({"users": st.lists(_user, max_size=6)}, optional={"groups": _json}),
        _json,
    )
)
def test_the_file_source_takes_any_json(document: Any) -> None:
    read_file_source(json.dumps(document).encode("utf-8", "surrogatepass"), ".json")


_cell = st.one_of(
    st.text(max_size=30),
    st.sampled_from(['"', '""', '"a,b"', "Agents|g1", "true", "\r\n", ";", "\t", "\x00"]),
)


@settings(FUZZ)
@given(
    st.lists(_field, min_size=1, max_size=6),
    st.lists(st.lists(_cell, max_size=7), max_size=6),
    st.sampled_from([",", ";", "\t"]),
)
def test_the_file_source_takes_any_csv(headers: list[str], rows: list[list[str]], sep: str) -> None:
    lines = [sep.join(headers)] + [sep.join(row) for row in rows]
    read_file_source("\n".join(lines).encode("utf-8", "surrogatepass"), ".csv")


@settings(FUZZ)
@given(st.binary(max_size=3000))
@example(b"a: &a [*a]")
@example(b"- !!python/name:os.system")
def test_the_configuration_takes_any_bytes(data: bytes) -> None:
    parse_config_bytes(data)


BASE: dict[str, Any] = {
    "source": {"type": "file", "file": {"path": "d.json"}},
    "groups": [{"name": "Agents", "security_profiles": ["Agent"], "routing_profile": "Basic"}],
    "targets": [{"instance_id": "11111111-2222-3333-4444-555555555555", "region": "us-east-1"}],
    "deprovision": {"action": "disable", "disabled_security_profile": "Disabled"},
    "safety": {"max_deprovision": 25},
    "results": {"table": "t"},
    "alerts": {"topic_arn": "arn:aws:sns:us-east-1:123456789012:alerts"},
}


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


PATHS = _paths(BASE)[1:]


@settings(FUZZ)
@given(st.lists(st.tuples(st.sampled_from(PATHS), _json), min_size=1, max_size=4), st.booleans())
def test_the_configuration_takes_any_value_anywhere(
    changes: list[tuple[tuple[Any, ...], Any]], as_yaml: bool
) -> None:
    document = json.loads(json.dumps(BASE))
    for path, value in changes:
        target: Any = document
        try:
            for step in path[:-1]:
                target = target[step]
            target[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change replaced the parent
    text = yaml.safe_dump(document) if as_yaml else json.dumps(document)
    message = ""
    try:
        with within(SECONDS):
            parse_text(text)
    except ConfigError as exc:
        message = str(exc)
    assert len(message) < 2000
