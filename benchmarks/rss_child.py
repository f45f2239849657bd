"""One benchmark case in a process of its own, so that its peak RSS is its own.

    python benchmarks/rss_child.py RESULT.json OUTPUT cli plan --config c.json --format json
    python benchmarks/rss_child.py RESULT.json OUTPUT naive c.json
    python benchmarks/rss_child.py serve

``cli`` runs the real command line (``connect_user_sync.cli.main``); ``naive`` runs a dry
run whose Connect reads are done the naive way (ListUsers, then DescribeUser per user) and
prints the report as the CLI's ``--format json`` does. stdout goes to OUTPUT; RESULT.json
gets the exit code, the wall time of the run (interpreter start-up excluded) and the peak
RSS from ``resource.getrusage``.

``serve`` is the launcher: it reads one JSON request per line on stdin (``argv``, ``env``),
runs that case and answers with its exit status and stderr. Cases are started by this
small process, not by the benchmark (which holds the emulators and their users): Linux
counts the memory of the process image a child was forked from into the child's
``ru_maxrss``, so a child of a large process would report at least that process's size.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any


def _naive(config_path: str) -> int:
    from connect_user_sync.cli.main import print_outcome
    from connect_user_sync.config import load_config
    from connect_user_sync.service import RunRequest, run_sync

    sys.path.insert(0, str(Path(__file__).parent))
    from naive import naive_connect

    outcome = run_sync(load_config(config_path), RunRequest(dry_run=True), connect=naive_connect)
    print_outcome(outcome, "json")
    return outcome.exit_code


def serve() -> int:
    import subprocess

    for line in sys.stdin:
        request = json.loads(line)
        done = subprocess.run(
            [sys.executable, __file__, *request["argv"]],
            env=request["env"],
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
        answer = {"returncode": done.returncode, "stderr": done.stderr[-5000:]}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    return 0


def main(argv: list[str]) -> int:
    if argv == ["serve"]:
        return serve()
    result_path, output_path, mode, *args = argv
    with open(output_path, "w", encoding="utf-8") as output:
        sys.stdout = output
        from connect_user_sync.cli.main import main as cli

        began = time.perf_counter()
        code = cli(args) if mode == "cli" else _naive(args[0])
        wall = time.perf_counter() - began
        sys.stdout.flush()
        sys.stdout = sys.__stdout__
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result: dict[str, Any] = {"rc": code, "wall": wall, "maxrss_mb": usage.ru_maxrss / 1024}
    Path(result_path).write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
