"""The Amazon Connect adapter: read an instance, resolve names, apply actions.

Calls go through one client per target with botocore's own retries switched off: this
module retries itself so that it can tell a users-per-instance quota
(LimitExceededException, which botocore would retry as throttling) from real throttling,
and so that it can respect the run's deadline. A token bucket per operation keeps the
run under Connect's published per-account, per-Region request rates, with operations
proceeding side by side within their own limits.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from connect_user_sync.domain.models import (
    ActionKind,
    ActionStatus,
    ConnectUser,
    PhoneSettings,
    SyncAction,
)
from connect_user_sync.domain.planner import settings_changes
from connect_user_sync.errors import ConfigError, PermanentError, TransientError

# Published default rates (requests per second, per account and Region).
DEFAULT_RATES: dict[str, float] = {
    "DescribeUser": 10,
    "ListUsers": 10,
    "ListRoutingProfiles": 10,
    "ListUserHierarchyGroups": 10,
}
SLOW_RATE = 2.0  # CreateUser, DeleteUser, SearchUsers, UpdateUser*, Tag/Untag, ListSecurityProfiles
DEFAULT_BURST = 2.0  # bursts are not published; stay at the conservative end
RATE_MULTIPLIER_ENV = "CONNECT_USER_SYNC_RATE_MULTIPLIER"
SEARCH_PAGE = 500
MAX_TAGS = 50
MAX_FIRST_NAME = 255
MAX_LAST_NAME = 300
_THROTTLE_CODES = {"ThrottlingException", "TooManyRequestsException"}
_TRANSIENT_CODES = {"InternalServiceException", "ServiceUnavailableException", "InternalFailure"}
MAX_THROTTLE_RETRIES = 40
MAX_TRANSIENT_RETRIES = 4


class DeadlineReached(Exception):
    """The run's deadline is too close to start another write."""


class TokenBucket:
    """A thread-safe token bucket. ``acquire`` sleeps until a token is free."""

    def __init__(
        self,
        rate: float,
        burst: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self.capacity = max(1.0, burst)
        self.tokens = self.capacity
        self.clock = clock
        self.sleep = sleep
        self.updated = clock()
        self.lock = threading.Lock()

    def acquire(self, deadline: float | None = None) -> None:
        while True:
            with self.lock:
                now = self.clock()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                wait = (1 - self.tokens) / self.rate
            if deadline is not None and self.clock() + wait > deadline:
                raise DeadlineReached
            self.sleep(wait)


class RateLimiter:
    """One bucket per Connect operation, shared by every target in the same account and Region."""

    _shared: dict[str, RateLimiter] = {}
    _shared_lock = threading.Lock()

    def __init__(self, multiplier: float = 1.0, burst: float = DEFAULT_BURST) -> None:
        self.multiplier = multiplier
        self.burst = burst
        self.buckets: dict[str, TokenBucket] = {}
        self.lock = threading.Lock()

    @classmethod
    def for_scope(cls, scope: str) -> RateLimiter:
        """The limiter for one account+Region; the rate multiplier follows the environment
        (raise it only after raising the quotas in Service Quotas)."""
        raw = os.environ.get(RATE_MULTIPLIER_ENV) or "1"
        try:
            multiplier = float(raw)
        except ValueError:
            multiplier = 0.0
        if not 0 < multiplier <= 1000:
            raise ConfigError(
                RATE_MULTIPLIER_ENV,
                f"{raw!r} is not a usable rate multiplier",
                "use a number above 0 (1 = Connect's default quotas), or unset it",
            )
        with cls._shared_lock:
            limiter = cls._shared.get(scope)
            if limiter is None or limiter.multiplier != multiplier:
                limiter = cls._shared[scope] = RateLimiter(multiplier)
            return limiter

    def bucket(self, operation: str) -> TokenBucket:
        with self.lock:
            bucket = self.buckets.get(operation)
            if bucket is None:
                rate = DEFAULT_RATES.get(operation, SLOW_RATE) * self.multiplier
                bucket = self.buckets[operation] = TokenBucket(
                    rate, self.burst * max(1.0, self.multiplier)
                )
            return bucket


@dataclass(frozen=True)
class Catalog:
    """Names of one instance's security profiles, routing profiles and hierarchy groups."""

    security_profiles: Mapping[str, str]
    routing_profiles: Mapping[str, str]
    hierarchy_groups: Mapping[str, tuple[str, ...]]

    def names_by_id(self) -> dict[str, str]:
        names = {v: k for k, v in self.security_profiles.items()}
        names.update({v: k for k, v in self.routing_profiles.items()})
        names.update({i: k for k, ids in self.hierarchy_groups.items() for i in ids})
        return names

    def security_profile(self, name: str, path: str) -> str:
        return _lookup(self.security_profiles, name, path, "security profile")

    def routing_profile(self, name: str, path: str) -> str:
        return _lookup(self.routing_profiles, name, path, "routing profile")

    def hierarchy_group(self, name: str, path: str) -> str:
        ids = self.hierarchy_groups.get(name, ())
        if len(ids) > 1:
            raise ConfigError(
                path,
                f"{len(ids)} hierarchy groups are named {name!r}",
                "rename one of them in Connect so the name is unique",
            )
        return _lookup(
            {name: ids[0]} if ids else {}, name, path, "hierarchy group", self.hierarchy_groups
        )


def _lookup(
    names: Mapping[str, Any],
    name: str,
    path: str,
    what: str,
    every: Mapping[str, Any] | None = None,
) -> str:
    if name in names:
        return str(names[name])
    known = sorted(every if every is not None else names)
    close = [n for n in known if n.lower() == name.lower()]
    hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(known[:15]) or 'none'}"
    raise ConfigError(
        path,
        f"no {what} named {name!r} in the Connect instance",
        f"use the exact name from Connect ({hint})",
    )


