"""The Connect emulator against an unmodified boto3 ``connect`` client."""

from __future__ import annotations

import random
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from connect_user_sync_emulators.connect import (
    ConnectEmulator,
    ConnectError,
    tag_key_problem,
    username_problem,
)

NO_RETRIES = Config(retries={"total_max_attempts": 1})


def make_client(endpoint_url: str | None, *, config: Config = NO_RETRIES) -> Any:
    kwargs: dict[str, Any] = {
        "region_name": "us-east-1",
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
        "config": config,
    }
    if endpoint_url is not None:
        kwargs["endpoint_url"] = endpoint_url
    return boto3.client("connect", **kwargs)


@dataclass
class Seed:
    emulator: ConnectEmulator
    client: Any
    instance_id: str
    agent: str
    admin: str
    disabled: str
    routing: str
    other_routing: str
    group: str
    profiles: list[str]

    def create(self, username: str, **kwargs: Any) -> dict[str, Any]:
        params: dict[str, Any] = {
            "InstanceId": self.instance_id,
            "Username": username,
            "SecurityProfileIds": [self.agent],
            "RoutingProfileId": self.routing,
        }
        params.update(kwargs)
        result: dict[str, Any] = self.client.create_user(**params)
        return result


def seed_instance(emulator: ConnectEmulator, client: Any) -> Seed:
    instance_id = emulator.add_instance()
    profiles = [emulator.add_security_profile(instance_id, f"P{i}") for i in range(11)]
    return Seed(
        emulator=emulator,
        client=client,
        instance_id=instance_id,
        agent=emulator.add_security_profile(instance_id, "Agent"),
        admin=emulator.add_security_profile(instance_id, "Admin"),
        disabled=emulator.add_security_profile(instance_id, "Disabled"),
        routing=emulator.add_routing_profile(instance_id, "Basic Routing Profile"),
        other_routing=emulator.add_routing_profile(instance_id, "Sales"),
        group=emulator.add_hierarchy_group(instance_id, "Team A"),
        profiles=profiles,
    )


@pytest.fixture(autouse=True)
def _clean_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_CONNECT", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def shared_emulator() -> Iterator[ConnectEmulator]:
    # One server for the tests that need no special settings: stopping a server takes up
    # to half a second (the poll interval of serve_forever). Each test gets its own instance.
    with ConnectEmulator(rate_limits=False, max_users_per_instance=1500) as emu:
        yield emu


@pytest.fixture
def emulator(shared_emulator: ConnectEmulator) -> Iterator[ConnectEmulator]:
    shared_emulator.reset_calls()
    shared_emulator.clear_faults()
    yield shared_emulator
    shared_emulator.clear_faults()


@pytest.fixture
def client(emulator: ConnectEmulator) -> Any:
    return make_client(emulator.url)


@pytest.fixture
def seed(emulator: ConnectEmulator, client: Any) -> Seed:
    return seed_instance(emulator, client)


def error_code(exc: ClientError) -> str:
    return str(exc.response["Error"]["Code"])


# --------------------------------------------------------------------------- happy paths


