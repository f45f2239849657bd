"""What the trust tests share: a world with or without the tool's records, seeded users.

The tests are ``test_trust_ownership.py`` (forged tags, adoption, records) and
``test_trust_gate.py`` (the gate, a truncated read, grantable profiles, secrets). Each
attack of the trust review is replayed through the CLI and the Lambda handler.
"""

from __future__ import annotations

from typing import Any

import pytest

from connect_user_sync.domain.models import (
    TAG_DISABLED,
    TAG_EMAIL_HASH,
    TAG_MANAGED,
    TAG_SOURCE_ID,
    OwnedRecord,
    email_fingerprint,
)
from connect_user_sync.ledger import DynamoOwnershipLedger
from tests.conftest import World
from tests.functional import test_handler
from tests.functional.test_handler import Stack

# The handler's fixtures: its module imported once, its stack stood up per test.
app = test_handler.app
stack = test_handler.stack

RECORDS, TAGS_ONLY = "records", "tags only"
MODES = [RECORDS, TAGS_ONLY]
SECRET_NUMBER = 918273645546372819
PASTED = "Gq8~the-client-secret-pasted-by-mistake"


def use_mode(
    world: World, request: pytest.FixtureRequest, mode: str
) -> DynamoOwnershipLedger | None:
    """Run ``world`` with the results table (the tool's records) or without one."""
    if mode == TAGS_ONLY:
        return None
    table = request.getfixturevalue("results_table")
    world.config["results"] = {"table": table}
    return DynamoOwnershipLedger(table)


def add_profile(where: World | Stack, name: str) -> str:
    if name not in where.sp:
        where.sp[name] = where.emulator.add_security_profile(where.iid, name)
    return where.sp[name]


def seed(
    where: World | Stack,
    username: str,
    *,
    profile: str = "Agent",
    sid: str | None = None,
    routing: str | None = None,
    disabled: bool = False,
    ledger: DynamoOwnershipLedger | None = None,
) -> str:
    """A Connect user; tagged as this tool's when ``sid`` is given, recorded with ``ledger``."""
    tags = None
    if sid is not None:
        tags = {
            TAG_MANAGED: "true",
            TAG_SOURCE_ID: sid,
            TAG_EMAIL_HASH: email_fingerprint(username),
        }
        if disabled:
            tags[TAG_DISABLED] = "2026-01-01T00:00:00Z"
    user_id = where.emulator.add_user(
        where.iid,
        username,
        security_profile_ids=[add_profile(where, profile)],
        routing_profile_id=routing or next(iter(where.rp.values())),
        first_name=username.split(".", maxsplit=1)[0].title(),
        last_name=username.split(".")[1].split("@", maxsplit=1)[0].title()
        if "." in username
        else "X",
        email=username,
        phone={"PhoneType": "SOFT_PHONE", "AfterContactWorkTimeLimit": 0},
        tags=tags,
    )
    if ledger is not None and sid is not None:
        ledger.write(where.iid, "seed", records=[OwnedRecord(user_id, username, sid)])
    return user_id


def kinds(report: dict[str, Any]) -> list[tuple[str, str | None]]:
    return sorted((m["kind"], m["connect_username"]) for m in report["mismatches"])


@pytest.fixture
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)
