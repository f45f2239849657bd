"""The command line: ``connect-user-sync plan | apply | demo`` (see CONTRACT.md §1)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from connect_user_sync import __version__
from connect_user_sync.config import Config, ConfigError, load_config
from connect_user_sync.service import EXIT_USAGE, RunOutcome, RunRequest, run_sync


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="connect-user-sync",
        description="Keep Amazon Connect users in step with your identity provider.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, text in (
        ("plan", "show what apply would do; writes nothing"),
        ("apply", "converge Connect to the directory"),
    ):
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument(
            "--config", required=True, metavar="PATH", help="YAML or JSON configuration file"
        )
        sub.add_argument("--format", choices=("table", "json"), default="table")
        sub.add_argument(
            "--user",
            action="append",
            default=[],
            metavar="NAME",
            help="limit the run to this directory user (username or directory id); repeatable",
        )
        if name == "apply":
            sub.add_argument(
                "--approve-deprovision",
                action="store_true",
                help="let through deprovisioning that the safety limits held back",
            )
    demo = commands.add_parser(
        "demo", help="run the whole pipeline locally on emulators (no AWS account)"
    )
    demo.add_argument(
        "--source",
        choices=("file", "entra", "okta", "duo", "identity_center"),
        default="file",
        help="directory to emulate (default: file)",
    )
    demo.add_argument("--users", type=int, default=200, help="size of the sample directory")
    try:
        from connect_user_sync import cli_results
    except ImportError:  # pragma: no cover - results commands ship with the DynamoDB store
        pass
    else:
        cli_results.register(commands)
    return parser


def _stores(config: Config) -> tuple[Any, Any]:
    store = alerter = None
    table = config.results_table or os.environ.get("RESULTS_TABLE")
    topic = config.alerts_topic_arn or os.environ.get("ALERTS_TOPIC_ARN")
    if table:
        from connect_user_sync.store import DynamoRunStore

        store = DynamoRunStore(table)
    if topic:
        from connect_user_sync.alerts import SnsAlerter

        alerter = SnsAlerter(topic)
    return store, alerter


class _Progress:
    """A progress line on stderr, only when a person is watching."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, phase: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if total and done < total and now - self.last < 0.2:
            return
        self.last = now
        tail = f" {done}/{total}" if total else ""
        sys.stderr.write(f"\r\033[K{phase}{tail}")
        if total and done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def print_outcome(outcome: RunOutcome, fmt: str) -> None:
    if fmt == "json":
        sys.stdout.write(json.dumps(outcome.report, indent=2, default=str) + "\n")
        sys.stdout.flush()
        return
    from rich.console import Console

    from connect_user_sync.render import render_report

    render_report(outcome.report, Console(highlight=False))


def run_command(args: argparse.Namespace, dry_run: bool) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"connect-user-sync: {exc}", file=sys.stderr)
        return EXIT_USAGE
    request = RunRequest(
        dry_run=dry_run,
        users=tuple(args.user),
        approve_deprovision=bool(getattr(args, "approve_deprovision", False)),
        trigger="cli",
    )
    progress = _Progress()
    try:
        store, alerter = _stores(config)
        outcome = run_sync(config, request, store=store, alerter=alerter, progress=progress)
    except ConfigError as exc:
        progress.close()
        print(f"connect-user-sync: {exc}\nNothing was changed.", file=sys.stderr)
        return EXIT_USAGE
    progress.close()
    print_outcome(outcome, args.format)
    return outcome.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command in ("plan", "apply"):
        return run_command(args, dry_run=args.command == "plan")
    if args.command == "demo":
        from connect_user_sync_emulators.demo import run_demo

        return int(run_demo(source=args.source, users=args.users))
    handler = getattr(args, "handler", None)
    if handler is None:  # pragma: no cover - argparse requires a command
        return EXIT_USAGE
    return int(handler(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
