"""What one workflow run keeps between its steps: objects in S3, gzip-compressed JSON.

Step Functions passes at most 256 KB from state to state, and a directory snapshot of
50,000 users is megabytes. So the read step writes the snapshot here and passes its key;
every apply pass writes its target report here; the finish step reads them all back.
S3 rather than DynamoDB: one object holds a snapshot of any size (a DynamoDB item stops at
400 KB, so a snapshot would have to be split over many items and put back together), a
lifecycle rule deletes a run's objects after a few days, and the cost is a few requests
per pass.

Objects live under ``runs/<run_id>/``. The codecs here turn the domain's values into JSON
documents and back; the round trip keeps every field a report or a plan needs.
"""

from __future__ import annotations

import contextlib
import gzip
import json
from collections.abc import Mapping, Sequence
from typing import Any

from connect_user_sync.domain.models import (
    ActionKind,
    ActionStatus,
    Change,
    DirectorySnapshot,
    DirectoryUser,
    GroupRead,
)
from connect_user_sync.domain.ownership_report import OwnershipNotes
from connect_user_sync.domain.report import ActionOutcome, MismatchRecord, TargetReport
from connect_user_sync.phases import DirectoryRead, TargetOutcome

RUNS_PREFIX = "runs/"

# A warm apply function reads the run's snapshot from S3 once, not on every pass.
_directory_cache: dict[str, DirectoryRead] = {}


class RunArtifacts:
    """A run's objects in one S3 bucket, under ``runs/``.

    The client follows the standard AWS configuration (``AWS_ENDPOINT_URL_S3``); S3
    errors are not caught here: a step that cannot keep its result fails, and the state
    machine retries it or reports the target as failed.
    """

    def __init__(self, bucket: str, *, prefix: str = RUNS_PREFIX, client: Any = None) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("s3")
        return self._client

    def put(self, key: str, document: Mapping[str, Any]) -> str:
        """Store ``document`` under ``key``; returns the key."""
        body = gzip.compress(json.dumps(document, separators=(",", ":")).encode("utf-8"))
        self.client.put_object(
            Bucket=self.bucket,
            Key=self.prefix + key,
            Body=body,
            ContentType="application/json",
            ContentEncoding="gzip",
        )
        return key

    def get(self, key: str) -> dict[str, Any]:
        body = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"].read()
        document: dict[str, Any] = json.loads(gzip.decompress(body).decode("utf-8"))
        return document


def directory_key(run_id: str) -> str:
    return f"{run_id}/directory.json.gz"


def pass_key(run_id: str, target: int, iteration: int) -> str:
    """Where apply pass ``iteration`` (from 0) of target ``target`` keeps its result."""
    return f"{run_id}/targets/{target:03d}/{iteration:03d}.json.gz"


def report_key(run_id: str) -> str:
    return f"{run_id}/report.json.gz"


# --------------------------------------------------------------------------- codecs


def snapshot_to_json(snapshot: DirectorySnapshot) -> dict[str, Any]:
    return {
        "users": [
            [
                u.source_id,
                dict(u.attributes),
                u.first_name,
                u.last_name,
                u.email,
                u.enabled,
                list(u.groups),
            ]
            for u in snapshot.users
        ],
        "groups": [[g.name, g.group_id, g.member_count, g.complete] for g in snapshot.groups],
        "complete": snapshot.complete,
        "errors": list(snapshot.errors),
    }


def snapshot_from_json(document: Mapping[str, Any]) -> DirectorySnapshot:
    return DirectorySnapshot(
        users=tuple(
            DirectoryUser(
                source_id,
                attributes,
                first_name,
                last_name,
                email,
                bool(enabled),
                tuple(groups),
            )
            for source_id, attributes, first_name, last_name, email, enabled, groups in document[
                "users"
            ]
        ),
        groups=tuple(
            GroupRead(name, group_id, int(count), bool(complete))
            for name, group_id, count, complete in document["groups"]
        ),
        complete=bool(document["complete"]),
        errors=tuple(document.get("errors") or ()),
    )


def target_report_to_json(report: TargetReport) -> dict[str, Any]:
    document = report.to_json()
    # to_json leaves out what is empty; the round trip wants every field said.
    document["held_because"] = list(report.held_because)
    document["error"] = report.error
    document["unchanged"] = report.unchanged
    return document


