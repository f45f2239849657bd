"""Connect's user records both ways: SearchUsers results in, each action's calls out.

``user_from_search`` is the one place that converts SearchUsers' milliseconds. ``Writer``
turns a planned action into its *program*: a generator that yields the action's Connect
calls in order and is sent each response (``connect.schedule`` runs the programs side by
side). Connect's limits that botocore does not check are checked here, before any call.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from typing import Any, TypeVar

from connect_user_sync.connect.schedule import Call, Program
from connect_user_sync.domain.models import (
    TAG_EMAIL_HASH,
    ActionKind,
    ConnectUser,
    PhoneSettings,
    SyncAction,
)
from connect_user_sync.domain.takeover import Refusal, after_duplicate
from connect_user_sync.errors import PermanentError

SEARCH_PAGE = 500
MAX_TAGS = 50
MAX_FIRST_NAME = 255
MAX_LAST_NAME = 300
T = TypeVar("T")


class Shared:
    """Keeps one copy of the values thousands of users have in common (their profiles,
    phone settings): a read of 50,000 users then holds each once, not 50,000 times."""

    def __init__(self) -> None:
        self._values: dict[Any, Any] = {}

    def __call__(self, value: T) -> T:
        found: T = self._values.setdefault(value, value)
        return found


def _as_it_is(value: T) -> T:
    return value


def user_from_search(
    item: Mapping[str, Any], share: Callable[[Any], Any] = _as_it_is
) -> ConnectUser:
    """A ``ConnectUser`` from one SearchUsers result (``share``: see ``Shared``).

    SearchUsers reports ``PhoneConfig.AfterContactWorkTimeLimit`` in milliseconds, where
    DescribeUser, CreateUser and UpdateUserPhoneConfig use seconds (the Connect API model's
    documentation of ``UserPhoneConfig`` says so). This is the one place that converts:
    everything past it, the plan included, is in seconds.
    """
    phone = item.get("PhoneConfig")
    identity = item.get("IdentityInfo") or {}
    return ConnectUser(
        user_id=item["Id"],
        arn=item.get("Arn", ""),
        username=item["Username"],
        security_profile_ids=share(frozenset(item.get("SecurityProfileIds") or ())),
        routing_profile_id=share(item.get("RoutingProfileId")),
        hierarchy_group_id=share(item.get("HierarchyGroupId") or None),
        phone=share(
            PhoneSettings(
                phone.get("PhoneType", "SOFT_PHONE"),
                bool(phone.get("AutoAccept", False)),
                round(int(phone.get("AfterContactWorkTimeLimit") or 0) / 1000),
                phone.get("DeskPhoneNumber") or None,
            )
        )
        if phone
        else None,
        first_name=identity.get("FirstName") or None,
        last_name=identity.get("LastName") or None,
        tags=dict(item.get("Tags") or {}),
    )


def phone_config(phone: PhoneSettings) -> dict[str, Any]:
    """``PhoneConfig`` for CreateUser and UpdateUserPhoneConfig (seconds)."""
    config: dict[str, Any] = {
        "PhoneType": phone.phone_type,
        "AutoAccept": phone.auto_accept,
        "AfterContactWorkTimeLimit": phone.after_contact_work_timeout,
    }
    if phone.desk_phone_number:
        config["DeskPhoneNumber"] = phone.desk_phone_number
    return config


def _identity(first: str | None, last: str | None, email: str | None) -> dict[str, str]:
    values = {"FirstName": first, "LastName": last, "Email": email}
    return {k: v for k, v in values.items() if v}


def search_username(instance_id: str, username: str) -> Generator[Call, Any, ConnectUser | None]:
    """SearchUsers by exact (case-sensitive) username, page by page: the user or None."""
    criteria = {
        "StringCondition": {"FieldName": "Username", "Value": username, "ComparisonType": "EXACT"}
    }
    params: dict[str, Any] = {
        "InstanceId": instance_id,
        "MaxResults": SEARCH_PAGE,
        "SearchCriteria": criteria,
    }
    while True:
        page = yield ("SearchUsers", dict(params))
        for item in page.get("Users") or ():
            if item.get("Username") == username:
                return user_from_search(item)
        token = page.get("NextToken")
        if not token:
            return None
        params["NextToken"] = token


class Writer:
    """The write programs of one ``apply``: each yields an action's calls in order."""

    def __init__(
        self,
        instance_id: str,
        adopt_existing: bool,
        announce: Callable[[SyncAction], None] | None = None,
    ) -> None:
        self.instance_id = instance_id
        self.adopt_existing = adopt_existing
        # Called before a create's or an adoption's first call (the ownership records'
        # pending item); an error it raises fails the action before anything is sent.
        self.announce = announce

    def first_operation(self, action: SyncAction) -> str:
        """The operation of the action's first call (the scheduler queues by it)."""
        if action.kind == ActionKind.CREATE:
            return "CreateUser"
        if action.kind == ActionKind.DELETE:
            return "DeleteUser"
        calls = self.update_calls(action)
        return calls[0][0] if calls else ""

    def program(self, action: SyncAction) -> Program:
        if action.kind == ActionKind.CREATE:
            return self.create(action)
        if action.kind == ActionKind.DELETE:
            return self.delete(action)
        return self.update(action)

    def create(self, action: SyncAction) -> Program:
        desired = action.desired
        if desired is None:
            raise PermanentError(f"the create of '{action.username}' carries no settings")
        _check_limits(action, {})
        params: dict[str, Any] = {
            "InstanceId": self.instance_id,
            "Username": action.username,
            "SecurityProfileIds": sorted(desired.security_profile_ids),
            "RoutingProfileId": desired.routing_profile_id,
            "PhoneConfig": phone_config(desired.phone),
            "Tags": dict(action.set_tags),
        }
        identity = _identity(desired.first_name, desired.last_name, desired.email)
        if identity:
            params["IdentityInfo"] = identity
        if desired.hierarchy_group_id:
            params["HierarchyGroupId"] = desired.hierarchy_group_id
        if self.announce is not None:
            self.announce(action)
        try:
            created = yield ("CreateUser", params)
        except PermanentError as exc:
            if exc.code != "DuplicateResourceException":
                raise
            yield from self.take_over(action)
            return
        action.user_id = created.get("UserId")
        action.arn = created.get("UserArn")

    def take_over(self, action: SyncAction) -> Program:
        # CreateUser has no idempotency token: after a lost response the retry lands here.
        # Whether to carry on with the existing user is the domain's decision.
        existing = yield from search_username(self.instance_id, action.username)
        decision = after_duplicate(action, existing, adopt_existing=self.adopt_existing)
        if isinstance(decision, Refusal):
            raise PermanentError(decision.reason, code="DuplicateResourceException")
        action.user_id, action.arn = decision.existing.user_id, decision.existing.arn
        yield from self.update(decision.update, decision.existing.tags)

    def update(self, action: SyncAction, existing_tags: Mapping[str, Any] | None = None) -> Program:
        _check_limits(action, existing_tags or {})
        if action.kind == ActionKind.ADOPT and self.announce is not None:
            self.announce(action)
        for call in self.update_calls(action):  # noqa: UP028 (a list cannot be sent to)
            yield call

    def update_calls(self, action: SyncAction) -> list[Call]:
        """An update's calls, in order; every one depends only on the plan."""
        ids = {"InstanceId": self.instance_id, "UserId": action.user_id}
        changed = action.changes
        desired = action.desired
        calls: list[Call] = []
        set_tags = dict(action.set_tags)
        if action.kind == ActionKind.ADOPT:
            # An adoption marks the user first: IAM lets every UpdateUser* call through only
            # on a user tagged managed. The e-mail fingerprint still waits for the e-mail.
            marks = {k: v for k, v in set_tags.items() if k != TAG_EMAIL_HASH}
            set_tags = {k: v for k, v in set_tags.items() if k == TAG_EMAIL_HASH}
            if marks:
                calls.append(("TagResource", {"resourceArn": action.arn, "tags": marks}))
        if "security_profile_ids" in changed:
            after = changed["security_profile_ids"].after
            profiles = list(after) if isinstance(after, list) else []
            calls.append(("UpdateUserSecurityProfiles", {"SecurityProfileIds": profiles, **ids}))
        if "routing_profile_id" in changed:
            routing = {"RoutingProfileId": changed["routing_profile_id"].after, **ids}
            calls.append(("UpdateUserRoutingProfile", routing))
        if desired is not None:
            if "hierarchy_group_id" in changed:
                group = desired.hierarchy_group_id
                calls.append(
                    (
                        "UpdateUserHierarchy",
                        {**ids, **({"HierarchyGroupId": group} if group else {})},
                    )
                )
            if "phone" in changed:
                phone = {"PhoneConfig": phone_config(desired.phone), **ids}
                calls.append(("UpdateUserPhoneConfig", phone))
            if {"first_name", "last_name", "email"} & changed.keys():
                identity = _identity(desired.first_name, desired.last_name, desired.email)
                calls.append(("UpdateUserIdentityInfo", {"IdentityInfo": identity, **ids}))
        # Tags go last: the managed marker, the e-mail fingerprint and the enabled state
        # only claim what has really been applied.
        if action.remove_tags:
            untag = {"resourceArn": action.arn, "tagKeys": list(action.remove_tags)}
            calls.append(("UntagResource", untag))
        if set_tags:
            calls.append(("TagResource", {"resourceArn": action.arn, "tags": set_tags}))
        return calls

    def delete(self, action: SyncAction) -> Program:
        try:
            yield ("DeleteUser", {"InstanceId": self.instance_id, "UserId": action.user_id})
        except PermanentError as exc:
            if exc.code != "ResourceNotFoundException":
                raise  # already gone is what we wanted


def _check_limits(action: SyncAction, existing_tags: Mapping[str, Any]) -> None:
    """Connect's limits that botocore does not check client-side: fail before the call."""
    desired = action.desired
    if desired and desired.first_name and len(desired.first_name) > MAX_FIRST_NAME:
        raise PermanentError(
            f"first name is {len(desired.first_name)} characters; Connect allows {MAX_FIRST_NAME}"
        )
    if desired and desired.last_name and len(desired.last_name) > MAX_LAST_NAME:
        raise PermanentError(
            f"last name is {len(desired.last_name)} characters; Connect allows {MAX_LAST_NAME}"
        )
    total = len(set(existing_tags) - set(action.remove_tags) | set(action.set_tags))
    if total > MAX_TAGS:
        raise PermanentError(
            f"the user would carry {total} tags; Connect allows {MAX_TAGS}. Remove some tags from the user"
        )
