"""The Duo Admin API emulator: Duo's own client works against it, and bad signatures do not.

Requests are signed with duo_client's reference signing code (``duo_client.client.sign``),
never with the emulator's, so that these tests check the emulator against Duo's rules.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import ssl
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import duo_client
import pytest
from duo_client.client import sign

from connect_user_sync_emulators.duo import DuoEmulator

IKEY = "DIWJ8X6AEYOR5OMC6TQ1"
SKEY = "Zh5eGmUq9zpfQnyUIu5OL9iWoMMv5ZNmk3zLJ4Ep"


@pytest.fixture
def duo() -> Iterator[DuoEmulator]:
    with DuoEmulator(IKEY, SKEY, page_size_cap=2) as emulator:
        for n in range(5):
            emulator.add_user(f"DU{n}", f"user{n}", email=f"user{n}@example.com")
        emulator.add_group("DG1", "CC-Agents", [f"DU{n}" for n in range(5)])
        emulator.add_group("DG2", "CC-Supervisors", ["DU0"])
        yield emulator


def admin(duo: DuoEmulator, skey: str = SKEY, ikey: str = IKEY, **options: Any) -> Any:
    host, port = duo.api_host.split(":")
    options.setdefault("ca_certs", duo.ca_file)
    return duo_client.Admin(ikey=ikey, skey=skey, host=host, port=int(port), **options)


def raw_get(
    duo: DuoEmulator,
    path: str,
    params: dict[str, str],
    *,
    sign_host: str = "localhost",
    sign_params: dict[str, str] | None = None,
    date: str | None = None,
    headers: dict[str, str] | None = None,
    signed_headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    """A GET signed by duo_client's signing function, sent with http.client."""
    date = date or email.utils.formatdate()
    signed = {k: [v] for k, v in (sign_params if sign_params is not None else params).items()}
    auth = sign(
        IKEY,
        SKEY,
        "GET",
        sign_host,
        path,
        date,
        5,
        signed,
        body="",
        additional_headers=signed_headers if signed_headers is not None else headers,
    )
    sent = {"Authorization": auth, **(headers or {"Date": date})}
    context = ssl.create_default_context(cafile=duo.ca_file)
    port = int(duo.api_host.split(":")[1])
    conn = http.client.HTTPSConnection("localhost", port, context=context, timeout=5)
    try:
        conn.request("GET", f"{path}?{urllib.parse.urlencode(params)}", headers=sent)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_duo_client_pages_group_members_and_lists_groups(duo: DuoEmulator) -> None:
    client = admin(duo)

    members = list(client.get_group_users_iterator("DG1"))
    groups = client.get_groups()

    assert [m["user_id"] for m in members] == ["DU0", "DU1", "DU2", "DU3", "DU4"]
    assert set(members[0]) == {"user_id", "username"}
    assert duo.requests["group_users"] == 3  # 2 + 2 + 1 rows
    assert {g["name"]: g["group_id"] for g in groups} == {
        "CC-Agents": "DG1",
        "CC-Supervisors": "DG2",
    }


def test_users_by_id_list_carry_status_email_names_and_groups(duo: DuoEmulator) -> None:
    duo.add_user("DU9", "zed", status="locked out", firstname="Zed", aliases=["z.ed"])
    duo.groups["DG2"].members.append("DU9")

    users = list(admin(duo).get_users_by_ids(["DU9", "DU1", "nobody"]))

    assert [u["user_id"] for u in users] == ["DU9", "DU1"]
    zed = users[0]
    assert (zed["status"], zed["firstname"], zed["email"], zed["alias1"]) == (
        "locked out",
        "Zed",
        "",
        "z.ed",
    )
    assert zed["aliases"] == {"alias1": "z.ed"}
    assert [g["name"] for g in zed["groups"]] == ["CC-Supervisors"]


def test_paging_metadata_is_duos(duo: DuoEmulator) -> None:
    client = admin(duo)

    response, data = client.api_call("GET", "/admin/v2/groups/DG1/users", {"offset": "2"})
    _, middle = client.parse_json_response_and_metadata(response, data)
    response, data = client.api_call("GET", "/admin/v2/groups/DG1/users", {"offset": "4"})
    rows, last = client.parse_json_response_and_metadata(response, data)

    assert middle == {"total_objects": 5, "next_offset": 4, "prev_offset": 0}
    assert last == {"total_objects": 5, "prev_offset": 2}
    assert [r["user_id"] for r in rows] == ["DU4"]


@pytest.mark.parametrize(
    ("ikey", "skey", "code"),
    [(IKEY, "not-the-secret-key", 40103), ("DIUNKNOWNINTEGRATION", SKEY, 40102)],
)
def test_wrong_keys_are_refused_with_duos_codes(
    duo: DuoEmulator, ikey: str, skey: str, code: int
) -> None:
    with pytest.raises(RuntimeError) as info:
        admin(duo, skey=skey, ikey=ikey).get_groups()

    assert info.value.status == 401  # type: ignore[attr-defined]
    assert info.value.data["code"] == code  # type: ignore[attr-defined]
    assert duo.rejected[code] == 1


