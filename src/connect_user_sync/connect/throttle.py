"""Client-side rate limits: a token bucket per Connect operation and quota scope.

Connect's request quotas are per account and Region, shared by every instance there, and
each operation has its own. A run keeps one ``ThrottleRegistry``: every target in the same
account and Region draws from the same ``RateLimiter``, and the registry ends with the run,
so nothing is shared between runs and nothing has to be reset between tests.

The rate multiplier (``CONNECT_USER_SYNC_RATE_MULTIPLIER``, for quotas raised in Service
Quotas) scales the rates only: a raised quota is a higher refill rate, and Connect's burst
stays what it is, so the buckets keep the service's burst whatever the multiplier.

The buckets adapt. When Connect throttles a call anyway (another tool draws from the same
quota, or a quota is lower than configured), that operation's rate is halved at once and
then creeps back up, a twentieth of its configured rate per second, while nothing is
throttled: additive increase, multiplicative decrease, as TCP does with its window.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping

from connect_user_sync.errors import ConfigError

# Published default rates (requests per second, per account and Region).
DEFAULT_RATES: Mapping[str, float] = {
    "DescribeUser": 10,
    "ListUsers": 10,
    "ListRoutingProfiles": 10,
    "ListUserHierarchyGroups": 10,
}
SLOW_RATE = 2.0  # CreateUser, DeleteUser, SearchUsers, UpdateUser*, Tag/Untag, ListSecurityProfiles
DEFAULT_BURST = 2.0  # bursts are not published; stay at the conservative end
RATE_MULTIPLIER_ENV = "CONNECT_USER_SYNC_RATE_MULTIPLIER"
MAX_MULTIPLIER = 1000.0
# Adapting to throttling: halve the rate, never below a twentieth of the configured rate,
# and win back a twentieth of the configured rate per second without throttling.
DECREASE_FACTOR = 0.5
MIN_RATE_FRACTION = 0.05
RECOVERY_PER_SECOND = 0.05
JITTER_RESERVE = 1.0
_EPSILON = 1e-6


class DeadlineReached(Exception):
    """The run's deadline is too close to start another call."""


class TokenBucket:
    """A thread-safe, adaptive token bucket for one operation.

    ``try_take`` never blocks (the write scheduler's way); ``acquire`` sleeps until a
    token is free (the readers' way). ``rate`` is the current rate, ``nominal_rate`` the
    configured one; ``slow_down`` is called when the service throttled a call anyway.
    """

    def __init__(
        self,
        rate: float,
        burst: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.nominal_rate = rate
        self.rate = rate
        self.burst = burst
        # One token of the service's burst stays in reserve. The service counts arrival
        # times, not ours: once a request was slower on the wire than the ones after it,
        # its bucket runs behind ours, and at exactly its rate and burst the next request
        # on time would be throttled. The reserve absorbs up to one token's worth of such
        # jitter and costs one request of burst.
        self.capacity = max(1.0, burst - JITTER_RESERVE)
        self.tokens = self.capacity
        self.clock = clock
        self.sleep = sleep
        self.updated = clock()
        self.slowed_at = -math.inf  # when the rate was last cut
        self.slowdowns = 0
        self.lock = threading.Lock()

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.updated)
        if self.rate < self.nominal_rate:
            # The rate rises linearly during the interval: refill with its average.
            start = self.rate
            self.rate = min(
                self.nominal_rate, start + self.nominal_rate * RECOVERY_PER_SECOND * elapsed
            )
            self.tokens += elapsed * (start + self.rate) / 2
        else:
            self.tokens += elapsed * self.rate
        self.tokens = min(self.capacity, self.tokens)
        self.updated = now

    def try_take(self) -> float:
        """Take a token if one is free and return 0; else the seconds until one is."""
        with self.lock:
            self._refill(self.clock())
            if self.tokens >= 1 - _EPSILON:  # a hair short is float rounding, not a wait
                self.tokens = max(0.0, self.tokens - 1)
                return 0.0
            return max(_EPSILON, (1 - self.tokens) / self.rate)

    def acquire(self, deadline: float | None = None) -> float:
        """Take a token, sleeping until one is free; returns when it was taken.

        Raises ``DeadlineReached`` rather than wait past ``deadline``.
        """
        while True:
            wait = self.try_take()
            if wait == 0:
                return self.clock()
            if deadline is not None and self.clock() + wait > deadline:
                raise DeadlineReached
            self.sleep(wait)

    def slow_down(self, sent_at: float) -> None:
        """The service throttled a call whose token was taken at ``sent_at``: back off.

        Calls that were already on their way when the rate was last cut say nothing new,
        so a volley of throttled calls cuts the rate once, not once per call.
        """
        with self.lock:
            now = self.clock()
            self._refill(now)
            if sent_at < self.slowed_at:
                return
            floor = self.nominal_rate * MIN_RATE_FRACTION
            self.rate = max(floor, self.rate * DECREASE_FACTOR)
            self.tokens = min(self.tokens, 0.0)
            self.slowed_at = now
            self.slowdowns += 1