def test_create_describe_and_list_user(seed: Seed) -> None:
    created = seed.create(
        "jane.doe@example.com",
        IdentityInfo={"FirstName": "Jane", "LastName": "Doe", "Email": "jane@example.com"},
        PhoneConfig={
            "PhoneType": "SOFT_PHONE",
            "AutoAccept": True,
            "AfterContactWorkTimeLimit": 30,
        },
        HierarchyGroupId=seed.group,
        Tags={"managed-by": "connect-user-sync"},
    )
    user_id = created["UserId"]
    assert created["UserArn"] == (
        f"arn:aws:connect:us-east-1:123456789012:instance/{seed.instance_id}/agent/{user_id}"
    )
    user = seed.client.describe_user(InstanceId=seed.instance_id, UserId=user_id)["User"]
    assert user["Username"] == "jane.doe@example.com"
    assert user["IdentityInfo"] == {
        "FirstName": "Jane",
        "LastName": "Doe",
        "Email": "jane@example.com",
    }
    assert user["PhoneConfig"] == {
        "PhoneType": "SOFT_PHONE",
        "AutoAccept": True,
        "AfterContactWorkTimeLimit": 30,
    }
    assert user["SecurityProfileIds"] == [seed.agent]
    assert user["RoutingProfileId"] == seed.routing
    assert user["HierarchyGroupId"] == seed.group
    assert user["Tags"] == {"managed-by": "connect-user-sync"}
    assert user["LastModifiedRegion"] == "us-east-1"

    listed = seed.client.list_users(InstanceId=seed.instance_id)["UserSummaryList"]
    assert [(u["Id"], u["Username"]) for u in listed] == [(user_id, "jane.doe@example.com")]
    assert seed.emulator.user_by_name(seed.instance_id, "jane.doe@example.com") is not None
    assert seed.emulator.user_by_name(seed.instance_id, "Jane.Doe@example.com") is None


def test_updates(seed: Seed) -> None:
    user_id = seed.create(
        "agent1", IdentityInfo={"FirstName": "A", "LastName": "B", "Email": "a@example.com"}
    )["UserId"]
    ids = {"InstanceId": seed.instance_id, "UserId": user_id}
    seed.client.update_user_identity_info(IdentityInfo={"FirstName": "Alice"}, **ids)
    seed.client.update_user_phone_config(
        PhoneConfig={
            "PhoneType": "DESK_PHONE",
            "AutoAccept": False,
            "AfterContactWorkTimeLimit": 10,
            "DeskPhoneNumber": "+15555550100",
        },
        **ids,
    )
    seed.client.update_user_routing_profile(RoutingProfileId=seed.other_routing, **ids)
    seed.client.update_user_security_profiles(SecurityProfileIds=[seed.admin, seed.agent], **ids)
    seed.client.update_user_hierarchy(HierarchyGroupId=seed.group, **ids)
    user = seed.client.describe_user(**ids)["User"]
    assert user["IdentityInfo"] == {"FirstName": "Alice", "LastName": "B", "Email": "a@example.com"}
    assert user["PhoneConfig"]["PhoneType"] == "DESK_PHONE"
    assert user["PhoneConfig"]["DeskPhoneNumber"] == "+15555550100"
    assert user["RoutingProfileId"] == seed.other_routing
    assert user["SecurityProfileIds"] == [seed.admin, seed.agent]
    assert user["HierarchyGroupId"] == seed.group

    seed.client.update_user_hierarchy(**ids)  # no group: clears it
    assert "HierarchyGroupId" not in seed.client.describe_user(**ids)["User"]

    seed.client.delete_user(**ids)
    with pytest.raises(seed.client.exceptions.ResourceNotFoundException):
        seed.client.describe_user(**ids)
    assert seed.emulator.users(seed.instance_id) == []


def test_tags(seed: Seed) -> None:
    arn = seed.create("tagged", Tags={"a": "1", "b": "2"})["UserArn"]
    seed.client.tag_resource(resourceArn=arn, tags={"b": "3", "c": "4"})
    assert seed.client.list_tags_for_resource(resourceArn=arn)["tags"] == {
        "a": "1",
        "b": "3",
        "c": "4",
    }
    seed.client.untag_resource(resourceArn=arn, tagKeys=["a", "c", "missing"])
    assert seed.client.list_tags_for_resource(resourceArn=arn)["tags"] == {"b": "3"}
    assert seed.emulator.users(seed.instance_id)[0]["Tags"] == {"b": "3"}
    with pytest.raises(seed.client.exceptions.ResourceNotFoundException):
        seed.client.list_tags_for_resource(resourceArn=arn.replace("agent/", "agent/0"))


