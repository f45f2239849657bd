"""The ``file`` source: a JSON or CSV export of the directory, on disk or in S3.

Useful on its own (an HR export dropped in a bucket) and as the embedded default for
local runs and the demo. ``file_formats`` turns the bytes into rows; this module decides
what each row means. The rules fail closed:

- a file that cannot be decoded, is empty or holds no users is a failed read
  (``DirectoryReadError``: exit 4, nothing changed);
- a row that cannot be understood (no ``id``, a repeated ``id``, a field of the wrong
  type, an ``enabled`` value that is not a known word) makes the read incomplete, so
  deprovisioning waits; that user is left out of the snapshot, so they get no new
  access in this run either, and an existing Connect user of theirs keeps what they have.
"""

from __future__ import annotations

import difflib
import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from connect_user_sync.config.model import USERNAME_ATTRIBUTES, FileSourceConfig
from connect_user_sync.domain.lookup import only_named
from connect_user_sync.domain.models import DirectorySnapshot, DirectoryUser, GroupRead, GroupRule
from connect_user_sync.domain.names import closest
from connect_user_sync.errors import ConfigError, DirectoryReadError
from connect_user_sync.sources.file_formats import (
    Row,
    Table,
    csv_table,
    decode,
    json_table,
    looks_like_json,
)

log = logging.getLogger(__name__)

ATTRIBUTE_FIELDS = USERNAME_ATTRIBUTES["file"]
TEXT_FIELDS = ("upn", "email", "login", "username", "first_name", "last_name")
# CONTRACT.md §2: without ``active_values``, only these words decide ``enabled``.
ENABLED_WORDS = frozenset({"true", "yes", "1", "active", "enabled"})
DISABLED_WORDS = frozenset({"false", "no", "0", "inactive", "disabled", "terminated", "suspended"})


class FileSource:
    type = "file"

    def __init__(self, config: FileSourceConfig | str, *, s3_client: Any = None) -> None:
        self.config = FileSourceConfig(config) if isinstance(config, str) else config
        self.path = self.config.path
        self.s3_client = s3_client
        tail = self.path.rsplit("/", 1)[-1] if "://" in self.path else Path(self.path).name
        self.name = tail or self.path  # short form for per-row messages
        self._whole: DirectorySnapshot | None = None  # read once per run by read_users

    # ----------------------------------------------------------------- reading

    def read_users(self, names: Sequence[str], groups: Sequence[GroupRule]) -> DirectorySnapshot:
        """The on-demand path: the export is read once per run, then filtered by ``names``."""
        if self._whole is None:
            self._whole = self.read(groups)
        return only_named(self._whole, names)

    def _read_bytes(self) -> bytes:
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
                return bytes(client.get_object(Bucket=bucket, Key=key)["Body"].read())
            except Exception as exc:  # any S3 failure means we do not know the directory
                raise DirectoryReadError(
                    f"cannot read directory file {self.path}: {exc}. Fix: check that the "
                    "object exists and that this role may call s3:GetObject on it (and "
                    "kms:Decrypt if the bucket uses a KMS key). Nothing was changed."
                ) from exc
        try:
            return Path(self.path).read_bytes()
        except OSError as exc:
            raise DirectoryReadError(
                f"cannot read directory file {self.path}: {exc.strerror or exc}. Fix: check "
                "source.file.path (a relative path is relative to the configuration file). "
                "Nothing was changed."
            ) from exc

    def _table(self) -> Table:
        text = decode(self._read_bytes(), self.config.encoding, self.path)
        columns = dict(self.config.columns)
        key = PurePosixPath(self.path.partition("://")[2] or self.path).name
        if looks_like_json(key, text):
            table = json_table(
                text,
                self.path,
                columns=columns,
                require_enabled=self.config.active_values is not None,
            )
        else:
            table = csv_table(
                text,
                self.path,
                delimiter=self.config.delimiter,
                columns=columns,
                require_enabled=self.config.active_values is not None,
            )
        if table.ignored:
            log.warning(
                "%s: ignoring %d %s(s) that map to no user field: %s. Map one in "
                "source.file.columns if it holds a field this tool needs.",
                self.name,
                len(table.ignored),
                table.kind,
                ", ".join(_with_hint(h) for h in table.ignored),
            )
        return table

    def read(self, groups: Sequence[GroupRule]) -> DirectorySnapshot:
        table = self._table()
        names_by_id = table.group_names
        active = (
            None
            if self.config.active_values is None
            else frozenset(v.casefold() for v in self.config.active_values)
        )
        errors: list[str] = []
        known_names = set(names_by_id.values())
        parsed = [_user(row, groups, names_by_id, active) for row in table.rows]
        # A repeated id is doubtful in every row that has it, valid or not.
        lines_by_id: dict[str, list[str]] = defaultdict(list)
        for entry in parsed:
            if entry.source_id:
                lines_by_id[entry.source_id].append(entry.row.where)
        users: list[DirectoryUser] = []
        for entry in parsed:
            known_names.update(entry.member_of)
            if entry.problem is not None:
                errors.append(f"{self.name} {entry.row.where}: {entry.problem}")
            where = lines_by_id.get(entry.source_id, [])
            if len(where) > 1:
                if entry.row.where == where[0]:
                    errors.append(
                        f"{self.name}: id {entry.source_id!r} appears on {', '.join(where)}; "
                        "none of these rows is used until the id is unique"
                    )
                continue
            if entry.user is not None and entry.user.groups:
                users.append(entry.user)

        reads = []
        for index, rule in enumerate(groups):
            count = sum(1 for u in users if rule.label in u.groups)
            exists = (
                (rule.key in names_by_id or rule.key in known_names)
                if rule.by_id
                else rule.key in known_names
            )
            if not exists and not errors:
                close = closest(rule.key, known_names)
                raise ConfigError(
                    f"groups[{index}].{'id' if rule.by_id else 'name'}",
                    f"no row of {self.path} lists group {rule.label!r} (an export only "
                    "names groups that have members)",
                    (f"did you mean {close!r}? Use" if close else "use")
                    + " the group's name (or id:) as the export spells it; if the group has "
                    "no members any more, remove it from groups:",
                )
            if not exists:
                errors.append(
                    f"{self.name}: group {rule.label!r} is in no readable row; it may be in "
                    "a row with an error above"
                )
            reads.append(GroupRead(rule.label, _id_of(rule, names_by_id), count, exists))
        return DirectorySnapshot(
            tuple(users), tuple(reads), complete=not errors, errors=tuple(errors)
        )


