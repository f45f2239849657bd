"""``connect-user-sync demo``: the whole pipeline on this machine, no AWS account.

Starts the Connect emulator (and, for another ``--source``, that directory's emulator), seeds an
instance and a sample directory, then runs plan, apply and a second apply that must
change nothing. Everything runs in this process and stops with it.
"""

from __future__ import annotations

import importlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from rich.console import Console
from rich.rule import Rule

DEMO_SPEED = 50.0  # the emulator and the client both run 50x Connect's default quotas

# Each directory's demo: a context manager taking the sample directory and yielding
# (source section of the config, environment to set[, username attribute to assert]).
SOURCE_DEMOS = {
    "entra": "connect_user_sync_emulators.graph:entra_demo",
    "okta": "connect_user_sync_emulators.okta:okta_demo",
    "duo": "connect_user_sync_emulators.duo:duo_demo",
    "identity_center": "connect_user_sync_emulators.identity_center:identity_center_demo",
}


@contextmanager
def _env(values: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def run_demo(source: str = "file", users: int = 200, console: Console | None = None) -> int:
    import yaml

    from connect_user_sync.config import parse_config
    from connect_user_sync.render import render_report
    from connect_user_sync.service import RunRequest, run_sync
    from connect_user_sync_emulators.connect import ConnectEmulator
    from connect_user_sync_emulators.sample import sample_config, sample_directory, seed_connect

    out = console or Console(highlight=False)
    workdir = Path(tempfile.mkdtemp(prefix="connect-user-sync-demo-"))
    with ExitStack() as stack:
        emulator = stack.enter_context(ConnectEmulator(speed=DEMO_SPEED))
        stack.enter_context(
            _env(
                {
                    "AWS_ENDPOINT_URL_CONNECT": emulator.url,
                    "AWS_ACCESS_KEY_ID": "demo",
                    "AWS_SECRET_ACCESS_KEY": "demo",
                    "AWS_DEFAULT_REGION": "us-east-1",
                    "CONNECT_USER_SYNC_RATE_MULTIPLIER": str(DEMO_SPEED),
                }
            )
        )
        directory = sample_directory(users)
        directory_path = workdir / "directory.json"
        directory_path.write_text(
            json.dumps(directory, indent=2, ensure_ascii=False), encoding="utf-8"
        )
        instance_id = seed_connect(emulator, directory)
        document = sample_config(instance_id, str(directory_path))
        if source != "file":
            module_name, _, factory_name = SOURCE_DEMOS[source].partition(":")
            factory = getattr(importlib.import_module(module_name), factory_name)
            section, env, *attribute = stack.enter_context(factory(directory))
            stack.enter_context(_env(env))
            document["source"] = section
            if attribute:
                document["username"]["attribute"] = attribute[0]
        config_path = workdir / "config.yaml"
        config_path.write_text(
            yaml.safe_dump(document, sort_keys=False, allow_unicode=True), encoding="utf-8"
        )
        config = parse_config(document)

        out.print(Rule("connect-user-sync demo"))
        out.print(
            f"Connect emulator at {emulator.url} with instance {instance_id}: "
            f"{len(emulator.users(instance_id))} existing users.\n"
            f"Sample directory ({source}): {len(directory['users'])} people in 3 groups, "
            f"written to {directory_path}\nConfiguration: {config_path}\n"
        )
        steps: list[tuple[str, RunRequest]] = [
            (
                "1. plan: what would change (no write call)",
                RunRequest(dry_run=True, trigger="demo"),
            ),
            ("2. apply: converge Connect to the directory", RunRequest(trigger="demo")),
            ("3. apply again: nothing left to do", RunRequest(trigger="demo")),
        ]
        outcomes = []
        for title, request in steps:
            out.print(Rule(title))
            before = sum(emulator.calls.values())
            outcome = run_sync(config, request)
            render_report(outcome.report, out)
            out.print(
                f"[dim]{sum(emulator.calls.values()) - before} Connect API calls, exit code {outcome.exit_code}[/dim]"
            )
            outcomes.append(outcome)
        second = outcomes[2].report
        actions = sum(len(t["actions"]) for t in second["targets"])
        out.print(Rule("where to look next"))
        out.print(
            f"The second apply planned {actions} actions. The reports above are what "
            "`connect-user-sync plan|apply --config ... --format json` prints.\n"
            f"- The demo's config and directory stay in {workdir}; README.md explains every key.\n"
            "- To try your own tenant: write a config with source.type entra (or file), then\n"
            "  `connect-user-sync plan --config my.yaml` (read-only) before any apply.\n"
            "- To deploy the nightly Lambda: `sam build && sam deploy --guided` (see README)."
        )
        ok = outcomes[1].exit_code == 0 and outcomes[2].exit_code == 0 and actions == 0
        return 0 if ok else 1
    return 1  # pragma: no cover - the with block always returns
