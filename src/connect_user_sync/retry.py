"""The one retry policy every adapter uses: capped exponential backoff with full jitter.

A service's own hint wins over the formula: ``Retry-After`` (seconds or an HTTP date) or a
rate-limit reset time (``X-Rate-Limit-Reset``, epoch seconds). Whatever the hints say, the
total time spent waiting is bounded, and so is the number of attempts, and no wait runs
past the caller's deadline: a retry loop can never hold a Lambda past its timeout.

Clock, sleep and randomness are injectable so that tests run without real waiting.

A phase of a run can also put every retry loop inside it on one shared budget, without
each adapter having to pass it down: ``with retry_scope(deadline=..., max_total_wait=...)``
(the service does this around the directory read). Inside the scope no wait starts past
the deadline, the waits of all the loops together stay under ``max_total_wait``, and
``request_timeout`` clips an HTTP timeout to the time that is left, so an unreachable
identity provider costs the budget, not one full retry series per group.

Typical use::

    budget = policy.start()
    while True:
        try:
            return call()
        except TransientError as exc:
            if not budget.wait(exc.retry_after):
                raise
"""

from __future__ import annotations

import contextlib
import contextvars
import email.utils
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from connect_user_sync.errors import TransientError

T = TypeVar("T")

Clock = Callable[[], float]
Sleep = Callable[[float], None]


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a transient failure.

    Parameters
    ----------
    max_attempts:
        Attempts in all, the first included.
    base, cap:
        The backoff ceiling of retry ``n`` is ``min(cap, base * 2**n)``; the wait is drawn
        uniformly below it (full jitter), so many clients do not retry in step.
    max_total_wait:
        Seconds of waiting one operation may spend across all its retries.
    max_hint:
        The longest single wait a service's hint may ask for; a longer hint is clipped.
    deadline:
        A ``clock()`` value after which no wait starts (None: no deadline).
    """

    max_attempts: int = 8
    base: float = 0.5
    cap: float = 30.0
    max_total_wait: float = 120.0
    max_hint: float = 120.0
    deadline: float | None = None
    clock: Clock = field(default=time.monotonic, compare=False)
    sleep: Sleep = field(default=time.sleep, compare=False)
    rng: Callable[[], float] = field(default=random.random, compare=False)

    def start(self) -> RetryBudget:
        """A fresh budget for one operation."""
        return RetryBudget(self)

    def backoff(self, retry: int) -> float:
        """The jittered backoff before retry number ``retry`` (0 for the first retry)."""
        ceiling = min(self.cap, self.base * 2.0 ** min(retry, 30))
        return ceiling * self.rng()

    def call(
        self,
        operation: Callable[[], T],
        *,
        on_retry: Callable[[TransientError, int, float], None] | None = None,
    ) -> T:
        """Run ``operation``, retrying while it raises ``TransientError`` and budget is left.

        The last ``TransientError`` is re-raised once the budget is spent.
        """
        budget = self.start()
        while True:
            try:
                return operation()
            except TransientError as exc:
                delay = budget.next_delay(exc.retry_after)
                if delay is None:
                    raise
                if on_retry is not None:
                    on_retry(exc, budget.retries + 1, delay)
                budget.sleep(delay)


class RetryScope:
    """One budget shared by every retry loop started inside ``retry_scope``.

    ``deadline`` is a ``time.monotonic()`` value (the real clock, whatever a policy's own
    clock is); ``max_total_wait`` bounds the waiting of all the loops together.
    """

    def __init__(self, deadline: float | None, max_total_wait: float | None) -> None:
        self.deadline = deadline
        self.max_total_wait = max_total_wait
        self.waited = 0.0
        self._lock = threading.Lock()

    def remaining(self) -> float | None:
        """Seconds left before the deadline (never negative), or None without one."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.monotonic())

    def allows(self, delay: float) -> bool:
        with self._lock:
            if self.max_total_wait is not None and self.waited + delay > self.max_total_wait:
                return False
        left = self.remaining()
        return left is None or delay < left

    def spent(self, delay: float) -> None:
        with self._lock:
            self.waited += delay


_SCOPE: contextvars.ContextVar[RetryScope | None] = contextvars.ContextVar(
    "connect_user_sync_retry_scope", default=None
)


@contextlib.contextmanager
def retry_scope(
    *, deadline: float | None = None, max_total_wait: float | None = None
) -> Iterator[RetryScope]:
    """Put every ``RetryBudget`` started in this context on one shared budget."""
    scope = RetryScope(deadline, max_total_wait)
    token = _SCOPE.set(scope)
    try:
        yield scope
    finally:
        _SCOPE.reset(token)


def current_scope() -> RetryScope | None:
    """The budget of the enclosing ``retry_scope``, if any."""
    return _SCOPE.get()


def request_timeout(timeout: tuple[float, float], floor: float = 1.0) -> tuple[float, float]:
    """An HTTP (connect, read) timeout clipped to what the enclosing scope has left.

    ``floor`` keeps a last request possible at all; the retry loop around it stops anyway.
    """
    scope = _SCOPE.get()
    left = scope.remaining() if scope is not None else None
    if left is None:
        return timeout
    cap = max(floor, left)
    return (min(timeout[0], cap), min(timeout[1], cap))


class RetryBudget:
    """What one operation has left: attempts, total waiting time and the deadline."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.scope = _SCOPE.get()
        self.retries = 0
        self.waited = 0.0
        # True once the deadline, not the attempts or the waiting budget, ruled out a retry:
        # the caller then knows the work was left for later rather than failed.
        self.stopped_by_deadline = False

    @property
    def attempts(self) -> int:
        """Attempts made so far, assuming the current one has been made."""
        return self.retries + 1

    def next_delay(self, hint: float | None = None) -> float | None:
        """Seconds to wait before the next attempt, or None when no attempt is left.

        ``hint`` is the service's own word (Retry-After, a reset time) in seconds.
        """
        policy = self.policy
        if self.retries + 1 >= policy.max_attempts:
            return None
        if hint is not None:
            delay = min(max(0.0, hint), policy.max_hint)
        else:
            delay = policy.backoff(self.retries)
        if self.waited + delay > policy.max_total_wait:
            return None
        if policy.deadline is not None and policy.clock() + delay >= policy.deadline:
            self.stopped_by_deadline = True
            return None
        if self.scope is not None and not self.scope.allows(delay):
            self.stopped_by_deadline = True
            return None
        return delay

    def sleep(self, delay: float) -> None:
        """Wait ``delay`` seconds and count the retry."""
        self.retries += 1
        self.waited += delay
        if self.scope is not None:
            self.scope.spent(delay)
        if delay > 0:
            self.policy.sleep(delay)

    def wait(self, hint: float | None = None) -> bool:
        """Wait before the next attempt; False (without waiting) when none is left."""
        delay = self.next_delay(hint)
        if delay is None:
            return False
        self.sleep(delay)
        return True


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Parse a ``Retry-After`` header: delta seconds, or an HTTP date. None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def reset_wait_seconds(
    reset_epoch: str | float | None, *, now: float | None = None
) -> float | None:
    """Seconds until a rate-limit window resets (``X-Rate-Limit-Reset``, epoch seconds)."""
    if reset_epoch is None or reset_epoch == "":
        return None
    try:
        reset = float(reset_epoch)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    # One extra second: the reset is rounded down to whole seconds by the services.
    return max(0.0, reset - current) + 1.0
