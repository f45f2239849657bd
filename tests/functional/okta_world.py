"""Shared world for the Okta source tests: the emulator, a fake clock, configurations.

Time is a fake clock shared by the emulator (rate-limit windows, token lifetimes) and the
source's retry policy (its sleep moves the clock on), so waits of a minute cost nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from connect_user_sync.config import OktaSourceConfig
from connect_user_sync.domain.models import DirectorySnapshot, DirectoryUser, GroupRule
from connect_user_sync.retry import RetryPolicy
from connect_user_sync.sources.okta import OktaSource
from connect_user_sync_emulators.okta import OktaEmulator, generate_key_pair

TOKEN = "00aB-emulated-ssws-token"
CLIENT = "0oa7emulatedsyncapp"


class Clock:
    """Epoch seconds that move only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture(scope="module")
def key_pair() -> tuple[str, dict[str, Any]]:
    return generate_key_pair()


@pytest.fixture
def clock() -> Clock:
    return Clock()


OktaFactory = Callable[..., OktaEmulator]


@pytest.fixture
def okta_factory(
    monkeypatch: pytest.MonkeyPatch, clock: Clock, key_pair: tuple[str, dict[str, Any]]
) -> Iterator[OktaFactory]:
    started: list[OktaEmulator] = []

    def make(**kwargs: Any) -> OktaEmulator:
        emulator = OktaEmulator(api_token=TOKEN, clock=clock, **kwargs).start()
        emulator.register_app(CLIENT, key_pair[1])
        started.append(emulator)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", emulator.ca_file)
        return emulator

    yield make
    for emulator in started:
        emulator.stop()


@pytest.fixture
def okta(okta_factory: OktaFactory) -> OktaEmulator:
    return okta_factory()


def token_config(okta: OktaEmulator, **changes: Any) -> OktaSourceConfig:
    return OktaSourceConfig(**{"org_url": okta.org_url, "api_token": TOKEN, **changes})


def key_config(okta: OktaEmulator, private_key: str, **changes: Any) -> OktaSourceConfig:
    values = {"org_url": okta.org_url, "client_id": CLIENT, "private_key": private_key}
    return OktaSourceConfig(**{**values, **changes})


def source_for(
    config: OktaSourceConfig,
    clock: Clock,
    *,
    attribute: str = "login",
    max_attempts: int = 8,
    max_total_wait: float = 180.0,
) -> OktaSource:
    policy = RetryPolicy(
        max_attempts=max_attempts,
        base=1.0,
        cap=30.0,
        max_total_wait=max_total_wait,
        max_hint=65.0,
        sleep=clock.sleep,
        rng=lambda: 0.5,
    )
    return OktaSource(config, attribute, retry_policy=policy, clock=clock)


def rule(key: str, *, by_id: bool = False) -> GroupRule:
    return GroupRule(key=key, by_id=by_id, security_profiles=("Agent",), routing_profile="Basic")


def by_id(snapshot: DirectorySnapshot) -> dict[str, DirectoryUser]:
    return {user.source_id: user for user in snapshot.users}


def seed(okta: OktaEmulator, count: int, prefix: str = "00u") -> list[str]:
    ids = [f"{prefix}{n:05d}" for n in range(count)]
    for user_id in ids:
        okta.add_user(user_id, f"{user_id}@example.com", f"{user_id}@example.com", "A", user_id)
    return ids
