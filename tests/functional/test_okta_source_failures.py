"""The Okta source when things go wrong: rate limits, failing pages, credentials, TLS.

The real okta SDK against the Okta emulator, with the fake clock of ``okta_world``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from connect_user_sync.errors import DirectoryReadError
from connect_user_sync_emulators.okta import OktaEmulator, generate_key_pair
from tests.functional.okta_world import (
    CLIENT,
    Clock,
    OktaFactory,
    clock,
    key_config,
    key_pair,
    okta,
    okta_factory,
    rule,
    seed,
    source_for,
    token_config,
)

__all__ = ["clock", "key_pair", "okta", "okta_factory"]  # fixtures

# ----------------------------------------------------------------------------- rate limits


def test_429_waits_for_the_reset_beyond_the_sdks_two_retries(
    okta: OktaEmulator, clock: Clock
) -> None:
    ids = seed(okta, 3)
    okta.add_group("00gA", "CC-Agents", ids)
    okta.throttle_next(4, reset_in=20)

    snapshot = source_for(token_config(okta), clock).read([rule("00gA", by_id=True)])

    assert snapshot.complete
    assert len(snapshot.users) == 3
    assert clock.sleeps == [21.0, 21.0, 21.0, 21.0]  # until each reset, plus its rounding second
    assert okta.throttled == 4


def test_a_spent_rate_limit_is_waited_out_before_the_next_call(
    okta_factory: OktaFactory, clock: Clock
) -> None:
    okta = okta_factory(rate_limit=3)
    ids = seed(okta, 450)
    okta.add_group("00gA", "CC-Agents", ids)

    snapshot = source_for(token_config(okta), clock).read([rule("00gA", by_id=True)])

    assert snapshot.complete and len(snapshot.users) == 450
    # group lookup, page 1, page 2 spend the bucket (Remaining: 0); page 3 waits first.
    assert okta.throttled == 0
    assert len(clock.sleeps) == 1 and 60 <= clock.sleeps[0] <= 62


def test_a_429_that_never_clears_leaves_the_group_incomplete_within_the_wait_bound(
    okta_factory: OktaFactory, clock: Clock
) -> None:
    okta = okta_factory(page_size_cap=2)
    ids = seed(okta, 6)
    okta.add_group("00gA", "CC-Agents", ids[:4])
    okta.add_group("00gB", "CC-Supervisors", ids[4:])
    okta.fail_page("00gA", 1, status=429)

    snapshot = source_for(token_config(okta), clock, max_total_wait=90).read(
        [rule("00gA", by_id=True), rule("00gB", by_id=True)]
    )

    assert not snapshot.complete
    reads = {read.name: read for read in snapshot.groups}
    assert not reads["id:00gA"].complete and reads["id:00gB"].complete
    assert reads["id:00gA"].member_count == 2
    assert sum(clock.sleeps) <= 90
    assert "E0000047" in snapshot.errors[0] and "incomplete" in snapshot.errors[0]


def test_a_page_that_keeps_failing_marks_its_group_incomplete(
    okta_factory: OktaFactory, clock: Clock
) -> None:
    okta = okta_factory(page_size_cap=2)
    ids = seed(okta, 5)
    okta.add_group("00gA", "CC-Agents", ids)
    okta.fail_page("00gA", 1, status=500)

    snapshot = source_for(token_config(okta), clock, max_attempts=4).read([rule("CC-Agents")])

    assert not snapshot.complete
    (error,) = snapshot.errors
    assert "page 2" in error and "4 attempts" in error and "500" in error
    assert snapshot.groups[0].member_count == 2
    assert okta.requests["group.users"] == 1 + 4  # stopped at the failed page
    assert len(clock.sleeps) == 3


def test_a_page_that_recovers_is_complete(okta_factory: OktaFactory, clock: Clock) -> None:
    okta = okta_factory(page_size_cap=2)
    ids = seed(okta, 5)
    okta.add_group("00gA", "CC-Agents", ids)
    okta.fail_page("00gA", 2, status=503, times=2)

    snapshot = source_for(token_config(okta), clock).read([rule("00gA", by_id=True)])

    assert snapshot.complete and len(snapshot.users) == 5


# ----------------------------------------------------------------------------- credentials


def test_a_wrong_api_token_is_a_directory_read_error(okta: OktaEmulator, clock: Clock) -> None:
    with pytest.raises(DirectoryReadError) as caught:
        source_for(token_config(okta, api_token="wrong-token"), clock).read([rule("CC-Agents")])

    message = str(caught.value)
    assert "E0000011" in message and "rejected the API token" in message
    assert "Security > API > Tokens" in message
    assert "wrong-token" not in message


def test_a_key_the_app_does_not_know_is_named(
    okta: OktaEmulator, clock: Clock, key_pair: tuple[str, dict[str, Any]]
) -> None:
    other_key, _ = generate_key_pair()

    with pytest.raises(DirectoryReadError) as caught:
        source_for(key_config(okta, other_key), clock).read([rule("CC-Agents")])

    message = str(caught.value)
    assert "invalid_client" in message and "signature is invalid" in message
    assert "public key registered on the app" in message
    assert "PRIVATE KEY" not in message


def test_a_private_key_that_is_not_a_key_is_named_without_echoing_it(
    okta: OktaEmulator, clock: Clock
) -> None:
    with pytest.raises(DirectoryReadError) as caught:
        source_for(key_config(okta, "not-a-pem-at-all-s3cr3t"), clock).read([rule("CC-Agents")])

    assert "not an RSA private key" in str(caught.value)
    assert "s3cr3t" not in str(caught.value)


def test_missing_scopes_and_roles_say_what_to_grant(
    okta: OktaEmulator, clock: Clock, key_pair: tuple[str, dict[str, Any]]
) -> None:
    okta.add_group("00gA", "CC-Agents")
    source = source_for(key_config(okta, key_pair[0]), clock)

    okta.apps[CLIENT].scopes = frozenset({"okta.users.read"})
    with pytest.raises(DirectoryReadError) as scope:
        source.read([rule("CC-Agents")])
    okta.apps[CLIENT].scopes = frozenset({"okta.groups.read", "okta.users.read"})
    okta.apps[CLIENT].admin_role = False
    with pytest.raises(DirectoryReadError) as role:
        source.read([rule("CC-Agents")])
    okta.apps[CLIENT].admin_role = True
    okta.apps[CLIENT].require_dpop = True
    with pytest.raises(DirectoryReadError) as dpop:
        source.read([rule("CC-Agents")])

    assert "invalid_scope" in str(scope.value) and "Okta API Scopes" in str(scope.value)
    assert "E0000006" in str(role.value) and "Read-Only Administrator" in str(role.value)
    assert "DPoP" in str(dpop.value)


def test_stray_okta_settings_on_the_machine_are_ignored(
    okta: OktaEmulator,
    clock: Clock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seed(okta, 1)
    okta.add_group("00gA", "CC-Agents", ["00u00000"])
    stray = "okta:\n  client:\n    orgUrl: https://stray.okta.com\n    token: stray-token\n"
    (tmp_path / "okta.yaml").write_text(stray, encoding="utf-8")
    (tmp_path / ".okta").mkdir()
    (tmp_path / ".okta" / "okta.yaml").write_text(stray, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("OKTA_CLIENT_ORGURL", "https://stray.okta.com")
    monkeypatch.setenv("OKTA_CLIENT_TOKEN", "stray-token")
    monkeypatch.setenv("OKTA_CLIENT_AUTHORIZATIONMODE", "Bearer")
    monkeypatch.setenv("OKTA_CLIENT_PROXY_HOST", "127.0.0.1")
    monkeypatch.setenv("OKTA_CLIENT_PROXY_PORT", "9")

    snapshot = source_for(token_config(okta), clock).read([rule("CC-Agents")])

    assert snapshot.complete and len(snapshot.users) == 1


def test_tls_trust_follows_requests_ca_bundle(
    okta: OktaEmulator, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    with pytest.raises(DirectoryReadError) as caught:
        source_for(token_config(okta), clock).read([rule("CC-Agents")])
    assert "TLS verification failed" in str(caught.value)

    monkeypatch.setenv("SSL_CERT_FILE", okta.ca_file)
    okta.add_group("00gA", "CC-Agents")
    assert source_for(token_config(okta), clock).read([rule("CC-Agents")]).complete
