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
from dataclasses import replace
from typing import Any

from connect_user_sync.connect.catalog import read_catalog
from connect_user_sync.connect.schedule import (
    THROTTLE_CODES,
    THROTTLE_RETRY,
    TRANSIENT_RETRY,
    WriteScheduler,
)
from connect_user_sync.connect.throttle import DeadlineReached, RateLimiter
from connect_user_sync.connect.writes import (
    SEARCH_PAGE,
    Shared,
    Writer,
    phone_config,
    search_username,
    user_from_search,
)
from connect_user_sync.domain.catalog import Catalog
from connect_user_sync.domain.lookup import ConnectLookup, ConnectQuery
from connect_user_sync.domain.models import ActionStatus, ConnectUser, SyncAction
from connect_user_sync.errors import PermanentError, TransientError
from connect_user_sync.retry import RetryBudget, RetryPolicy

TRANSIENT_CODES = frozenset(
    {"InternalServiceException", "ServiceUnavailableException", "InternalFailure"}
)
NOT_STARTED = "not started before the run's deadline; the next run will do it"


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
        workers: int = 8,
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
        bucket = self.limiter.bucket(operation)
        while True:
            sent_at = bucket.acquire(deadline)
            try:
                return self._send(operation, params)
            except TransientError as exc:
                if exc.code in THROTTLE_CODES:
                    bucket.slow_down(sent_at)  # the quota is tighter than we thought
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
        self.limiter.count(operation)  # every request, for the run's metrics
        try:
            result: dict[str, Any] = method(**params)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            if code in THROTTLE_CODES:
                self.limiter.count(operation, throttled=True)
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
        share = Shared()
        pages = self.pages("SearchUsers", "Users", SEARCH_PAGE)
        return [user_from_search(item, share) for item in pages]

    def lookup_users(self, query: ConnectQuery) -> ConnectLookup:
        """Only the users an on-demand run needs, in a few searches (``connect.lookup``)."""
        from connect_user_sync.connect.lookup import lookup_users

        return lookup_users(self, query)

    def find_user(self, username: str, *, deadline: float | None = None) -> ConnectUser | None:
        """The user with exactly this (case-sensitive) username, or None."""
        program = search_username(self.instance_id, username)
        try:
            operation, params = next(program)
            while True:
                response = self.call(operation, deadline=deadline, **params)
                operation, params = program.send(response)
        except StopIteration as end:
            found: ConnectUser | None = end.value
            return found

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
        announce: Callable[[SyncAction], None] | None = None,
    ) -> None:
        """Carry out the planned actions side by side, recording each outcome on the action.

        Every operation's bucket is kept busy while it has work (``connect.schedule``); an
        action's own calls go out in order. A failing user never stops the run. Once
        ``deadline`` (a ``time.monotonic`` value) is near, no call starts: actions not
        finished stay ``planned`` with a note, and the next run's fresh plan picks them up.
        ``on_done`` is called once per action as it ends, possibly from several threads.
        """
        writer = Writer(self.instance_id, adopt_existing, announce)

        def done(action: SyncAction, error: BaseException | None) -> None:
            if error is None:
                action.status = ActionStatus.APPLIED
            elif isinstance(error, DeadlineReached):
                action.error = NOT_STARTED
            else:
                action.status = ActionStatus.FAILED
                action.error = str(error)
            if on_done:
                on_done(action)

        WriteScheduler(
            self.limiter,
            self._send,
            first_operation=writer.first_operation,
            program=writer.program,
            done=done,
            workers=self.workers,
            deadline=deadline,
            clock=self.clock,
            sleep=self.sleep,
            rng=self.rng,
        ).run([a for a in actions if a.status == ActionStatus.PLANNED])


__all__ = ["NOT_STARTED", "ConnectInstance", "phone_config", "user_from_search"]
