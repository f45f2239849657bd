"""Bounded values (``domain.bounded``) and the shared retry budget (``retry.retry_scope``)."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connect_user_sync.domain.bounded import capped, key_component, printable, shown
from connect_user_sync.domain.models import DirectoryUser
from connect_user_sync.errors import DirectoryReadError
from connect_user_sync.retry import RetryPolicy, current_scope, request_timeout, retry_scope
from connect_user_sync.safeguards import read_budget, read_within_budget


@given(st.text(max_size=3000), st.integers(min_value=60, max_value=2000))
def test_capped_is_bounded_stable_and_keeps_distinct_values_apart(text: str, limit: int) -> None:
    out = capped(text, limit)
    assert len(out) <= limit
    assert out == capped(text, limit)
    if len(text) <= limit:
        assert out == text
    else:
        assert out != capped(text + "x", limit), "the digest tells long values apart"
        assert f"[{len(text)} chars" in out


def test_shown_does_bounded_work_on_a_huge_shared_structure() -> None:
    leaf = ["lol"] * 9
    for _ in range(8):
        leaf = [leaf] * 9  # 9**9 strings if expanded; shared, so cheap to build
    began = time.perf_counter()
    text = shown(leaf)
    assert len(text) <= 80 and time.perf_counter() - began < 0.5


def test_shown_survives_a_hostile_repr() -> None:
    class Hostile:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    assert shown(Hostile()).startswith("<Hostile")


def test_printable_makes_control_characters_visible() -> None:
    assert printable("a\x1b[31mred\x00\n") == "a\\x1b[31mred\\x00\\n"
    assert printable("plain é") == "plain é"


def test_key_component_fits_dynamodb_keys_and_keeps_short_values() -> None:
    assert key_component("jane@example.com") == "jane@example.com"
    long = "é" * 3000
    key = key_component(long)
    assert key.startswith("sha256:") and len(key.encode()) < 100
    assert key != key_component(long + "x")


def test_directory_users_are_bounded_once_for_every_source() -> None:
    user = DirectoryUser(
        "i" * 5000,
        {"upn": "u" * 10_000_000, "mail": "lone\ud800surrogate"},
        first_name="f" * 3000,
    )
    assert len(user.source_id) <= 1000 and len(user.attributes["upn"] or "") <= 1000
    assert len(user.first_name or "") <= 1000
    assert user.attributes["mail"] == "lone?surrogate"


# --------------------------------------------------------------------------- the budget


def test_a_scope_stops_every_loop_at_its_deadline_and_shares_the_waiting() -> None:
    slept: list[float] = []
    policy = RetryPolicy(max_attempts=50, base=1.0, cap=1.0, rng=lambda: 1.0, sleep=slept.append)
    with retry_scope(max_total_wait=3.0):
        first, second = policy.start(), policy.start()
        assert first.wait() and first.wait()
        assert second.wait()
        assert not second.wait(), "three seconds of waiting in all, across both loops"
        assert second.stopped_by_deadline
    assert policy.start().wait(), "outside the scope the policy's own budget applies"
    with retry_scope(deadline=time.monotonic() + 0.5):
        assert not policy.start().wait(), "no wait may end past the deadline"
        assert request_timeout((5.0, 30.0))[1] <= 0.5 + 1.0
    assert current_scope() is None


def test_the_read_budget_is_at_most_half_the_time_left() -> None:
    assert read_budget(None, {}) == 600
    assert read_budget(None, {"DIRECTORY_READ_SECONDS": "30"}) == 30
    assert 99 <= read_budget(time.monotonic() + 200, {}) <= 100
    with pytest.raises(ValueError, match="DIRECTORY_READ_SECONDS"):
        read_budget(None, {"DIRECTORY_READ_SECONDS": "soon"})


class _Stuck:
    """A source that never returns (a hung socket without a timeout, say)."""

    type = "file"

    def read(self, groups: object) -> object:
        time.sleep(3600)
        raise AssertionError("unreachable")


class _Waiting:
    """A source whose retry loop honours the scope, and returns what it read."""

    type = "file"

    def read(self, groups: object) -> object:
        from connect_user_sync.domain.models import DirectorySnapshot

        budget = RetryPolicy(max_attempts=1000, base=0.2, cap=0.2, rng=lambda: 1.0).start()
        while budget.wait():
            pass
        return DirectorySnapshot(users=(), complete=False, errors=("gave up",))


def test_a_read_that_never_returns_is_abandoned_after_its_budget() -> None:
    began = time.monotonic()
    with pytest.raises(DirectoryReadError, match="budget of 1 s"):
        read_within_budget(_Stuck(), (), 1.0)  # type: ignore[arg-type]
    assert time.monotonic() - began < 4


def test_a_read_whose_retries_honour_the_scope_returns_in_time() -> None:
    began = time.monotonic()
    snapshot = read_within_budget(_Waiting(), (), 1.0)  # type: ignore[arg-type]
    assert snapshot.errors == ("gave up",)
    assert time.monotonic() - began < 1.5
