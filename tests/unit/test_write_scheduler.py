"""The write scheduler keeps every operation's bucket busy, in simulated time.

GIVEN a plan's actions as programs of Connect calls and a simulated clock (calls complete
at once, only the buckets make time pass), WHEN the scheduler runs them, THEN the run takes
as long as its busiest operation needs, whatever the order of the actions, each action's
calls stay in order, throttling slows the bucket down and the deadline stops new calls.
No test here measures real time.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from connect_user_sync.connect import DeadlineReached, RateLimiter, TokenBucket
from connect_user_sync.connect.schedule import LOOKAHEAD, InlineExecutor, Program, WriteScheduler
from connect_user_sync.connect.throttle import DEFAULT_BURST
from connect_user_sync.errors import PermanentError, TransientError


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)


@dataclass
class Job:
    """A stand-in for a planned action: the operations of its calls, in order."""

    name: str
    operations: tuple[str, ...]
    sent: list[tuple[float, str]] = field(default_factory=list)


class Quota:
    """The service's side of a quota: a plain token bucket, refilled by the clock."""

    def __init__(self, clock: FakeClock, rate: float, burst: float) -> None:
        self.clock, self.rate, self.burst = clock, rate, burst
        self.tokens, self.stamp = burst, clock()

    def admit(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1 - 1e-9:
            self.tokens -= 1
            return True
        return False


@dataclass
class Service:
    """A Connect stand-in: records every call; may enforce a quota of its own."""

    clock: FakeClock
    quota: Mapping[str, Quota] = field(default_factory=dict)
    fail: Mapping[str, list[Exception]] = field(default_factory=dict)
    calls: list[tuple[float, str, str]] = field(default_factory=list)
    throttled: Counter[str] = field(default_factory=Counter)

    def send(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        self.calls.append((self.clock(), operation, params["job"]))
        quota = self.quota.get(operation)
        if quota is not None and not quota.admit():
            self.throttled[operation] += 1
            raise TransientError("Rate exceeded", code="ThrottlingException")
        errors = self.fail.get(params["job"])
        if errors:
            raise errors.pop(0)
        return {"op": operation}


def program(job: Job) -> Program:
    for operation in job.operations:
        yield (operation, {"job": job.name})


def schedule(
    jobs: list[Job],
    clock: FakeClock,
    service: Service,
    *,
    limiter: RateLimiter | None = None,
    deadline: float | None = None,
    make: Any = program,
) -> dict[str, BaseException | None]:
    outcomes: dict[str, BaseException | None] = {}

    def done(job: Job, error: BaseException | None) -> None:
        assert job.name not in outcomes, "reported twice"
        outcomes[job.name] = error

    WriteScheduler(
        limiter or RateLimiter(clock=clock, sleep=clock.sleep),
        service.send,
        first_operation=lambda job: job.operations[0],
        program=make,
        done=done,
        deadline=deadline,
        clock=clock,
        sleep=clock.sleep,
        rng=lambda: 0.5,
        executor=InlineExecutor(),
    ).run(jobs)
    return outcomes


def the_mix(order: str) -> list[Job]:
    """100 creates, 100 one-call updates, 50 disables (profiles, then the tag)."""
    jobs = (
        [Job(f"create{i}", ("CreateUser",)) for i in range(100)]
        + [Job(f"update{i}", ("UpdateUserIdentityInfo",)) for i in range(100)]
        + [Job(f"disable{i}", ("UpdateUserSecurityProfiles", "TagResource")) for i in range(50)]
    )
    if order == "shuffled":
        random.Random(7).shuffle(jobs)
    return jobs


def quota_bound(calls: Counter[str], limiter: RateLimiter) -> float:
    """The quota's lower bound: the busiest operation's (calls - burst) / rate."""
    return max((n - limiter.burst) / limiter.rate(op) for op, n in calls.items())


# --------------------------------------------------------------------------- side by side


@pytest.mark.parametrize("order", ["directory", "shuffled"])
def test_a_mix_of_writes_takes_as_long_as_its_busiest_operation(order: str) -> None:
    clock = FakeClock()
    service = Service(clock)
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    outcomes = schedule(the_mix(order), clock, service, limiter=limiter)

    assert len(outcomes) == 250 and all(error is None for error in outcomes.values())
    calls = Counter(op for _, op, _ in service.calls)
    assert calls == {
        "CreateUser": 100,
        "UpdateUserIdentityInfo": 100,
        "UpdateUserSecurityProfiles": 50,
        "TagResource": 50,
    }
    bound = quota_bound(calls, limiter)  # (100 - 2) / 2 = 49 s
    assert bound == pytest.approx(49.0)
    # One token interval at most past the bound; a worker pool serving one operation after
    # another needs about twice as long in directory order.
    assert clock.now <= bound + 0.5


def test_every_operation_starts_at_once_even_when_the_plan_lists_it_last() -> None:
    clock = FakeClock()
    service = Service(clock)
    schedule(the_mix("directory"), clock, service)
    first = {}
    for at, op, _ in service.calls:
        first.setdefault(op, at)
    assert first["CreateUser"] == first["UpdateUserSecurityProfiles"] == 0.0
    assert first["UpdateUserIdentityInfo"] == 0.0
    assert first["TagResource"] <= 0.5


def test_an_actions_own_calls_stay_in_order() -> None:
    clock = FakeClock()
    service = Service(clock)
    steps = ("UpdateUserSecurityProfiles", "UpdateUserRoutingProfile", "TagResource")
    jobs = [Job(f"j{i}", steps) for i in range(30)]
    schedule(jobs, clock, service)
    for job in jobs:
        mine = [(at, op) for at, op, name in service.calls if name == job.name]
        assert [op for _, op in mine] == list(steps)
        assert [at for at, _ in mine] == sorted(at for at, _ in mine)


def test_the_buckets_never_go_past_the_quota() -> None:
    clock = FakeClock()
    # The service enforces exactly the published quota and burst: nothing gets throttled.
    operations = ("CreateUser", "UpdateUserIdentityInfo", "UpdateUserSecurityProfiles")
    quota = {op: Quota(clock, 2.0, DEFAULT_BURST) for op in (*operations, "TagResource")}
    service = Service(clock, quota=quota)
    outcomes = schedule(the_mix("shuffled"), clock, service)
    assert all(error is None for error in outcomes.values())
    assert sum(service.throttled.values()) == 0


def test_only_a_few_actions_are_in_progress_whatever_the_plan_size() -> None:
    clock = FakeClock()
    service = Service(clock)
    started = finished = peak = 0

    def counted(job: Job) -> Program:
        nonlocal started, finished, peak
        started += 1
        peak = max(peak, started - finished)
        yield from program(job)
        finished += 1

    jobs = [Job(f"c{i}", ("CreateUser",)) for i in range(5000)]
    jobs += [Job(f"d{i}", ("UpdateUserSecurityProfiles", "TagResource")) for i in range(500)]
    limiter = RateLimiter(multiplier=100, clock=clock, sleep=clock.sleep)
    schedule(jobs, clock, service, limiter=limiter, make=counted)
    assert started == finished == 5500
    # LOOKAHEAD per first operation waiting, plus the disables waiting for their tag.
    assert peak <= 2 * LOOKAHEAD + 8


# --------------------------------------------------------------------------- the limiter


def test_the_burst_is_the_services_whatever_the_multiplier() -> None:
    for multiplier in (1, 2, 50):
        bucket = RateLimiter(multiplier=multiplier).bucket("CreateUser")
        assert bucket.burst == DEFAULT_BURST
        assert bucket.capacity == DEFAULT_BURST - 1  # one token kept for network jitter
        assert bucket.rate == 2 * multiplier


def test_a_token_in_reserve_absorbs_a_late_request() -> None:
    clock = FakeClock()
    bucket = TokenBucket(2.0, DEFAULT_BURST, clock=clock, sleep=clock.sleep)
    quota: Quota | None = None
    throttled = 0
    for n in range(40):
        sent = bucket.acquire()
        # The first request is slow on the wire (a new connection): the service's bucket
        # starts later than ours, and every request after that is on time.
        delay = 0.3 if n == 0 else 0.0
        clock.now = sent + delay
        quota = quota or Quota(clock, 2.0, DEFAULT_BURST)  # made at the first request
        throttled += not quota.admit()
        clock.now = sent
    assert throttled == 0


def test_a_throttle_halves_the_rate_once_per_volley_and_it_recovers() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=4.0, burst=2, clock=clock, sleep=clock.sleep)
    sent = [bucket.acquire() for _ in range(3)]
    bucket.slow_down(sent[0])
    assert bucket.rate == 2.0
    bucket.slow_down(sent[1])  # on its way before the cut: says nothing new
    assert bucket.rate == 2.0 and bucket.slowdowns == 1
    clock.sleep(1.0)  # a twentieth of the configured rate back per second: 2.2
    bucket.slow_down(bucket.acquire())  # throttled after the cut: cut again
    assert bucket.rate == pytest.approx(1.1)
    clock.sleep(5.0)
    bucket.try_take()
    assert bucket.rate == pytest.approx(1.1 + 0.2 * 5)
    clock.sleep(20.0)
    bucket.try_take()
    assert bucket.rate == 4.0


def test_the_rate_never_drops_below_a_twentieth() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=2.0, burst=2, clock=clock, sleep=clock.sleep)
    for _ in range(20):
        bucket.slow_down(bucket.clock())
        clock.sleep(0.001)
    assert bucket.rate == pytest.approx(0.1)