def test_catalog_listing_and_paging(seed: Seed) -> None:
    profiles = seed.client.list_security_profiles(InstanceId=seed.instance_id)
    names = {p["Name"]: p["Id"] for p in profiles["SecurityProfileSummaryList"]}
    assert names["Agent"] == seed.agent
    assert len(names) == 14
    routing = seed.client.list_routing_profiles(InstanceId=seed.instance_id)
    assert {p["Name"] for p in routing["RoutingProfileSummaryList"]} == {
        "Basic Routing Profile",
        "Sales",
    }
    groups = seed.client.list_user_hierarchy_groups(InstanceId=seed.instance_id)
    assert groups["UserHierarchyGroupSummaryList"][0]["Id"] == seed.group

    page = seed.client.list_security_profiles(InstanceId=seed.instance_id, MaxResults=5)
    assert len(page["SecurityProfileSummaryList"]) == 5
    assert page["NextToken"]
    paginator = seed.client.get_paginator("list_security_profiles")
    seen = [
        p["Id"]
        for pg in paginator.paginate(InstanceId=seed.instance_id, PaginationConfig={"PageSize": 4})
        for p in pg["SecurityProfileSummaryList"]
    ]
    assert len(seen) == 14
    assert len(set(seen)) == 14


def test_list_users_pages_up_to_1000(emulator: ConnectEmulator, client: Any) -> None:
    emu = emulator
    seed = seed_instance(emu, client)
    for i in range(1100):
        emu.add_user(
            seed.instance_id,
            f"user{i:04d}",
            security_profile_ids=[seed.agent],
            routing_profile_id=seed.routing,
        )
    first = client.list_users(InstanceId=seed.instance_id, MaxResults=1000)
    assert len(first["UserSummaryList"]) == 1000
    second = client.list_users(InstanceId=seed.instance_id, NextToken=first["NextToken"])
    assert len(second["UserSummaryList"]) == 100  # default page size
    assert "NextToken" not in second
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.list_users(InstanceId=seed.instance_id, MaxResults=1001)
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.list_users(InstanceId=seed.instance_id, NextToken="garbage!")


# --------------------------------------------------------------------------- SearchUsers


def test_search_users_pages_1200_users_without_email(
    emulator: ConnectEmulator, client: Any
) -> None:
    emu = emulator
    seed = seed_instance(emu, client)
    for i in range(1200):
        emu.add_user(
            seed.instance_id,
            f"user{i:04d}@example.com",
            security_profile_ids=[seed.agent],
            routing_profile_id=seed.routing,
            first_name=f"First{i}",
            last_name=f"Last{i}",
            email=f"user{i}@example.com",
            tags={"team": "a" if i % 2 else "b"},
        )
    pages = []
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"InstanceId": seed.instance_id, "MaxResults": 500}
        if token:
            kwargs["NextToken"] = token
        page = client.search_users(**kwargs)
        assert page["ApproximateTotalCount"] == 1200
        pages.append(page["Users"])
        token = page.get("NextToken")
        if not token:
            break
    assert [len(p) for p in pages] == [500, 500, 200]
    users = [u for p in pages for u in p]
    assert [u["Username"] for u in users] == [f"user{i:04d}@example.com" for i in range(1200)]
    for user in users:
        assert set(user["IdentityInfo"]) == {"FirstName", "LastName"}
        expected = {"Id", "Arn", "SecurityProfileIds", "RoutingProfileId", "PhoneConfig", "Tags"}
        assert expected <= set(user)
    # The SDK paginator works too, and MaxResults defaults to 100.
    assert len(client.search_users(InstanceId=seed.instance_id)["Users"]) == 100
    paginator = client.get_paginator("search_users")
    total = sum(
        len(pg["Users"])
        for pg in paginator.paginate(
            InstanceId=seed.instance_id,
            SearchFilter={"TagFilter": {"TagCondition": {"TagKey": "team", "TagValue": "a"}}},
            PaginationConfig={"PageSize": 500},
        )
    )
    assert total == 600
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.search_users(InstanceId=seed.instance_id, MaxResults=501)
    # A token only fits the query it came from.
    unfiltered_token = client.search_users(InstanceId=seed.instance_id)["NextToken"]
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.search_users(
            InstanceId=seed.instance_id,
            NextToken=unfiltered_token,
            SearchCriteria={
                "StringCondition": {
                    "FieldName": "Username",
                    "Value": "user",
                    "ComparisonType": "STARTS_WITH",
                }
            },
        )
    # Full records (with Email) stay available through the Python API.
    assert emu.users(seed.instance_id)[0]["IdentityInfo"]["Email"] == "user0@example.com"


