"""SearchUsers in the Connect emulator: what the API model documents, and nothing more.

The model says which FieldName values a StringCondition takes, that "name" fields take
CONTAINS queries of 2 to 25 characters, and that a SearchFilter with both a TagFilter and
a UserAttributeFilter is refused with AccessDeniedException. It says nothing about letter
case, so the emulator compares case-sensitively: the on-demand look-ups must not depend on
a case-insensitive service.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from connect_user_sync_emulators.connect import ConnectEmulator


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[Any, str]]:
    with ConnectEmulator(rate_limits=False) as emulator:
        iid = emulator.add_instance()
        sp = emulator.add_security_profile(iid, "Agent")
        rp = emulator.add_routing_profile(iid, "Basic")
        for name, first, last, tags in (
            ("jane.doe@example.com", "Jane", "Doe", {"team": "a"}),
            ("Jane.Doe@Example.com", "Jane", "Doe", {"team": "b"}),
            ("bob@example.com", "Bob", "Stone", {"team": "a"}),
        ):
            emulator.add_user(
                iid,
                name,
                security_profile_ids=[sp],
                routing_profile_id=rp,
                first_name=first,
                last_name=last,
                tags=tags,
            )
        client = boto3.client(
            "connect",
            endpoint_url=emulator.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(retries={"total_max_attempts": 1}),
        )
        yield client, iid


def _names(world: tuple[Any, str], **kwargs: Any) -> list[str]:
    client, iid = world
    return [u["Username"] for u in client.search_users(InstanceId=iid, **kwargs)["Users"]]


def _string(field: str, value: str, comparison: str) -> dict[str, Any]:
    return {"StringCondition": {"FieldName": field, "Value": value, "ComparisonType": comparison}}


def test_string_conditions_compare_case_sensitively(world: tuple[Any, str]) -> None:
    assert _names(world, SearchCriteria=_string("Username", "jane.doe@example.com", "EXACT")) == [
        "jane.doe@example.com"
    ]
    assert _names(world, SearchCriteria=_string("Username", "JANE.DOE", "CONTAINS")) == []
    assert _names(world, SearchCriteria=_string("Username", "Jane.Doe", "CONTAINS")) == [
        "Jane.Doe@Example.com"
    ]


def test_names_and_or_conditions_combine(world: tuple[Any, str]) -> None:
    person = {
        "AndConditions": [
            _string("FirstName", "Jane", "EXACT"),
            _string("LastName", "Doe", "EXACT"),
        ]
    }
    either = {"OrConditions": [person, _string("Username", "bob@example.com", "EXACT")]}
    assert _names(world, SearchCriteria=either) == [
        "jane.doe@example.com",
        "Jane.Doe@Example.com",
        "bob@example.com",
    ]


@pytest.mark.parametrize("value", ["j", "x" * 26])
def test_contains_on_a_name_field_takes_2_to_25_characters(
    world: tuple[Any, str], value: str
) -> None:
    client, iid = world
    with pytest.raises(client.exceptions.InvalidParameterException, match="2 to 25"):
        client.search_users(InstanceId=iid, SearchCriteria=_string("Username", value, "CONTAINS"))
    # The rule is checked even where no user would be compared, and only for CONTAINS.
    assert _names(world, SearchCriteria=_string("Username", value, "EXACT")) == []


def test_an_undocumented_field_name_is_refused(world: tuple[Any, str]) -> None:
    client, iid = world
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.search_users(
            InstanceId=iid, SearchCriteria=_string("HierarchyGroupId", "x", "EXACT")
        )


def test_tag_filter_and_user_attribute_filter_together_are_refused(
    world: tuple[Any, str],
) -> None:
    client, iid = world
    condition = {"TagKey": "team", "TagValue": "a"}
    with pytest.raises(client.exceptions.AccessDeniedException):
        client.search_users(
            InstanceId=iid,
            SearchFilter={
                "TagFilter": {"TagCondition": condition},
                "UserAttributeFilter": {"TagCondition": condition},
            },
        )
    tag_or = {"TagFilter": {"OrConditions": [[condition], [{"TagKey": "team", "TagValue": "b"}]]}}
    assert len(_names(world, SearchFilter=tag_or)) == 3


def test_the_approximate_total_counts_every_match_whatever_the_page(
    world: tuple[Any, str],
) -> None:
    client, iid = world
    page = client.search_users(
        InstanceId=iid,
        MaxResults=1,
        SearchFilter={"TagFilter": {"TagCondition": {"TagKey": "team", "TagValue": "a"}}},
    )
    assert len(page["Users"]) == 1 and page["ApproximateTotalCount"] == 2
