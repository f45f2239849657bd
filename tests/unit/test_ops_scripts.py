"""The scripts behind `make audit`, `make scan` and `make build` decide what they should.

- audit: an unreachable vulnerability database is one line and exit 0, never a silent
  pass nor a failed build; a finding is listed with its fix.
- transformed template: conditions resolve to the configured case without losing a
  statement's own IAM conditions, and NoValue entries disappear.
- build report: the layer check names CLI, test and emulator code that must not ship.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"ops_{name}", SCRIPTS / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class _NotFound(BaseHTTPRequestHandler):
    """A registry mirror without the per-version JSON API: 404 for everything."""

    def do_GET(self) -> None:
        self.send_response(404)
        self.end_headers()

    do_POST = do_GET

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def mirror() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_audit_says_in_one_line_that_nothing_was_audited_when_no_database_answers(
    mirror: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    audit = load("audit")
    monkeypatch.setattr(audit, "PYPI_URL", mirror + "/pypi/{name}/{version}/json")
    monkeypatch.setattr(audit, "OSV_URL", "http://127.0.0.1:9/v1/query")  # nothing listens
    lock = tmp_path / "requirements.lock"
    lock.write_text("pyyaml==6.0.2 \\\n    --hash=sha256:00\n", encoding="utf-8")

    code = audit.main([str(lock)])

    lines = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    assert len(lines) == 1 and "NOT audited" in lines[0]
    assert "HTTP 404" in lines[0] and "pyyaml/6.0.2" in lines[0] and "osv" in lines[0]


def test_audit_lists_each_vulnerability_with_its_fixed_version() -> None:
    audit = load("audit")
    report = {
        "dependencies": [
            {"name": "requests", "version": "2.20.0", "vulns": [
                {"id": "PYSEC-2023-74", "fix_versions": ["2.31.0"], "aliases": []}]},
            {"name": "pyyaml", "version": "6.0.2", "vulns": []},
            {"name": "private-pkg", "skip_reason": "not on PyPI"},
        ]
    }  # fmt: skip

    assert audit.findings(report) == ["requests 2.20.0: PYSEC-2023-74 (fixed in 2.31.0)"]
    assert audit.findings({"dependencies": []}) == []


def test_audit_refuses_a_missing_lock_file(tmp_path: Path) -> None:
    assert load("audit").main([str(tmp_path / "nope.lock")]) == 2


def test_conditions_resolve_to_the_configured_case_and_keep_statement_conditions() -> None:
    transformed = load("transformed_template")
    statements = [
        {"Fn::If": ["HasSecret", {"Sid": "ReadSecret", "Action": "secretsmanager:Get"},
                    {"Ref": "AWS::NoValue"}]},
        {"Sid": "Tag", "Condition": {"ForAllValues:StringLike": {"aws:TagKeys": "x:*"}}},
        {"Ref": "AWS::NoValue"},
    ]  # fmt: skip

    resolved = transformed.take_first_branch({"Statement": statements})

    assert resolved == {
        "Statement": [
            {"Sid": "ReadSecret", "Action": "secretsmanager:Get"},
            {"Sid": "Tag", "Condition": {"ForAllValues:StringLike": {"aws:TagKeys": "x:*"}}},
        ]
    }


def test_the_layer_check_names_cli_test_and_emulator_code(tmp_path: Path) -> None:
    report = load("build_report")
    package = tmp_path / "connect_user_sync"
    (package / "cli").mkdir(parents=True)
    (package / "service.py").write_text("import boto3\n", encoding="utf-8")
    (package / "render.py").write_text(
        "def f():\n    from rich.table import Table\n", encoding="utf-8"
    )
    (tmp_path / "trustme").mkdir()

    problems = report.forbidden_content(tmp_path)

    assert problems == [
        "trustme/ is in the layer",
        "connect_user_sync/cli is in the layer",
        "connect_user_sync/render.py imports rich",
    ]
    (package / "render.py").unlink()
    (package / "cli").rmdir()
    (tmp_path / "trustme").rmdir()
    assert report.forbidden_content(tmp_path) == []