def _names(client: Any, instance_id: str, **kwargs: Any) -> list[str]:
    return [u["Username"] for u in client.search_users(InstanceId=instance_id, **kwargs)["Users"]]


def test_search_filters_and_criteria(seed: Seed) -> None:
    seed.create("alice@example.com", Tags={"managed-by": "sync", "dept": "sales"})
    seed.create("Alice@example.com", Tags={"managed-by": "sync", "dept": "support"})
    seed.create("bob", Tags={"dept": "sales"})
    seed.create("carol", HierarchyGroupId=seed.group)

    def cond(key: str, value: str) -> dict[str, str]:
        return {"TagKey": key, "TagValue": value}

    iid = seed.instance_id
    tag_filter = {"TagFilter": {"TagCondition": cond("managed-by", "sync")}}
    assert _names(seed.client, iid, SearchFilter=tag_filter) == [
        "alice@example.com",
        "Alice@example.com",
    ]
    and_filter = {
        "TagFilter": {"AndConditions": [cond("managed-by", "sync"), cond("dept", "sales")]}
    }
    assert _names(seed.client, iid, SearchFilter=and_filter) == ["alice@example.com"]
    or_filter = {
        "TagFilter": {
            "OrConditions": [[cond("dept", "support")], [cond("dept", "sales"), cond("x", "y")]]
        }
    }
    assert _names(seed.client, iid, SearchFilter=or_filter) == ["Alice@example.com"]

    def username(value: str, comparison: str) -> dict[str, Any]:
        return {
            "StringCondition": {
                "FieldName": "Username",
                "Value": value,
                "ComparisonType": comparison,
            }
        }

    assert _names(seed.client, iid, SearchCriteria=username("alice@example.com", "EXACT")) == [
        "alice@example.com"
    ]
    assert _names(seed.client, iid, SearchCriteria=username("Ali", "STARTS_WITH")) == [
        "Alice@example.com"
    ]
    assert _names(seed.client, iid, SearchCriteria=username("example", "CONTAINS")) == [
        "alice@example.com",
        "Alice@example.com",
    ]
    either = {"OrConditions": [username("bob", "EXACT"), username("carol", "EXACT")]}
    assert _names(seed.client, iid, SearchCriteria=either) == ["bob", "carol"]
    both = {"AndConditions": [username("a", "STARTS_WITH"), username(".com", "CONTAINS")]}
    assert _names(seed.client, iid, SearchCriteria=both) == ["alice@example.com"]
    group = {"HierarchyGroupCondition": {"Value": seed.group, "HierarchyGroupMatchType": "EXACT"}}
    assert _names(seed.client, iid, SearchCriteria=group) == ["carol"]
    combined = _names(
        seed.client, iid, SearchFilter=tag_filter, SearchCriteria=username("a", "STARTS_WITH")
    )
    assert combined == ["alice@example.com"]
    with pytest.raises(seed.client.exceptions.InvalidParameterException):
        seed.client.search_users(
            InstanceId=iid,
            SearchCriteria={
                "StringCondition": {"FieldName": "Nope", "Value": "x", "ComparisonType": "EXACT"}
            },
        )


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("username", "valid"),
    [
        ("jdoe", True),
        ("j", True),
        ("JaneDoe", True),
        ("Jane.Doe@Example.COM", True),
        ("first_last-1.2", True),
        ("a" * 64, True),
        ("a" * 65, False),
        ("jane_example.com#EXT#@tenant.onmicrosoft.com", False),
        ("jane doe", False),
        ("jane+tag@example.com", False),
        ("jane@example", False),
        ("@example.com", False),
        ("a@b@example.com", False),
        ("jané", False),
        ("domain\\user", False),
    ],
)
def test_username_rules(seed: Seed, username: str, valid: bool) -> None:
    assert (username_problem(username) is None) is valid
    if valid:
        assert seed.create(username)["UserId"]
    else:
        with pytest.raises(seed.client.exceptions.InvalidParameterException):
            seed.create(username)


