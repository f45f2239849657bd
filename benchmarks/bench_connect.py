"""Connect at scale (`make bench`): reads, writes at the quota, and memory flat in N.

Every case runs the real command line in a process of its own (``rss_child.py``) against
the Connect emulator with its quotas enforced: each operation's published rate times the
speed factor stated on the line, and a burst of 2, the same burst the limiter assumes (the
service's burst does not grow with the quota). The emulator runs in this process, so the
child's peak RSS is the tool's own. A line gives, per case:

- the Connect calls per operation, as the emulator counted them;
- the wall time of the run (interpreter start-up excluded);
- the quota's lower bound, max over operations of (calls - burst) / rate: no client can be
  faster on this quota;
- their ratio, and the peak RSS (``resource.getrusage``).

Nothing here asserts: figures on a shared machine are to be read. Each line says whether
it meets its target (OK) or not (MISSED).
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import subprocess
import sys
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from connect_user_sync.connect.throttle import DEFAULT_BURST
from connect_user_sync.domain.models import (
    TAG_EMAIL_HASH,
    TAG_MANAGED,
    TAG_SOURCE_ID,
    email_fingerprint,
)
from connect_user_sync_emulators.connect import ConnectEmulator

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
READ_SPEED = 10.0  # the no-change plans and the first-sync plan
WRITE_SPEED = 2.0  # the apply mix: 4 writes per second per operation
BULK_SPEED = 500.0  # 50,000 creates in a few minutes
PLAN_SIZES = (1000, 5000, 20000, 50000)
NAIVE_SIZE = 5000
FIRST_SYNC = 50000
RECORDED = (2000, 10000)
RSS_BUDGET_MB = 256.0
RATIO_TARGET = 1.15
PHONE = {"PhoneType": "SOFT_PHONE", "AutoAccept": False, "AfterContactWorkTimeLimit": 0}
TABLE = "bench-results"


@dataclass
class Measured:
    name: str
    speed: float
    calls: Counter[str]
    throttled: int
    wall: float
    rss_mb: float
    rc: int
    output: Path

    def bound(self, emulator: ConnectEmulator) -> float:
        burst = emulator.burst * emulator.speed
        return max(
            [0.0]
            + [
                (n - burst) / (emulator.rates.get(op, 2.0) * self.speed)
                for op, n in self.calls.items()
            ]
        )

    def line(self, emulator: ConnectEmulator, extra: str = "") -> str:
        bound = self.bound(emulator)
        ratio = f"{self.wall / bound:.2f}" if bound > 0.5 else "n/a (within the burst)"
        calls = ", ".join(f"{op} {n}" for op, n in sorted(self.calls.items(), key=lambda c: -c[1]))
        return (
            f"{self.name} (speed {self.speed:g}): wall {self.wall:.2f} s, bound {bound:.2f} s, "
            f"ratio {ratio}, peak RSS {self.rss_mb:.0f} MB, exit {self.rc}, "
            f"throttled {self.throttled}{extra}\n    calls {sum(self.calls.values())}: {calls}"
        )


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kb / 1024 / 1024:.0f} GB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{cpu}, {os.cpu_count()} cores{memory}, python {sys.version.split()[0]}"


# --------------------------------------------------------------------------- worlds


def person(i: int, last_name: str | None = None) -> dict[str, Any]:
    name = f"agent.{i}@example.com"
    return {
        "id": f"u{i}",
        "upn": name,
        "email": name,
        "first_name": "A",
        "last_name": last_name or f"N{i}",
        "groups": ["Agents"],
    }


@dataclass
class World:
    emulator: ConnectEmulator
    iid: str
    sp: str
    rp: str
    tmp: Path

    def seed(self, i: int, last_name: str | None = None) -> None:
        """A managed Connect user for person ``i``, in step unless ``last_name`` differs."""
        name = f"agent.{i}@example.com"
        self.emulator.add_user(
            self.iid,
            name,
            security_profile_ids=[self.sp],
            routing_profile_id=self.rp,
            first_name="A",
            last_name=last_name or f"N{i}",
            email=name,
            phone=PHONE,
            tags={
                TAG_MANAGED: "true",
                TAG_SOURCE_ID: f"u{i}",
                TAG_EMAIL_HASH: email_fingerprint(name),
            },
        )

    def config(self, people: Sequence[dict[str, Any]], label: str) -> Path:
        directory = self.tmp / f"{label}-directory.json"
        directory.write_text(
            json.dumps({"users": list(people), "groups": [{"id": "g", "name": "Agents"}]}),
            encoding="utf-8",
        )
        config = {
            "source": {"type": "file", "file": {"path": str(directory)}},
            "groups": [
                {"name": "Agents", "security_profiles": ["Agent"], "routing_profile": "Basic"}
            ],
            "targets": [{"instance_id": self.iid, "region": "us-east-1"}],
            "deprovision": {"action": "disable", "disabled_security_profile": "Disabled"},
            "safety": {"max_deprovision": 100000, "max_deprovision_percent": 100},
        }
        path = self.tmp / f"{label}-config.json"
        path.write_text(json.dumps(config), encoding="utf-8")
        return path


@contextmanager
def connect(speed: float, tmp: Path) -> Iterator[World]:
    # The burst is 2 requests whatever the speed: the emulator multiplies it by the speed.
    with ConnectEmulator(
        speed=speed, burst=DEFAULT_BURST / speed, max_users_per_instance=200_000
    ) as emulator:
        iid = emulator.add_instance()
        sp = emulator.add_security_profile(iid, "Agent")
        emulator.add_security_profile(iid, "Disabled")
        rp = emulator.add_routing_profile(iid, "Basic")
        yield World(emulator, iid, sp, rp, tmp)


@contextmanager
def results_table() -> Iterator[dict[str, str]]:
    """A moto DynamoDB with the results table as template.yaml declares it."""
    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        ddb = boto3.client(
            "dynamodb",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )
        props = _template()["Resources"]["ResultsTable"]["Properties"]
        # moto's state lives as long as this process: a fresh table for every case.
        table = f"{TABLE}-{uuid.uuid4().hex[:8]}"
        ddb.create_table(
            TableName=table,
            BillingMode=props["BillingMode"],
            AttributeDefinitions=props["AttributeDefinitions"],
            KeySchema=props["KeySchema"],
            GlobalSecondaryIndexes=props["GlobalSecondaryIndexes"],
        )
        yield {"AWS_ENDPOINT_URL_DYNAMODB": url, "RESULTS_TABLE": table}
    finally:
        server.stop()


def _template() -> dict[str, Any]:
    class Loader(yaml.SafeLoader):
        pass

    def intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return {suffix: loader.construct_scalar(node)}
        if isinstance(node, yaml.SequenceNode):
            return {suffix: loader.construct_sequence(node, deep=True)}
        return {suffix: loader.construct_mapping(node, deep=True)}  # type: ignore[arg-type]

    Loader.add_multi_constructor("!", intrinsic)
    text = (ROOT / "template.yaml").read_text(encoding="utf-8")
    return yaml.load(text, Loader=Loader)  # a SafeLoader with CloudFormation's tags


# --------------------------------------------------------------------------- running


class Launcher:
    """The small process that starts every case (see ``rss_child.py serve``)."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[str] | None = None

    def run(self, argv: Sequence[str], env: dict[str, str]) -> dict[str, Any]:
        if self.process is None:
            self.process = subprocess.Popen(
                [sys.executable, str(HERE / "rss_child.py"), "serve"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(json.dumps({"argv": list(argv), "env": env}) + "\n")
        self.process.stdin.flush()
        answer: dict[str, Any] = json.loads(self.process.stdout.readline())
        return answer

    def close(self) -> None:
        if self.process is not None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            self.process.wait()
            self.process = None


LAUNCHER = Launcher()


def run(
    world: World, name: str, mode: str, args: Sequence[str], env: dict[str, str] | None = None
) -> Measured:
    world.emulator.reset_calls()
    result = world.tmp / "result.json"
    output = world.tmp / f"{name.replace(' ', '-').replace(',', '')}.out"
    environ = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(world.tmp / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(world.tmp / "no-aws-credentials"),
        "AWS_ENDPOINT_URL_CONNECT": world.emulator.url,
        "CONNECT_USER_SYNC_RATE_MULTIPLIER": str(world.emulator.speed),
        **(env or {}),
    }
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "RESULTS_TABLE", "ALERTS_TOPIC_ARN"):
        if key not in (env or {}):
            environ.pop(key, None)
    done = LAUNCHER.run([str(result), str(output), mode, *args], environ)
    if done["returncode"] != 0 or not result.exists():
        raise RuntimeError(f"{name}: the child failed:\n{done['stderr']}")
    figures = json.loads(result.read_text(encoding="utf-8"))
    result.unlink()
    return Measured(
        name,
        world.emulator.speed,
        Counter(world.emulator.calls),
        sum(world.emulator.throttled.values()),
        figures["wall"],
        figures["maxrss_mb"],
        figures["rc"],
        output,
    )


def actions_in(output: Path) -> Counter[str]:
    """The actions of the JSON report printed (checks that it parses, too)."""
    report = json.loads(output.read_text(encoding="utf-8"))
    return Counter(a["action"] for t in report["targets"] for a in t["actions"])


def verdict(ok: bool) -> str:
    return "OK" if ok else "MISSED"


# --------------------------------------------------------------------------- cases


def no_change_plans(tmp: Path) -> None:
    for users in PLAN_SIZES:
        with connect(READ_SPEED, tmp) as world:
            for i in range(users):
                world.seed(i)
            config = world.config([person(i) for i in range(users)], f"plan{users}")
            plan = run(world, f"no-change plan, {users:,} users", "cli", _plan(config))
            budget = math.ceil(users / 500) + 10
            total = sum(plan.calls.values())
            print(plan.line(world.emulator, f", budget {budget} calls {verdict(total <= budget)}"))
            if users != NAIVE_SIZE:
                continue
            naive = run(world, f"naive no-change plan, {users:,} users", "naive", [str(config)])
            print(naive.line(world.emulator))
            ours = sum(plan.calls.values())
            print(
                f"    naive / ours: {sum(naive.calls.values()) / ours:.0f}x the calls, "
                f"{naive.wall / plan.wall:.0f}x the time (same plan: "
                f"{actions_in(naive.output) == actions_in(plan.output)})"
            )


def apply_mix(tmp: Path) -> None:
    for order in ("directory order", "shuffled"):
        with connect(WRITE_SPEED, tmp) as world:
            creates = [person(i) for i in range(100)]
            updates = [person(i, last_name=f"Changed{i}") for i in range(100, 200)]
            leavers = list(range(200, 250))
            seeded = list(range(100, 200)) + leavers
            people = creates + updates
            if order == "shuffled":
                rng = random.Random(13)
                rng.shuffle(people)
                rng.shuffle(seeded)
            for i in seeded:
                world.seed(i)
            config = world.config(people, f"mix-{order.split()[0]}")
            mix = run(
                world,
                f"apply 100 creates + 100 updates + 50 disables, {order}",
                "cli",
                _apply(config),
            )
            ok = mix.wall <= RATIO_TARGET * mix.bound(world.emulator)
            done = actions_in(mix.output)
            print(mix.line(world.emulator, f", {dict(done)}; wall <= 1.15 x bound {verdict(ok)}"))


def first_sync(tmp: Path) -> None:
    people = [person(i) for i in range(FIRST_SYNC)]
    with connect(READ_SPEED, tmp) as world:
        config = world.config(people, "first-plan")
        plan = run(
            world, f"first-sync plan, {FIRST_SYNC:,} users, --format json", "cli", _plan(config)
        )
        creates = actions_in(plan.output)["create"]
        ok = plan.rss_mb <= RSS_BUDGET_MB and creates == FIRST_SYNC
        print(
            plan.line(
                world.emulator,
                f", {creates} creates reported; peak RSS <= {RSS_BUDGET_MB:.0f} MB {verdict(ok)}",
            )
        )
    with connect(BULK_SPEED, tmp) as world:
        config = world.config(people, "first-apply")
        apply = run(
            world, f"first-sync apply, {FIRST_SYNC:,} creates, --format json", "cli", _apply(config)
        )
        created = len(world.emulator.users(world.iid))
        ok = apply.rss_mb <= RSS_BUDGET_MB and created == FIRST_SYNC
        print(
            apply.line(
                world.emulator,
                f", {created} users in Connect; peak RSS <= {RSS_BUDGET_MB:.0f} MB {verdict(ok)}",
            )
        )


def recorded(tmp: Path) -> None:
    """The report streamed to DynamoDB too: what the results table adds does not grow.

    moto takes a few milliseconds per item, so these cases record 2,000 and 10,000 actions
    and compare each with the same plan without a table (the 50,000 cases run without one).
    """
    for users in RECORDED:
        people = [person(i) for i in range(users)]
        with connect(READ_SPEED, tmp) as world:
            config = world.config(people, f"recorded{users}")
            bare = run(
                world, f"first-sync plan, {users:,} users, no results table", "cli", _plan(config)
            )
            print(bare.line(world.emulator))
            with results_table() as table:
                kept = run(
                    world,
                    f"first-sync plan, {users:,} users, results table (moto)",
                    "cli",
                    _plan(config),
                    table,
                )
            extra = kept.rss_mb - bare.rss_mb
            print(kept.line(world.emulator, f", {extra:+.0f} MB with {users:,} actions recorded"))


def _plan(config: Path) -> list[str]:
    return ["plan", "--config", str(config), "--format", "json"]


def _apply(config: Path) -> list[str]:
    return ["apply", "--config", str(config), "--format", "json"]


def main() -> None:
    print(f"\nConnect at scale, on {machine()}")
    print(f"quotas enforced by the emulator: published rates x speed, burst {DEFAULT_BURST:g}")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            no_change_plans(Path(tmp))
            apply_mix(Path(tmp))
            first_sync(Path(tmp))
            recorded(Path(tmp))
    finally:
        LAUNCHER.close()


if __name__ == "__main__":
    main()
