"""``connect-user-sync plan | apply | demo | sandbox | runs | history``.

``plan`` and ``apply`` run the same service as the Lambda function, wired the same way
(``connect_user_sync.wiring``). ``demo`` and ``sandbox`` need the emulators, which are test
and demo support: they are imported only when one of these verbs runs.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable, Sequence

from connect_user_sync import __version__
from connect_user_sync.cli import results
from connect_user_sync.cli.progress import TerminalProgress
from connect_user_sync.config import SOURCE_TYPES, ConfigError, load_config
from connect_user_sync.domain.bounded import capped, printable
from connect_user_sync.domain.report_json import iter_json
from connect_user_sync.service import EXIT_DIRECTORY, EXIT_USAGE, RunOutcome, RunRequest, run_sync
from connect_user_sync.wiring import build_alerter, build_ledger, build_store

PROG = "connect-user-sync"
DEMO_EXTRA_HINT = "install the demo extra: pip install -e '.[demo]' (make demo does)"
DEBUG_HELP = "on an unexpected error, print the Python traceback as well"
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report it


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Keep Amazon Connect users in step with your identity provider."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
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
        sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
        sub.add_argument(
            "--user",
            action="append",
            default=[],
            metavar="NAME",
            help="limit the run to this directory user (username or directory id); repeatable",
        )
        sub.add_argument(
            "--limit",
            type=_row_limit,
            default=None,
            metavar="N",
            help="table format: at most N rows per table, saying how many more (default: all)",
        )
        if name == "apply":
            sub.add_argument(
                "--approve-deprovision",
                action="store_true",
                help="let through deprovisioning that the safety limits held back",
            )
            sub.add_argument(
                "--approve-adoption",
                action="store_true",
                help="let this tool take over existing Connect users it would adopt "
                "(needs safety.adopt_existing; also records users an older version tagged)",
            )
        sub.set_defaults(handler=_plan if name == "plan" else _apply)
    demo = commands.add_parser(
        "demo", help="run the whole pipeline locally on emulators (no AWS account)"
    )
    demo.add_argument(
        "--source",
        choices=SOURCE_TYPES,
        default="file",
        help="directory to emulate (default: file)",
    )
    demo.add_argument("--users", type=int, default=200, help="size of the sample directory")
    demo.set_defaults(handler=_demo)
    # The sandbox's options are its own (connect-user-sync sandbox --help lists them).
    sandbox = commands.add_parser(
        "sandbox",
        help="local emulators for trying your own export, until Ctrl-C (no AWS account)",
        add_help=False,
    )
    sandbox.set_defaults(handler=_sandbox, options=[])
    results.register(commands)
    return parser


def _row_limit(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def print_outcome(outcome: RunOutcome, fmt: str, limit: int | None = None) -> None:
    if fmt == "json":
        # Written as it is encoded: a report of 50,000 actions is never one string in memory.
        for text in iter_json(outcome.report):
            sys.stdout.write(text)
        sys.stdout.write("\n")
        sys.stdout.flush()
        return
    from connect_user_sync.cli.render import console_for, render_report

    try:
        render_report(outcome.report, console_for(), limit=limit)
    except Exception as exc:  # the run is done: its report must reach the person anyway
        print(
            f"{PROG}: the table could not be drawn ({type(exc).__name__}: {exc}); "
            "the run report follows as JSON",
            file=sys.stderr,
        )
        print_outcome(outcome, "json")


def run_command(args: argparse.Namespace, dry_run: bool) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    request = RunRequest(
        dry_run=dry_run,
        users=tuple(args.user),
        approve_deprovision=bool(getattr(args, "approve_deprovision", False)),
        approve_adoption=bool(getattr(args, "approve_adoption", False)),
        trigger="cli",
    )
    progress = TerminalProgress()
    try:
        outcome = run_sync(
            config,
            request,
            store=build_store(config),
            alerter=build_alerter(config),
            ledger=build_ledger(config),
            progress=progress,
        )
    except ConfigError as exc:
        progress.close()
        print(f"{PROG}: {exc}\nNothing was changed.", file=sys.stderr)
        return EXIT_USAGE
    progress.close()
    print_outcome(outcome, args.format, getattr(args, "limit", None))
    return outcome.exit_code


def _plan(args: argparse.Namespace) -> int:
    return run_command(args, dry_run=True)


def _apply(args: argparse.Namespace) -> int:
    return run_command(args, dry_run=False)


def _missing(verb: str, exc: ModuleNotFoundError) -> int:
    print(
        f"{PROG}: {verb} is not available here: the module {exc.name!r} is missing. "
        f"Fix: {DEMO_EXTRA_HINT}",
        file=sys.stderr,
    )
    return EXIT_USAGE


def _demo(args: argparse.Namespace) -> int:
    try:
        from connect_user_sync.cli.demo import run_demo

        return run_demo(source=args.source, users=args.users)
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith(("connect_user_sync_emulators", "trustme")):
            raise
        return _missing("the demo", exc)


def _sandbox(args: argparse.Namespace) -> int:
    try:
        from connect_user_sync_emulators.sandbox import main as run_sandbox
    except ModuleNotFoundError as exc:
        return _missing("the sandbox", exc)
    return int(run_sandbox(list(args.options)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args, unknown = parser.parse_known_args(argv)
    if args.command == "sandbox":
        args.options = unknown  # the sandbox parses its own options
    elif unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return int(handler(args))
    except KeyboardInterrupt:
        print(
            f"{PROG}: interrupted. A run that had started is recorded as interrupted (with a "
            "results table); the next run plans from live state and carries on.",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    except Exception as exc:  # the one boundary: a message and an exit code, never a traceback
        return unexpected(exc, debug=bool(getattr(args, "debug", False)))


def unexpected(exc: BaseException, *, debug: bool) -> int:
    """Report an error nobody anticipated: one line, the traceback only with ``--debug``."""
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    print(
        f"{PROG}: unexpected error: {type(exc).__name__}: {printable(capped(str(exc), 500))}. "
        "A run that had started reports status failed. "
        + ("" if debug else "Run again with --debug to see where it happened."),
        file=sys.stderr,
    )
    return EXIT_DIRECTORY


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