def test_model_validation(seed: Seed) -> None:
    exc = seed.client.exceptions
    with pytest.raises(exc.InvalidParameterException, match="FirstName"):
        seed.create("long-first", IdentityInfo={"FirstName": "x" * 256})
    seed.create("ok-names", IdentityInfo={"FirstName": "x" * 255, "LastName": "y" * 300})
    with pytest.raises(exc.InvalidParameterException, match="LastName"):
        seed.create("long-last", IdentityInfo={"LastName": "y" * 301})
    with pytest.raises(exc.InvalidParameterException):
        seed.create("too-long-for-model-" + "x" * 90)  # botocore only checks the minimum
    with pytest.raises(exc.InvalidParameterException):
        seed.create("desk", PhoneConfig={"PhoneType": "DESK_PHONE"})
    with pytest.raises(exc.InvalidParameterException):
        seed.create("bad-routing", RoutingProfileId="nope")
    with pytest.raises(exc.InvalidParameterException):
        seed.create("bad-group", HierarchyGroupId="nope")
    with pytest.raises(exc.InvalidParameterException):
        seed.create("bad-profile", SecurityProfileIds=[seed.agent, "nope"])
    with pytest.raises(exc.InvalidRequestException):
        seed.create("with-password", Password="Secret123!")
    with pytest.raises(exc.ResourceNotFoundException):
        seed.client.create_user(
            InstanceId="00000000-0000-0000-0000-000000000000",
            Username="x",
            SecurityProfileIds=[seed.agent],
            RoutingProfileId=seed.routing,
        )
    assert [u["Username"] for u in seed.emulator.users(seed.instance_id)] == ["ok-names"]


def test_security_profile_limit(seed: Seed) -> None:
    seed.create("ten", SecurityProfileIds=seed.profiles[:10])
    with pytest.raises(seed.client.exceptions.InvalidParameterException):
        seed.create("eleven", SecurityProfileIds=seed.profiles)
    record = seed.emulator.user_by_name(seed.instance_id, "ten")
    assert record is not None
    user_id = record["Id"]
    with pytest.raises(seed.client.exceptions.InvalidParameterException):
        seed.client.update_user_security_profiles(
            InstanceId=seed.instance_id, UserId=user_id, SecurityProfileIds=seed.profiles
        )
    with pytest.raises(seed.client.exceptions.InvalidParameterException):
        seed.client.update_user_security_profiles(
            InstanceId=seed.instance_id, UserId=user_id, SecurityProfileIds=["unknown"]
        )


def test_tag_limits(seed: Seed) -> None:
    exc = seed.client.exceptions
    fifty = {f"k{i}": "v" for i in range(50)}
    arn = seed.create("fifty", Tags=fifty)["UserArn"]
    with pytest.raises(exc.InvalidParameterException):
        seed.create("fifty-one", Tags={**fifty, "k50": "v"})
    with pytest.raises(exc.InvalidParameterException):
        seed.client.tag_resource(resourceArn=arn, tags={"one-more": "v"})
    seed.client.tag_resource(resourceArn=arn, tags={"k0": "replaced"})  # merge keeps 50
    assert seed.client.list_tags_for_resource(resourceArn=arn)["tags"]["k0"] == "replaced"
    for bad in ({"aws:reserved": "v"}, {"k" * 129: "v"}, {"bad*key": "v"}, {"k": "v" * 257}):
        with pytest.raises(exc.InvalidParameterException):
            seed.create("bad-tags", Tags=bad)
    seed.create("unicode-tags", Tags={"Équipe été 1/2:=+-@_.": "ok", "k" * 128: "v" * 256})
    assert tag_key_problem("東京") is None
    assert tag_key_problem("AWS:upper") is None  # the model's pattern is case-sensitive


