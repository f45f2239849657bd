"""The Duo source against the Duo emulator: the real duo_client, signed requests, real TLS."""

from __future__ import annotations

import json
import math
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from connect_user_sync.config import ConfigError, DuoSourceConfig
from connect_user_sync.domain.models import DirectorySnapshot, DirectoryUser, GroupRule
from connect_user_sync.domain.usernames import derive_username
from connect_user_sync.errors import DirectoryReadError
from connect_user_sync.retry import RetryPolicy
from connect_user_sync.sources.duo import DuoSource
from connect_user_sync_emulators.duo import DuoEmulator

IKEY = "DIWJ8X6AEYOR5OMC6TQ1"
SKEY = "Zh5eGmUq9zpfQnyUIu5OL9iWoMMv5ZNmk3zLJ4Ep"


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def duo(monkeypatch: pytest.MonkeyPatch) -> Iterator[DuoEmulator]:
    with DuoEmulator(IKEY, SKEY) as emulator:
        # The supported way to trust a private CA, as behind a TLS-inspecting proxy.
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", emulator.ca_file)
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        yield emulator


def source_for(
    duo: DuoEmulator,
    *,
    attribute: str = "username",
    sleeps: Sleeps | None = None,
    attempts: int = 6,
    **config: Any,
) -> DuoSource:
    values = {"api_host": duo.api_host, "integration_key": IKEY, "secret_key": SKEY, **config}
    wait = sleeps if sleeps is not None else Sleeps()
    # rng 1.0: each backoff is its ceiling, 1, 2, 4 ... seconds, so waits can be asserted.
    policy = RetryPolicy(max_attempts=attempts, base=1.0, sleep=wait, rng=lambda: 1.0)
    return DuoSource(DuoSourceConfig(**values), attribute, retry=policy)


def rule(key: str, *, by_id: bool = False) -> GroupRule:
    return GroupRule(key=key, by_id=by_id, security_profiles=("Agent",), routing_profile="Basic")


def by_id(snapshot: DirectorySnapshot) -> dict[str, DirectoryUser]:
    return {user.source_id: user for user in snapshot.users}


def seed(duo: DuoEmulator, count: int, prefix: str = "DU") -> list[str]:
    ids = [f"{prefix}{n:05d}" for n in range(count)]
    for user_id in ids:
        duo.add_user(user_id, user_id.lower(), email=f"{user_id.lower()}@example.com")
    return ids


def logged(duo: DuoEmulator, route_prefix: str) -> list[dict[str, list[str]]]:
    """The query of every logged request whose path starts with ``route_prefix``."""
    found = []
    for entry in duo.request_log:
        parts = urlsplit(entry)
        if parts.path.startswith(route_prefix):
            found.append(parse_qs(parts.query))
    return found


def test_groups_by_name_and_by_id_with_every_field(duo: DuoEmulator) -> None:
    duo.add_user(
        "DUANN", "ann", email="ann.lee@example.com", firstname="Ann", lastname="Lee",
        aliases=["alee"],
    )  # fmt: skip
    duo.add_user("DUBOB", "bob", email="bob@example.com", realname="Bob van Ode")
    duo.add_user("DUCYD", "cyd", email="cyd@example.com")
    duo.add_group("DGA", "CC-Agents", ["DUANN", "DUBOB"])
    duo.add_group("DGB", "CC-Supervisors", ["DUANN", "DUCYD"])
    duo.add_group("DGC", "CC-Agents-Old", ["DUCYD"])

    snapshot = source_for(duo).read([rule("CC-Agents"), rule("DGB", by_id=True)])

    assert snapshot.complete and snapshot.errors == ()
    users = by_id(snapshot)
    assert sorted(users) == ["DUANN", "DUBOB", "DUCYD"]
    ann = users["DUANN"]
    assert ann.groups == ("CC-Agents", "id:DGB")
    assert dict(ann.attributes) == {"username": "ann", "email": ann.email, "alias1": "alee"}
    assert (ann.first_name, ann.last_name, ann.email) == ("Ann", "Lee", "ann.lee@example.com")
    assert ann.enabled is True
    # Without first and last names, the real name is split at its last space.
    assert (users["DUBOB"].first_name, users["DUBOB"].last_name) == ("Bob van", "Ode")
    assert users["DUCYD"].groups == ("id:DGB",)
    reads = {read.name: read for read in snapshot.groups}
    assert (reads["CC-Agents"].group_id, reads["CC-Agents"].member_count) == ("DGA", 2)
    assert (reads["id:DGB"].group_id, reads["id:DGB"].member_count) == ("DGB", 2)


