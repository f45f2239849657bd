"""Writes at the quota, side by side: one queue per Connect operation, one dispatcher.

Connect gives every operation its own quota, so a mix of creates, updates and disables
can run at the sum of their rates, and a run lasts as long as its busiest operation needs.
A plain worker pool does not get there: its workers all wait on whichever bucket the next
actions need while the other buckets idle, and disables, planned last, start last.

Here every action is a *program*: a generator that yields its Connect calls one at a time,
``(operation, parameters)``, and is sent each response (or has the error thrown into it),
so an action's own calls stay in order and its next call can depend on the last answer (a
create that finds the username taken looks the user up and updates it instead). Each
operation has a queue of calls ready to go. The dispatcher takes a token from the bucket of
whichever queue has work and a free token and hands the call to a worker; the worker sends
it, advances the action's program and queues its next call. New actions are admitted per
first operation, a few at a time, so every bucket has work from the first second while the
number of actions in progress (and the memory they hold) stays small, whatever the size of
the plan.

Throttling that gets through anyway slows that operation's bucket down (see
``throttle.TokenBucket.slow_down``) and the call is retried after the retry policy's
backoff; a server error is retried a few times; any other error fails the action, never the
run. After the deadline no call starts: the actions concerned end with ``DeadlineReached``
and the next run's fresh plan picks them up.
"""

from __future__ import annotations

import heapq
import itertools
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

from connect_user_sync.connect.throttle import DeadlineReached, RateLimiter
from connect_user_sync.errors import PermanentError, TransientError
from connect_user_sync.retry import RetryBudget, RetryPolicy

Call = tuple[str, dict[str, Any]]
# An action's calls: yields each call, is sent its response; may return a value.
Program = Generator[Call, dict[str, Any], Any]
Send = Callable[[str, Mapping[str, Any]], dict[str, Any]]
T = TypeVar("T")

THROTTLE_CODES = frozenset({"ThrottlingException", "TooManyRequestsException"})
# Throttling only slows a run down: many patient retries. Server errors: a few.
THROTTLE_RETRY = RetryPolicy(max_attempts=41, base=0.25, cap=10.0, max_total_wait=600.0)
TRANSIENT_RETRY = RetryPolicy(max_attempts=5, base=0.25, cap=10.0, max_total_wait=60.0)
# Actions admitted ahead per first operation: enough that a free token always finds a call.
LOOKAHEAD = 2


def _no_sleep(_: float) -> None:
    """Retries are delayed by the dispatcher, not by sleeping a worker."""


@dataclass(slots=True)
class _Running(Generic[T]):
    """One admitted action: its program, the call it waits to send, its retry budgets."""

    item: T
    program: Program
    call: Call
    throttled: RetryBudget | None = None
    failing: RetryBudget | None = None
    sent_at: float = 0.0


@dataclass(order=True, slots=True)
class _Delayed(Generic[T]):
    due: float
    seq: int
    running: _Running[T] = field(compare=False)


