"""The naive way to read a Connect instance, for comparison only: ListUsers, then
DescribeUser per user (the way most sync scripts start). The product never does this: it
reads 500 users with their tags per SearchUsers page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connect_user_sync.config import TargetConfig
from connect_user_sync.connect import ConnectInstance, RateLimiter, connect_client
from connect_user_sync.domain.models import ConnectUser, PhoneSettings

LIST_PAGE = 1000


def _from_describe(user: Mapping[str, Any]) -> ConnectUser:
    phone = user.get("PhoneConfig")
    identity = user.get("IdentityInfo") or {}
    return ConnectUser(
        user_id=user["Id"],
        arn=user.get("Arn", ""),
        username=user["Username"],
        security_profile_ids=frozenset(user.get("SecurityProfileIds") or ()),
        routing_profile_id=user.get("RoutingProfileId"),
        hierarchy_group_id=user.get("HierarchyGroupId") or None,
        phone=PhoneSettings(
            phone.get("PhoneType", "SOFT_PHONE"),
            bool(phone.get("AutoAccept", False)),
            int(phone.get("AfterContactWorkTimeLimit") or 0),  # DescribeUser: seconds
            phone.get("DeskPhoneNumber") or None,
        )
        if phone
        else None,
        first_name=identity.get("FirstName") or None,
        last_name=identity.get("LastName") or None,
        tags=dict(user.get("Tags") or {}),
    )


class NaiveInstance(ConnectInstance):
    """A Connect target whose user read is one DescribeUser per user."""

    def read_users(self) -> list[ConnectUser]:
        users = []
        for summary in self.pages("ListUsers", "UserSummaryList", LIST_PAGE):
            described = self.call("DescribeUser", InstanceId=self.instance_id, UserId=summary["Id"])
            users.append(_from_describe(described["User"]))
        return users


def naive_connect(target: TargetConfig, limiter: RateLimiter) -> NaiveInstance:
    client = connect_client(target.region, role_arn=target.role_arn, external_id=target.external_id)
    return NaiveInstance(client, target.instance_id, limiter=limiter)