def test_users_per_instance_quota() -> None:
    with ConnectEmulator(rate_limits=False, max_users_per_instance=3) as emu:
        client = make_client(emu.url)
        seed = seed_instance(emu, client)
        emu.add_user(
            seed.instance_id,
            "u1",
            security_profile_ids=[seed.agent],
            routing_profile_id=seed.routing,
        )
        seed.create("u2")
        seed.create("u3")
        with pytest.raises(client.exceptions.LimitExceededException) as info:
            seed.create("u4")
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
        with pytest.raises(ConnectError) as seeded:
            emu.add_user(
                seed.instance_id,
                "u5",
                security_profile_ids=[seed.agent],
                routing_profile_id=seed.routing,
            )
        assert seeded.value.code == "LimitExceededException"
        # Another instance has its own quota.
        other = seed_instance(emu, client)
        other.create("u4")


def test_add_user_validates(seed: Seed) -> None:
    with pytest.raises(ConnectError) as bad_name:
        seed.emulator.add_user(
            seed.instance_id,
            "has space",
            security_profile_ids=[seed.agent],
            routing_profile_id=seed.routing,
        )
    assert bad_name.value.code == "InvalidParameterException"
    with pytest.raises(ConnectError, match="SecurityProfileIds"):
        seed.emulator.add_user(
            seed.instance_id, "none", security_profile_ids=[], routing_profile_id=seed.routing
        )
    user_id = seed.emulator.add_user(
        seed.instance_id,
        "seeded",
        security_profile_ids=[seed.agent],
        routing_profile_id=seed.routing,
        email="s@example.com",
        phone={"PhoneType": "SOFT_PHONE", "AutoAccept": True, "AfterContactWorkTimeLimit": 5},
    )
    with pytest.raises(ConnectError) as duplicate:
        seed.emulator.add_user(
            seed.instance_id,
            "seeded",
            security_profile_ids=[seed.agent],
            routing_profile_id=seed.routing,
        )
    assert duplicate.value.code == "DuplicateResourceException"
    record = seed.emulator.user_by_name(seed.instance_id, "seeded")
    assert record is not None
    assert record["Id"] == user_id
    assert record["IdentityInfo"] == {"Email": "s@example.com"}
    assert record["PhoneConfig"]["AutoAccept"] is True
    assert seed.emulator.calls == {}  # the Python API makes no requests


# --------------------------------------------------------------------------- error mapping


def test_duplicate_username_is_case_sensitive(seed: Seed) -> None:
    seed.create("jdoe")
    with pytest.raises(seed.client.exceptions.DuplicateResourceException) as info:
        seed.create("jdoe")
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert seed.create("JDoe")["UserId"]


@pytest.mark.parametrize(
    ("error", "status"),
    [
        ("ThrottlingException", 429),
        ("DuplicateResourceException", 409),
        ("LimitExceededException", 429),
        ("InvalidParameterException", 400),
        ("InvalidRequestException", 400),
        ("ResourceNotFoundException", 404),
        ("InternalServiceException", 500),
    ],
)
def test_every_error_maps_to_its_botocore_exception(seed: Seed, error: str, status: int) -> None:
    seed.emulator.fail_username("victim", operation="CreateUser", error=error, times=1)
    exception_class = getattr(seed.client.exceptions, error)
    with pytest.raises(exception_class) as info:
        seed.create("victim")
    response = info.value.response
    assert response["Error"]["Code"] == error
    assert response["Error"]["Message"] == "Injected " + error + " for user victim"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == error
    assert seed.create("victim")["UserId"]  # times=1: the next call goes through