class InlineExecutor(Executor):
    """Runs each submitted call at once in the caller's thread (for deterministic tests)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        fn(*args, **kwargs)
        return None


class WriteScheduler(Generic[T]):
    """Runs actions' programs against per-operation buckets, every bucket kept busy.

    Parameters
    ----------
    limiter:
        The quota scope's buckets (shared with the reads and other targets there).
    send:
        Sends one call and returns its response; raises ``TransientError`` (retried) or
        ``PermanentError`` (thrown into the program), with Connect's code in ``code``.
    first_operation:
        The operation of an item's first call, known before its program starts.
    program:
        The item's program (see the module's docstring).
    done:
        Called once per item as it ends, with None when its program ran to the end,
        ``DeadlineReached`` when the deadline came first, else the ``PermanentError`` or
        ``TransientError`` that ended it. May be called from several threads at once.
    workers:
        Calls in flight at most.
    deadline:
        A ``clock()`` value: no call starts after it.
    clock, sleep, rng, executor:
        Injectable so that tests run the scheduler in simulated time: with an
        ``InlineExecutor`` every call completes at once and ``sleep`` advances the clock.
    """

    def __init__(
        self,
        limiter: RateLimiter,
        send: Send,
        *,
        first_operation: Callable[[T], str],
        program: Callable[[T], Program],
        done: Callable[[T, BaseException | None], None],
        workers: int = 8,
        deadline: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
        executor: Executor | None = None,
    ) -> None:
        self.limiter = limiter
        self.send = send
        self.workers = max(1, workers)
        self.deadline = deadline
        self.clock = clock
        self.sleep = sleep
        self.rng = rng
        self.executor = executor
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._pending: dict[str, deque[T]] = {}  # not admitted yet, by first operation
        self._queues: dict[str, deque[_Running[T]]] = {}  # calls ready to send
        self._delayed: list[_Delayed[T]] = []  # retries waiting for their backoff
        self._seq = itertools.count()
        self._in_flight = 0
        self._finished: list[tuple[T, BaseException | None]] = []
        self._crash: BaseException | None = None
        self._first_operation = first_operation
        self._program = program
        self._done = done

    # ----------------------------------------------------------------- public

    def run(self, items: Sequence[T]) -> None:
        """Run every item's program to its end (or to the deadline)."""
        for item in items:
            self._pending.setdefault(self._first_operation(item), deque()).append(item)
        own = self.executor is None
        executor = self.executor or ThreadPoolExecutor(
            max_workers=self.workers, thread_name_prefix="connect-write"
        )
        try:
            self._loop(executor)
        finally:
            if own:
                executor.shutdown(wait=True)
        if self._crash is not None:
            raise self._crash

    # ----------------------------------------------------------------- dispatcher

    def _loop(self, executor: Executor) -> None:
        while True:
            with self._lock:
                now = self.clock()
                if self._crash is not None:
                    self._cancel_everything()
                self._release_due(now)
                if self.deadline is not None and now >= self.deadline:
                    self._cancel_everything()
                starting = self._admissions()
            # Outside the lock: a program's first step may write elsewhere first (the
            # ownership record's pending item), and the workers must not wait for it.
            started = [self._start(item) for item in starting]
            with self._lock:
                for running in started:
                    if running is not None:
                        self._queue(running)
                now = self.clock()
                ready, wake = self._take_ready(now)
                finished, self._finished = self._finished, []
                idle = not ready and not finished
                if idle and self._in_flight == 0 and wake is None:
                    if not self._has_work():
                        return
                    raise RuntimeError("write scheduler stalled with work queued")  # a bug
                if idle:
                    timeout = None if wake is None else max(0.0, wake - now)
                    if self.deadline is not None:
                        remaining = max(0.0, self.deadline - now)
                        timeout = remaining if timeout is None else min(timeout, remaining)
                    if self._in_flight:
                        self._wake.wait(timeout)
                        continue
            if idle:
                self.sleep(timeout or 0.0)  # nothing in flight: only time can help
                continue
            for item, error in finished:
                self._report(item, error)
            for running in ready:
                executor.submit(self._execute, running)

    def _has_work(self) -> bool:
        return bool(any(self._pending.values()) or any(self._queues.values()) or self._delayed)

    def _release_due(self, now: float) -> None:
        while self._delayed and self._delayed[0].due <= now:
            running = heapq.heappop(self._delayed).running
            self._queues.setdefault(running.call[0], deque()).appendleft(running)

    def _admissions(self) -> list[T]:
        """Actions to start, per first operation, so each queue has a little work ahead."""
        starting: list[T] = []
        for operation, pending in self._pending.items():
            room = LOOKAHEAD - len(self._queues.setdefault(operation, deque()))
            while pending and room > 0:
                starting.append(pending.popleft())
                room -= 1
        return starting

    def _start(self, item: T) -> _Running[T] | None:
        """Run a program to its first call; None when it ended there (and is reported)."""
        program = self._program(item)
        ended: BaseException | None
        try:
            return _Running(item, program, next(program))
        except StopIteration:
            ended = None
        except (PermanentError, TransientError, DeadlineReached) as exc:
            ended = exc
        except Exception as exc:  # a bug: end this action, stop the others, raise it
            ended = exc
            with self._lock:
                self._crash = self._crash or exc
        with self._lock:
            self._finished.append((item, ended))
        return None

    def _queue(self, running: _Running[T]) -> None:
        self._queues.setdefault(running.call[0], deque()).append(running)

    def _take_ready(self, now: float) -> tuple[list[_Running[T]], float | None]:
        """Calls whose bucket has a token now, and when the next token frees up."""
        ready: list[_Running[T]] = []
        wake = self._delayed[0].due if self._delayed else None
        progress = True
        # Round robin: one call per operation per pass, so no queue starves the others
        # of the workers.
        while progress and self._in_flight + len(ready) < self.workers:
            progress = False
            for operation, queue in self._queues.items():
                if not queue or self._in_flight + len(ready) >= self.workers:
                    continue
                wait = self.limiter.bucket(operation).try_take()
                if wait > 0:
                    if self.deadline is not None and now + wait >= self.deadline:
                        self._cancel_operation(operation)
                        continue
                    wake = now + wait if wake is None else min(wake, now + wait)
                    continue
                running = queue.popleft()
                running.sent_at = now
                ready.append(running)
                progress = True
        self._in_flight += len(ready)
        return ready, wake

    def _cancel_operation(self, operation: str) -> None:
        """The next token of ``operation`` comes after the deadline: end its waiting work."""
        queue = self._queues.get(operation, deque())
        while queue:
            running = queue.popleft()
            running.program.close()
            self._finished.append((running.item, DeadlineReached()))
        pending = self._pending.get(operation, deque())
        while pending:
            self._finished.append((pending.popleft(), DeadlineReached()))

    def _cancel_everything(self) -> None:
        for operation in list(self._queues) + list(self._pending):
            self._cancel_operation(operation)
        while self._delayed:
            running = heapq.heappop(self._delayed).running
            running.program.close()
            self._finished.append((running.item, DeadlineReached()))

    def _report(self, item: T, error: BaseException | None) -> None:
        try:
            self._done(item, error)
        except BaseException as exc:  # a bug in the callback: stop cleanly, then raise it
            with self._lock:
                self._crash = self._crash or exc

    # ----------------------------------------------------------------- workers

    def _execute(self, running: _Running[T]) -> None:
        """In a worker: send the call, advance the program, queue its next call."""
        operation, params = running.call
        response: dict[str, Any] | None = None
        error: BaseException | None = None
        try:
            try:
                response = self.send(operation, params)
            except TransientError as exc:
                error = self._retry(running, exc)
                if error is None:
                    return  # tried again later
            except PermanentError as exc:
                error = exc
            self._advance(running, response, error)
        except BaseException as exc:  # a bug: keep the dispatcher from waiting forever
            with self._wake:
                self._crash = self._crash or exc
                self._in_flight -= 1
                self._wake.notify()

    def _retry(self, running: _Running[T], exc: TransientError) -> BaseException | None:
        """Queue another attempt after the backoff (None), or the error that ends it."""
        if exc.code in THROTTLE_CODES:
            self.limiter.bucket(running.call[0]).slow_down(running.sent_at)
            running.throttled = running.throttled or self._budget(THROTTLE_RETRY)
            budget = running.throttled
        else:
            running.failing = running.failing or self._budget(TRANSIENT_RETRY)
            budget = running.failing
        delay = budget.next_delay(exc.retry_after)
        if delay is None:
            if budget.stopped_by_deadline:
                return DeadlineReached()
            return TransientError(f"{exc} (gave up after {budget.attempts} tries)", code=exc.code)
        budget.sleep(delay)  # counts the retry; the dispatcher does the waiting
        with self._wake:
            heapq.heappush(self._delayed, _Delayed(self.clock() + delay, next(self._seq), running))
            self._in_flight -= 1
            self._wake.notify()
        return None

    def _budget(self, policy: RetryPolicy) -> RetryBudget:
        return replace(
            policy, deadline=self.deadline, clock=self.clock, sleep=_no_sleep, rng=self.rng
        ).start()

    def _advance(
        self,
        running: _Running[T],
        response: dict[str, Any] | None,
        error: BaseException | None,
    ) -> None:
        ended = False
        result: BaseException | None = None
        try:
            if error is not None:
                call = running.program.throw(error)
            else:
                call = running.program.send(response or {})
        except StopIteration:
            ended = True
        except (PermanentError, TransientError, DeadlineReached) as exc:
            ended, result = True, exc
        with self._wake:
            self._in_flight -= 1
            if not ended:
                running.call = call
                running.throttled = running.failing = None
                self._queue(running)
            self._wake.notify()
        if ended:
            self._report(running.item, result)
