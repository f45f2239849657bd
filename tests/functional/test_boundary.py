"""One boundary for the unexpected, in the CLI and in the Lambda function.

GIVEN an error nobody anticipated (a broken AWS configuration file, a source or an apply
that raises), WHEN it happens before or during a run, THEN the person sees one readable
message (the traceback only with ``--debug``), the exit code is one of the contract's, and a
run that had started ends with a report of status ``failed`` that is recorded and alerted.
Also: a busy target and an interrupted run, seen from the Lambda function.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools import Logger, Metrics, Tracer

from connect_user_sync.alerts import SnsAlerter
from connect_user_sync.audit import DynamoRunJournal, run_so_far
from connect_user_sync.cli import main
from connect_user_sync.config import load_config
from connect_user_sync.connect import ConnectInstance, RateLimiter, connect_client
from connect_user_sync.domain.models import DirectorySnapshot, GroupRule, SyncAction
from connect_user_sync.invocation import handle
from connect_user_sync.lease import DynamoLeases, lease_key
from connect_user_sync.service import RunRequest, run_sync
from connect_user_sync.store import DynamoRunStore
from tests.conftest import person
from tests.faults.stand import Stand, no_duplicates, stand
from tests.functional import test_handler
from tests.functional.test_handler import Stack

# The fixtures this module shares: the fault suite's stand, the handler tests' stack.
app, stack, _stand = test_handler.app, test_handler.stack, stand


def _broken_aws_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "aws-config"
    bad.write_text("[default\nregion = us-east-1\n", encoding="utf-8")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(bad))
    # As in a fresh process: boto3's default session reads the file again.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)


# --------------------------------------------------------------------------- the CLI


def test_an_unexpected_error_is_one_message_and_a_contract_exit_code(
    stand: Stand, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stand.add_people(person("b1", "broken.config@example.com"))
    _broken_aws_config(tmp_path, monkeypatch)
    code, report, err = stand.cli("apply")
    assert code == 4 and report is None
    assert "unexpected error: ConfigParseError" in err and "--debug" in err
    assert "Traceback" not in err
    assert stand.users() == {}

    path = stand.write()
    stand.capsys.readouterr()
    assert main(["--debug", "apply", "--config", str(path)]) == 4
    _, err = stand.capsys.readouterr()
    assert "Traceback (most recent call last)" in err and "ConfigParseError" in err
    assert main(["apply", "--config", str(path), "--debug"]) == 4, "after the verb too"


class _CrashingSource:
    """A directory source with a bug: it raises something no adapter translates."""

    type = "file"

    def read(self, groups: Sequence[GroupRule]) -> DirectorySnapshot:
        raise RuntimeError("a bug in a source")


def test_a_run_that_crashes_ends_failed_recorded_and_alerted(stand: Stand) -> None:
    stand.add_people(person("c1", "crash.one@example.com"))
    config = load_config(stand.write())
    stand.alerts()
    outcome = run_sync(
        config,
        RunRequest(),
        store=stand.store,
        alerter=SnsAlerter(stand.topic_arn, client=stand.sns),
        source=_CrashingSource(),
    )
    report = outcome.report
    assert outcome.exit_code == 4 and report.status.value == "failed" and report.aborted
    assert any("RuntimeError: a bug in a source" in e for e in report["errors"])
    assert stand.run_item(report.run_id)["status"] == "failed"
    (alert,) = stand.alerts()
    assert "unexpected error" in alert["body"] and report.run_id in alert["body"]
    assert stand.users() == {}


def test_a_crash_mid_apply_keeps_what_was_applied_on_record(stand: Stand) -> None:
    """The apply raises after two users: those two are reported applied and recorded, the
    run ends partial with the error, and the next run finishes the job without a duplicate."""
    stand.add_people(*(person(f"m{i}", f"mid.n{i}@example.com") for i in range(6)))
    config = load_config(stand.write())

    class CrashingInstance(ConnectInstance):
        def apply(
            self,
            actions: Sequence[SyncAction],
            *,
            on_done: Callable[[SyncAction], None] | None = None,
            **options: Any,
        ) -> None:
            done = 0

            def counting(action: SyncAction) -> None:
                nonlocal done
                if on_done:
                    on_done(action)
                done += 1
                if done == 2:
                    raise RuntimeError("the process is going down")

            self.workers = 1
            super().apply(actions, on_done=counting, **options)

    def factory(target: Any, limiter: RateLimiter) -> ConnectInstance:
        return CrashingInstance(connect_client(target.region), target.instance_id, limiter=limiter)

    outcome = run_sync(config, RunRequest(), store=stand.store, connect=factory)
    report = outcome.report
    # The target's apply stopped: what it did not start is left for the next run.
    assert report.status.value == "partial" and outcome.exit_code == 1
    assert any("RuntimeError: the process is going down" in e for e in report["errors"])
    applied = [a for t in report.targets for a in t.actions if a.applied]
    assert len(applied) >= 2
    recorded = [i for i in stand.run_items(report.run_id) if i["SK"].startswith("ACTION#")]
    assert {i["username"] for i in recorded if i["status"] == "applied"} == {
        a.username for a in applied
    }
    code, rerun, err = stand.cli("apply")
    assert code == 0, err
    assert rerun is not None and len(stand.users()) == 6
    no_duplicates(stand)


# --------------------------------------------------------------------------- the Lambda


def test_lambda_an_error_around_the_run_is_a_readable_result(
    stack: Stack,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stack.directory["users"] = [person("u1", "jane.doe@example.com")]
    stack.write()
    config_file = tmp_path / "packaged.json"
    config_file.write_text(json.dumps(stack.config), encoding="utf-8")
    monkeypatch.delenv("CONFIG_PARAMETER")
    monkeypatch.setenv("CONFIG_FILE", str(config_file))
    _broken_aws_config(tmp_path, monkeypatch)
    metrics = Metrics(namespace="ConnectUserSync", service="test")
    result = handle(
        {},
        None,
        logger=Logger(service="test"),
        metrics=metrics,
        tracer=Tracer(disabled=True),
        base_dir=tmp_path,
    )
    assert result["exit_code"] == 4
    assert result["error"]["type"] == "internal"
    assert "ConfigParseError" in result["error"]["message"]
    assert stack.users() == {}


def test_lambda_a_busy_target_is_reported_busy_without_an_error_alarm(
    stack: Stack,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stack.directory["users"] = [person("u1", "jane.doe@example.com")]
    monkeypatch.setenv("LEASE_WAIT_SECONDS", "0")
    other = DynamoLeases(stack.ddb, stack.table, wait=0)
    assert other.acquire(lease_key("us-east-1", stack.iid), "a-cli-run") is None
    report = stack.invoke_sample("scheduled.json")
    assert report["status"] == "busy" and report["targets"][0]["busy"] is True
    assert "a-cli-run" in report["errors"][0]
    metrics = stack.metrics()
    assert metrics["RunsBusy"] == 1 and metrics["SafetyStop"] == 0
    assert stack.users() == {} and stack.messages() == []
    assert stack.store.run(report["run_id"])["status"] == "busy"  # type: ignore[index]


def test_lambda_a_killed_run_is_found_and_alerted_by_the_next(stack: Stack) -> None:
    stack.directory["users"] = [person("u1", "jane.doe@example.com")]
    store = DynamoRunStore(stack.table, client=stack.ddb, clock=lambda: 1_000_000.0)
    DynamoRunJournal(store, heartbeat_seconds=60, clock=lambda: 1_000_000.0).begin(
        run_so_far(
            "19700112T134640Z-killed",
            started="1970-01-12T13:46:40Z",
            dry_run=False,
            trigger="schedule",
            users=(),
            source="file",
        )
    )
    report = stack.invoke_sample("scheduled.json")
    assert report["status"] == "succeeded"
    assert report["interrupted_runs"] == ["19700112T134640Z-killed"]
    assert stack.metrics()["RunsInterrupted"] == 1
    (message,) = stack.messages()
    assert "19700112T134640Z-killed" in message["Message"]
    assert stack.store.run("19700112T134640Z-killed")["status"] == "interrupted"  # type: ignore[index]


def test_a_ten_megabyte_upn_and_a_long_username_make_a_small_report_that_is_recorded(
    stand: Stand,
) -> None:
    """A 10 MB UPN was reported in full (21 MB of stdout); a 3,000-character username in a
    DynamoDB key failed the whole recording. Now both are capped, keys are digests, and the
    run is recorded like any other."""
    stand.add_people(
        person("huge", "ok.one@example.com"),
        person("long", "ok.two@example.com"),
        person("fine", "fine.three@example.com"),
    )
    stand.directory["users"][0]["upn"] = "h" * 10_000_000 + "@example.com"
    stand.directory["users"][1]["upn"] = "l" * 3_000 + "@example.com"
    path = stand.write()
    stand.capsys.readouterr()
    code = main(["apply", "--config", str(path), "--format", "json"])
    out, err = stand.capsys.readouterr()
    assert code == 0, err
    assert len(out) < 20_000 and len(err) < 20_000
    report = json.loads(out)
    assert {m["kind"] for m in report["mismatches"]} == {"invalid_username"}
    assert all(len(m["username"]) <= 1000 for m in report["mismatches"])
    assert stand.run_item(report["run_id"])["status"] == "succeeded"
    assert set(stand.users()) == {"fine.three@example.com"}
