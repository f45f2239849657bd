"""After `sam build`: the layer's unzipped size and the handler's cold import time, each
against a budget; and proof that the layer holds runtime code only.

Usage: python scripts/build_report.py --python /path/to/python3.13   (make build)

Budgets (change them here, with the reason, when a dependency earns the room):

- LAYER_BUDGET_MB = 110 (decimal MB, unzipped: the sum of its file sizes). The layer was
  95.3 MB before it was built from src/ with a lock file, 92.5 MB after (setuptools, the
  CLI and __main__ left out); about 38 MB zipped. Lambda allows
  250 MB for a function and its layers together; the budget is there to catch a new
  dependency that nobody weighed, not to squeeze the last megabyte.
- IMPORT_BUDGET_MS = 2000: importing functions/sync/app.py (what Lambda's init does) with
  the layer on the path, best of three, with no bytecode cache - /opt is read-only in
  Lambda and the layer ships no .pyc, so every cold start compiles what it imports. About
  0.8 s on a quiet development machine (1.3 s with the other cores busy); most of it is
  aws_xray_sdk and botocore. A directory SDK imported at cold start instead of when its
  source runs would break it: okta alone takes 1.1 s, msal 0.4 s. Shipping .pyc files
  compiled for 3.13 would halve the import but add about 30 MB to the layer; for a
  nightly batch job that is not worth it.

The layer holds aarch64 binaries that cannot load on other machines, so the import is
timed with the same locked packages installed for this machine (under build/), placed in
front of the built layer: every pinned version, and the layer's own connect_user_sync, are
the ones that ship. The layer must not contain rich, trustme, the emulators, the CLI
subpackage or __main__.py, nor a module that imports any of them: the build fails if it does.

Exit codes: 0 within budget; 1 over a budget or forbidden content; 2 cannot measure.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYER = ROOT / ".aws-sam" / "build" / "SharedLayer" / "python"
LOCK = ROOT / "layers" / "shared" / "requirements.lock"
HANDLER_DIR = ROOT / "functions" / "sync"
HOST_DEPS = ROOT / "build" / "host-deps"

LAYER_BUDGET_MB = 110.0
IMPORT_BUDGET_MS = 2000.0
RUNS = 3

FORBIDDEN_TOP_LEVEL = ("rich", "trustme", "connect_user_sync_emulators")
FORBIDDEN_IN_PACKAGE = ("connect_user_sync/cli", "connect_user_sync/__main__.py")
_IMPORT = re.compile(
    r"^\s*(?:from|import)\s+(rich|trustme|connect_user_sync_emulators)\b", re.MULTILINE
)
_IMPORTTIME = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)\s*$")


def tree_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def forbidden_content(layer: Path) -> list[str]:
    """What the layer must not hold: CLI-only, test-only and demo-only code."""
    problems = [
        f"{name}/ is in the layer"
        for name in FORBIDDEN_TOP_LEVEL
        if (layer / name).exists() or any(layer.glob(f"{name}-*.dist-info"))
    ]
    problems += [f"{rel} is in the layer" for rel in FORBIDDEN_IN_PACKAGE if (layer / rel).exists()]
    for module in sorted((layer / "connect_user_sync").rglob("*.py")):
        match = _IMPORT.search(module.read_text(encoding="utf-8"))
        if match:
            problems.append(f"{module.relative_to(layer)} imports {match.group(1)}")
    return problems


def host_packages(python: str) -> Path:
    """The lock installed for this machine once per lock version (build/host-deps)."""
    digest = hashlib.sha256(LOCK.read_bytes()).hexdigest()[:16]
    stamp = HOST_DEPS / f".lock-{digest}"
    if stamp.exists():
        return HOST_DEPS
    shutil.rmtree(HOST_DEPS, ignore_errors=True)
    done = subprocess.run(  # noqa: S603  # nosec B603 - fixed argv, no shell
        [
            python,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-compile",
            "--no-deps",
            "--require-hashes",
            "--only-binary=:all:",
            "--target",
            str(HOST_DEPS),
            "-r",
            str(LOCK),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"cannot install {LOCK.name} for timing: {done.stderr.strip()[-800:]}")
    stamp.touch()
    return HOST_DEPS


def time_import(python: str, deps: Path, layer: Path) -> tuple[float, list[tuple[float, str]]]:
    """Milliseconds to import the handler module (best of RUNS), and its heaviest imports."""
    best: tuple[float, list[tuple[float, str]]] | None = None
    for _ in range(RUNS):
        with tempfile.TemporaryDirectory() as scratch:
            handler = Path(scratch) / "app.py"  # a copy: no __pycache__ next to the source
            shutil.copy(HANDLER_DIR / "app.py", handler)
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "HOME": scratch,
                "PYTHONPATH": os.pathsep.join([str(deps), str(layer), scratch]),
                "PYTHONDONTWRITEBYTECODE": "1",
                "AWS_REGION": "us-east-1",
                "AWS_DEFAULT_REGION": "us-east-1",
                "POWERTOOLS_SERVICE_NAME": "connect-user-sync",
                "POWERTOOLS_METRICS_NAMESPACE": "ConnectUserSync",
            }
            done = subprocess.run(  # noqa: S603  # nosec B603 - fixed argv, no shell
                [python, "-X", "importtime", "-c", "import app"],
                capture_output=True,
                text=True,
                env=env,
                cwd=scratch,
                check=False,
            )
        if done.returncode != 0:
            raise SystemExit(f"importing the handler failed:\n{done.stderr.strip()[-1500:]}")
        total, direct = _parse_importtime(done.stderr)
        if best is None or total < best[0]:
            best = (total, direct)
    assert best is not None
    return best


def _parse_importtime(text: str) -> tuple[float, list[tuple[float, str]]]:
    total = 0.0
    direct: list[tuple[float, str]] = []
    for line in text.splitlines():
        match = _IMPORTTIME.match(line)
        if not match:
            continue
        cumulative_ms = int(match.group(2)) / 1000
        depth = len(match.group(3))
        if match.group(4) == "app" and depth == 1:
            total = cumulative_ms
        elif depth == 3:  # imported by app itself
            direct.append((cumulative_ms, match.group(4)))
    if not total:
        raise SystemExit("no import time recorded for the handler module (app)")
    return total, sorted(direct, reverse=True)[:5]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", default="", help="a CPython 3.13 interpreter")
    parser.add_argument("--layer", type=Path, default=LAYER)
    args = parser.parse_args(argv)
    if not args.layer.is_dir():
        print(f"build: no built layer at {args.layer}: run make template first", file=sys.stderr)
        return 2
    failures = [f"forbidden content: {problem}" for problem in forbidden_content(args.layer)]

    size_mb = tree_bytes(args.layer) / 1_000_000
    print(f"layer: {size_mb:.1f} MB unzipped (budget {LAYER_BUDGET_MB:.0f} MB)")
    if size_mb > LAYER_BUDGET_MB:
        failures.append(f"the layer is {size_mb:.1f} MB, over its {LAYER_BUDGET_MB:.0f} MB budget")

    python = args.python.strip()
    if not python or not Path(python).exists():
        print("build: a python3.13 interpreter is needed to time the import", file=sys.stderr)
        print(
            "       (pyenv install 3.13, or make build PY313=/path/to/python3.13)", file=sys.stderr
        )
        return 2
    millis, heaviest = time_import(python, host_packages(python), args.layer)
    print(
        f"handler cold import: {millis:.0f} ms, best of {RUNS} "
        f"(budget {IMPORT_BUDGET_MS:.0f} ms; no bytecode cache, as in Lambda)"
    )
    print("  heaviest: " + ", ".join(f"{name} {ms:.0f} ms" for ms, name in heaviest))
    if millis > IMPORT_BUDGET_MS:
        failures.append(
            f"the cold import takes {millis:.0f} ms, over its {IMPORT_BUDGET_MS:.0f} ms budget"
        )

    for failure in failures:
        print(f"build: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