def test_unknown_instance_and_user(seed: Seed) -> None:
    exc = seed.client.exceptions
    with pytest.raises(exc.ResourceNotFoundException):
        seed.client.describe_user(InstanceId=seed.instance_id, UserId="nope")
    with pytest.raises(exc.ResourceNotFoundException):
        seed.client.list_users(InstanceId="nope")
    with pytest.raises(exc.ResourceNotFoundException):
        seed.client.search_users(InstanceId="nope")
    with pytest.raises(exc.ResourceNotFoundException):
        seed.client.delete_user(InstanceId=seed.instance_id, UserId="nope")
    # The instance ARN is accepted where an instance id is expected.
    arn = seed.emulator.instance_arn(seed.instance_id)
    assert seed.client.list_users(InstanceId=arn)["UserSummaryList"] == []


def test_unsupported_routes_and_missing_signature(emulator: ConnectEmulator, client: Any) -> None:
    instance_id = emulator.add_instance()
    with pytest.raises(client.exceptions.InvalidRequestException, match="ListQueues"):
        client.list_queues(InstanceId=instance_id)
    request = urllib.request.Request(f"{emulator.url}/no-such-route", method="GET")
    request.add_header("Authorization", "AWS4-HMAC-SHA256 Credential=x")
    with pytest.raises(urllib.error.HTTPError) as not_found:
        urllib.request.urlopen(request, timeout=5)
    assert not_found.value.code == 404
    assert not_found.value.headers["x-amzn-ErrorType"] == "UnknownOperationException"
    assert b"/no-such-route" in not_found.value.read()

    unsigned = urllib.request.Request(f"{emulator.url}/users-summary/{instance_id}")
    with pytest.raises(urllib.error.HTTPError) as forbidden:
        urllib.request.urlopen(unsigned, timeout=5)
    assert forbidden.value.code == 403
    assert forbidden.value.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"


# --------------------------------------------------------------------------- rate limits


def test_throttling_per_operation() -> None:
    with ConnectEmulator(speed=1.0) as emu:
        client = make_client(emu.url)
        seed = seed_instance(emu, client)
        outcomes = []
        statuses = set()
        for i in range(20):
            try:
                seed.create(f"burst{i}")
                outcomes.append("ok")
            except client.exceptions.ThrottlingException as exc:
                statuses.add(exc.response["ResponseMetadata"]["HTTPStatusCode"])
                outcomes.append("throttled")
        assert statuses == {429}
        assert outcomes[:5] == ["ok"] * 5
        assert "throttled" in outcomes
        assert outcomes.count("ok") < 12
        # Another operation has its own bucket.
        assert client.list_users(InstanceId=seed.instance_id)["UserSummaryList"]
        assert emu.calls["CreateUser"] == 20
        assert emu.throttled["CreateUser"] == outcomes.count("throttled")
        assert emu.throttled["ListUsers"] == 0
        emu.reset_calls()
        assert emu.calls == {}
        assert emu.throttled == {}


def test_speed_raises_throughput() -> None:
    with ConnectEmulator(speed=10.0) as emu:
        client = make_client(emu.url)
        seed = seed_instance(emu, client)
        for i in range(20):
            seed.create(f"fast{i}")
        assert emu.throttled == {}


def test_standard_retries_ride_out_throttling() -> None:
    with ConnectEmulator(speed=4.0, burst=1) as emu:
        retrying = Config(retries={"mode": "standard", "total_max_attempts": 10})
        client = make_client(emu.url, config=retrying)
        seed = seed_instance(emu, client)
        for i in range(8):
            seed.create(f"retry{i}")
        assert emu.throttled["CreateUser"] > 0
        assert len(emu.users(seed.instance_id)) == 8


