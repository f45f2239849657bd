"""pip-audit --strict on lock files, with an honest answer when it cannot look anything up.

Usage: python scripts/audit.py LOCK [LOCK ...]      (make audit; .ci/run)

pip-audit asks a vulnerability database about every pinned package: the PyPI JSON API
(``/pypi/<name>/<version>/json``) or, failing that, OSV. Where neither answers (no network,
or a registry mirror without the per-version API), pip-audit --strict fails on the first
package with "not found on PyPI", which says nothing about vulnerabilities. So this script
first asks each database about one pinned package of the first lock file:

- neither answers: it prints ONE line saying that the dependencies were not audited and
  why, and exits 0 (the build does not fail for a database it cannot reach);
- one answers: pip-audit --strict runs on every lock file against that database, and any
  failure (a known vulnerability, or a package it could not audit) exits 1 with the
  findings listed.

Exit codes: 0 audited and clean, or database unreachable (one line says which); 1 a
finding or an audit error; 2 bad usage.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

PYPI_URL = "https://pypi.org/pypi/{name}/{version}/json"
OSV_URL = "https://api.osv.dev/v1/query"
PROBE_TIMEOUT = 15.0
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)


def first_pin(lock: Path) -> tuple[str, str]:
    """The first ``name==version`` line of a lock file."""
    match = _PIN.search(lock.read_text(encoding="utf-8"))
    if match is None:
        raise SystemExit(f"audit: {lock} pins no package (expected name==version lines)")
    return match.group(1), match.group(2)


def _fetch(request: urllib.request.Request) -> Any:
    # The URLs are the fixed https endpoints above, never user input.
    with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT) as response:  # noqa: S310  # nosec B310
        return json.loads(response.read().decode("utf-8"))


def probe(service: str, name: str, version: str) -> str | None:
    """None when ``service`` answers a vulnerability query, else why it does not."""
    if service == "pypi":
        url = PYPI_URL.format(name=name, version=version)
        request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 - fixed https URL
        want = "vulnerabilities"
    else:
        url = OSV_URL
        body = {"package": {"name": name, "ecosystem": "PyPI"}, "version": version}
        request = urllib.request.Request(  # noqa: S310 - fixed https URL
            url,
            data=json.dumps(body).encode("utf-8"),
            headers={"Content-Type": "application/json"},
        )
        want = ""
    try:
        answer = _fetch(request)
    except urllib.error.HTTPError as exc:
        return f"{service}: HTTP {exc.code} for {url}"
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"{service}: {url} unreachable ({reason})"
    except ValueError:
        return f"{service}: {url} did not answer JSON"
    if not isinstance(answer, dict) or (want and want not in answer):
        return f"{service}: {url} answered without vulnerability data"
    return None


def findings(report: Any) -> list[str]:
    """One line per known vulnerability in a pip-audit JSON report."""
    lines = []
    for dependency in (report or {}).get("dependencies", []):
        for vuln in dependency.get("vulns", []):
            fixed = ", ".join(vuln.get("fix_versions", [])) or "no fixed version yet"
            lines.append(
                f"{dependency.get('name')} {dependency.get('version')}: {vuln.get('id')} "
                f"(fixed in {fixed})"
            )
    return lines


def audit(lock: Path, service: str) -> tuple[bool, list[str]]:
    """Run pip-audit --strict on one lock file; (clean, lines to print)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        done = subprocess.run(  # noqa: S603  # nosec B603 - fixed argv, no shell
            [
                sys.executable,
                "-m",
                "pip_audit",
                "--strict",
                "--disable-pip",
                "--require-hashes",
                "--progress-spinner=off",
                "--vulnerability-service",
                service,
                "--requirement",
                str(lock),
                "--format",
                "json",
                "--output",
                str(out),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        report = json.loads(out.read_text(encoding="utf-8")) if out.exists() else None
    found = findings(report)
    if done.returncode == 0 and not found:
        count = len((report or {}).get("dependencies", []))
        return True, [f"{lock}: {count} packages, no known vulnerabilities ({service})"]
    if found:
        return False, [f"{lock}: known vulnerabilities:", *(f"  {line}" for line in found)]
    tail = [line for line in done.stderr.strip().splitlines() if line.strip()][-5:]
    return False, [f"{lock}: pip-audit failed (exit {done.returncode}):", *tail]


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    locks = [Path(arg) for arg in argv]
    missing = [str(lock) for lock in locks if not lock.is_file()]
    if missing:
        print(f"audit: no such lock file: {', '.join(missing)} (run make lock)", file=sys.stderr)
        return 2
    name, version = first_pin(locks[0])
    reasons = []
    for service in ("pypi", "osv"):
        reason = probe(service, name, version)
        if reason is None:
            break
        reasons.append(reason)
    else:
        print(
            "pip-audit: vulnerability database unreachable, dependencies NOT audited "
            f"({'; '.join(reasons)})"
        )
        return 0
    clean = True
    for lock in locks:
        ok, lines = audit(lock, service)
        clean = clean and ok
        print("\n".join(lines))
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
