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
    from connect_user_sync.cli.render import new_table, plain

    table = new_table(
        "started", "run id", "trigger", "status", "changes", HELD, FAILED, "mismatches",
        "in scope", "errors",
    )  # fmt: skip
    table.title, table.title_justify = f"Latest {len(runs)} run(s)", "left"
    for column in table.columns[5:]:
        column.justify = "right"
    for run in runs:
        counts = _summed_counts(run.get("targets") or [])
        changes = ", ".join(f"{counts[k]} {k}" for k in ACTION_COLUMNS if counts.get(k)) or "none"
        status = str(run.get("status"))
        if run.get("dry_run"):
            status += " (dry run)"
        cells = (
            run.get("started_at", ""),
            run.get("run_id", ""),
            run.get("trigger") or "",
            status,
            changes,
            run.get(HELD, 0),
            sum(int(t.get(FAILED, 0)) for t in run.get("targets") or []),
            sum((run.get("mismatch_counts") or {}).values()),
            run.get("users_in_scope", ""),
            run.get("error_count", 0),
        )
        table.add_row(*(plain(c) for c in cells))
    _print_table(table, empty="No runs recorded yet.", rows=len(runs))


def _history(args: argparse.Namespace) -> None:
    entries = [
        _public(i) for i in _read(args, lambda store: store.history(args.username, args.limit))
    ]
    if args.format == "json":
        _print_json({"username": args.username, "history": entries})
        return
    from rich.text import Text

    from connect_user_sync.cli.render import (
        WORD_CHARS,
        action_cells,
        action_from_item,
        new_table,
        plain,
        sentence,
    )

    # The rows of plan and apply, with when and where each happened.
    table = new_table("when", "run id", "instance", "action", "changes", "status")
    table.title = Text(f"History of {args.username}")
    table.title_justify = "left"
    for entry in entries:
        when, run_id = plain(entry.get("started_at", "")), plain(entry.get("run_id", ""))
        instance = plain(entry.get("instance_id") or "")
        note = " (dry run)" if entry.get("dry_run") else ""
        if entry.get("type") == "mismatch":
            cells = [
                plain(f"mismatch: {entry.get('kind')}", style="magenta"),
                sentence(str(entry.get("detail") or ""), word=WORD_CHARS),
                plain(f"skipped{note}"),
            ]
        else:
            try:
                kind, _user, changes, status = action_cells(action_from_item(entry), note=note)
            except ValueError:  # written by a newer version: show it as it is
                kind, changes, status = (
                    plain(entry.get("action")),
                    plain(entry.get("changes")),
                    plain(f"{entry.get('status')}{note}"),
                )
            cells = [kind, changes, status]
        table.add_row(when, run_id, instance, *cells)
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


def _print_json(document: Mapping[str, Any]) -> None:
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()


def _print_table(table: Any, *, empty: str, rows: int) -> None:
    from connect_user_sync.cli.render import console_for, print_table

    # Piped output has no terminal width: COLUMNS, or a wide default (never 80 columns).
    console = console_for()
    if rows == 0:
        console.print(empty, markup=False, soft_wrap=True)
        return
    print_table(console, table)
