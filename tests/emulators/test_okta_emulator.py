"""The Okta emulator speaks Okta's wire protocol: checked with plain HTTP and PyJWT.

The source's own tests run the okta SDK against it; these pin the protocol itself (the
client assertion checks, scopes, Link header lines, rate-limit headers) so that a
lenient emulator cannot make a source test pass.
"""

from __future__ import annotations

import http.client
import json
import ssl
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import jwt
import pytest

from connect_user_sync_emulators.okta import SCOPES, OktaEmulator, generate_key_pair, okta_demo

TOKEN = "00-emulated-api-token"
CLIENT = "0oa-emulated-client"


class Clock:
    def __init__(self) -> None:
        self.now = float(int(time.time()))  # PyJWT checks exp against the real clock

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def keys() -> tuple[str, dict[str, Any], str]:
    private, public = generate_key_pair()
    other, _ = generate_key_pair()
    return private, public, other


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def okta(keys: tuple[str, dict[str, Any], str], clock: Clock) -> Iterator[OktaEmulator]:
    with OktaEmulator(api_token=TOKEN, page_size_cap=2, rate_limit=50, clock=clock) as emulator:
        emulator.register_app(CLIENT, keys[1])
        yield emulator


class Answer:
    def __init__(self, response: http.client.HTTPResponse) -> None:
        self.status = response.status
        self.headers = response.msg
        raw = response.read()
        self.body: Any = json.loads(raw) if raw else None


def call(
    okta: OktaEmulator,
    method: str,
    path: str,
    *,
    auth: str | None = f"SSWS {TOKEN}",
    form: dict[str, str] | None = None,
) -> Answer:
    parts = urlsplit(okta.org_url)
    context = ssl.create_default_context(cafile=okta.ca_file)
    connection = http.client.HTTPSConnection(parts.hostname, parts.port, context=context)
    headers = {"Accept": "application/json"}
    if auth:
        headers["Authorization"] = auth
    body = None
    if form is not None:
        body = urlencode(form)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        connection.request(method, path, body=body, headers=headers)
        return Answer(connection.getresponse())
    finally:
        connection.close()


def assertion(okta: OktaEmulator, key: str, clock: Clock, **claims: Any) -> str:
    values: dict[str, Any] = {
        "iss": CLIENT,
        "sub": CLIENT,
        "aud": f"{okta.org_url}/oauth2/v1/token",
        "iat": int(clock.now),
        "exp": int(clock.now) + 300,
        "jti": str(uuid.uuid4()),
    }
    values.update(claims)
    return jwt.encode({k: v for k, v in values.items() if v is not None}, key, "RS256")


def token_request(okta: OktaEmulator, signed: str, scope: str = " ".join(SCOPES)) -> Answer:
    return call(
        okta,
        "POST",
        "/oauth2/v1/token",
        auth=None,
        form={
            "grant_type": "client_credentials",
            "scope": scope,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": signed,
        },
    )


# ----------------------------------------------------------------------------- oauth


def test_a_valid_assertion_gets_a_bearer_token_that_reads_groups(
    okta: OktaEmulator, keys: tuple[str, dict[str, Any], str], clock: Clock
) -> None:
    okta.add_group("00g1", "CC-Agents")

    answer = token_request(okta, assertion(okta, keys[0], clock))

    assert answer.status == 200, answer.body
    assert answer.body["token_type"] == "Bearer"
    assert answer.body["scope"] == "okta.groups.read okta.users.read"
    group = call(okta, "GET", "/api/v1/groups/00g1", auth=f"Bearer {answer.body['access_token']}")
    assert group.status == 200
    assert group.body["profile"]["name"] == "CC-Agents"


@pytest.mark.parametrize(
    ("claims", "fragment"),
    [
        ({"aud": "https://elsewhere.okta.com/oauth2/v1/token"}, "audience"),
        ({"sub": "somebody-else"}, "'iss' and 'sub'"),
        ({"exp": int(time.time()) - 10}, "expired"),
        ({"exp": int(time.time()) + 7200}, "too far"),
        ({"jti": None}, "jti"),
    ],
)
def test_assertion_claims_are_checked(
    okta: OktaEmulator,
    keys: tuple[str, dict[str, Any], str],
    clock: Clock,
    claims: dict[str, Any],
    fragment: str,
) -> None:
    answer = token_request(okta, assertion(okta, keys[0], clock, **claims))

    assert answer.status == 401
    assert answer.body["error"] == "invalid_client"
    assert fragment in answer.body["error_description"]


def test_an_assertion_signed_with_another_key_is_refused(
    okta: OktaEmulator, keys: tuple[str, dict[str, Any], str], clock: Clock
) -> None:
    answer = token_request(okta, assertion(okta, keys[2], clock))

    assert (answer.status, answer.body["error"]) == (401, "invalid_client")
    assert "signature is invalid" in answer.body["error_description"]