def test_random_throttle_rate_is_seeded() -> None:
    with ConnectEmulator(rate_limits=False, seed=7) as emu:
        emu.throttle_rate = 0.5
        client = make_client(emu.url)
        instance_id = emu.add_instance()
        results = []
        for _ in range(12):
            try:
                client.list_users(InstanceId=instance_id)
                results.append(True)
            except client.exceptions.ThrottlingException:
                results.append(False)
        draws = random.Random(7)
        assert results == [draws.random() >= 0.5 for _ in range(12)]
        assert emu.throttled["ListUsers"] == results.count(False)
        assert True in results
        assert False in results


# --------------------------------------------------------------------------- faults


def test_fail_username(seed: Seed) -> None:
    user_id = seed.create("flaky")["UserId"]
    seed.create("steady")
    seed.emulator.fail_username("flaky", operation="DescribeUser", times=2)
    ids = {"InstanceId": seed.instance_id, "UserId": user_id}
    for _ in range(2):
        with pytest.raises(seed.client.exceptions.InternalServiceException):
            seed.client.describe_user(**ids)
    assert seed.client.describe_user(**ids)["User"]["Username"] == "flaky"

    seed.emulator.fail_username("flaky", error="ThrottlingException")  # every call, always
    arn = seed.emulator.users(seed.instance_id)[0]["Arn"]  # "flaky" came first
    throttled = seed.client.exceptions.ThrottlingException
    with pytest.raises(throttled):
        seed.client.describe_user(**ids)
    with pytest.raises(throttled):
        seed.client.update_user_routing_profile(RoutingProfileId=seed.other_routing, **ids)
    with pytest.raises(throttled):
        seed.client.tag_resource(resourceArn=arn, tags={"a": "b"})
    with pytest.raises(throttled):
        seed.client.delete_user(**ids)
    record = seed.emulator.user_by_name(seed.instance_id, "flaky")
    assert record is not None
    assert record["RoutingProfileId"] == seed.routing  # the failed calls had no effect
    assert record["Tags"] == {}
    assert len(seed.client.list_users(InstanceId=seed.instance_id)["UserSummaryList"]) == 2
    seed.emulator.clear_faults()
    seed.client.delete_user(**ids)


def test_lost_create_response_then_retry_is_duplicate(seed: Seed) -> None:
    seed.emulator.lose_create_response("lost@example.com")
    with pytest.raises(seed.client.exceptions.InternalServiceException):
        seed.create("lost@example.com")
    assert seed.emulator.user_by_name(seed.instance_id, "lost@example.com") is not None
    with pytest.raises(seed.client.exceptions.DuplicateResourceException):
        seed.create("lost@example.com")
    found = seed.client.search_users(
        InstanceId=seed.instance_id,
        SearchCriteria={
            "StringCondition": {
                "FieldName": "Username",
                "Value": "lost@example.com",
                "ComparisonType": "EXACT",
            }
        },
    )["Users"]
    assert len(found) == 1


# --------------------------------------------------------------------------- configuration


def test_endpoint_from_environment(
    emulator: ConnectEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_CONNECT", emulator.url)
    instance_id = emulator.add_instance()
    client = make_client(None)
    assert client.meta.endpoint_url == emulator.url
    assert client.list_users(InstanceId=instance_id)["UserSummaryList"] == []
    assert emulator.calls["ListUsers"] == 1


def test_command_line_runs_in_foreground() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "connect_user_sync_emulators.connect", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "http://127.0.0.1:" in line
        url = line.strip().rsplit(" ", 1)[-1]
        instance_id = ""
        deadline = time.monotonic() + 10
        while not instance_id and time.monotonic() < deadline:
            text = process.stdout.readline()
            if text.strip().startswith("instance:"):
                instance_id = text.split(":", 1)[1].strip()
        client = make_client(url)
        profiles = client.list_security_profiles(InstanceId=instance_id)
        assert "Agent" in {p["Name"] for p in profiles["SecurityProfileSummaryList"]}
    finally:
        process.terminate()
        process.wait(timeout=10)
