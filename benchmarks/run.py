"""Benchmarks that print figures: `make bench`.

Each scenario runs the real code paths (boto3 against the Connect emulator, msal and
requests against the Graph emulator) and prints what it measured. Nothing here asserts a
time: timings on a shared 2-core machine are figures to read, not pass/fail gates.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
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
from connect_user_sync.sources.file import FileSource
from connect_user_sync_emulators.connect import ConnectEmulator

SPEED = 50.0


def timed(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def world(emulator: ConnectEmulator, users: int, in_sync: int, tmp: Path) -> tuple[Any, FileSource]:
    iid = emulator.add_instance()
    sp = emulator.add_security_profile(iid, "Agent")
    emulator.add_security_profile(iid, "Disabled")
    rp = emulator.add_routing_profile(iid, "Basic")
    phone = {"PhoneType": "SOFT_PHONE", "AutoAccept": False, "AfterContactWorkTimeLimit": 0}
    people = []
    for i in range(users):
        name = f"agent.{i}@example.com"
        people.append(
            {
                "id": f"u{i}",
                "upn": name,
                "email": name,
                "first_name": "A",
                "last_name": f"N{i}",
                "groups": ["Agents"],
            }
        )
        if i < in_sync:
            emulator.add_user(
                iid,
                name,
                security_profile_ids=[sp],
                routing_profile_id=rp,
                first_name="A",
                last_name=f"N{i}",
                email=name,
                phone=phone,
                tags={
                    TAG_MANAGED: "true",
                    TAG_SOURCE_ID: f"u{i}",
                    TAG_EMAIL_HASH: email_fingerprint(name),
                },
            )
    path = tmp / f"{iid}.json"
    path.write_text(
        json.dumps({"users": people, "groups": [{"id": "g", "name": "Agents"}]}), encoding="utf-8"
    )
    config = parse_config(
        {
            "source": {"type": "file", "file": {"path": str(path)}},
            "groups": [
                {"name": "Agents", "security_profiles": ["Agent"], "routing_profile": "Basic"}
            ],
            "targets": [{"instance_id": iid, "region": "us-east-1"}],
            "deprovision": {"action": "disable", "disabled_security_profile": "Disabled"},
        }
    )
    return config, FileSource(str(path))


def bench_plan(emulator: ConnectEmulator, tmp: Path, users: int) -> None:
    config, source = world(emulator, users, users, tmp)
    emulator.reset_calls()
    seconds, outcome = timed(
        lambda: run_sync(config, RunRequest(dry_run=True), source=source), repeat=3
    )
    calls = sum(emulator.calls.values()) // 3
    assert outcome.report.targets[0].unchanged == users
    budget = -(-users // 500) + 10
    print(
        f"plan, {users:>6} in-sync users: {seconds:6.2f} s median, {calls} Connect calls "
        f"(budget {budget}), {dict(emulator.calls)}"
    )


def bench_apply(emulator: ConnectEmulator, tmp: Path, users: int) -> None:
    config, source = world(emulator, users, 0, tmp)
    emulator.reset_calls()
    start = time.perf_counter()
    outcome = run_sync(config, RunRequest(), source=source)
    seconds = time.perf_counter() - start
    assert outcome.exit_code == 0, outcome.report.all_errors
    creates = emulator.calls["CreateUser"]
    print(
        f"apply, {users:>5} creates at {SPEED:g}x quota: {seconds:6.2f} s, {creates / seconds:6.1f} CreateUser/s "
        f"(quota {2 * SPEED:g}/s); at the default 2/s that is about {users / 2 / 60:.1f} min; "
        f"throttled {sum(emulator.throttled.values())}"
    )


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
    os.environ["CONNECT_USER_SYNC_RATE_MULTIPLIER"] = str(SPEED)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores")
    bench_planner(20000)
    with (
        tempfile.TemporaryDirectory() as tmp,
        ConnectEmulator(speed=SPEED, max_users_per_instance=50000) as emulator,
    ):
        os.environ["AWS_ENDPOINT_URL_CONNECT"] = emulator.url
        for users in (1000, 5000):
            bench_plan(emulator, Path(tmp), users)
        bench_apply(emulator, Path(tmp), 500)
    bench_entra(10000)
    # Each directory source keeps its own scenario in benchmarks/bench_<source>.py with a
    # main() that prints its figures.
    import importlib

    here = Path(__file__).parent
    sys.path.insert(0, str(here))
    for module in sorted(p.stem for p in here.glob("bench_*.py")):
        importlib.import_module(module).main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
