"""IAM Identity Center: what a plan costs in Identity Store calls (printed by ``make bench``).

A dry run of the whole service (boto3 against moto's identity store behind the emulator's
counting front, boto3 against the Connect emulator) over three groups, at 1,000 and at
5,000 users. The figure to read is the calls per operation: ``GetGroupId`` once per group,
``ListGroupMemberships`` once per 100 members of each group, ``ListUsers`` once per 100
users of the store, ``DescribeUser`` none. Five times the users gives about five times
the pages, and calls per page stay one: the count follows pages, never users one by one.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from connect_user_sync.config import parse_config
from connect_user_sync.service import RunRequest, run_sync
from connect_user_sync_emulators.connect import ConnectEmulator
from connect_user_sync_emulators.identity_center import IdentityStoreEmulator

GROUPS = ("CC-Agents", "CC-Supervisors", "CC-Quality")
SIZES = (1000, 5000)
SPEED = 50.0


def directory(users: int) -> dict[str, Any]:
    """``users`` people: 80 % agents, 12 % supervisors, 8 % quality; every 10th agent is
    also in quality, so some users are in two groups."""
    people = []
    for n in range(users):
        share = n % 25
        groups = ["CC-Supervisors"] if share < 3 else ["CC-Quality"] if share < 5 else ["CC-Agents"]
        if groups == ["CC-Agents"] and n % 10 == 0:
            groups.append("CC-Quality")
        people.append(
            {
                "id": f"u{n}",
                "upn": f"agent.{n}@example.com",
                "email": f"agent.{n}@example.com",
                "first_name": "Agent",
                "last_name": f"N{n}",
                "groups": groups,
            }
        )
    return {"users": people, "groups": [{"id": g, "name": g} for g in GROUPS]}


def plan_once(connect: ConnectEmulator, store: IdentityStoreEmulator, users: int) -> str:
    doc = directory(users)
    seeded = store.load_directory(doc, client=store.client(), direct=True)
    members = {g: sum(1 for u in doc["users"] if g in u["groups"]) for g in GROUPS}
    iid = connect.add_instance()
    for name in ("Agent", "Supervisor", "QA", "Disabled"):
        connect.add_security_profile(iid, name)
    connect.add_routing_profile(iid, "Basic")
    profiles = {"CC-Agents": "Agent", "CC-Supervisors": "Supervisor", "CC-Quality": "QA"}
    config = parse_config(
        {
            "source": {
                "type": "identity_center",
                "identity_center": {"identity_store_id": seeded.store_id, "region": "us-east-1"},
            },
            "username": {"attribute": "user_name"},
            "groups": [
                {"name": g, "security_profiles": [profiles[g]], "routing_profile": "Basic"}
                for g in GROUPS
            ],
            "targets": [{"instance_id": iid, "region": "us-east-1"}],
            "deprovision": {"action": "disable", "disabled_security_profile": "Disabled"},
        }
    )
    store.reset_calls()
    start = time.perf_counter()
    outcome = run_sync(config, RunRequest(dry_run=True))
    seconds = time.perf_counter() - start
    report = outcome.report
    assert outcome.exit_code == 0, report["errors"]
    creates = report["targets"][0]["counts"]["create"]
    calls = dict(sorted(store.calls.items()))
    total = sum(calls.values())
    pages = len(GROUPS) + sum(math.ceil(m / 100) for m in members.values()) + math.ceil(users / 100)
    verdict = "=" if total == pages else "OVER" if total > pages else "<"
    return (
        f"identity center plan, {users:>5} users in {len(GROUPS)} groups "
        f"({', '.join(str(members[g]) for g in GROUPS)} members): {seconds:6.2f} s, "
        f"{total} identitystore calls {calls}; groups + member pages + store pages = {pages} "
        f"({verdict}); {total / users * 1000:.1f} calls per 1,000 users; {creates} creates planned"
    )


def main() -> int:
    os.environ.setdefault("CONNECT_USER_SYNC_RATE_MULTIPLIER", str(SPEED))
    lines = []
    with (
        ConnectEmulator(speed=SPEED, max_users_per_instance=50000) as connect,
        IdentityStoreEmulator() as store,
    ):
        keys = ("AWS_ENDPOINT_URL_CONNECT", "AWS_ENDPOINT_URL_IDENTITYSTORE")
        saved = {key: os.environ.get(key) for key in keys}
        os.environ.update({"AWS_ENDPOINT_URL_CONNECT": connect.url, **store.env()})
        try:
            for users in SIZES:
                lines.append(plan_once(connect, store, users))
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