def test_an_assertion_cannot_be_replayed(
    okta: OktaEmulator, keys: tuple[str, dict[str, Any], str], clock: Clock
) -> None:
    signed = assertion(okta, keys[0], clock)
    assert token_request(okta, signed).status == 200

    again = token_request(okta, signed)

    assert again.status == 401
    assert "already been used" in again.body["error_description"]


def test_scopes_not_granted_are_refused_and_enforced_per_endpoint(
    okta: OktaEmulator, keys: tuple[str, dict[str, Any], str], clock: Clock
) -> None:
    okta.apps[CLIENT].scopes = frozenset({"okta.users.read"})
    refused = token_request(okta, assertion(okta, keys[0], clock))
    assert (refused.status, refused.body["error"]) == (400, "invalid_scope")
    assert "okta.groups.read" in refused.body["error_description"]

    granted = token_request(okta, assertion(okta, keys[0], clock), scope="okta.users.read")
    bearer = f"Bearer {granted.body['access_token']}"
    assert call(okta, "GET", "/api/v1/users", auth=bearer).status == 200
    groups = call(okta, "GET", "/api/v1/groups", auth=bearer)
    assert groups.status == 403
    challenge = groups.headers["WWW-Authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="okta.groups.read"' in challenge


def test_a_service_app_without_an_admin_role_is_forbidden(
    okta: OktaEmulator, keys: tuple[str, dict[str, Any], str], clock: Clock
) -> None:
    okta.apps[CLIENT].admin_role = False
    token = token_request(okta, assertion(okta, keys[0], clock)).body["access_token"]

    answer = call(okta, "GET", "/api/v1/groups", auth=f"Bearer {token}")

    assert (answer.status, answer.body["errorCode"]) == (403, "E0000006")


# ----------------------------------------------------------------------------- api


def test_ssws_tokens_are_checked(okta: OktaEmulator) -> None:
    assert call(okta, "GET", "/api/v1/groups").status == 200
    for auth in ("SSWS not-the-token", None, "Bearer made-up"):
        answer = call(okta, "GET", "/api/v1/groups", auth=auth)
        assert (answer.status, answer.body["errorCode"]) == (401, "E0000011")


def test_members_page_with_self_and_next_on_separate_link_lines(okta: OktaEmulator) -> None:
    for n in range(5):
        okta.add_user(f"00u{n}", f"user{n}@example.com")
    okta.add_group("00g1", "CC-Agents", [f"00u{n}" for n in (4, 2, 0, 3, 1)])

    seen: list[str] = []
    path: str | None = "/api/v1/groups/00g1/users?limit=200"
    lines_per_page = []
    while path:
        answer = call(okta, "GET", path)
        assert answer.status == 200
        seen.extend(user["id"] for user in answer.body)
        lines = answer.headers.get_all("Link")
        lines_per_page.append(len(lines))
        assert 'rel="self"' in lines[0]
        following = [line for line in lines if 'rel="next"' in line]
        path = urlsplit(following[0][1 : following[0].index(">")]).geturl() if following else None
        if path:
            parts = urlsplit(path)
            path = f"{parts.path}?{parts.query}"
            assert "after=" in path and "limit=200" in path

    assert seen == ["00u0", "00u1", "00u2", "00u3", "00u4"]  # ordered by id, limit capped at 2
    assert lines_per_page == [2, 2, 1]
    assert okta.requests["group.users"] == 3


def test_group_search_by_exact_name_and_by_prefix(okta: OktaEmulator) -> None:
    okta.add_group("00g1", 'Team "A"')
    okta.add_group("00g2", "Team B")
    okta.add_group("00g3", "Other")

    exact = call(
        okta, "GET", "/api/v1/groups?" + urlencode({"search": 'profile.name eq "team \\"a\\""'})
    )
    prefix = call(okta, "GET", "/api/v1/groups?limit=200&q=Team")
    bad = call(okta, "GET", "/api/v1/groups?" + urlencode({"search": "name = x"}))

    assert [g["id"] for g in exact.body] == ["00g1"]  # Okta compares without regard to case
    assert sorted(g["id"] for g in prefix.body) == ["00g1", "00g2"]
    assert (bad.status, bad.body["errorCode"]) == (400, "E0000031")
    missing = call(okta, "GET", "/api/v1/groups/00gnope")
    assert (missing.status, missing.body["errorCode"]) == (404, "E0000007")


def test_users_by_id_or_login_and_raw_profiles(okta: OktaEmulator) -> None:
    okta.add_user("00u1", "a@b", "a@b", status="LOCKED_OUT")

    by_login = call(okta, "GET", "/api/v1/users/A@B")

    assert by_login.body["id"] == "00u1"
    assert by_login.body["profile"]["login"] == "a@b"  # stored as given, unvalidated
    assert by_login.body["status"] == "LOCKED_OUT"
    assert call(okta, "GET", "/api/v1/users/00u1").body["id"] == "00u1"
    with pytest.raises(ValueError, match="already belongs"):
        okta.add_user("00u2", "A@b")


def test_rate_limit_headers_on_every_response_and_429_until_the_reset(
    keys: tuple[str, dict[str, Any], str], clock: Clock
) -> None:
    with OktaEmulator(api_token=TOKEN, rate_limit=2, clock=clock) as okta:
        answers = [call(okta, "GET", "/api/v1/groups") for _ in range(3)]
        answers.append(call(okta, "GET", "/api/v1/groups", auth="SSWS wrong"))
        answers.append(call(okta, "GET", "/nowhere"))

        assert [a.status for a in answers] == [200, 200, 429, 429, 404]
        for answer in answers:
            assert answer.headers["X-Rate-Limit-Limit"] == "2"
            assert int(answer.headers["X-Rate-Limit-Reset"]) == int(clock.now + 60)
        assert [a.headers["X-Rate-Limit-Remaining"] for a in answers[:3]] == ["1", "0", "0"]
        assert answers[2].body["errorCode"] == "E0000047"
        assert okta.throttled == 2

        clock.now += 61
        assert call(okta, "GET", "/api/v1/groups").status == 200


def test_injected_throttling_and_failing_pages(okta: OktaEmulator, clock: Clock) -> None:
    for n in range(5):
        okta.add_user(f"00u{n}", f"user{n}@example.com")
    okta.add_group("00g1", "CC-Agents", [f"00u{n}" for n in range(5)])
    okta.throttle_next(2, reset_in=7)
    okta.fail_page("00g1", 1, status=503, times=1)

    first = [call(okta, "GET", "/api/v1/groups/00g1/users") for _ in range(3)]
    second_page = [call(okta, "GET", "/api/v1/groups/00g1/users?after=00u1") for _ in range(2)]

    assert [a.status for a in first] == [429, 429, 200]
    assert first[0].headers["X-Rate-Limit-Reset"] == str(int(clock.now + 7))
    assert [a.status for a in second_page] == [503, 200]
    assert [u["id"] for u in second_page[1].body] == ["00u2", "00u3"]
    assert okta.requests["group.users"] == 5
    assert okta.api_requests == 5 and okta.token_requests == 0


def test_the_demo_yields_a_working_private_key_configuration() -> None:
    directory = {
        "users": [
            {"id": "u1", "upn": "ann@example.com", "email": "ann@example.com", "groups": ["A"]},
            {"id": "u2", "upn": "ann@example.com", "email": "ann2@example.com", "groups": ["A"]},
            {
                "id": "u3",
                "upn": "x_y.com#EXT#@t.onmicrosoft.com",
                "groups": ["A"],
                "enabled": False,
            },
        ],
        "groups": [{"id": "00gA", "name": "A"}],
    }
    with okta_demo(directory) as (section, env, attribute):
        assert attribute == "login"
        assert section["type"] == "okta"
        settings = section["okta"]
        assert set(settings) == {"org_url", "client_id", "private_key"}
        assert env["REQUESTS_CA_BUNDLE"] == env["SSL_CERT_FILE"]
        assert settings["private_key"].startswith("-----BEGIN PRIVATE KEY-----")

        now = int(time.time())
        signed = jwt.encode(
            {
                "iss": settings["client_id"],
                "sub": settings["client_id"],
                "aud": f"{settings['org_url']}/oauth2/v1/token",
                "iat": now,
                "exp": now + 300,
                "jti": str(uuid.uuid4()),
            },
            settings["private_key"],
            "RS256",
        )
        parts = urlsplit(settings["org_url"])
        context = ssl.create_default_context(cafile=env["SSL_CERT_FILE"])

        def get(method: str, path: str, body: str | None, headers: dict[str, str]) -> Any:
            connection = http.client.HTTPSConnection(parts.hostname, parts.port, context=context)
            try:
                connection.request(method, path, body=body, headers=headers)
                return json.loads(connection.getresponse().read())
            finally:
                connection.close()

        form = urlencode(
            {
                "grant_type": "client_credentials",
                "scope": " ".join(SCOPES),
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": signed,
            }
        )
        token = get(
            "POST",
            "/oauth2/v1/token",
            form,
            {"Content-Type": "application/x-www-form-urlencoded"},
        )["access_token"]
        members = get(
            "GET", "/api/v1/groups/00gA/users", None, {"Authorization": f"Bearer {token}"}
        )

    by_id = {user["id"]: user for user in members}
    # Okta keeps logins unique: the second Ann signs in with her e-mail.
    assert by_id["u1"]["profile"]["login"] == "ann@example.com"
    assert by_id["u2"]["profile"]["login"] == "ann2@example.com"
    assert by_id["u3"]["profile"]["login"] == "x+y.com@example.com"
    assert by_id["u3"]["status"] == "DEPROVISIONED"