def target_report_from_json(document: Mapping[str, Any]) -> TargetReport:
    return TargetReport(
        instance_id=str(document["instance_id"]),
        region=str(document["region"]),
        actions=tuple(_action_from_json(a) for a in document.get("actions") or ()),
        unchanged=int(document.get("unchanged", document.get("counts", {}).get("unchanged", 0))),
        managed_users=int(document.get("managed_users") or 0),
        held_because=tuple(document.get("held_because") or ()),
        error=document.get("error") or None,
        ownership=OwnershipNotes.from_json(document),
        busy=bool(document.get("busy")),
    )


def _action_from_json(item: Mapping[str, Any]) -> ActionOutcome:
    return ActionOutcome(
        ActionKind(item["action"]),
        str(item["username"]),
        item.get("source_id"),
        item.get("user_id"),
        ActionStatus(item["status"]),
        item.get("error"),
        {
            name: Change(change.get("from"), change.get("to"))
            for name, change in (item.get("changes") or {}).items()
        },
    )


def mismatches_to_json(records: tuple[MismatchRecord, ...]) -> list[dict[str, Any]]:
    return [m.to_json() for m in records]


def mismatches_from_json(items: Any) -> tuple[MismatchRecord, ...]:
    return tuple(MismatchRecord.from_json(m) for m in items or ())


# --------------------------------------------------------------------------- run documents


def directory_to_json(directory: DirectoryRead) -> dict[str, Any]:
    return {
        "snapshot": snapshot_to_json(directory.snapshot) if directory.snapshot else None,
        "read_errors": list(directory.read_errors),
        "history_errors": list(directory.history_errors),
        "emptied": list(directory.emptied),
        "doubts": list(directory.doubts),
    }


def directory_from_json(document: Mapping[str, Any]) -> DirectoryRead:
    snapshot = document.get("snapshot")
    return DirectoryRead(
        snapshot_from_json(snapshot) if snapshot is not None else None,
        tuple(document.get("read_errors") or ()),
        tuple(document.get("history_errors") or ()),
        tuple(document.get("emptied") or ()),
        tuple(document.get("doubts") or ()),
    )


def outcome_to_json(outcome: TargetOutcome) -> dict[str, Any]:
    return {
        "report": target_report_to_json(outcome.report),
        "mismatches": mismatches_to_json(outcome.mismatches),
        "users_not_found": list(outcome.users_not_found),
        "work_left": outcome.work_left,
    }


def load_directory(artifacts: RunArtifacts, key: str) -> DirectoryRead:
    """The run's directory read, from S3 once per warm function (the last key is kept)."""
    cached = _directory_cache.get(key)
    if cached is None:
        cached = directory_from_json(artifacts.get(key))
        _directory_cache.clear()
        _directory_cache[key] = cached
    return cached


def pass_results(state: Mapping[str, Any]) -> dict[int, Mapping[str, Any]]:
    """The Map's results (a list per scope of one result per target), by target index."""
    results: dict[int, Mapping[str, Any]] = {}
    for scope in state.get("applied") or ():
        for item in scope if isinstance(scope, Sequence) else (scope,):
            if isinstance(item, Mapping) and "target" in item:
                results[int(item["target"])] = item
    return results


def failure_message(failure: Mapping[str, Any]) -> str:
    error = str(failure.get("error") or failure.get("Error") or "error")
    cause = failure.get("cause") or failure.get("Cause") or ""
    with contextlib.suppress(ValueError, AttributeError):  # Lambda's cause: JSON, errorMessage
        cause = json.loads(cause).get("errorMessage", cause) if cause else ""
    return f"{error}: {str(cause)[:500]}" if cause else error


__all__ = [
    "RUNS_PREFIX",
    "RunArtifacts",
    "directory_from_json",
    "directory_key",
    "directory_to_json",
    "failure_message",
    "load_directory",
    "mismatches_from_json",
    "mismatches_to_json",
    "outcome_to_json",
    "pass_key",
    "pass_results",
    "report_key",
    "snapshot_from_json",
    "snapshot_to_json",
    "target_report_from_json",
    "target_report_to_json",
]
