"""The on-demand path's pure reasoning: spellings, queries, filtering and merging."""

from __future__ import annotations

import pytest

from connect_user_sync.domain.lookup import (
    ConnectQuery,
    asserted,
    case_variants,
    connect_query,
    merge,
    names_user,
    only_named,
    window,
)
from connect_user_sync.domain.models import (
    TAG_SOURCE_ID,
    ConnectUser,
    DirectorySnapshot,
    DirectoryUser,
)


def user(
    sid: str, upn: str | None, mail: str | None = None, first: str = "Jane", last: str = "Doe"
) -> DirectoryUser:
    return DirectoryUser(sid, {"upn": upn, "mail": mail}, first, last, mail, True, ("A",))


def connect_user(username: str, source_id: str | None = None) -> ConnectUser:
    tags = {TAG_SOURCE_ID: source_id} if source_id else {}
    return ConnectUser("c", "arn", username, frozenset(), None, None, None, None, None, tags)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "jane.doe@example.com",
            {
                "jane.doe@example.com",
                "JANE.DOE@EXAMPLE.COM",
                "Jane.Doe@Example.Com",
                "Jane.Doe@example.com",
                "Jane.doe@example.com",
            },
        ),
        ("JDoe", {"JDoe", "jdoe", "JDOE", "Jdoe"}),
        ("j_smith-2", {"j_smith-2", "J_SMITH-2", "J_Smith-2", "J_smith-2"}),
    ],
)
def test_case_variants(value: str, expected: set[str]) -> None:
    variants = case_variants(value)
    assert set(variants) == expected
    assert variants[0] == value
    assert len(variants) == len(set(variants))


def test_window_is_2_to_25_characters() -> None:
    assert window("j") is None
    assert window("jd") == "jd"
    assert window("a" * 40) == "a" * 25


def test_names_user_by_id_or_any_attribute_regardless_of_case() -> None:
    jane = user("u1", "Jane.Doe@example.com", "jane@example.com")
    assert names_user(jane, {"u1"})
    assert names_user(jane, {"jane.doe@EXAMPLE.com"})
    assert names_user(jane, {"JANE@example.com"})
    assert not names_user(jane, {"U1", "doe"})


def test_only_named_keeps_the_read_state_and_drops_group_counts() -> None:
    snapshot = DirectorySnapshot(
        (user("u1", "a@x.com"), user("u2", "b@x.com")), (), False, ("page 2 failed",)
    )
    named = only_named(snapshot, ["b@x.com"])
    assert [u.source_id for u in named.users] == ["u2"]
    assert named.complete is False and named.errors == ("page 2 failed",)
    assert named.groups == ()


def test_merge_keeps_each_user_once_and_any_doubt() -> None:
    first = DirectorySnapshot((user("u1", "a@x.com"),), errors=("e1",))
    second = DirectorySnapshot(
        (user("u1", "a@x.com"), user("u2", "b@x.com")), complete=False, errors=("e1", "e2")
    )
    merged = merge(first, second)
    assert [u.source_id for u in merged.users] == ["u1", "u2"]
    assert merged.complete is False and merged.errors == ("e1", "e2")


def test_asserted_skips_users_without_a_usable_username() -> None:
    users = [user("u1", "a@x.com"), user("u2", None), user("u3", "bad name")]
    assert asserted(users, "upn", lowercase=False) == {"a@x.com"}
    assert asserted([user("u4", "Mixed@X.com")], "upn", lowercase=True) == {"mixed@x.com"}


def test_connect_query_covers_the_named_users_only() -> None:
    jane = user("u1", "jane.doe@example.com", "jdoe@example.com")
    other = user("u2", "other@example.com", first="Other", last="Person")
    query = connect_query([jane, other], ["jane.doe@example.com", "s9"], "upn", lowercase=False)

    assert {"jane.doe@example.com", "Jane.Doe@example.com", "JDOE@EXAMPLE.COM", "s9"} <= set(
        query.exact
    )
    assert "other@example.com" not in query.exact
    assert set(query.windows) == {"jane.doe@example.com", "jdoe@example.com"}
    assert query.people == (("Jane", "Doe"),)
    assert set(query.source_ids) == {"jane.doe@example.com", "s9", "u1"}
    assert query.folded == frozenset({"jane.doe@example.com", "jdoe@example.com"})


def test_connect_query_selects_by_directory_id_too() -> None:
    query = connect_query([user("u1", "a@x.com")], ["u1"], "upn", lowercase=False)
    assert "a@x.com" in query.exact and "u1" in query.source_ids


@pytest.mark.parametrize(
    ("found", "wanted"),
    [
        (connect_user("jane.doe@example.com"), True),
        (connect_user("jAnE.dOe@example.com"), True),  # any other spelling: a case mismatch
        (connect_user("JDoe@Example.com"), True),  # named after another attribute
        (connect_user("old.name@example.com", "u1"), True),  # made for u1 earlier
        (connect_user("john.doe@example.com"), False),  # a namesake found by the names
        (connect_user("someone@example.com", "u7"), False),
    ],
)
def test_wanted_keeps_what_the_plan_depends_on(found: ConnectUser, wanted: bool) -> None:
    jane = user("u1", "jane.doe@example.com", "jdoe@example.com")
    query = connect_query([jane], ["jane.doe@example.com"], "upn", lowercase=False)
    assert query.wanted(found) is wanted


def test_an_empty_query_wants_nothing() -> None:
    assert not ConnectQuery().wanted(connect_user("a@x.com", "u1"))