# --------------------------------------------------------------------------- rows


def read_enabled(value: object, active: frozenset[str] | None) -> bool:
    """The ``enabled`` rule of CONTRACT.md §2. Raises ``ValueError`` for a doubtful value.

    A missing or blank value means "not given": enabled by default, unless
    ``active_values`` is set, where only a listed value means enabled.
    """
    if isinstance(value, bool):
        return value
    if value is None or (isinstance(value, str) and not value.strip()):
        return active is None
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise ValueError(f"'enabled' is {_kind(value)}, not a word or true/false")
    word = text.casefold()
    if active is not None:
        return word in active
    if word in ENABLED_WORDS:
        return True
    if word in DISABLED_WORDS:
        return False
    raise ValueError(f"enabled value {text!r} is not recognised")


@dataclass(frozen=True)
class _Parsed:
    """What one row gave: a user, or a problem; and what it told us on the way."""

    row: Row
    user: DirectoryUser | None = None
    source_id: str = ""
    member_of: tuple[str, ...] = ()  # group names the row lists, for the existence check
    problem: str | None = None


def _user(
    row: Row,
    rules: Sequence[GroupRule],
    names_by_id: Mapping[str, str],
    active: frozenset[str] | None,
) -> _Parsed:
    if row.problem is not None:
        return _Parsed(row, problem=row.problem)
    values = row.values
    raw_id = values.get("id")
    if isinstance(raw_id, int) and not isinstance(raw_id, bool):
        raw_id = str(raw_id)
    if raw_id is not None and not isinstance(raw_id, str):
        return _Parsed(row, problem=f"'id' must be text, not {_kind(raw_id)}")
    source_id = (raw_id or "").strip()
    label = f"(id {source_id!r}) " if source_id else ""

    raw_groups = values.get("groups") or []
    if not isinstance(raw_groups, list) or not all(isinstance(g, str) for g in raw_groups):
        return _Parsed(
            row, source_id=source_id, problem=f"{label}'groups' must be a list of group names"
        )
    member_of = tuple(g.strip() for g in raw_groups if g.strip())
    if not source_id:
        return _Parsed(
            row, member_of=member_of, problem="no 'id'; every user needs an immutable id"
        )

    def doubtful(problem: str) -> _Parsed:
        return _Parsed(row, None, source_id, member_of, label + problem)

    text: dict[str, str | None] = {}
    for name in TEXT_FIELDS:
        value = values.get(name)
        if value is not None and not isinstance(value, str):
            return doubtful(f"'{name}' must be text, not {_kind(value)}")
        text[name] = (value or "").strip() or None
    try:
        enabled = read_enabled(values.get("enabled"), active)
    except ValueError as exc:
        return doubtful(
            f"{exc}, so this user gets no new access in this run and deprovisioning waits. "
            "Fix: use true, yes, 1, active or enabled, or false, no, 0, inactive, disabled, "
            "terminated or suspended; or list the values that mean enabled in "
            "source.file.active_values"
        )
    text["id"] = source_id
    labels = tuple(rule.label for rule in rules if _member(rule, member_of, names_by_id))
    user = DirectoryUser(
        source_id=source_id,
        attributes={name: text[name] for name in ATTRIBUTE_FIELDS},
        first_name=text["first_name"],
        last_name=text["last_name"],
        email=text["email"],
        enabled=enabled,
        groups=labels,
    )
    return _Parsed(row, user, source_id, member_of)


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return f"a boolean ({value})"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def _with_hint(header: str) -> str:
    normal = header.casefold().replace(" ", "_").replace("-", "_")
    close = difflib.get_close_matches(normal, (*TEXT_FIELDS, "id", "enabled", "groups"), 1, 0.8)
    return f"{header!r} (did you mean {close[0]}?)" if close else repr(header)


def _id_of(rule: GroupRule, names_by_id: Mapping[str, str]) -> str | None:
    if rule.by_id:
        return rule.key
    return next((gid for gid, name in names_by_id.items() if name == rule.key), None)


def _member(rule: GroupRule, member_of: Sequence[str], names_by_id: Mapping[str, str]) -> bool:
    if rule.by_id:
        return rule.key in member_of or names_by_id.get(rule.key) in member_of
    return rule.key in member_of
