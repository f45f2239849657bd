"""The identity provider misbehaving: 429s, a page failing mid-listing, an expired secret,
an unreachable or silent Graph; and the run's own resources missing (table, topic).

Entra is the model source here (the Graph emulator over TLS, msal and requests unmodified);
every source goes through the same read budget (``safeguards.read_within_budget``).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from connect_user_sync.sources.entra_token import clear_app_cache
from connect_user_sync_emulators.graph import GraphEmulator
from tests.faults.stand import (
    Stand,
    converged,
    every_action_accounted,
    no_duplicates,
    no_wrong_deprovision,
    run_recorded,
)

TENANT, CLIENT, SECRET = "tenant-faults", "client-faults", "faults~secret-value"


@pytest.fixture
def graph(stand: Stand, monkeypatch: pytest.MonkeyPatch) -> Iterator[GraphEmulator]:
    clear_app_cache()
    with GraphEmulator(TENANT, CLIENT, SECRET, page_size_cap=2) as emulator:
        for key, value in emulator.env().items():
            monkeypatch.setenv(key, value)
        stand.config["source"] = emulator.source_section()
        yield emulator
    clear_app_cache()


def _seed(graph: GraphEmulator, stand: Stand, count: int) -> list[str]:
    graph.add_group("g-agents", "Agents")
    graph.add_group("g-supervisors", "Supervisors")
    upns = []
    for i in range(count):
        upn = f"idp.n{i}@example.com"
        graph.add_user(f"idp-{i}", upn, mail=upn, given_name="Idp", surname=f"N{i}")
        graph.add_member("g-agents", f"idp-{i}")
        upns.append(upn)
    # The invariant checkers read the directory from the stand.
    stand.directory["users"] = [
        {"id": f"idp-{i}", "upn": upn, "groups": ["Agents"]} for i, upn in enumerate(upns)
    ]
    return upns


def test_idp_429s_slow_the_read_down_and_lose_nobody(stand: Stand, graph: GraphEmulator) -> None:
    """Invariants: the read is complete despite 429s with Retry-After, every member created
    once, the run recorded; throttling never fails a run."""
    _seed(graph, stand, 9)
    graph.throttle_next(4, retry_after=0.2)
    code, report, err = stand.cli("apply")
    assert code == 0, err
    assert report is not None and report["source"]["complete"] is True
    assert len(stand.users()) == 9
    every_action_accounted(report)
    run_recorded(stand, report)
    no_duplicates(stand)
    converged(stand)


@pytest.mark.slow
def test_a_page_failing_mid_listing_deprovisions_nobody(
    stand: Stand, graph: GraphEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN everybody synced, WHEN the third page of the group keeps failing (500), THEN the
    read is incomplete: the members after it look gone but nobody is deprovisioned, the run
    ends failed (exit 4) within its read budget, is recorded and alerted; once Graph
    recovers, the next run is complete and changes nothing."""
    _seed(graph, stand, 9)
    code, report, err = stand.cli("apply")
    assert code == 0, err
    monkeypatch.setenv("DIRECTORY_READ_SECONDS", "6")
    graph.fail_page("g-agents", 2, status=500)
    stand.alerts()
    began = time.monotonic()
    code, report, err = stand.cli("apply")
    assert time.monotonic() - began < 20, "the read budget bounds a failing page"
    assert report is not None, err
    assert code == 4 and report["status"] == "failed"
    assert report["source"]["complete"] is False
    assert all(
        a["status"] != "applied" or a["action"] not in ("disable", "delete")
        for a in stand.actions(report)
    )
    every_action_accounted(report)
    run_recorded(stand, report)
    no_wrong_deprovision(stand)
    assert stand.alerts(), "an incomplete read is a safety stop: somebody is told"
    graph.fail_page("g-agents", 2, status=500, times=0)
    converged(stand)


def test_an_expired_secret_fails_the_run_cleanly(stand: Stand, graph: GraphEmulator) -> None:
    """Invariants: no traceback, exit 4 with a message naming the expired secret, nobody
    deprovisioned, the run recorded as failed and alerted."""
    _seed(graph, stand, 3)
    code, report, err = stand.cli("apply")
    assert code == 0, err
    graph.expire_secret()
    clear_app_cache()
    stand.alerts()
    code, report, err = stand.cli("apply")
    assert "Traceback" not in err
    assert report is not None and code == 4 and report["status"] == "failed"
    assert any("7000222" in e or "expired" in e for e in report["errors"])
    run_recorded(stand, report)
    no_wrong_deprovision(stand)
    assert len(stand.users()) == 3
    assert stand.alerts()


class _Silent:
    """A TCP port that accepts connections and never answers (a black-holed endpoint)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["refused", "silent"])
def test_an_unreachable_graph_costs_the_read_budget_not_minutes(
    stand: Stand, graph: GraphEmulator, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """GIVEN Graph unreachable (connection refused, or a host that never answers) for a
    configuration of seven groups, WHEN a run starts with a read budget of 8 s, THEN it
    ends within the budget plus a little, failed (exit 4), recorded and alerted; nothing
    is deprovisioned."""
    silent = _Silent()
    port = silent.port
    if kind == "refused":
        silent.close()
    section: dict[str, Any] = stand.config["source"]["entra"]
    section["authority_host"] = f"127.0.0.1:{port}"
    section["graph_url"] = f"https://127.0.0.1:{port}"
    stand.config["groups"] = [
        {"name": f"Group {i}", "security_profiles": ["Agent"], "routing_profile": "Basic"}
        for i in range(7)
    ]
    monkeypatch.setenv("DIRECTORY_READ_SECONDS", "8")
    try:
        began = time.monotonic()
        code, report, err = stand.cli("apply")
        took = time.monotonic() - began
    finally:
        silent.close()
    assert took < 25, f"took {took:.0f} s"
    assert "Traceback" not in err
    assert report is not None and code == 4 and report["status"] == "failed"
    run_recorded(stand, report)
    assert stand.alerts()


def test_a_missing_results_table_stops_the_run_before_any_write(stand: Stand) -> None:
    """Invariants: exit 2 with the table named, no Connect write, no traceback: without its
    table a run has neither history nor lease, so it does nothing."""
    stand.add_people(*[{"id": "t1", "upn": "t.one@example.com", "groups": ["Agents"]}])
    stand.config["results"] = {"table": "no-such-table"}
    code, report, err = stand.cli("apply")
    assert code == 2 and report is None
    assert "no-such-table" in err and "does not exist" in err and "Traceback" not in err
    assert stand.users() == {}


def test_a_missing_topic_is_an_error_even_on_a_quiet_night(stand: Stand) -> None:
    """GIVEN nothing to alert about, WHEN the alerts topic does not exist, THEN the run still
    syncs (creates go ahead) but ends partial (exit 1) with the topic named in its errors,
    and is recorded; invariants: no duplicate, every action applied."""
    stand.add_people(*[{"id": "q1", "upn": "quiet.night@example.com", "groups": ["Agents"]}])
    stand.config["alerts"] = {"topic_arn": stand.topic_arn + "-gone"}
    code, report, err = stand.cli("apply")
    assert report is not None, err
    assert code == 1 and report["status"] == "partial"
    assert any("-gone does not exist" in e for e in report["errors"])
    assert [a["status"] for a in stand.actions(report)] == ["applied"]
    run_recorded(stand, report)
    no_duplicates(stand)
