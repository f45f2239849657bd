"""Username normalization and validation: what the IdP asserts must be what Connect holds."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connect_user_sync.domain.usernames import derive_username, normalize, username_problem


@pytest.mark.parametrize(
    ("raw", "lowercase", "expected"),
    [
        ("  jane.doe@example.com ", False, "jane.doe@example.com"),
        (
            "Jane.Doe@Example.com",
            False,
            "Jane.Doe@Example.com",
        ),  # case is kept: SAML is case-sensitive
        ("Jane.Doe@Example.com", True, "jane.doe@example.com"),
        ("Jose\u0301", False, "Jos\u00e9"),  # NFC composes the accent
    ],
)
def test_normalize(raw: str, lowercase: bool, expected: str) -> None:
    assert normalize(raw, lowercase=lowercase) == expected


@pytest.mark.parametrize(
    "value",
    [
        "jane.doe@example.com",
        "j_doe-1",
        "ab",
        "A" * 64,
        "agent.007@sub.example.co.uk",
        "UPPER@EXAMPLE.COM",
    ],
)
def test_valid_usernames(value: str) -> None:
    assert username_problem(value) is None


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("a", "1 characters"),
        ("a" * 65, "65 characters"),
        ("jane doe@example.com", "' '"),
        ("jane+tag@example.com", "'+'"),
        ("josé@example.com", "'é'"),
        ("x_contoso.com#EXT#@tenant.onmicrosoft.com", "guest"),
        ("jane@localhost", "e-mail"),
        ("a@b@example.com", "e-mail"),
        ("@example.com", "e-mail"),
        ("jane@example..com", "e-mail"),
    ],
)
def test_invalid_usernames_say_why(value: str, says: str) -> None:
    problem = username_problem(value)
    assert problem is not None and says in problem


@pytest.mark.parametrize(
    ("attributes", "offered"),
    [
        ({"upn": None, "mail": None}, "mail"),  # Entra ID
        ({"upn": None, "email": None, "login": None, "username": None}, "email"),  # file
    ],
)
def test_guest_hint_names_the_attribute_the_source_offers(
    attributes: dict[str, str | None], offered: str
) -> None:
    guest = "x_y.com#EXT#@t.onmicrosoft.com"
    result = derive_username({**attributes, "upn": guest}, "upn")
    assert result.username is None
    assert f"username.attribute: {offered})" in (result.problem or "")


def test_missing_attribute_is_reported_not_guessed() -> None:
    result = derive_username({"upn": "jane@example.com", "mail": None}, "mail")
    assert result.username is None and "no 'mail'" in (result.problem or "")


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=80))
def test_every_accepted_username_is_a_valid_role_session_name(raw: str) -> None:
    result = derive_username({"upn": raw}, "upn")
    if result.username is not None:
        import re

        assert re.fullmatch(r"[\w+=,.@-]{2,64}", result.username, re.ASCII)
        assert result.username == normalize(result.username)
