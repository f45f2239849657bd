"""The Okta source against the Okta emulator: the real okta SDK over real TLS (reading).

Pages, groups by name and by id, statuses, raw profiles, configuration, cost. Failures,
rate limits and credentials are in ``test_okta_source_failures``.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from connect_user_sync.config import ConfigError, parse_config
from connect_user_sync.domain.models import DirectorySnapshot
from connect_user_sync.domain.usernames import derive_username
from connect_user_sync.errors import DirectoryReadError
from connect_user_sync.sources import build_source
from connect_user_sync.sources.okta import OktaSource
from connect_user_sync_emulators.okta import OktaEmulator
from tests.functional.okta_world import (
    TOKEN,
    Clock,
    by_id,
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

# ----------------------------------------------------------------------------- reading


def test_three_pages_by_name_and_by_id_with_an_api_token(okta: OktaEmulator, clock: Clock) -> None:
    ids = seed(okta, 450)
    okta.add_group("00gAgents", "CC-Agents", ids)
    okta.add_group("00gSup", "CC-Supervisors", ids[:3])
    okta.add_group("00gOther", "CC-Agents-Night", ids[:1])  # shares the prefix only

    snapshot = source_for(token_config(okta), clock).read(
        [rule("CC-Agents"), rule("00gSup", by_id=True)]
    )

    assert snapshot.complete and snapshot.errors == ()
    users = by_id(snapshot)
    assert sorted(users) == ids
    assert users[ids[0]].groups == ("CC-Agents", "id:00gSup")
    assert users[ids[449]].groups == ("CC-Agents",)
    reads = {read.name: read for read in snapshot.groups}
    assert (reads["CC-Agents"].group_id, reads["CC-Agents"].member_count) == ("00gAgents", 450)
    assert reads["id:00gSup"].member_count == 3
    # 450 members at 200 a page: 3 pages, each asked for with limit=200 and the cursor.
    pages = [p for p in okta.request_log if "/groups/00gAgents/users" in p]
    assert len(pages) == 3
    assert all("limit=200" in p for p in pages)
    assert (
        "after=" not in pages[0] and "after=00u00199" in pages[1] and "after=00u00399" in pages[2]
    )
    assert okta.requests["groups.list"] == 1 and okta.requests["group"] == 1
    assert okta.token_requests == 0


def test_private_key_jwt_reads_with_one_token(
    okta: OktaEmulator, clock: Clock, key_pair: tuple[str, dict[str, Any]]
) -> None:
    ids = seed(okta, 401)
    okta.add_group("00gA", "CC-Agents", ids)

    snapshot = source_for(key_config(okta, key_pair[0]), clock).read([rule("CC-Agents")])

    assert snapshot.complete
    assert len(snapshot.users) == 401
    assert okta.token_requests == 1  # one assertion, one access token, for every page
    assert okta.requests["group.users"] == 3


def test_profile_fields_and_every_status(okta: OktaEmulator, clock: Clock) -> None:
    statuses = {
        "ACTIVE": True,
        "PASSWORD_EXPIRED": True,
        "LOCKED_OUT": True,
        "RECOVERY": True,
        "SUSPENDED": False,
        "DEPROVISIONED": False,
        "STAGED": False,
        "PROVISIONED": False,
    }
    for status in statuses:
        okta.add_user(
            f"00u{status}",
            f"{status.lower()}@example.com",
            f"{status.lower()}.mail@example.com",
            "First",
            status.title(),
            status=status,
        )
    okta.add_group("00gA", "CC-Agents", [f"00u{s}" for s in statuses])

    snapshot = source_for(token_config(okta), clock).read([rule("CC-Agents")])

    assert snapshot.complete
    users = by_id(snapshot)
    assert {status: users[f"00u{status}"].enabled for status in statuses} == statuses
    locked = users["00uLOCKED_OUT"]
    assert dict(locked.attributes) == {
        "login": "locked_out@example.com",
        "email": "locked_out.mail@example.com",
    }
    assert (locked.first_name, locked.last_name, locked.email) == (
        "First",
        "Locked_Out",
        "locked_out.mail@example.com",
    )


def test_an_unknown_status_fails_closed(okta: OktaEmulator, clock: Clock) -> None:
    seed(okta, 1)
    okta.add_user("00uNew", "new@example.com", status="PENDING_USER_ACTION")
    okta.add_group("00gA", "CC-Agents", ["00u00000", "00uNew"])

    snapshot = source_for(token_config(okta), clock).read([rule("CC-Agents")])

    assert not snapshot.complete  # no deprovisioning decided on a status nobody knows
    assert by_id(snapshot)["00uNew"].enabled is False  # and no new access
    assert "PENDING_USER_ACTION" in snapshot.errors[0]


def test_a_profile_the_sdk_models_refuse_keeps_its_page(okta: OktaEmulator, clock: Clock) -> None:
    from okta.models.user import User
    from pydantic import ValidationError

    ids = seed(okta, 5)
    short = okta.add_user("00uShort", "a@b", "a@b", "Al", "Bo")
    okta.add_group("00gA", "CC-Agents", [*ids, "00uShort"])
    with pytest.raises(ValidationError):  # the trap is real: SDK 3.x refuses this profile
        User.from_dict(short)

    snapshot = source_for(token_config(okta), clock).read([rule("CC-Agents")])

    assert snapshot.complete
    users = by_id(snapshot)
    assert len(users) == 6  # the rest of the page is there
    assert users["00uShort"].attributes["login"] == "a@b"  # raw, not guessed
    verdict = derive_username(dict(users["00uShort"].attributes), "login")
    assert verdict.username is None and "e-mail" in str(verdict.problem)


def test_group_names_are_matched_exactly(okta: OktaEmulator, clock: Clock) -> None:
    seed(okta, 2)
    okta.add_group("00gLow", "cc-agents", ["00u00000"])
    okta.add_group("00gQuote", 'Team "Night" \\ B', ["00u00001"])

    source = source_for(token_config(okta), clock)
    with pytest.raises(ConfigError) as caught:
        source.read([rule("CC-Agents")])
    quoted = source.read([rule('Team "Night" \\ B')])

    assert caught.value.path == "groups[0].name"
    assert "'cc-agents'" in caught.value.problem  # the near miss is named
    assert okta.requests["group.users"] == 1  # only the quoted group's members were read
    assert quoted.complete and quoted.groups[0].group_id == "00gQuote"


def test_a_name_matching_no_group_or_two_is_a_config_error(
    okta: OktaEmulator, clock: Clock
) -> None:
    okta.add_group("00g1", "CC-Agents")
    okta.add_group("00g2", "CC-Agents", type="APP_GROUP")
    source = source_for(token_config(okta), clock)

    with pytest.raises(ConfigError) as missing:
        source.read([rule("CC-Missing")])
    with pytest.raises(ConfigError) as unknown_id:
        source.read([rule("CC-Missing", by_id=True), rule("CC-Agents")])

    assert missing.value.path == "groups[0].name"
    assert "no Okta group is named 'CC-Missing'" in missing.value.problem
    assert "'id:'" in missing.value.fix
    assert unknown_id.value.path == "groups[0].id"  # the unknown id is found first
    with pytest.raises(ConfigError) as two:
        source.read([rule("00g1", by_id=True), rule("CC-Agents")])
    assert two.value.path == "groups[1].name"
    assert "2 Okta groups" in two.value.problem and "00g1" in two.value.problem
    assert okta.requests["group.users"] == 0  # names are checked before any member read


def test_build_source_and_the_username_attribute(okta: OktaEmulator) -> None:
    document = {
        "source": {"type": "okta", "okta": {"org_url": okta.org_url, "api_token": TOKEN}},
        "username": {"attribute": "email"},
        "groups": [{"name": "CC-Agents", "security_profiles": ["Agent"], "routing_profile": "B"}],
        "targets": [{"instance_id": "11111111-2222-3333-4444-555555555555", "region": "us-east-1"}],
        "deprovision": {"action": "report"},
    }
    assert isinstance(build_source(parse_config(document)), OktaSource)
    with pytest.raises(ConfigError) as caught:
        OktaSource(token_config(okta), "upn")
    assert caught.value.path == "username.attribute"
    assert "login" in caught.value.fix and "Application username format" in caught.value.fix


# ----------------------------------------------------------------------------- cost


def test_requests_per_group_stay_within_pages_plus_five(
    okta: OktaEmulator, clock: Clock, key_pair: tuple[str, dict[str, Any]]
) -> None:
    ids = seed(okta, 1000)
    okta.add_group("00gA", "CC-Agents", ids)

    snapshot = source_for(key_config(okta, key_pair[0]), clock).read([rule("CC-Agents")])

    assert snapshot.complete
    total = okta.api_requests + okta.token_requests
    assert total == 1 + 1 + 5  # token, name search, five pages
    assert total <= math.ceil(1000 / 200) + 5


def test_an_admin_or_plain_http_org_url_is_a_config_error(okta: OktaEmulator, clock: Clock) -> None:
    for url in ("https://example-admin.okta.com", okta.org_url.replace("https", "http")):
        with pytest.raises(ConfigError) as caught:
            source_for(token_config(okta, org_url=url), clock).read([rule("CC-Agents")])
        assert caught.value.path == "source.okta.org_url"
        assert "https://YOUR-ORG.okta.com" in caught.value.fix
    assert okta.api_requests == 0


def test_read_works_when_called_from_inside_an_event_loop(okta: OktaEmulator, clock: Clock) -> None:

    seed(okta, 2)
    okta.add_group("00gA", "CC-Agents", ["00u00000", "00u00001"])
    source = source_for(token_config(okta), clock)

    async def host() -> DirectorySnapshot:
        return source.read([rule("CC-Agents")])  # a synchronous call under a running loop

    snapshot = asyncio.run(host())

    assert snapshot.complete and len(snapshot.users) == 2


def test_the_private_key_may_be_pkcs1_pem_or_a_jwk(
    okta: OktaEmulator, clock: Clock, key_pair: tuple[str, dict[str, Any]]
) -> None:
    import json

    from cryptography.hazmat.primitives import serialization
    from jwcrypto.jwk import JWK

    key = serialization.load_pem_private_key(key_pair[0].encode(), password=None)
    pkcs1 = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    jwk = json.loads(JWK.from_pem(key_pair[0].encode()).export_private())
    jwk["kid"] = key_pair[1]["kid"]
    seed(okta, 1)
    okta.add_group("00gA", "CC-Agents", ["00u00000"])

    for private_key in (pkcs1, json.dumps(jwk)):
        config = key_config(okta, private_key)
        assert source_for(config, clock).read([rule("CC-Agents")]).complete
    assert pkcs1.startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert okta.token_requests == 2

    jwk["kid"] = "a-key-the-app-does-not-hold"
    with pytest.raises(DirectoryReadError) as caught:
        source_for(key_config(okta, json.dumps(jwk)), clock).read([rule("CC-Agents")])
    assert "invalid_client" in str(caught.value)
    assert jwk["d"] not in str(caught.value)
