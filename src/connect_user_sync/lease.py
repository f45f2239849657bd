"""One run at a time per Connect instance: a lease item in the results table.

Two applies at once would both plan the same creates from the same live state and both
report them as theirs; Lambda's reserved concurrency does not cover a CLI run, and a Step
Functions loop or a person invoking by hand can overlap the schedule. So every run that may
write takes, for each target, a lease in the results table before it reads that target:

=====================  ==========================  =========================================
item                   PK / SK                     attributes
=====================  ==========================  =========================================
lease                  ``LEASE#<region>/<id>`` /   ``run_id`` (the holder), ``lease_until``
                       ``LEASE``                   (epoch seconds), ``acquired_at``, ``host``,
                                                   ``expires_at`` (TTL, a day later)
=====================  ==========================  =========================================

The lease is taken with a conditional write (free, expired, or already ours), renewed by
the holder every ``seconds / 4`` while it runs, and deleted when the run has been recorded.
A holder that crashed or was killed stops renewing: its lease expires after ``seconds`` and
the next run takes it. A run that finds a live lease waits up to ``wait`` seconds for it,
then leaves that target alone (status ``busy``).

Clocks: ``lease_until`` is wall-clock time, because the holder and the waiter may be
different machines (a laptop and a Lambda function). Keep ``seconds`` well above any clock
skew you expect; the default two minutes is.

Without a results table there is no lease (and no history): the plain CLI on a laptop.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from connect_user_sync.errors import ConfigError

LEASE_SECONDS_ENV = "LEASE_SECONDS"
LEASE_WAIT_ENV = "LEASE_WAIT_SECONDS"
DEFAULT_LEASE_SECONDS = 120.0
DEFAULT_LEASE_WAIT = 5.0
POLL_SECONDS = 0.5
CLEANUP_SECONDS = 86400  # the lease item itself expires (TTL) a day after its last renewal


def _number(environ: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    raw = environ.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise ConfigError(
            name,
            f"{raw[:40]!r} is not a number of seconds",
            f"use {minimum:g} or more, or unset it",
        )
    return value


def lease_settings(environ: Mapping[str, str] | None = None) -> tuple[float, float]:
    """``(seconds, wait)`` from ``LEASE_SECONDS`` and ``LEASE_WAIT_SECONDS``."""
    env = os.environ if environ is None else environ
    return (
        _number(env, LEASE_SECONDS_ENV, DEFAULT_LEASE_SECONDS, 1.0),
        _number(env, LEASE_WAIT_ENV, DEFAULT_LEASE_WAIT, 0.0),
    )


def lease_key(region: str, instance_id: str) -> str:
    return f"LEASE#{region}/{instance_id}"


@dataclass(frozen=True)
class Holder:
    """Who holds a lease we could not take, and until when (epoch seconds)."""

    run_id: str
    until: float
    host: str = ""

    def describe(self) -> str:
        when = datetime.fromtimestamp(self.until, UTC).isoformat(timespec="seconds")
        where = f" on {self.host}" if self.host else ""
        return f"run {self.run_id}{where} holds it until {when.replace('+00:00', 'Z')}"


class DynamoLeases:
    """Leases in the results table (``client`` is a boto3 ``dynamodb`` client)."""

    def __init__(
        self,
        client: Any,
        table_name: str,
        *,
        seconds: float = DEFAULT_LEASE_SECONDS,
        wait: float = DEFAULT_LEASE_WAIT,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.table_name = table_name
        self.seconds = seconds
        self.wait = wait
        self._clock = clock
        self._sleep = sleep
        self._host = f"{socket.gethostname()[:60]}:{os.getpid()}"

    def acquire(self, key: str, run_id: str) -> Holder | None:
        """Take the lease for ``run_id``; None when taken, else who holds it after waiting."""
        give_up = self._clock() + self.wait
        while True:
            holder = self._try(key, run_id)
            if holder is None:
                return None
            if self._clock() + POLL_SECONDS > give_up:
                return holder
            self._sleep(POLL_SECONDS)

    def renew(self, key: str, run_id: str) -> bool:
        """Extend our lease; False when it is no longer ours."""
        until = self._clock() + self.seconds
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key={"PK": {"S": key}, "SK": {"S": "LEASE"}},
                UpdateExpression="SET lease_until = :until, expires_at = :expires",
                ConditionExpression="run_id = :me",
                ExpressionAttributeValues={
                    ":until": {"N": _n(until)},
                    ":expires": {"N": str(int(until) + CLEANUP_SECONDS)},
                    ":me": {"S": run_id},
                },
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def release(self, key: str, run_id: str) -> None:
        """Give the lease back (only if it is still ours)."""
        with contextlib.suppress(self.client.exceptions.ConditionalCheckFailedException):
            self.client.delete_item(
                TableName=self.table_name,
                Key={"PK": {"S": key}, "SK": {"S": "LEASE"}},
                ConditionExpression="run_id = :me",
                ExpressionAttributeValues={":me": {"S": run_id}},
            )

    def _try(self, key: str, run_id: str) -> Holder | None:
        now = self._clock()
        until = now + self.seconds
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item={
                    "PK": {"S": key},
                    "SK": {"S": "LEASE"},
                    "type": {"S": "lease"},
                    "run_id": {"S": run_id},
                    "lease_until": {"N": _n(until)},
                    "acquired_at": {"S": datetime.now(UTC).isoformat(timespec="seconds")},
                    "host": {"S": self._host},
                    "expires_at": {"N": str(int(until) + CLEANUP_SECONDS)},
                },
                ConditionExpression="attribute_not_exists(PK) OR lease_until < :now OR run_id = :me",
                ExpressionAttributeValues={":now": {"N": _n(now)}, ":me": {"S": run_id}},
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return self._holder(key)
        return None

    def _holder(self, key: str) -> Holder:
        item = self.client.get_item(
            TableName=self.table_name,
            Key={"PK": {"S": key}, "SK": {"S": "LEASE"}},
            ConsistentRead=True,
        ).get("Item")
        if not item:  # released between our write and this read: say so, try again later
            return Holder("(released just now)", self._clock())
        return Holder(
            item.get("run_id", {}).get("S", "?"),
            float(item.get("lease_until", {}).get("N", "0")),
            item.get("host", {}).get("S", ""),
        )


def _n(value: float) -> str:
    return str(Decimal(repr(round(value, 3))))


class LeaseKeeper:
    """A daemon thread that renews a run's leases and its heartbeat until stopped.

    ``beat`` is called on every round as well (the run item's heartbeat). A lease that
    could not be renewed is reported through ``lost`` (its key), once.
    """

    def __init__(
        self,
        leases: DynamoLeases | None,
        keys: Sequence[str],
        run_id: str,
        *,
        interval: float,
        beat: Callable[[], None] | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self.leases = leases
        self.keys = list(keys)
        self.run_id = run_id
        self.interval = interval
        self.beat = beat
        self.on_error = on_error or (lambda message: None)
        self.lost: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="lease-keeper", daemon=True)

    def start(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.renew_now()

    def renew_now(self) -> None:
        for key in list(self.keys):
            try:
                if self.leases is not None and not self.leases.renew(key, self.run_id):
                    self.keys.remove(key)
                    self.lost.append(key)
                    self.on_error(f"the lease {key} was lost (another run took it over)")
            except Exception as exc:  # the next round tries again; the lease lasts 4 rounds
                self.on_error(f"the lease {key} could not be renewed: {type(exc).__name__}")
        if self.beat is not None:
            try:
                self.beat()
            except Exception as exc:
                self.on_error(f"the run's heartbeat could not be written: {type(exc).__name__}")
