"""On demand (``--user``): an apply of 2 users in instances of 1k, 10k and 50k users.

Printed by ``make bench``. The whole service runs (msal and requests against the Graph
emulator over TLS, boto3 against the Connect emulator) at Connect's *default* quotas,
speed factor 1: 2 requests a second for SearchUsers and every write, enforced by the
emulator and respected by the client. Each instance holds N users this tool manages, in
step with an Entra group of N members; the run names a newcomer (a create) and a member
moved to another group (an update). A full read of the instance alone would take
ceil(N/500) SearchUsers pages, at least (pages - burst) / 2 seconds; the on-demand run's
Connect reads and its wall time stay flat in N. Nothing here is asserted: the figures are
for reading, and the tests hold the bounds.
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
from connect_user_sync.domain.models import (
    TAG_EMAIL_HASH,
    TAG_MANAGED,
    TAG_SOURCE_ID,
    email_fingerprint,
)
from connect_user_sync.service import RunRequest, run_sync
from connect_user_sync.sources import entra
from connect_user_sync_emulators.connect import ConnectEmulator
from connect_user_sync_emulators.graph import GraphEmulator

SIZES = (1000, 10_000, 50_000)
SPEED = 1.0  # Connect's default quotas
READS = ("SearchUsers", "ListUsers", "DescribeUser")
CATALOG = ("ListSecurityProfiles", "ListRoutingProfiles", "ListUserHierarchyGroups")
DEFAULT_RATE = 2.0  # SearchUsers, requests a second
CLIENT_BURST = 2.0  # connect.throttle.DEFAULT_BURST


def _seed(connect: ConnectEmulator, graph: GraphEmulator, size: int) -> tuple[str, dict[str, Any]]:
    """An instance of ``size`` managed users in step with an Entra group of ``size``."""
    iid = connect.add_instance()
    agent = connect.add_security_profile(iid, "Agent")
    connect.add_security_profile(iid, "Supervisor")
    connect.add_security_profile(iid, "Disabled")
    basic = connect.add_routing_profile(iid, "Basic")
    connect.add_routing_profile(iid, "Sales")
    phone = {"PhoneType": "SOFT_PHONE", "AutoAccept": False, "AfterContactWorkTimeLimit": 0}
    prefix = f"n{size}"
    members = []
    for i in range(size):
        uid, name = f"{prefix}-{i}", f"agent.{i}@{prefix}.example.com"
        graph.add_user(uid, name, mail=name, given_name="Agent", surname=str(i))
        members.append(uid)
        connect.add_user(
            iid,
            name,
            security_profile_ids=[agent],
            routing_profile_id=basic,
            first_name="Agent",
            last_name=str(i),
            email=name,
            phone=phone,
            tags={
                TAG_MANAGED: "true",
                TAG_SOURCE_ID: uid,
                TAG_EMAIL_HASH: email_fingerprint(name),
            },
        )
    newcomer = f"new.hire@{prefix}.example.com"
    graph.add_user(f"{prefix}-new", newcomer, mail=newcomer, given_name="New", surname="Hire")
    graph.add_group(f"{prefix}-agents", f"Agents {prefix}", members=[*members[1:], f"{prefix}-new"])
    graph.add_group(f"{prefix}-sup", f"Supervisors {prefix}", members=[members[0]])
    config = {
        "source": graph.source_section(),
        "username": {"attribute": "upn"},
        "groups": [
            {
                "name": f"Supervisors {prefix}",
                "security_profiles": ["Supervisor", "Agent"],
                "routing_profile": "Sales",
            },
            {
                "name": f"Agents {prefix}",
                "security_profiles": ["Agent"],
                "routing_profile": "Basic",
            },
        ],
        "targets": [{"instance_id": iid, "region": "us-east-1"}],
        "deprovision": {"action": "disable", "disabled_security_profile": "Disabled"},
    }
    return iid, {"config": config, "names": [newcomer, f"agent.0@{prefix}.example.com"]}


def main() -> int:
    saved = {
        k: os.environ.get(k)
        for k in (
            "CONNECT_USER_SYNC_RATE_MULTIPLIER",
            "AWS_ENDPOINT_URL_CONNECT",
            "REQUESTS_CA_BUNDLE",
            "SSL_CERT_FILE",
        )
    }
    print(f"on-demand apply of 2 users, Connect emulator at speed {SPEED:g} (default quotas)")
    with (
        ConnectEmulator(speed=SPEED, max_users_per_instance=max(SIZES) + 10) as connect,
        GraphEmulator("tenant-bench", "client-bench", "secret-bench") as graph,
    ):
        os.environ.update(
            {
                "CONNECT_USER_SYNC_RATE_MULTIPLIER": str(SPEED),
                "AWS_ENDPOINT_URL_CONNECT": connect.url,
                **graph.env(),
            }
        )
        try:
            for size in SIZES:
                started = time.perf_counter()
                _, world = _seed(connect, graph, size)
                seeded = time.perf_counter() - started
                config = parse_config(world["config"])
                time.sleep(3)  # let the quota buckets refill after the last run
                entra.clear_app_cache()
                connect.reset_calls()
                graph.reset_counters()
                start = time.perf_counter()
                outcome = run_sync(config, RunRequest(users=tuple(world["names"])))
                seconds = time.perf_counter() - start
                counts = outcome.report.targets[0].counts
                reads = sum(connect.calls[name] for name in READS)
                catalog = sum(connect.calls[name] for name in CATALOG)
                writes = sum(connect.calls.values()) - reads - catalog
                pages = math.ceil(size / 500)
                full_floor = max(0.0, (pages - CLIENT_BURST) / (DEFAULT_RATE * SPEED))
                print(
                    f"  {size:>6} users: {seconds:5.2f} s wall, Connect reads {reads} SearchUsers "
                    f"+ {catalog} catalog, {writes} writes, {graph.graph_requests} Graph "
                    f"requests (none reads a group); create {counts['create']}, update "
                    f"{counts['update']}, exit {outcome.exit_code}. A full read: {pages} "
                    f"SearchUsers pages, >= {full_floor:.0f} s (seeding took {seeded:.0f} s)"
                )
                if outcome.exit_code != 0:
                    print(f"    errors: {outcome.report.all_errors}")
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
