"""Benchmarks that print figures: `make bench`.

Each scenario runs the real code paths (boto3 against the Connect emulator, msal and
requests against the Graph emulator) and prints what it measured. Nothing here asserts a
time: timings on a shared 2-core machine are figures to read, not pass/fail gates. The
Connect cases (reads, writes at the quota, memory) live in bench_connect.py.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from connect_user_sync.domain.models import (
    TAG_EMAIL_HASH,
    TAG_MANAGED,
    TAG_SOURCE_ID,
    email_fingerprint,
)


def timed(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def bench_planner(users: int) -> None:
    from connect_user_sync.domain.models import ConnectUser, DirectoryUser, PhoneSettings
    from connect_user_sync.domain.planner import PlanPolicy, plan_target, view_directory
    from connect_user_sync.domain.settings import ResolvedRule

    rules = [ResolvedRule("A", ("sp",), "rp", None, PhoneSettings())]
    directory = [
        DirectoryUser(
            f"u{i}", {"upn": f"a{i}@example.com"}, "A", "B", f"a{i}@example.com", True, ("A",)
        )
        for i in range(users)
    ]
    connect = [
        ConnectUser(
            f"c{i}",
            f"arn{i}",
            f"a{i}@example.com",
            frozenset({"sp"}),
            "rp",
            None,
            PhoneSettings(),
            "A",
            "B",
            {
                TAG_MANAGED: "true",
                TAG_SOURCE_ID: f"u{i}",
                TAG_EMAIL_HASH: email_fingerprint(f"a{i}@example.com"),
            },
        )
        for i in range(0, users, 2)
    ]
    policy = PlanPolicy("upn", disabled_security_profile_id="off")
    seconds, (plan, _) = timed(
        lambda: plan_target(
            "i", "r", view_directory(directory, rules, policy), connect, policy, now="T"
        )
    )
    print(
        f"planner (pure), {users:>6} directory users vs {len(connect)} Connect users: {seconds * 1000:7.1f} ms, "
        f"{len(plan.actions)} actions"
    )


def bench_entra(members: int) -> None:
    try:
        from connect_user_sync.config import EntraSourceConfig
        from connect_user_sync.domain.models import GroupRule
        from connect_user_sync.sources.entra import EntraSource
        from connect_user_sync_emulators.graph import GraphEmulator
    except ImportError as exc:  # pragma: no cover
        print(f"entra: skipped ({exc})")
        return
    with GraphEmulator("tenant-1", "client-1", "secret-1") as graph:
        ids = [f"user-{i}" for i in range(members)]
        for uid in ids:
            graph.add_user(uid, f"{uid}@example.com", mail=f"{uid}@example.com")
        graph.add_group("group-1", "CC-Agents", members=ids)
        os.environ["REQUESTS_CA_BUNDLE"] = graph.ca_file
        config = EntraSourceConfig(
            "tenant-1",
            "client-1",
            client_secret="secret-1",
            authority_host=graph.authority_host,
            graph_url=graph.graph_url,
        )
        rule = GroupRule("CC-Agents", False, ("Agent",), "Basic")
        start = time.perf_counter()
        snapshot = EntraSource(config, "upn").read([rule])
        seconds = time.perf_counter() - start
        print(
            f"entra read, {members} members: {seconds:6.2f} s, {graph.graph_requests} Graph requests "
            f"(budget {-(-members // 999) + 5}), {graph.token_requests} token requests, "
            f"complete={snapshot.complete}"
        )


def main() -> int:
    here = Path(__file__).parent
    sys.path.insert(0, str(here))
    from bench_connect import machine

    print(f"connect-user-sync benchmarks on {machine()}")
    bench_planner(20000)
    bench_entra(10000)
    # Each scenario keeps its own module, benchmarks/bench_<name>.py, with a main() that
    # prints its figures: bench_connect.py (Connect at scale) and one per directory source.
    import importlib

    for module in sorted(p.stem for p in here.glob("bench_*.py")):
        importlib.import_module(module).main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