def test_several_pages_at_the_largest_page_size_and_details_in_batches(duo: DuoEmulator) -> None:
    duo.page_size_cap = 2
    ids = seed(duo, 7)
    duo.add_group("DGA", "CC-Agents", ids)

    snapshot = source_for(duo).read([rule("DGA", by_id=True)])

    assert snapshot.complete
    assert sorted(by_id(snapshot)) == ids
    member_pages = logged(duo, "/admin/v2/groups/DGA/users")
    assert [q["offset"] for q in member_pages] == [["0"], ["2"], ["4"], ["6"]]
    assert all(q["limit"] == ["500"] for q in member_pages)  # the API's maximum
    detail_pages = logged(duo, "/admin/v1/users")
    assert detail_pages and all(len(json.loads(q["user_id_list"][0])) == 7 for q in detail_pages)
    assert duo.requests["groups"] == 0  # a group given by id needs no lookup


def test_user_details_come_100_ids_a_request_never_one_per_user(duo: DuoEmulator) -> None:
    ids = seed(duo, 250)
    duo.add_group("DGA", "CC-Agents", ids[:200])
    duo.add_group("DGB", "CC-Supervisors", ids[150:])

    snapshot = source_for(duo).read([rule("CC-Agents"), rule("CC-Supervisors")])

    assert snapshot.complete and len(snapshot.users) == 250
    batches = [json.loads(q["user_id_list"][0]) for q in logged(duo, "/admin/v1/users")]
    assert [len(batch) for batch in batches] == [100, 100, 50]
    assert sorted(uid for batch in batches for uid in batch) == ids  # each user asked once
    assert duo.api_requests == 1 + 2 + math.ceil(250 / 100)
    assert by_id(snapshot)["DU00170"].groups == ("CC-Agents", "CC-Supervisors")


def test_a_group_named_twice_is_read_once(duo: DuoEmulator) -> None:
    duo.add_group("DGA", "CC-Agents", seed(duo, 3))

    snapshot = source_for(duo).read([rule("CC-Agents"), rule("DGA", by_id=True)])

    assert snapshot.complete
    assert duo.requests["group_users"] == 1
    assert by_id(snapshot)["DU00000"].groups == ("CC-Agents", "id:DGA")


STATUSES = {"active": True, "bypass": True, "locked out": True, "disabled": False}


@pytest.mark.parametrize(("status", "enabled"), [*STATUSES.items(), ("pending deletion", False)])
def test_each_duo_status(duo: DuoEmulator, status: str, enabled: bool) -> None:
    duo.add_user("DU1", "ann", email="ann@example.com", status=status)
    duo.add_group("DGA", "CC-Agents", ["DU1"])

    snapshot = source_for(duo).read([rule("CC-Agents")])

    assert snapshot.complete
    assert by_id(snapshot)["DU1"].enabled is enabled


def test_an_unknown_status_leaves_the_user_out_and_the_read_incomplete(
    duo: DuoEmulator,
) -> None:
    duo.add_user("DU1", "ann", email="ann@example.com", status="suspended")
    duo.add_user("DU2", "bob", email="bob@example.com")
    duo.add_group("DGA", "CC-Agents", ["DU1", "DU2"])

    snapshot = source_for(duo).read([rule("CC-Agents")])

    assert not snapshot.complete
    assert sorted(by_id(snapshot)) == ["DU2"]
    (error,) = snapshot.errors
    assert "'suspended'" in error and "ann" in error


def test_a_user_without_an_email_has_nothing_to_assert(duo: DuoEmulator) -> None:
    duo.add_user("DU1", "ann", email=None)
    duo.add_group("DGA", "CC-Agents", ["DU1"])

    user = by_id(source_for(duo, attribute="email").read([rule("CC-Agents")]))["DU1"]

    # Duo sends "" for a missing e-mail: it must reach the planner as absent, not guessed.
    assert user.attributes["email"] is None and user.email is None
    result = derive_username(user.attributes, "email")
    assert result.username is None and "no 'email' value" in str(result.problem)


def test_a_name_matching_no_group_is_a_config_error_naming_the_key(duo: DuoEmulator) -> None:
    duo.add_group("DGA", "CC-Agents", seed(duo, 1))

    with pytest.raises(ConfigError) as info:
        source_for(duo).read([rule("CC-Agents"), rule("cc-supervisors")])

    assert info.value.path == "groups[1].name"
    assert duo.requests["group_users"] == 0  # stopped before any member was read


def test_a_name_differing_only_in_case_is_pointed_out(duo: DuoEmulator) -> None:
    duo.add_group("DGA", "CC-Agents", [])

    with pytest.raises(ConfigError) as info:
        source_for(duo).read([rule("cc-agents")])

    assert info.value.path == "groups[0].name"
    assert "'CC-Agents'" in info.value.problem


