"""``connect-user-sync runs`` and ``history``: read the run history the Lambda function keeps.

    connect-user-sync runs    [--config PATH] [--limit N] [--format table|json]
    connect-user-sync history USERNAME [--config PATH] [--limit N] [--format table|json]

The table is wired as for every run (``connect_user_sync.wiring``): the ``RESULTS_TABLE``
environment variable (the stack output ``ResultsTableName``), or else ``results.table`` from
the configuration file. AWS credentials, Region and endpoint come from the standard AWS
configuration.

Exit codes: 0 the history was read (an empty one included); 2 no table configured, the
configuration is invalid, the table does not exist or there are no usable credentials
(nothing to retry; the message says what to set); 1 DynamoDB could not be read for another
reason (throttling, network), worth retrying.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from connect_user_sync.config import Config, ConfigError, load_config
from connect_user_sync.store import FAILED, HELD, DynamoRunStore
from connect_user_sync.wiring import build_store

EXIT_OK, EXIT_READ_FAILED, EXIT_USAGE = 0, 1, 2
ACTION_COLUMNS = ("create", "update", "adopt", "disable", "enable", "delete")
_INTERNAL_KEYS = frozenset({"PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK"})


class _Stop(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def register(subparsers: Any) -> None:
    """Add the ``runs`` and ``history`` commands to the CLI's subparsers."""
    runs = subparsers.add_parser("runs", help="list the latest sync runs recorded in DynamoDB")
    _common(runs, default_limit=20)
    runs.set_defaults(handler=runs_command)

    history = subparsers.add_parser(
        "history", help="what the sync did about one username, newest first"
    )
    history.add_argument("username", help="the Connect username, exactly as spelt (case matters)")
    _common(history, default_limit=50)
    history.set_defaults(handler=history_command)


def _common(parser: argparse.ArgumentParser, *, default_limit: int) -> None:
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="configuration file whose results.table names the table (else $RESULTS_TABLE)",
    )
    parser.add_argument(
        "--limit",
        type=_positive,
        default=default_limit,
        help=f"at most N rows (default {default_limit})",
    )
    parser.add_argument("--format", choices=("table", "json"), default="table")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


def _store(args: argparse.Namespace) -> DynamoRunStore:
    config: Config | None = None
    try:
        if args.config:
            config = load_config(args.config)
        store = build_store(config)
    except ConfigError as exc:
        raise _Stop(EXIT_USAGE, str(exc)) from exc
    if store is None:
        raise _Stop(
            EXIT_USAGE,
            "no results table configured. Fix: set results.table in the file given with "
            "--config, or export RESULTS_TABLE=<the stack output ResultsTableName>",
        )
    return store


def _read(
    args: argparse.Namespace, fetch: Callable[[DynamoRunStore], Iterable[dict[str, Any]]]
) -> list[dict[str, Any]]:
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

    table = "the results table"
    try:
        store = _store(args)
        table = store.table_name
        return list(fetch(store))
    except (NoCredentialsError, NoRegionError) as exc:
        raise _Stop(
            EXIT_USAGE, f"cannot reach DynamoDB: {exc}. Fix: configure AWS credentials and Region"
        ) from exc
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ResourceNotFoundException":
            raise _Stop(
                EXIT_USAGE,
                f"table {table!r} does not exist in this account and Region. Fix: use the "
                "stack output ResultsTableName, and the Region the stack is deployed in",
            ) from exc
        if code in ("AccessDeniedException", "UnrecognizedClientException"):
            raise _Stop(EXIT_USAGE, f"not allowed to read {table!r}: {exc}") from exc
        raise _Stop(EXIT_READ_FAILED, f"reading {table!r} failed: {exc}") from exc
    except BotoCoreError as exc:
        raise _Stop(EXIT_READ_FAILED, f"reading {table!r} failed: {exc}") from exc


def _public(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in _INTERNAL_KEYS}


def runs_command(args: argparse.Namespace) -> int:
    return _guarded(lambda: _runs(args))


def history_command(args: argparse.Namespace) -> int:
    return _guarded(lambda: _history(args))


def _guarded(body: Callable[[], None]) -> int:
    try:
        body()
    except _Stop as stop:
        sys.stderr.write(f"connect-user-sync: {stop}\n")
        return stop.code
    return EXIT_OK


def _runs(args: argparse.Namespace) -> None:
    runs = [_public(r) for r in _read(args, lambda store: store.latest_runs(args.limit))]
    if args.format == "json":
        _print_json({"runs": runs})
        return
    from rich.table import Table

    table = Table(title=f"Latest {len(runs)} run(s)", title_justify="left")
    table.add_column("started", no_wrap=True)
    table.add_column("run id", no_wrap=True)
    table.add_column("trigger")
    table.add_column("status")
    table.add_column("changes")
    for column in (HELD, FAILED, "mismatches", "in scope", "errors"):
        table.add_column(column, justify="right")
    for run in runs:
        counts = _summed_counts(run.get("targets") or [])
        changes = ", ".join(f"{counts[k]} {k}" for k in ACTION_COLUMNS if counts.get(k)) or "none"
        status = str(run.get("status"))
        if run.get("dry_run"):
            status += " (dry run)"
        table.add_row(
            str(run.get("started_at", "")),
            str(run.get("run_id", "")),
            str(run.get("trigger") or ""),
            status,
            changes,
            str(run.get(HELD, 0)),
            str(sum(int(t.get(FAILED, 0)) for t in run.get("targets") or [])),
            str(sum((run.get("mismatch_counts") or {}).values())),
            str(run.get("users_in_scope", "")),
            str(run.get("error_count", 0)),
        )
    _print_table(table, empty="No runs recorded yet.", rows=len(runs))


def _history(args: argparse.Namespace) -> None:
    entries = [
        _public(i) for i in _read(args, lambda store: store.history(args.username, args.limit))
    ]
    if args.format == "json":
        _print_json({"username": args.username, "history": entries})
        return
    from rich.table import Table

    table = Table(title=f"History of {args.username}", title_justify="left")
    for column in ("when", "run id", "what", "status", "instance", "details"):
        table.add_column(column, overflow="fold")
    for entry in entries:
        if entry.get("type") == "mismatch":
            what, status = f"mismatch: {entry.get('kind')}", "skipped"
            details = str(entry.get("detail") or "")
        else:
            what, status = str(entry.get("action")), str(entry.get("status"))
            details = _changes(entry.get("changes") or {}) or str(entry.get("error") or "")
        if entry.get("dry_run"):
            status += " (dry run)"
        table.add_row(
            str(entry.get("started_at", "")),
            str(entry.get("run_id", "")),
            what,
            status,
            str(entry.get("instance_id") or ""),
            details,
        )
    _print_table(
        table,
        empty=f"Nothing recorded for {args.username!r} (usernames are case-sensitive).",
        rows=len(entries),
    )


def _summed_counts(targets: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for target in targets:
        for kind, value in (target.get("counts") or {}).items():
            total[kind] = total.get(kind, 0) + int(value or 0)
    return total


def _changes(changes: Mapping[str, Any]) -> str:
    parts = []
    for name, change in changes.items():
        if isinstance(change, Mapping):
            parts.append(f"{name}: {change.get('from')} -> {change.get('to')}")
        else:
            parts.append(f"{name}: {change}")
    return "; ".join(parts)


def _print_json(document: Mapping[str, Any]) -> None:
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()


def _print_table(table: Any, *, empty: str, rows: int) -> None:
    from rich.console import Console

    # Piped output has no terminal width; do not squeeze run ids into 80 columns.
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    if rows == 0:
        console.print(empty)
        return
    console.print(table)
