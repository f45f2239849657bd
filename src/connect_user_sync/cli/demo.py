"""``connect-user-sync demo``: the whole pipeline on this machine, no AWS account.

The emulators (a test and demo extra, imported here only) provide the world: a Connect
instance and a sample directory. This runs plan, apply and a second apply that must change
nothing, and prints each report as ``plan``/``apply`` would.
"""

from __future__ import annotations

from rich.console import Console
from rich.rule import Rule

from connect_user_sync.cli.render import console_for, render_report
from connect_user_sync.config import parse_config
from connect_user_sync.service import RunOutcome, RunRequest, run_sync

DEMO_ROWS = 25  # rows per table; each table says how many more there are


def run_demo(source: str = "file", users: int = 200, console: Console | None = None) -> int:
    """Run the demo; 0 when the second apply planned nothing, else 1."""
    from connect_user_sync_emulators.demo import demo_world

    out = console or console_for()
    with demo_world(source, users) as world:
        config = parse_config(world.document)
        out.print(Rule("connect-user-sync demo"))
        out.print(
            f"Connect emulator at {world.emulator.url} with instance {world.instance_id}: "
            f"{world.existing_users()} existing users.\n"
            f"Sample directory ({source}): {len(world.directory['users'])} people in 3 groups, "
            f"written to {world.directory_path}\nConfiguration: {world.config_path}\n"
        )
        steps = [
            (
                "1. plan: what would change (no write call)",
                RunRequest(dry_run=True, trigger="demo"),
            ),
            ("2. apply: converge Connect to the directory", RunRequest(trigger="demo")),
            ("3. apply again: nothing left to do", RunRequest(trigger="demo")),
        ]
        outcomes: list[RunOutcome] = []
        for title, request in steps:
            out.print(Rule(title))
            before = world.connect_calls()
            outcome = run_sync(config, request)
            render_report(outcome.report, out, limit=DEMO_ROWS)
            out.print(
                f"[dim]{world.connect_calls() - before} Connect API calls, "
                f"exit code {outcome.exit_code}[/dim]"
            )
            outcomes.append(outcome)
        actions = sum(len(t.actions) for t in outcomes[2].report.targets)
        out.print(Rule("where to look next"))
        out.print(
            f"The second apply planned {actions} actions. The reports above are what "
            "`connect-user-sync plan|apply --config ... --format json` prints.\n"
            f"- The demo's config and directory stay in {world.workdir}; docs/reference.md "
            "explains every key.\n"
            "- To try your own export: `connect-user-sync sandbox`, then plan and apply with\n"
            "  the configuration it prints (read-only `plan` first).\n"
            "- To deploy the nightly Lambda: see the README's deploying section."
        )
        ok = outcomes[1].exit_code == 0 and outcomes[2].exit_code == 0 and actions == 0
        return 0 if ok else 1