def test_a_request_without_credentials_is_refused(duo: DuoEmulator) -> None:
    context = ssl.create_default_context(cafile=duo.ca_file)
    conn = http.client.HTTPSConnection("localhost", duo.server.port, context=context)
    conn.request("GET", "/admin/v1/groups", headers={"Date": email.utils.formatdate()})
    response = conn.getresponse()

    assert response.status == 401
    assert json.loads(response.read())["code"] == 40101


def test_the_signature_covers_the_parameters(duo: DuoEmulator) -> None:
    ok, _ = raw_get(duo, "/admin/v1/groups", {"limit": "1"})
    tampered, body = raw_get(duo, "/admin/v1/groups", {"limit": "2"}, sign_params={"limit": "1"})

    assert ok == 200
    assert (tampered, body["code"]) == (401, 40103)


def test_the_signature_covers_the_host_without_its_port(duo: DuoEmulator) -> None:
    lower, _ = raw_get(duo, "/admin/v1/groups", {}, sign_host="LocalHost")
    with_port, body = raw_get(duo, "/admin/v1/groups", {}, sign_host=duo.api_host)
    other, _ = raw_get(duo, "/admin/v1/groups", {}, sign_host="api-other.duosecurity.com")

    assert lower == 200  # Duo lower-cases the host
    assert (with_port, body["code"]) == (401, 40103)
    assert other == 401


def test_x_duo_date_and_x_duo_headers_are_part_of_the_signature(duo: DuoEmulator) -> None:
    date = email.utils.formatdate()
    headers = {"X-Duo-Date": date, "X-Duo-Trace": "abc"}

    ok, _ = raw_get(duo, "/admin/v1/groups", {}, date=date, headers=headers)
    tampered, body = raw_get(
        duo,
        "/admin/v1/groups",
        {},
        date=date,
        headers={**headers, "X-Duo-Trace": "abd"},
        signed_headers=headers,
    )

    assert ok == 200
    assert (tampered, body["code"]) == (401, 40103)


def test_a_stale_date_is_refused(duo: DuoEmulator) -> None:
    stale = email.utils.formatdate(time.time() - 900)

    status, body = raw_get(duo, "/admin/v1/groups", {}, date=stale)

    assert (status, body["code"]) == (401, 40105)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/admin/v2/groups/DG1/users", {"limit": "501"}),
        ("/admin/v1/users", {"limit": "301"}),
        ("/admin/v1/groups", {"limit": "0"}),
        ("/admin/v1/users", {"user_id_list": json.dumps([f"DU{n}" for n in range(101)])}),
        ("/admin/v1/users", {"user_id_list": "DU1,DU2"}),
    ],
)
def test_out_of_range_parameters_are_refused(
    duo: DuoEmulator, path: str, params: dict[str, str]
) -> None:
    status, body = raw_get(duo, path, params)

    assert (status, body["code"], body["stat"]) == (400, 40002, "FAIL")


def test_throttling_failures_and_missing_groups(duo: DuoEmulator) -> None:
    duo.throttle_next(2, retry_after=3)
    duo.fail_members("DG1", offset=2, status=503, times=1)

    first, throttled = raw_get(duo, "/admin/v1/groups", {})
    second, _ = raw_get(duo, "/admin/v1/groups", {})
    third, _ = raw_get(duo, "/admin/v1/groups", {})
    failed, _ = raw_get(duo, "/admin/v2/groups/DG1/users", {"offset": "2"})
    recovered, _ = raw_get(duo, "/admin/v2/groups/DG1/users", {"offset": "2"})
    missing, not_found = raw_get(duo, "/admin/v2/groups/DG404/users", {})

    assert (first, second, third) == (429, 429, 200)
    assert throttled["code"] == 42901
    assert (failed, recovered) == (503, 200)
    assert (missing, not_found["code"]) == (404, 40401)
    assert duo.rejected[42901] == 2
    assert duo.requests == {"groups": 3, "group_users": 3}


def test_a_hidden_member_leaves_the_listing_short_of_total_objects(duo: DuoEmulator) -> None:
    duo.hide_members("DG1", 1)

    rows = list(admin(duo).get_group_users_iterator("DG1"))
    _, body = raw_get(duo, "/admin/v2/groups/DG1/users", {"limit": "500"})

    assert len(rows) == 4
    assert body["metadata"]["total_objects"] == 5


def test_an_application_without_read_permission_gets_403(duo: DuoEmulator) -> None:
    duo.read_permission = False

    status, body = raw_get(duo, "/admin/v1/users", {})

    assert (status, body["code"]) == (403, 40301)


def test_tls_is_verified_against_the_emulators_ca_only(duo: DuoEmulator) -> None:
    # duo_client's default trust is Duo's pinned CA bundle: the emulator is not in it.
    pinned = admin(duo, ca_certs=None)

    with pytest.raises(ssl.SSLError):
        pinned.get_groups()
    assert admin(duo).get_groups()
