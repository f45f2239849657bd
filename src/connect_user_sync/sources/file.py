"""The ``file`` source: a JSON or CSV export of the directory, on disk or in S3.

Useful on its own (an HR export dropped in a bucket) and as the embedded default for
local runs and the demo. A file that cannot be parsed, or a row without an ``id``,
makes the read incomplete: deprovisioning waits until the file is whole again.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from connect_user_sync.config.model import USERNAME_ATTRIBUTES, FileSourceConfig
from connect_user_sync.domain.models import DirectorySnapshot, DirectoryUser, GroupRead, GroupRule
from connect_user_sync.errors import ConfigError, DirectoryReadError

USER_FIELDS = (
    "id",
    "upn",
    "email",
    "login",
    "username",
    "first_name",
    "last_name",
    "enabled",
    "groups",
)
ATTRIBUTE_FIELDS = USERNAME_ATTRIBUTES["file"]
_FALSE = {"false", "0", "no", "n", "off", "disabled"}


class FileSource:
    type = "file"

    def __init__(self, config: FileSourceConfig | str, *, s3_client: Any = None) -> None:
        self.config = FileSourceConfig(config) if isinstance(config, str) else config
        self.path = self.config.path
        self.s3_client = s3_client

    def _read_text(self) -> str:
        if self.path.startswith("s3://"):
            bucket, _, key = self.path[5:].partition("/")
            if not bucket or not key:
                raise ConfigError(
                    "source.file.path", f"{self.path!r} has no object key", "use s3://BUCKET/KEY"
                )
            client = self.s3_client
            if client is None:
                import boto3

                client = boto3.client("s3")
            try:
                body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
            except Exception as exc:  # any S3 failure means we do not know the directory
                raise DirectoryReadError(f"cannot read {self.path}: {exc}") from exc
            return str(body.decode("utf-8-sig"))
        try:
            return Path(self.path).read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise DirectoryReadError(
                f"cannot read directory file {self.path}: {exc.strerror or exc}"
            ) from exc

    def read(self, groups: Sequence[GroupRule]) -> DirectorySnapshot:
        text = self._read_text()
        errors: list[str] = []
        rows: list[Any]
        group_rows: list[Any]
        if self.path.lower().endswith(".csv"):
            rows, group_rows = _csv_rows(text), []
        else:
            try:
                document = json.loads(text)
            except ValueError as exc:
                raise DirectoryReadError(f"{self.path} is not valid JSON: {exc}") from exc
            if not isinstance(document, Mapping) or not isinstance(document.get("users"), list):
                raise DirectoryReadError(f"{self.path} must be a JSON object with a 'users' list")
            rows, group_rows = document["users"], document.get("groups") or []
        names_by_id = {
            str(g.get("id")): str(g.get("name")) for g in group_rows if isinstance(g, Mapping)
        }
        known_names = set(names_by_id.values())

        users: list[DirectoryUser] = []
        seen: set[str] = set()
        for number, row in enumerate(rows, start=1):
            user = _user(row, number, groups, names_by_id, errors)
            if user is None:
                continue
            if user.source_id in seen:
                errors.append(f"row {number}: id {user.source_id!r} appears twice")
                continue
            seen.add(user.source_id)
            known_names.update(str(g) for g in row.get("groups") or ())
            if user.groups:
                users.append(user)

        reads = []
        for rule in groups:
            count = sum(1 for u in users if rule.label in u.groups)
            exists = (
                (rule.key in names_by_id) if rule.by_id else (rule.key in known_names or count > 0)
            )
            if not exists:
                raise ConfigError(
                    "groups",
                    f"group {rule.label!r} does not exist in {self.path}",
                    "use a group name (or id:) that the directory file lists",
                )
            reads.append(GroupRead(rule.label, _id_of(rule, names_by_id), count))
        return DirectorySnapshot(
            tuple(users), tuple(reads), complete=not errors, errors=tuple(errors)
        )


def _id_of(rule: GroupRule, names_by_id: Mapping[str, str]) -> str | None:
    if rule.by_id:
        return rule.key
    return next((gid for gid, name in names_by_id.items() if name == rule.key), None)


def _csv_rows(text: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for raw in csv.DictReader(io.StringIO(text)):
        row: dict[str, Any] = {
            k.strip(): (v.strip() if isinstance(v, str) else v) for k, v in raw.items() if k
        }
        row["groups"] = [g.strip() for g in (row.get("groups") or "").split("|") if g.strip()]
        if row.get("enabled") in ("", None):
            row.pop("enabled", None)
        rows.append(row)
    return rows


def _user(
    row: Any,
    number: int,
    rules: Sequence[GroupRule],
    names_by_id: Mapping[str, str],
    errors: list[str],
) -> DirectoryUser | None:
    if not isinstance(row, Mapping):
        errors.append(f"row {number}: expected an object, got {type(row).__name__}")
        return None
    unknown = sorted(set(row) - set(USER_FIELDS))
    if unknown:
        errors.append(f"row {number}: unknown field(s) {', '.join(unknown)}")
    source_id = str(row.get("id") or "").strip()
    if not source_id:
        errors.append(f"row {number}: no 'id'; every user needs an immutable id")
        return None
    raw_groups = row.get("groups") or []
    if not isinstance(raw_groups, list):
        errors.append(f"row {number}: 'groups' must be a list of group names")
        return None
    member_of = [str(g) for g in raw_groups]
    labels = tuple(rule.label for rule in rules if _member(rule, member_of, names_by_id))
    enabled = row.get("enabled", True)
    if isinstance(enabled, str):
        enabled = enabled.strip().lower() not in _FALSE
    return DirectoryUser(
        source_id=source_id,
        attributes={
            name: (str(row[name]) if row.get(name) not in (None, "") else None)
            for name in ATTRIBUTE_FIELDS
        },
        first_name=row.get("first_name") or None,
        last_name=row.get("last_name") or None,
        email=row.get("email") or None,
        enabled=bool(enabled),
        groups=labels,
    )


def _member(rule: GroupRule, member_of: list[str], names_by_id: Mapping[str, str]) -> bool:
    if rule.by_id:
        return rule.key in member_of or names_by_id.get(rule.key) in member_of
    return rule.key in member_of