def test_a_name_matching_several_groups_lists_their_ids(duo: DuoEmulator) -> None:
    duo.add_group("DGA", "CC-Agents", [])
    duo.add_group("DGB", "CC-Agents", [])

    with pytest.raises(ConfigError) as info:
        source_for(duo).read([rule("CC-Agents")])

    assert info.value.path == "groups[0].name"
    assert "DGA" in info.value.problem and "DGB" in info.value.problem
    assert "'id:'" in info.value.fix


def test_an_unknown_group_id_is_a_config_error(duo: DuoEmulator) -> None:
    with pytest.raises(ConfigError) as info:
        source_for(duo).read([rule("DGNOPE", by_id=True)])

    assert info.value.path == "groups[0].id"


def test_names_are_found_across_pages_of_the_group_list(duo: DuoEmulator) -> None:
    duo.page_size_cap = 2
    for n in range(5):
        duo.add_group(f"DG{n}", f"Team {n}", [])
    duo.add_group("DGX", "CC-Agents", seed(duo, 1))

    snapshot = source_for(duo).read([rule("CC-Agents")])

    assert snapshot.complete and duo.requests["groups"] == 3
    assert snapshot.groups[0].group_id == "DGX"


def test_a_wrong_secret_key_is_a_directory_error_that_names_the_fix(duo: DuoEmulator) -> None:
    source = source_for(duo, secret_key="not-the-secret-key-at-all")

    with pytest.raises(DirectoryReadError) as info:
        source.read([rule("CC-Agents")])

    message = str(info.value)
    assert "40103" in message and IKEY in message and "secret_key_arn" in message
    assert "not-the-secret-key-at-all" not in message and SKEY not in message


def test_a_wrong_integration_key_is_a_directory_error(duo: DuoEmulator) -> None:
    with pytest.raises(DirectoryReadError) as info:
        source_for(duo, integration_key="DIWRONGWRONGWRONG000").read([rule("DGA", by_id=True)])

    assert "40102" in str(info.value) and "integration_key" in str(info.value)


def test_missing_read_permission_names_it(duo: DuoEmulator) -> None:
    duo.read_permission = False

    with pytest.raises(DirectoryReadError) as info:
        source_for(duo).read([rule("DGA", by_id=True)])

    assert "Grant read resource" in str(info.value)


def test_throttling_is_retried_and_the_read_completes(duo: DuoEmulator) -> None:
    duo.add_group("DGA", "CC-Agents", seed(duo, 3))
    sleeps = Sleeps()

    duo.throttle_next(3)
    snapshot = source_for(duo, sleeps=sleeps).read([rule("CC-Agents")])

    assert snapshot.complete and len(snapshot.users) == 3
    assert sleeps == [1.0, 2.0, 4.0]  # our own backoff; duo_client did not sleep on its own
    assert duo.rejected[42901] == 3


def test_retry_after_is_honoured(duo: DuoEmulator) -> None:
    duo.add_group("DGA", "CC-Agents", seed(duo, 1))
    sleeps = Sleeps()

    duo.throttle_next(1, retry_after=7)
    assert source_for(duo, sleeps=sleeps).read([rule("DGA", by_id=True)]).complete

    assert sleeps == [7.0]


def test_throttling_that_never_clears_is_an_incomplete_read_within_a_bounded_wait(
    duo: DuoEmulator,
) -> None:
    duo.add_group("DGA", "CC-Agents", seed(duo, 3))
    sleeps = Sleeps()

    duo.throttle_next(10_000)
    snapshot = source_for(duo, sleeps=sleeps).read([rule("DGA", by_id=True)])

    assert not snapshot.complete
    assert snapshot.users == ()
    assert sum(sleeps) <= 120.0 and len(sleeps) <= 5
    assert any("429" in error and "attempts" in error for error in snapshot.errors)


def test_a_member_page_that_keeps_failing_marks_only_that_group_incomplete(
    duo: DuoEmulator,
) -> None:
    duo.page_size_cap = 2
    ids = seed(duo, 6)
    duo.add_group("DGA", "CC-Agents", ids[:5])
    duo.add_group("DGB", "CC-Supervisors", ids[5:])
    duo.fail_members("DGA", offset=2, status=500)
    sleeps = Sleeps()

    snapshot = source_for(duo, sleeps=sleeps, attempts=4).read(
        [rule("CC-Agents"), rule("CC-Supervisors")]
    )

    assert not snapshot.complete
    reads = {read.name: read for read in snapshot.groups}
    assert not reads["CC-Agents"].complete and reads["CC-Agents"].member_count == 2
    assert reads["CC-Supervisors"].complete
    (error,) = snapshot.errors
    assert "CC-Agents" in error and "member page 2" in error and "4 attempts" in error
    assert "500" in error and "incomplete" in error
    assert len(sleeps) == 3
    # Reading stopped at the failed page: the third page was never requested.
    assert [q["offset"] for q in logged(duo, "/admin/v2/groups/DGA/")] == [["0"]] + [["2"]] * 4