def tighter_quota_run() -> tuple[Service, RateLimiter, float]:
    clock = FakeClock()
    # Somebody else draws from the same quota: the service lets us have 1 call/s, not 2.
    service = Service(clock, quota={"CreateUser": Quota(clock, 1.0, 2)})
    jobs = [Job(f"c{i}", ("CreateUser",)) for i in range(200)]
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    outcomes = schedule(jobs, clock, service, limiter=limiter)
    assert all(error is None for error in outcomes.values())  # throttling never fails
    return service, limiter, clock.now


def test_a_tighter_quota_than_configured_is_learnt_not_hammered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service, limiter, took = tighter_quota_run()
    assert limiter.bucket("CreateUser").slowdowns > 0
    assert took < 1.1 * 198  # close to the 1 call/s the service allows
    adaptive = service.throttled["CreateUser"]
    assert adaptive < 0.2 * 200

    monkeypatch.setattr("connect_user_sync.connect.throttle.DECREASE_FACTOR", 1.0)
    stubborn, _, _ = tighter_quota_run()  # a limiter that never slows down
    assert stubborn.throttled["CreateUser"] > 4 * adaptive


# --------------------------------------------------------------------------- outcomes


def test_errors_end_one_action_and_never_the_others() -> None:
    clock = FakeClock()
    service = Service(
        clock,
        fail={
            "bad": [PermanentError("InvalidParameterException", code="InvalidParameterException")],
            "flaky": [TransientError("boom", code="InternalServiceException")],
            "down": [TransientError("boom", code="InternalServiceException") for _ in range(9)],
        },
    )
    jobs = [Job(name, ("CreateUser", "TagResource")) for name in ("bad", "flaky", "down", "ok")]
    outcomes = schedule(jobs, clock, service)
    assert isinstance(outcomes["bad"], PermanentError)
    assert outcomes["flaky"] is None and outcomes["ok"] is None
    assert isinstance(outcomes["down"], TransientError)
    assert "gave up after 5 tries" in str(outcomes["down"])
    assert [op for _, op, name in service.calls if name == "bad"] == ["CreateUser"]


