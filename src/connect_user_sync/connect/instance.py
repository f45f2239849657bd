"""One Amazon Connect instance: read its users and names, apply a plan's actions.

Every call goes through the target's rate limiter and the project's retry policy:
throttling is retried patiently (it slows a run down, it never fails it), server errors and
dropped connections a few times, anything else not at all. Vendor errors leave this module
as ``TransientError`` / ``PermanentError`` with Connect's error code kept in ``code``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from connect_user_sync.connect.catalog import read_catalog
from connect_user_sync.connect.throttle import DeadlineReached, RateLimiter
from connect_user_sync.domain.catalog import Catalog
from connect_user_sync.domain.models import (
    ActionKind,
    ActionStatus,
    ConnectUser,
    PhoneSettings,
    SyncAction,
)
from connect_user_sync.domain.takeover import Refusal, after_duplicate
from connect_user_sync.errors import PermanentError, TransientError
from connect_user_sync.retry import RetryBudget, RetryPolicy

SEARCH_PAGE = 500
MAX_TAGS = 50
MAX_FIRST_NAME = 255
MAX_LAST_NAME = 300
THROTTLE_CODES = frozenset({"ThrottlingException", "TooManyRequestsException"})
TRANSIENT_CODES = frozenset(
    {"InternalServiceException", "ServiceUnavailableException", "InternalFailure"}
)
# Throttling only slows a run down: many patient retries. Server errors: a few.
THROTTLE_RETRY = RetryPolicy(max_attempts=41, base=0.25, cap=10.0, max_total_wait=600.0)
TRANSIENT_RETRY = RetryPolicy(max_attempts=5, base=0.25, cap=10.0, max_total_wait=60.0)
NOT_STARTED = "not started before the run's deadline; the next run will do it"


def user_from_search(item: Mapping[str, Any]) -> ConnectUser:
    """A ``ConnectUser`` from one SearchUsers result.

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
        security_profile_ids=frozenset(item.get("SecurityProfileIds") or ()),
        routing_profile_id=item.get("RoutingProfileId"),
        hierarchy_group_id=item.get("HierarchyGroupId") or None,
        phone=PhoneSettings(
            phone.get("PhoneType", "SOFT_PHONE"),
            bool(phone.get("AutoAccept", False)),
            round(int(phone.get("AfterContactWorkTimeLimit") or 0) / 1000),
            phone.get("DeskPhoneNumber") or None,
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


def _snake(operation: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in operation).lstrip("_")


class ConnectInstance:
    """One Connect instance reached through one boto3 client (a ``ConnectTarget``)."""

    def __init__(
        self,
        client: Any,
        instance_id: str,
        *,
        limiter: RateLimiter | None = None,
        workers: int = 6,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.instance_id = instance_id
        self.limiter = limiter or RateLimiter()
        self.workers = workers
        self.sleep = sleep
        self.rng = rng
        self.clock = clock

    # ----------------------------------------------------------------- calling

    def call(
        self, operation: str, /, *, deadline: float | None = None, **params: Any
    ) -> dict[str, Any]:
        """Call one operation within its rate limit, retrying throttling and server errors.

        Raises ``DeadlineReached`` rather than wait past ``deadline`` (a ``time.monotonic``
        value), ``TransientError`` once the retries are spent, ``PermanentError`` at once.
        """
        throttled = self._budget(THROTTLE_RETRY, deadline)
        failing = self._budget(TRANSIENT_RETRY, deadline)
        while True:
            self.limiter.bucket(operation).acquire(deadline)
            try:
                return self._send(operation, params)
            except TransientError as exc:
                budget = throttled if exc.code in THROTTLE_CODES else failing
                delay = budget.next_delay(exc.retry_after)
                if delay is None:
                    if budget.stopped_by_deadline:
                        raise DeadlineReached from exc
                    raise TransientError(
                        f"{exc} (gave up after {budget.attempts} tries)", code=exc.code
                    ) from exc
                budget.sleep(delay)

    def _budget(self, policy: RetryPolicy, deadline: float | None) -> RetryBudget:
        return replace(
            policy, deadline=deadline, clock=self.clock, sleep=self.sleep, rng=self.rng
        ).start()

    def _send(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """One request; botocore's errors become the project's, with Connect's code."""
        from botocore.exceptions import BotoCoreError, ClientError

        method = getattr(self.client, _snake(operation))
        try:
            result: dict[str, Any] = method(**params)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            message = f"{operation}: {code}: {error.get('Message') or exc}"
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if code in THROTTLE_CODES or code in TRANSIENT_CODES or status >= 500:
                raise TransientError(message, code=code) from exc
            raise PermanentError(message, code=code) from exc
        except BotoCoreError as exc:  # connection reset, timeout, DNS
            raise TransientError(
                f"{operation} could not reach Connect: {exc}", code=type(exc).__name__
            ) from exc
        return result

    def pages(
        self,
        operation: str,
        key: str,
        page_size: int,
        *,
        deadline: float | None = None,
        **params: Any,
    ) -> Iterator[dict[str, Any]]:
        """Every item of a paginated list or search, page after page."""
        token: str | None = None
        while True:
            extra = {"NextToken": token} if token else {}
            page = self.call(
                operation,
                deadline=deadline,
                InstanceId=self.instance_id,
                MaxResults=page_size,
                **params,
                **extra,
            )
            yield from page.get(key) or ()
            token = page.get("NextToken")
            if not token:
                return

    # ----------------------------------------------------------------- reading

    def read_users(self) -> list[ConnectUser]:
        """Every user of the instance, 500 to a SearchUsers page, with tags."""
        return [user_from_search(i) for i in self.pages("SearchUsers", "Users", SEARCH_PAGE)]

    def find_user(self, username: str, *, deadline: float | None = None) -> ConnectUser | None:
        """The user with exactly this (case-sensitive) username, or None."""
        criteria = {
            "StringCondition": {
                "FieldName": "Username",
                "Value": username,
                "ComparisonType": "EXACT",
            }
        }
        for item in self.pages(
            "SearchUsers", "Users", SEARCH_PAGE, deadline=deadline, SearchCriteria=criteria
        ):
            if item.get("Username") == username:
                return user_from_search(item)
        return None

    def catalog(self) -> Catalog:
        return read_catalog(self.pages)

    # ----------------------------------------------------------------- writing

    def apply(
        self,
        actions: Sequence[SyncAction],
        *,
        deadline: float | None = None,
        adopt_existing: bool = True,
        on_done: Callable[[SyncAction], None] | None = None,
    ) -> None:
        """Carry out the planned actions side by side, recording each outcome on the action.

        A failing user never stops the run. Once ``deadline`` (a ``time.monotonic`` value)
        is near, actions not yet started stay ``planned`` with a note; the next run's fresh
        plan picks them up.
        """
        writer = _Writer(self, deadline, adopt_existing)
        todo = [a for a in actions if a.status == ActionStatus.PLANNED]

        def run(action: SyncAction) -> None:
            try:
                if deadline is not None and self.clock() >= deadline:
                    raise DeadlineReached
                writer.apply(action)
                action.status = ActionStatus.APPLIED
            except DeadlineReached:
                action.error = NOT_STARTED
            except (PermanentError, TransientError) as exc:
                action.status = ActionStatus.FAILED
                action.error = str(exc)
            if on_done:
                on_done(action)

        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="connect") as pool:
            list(pool.map(run, todo))


class _Writer:
    """The writes of one ``apply``: the deadline and the adopt rule are fixed for its life."""

    def __init__(
        self, instance: ConnectInstance, deadline: float | None, adopt_existing: bool
    ) -> None:
        self.instance = instance
        self.deadline = deadline
        self.adopt_existing = adopt_existing

    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        return self.instance.call(operation, deadline=self.deadline, **params)

    def apply(self, action: SyncAction) -> None:
        if action.kind == ActionKind.CREATE:
            self.create(action)
        elif action.kind == ActionKind.DELETE:
            self.delete(action)
        else:
            self.update(action)

    def create(self, action: SyncAction) -> None:
        desired = action.desired
        if desired is None:
            raise PermanentError(f"the create of '{action.username}' carries no settings")
        _check_limits(action, {})
        params: dict[str, Any] = {
            "InstanceId": self.instance.instance_id,
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
        try:
            created = self.call("CreateUser", **params)
        except PermanentError as exc:
            if exc.code != "DuplicateResourceException":
                raise
            self.take_over(action)
            return
        action.user_id = created.get("UserId")
        action.arn = created.get("UserArn")

    def take_over(self, action: SyncAction) -> None:
        # CreateUser has no idempotency token: after a lost response the retry lands here.
        # Whether to carry on with the existing user is the domain's decision.
        existing = self.instance.find_user(action.username, deadline=self.deadline)
        decision = after_duplicate(action, existing, adopt_existing=self.adopt_existing)
        if isinstance(decision, Refusal):
            raise PermanentError(decision.reason, code="DuplicateResourceException")
        action.user_id, action.arn = decision.existing.user_id, decision.existing.arn
        self.update(decision.update, decision.existing.tags)

    def update(self, action: SyncAction, existing_tags: Mapping[str, Any] | None = None) -> None:
        ids = {"InstanceId": self.instance.instance_id, "UserId": action.user_id}
        changed = action.changes
        desired = action.desired
        _check_limits(action, existing_tags or {})
        if "security_profile_ids" in changed:
            after = changed["security_profile_ids"].after
            self.call(
                "UpdateUserSecurityProfiles",
                SecurityProfileIds=list(after) if isinstance(after, list) else [],
                **ids,
            )
        if "routing_profile_id" in changed:
            self.call(
                "UpdateUserRoutingProfile",
                RoutingProfileId=changed["routing_profile_id"].after,
                **ids,
            )
        if desired is not None:
            if "hierarchy_group_id" in changed:
                group = desired.hierarchy_group_id
                self.call(
                    "UpdateUserHierarchy", **ids, **({"HierarchyGroupId": group} if group else {})
                )
            if "phone" in changed:
                self.call("UpdateUserPhoneConfig", PhoneConfig=phone_config(desired.phone), **ids)
            if {"first_name", "last_name", "email"} & changed.keys():
                identity = _identity(desired.first_name, desired.last_name, desired.email)
                self.call("UpdateUserIdentityInfo", IdentityInfo=identity, **ids)
        # Tags go last: the managed marker, the e-mail fingerprint and the enabled state
        # only claim what has really been applied.
        if action.remove_tags:
            self.call("UntagResource", resourceArn=action.arn, tagKeys=list(action.remove_tags))
        if action.set_tags:
            self.call("TagResource", resourceArn=action.arn, tags=dict(action.set_tags))

    def delete(self, action: SyncAction) -> None:
        try:
            self.call("DeleteUser", InstanceId=self.instance.instance_id, UserId=action.user_id)
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