def test_a_page_that_recovers_within_its_retries_is_complete(duo: DuoEmulator) -> None:
    duo.page_size_cap = 2
    duo.add_group("DGA", "CC-Agents", seed(duo, 5))
    duo.fail_members("DGA", offset=4, status=503, times=2)

    snapshot = source_for(duo).read([rule("DGA", by_id=True)])

    assert snapshot.complete and len(snapshot.users) == 5


def test_a_listing_short_of_total_objects_is_incomplete(duo: DuoEmulator) -> None:
    duo.add_group("DGA", "CC-Agents", seed(duo, 4))
    duo.hide_members("DGA", 1)

    snapshot = source_for(duo).read([rule("CC-Agents")])

    assert not snapshot.complete
    assert "reported 4 members but 3 came back" in snapshot.errors[0]


def test_failing_user_details_leave_those_users_out_and_the_read_incomplete(
    duo: DuoEmulator,
) -> None:
    duo.add_group("DGA", "CC-Agents", seed(duo, 3))
    duo.fail_route("users", status=502)

    snapshot = source_for(duo, attempts=2).read([rule("CC-Agents")])

    assert not snapshot.complete and snapshot.users == ()
    assert not snapshot.groups[0].complete and snapshot.groups[0].member_count == 3
    assert "details of 3 Duo group members" in snapshot.errors[0]


def test_a_failing_group_list_marks_named_groups_incomplete(duo: DuoEmulator) -> None:
    ids = seed(duo, 2)
    duo.add_group("DGA", "CC-Agents", ids[:1])
    duo.add_group("DGB", "CC-Supervisors", ids[1:])
    duo.fail_route("groups", status=500)

    snapshot = source_for(duo, attempts=2).read([rule("CC-Agents"), rule("DGB", by_id=True)])

    assert not snapshot.complete
    reads = {read.name: read for read in snapshot.groups}
    assert not reads["CC-Agents"].complete and reads["id:DGB"].complete
    assert sorted(by_id(snapshot)) == ["DU00001"]


def test_a_duo_that_never_answers_times_out_instead_of_hanging(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A listener that never accepts: the kernel completes the TCP handshake, then silence.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    with socket.create_server(("127.0.0.1", 0), backlog=8) as listener:
        config = DuoSourceConfig(f"localhost:{listener.getsockname()[1]}", IKEY, secret_key=SKEY)
        policy = RetryPolicy(max_attempts=2, sleep=Sleeps())
        source = DuoSource(config, "username", timeout=0.3, retry=policy)
        snapshot = source.read([rule("DGA", by_id=True)])

    assert not snapshot.complete
    assert "2 attempts" in snapshot.errors[0] and "timed out" in snapshot.errors[0]


def test_api_host_with_a_port_is_split_and_signed_without_it(duo: DuoEmulator) -> None:
    duo.add_group("DGA", "CC-Agents", seed(duo, 1))
    source = source_for(duo, api_host=duo.api_host.upper())

    # The emulator verifies the signature over the host without its port, lower-cased.
    assert source.read([rule("DGA", by_id=True)]).complete
    assert (source.host, source.port) == ("localhost", duo.server.port)


def test_api_host_without_a_port_uses_https_on_443() -> None:
    config = DuoSourceConfig("api-1234abcd.duosecurity.com", IKEY, secret_key=SKEY)

    source = DuoSource(config, "email")

    assert (source.host, source.port) == ("api-1234abcd.duosecurity.com", None)
    admin = source._client()  # duo_client connects to port 443 when port is None
    assert (admin.host, admin.port, admin.timeout) == ("api-1234abcd.duosecurity.com", None, 30.0)


def test_an_api_host_with_a_bad_port_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        DuoSource(DuoSourceConfig("localhost:99999", IKEY, secret_key=SKEY), "username")

    assert info.value.path == "source.duo.api_host"


def test_an_unknown_username_attribute_is_a_config_error(duo: DuoEmulator) -> None:
    with pytest.raises(ConfigError) as info:
        source_for(duo, attribute="upn")

    assert info.value.path == "username.attribute"


def test_tls_is_verified_against_the_configured_ca(
    duo: DuoEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")  # back to Duo's pinned CA bundle

    with pytest.raises(DirectoryReadError) as info:
        source_for(duo).read([rule("DGA", by_id=True)])

    assert "TLS verification failed" in str(info.value)
    assert "REQUESTS_CA_BUNDLE" in str(info.value)


def test_ssl_cert_file_is_honoured_too(duo: DuoEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    duo.add_group("DGA", "CC-Agents", seed(duo, 1))
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    monkeypatch.setenv("SSL_CERT_FILE", duo.ca_file)

    assert source_for(duo).read([rule("DGA", by_id=True)]).complete
