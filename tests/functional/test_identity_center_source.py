"""The Identity Center source against moto's identitystore: real boto3 over real HTTP.

The store is moto's (a ThreadedMotoServer); the emulator's front counts calls per
operation, adds UserStatus where a test sets one (moto has none) and injects throttling
and access errors on the wire. Nothing in boto3 or in the source is mocked.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from connect_user_sync.config.model import IdentityCenterSourceConfig
from connect_user_sync.domain.models import DirectorySnapshot, DirectoryUser, GroupRule
from connect_user_sync.errors import ConfigError, DirectoryReadError
from connect_user_sync.retry import RetryPolicy
from connect_user_sync.sources.identity_center import IdentityCenterSource, primary_email
from connect_user_sync_emulators.identity_center import (
    IdentityStoreEmulator,
    SeededStore,
    new_store_id,
)

REGION = "us-east-1"


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def store(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[IdentityStoreEmulator]:
    with IdentityStoreEmulator(moto_url=moto_url) as emulator:
        for key, value in emulator.env().items():
            monkeypatch.setenv(key, value)
        yield emulator


def rule(key: str, *, by_id: bool = False) -> GroupRule:
    return GroupRule(key=key, by_id=by_id, security_profiles=("Agent",), routing_profile="Basic")


def source(
    store_id: str,
    *,
    attribute: str = "user_name",
    sleeps: Sleeps | None = None,
    max_attempts: int = 8,
    **config: Any,
) -> IdentityCenterSource:
    policy = RetryPolicy(
        max_attempts=max_attempts, sleep=sleeps if sleeps is not None else Sleeps()
    )
    return IdentityCenterSource(
        IdentityCenterSourceConfig(store_id, REGION, **config), attribute, retry_policy=policy
    )


def by_name(snapshot: DirectorySnapshot) -> dict[str, DirectoryUser]:
    return {str(user.attributes["user_name"]): user for user in snapshot.users}


def people(count: int, group: str, prefix: str = "agent") -> list[dict[str, Any]]:
    return [
        {
            "id": f"{prefix}{n}",
            "upn": f"{prefix}.{n}@example.com",
            "email": f"{prefix}.{n}@example.com",
            "first_name": "Agent",
            "last_name": f"N{n}",
            "groups": [group],
        }
        for n in range(count)
    ]


def seed(store: IdentityStoreEmulator, users: list[dict[str, Any]], *groups: str) -> SeededStore:
    seeded = store.load_directory(
        {"users": users, "groups": [{"id": g, "name": g} for g in groups]}
    )
    store.reset_calls()
    return seeded


# ----------------------------------------------------------------------------- reading


def test_groups_by_name_and_by_id_are_read_and_users_merged(store: IdentityStoreEmulator) -> None:
    seeded = seed(
        store,
        [
            {
                "id": "a",
                "upn": "ann.lee@example.com",
                "email": "Ann.Lee@example.com",
                "first_name": "Ann",
                "last_name": "Lee",
                "groups": ["CC-Agents", "CC-Supervisors"],
            },
            {
                "id": "b",
                "upn": "bo@example.com",
                "email": "bo@example.com",
                "groups": ["CC-Agents"],
            },
            {"id": "c", "upn": "cy@example.com", "groups": ["Other"]},
        ],
        "CC-Agents",
        "CC-Supervisors",
        "Other",
    )
    supervisors = seeded.group_ids["CC-Supervisors"]

    snapshot = source(seeded.store_id).read([rule("CC-Agents"), rule(supervisors, by_id=True)])

    assert snapshot.complete and snapshot.errors == ()
    users = by_name(snapshot)
    assert sorted(users) == ["ann.lee@example.com", "bo@example.com"]
    ann = users["ann.lee@example.com"]
    assert ann.source_id == seeded.user_ids["a"]
    assert ann.groups == ("CC-Agents", f"id:{supervisors}")
    assert dict(ann.attributes) == {
        "user_name": "ann.lee@example.com",
        "email": "Ann.Lee@example.com",
    }
    assert (ann.first_name, ann.last_name, ann.email, ann.enabled) == (
        "Ann",
        "Lee",
        "Ann.Lee@example.com",
        True,
    )
    assert [(g.name, g.group_id, g.member_count) for g in snapshot.groups] == [
        ("CC-Agents", seeded.group_ids["CC-Agents"], 2),
        (f"id:{supervisors}", supervisors, 1),
    ]
    assert store.calls["GetGroupId"] == 1 and store.calls["DescribeGroup"] == 1


def test_more_than_100_members_are_paged_and_the_store_is_listed_not_described(
    store: IdentityStoreEmulator,
) -> None:
    seeded = seed(store, people(250, "CC-Agents"), "CC-Agents")

    snapshot = source(seeded.store_id).read([rule("CC-Agents")])

    assert snapshot.complete
    assert len(snapshot.users) == 250
    assert snapshot.groups[0].member_count == 250
    assert store.calls["ListGroupMemberships"] == 3  # 100 + 100 + 50
    assert store.calls["ListUsers"] == 3
    assert store.calls["DescribeUser"] == 0


def test_a_small_group_in_a_large_store_costs_at_most_twice_the_cheaper_strategy(
    store: IdentityStoreEmulator,
) -> None:
    # The two members are the last users created, so the first store pages miss them.
    users = people(400, "Everyone") + people(3, "CC-Quality", prefix="qa")
    seeded = seed(store, users, "Everyone", "CC-Quality")

    snapshot = source(seeded.store_id).read([rule("CC-Quality")])

    assert sorted(by_name(snapshot)) == [f"qa.{n}@example.com" for n in range(3)]
    user_calls = store.calls["ListUsers"] + store.calls["DescribeUser"]
    store_pages = -(-403 // 100)
    assert user_calls <= 2 * min(3, store_pages)
    assert store.calls["DescribeUser"] >= 1  # it stopped listing 400 strangers


def test_a_single_member_is_described_without_listing_the_store(
    store: IdentityStoreEmulator,
) -> None:
    seeded = seed(
        store, people(150, "Everyone") + people(1, "Solo", prefix="solo"), "Everyone", "Solo"
    )

    snapshot = source(seeded.store_id).read([rule("Solo")])

    assert [u.attributes["user_name"] for u in snapshot.users] == ["solo.0@example.com"]
    assert (store.calls["ListUsers"], store.calls["DescribeUser"]) == (0, 1)


def test_an_unknown_group_name_or_id_is_a_configuration_error(
    store: IdentityStoreEmulator,
) -> None:
    seeded = seed(store, people(1, "CC-Agents"), "CC-Agents")

    with pytest.raises(ConfigError) as by_name_error:
        source(seeded.store_id).read([rule("CC-Agents"), rule("CC-Agnets")])
    assert by_name_error.value.path == "groups[1].name"
    assert "CC-Agnets" in str(by_name_error.value)

    with pytest.raises(ConfigError) as by_id_error:
        source(seeded.store_id).read([rule("11111111-2222-3333-4444-555555555555", by_id=True)])
    assert by_id_error.value.path == "groups[0].id"
    assert store.calls["ListGroupMemberships"] == 0  # nothing read before the check


# ----------------------------------------------------------------------------- attributes


def test_the_primary_email_is_used_and_a_user_without_one_has_no_email(
    store: IdentityStoreEmulator,
) -> None:
    seeded = seed(
        store,
        [
            {
                "id": "two",
                "upn": "two@example.com",
                "emails": [
                    {"Value": "private@example.net", "Type": "home", "Primary": False},
                    {"Value": "work@example.com", "Type": "work", "Primary": True},
                ],
                "groups": ["G"],
            },
            {
                "id": "none",
                "upn": "none@example.com",
                "emails": [
                    {"Value": "a@example.com", "Type": "work"},
                    {"Value": "b@example.com", "Type": "home"},
                ],
                "groups": ["G"],
            },
            {"id": "empty", "upn": "empty@example.com", "emails": [], "groups": ["G"]},
        ],
        "G",
    )

    users = by_name(source(seeded.store_id, attribute="email").read([rule("G")]))

    assert users["two@example.com"].attributes["email"] == "work@example.com"
    assert users["two@example.com"].email == "work@example.com"
    assert users["none@example.com"].attributes["email"] is None  # never guessed
    assert users["empty@example.com"].attributes["email"] is None


def test_primary_email_rules() -> None:
    assert primary_email([{"Value": "only@example.com"}]) == "only@example.com"
    assert (
        primary_email([{"Value": "a@x", "Primary": True}, {"Value": "b@x", "Primary": True}])
        is None
    )
    assert primary_email(None) is None


def test_disabled_users_are_leavers_and_a_missing_status_means_enabled(
    store: IdentityStoreEmulator,
) -> None:
    users = people(3, "G")
    users[0]["status"] = "DISABLED"
    users[1]["status"] = "ENABLED"
    seeded = seed(store, users, "G")

    snapshot = source(seeded.store_id).read([rule("G")])

    enabled = {str(u.attributes["user_name"]): u.enabled for u in snapshot.users}
    assert enabled == {
        "agent.0@example.com": False,
        "agent.1@example.com": True,
        "agent.2@example.com": True,
    }
    assert snapshot.complete


def test_an_unknown_status_leaves_the_user_out_and_the_read_incomplete(
    store: IdentityStoreEmulator,
) -> None:
    users = people(2, "G")
    users[0]["status"] = "SUSPENDED"
    seeded = seed(store, users, "G")

    snapshot = source(seeded.store_id).read([rule("G")])

    assert [u.attributes["user_name"] for u in snapshot.users] == ["agent.1@example.com"]
    assert not snapshot.complete
    assert "SUSPENDED" in snapshot.errors[0]


def test_the_username_attribute_must_be_one_identity_center_offers() -> None:
    with pytest.raises(ConfigError) as error:
        IdentityCenterSource(IdentityCenterSourceConfig(new_store_id(), REGION), "upn")
    assert error.value.path == "username.attribute"
    assert "user_name" in str(error.value)


# ----------------------------------------------------------------------------- throttling


def test_throttling_slows_the_read_with_the_services_hint(store: IdentityStoreEmulator) -> None:
    seeded = seed(store, people(120, "G"), "G")
    store.throttle("ListGroupMemberships", times=2, retry_after=3)
    store.throttle("ListUsers", times=1, retry_after=1)
    sleeps = Sleeps()

    snapshot = source(seeded.store_id, sleeps=sleeps).read([rule("G")])

    assert snapshot.complete and len(snapshot.users) == 120
    assert sleeps == [3.0, 3.0, 1.0]
    # botocore's own retries are off: each throttled call was sent exactly once more.
    assert store.calls["ListGroupMemberships"] == 2 + 2
    assert store.calls["ListUsers"] == 2 + 1


def test_a_membership_page_that_stays_throttled_makes_the_read_incomplete(
    store: IdentityStoreEmulator,
) -> None:
    seeded = seed(store, people(150, "G"), "G")
    store.throttle("ListGroupMemberships", times=None)
    sleeps = Sleeps()

    snapshot = source(seeded.store_id, sleeps=sleeps, max_attempts=4).read([rule("G")])

    assert not snapshot.complete
    assert snapshot.groups[0].complete is False
    assert "ThrottlingException" in snapshot.errors[0] and "incomplete" in snapshot.errors[0]
    assert len(sleeps) == 3 and store.calls["ListGroupMemberships"] == 4


def test_a_member_that_cannot_be_described_makes_its_group_incomplete(
    store: IdentityStoreEmulator,
) -> None:
    seeded = seed(
        store, people(150, "Everyone") + people(1, "Solo", prefix="solo"), "Everyone", "Solo"
    )
    store.fail("DescribeUser", times=None)

    snapshot = source(seeded.store_id, max_attempts=2).read([rule("Solo")])

    assert not snapshot.complete
    assert snapshot.groups[0].complete is False
    assert snapshot.users == ()
    assert "InternalServerException" in snapshot.errors[0]
    assert store.calls["DescribeUser"] == 2


def test_a_failing_store_listing_falls_back_to_describing_members(
    store: IdentityStoreEmulator,
) -> None:
    seeded = seed(store, people(5, "G"), "G")
    store.throttle("ListUsers", times=None)

    snapshot = source(seeded.store_id, max_attempts=2).read([rule("G")])

    assert snapshot.complete and len(snapshot.users) == 5
    assert store.calls["DescribeUser"] == 5


# ----------------------------------------------------------------------------- access


def test_access_denied_names_the_permissions_to_grant(store: IdentityStoreEmulator) -> None:
    seeded = seed(store, people(1, "G"), "G")
    store.deny("ListGroupMemberships")

    with pytest.raises(DirectoryReadError) as error:
        source(seeded.store_id).read([rule("G")])

    text = str(error.value)
    assert "identitystore:ListGroupMemberships" in text and "identitystore:ListUsers" in text
    assert f"identitystore/{seeded.store_id}" in text and "user/*" in text
    assert store.calls["ListGroupMemberships"] == 1  # not retried


def test_a_store_that_does_not_exist_is_a_directory_error(store: IdentityStoreEmulator) -> None:
    missing = new_store_id()

    with pytest.raises(DirectoryReadError) as error:
        source(missing).read([rule("G")])

    text = str(error.value)
    assert missing in text and "identity_store_id" in text and "home Region" in text


def test_the_role_is_assumed_through_sts_and_reads_the_stores_account(
    store: IdentityStoreEmulator, moto_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", moto_url)
    role_arn = "arn:aws:iam::210987654321:role/connect-user-sync-reader"
    # Seed the store as the management account sees it: with that account's credentials.
    credentials = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=role_arn, RoleSessionName="seeding"
    )["Credentials"]
    management = store.client(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
    seeded = store.load_directory(
        {"users": people(2, "CC-Agents"), "groups": [{"id": "g", "name": "CC-Agents"}]},
        client=management,
    )
    store.reset_calls()

    snapshot = source(seeded.store_id, role_arn=role_arn, external_id="sync-ext-id").read(
        [rule("CC-Agents")]
    )

    assert snapshot.complete and len(snapshot.users) == 2
    signers = set(store.access_keys)
    assert len(signers) == 1
    (signer,) = signers
    assert signer not in ("testing", credentials["AccessKeyId"])  # a fresh STS session

    # Without the role, the run's own account has no such group: the store is elsewhere.
    with pytest.raises(ConfigError):
        source(seeded.store_id).read([rule("CC-Agents")])


def test_an_unusable_aws_profile_is_a_directory_error_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")

    with pytest.raises(DirectoryReadError) as error:
        source(new_store_id()).read([rule("G")])

    assert "ProfileNotFound" in str(error.value)