def test_a_program_decides_its_next_call_on_the_last_answer() -> None:
    clock = FakeClock()
    taken = PermanentError("taken", code="DuplicateResourceException")
    service = Service(clock, fail={"dup": [taken]})

    answers: list[Any] = []

    def create_or_take_over(job: Job) -> Program:
        try:
            yield ("CreateUser", {"job": job.name})
        except PermanentError as exc:
            answers.append(exc.code)
            answers.append((yield ("SearchUsers", {"job": job.name})))
            yield ("UpdateUserSecurityProfiles", {"job": job.name})

    outcomes = schedule([Job("dup", ("CreateUser",))], clock, service, make=create_or_take_over)
    assert outcomes == {"dup": None}
    assert answers == ["DuplicateResourceException", {"op": "SearchUsers"}]
    assert [op for _, op, _ in service.calls] == [
        "CreateUser",
        "SearchUsers",
        "UpdateUserSecurityProfiles",
    ]


def test_no_call_starts_after_the_deadline() -> None:
    clock = FakeClock()
    service = Service(clock)
    jobs = [Job(f"d{i}", ("UpdateUserSecurityProfiles", "TagResource")) for i in range(100)]
    outcomes = schedule(jobs, clock, service, deadline=10.0)
    assert len(outcomes) == 100
    assert all(at < 10.0 for at, _, _ in service.calls)
    left = [name for name, error in outcomes.items() if isinstance(error, DeadlineReached)]
    applied = [name for name, error in outcomes.items() if error is None]
    assert left and applied and len(left) + len(applied) == 100
    assert clock.now <= 10.0


def test_a_failing_callback_stops_the_run_and_is_raised() -> None:
    clock = FakeClock()
    service = Service(clock)

    def done(job: Job, error: BaseException | None) -> None:
        raise RuntimeError("bug in on_done")

    scheduler = WriteScheduler(
        RateLimiter(clock=clock, sleep=clock.sleep),
        service.send,
        first_operation=lambda job: job.operations[0],
        program=program,
        done=done,
        clock=clock,
        sleep=clock.sleep,
        executor=InlineExecutor(),
    )
    with pytest.raises(RuntimeError, match="bug in on_done"):
        scheduler.run([Job(f"c{i}", ("CreateUser",)) for i in range(20)])
    assert len(service.calls) < 20


def test_a_first_step_that_fails_sends_nothing_for_that_action_only() -> None:
    clock = FakeClock()
    service = Service(clock)

    def announced(job: Job) -> Program:
        if job.name == "c3":  # the pending ownership record could not be written
            raise PermanentError("not started: the results table did not take it")
        yield from program(job)

    jobs = [Job(f"c{i}", ("CreateUser",)) for i in range(6)]
    outcomes = schedule(jobs, clock, service, make=announced)
    assert isinstance(outcomes.pop("c3"), PermanentError)
    assert all(error is None for error in outcomes.values())
    assert "c3" not in {name for _, _, name in service.calls}


def test_a_bug_in_a_program_is_raised_after_the_calls_in_flight() -> None:
    clock = FakeClock()
    service = Service(clock)

    def buggy(job: Job) -> Program:
        if job.name == "c2":
            raise KeyError("a bug")
        yield from program(job)

    with pytest.raises(KeyError, match="a bug"):
        schedule([Job(f"c{i}", ("CreateUser",)) for i in range(6)], clock, service, make=buggy)
