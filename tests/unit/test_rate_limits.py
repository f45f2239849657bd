"""The client-side rate limiter keeps each operation within its own published quota."""

from __future__ import annotations

import pytest

from connect_user_sync.connect import (
    RateLimiter,
    ThrottleRegistry,
    TokenBucket,
    quota_scope,
    rate_multiplier,
)
from connect_user_sync.connect.throttle import DeadlineReached
from connect_user_sync.errors import ConfigError


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_bucket_allows_a_burst_then_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=2, burst=3, clock=clock, sleep=clock.sleep)
    for _ in range(12):
        bucket.acquire()
    # 2 from the burst (the third token stays in reserve), then 10 more at 2 per second
    assert 4.9 <= clock.now <= 5.1


def test_bucket_refuses_to_wait_past_the_deadline() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=1, burst=1, clock=clock, sleep=clock.sleep)
    bucket.acquire(deadline=0.5)  # the burst token is free
    with pytest.raises(DeadlineReached):
        bucket.acquire(deadline=0.5)  # the next one needs a second
    assert clock.now == 0.0


def test_operations_have_their_own_buckets_at_the_documented_rates() -> None:
    limiter = RateLimiter(multiplier=1.0)
    assert limiter.bucket("CreateUser").rate == 2
    assert limiter.bucket("SearchUsers").rate == 2
    assert limiter.bucket("DescribeUser").rate == 10
    assert limiter.bucket("CreateUser") is not limiter.bucket("UpdateUserSecurityProfiles")
    assert RateLimiter(multiplier=5).bucket("CreateUser").rate == 10


def test_targets_in_one_account_and_region_share_a_limiter_within_a_run_only() -> None:
    run = ThrottleRegistry(multiplier=1.0)
    same = quota_scope("us-east-1", "111111111111")
    assert run.limiter(same) is run.limiter(quota_scope("us-east-1", "111111111111"))
    assert run.limiter(same) is not run.limiter(quota_scope("eu-west-1", "111111111111"))
    assert run.limiter(same) is not run.limiter(quota_scope("us-east-1", "222222222222"))
    # The next run starts with limiters of its own: nothing to reset between runs or tests.
    assert ThrottleRegistry().limiter(same) is not run.limiter(same)


def test_the_multiplier_comes_from_the_environment() -> None:
    assert rate_multiplier({}) == 1.0
    registry = ThrottleRegistry.from_environment({"CONNECT_USER_SYNC_RATE_MULTIPLIER": "4"})
    assert registry.limiter("us-east-1/default").bucket("CreateUser").rate == 8


@pytest.mark.parametrize("bad", ["0", "-2", "fast", "5000"])
def test_a_bad_multiplier_is_a_configuration_error(bad: str) -> None:
    with pytest.raises(ConfigError, match="rate multiplier") as raised:
        ThrottleRegistry.from_environment({"CONNECT_USER_SYNC_RATE_MULTIPLIER": bad})
    assert raised.value.path == "CONNECT_USER_SYNC_RATE_MULTIPLIER"