class RateLimiter:
    """One bucket per Connect operation, for one quota scope (account and Region).

    It also counts the requests sent per operation and those the service throttled
    (``calls``, ``throttled``), for the run's ``ConnectCalls`` / ``ConnectThrottles`` metrics.
    """

    def __init__(
        self,
        multiplier: float = 1.0,
        burst: float = DEFAULT_BURST,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.multiplier = multiplier
        self.burst = burst
        self.clock = clock
        self.sleep = sleep
        self.buckets: dict[str, TokenBucket] = {}
        self.lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()

    def count(self, operation: str, *, throttled: bool = False) -> None:
        """One request of ``operation`` sent, or (``throttled``) answered with throttling."""
        with self.lock:
            (self.throttled if throttled else self.calls)[operation] += 1

    def rate(self, operation: str) -> float:
        """The configured rate of ``operation`` (requests per second)."""
        return DEFAULT_RATES.get(operation, SLOW_RATE) * self.multiplier

    def bucket(self, operation: str) -> TokenBucket:
        with self.lock:
            bucket = self.buckets.get(operation)
            if bucket is None:
                # The burst is the service's: a raised quota refills faster, it does not
                # let more requests through at once.
                bucket = self.buckets[operation] = TokenBucket(
                    self.rate(operation), self.burst, clock=self.clock, sleep=self.sleep
                )
            return bucket


def rate_multiplier(environ: Mapping[str, str] | None = None) -> float:
    """``CONNECT_USER_SYNC_RATE_MULTIPLIER``: how far above the default quotas to go.

    Raise it only after raising the quotas in Service Quotas. A value that is not a number
    above 0 is a configuration error.
    """
    raw = (os.environ if environ is None else environ).get(RATE_MULTIPLIER_ENV) or "1"
    try:
        multiplier = float(raw)
    except ValueError:
        multiplier = 0.0
    if not 0 < multiplier <= MAX_MULTIPLIER:
        raise ConfigError(
            RATE_MULTIPLIER_ENV,
            f"{raw!r} is not a usable rate multiplier",
            "use a number above 0 (1 = Connect's default quotas), or unset it",
        )
    return multiplier


def quota_scope(region: str, account: str | None) -> str:
    """The key of a quota: Connect counts requests per account and Region."""
    return f"{region}/{account or 'default'}"


class ThrottleRegistry:
    """The rate limiters of one run, one per quota scope."""

    def __init__(self, multiplier: float = 1.0) -> None:
        self.multiplier = multiplier
        self._limiters: dict[str, RateLimiter] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> ThrottleRegistry:
        return cls(rate_multiplier(environ))

    def limiter(self, scope: str) -> RateLimiter:
        with self._lock:
            limiter = self._limiters.get(scope)
            if limiter is None:
                limiter = self._limiters[scope] = RateLimiter(self.multiplier)
            return limiter
