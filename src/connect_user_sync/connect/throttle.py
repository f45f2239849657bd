"""Client-side rate limits: a token bucket per Connect operation and quota scope.

Connect's request quotas are per account and Region, shared by every instance there, and
each operation has its own. A run keeps one ``ThrottleRegistry``: every target in the same
account and Region draws from the same ``RateLimiter``, and the registry ends with the run,
so nothing is shared between runs and nothing has to be reset between tests.
"""

from __future__ import annotations

import os
import threading
import time
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


class DeadlineReached(Exception):
    """The run's deadline is too close to start another call."""


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
        """Take a token; raises ``DeadlineReached`` rather than wait past ``deadline``."""
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
    """One bucket per Connect operation, for one quota scope (account and Region)."""

    def __init__(self, multiplier: float = 1.0, burst: float = DEFAULT_BURST) -> None:
        self.multiplier = multiplier
        self.burst = burst
        self.buckets: dict[str, TokenBucket] = {}
        self.lock = threading.Lock()

    def bucket(self, operation: str) -> TokenBucket:
        with self.lock:
            bucket = self.buckets.get(operation)
            if bucket is None:
                rate = DEFAULT_RATES.get(operation, SLOW_RATE) * self.multiplier
                bucket = self.buckets[operation] = TokenBucket(
                    rate, self.burst * max(1.0, self.multiplier)
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