def parse_user(item: Mapping[str, Any]) -> ConnectUser:
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
            int(phone.get("AfterContactWorkTimeLimit") or 0),
            phone.get("DeskPhoneNumber") or None,
        )
        if phone
        else None,
        first_name=identity.get("FirstName") or None,
        last_name=identity.get("LastName") or None,
        tags=dict(item.get("Tags") or {}),
    )


def _phone_config(phone: PhoneSettings) -> dict[str, Any]:
    config: dict[str, Any] = {
        "PhoneType": phone.phone_type,
        "AutoAccept": phone.auto_accept,
        "AfterContactWorkTimeLimit": phone.after_contact_work_timeout,
    }
    if phone.desk_phone_number:
        config["DeskPhoneNumber"] = phone.desk_phone_number
    return config


class ConnectInstance:
    """One Connect instance reached through one boto3 client."""

    def __init__(
        self,
        client: Any,
        instance_id: str,
        *,
        limiter: RateLimiter | None = None,
        workers: int = 6,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.client = client
        self.instance_id = instance_id
        self.limiter = limiter or RateLimiter.for_scope(
            str(getattr(client.meta, "region_name", ""))
        )
        self.workers = workers
        self.sleep = sleep
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self.deadline: float | None = None

    # ----------------------------------------------------------------- calling

    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        """Call one operation within its rate limit, retrying throttling and 5xx."""
        from botocore.exceptions import BotoCoreError, ClientError

        method = getattr(self.client, _snake(operation))
        throttles = transients = 0
        while True:
            self.limiter.bucket(operation).acquire(self.deadline)
            try:
                result: dict[str, Any] = method(**params)
                return result
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                message = exc.response.get("Error", {}).get("Message") or str(exc)
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
                if code in _THROTTLE_CODES:
                    throttles += 1
                    if throttles > MAX_THROTTLE_RETRIES:
                        raise TransientError(
                            f"{operation} still throttled after {throttles} tries"
                        ) from exc
                    self._back_off(throttles)
                    continue
                if code in _TRANSIENT_CODES or status >= 500:
                    transients += 1
                    if transients > MAX_TRANSIENT_RETRIES:
                        raise TransientError(
                            f"{operation} failed {transients} times: {code}: {message}"
                        ) from exc
                    self._back_off(transients)
                    continue
                raise PermanentError(f"{operation}: {code}: {message}") from exc
            except BotoCoreError as exc:  # connection reset, timeout, DNS
                transients += 1
                if transients > MAX_TRANSIENT_RETRIES:
                    raise TransientError(f"{operation} could not reach Connect: {exc}") from exc
                self._back_off(transients)

    def _back_off(self, attempt: int) -> None:
        # Full jitter, capped: throttling slows a run down but never fails it.
        delay = self.rng.uniform(0, min(10.0, 0.25 * 2**attempt))
        if self.deadline is not None and time.monotonic() + delay > self.deadline:
            raise DeadlineReached
        self.sleep(delay)

    def _pages(
        self, operation: str, key: str, page_size: int, **params: Any
    ) -> Iterable[dict[str, Any]]:
        token: str | None = None
        while True:
            extra = {"NextToken": token} if token else {}
            page = self.call(
                operation, InstanceId=self.instance_id, MaxResults=page_size, **params, **extra
            )
            yield from page.get(key) or ()
            token = page.get("NextToken")
            if not token:
                return

    # ----------------------------------------------------------------- reading

    def read_users(self) -> list[ConnectUser]:
        """Every user of the instance, 500 to a SearchUsers page, with tags."""
        return [parse_user(item) for item in self._pages("SearchUsers", "Users", SEARCH_PAGE)]

    def find_user(self, username: str) -> ConnectUser | None:
        criteria = {
            "StringCondition": {
                "FieldName": "Username",
                "Value": username,
                "ComparisonType": "EXACT",
            }
        }
        for item in self._pages("SearchUsers", "Users", SEARCH_PAGE, SearchCriteria=criteria):
            if item.get("Username") == username:
                return parse_user(item)
        return None

    def catalog(self) -> Catalog:
        security = {
            s["Name"]: s["Id"]
            for s in self._pages("ListSecurityProfiles", "SecurityProfileSummaryList", 1000)
        }
        routing = {
            r["Name"]: r["Id"]
            for r in self._pages("ListRoutingProfiles", "RoutingProfileSummaryList", 1000)
        }
        hierarchy: dict[str, tuple[str, ...]] = {}
        for group in self._pages("ListUserHierarchyGroups", "UserHierarchyGroupSummaryList", 1000):
            hierarchy[group["Name"]] = (*hierarchy.get(group["Name"], ()), group["Id"])
        return Catalog(security, routing, hierarchy)

    # ----------------------------------------------------------------- writing

    def apply(
        self,
        actions: Sequence[SyncAction],
        *,
        deadline: float | None = None,
        adopt_existing: bool = True,
        on_done: Callable[[SyncAction], None] | None = None,
    ) -> None:
        """Carry out the planned actions, side by side, recording each outcome on the action.

        A failing user never stops the run. Once the deadline is near, actions not yet
        started stay ``planned`` with a note; the next run's fresh plan picks them up.
        """
        self.deadline = deadline
        todo = [a for a in actions if a.status == ActionStatus.PLANNED]

        def run(action: SyncAction) -> None:
            try:
                if deadline is not None and time.monotonic() >= deadline:
                    raise DeadlineReached
                self._apply_one(action, adopt_existing)
                action.status = ActionStatus.APPLIED
            except DeadlineReached:
                action.error = "not started before the run's deadline; the next run will do it"
            except (PermanentError, TransientError) as exc:
                action.status = ActionStatus.FAILED
                action.error = str(exc)
            if on_done:
                on_done(action)

        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="connect") as pool:
            list(pool.map(run, todo))

    def _apply_one(self, action: SyncAction, adopt_existing: bool) -> None:
        if action.kind == ActionKind.CREATE:
            self._create(action, adopt_existing)
        elif action.kind == ActionKind.DELETE:
            self._delete(action)
        else:
            self._update(action)

    def _check_limits(self, action: SyncAction, existing_tags: Mapping[str, Any]) -> None:
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

    def _create(self, action: SyncAction, adopt_existing: bool) -> None:
        desired = action.desired
        assert desired is not None
        self._check_limits(action, {})
        params: dict[str, Any] = {
            "InstanceId": self.instance_id,
            "Username": action.username,
            "SecurityProfileIds": sorted(desired.security_profile_ids),
            "RoutingProfileId": desired.routing_profile_id,
            "PhoneConfig": _phone_config(desired.phone),
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
            if "DuplicateResourceException" not in str(exc):
                raise
            self._adopt_after_duplicate(action, adopt_existing)
            return
        action.user_id = created.get("UserId")
        action.arn = created.get("UserArn")

    def _adopt_after_duplicate(self, action: SyncAction, adopt_existing: bool) -> None:
        # CreateUser has no idempotency token: after a lost response the retry lands here.
        existing = self.find_user(action.username)
        if existing is None:
            raise PermanentError(
                f"CreateUser said '{action.username}' exists, but SearchUsers cannot find it"
            )
        owner = existing.source_id
        if existing.managed and owner not in (None, action.source_id):
            raise PermanentError(f"'{action.username}' already exists for directory user {owner}")
        if not existing.managed and not adopt_existing:
            raise PermanentError(
                f"'{action.username}' already exists and safety.adopt_existing is false"
            )
        assert action.desired is not None
        action.user_id, action.arn = existing.user_id, existing.arn
        follow_up = SyncAction(
            ActionKind.UPDATE,
            action.username,
            action.source_id,
            existing.user_id,
            settings_changes(existing, action.desired),
            action.desired,
            set_tags={k: v for k, v in action.set_tags.items() if existing.tags.get(k) != v},
            arn=existing.arn,
        )
        self._update(follow_up, existing.tags)

    def _update(self, action: SyncAction, existing_tags: Mapping[str, Any] | None = None) -> None:
        ids = {"InstanceId": self.instance_id, "UserId": action.user_id}
        changed = action.changes
        desired = action.desired
        self._check_limits(action, existing_tags or {})
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
                extra = (
                    {"HierarchyGroupId": desired.hierarchy_group_id}
                    if desired.hierarchy_group_id
                    else {}
                )
                self.call("UpdateUserHierarchy", **ids, **extra)
            if "phone" in changed:
                self.call("UpdateUserPhoneConfig", PhoneConfig=_phone_config(desired.phone), **ids)
            if {"first_name", "last_name", "email"} & changed.keys():
                identity = _identity(desired.first_name, desired.last_name, desired.email)
                self.call("UpdateUserIdentityInfo", IdentityInfo=identity, **ids)
        # Tags go last: the managed marker, the e-mail fingerprint and the enabled state
        # only claim what has really been applied.
        if action.remove_tags:
            self.call("UntagResource", resourceArn=action.arn, tagKeys=list(action.remove_tags))
        if action.set_tags:
            self.call("TagResource", resourceArn=action.arn, tags=dict(action.set_tags))

    def _delete(self, action: SyncAction) -> None:
        try:
            self.call("DeleteUser", InstanceId=self.instance_id, UserId=action.user_id)
        except PermanentError as exc:
            if "ResourceNotFoundException" not in str(exc):
                raise  # already gone is what we wanted


def _identity(first: str | None, last: str | None, email: str | None) -> dict[str, str]:
    values = {"FirstName": first, "LastName": last, "Email": email}
    return {k: v for k, v in values.items() if v}


def _snake(operation: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in operation).lstrip("_")


def connect_client(
    region: str, *, role_arn: str | None = None, external_id: str | None = None, session: Any = None
) -> Any:
    """A boto3 Connect client for one target. Endpoints follow the standard AWS
    configuration (``AWS_ENDPOINT_URL_CONNECT``); a role is assumed for cross-account targets."""
    import boto3
    from botocore.config import Config as BotoConfig

    config = BotoConfig(
        retries={"total_max_attempts": 1},
        connect_timeout=5,
        read_timeout=30,
        max_pool_connections=16,
        user_agent_extra="connect-user-sync",
    )
    base = session or boto3.session.Session()
    if role_arn:
        sts = base.client("sts", region_name=region)
        params: dict[str, Any] = {"RoleArn": role_arn, "RoleSessionName": "connect-user-sync"}
        if external_id:
            params["ExternalId"] = external_id
        creds = sts.assume_role(**params)["Credentials"]
        base = boto3.session.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
            region_name=region,
        )
    return base.client("connect", region_name=region, config=config)


__all__ = [
    "Catalog",
    "ConnectInstance",
    "DeadlineReached",
    "RateLimiter",
    "TokenBucket",
    "connect_client",
    "parse_user",
]
