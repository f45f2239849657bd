"""The Entra source against the Graph emulator: real msal, real requests, real TLS."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from connect_user_sync.config import ConfigError, EntraSourceConfig, parse_config
from connect_user_sync.domain.models import DirectorySnapshot, DirectoryUser, GroupRule
from connect_user_sync.domain.usernames import derive_username
from connect_user_sync.errors import DirectoryReadError
from connect_user_sync.retry import RetryPolicy
from connect_user_sync.sources.entra import EntraSource, clear_app_cache
from connect_user_sync_emulators.graph import GraphEmulator, entra_demo

TENANT = "7a1c3b52-0d4e-4c8f-9a61-2f0e5d9b1c01"
CLIENT = "3e9f0a7d-61b2-4d5c-8e1f-a0b9c8d7e602"
SECRET = "Xy8Q~emulated.secret-value"

GraphFactory = Callable[..., GraphEmulator]


@pytest.fixture
def graph_factory(monkeypatch: pytest.MonkeyPatch) -> Iterator[GraphFactory]:
    clear_app_cache()
    started: list[GraphEmulator] = []

    def make(page_size_cap: int = 999) -> GraphEmulator:
        emulator = GraphEmulator(TENANT, CLIENT, SECRET, page_size_cap=page_size_cap).start()
        started.append(emulator)
        # The supported way to trust a private CA, exactly as behind a corporate proxy.
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", emulator.ca_file)
        return emulator

    yield make
    for emulator in started:
        emulator.stop()
    clear_app_cache()


@pytest.fixture
def graph(graph_factory: GraphFactory) -> GraphEmulator:
    return graph_factory()


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def config_for(graph: GraphEmulator, **changes: Any) -> EntraSourceConfig:
    values: dict[str, Any] = {
        "tenant_id": TENANT,
        "client_id": CLIENT,
        "client_secret": SECRET,
        "authority_host": graph.authority_host,
        "graph_url": graph.graph_url,
    }
    values.update(changes)
    return EntraSourceConfig(**values)


def source_for(
    graph: GraphEmulator, *, attribute: str = "upn", sleeps: Sleeps | None = None, **kwargs: Any
) -> EntraSource:
    config = config_for(graph, **kwargs.pop("config", {}))
    return EntraSource(
        config, attribute, sleep=sleeps if sleeps is not None else Sleeps(), **kwargs
    )


def rule(key: str, *, by_id: bool = False) -> GroupRule:
    return GroupRule(key=key, by_id=by_id, security_profiles=("Agent",), routing_profile="Basic")


def by_id(snapshot: DirectorySnapshot) -> dict[str, DirectoryUser]:
    return {user.source_id: user for user in snapshot.users}


def seed_users(graph: GraphEmulator, count: int, prefix: str = "u") -> list[str]:
    ids = [f"{prefix}{n:05d}" for n in range(count)]
    for user_id in ids:
        graph.add_user(user_id, f"{user_id}@contoso.com", mail=f"{user_id}@contoso.com")
    return ids


# ----------------------------------------------------------------------------- reading


def test_nested_groups_are_flattened_and_users_merged(graph: GraphEmulator) -> None:
    graph.add_user("u1", "ann@contoso.com", "ann.lee@contoso.com", "Ann", "Lee")
    graph.add_user("u2", "bob@contoso.com", "bob@contoso.com", "Bob", "Ode")
    graph.add_user("u3", "cyd@contoso.com", "cyd@contoso.com", "Cyd", "Park")
    graph.add_user("u4", "dee@contoso.com", None, "Dee", "Ray")
    graph.add_user("u5", "eve@contoso.com", "eve@contoso.com", "Eve", "Sun")
    graph.add_group("g-a", "CC-Agents", ["u1", "g-nested", "u2"])
    graph.add_group("g-nested", "CC-Agents-EMEA", ["u3", "u2", "g-deep"])
    graph.add_group("g-deep", "CC-Agents-EMEA-Night", ["u4", "g-a"])  # a cycle, too
    graph.add_group("g-b", "CC-Supervisors", ["u1", "u5"])

    snapshot = source_for(graph).read([rule("CC-Agents"), rule("g-b", by_id=True)])

    assert snapshot.complete
    assert snapshot.errors == ()
    users = by_id(snapshot)
    assert sorted(users) == ["u1", "u2", "u3", "u4", "u5"]
    assert len(snapshot.users) == 5
    assert users["u1"].groups == ("CC-Agents", "id:g-b")
    assert users["u4"].groups == ("CC-Agents",)
    assert users["u5"].groups == ("id:g-b",)
    ann = users["u1"]
    assert dict(ann.attributes) == {"upn": "ann@contoso.com", "mail": "ann.lee@contoso.com"}
    assert (ann.first_name, ann.last_name, ann.email, ann.enabled) == (
        "Ann",
        "Lee",
        "ann.lee@contoso.com",
        True,
    )
    reads = {read.name: read for read in snapshot.groups}
    assert reads["CC-Agents"].group_id == "g-a"
    assert reads["CC-Agents"].member_count == 4
    assert reads["id:g-b"].member_count == 2
    assert all(read.complete for read in snapshot.groups)


def test_every_page_is_followed_with_consistency_level(graph_factory: GraphFactory) -> None:
    graph = graph_factory(page_size_cap=2)
    ids = seed_users(graph, 7)
    graph.add_group("g-a", "CC-Agents", ids)

    snapshot = source_for(graph).read([rule("g-a", by_id=True)])

    # The emulator answers 400 to $count=true without ConsistencyLevel: a complete read
    # means every nextLink was sent with the header.
    assert snapshot.complete
    assert sorted(by_id(snapshot)) == ids
    assert graph.requests["graph.members"] == 4
    skip_pages = [p for p in graph.graph_request_log if "$skiptoken=" in p]
    assert len(skip_pages) == 3
    assert all("$select=" in p and "$count=true" in p for p in skip_pages)
    assert graph.token_requests == 1


def test_throttling_honours_retry_after_and_read_completes(graph_factory: GraphFactory) -> None:
    graph = graph_factory(page_size_cap=2)
    ids = seed_users(graph, 5)
    graph.add_group("g-a", "CC-Agents", ids)
    sleeps = Sleeps()
    source = source_for(graph, sleeps=sleeps)

    graph.throttle_next(2, retry_after=7)
    first = source.read([rule("CC-Agents")])
    assert sleeps == [7, 7]
    assert first.complete
    assert len(first.users) == 5

    sleeps.clear()
    graph.throttle_next(1, retry_after=3, status=503)
    second = source.read([rule("CC-Agents")])
    assert sleeps == [3]
    assert second.complete

    sleeps.clear()
    graph.throttle_next(1, retry_after=900)
    assert source.read([rule("CC-Agents")]).complete
    assert sleeps == [120]  # each wait is capped


def test_throttling_without_retry_after_backs_off_exponentially(graph: GraphEmulator) -> None:
    seed_users(graph, 1)
    graph.add_group("g-a", "CC-Agents", ["u00000"])
    sleeps = Sleeps()
    graph.throttle_next(3, retry_after=None)

    # The project's one retry policy: full jitter below a doubling ceiling (1 s, 2 s, 4 s).
    policy = RetryPolicy(base=1.0, cap=60.0, rng=lambda: 0.75, sleep=sleeps)
    snapshot = source_for(graph, retry=policy).read([rule("g-a", by_id=True)])

    assert snapshot.complete
    assert sleeps == [0.75 * 2**attempt for attempt in range(3)]


def test_a_page_failing_beyond_retries_marks_only_that_group_incomplete(
    graph_factory: GraphFactory,
) -> None:
    graph = graph_factory(page_size_cap=2)
    ids = seed_users(graph, 6)
    graph.add_group("g-a", "CC-Agents", ids[:5])
    graph.add_group("g-b", "CC-Supervisors", ids[5:])
    graph.fail_page("g-a", 1, status=500)
    sleeps = Sleeps()

    snapshot = source_for(graph, sleeps=sleeps, max_retries=3).read(
        [rule("CC-Agents"), rule("CC-Supervisors")]
    )

    assert not snapshot.complete
    reads = {read.name: read for read in snapshot.groups}
    assert not reads["CC-Agents"].complete
    assert reads["CC-Agents"].member_count == 2  # the first page only
    assert reads["CC-Supervisors"].complete
    assert len(snapshot.errors) == 1
    error = snapshot.errors[0]
    assert "CC-Agents" in error
    assert "page 2" in error
    assert "4 attempts" in error
    assert "500" in error
    assert "incomplete" in error
    assert len(sleeps) == 3
    # Reading stopped at the failed page: no third page was requested.
    assert graph.requests["graph.members"] == 1 + 4 + 1
    assert by_id(snapshot)["u00005"].groups == ("CC-Supervisors",)


def test_a_page_that_recovers_within_retries_is_complete(graph_factory: GraphFactory) -> None:
    graph = graph_factory(page_size_cap=2)
    ids = seed_users(graph, 5)
    graph.add_group("g-a", "CC-Agents", ids)
    graph.fail_page("g-a", 2, status=502, times=2)

    snapshot = source_for(graph).read([rule("g-a", by_id=True)])

    assert snapshot.complete
    assert len(snapshot.users) == 5


def test_disabled_accounts_are_reported_not_dropped(graph: GraphEmulator) -> None:
    graph.add_user("u1", "on@contoso.com", "on@contoso.com")
    graph.add_user("u2", "off@contoso.com", "off@contoso.com", account_enabled=False)
    graph.add_group("g-a", "CC-Agents", ["u1", "u2"])

    users = by_id(source_for(graph).read([rule("CC-Agents")]))

    assert users["u1"].enabled is True
    assert users["u2"].enabled is False


def test_guest_upn_comes_through_unchanged_and_is_flagged_by_the_username_rules(
    graph: GraphEmulator,
) -> None:
    guest_upn = "x_gmail.com#EXT#@tenant.onmicrosoft.com"
    graph.add_user("guest", guest_upn, "x@gmail.com", "Ex", "Guest", user_type="Guest")
    graph.add_group("g-a", "CC-Agents", ["guest"])

    guest = by_id(source_for(graph).read([rule("CC-Agents")]))["guest"]

    assert guest.attributes["upn"] == guest_upn
    by_upn = derive_username(dict(guest.attributes), "upn")
    assert by_upn.username is None
    assert by_upn.problem is not None
    assert "mail" in by_upn.problem
    assert derive_username(dict(guest.attributes), "mail").username == "x@gmail.com"


def test_user_without_mail_has_mail_none(graph: GraphEmulator) -> None:
    graph.add_user("u1", "nomail@contoso.com", mail=None, given_name="No", surname="Mail")
    graph.add_group("g-a", "CC-Agents", ["u1"])

    user = by_id(source_for(graph, attribute="mail").read([rule("CC-Agents")]))["u1"]

    assert user.attributes["mail"] is None
    assert user.email is None
    assert user.attributes["upn"] == "nomail@contoso.com"


def test_group_name_with_a_quote_is_escaped(graph: GraphEmulator) -> None:
    seed_users(graph, 1)
    graph.add_group("g-q", "O'Brien & Co #1", ["u00000"])

    snapshot = source_for(graph).read([rule("O'Brien & Co #1")])

    assert snapshot.complete
    assert snapshot.groups[0].group_id == "g-q"
    assert snapshot.users[0].groups == ("O'Brien & Co #1",)


# ----------------------------------------------------------------------------- errors


def test_wrong_secret_is_a_clear_directory_read_error(graph: GraphEmulator) -> None:
    source = source_for(graph, config={"client_secret": "not-the-secret"})

    with pytest.raises(DirectoryReadError) as caught:
        source.read([rule("CC-Agents")])

    message = str(caught.value)
    assert "rejected the client secret" in message
    assert CLIENT in message
    assert TENANT in message
    assert "AADSTS7000215" in message
    assert "Trace ID" not in message


def test_unknown_tenant_and_unknown_client_are_told_apart(graph: GraphEmulator) -> None:
    with pytest.raises(DirectoryReadError) as tenant:
        source_for(graph, config={"tenant_id": "no-such-tenant"}).read([rule("CC-Agents")])
    assert "no tenant no-such-tenant" in str(tenant.value)

    with pytest.raises(DirectoryReadError) as client:
        source_for(graph, config={"client_id": "no-such-app"}).read([rule("CC-Agents")])
    assert "no application with client_id no-such-app" in str(client.value)
    assert "AADSTS700016" in str(client.value)


def test_group_name_matching_no_group_is_a_config_error(graph: GraphEmulator) -> None:
    graph.add_group("g-a", "CC-Agents")

    with pytest.raises(ConfigError) as caught:
        source_for(graph).read([rule("CC-Agents"), rule("CC-Missing")])

    assert caught.value.path == "groups[1].name"
    assert "CC-Missing" in caught.value.problem
    assert "'id:'" in caught.value.fix
    assert graph.requests["graph.members"] == 0  # names are checked before any member read


def test_group_name_matching_two_groups_is_a_config_error(graph: GraphEmulator) -> None:
    graph.add_group("g-1", "CC-Agents")
    graph.add_group("g-2", "cc-agents")  # Entra matches display names case-insensitively

    with pytest.raises(ConfigError) as caught:
        source_for(graph).read([rule("CC-Agents")])

    assert caught.value.path == "groups[0].name"
    assert "2 Entra groups" in caught.value.problem
    assert "g-1" in caught.value.problem
    assert "g-2" in caught.value.problem
    assert "id:" in caught.value.fix


def test_unknown_group_id_is_a_config_error(graph: GraphEmulator) -> None:
    with pytest.raises(ConfigError) as caught:
        source_for(graph).read([rule("no-such-group", by_id=True)])

    assert caught.value.path == "groups[0].id"
    assert "no-such-group" in caught.value.problem


def test_missing_admin_consent_is_a_directory_read_error(graph: GraphEmulator) -> None:
    graph.add_group("g-a", "CC-Agents")
    graph.admin_consent = False

    with pytest.raises(DirectoryReadError) as caught:
        source_for(graph).read([rule("g-a", by_id=True)])

    message = str(caught.value)
    assert "GroupMember.Read.All" in message
    assert "User.Read.All" in message
    assert "admin consent" in message


def test_token_rejected_by_graph_is_a_directory_read_error(graph: GraphEmulator) -> None:
    seed_users(graph, 1)
    graph.add_group("g-a", "CC-Agents", ["u00000"])
    source = source_for(graph)
    assert source.read([rule("g-a", by_id=True)]).complete
    graph.revoke_tokens()  # msal still holds the (now refused) token in its cache

    with pytest.raises(DirectoryReadError) as caught:
        source.read([rule("g-a", by_id=True)])

    assert "rejected the access token" in str(caught.value)
    assert "InvalidAuthenticationToken" in str(caught.value)


def test_tls_trust_follows_requests_ca_bundle(
    graph: GraphEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)

    with pytest.raises(DirectoryReadError) as caught:
        source_for(graph).read([rule("CC-Agents")])

    assert "SSLError" in str(caught.value)
    assert graph.authority_host in str(caught.value)


# ----------------------------------------------------------------------------- cost


def test_token_is_fetched_once_across_pages_reads_and_instances(
    graph_factory: GraphFactory,
) -> None:
    graph = graph_factory(page_size_cap=2)
    ids = seed_users(graph, 6)
    graph.add_group("g-a", "CC-Agents", ids)

    for _ in range(2):  # two warm invocations, each building its own source
        snapshot = source_for(graph).read([rule("CC-Agents")])
        assert snapshot.complete

    assert graph.token_requests == 1
    assert graph.requests["discovery"] == 1
    assert graph.requests["graph.members"] == 2 * 3


def test_ten_thousand_members_take_one_request_per_999(graph: GraphEmulator) -> None:
    ids = seed_users(graph, 10_000)
    graph.add_group("g-big", "CC-Everyone", ids)
    graph.reset_counters()

    started = time.monotonic()
    snapshot = source_for(graph).read([rule("CC-Everyone")])
    elapsed = time.monotonic() - started

    assert snapshot.complete
    assert len(snapshot.users) == 10_000
    assert snapshot.groups[0].member_count == 10_000
    limit = math.ceil(10_000 / 999) + 5
    assert graph.graph_requests <= limit
    assert graph.requests["graph.members"] == math.ceil(10_000 / 999)
    assert graph.requests["graph.groups"] == 1
    assert graph.token_requests == 1
    print(f"10,000 members: {graph.graph_requests} Graph requests in {elapsed:.2f} s")


# ----------------------------------------------------------------------------- demo


def test_entra_demo_yields_a_valid_source_section(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_app_cache()
    directory = {
        "users": [
            {
                "id": "u1",
                "upn": "ann@example.com",
                "email": "ann@example.com",
                "first_name": "Ann",
                "last_name": "Lee",
                "groups": ["CC-Agents", "CC-Quality"],
            },
            {
                "id": "u2",
                "upn": "bob@example.com",
                "email": "bob@example.com",
                "enabled": False,
                "groups": ["CC-Agents"],
            },
        ],
        "groups": [{"id": "g-agents", "name": "CC-Agents"}],
    }
    with entra_demo(directory) as (section, env):
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        config = parse_config(
            {
                "source": section,
                "username": {"attribute": "upn"},
                "groups": [
                    {"name": "CC-Agents", "security_profiles": ["Agent"], "routing_profile": "B"},
                    {"name": "CC-Quality", "security_profiles": ["QA"], "routing_profile": "B"},
                ],
                "targets": [
                    {"instance_id": "11111111-2222-3333-4444-555555555555", "region": "us-east-1"}
                ],
                "deprovision": {"action": "report"},
            }
        )
        assert config.source.entra is not None
        snapshot = EntraSource(config.source.entra, "upn").read(config.groups)

    assert snapshot.complete
    users = by_id(snapshot)
    assert users["u1"].groups == ("CC-Agents", "CC-Quality")
    assert users["u2"].enabled is False
    assert snapshot.groups[0].group_id == "g-agents"
    clear_app_cache()
