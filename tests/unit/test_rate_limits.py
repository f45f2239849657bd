"""The client-side rate limiter keeps each operation within its own published quota."""

from __future__ import annotations

from connect_user_sync.connect import RateLimiter, TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_bucket_allows_a_burst_then_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=2, burst=2, clock=clock, sleep=clock.sleep)
    for _ in range(12):
        bucket.acquire()
    # 2 from the burst, then 10 more at 2 per second
    assert 4.9 <= clock.now <= 5.1


def test_operations_have_their_own_buckets_at_the_documented_rates() -> None:
    limiter = RateLimiter(multiplier=1.0)
    assert limiter.bucket("CreateUser").rate == 2
    assert limiter.bucket("SearchUsers").rate == 2
    assert limiter.bucket("DescribeUser").rate == 10
    assert limiter.bucket("CreateUser") is not limiter.bucket("UpdateUserSecurityProfiles")
    assert RateLimiter(multiplier=5).bucket("CreateUser").rate == 10


def test_a_bad_multiplier_is_a_configuration_error(monkeypatch) -> None:
    import pytest

    from connect_user_sync.config import ConfigError

    for bad in ("0", "-2", "fast"):
        monkeypatch.setenv("CONNECT_USER_SYNC_RATE_MULTIPLIER", bad)
        with pytest.raises(ConfigError, match="rate multiplier"):
            RateLimiter.for_scope("us-east-1/test")
