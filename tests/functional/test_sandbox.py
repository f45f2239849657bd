"""The sandbox: an admin's own export through plan, apply, runs and history, no AWS account.

GIVEN `python -m connect_user_sync_emulators.sandbox` running as its own process,
WHEN the printed environment is exported and the real console script runs against it
with an HR export, THEN Connect converges, the runs are recorded in the results table,
and Ctrl-C stops the sandbox cleanly.
"""

from __future__ import annotations

import json
import os
import queue
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from connect_user_sync_emulators.sandbox import READY

CLI = Path(sys.executable).with_name("connect-user-sync")
EXPORT = (
    "Employee ID;Work Email;First Name;Last Name;Status;Teams;Cost Center\n"
    "E1;jane.doe@example.com;Jane;Doe;Active;CC-Supervisors|CC-Agents;4100\n"
    "E2;omar.haddad@example.com;Omar;Haddad;On Leave;CC-Agents;4100\n"
    "E3;li.wei@example.com;Li;Wei;Terminated;CC-Agents;4200\n"
    "E4;sofia.rossi@example.com;Sofia;Rossi;Active;CC-Agents;4200\n"
)
MAPPING = """\
    path: export.csv
    columns: {id: Employee ID, upn: Work Email, email: Work Email, first_name: First Name,
              last_name: Last Name, enabled: Status, groups: Teams}
    active_values: [Active, On Leave]
"""


class Sandbox:
    def __init__(self, directory: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "connect_user_sync_emulators.sandbox", "--dir", str(directory)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def read_until(self, marker: str, timeout: float = 60) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            self.output.append(line)
            if marker in line:
                return self.output
        raise AssertionError(f"no {marker!r} from the sandbox; it printed:\n{''.join(self.output)}")

    def environment(self) -> dict[str, str]:
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CONNECT_USER_SYNC"))
        }
        for line in self.output:
            if line.startswith("export "):
                key, _, value = line[len("export ") :].strip().partition("=")
                env[key] = shlex.split(value)[0]
        return env

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def sandbox(tmp_path: Path) -> Any:
    running = Sandbox(tmp_path)
    try:
        running.read_until(READY)
        yield running
    finally:
        running.stop()


def _cli(env: dict[str, str], *args: str) -> tuple[int, Any, str]:
    done = subprocess.run(
        [str(CLI), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    out = done.stdout.strip()
    return done.returncode, (json.loads(out) if out.startswith(("{", "[")) else out), done.stderr


def test_the_sandbox_runs_an_export_through_plan_apply_runs_and_history(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    config = tmp_path / "sync.yaml"
    assert config.is_file() and (tmp_path / "sandbox.env").is_file()
    env = sandbox.environment()
    assert set(env) >= {"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_CONNECT", "AWS_DEFAULT_REGION"}

    # The ready-made configuration plans the sample export as it is.
    code, report, err = _cli(env, "plan", "--config", str(config), "--format", "json")
    assert code == 0 and report["status"] == "planned", err
    assert report["targets"][0]["counts"]["create"] == 5  # six people, one Terminated

    # An admin's own export: semicolons, its own headers, an extra column.
    (tmp_path / "export.csv").write_text(EXPORT, encoding="utf-8")
    text = config.read_text(encoding="utf-8")
    assert "    path: export.csv\n" in text
    config.write_text(text.replace("    path: export.csv\n", MAPPING), encoding="utf-8")

    code, report, err = _cli(env, "plan", "--config", str(config), "--format", "json")
    assert code == 0, err
    assert {a["username"]: a["action"] for a in report["targets"][0]["actions"]} == {
        "jane.doe@example.com": "create",
        "omar.haddad@example.com": "create",
        "sofia.rossi@example.com": "create",
    }
    # The unmapped column is named once on stderr, and no traceback ever shows.
    assert [line for line in err.splitlines() if "ignoring" in line] == [
        "export.csv: ignoring 1 column(s) that map to no user field: 'Cost Center'. Map one "
        "in source.file.columns if it holds a field this tool needs."
    ]

    code, report, err = _cli(env, "apply", "--config", str(config), "--format", "json")
    assert code == 0 and report["status"] == "succeeded", err
    code, report, err = _cli(env, "apply", "--config", str(config), "--format", "json")
    assert code == 0 and report["targets"][0]["actions"] == [], err

    code, runs, err = _cli(env, "runs", "--config", str(config), "--format", "json")
    assert code == 0, err
    assert report["run_id"] in json.dumps(runs)
    code, history, err = _cli(
        env, "history", "jane.doe@example.com", "--config", str(config), "--format", "json"
    )
    assert code == 0, err
    assert "create" in json.dumps(history)
    assert "Traceback" not in err


def test_ctrl_c_while_the_sandbox_starts_or_prints_stops_it_cleanly(tmp_path: Path) -> None:
    # The handlers are in place before the first line is printed: a Ctrl-C that lands
    # while the banner is still being written only asks the sandbox to stop.
    running = Sandbox(tmp_path)
    try:
        running.read_until("connect-user-sync sandbox:")
        running.process.send_signal(signal.SIGINT)
        running.read_until("Sandbox stopped", timeout=20)
        assert running.process.wait(timeout=20) == 0
        assert "Traceback" not in "".join(running.output)
    finally:
        running.stop()


def test_a_stop_requested_before_the_sandbox_is_ready_is_honoured(tmp_path: Path) -> None:
    import io

    from connect_user_sync_emulators.sandbox import run_sandbox

    stop = threading.Event()
    stop.set()  # as if Ctrl-C came while the servers were starting
    out = io.StringIO()
    assert run_sandbox(tmp_path, out=out, stop=stop) == 0
    lines = out.getvalue().splitlines()
    assert lines[-2:] == [
        "Stopping the sandbox...",
        "Sandbox stopped. Its state lived in memory and is gone; the files stay.",
    ]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers restored


def test_ctrl_c_stops_the_sandbox_cleanly(tmp_path: Path) -> None:
    running = Sandbox(tmp_path)
    try:
        running.read_until(READY)
        running.process.send_signal(signal.SIGINT)
        running.read_until("Sandbox stopped", timeout=20)
        assert running.process.wait(timeout=20) == 0
        assert "Traceback" not in "".join(running.output)
        # A second start keeps the configuration an admin may have edited.
        config = tmp_path / "sync.yaml"
        config.write_text(config.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
        again = Sandbox(tmp_path)
        try:
            again.read_until(READY)
            assert config.read_text(encoding="utf-8").endswith("# edited\n")
            assert any("kept from an earlier start" in line for line in again.output)
            again.process.send_signal(signal.SIGTERM)
            assert again.process.wait(timeout=20) == 0
        finally:
            again.stop()
    finally:
        running.stop()
