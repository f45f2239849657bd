"""The run report without copies: changes shown by name on demand, the JSON piece by piece.

A plan of 50,000 creates is 50,000 actions, each with half a dozen changes. The report must
not hold them twice, and the JSON document must not be built whole before it is printed or
stored: that is what kept the memory of a large run growing with its size.

- ``NamedChanges`` is an action's changes as the report shows them (Connect ids as the
  names people see in the console), computed when read, never copied;
- ``iter_json`` yields the text of the report's JSON document one action at a time. The
  text is exactly ``json.dumps(report.to_json(), indent=2, default=str)``: the same
  document, the same bytes, without the document in memory.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from connect_user_sync.domain.models import Change

if TYPE_CHECKING:
    from connect_user_sync.domain.report import RunReport

# The report speaks in the names people see in the Connect console, not in ids.
NAMED_FIELDS: Mapping[str, str] = {
    "security_profile_ids": "security_profiles",
    "routing_profile_id": "routing_profile",
    "hierarchy_group_id": "hierarchy_group",
    "kept_security_profile_ids": "kept_security_profiles",
}
_ID_FIELDS = {shown: field for field, shown in NAMED_FIELDS.items()}
ACTIONS_PER_CHUNK = 64


def named(value: object, names: Mapping[str, str]) -> object:
    """A Connect id (or a list of them) as the names people see; anything else as it is."""
    if isinstance(value, list):
        return sorted(names.get(v, v) for v in value)
    if isinstance(value, str):
        return names.get(value, value)
    return value


class NamedChanges(Mapping[str, Change]):
    """A read-only view of an action's changes under the report's field names."""

    __slots__ = ("_changes", "_names")

    def __init__(self, changes: Mapping[str, Change], names: Mapping[str, str]) -> None:
        self._changes = changes
        self._names = names

    def __getitem__(self, shown: str) -> Change:
        field = _ID_FIELDS.get(shown)
        if field is not None and field in self._changes:
            change = self._changes[field]
            return Change(named(change.before, self._names), named(change.after, self._names))
        if shown in NAMED_FIELDS:  # an id field is only ever shown under its name
            raise KeyError(shown)
        return self._changes[shown]

    def __iter__(self) -> Iterator[str]:
        return (NAMED_FIELDS.get(field, field) for field in self._changes)

    def __len__(self) -> int:
        return len(self._changes)

    def __repr__(self) -> str:
        return f"NamedChanges({dict(self)!r})"


def iter_json(report: RunReport, *, indent: int = 2) -> Iterator[str]:
    """The report's JSON document as text, a few actions at a time (see the module)."""
    document = report.to_json(with_actions=False)
    markers = []
    for target in document["targets"]:
        marker = f"\x00actions-{uuid.uuid4().hex}"
        target["actions"] = marker
        markers.append(json.dumps(marker))
    text = json.dumps(document, indent=indent, default=str)
    start = 0
    for target, marker in zip(report.targets, markers, strict=True):
        at = text.index(marker, start)
        yield text[start:at]
        depth = at - (text.rindex("\n", 0, at) + 1) - len('"actions": ')
        yield from _actions(target.actions, depth, indent)
        start = at + len(marker)
    yield text[start:]


def _actions(actions: Any, depth: int, indent: int) -> Iterator[str]:
    """A list of actions as ``json.dumps`` indents it at ``depth`` spaces."""
    if not actions:
        yield "[]"
        return
    inner = "\n" + " " * (depth + indent)
    chunk = ["["]
    for number, action in enumerate(actions):
        text = json.dumps(action.to_json(), indent=indent, default=str)
        chunk.append(("," if number else "") + inner + text.replace("\n", inner))
        if len(chunk) >= ACTIONS_PER_CHUNK:
            yield "".join(chunk)
            chunk = []
    chunk.append("\n" + " " * depth + "]")
    yield "".join(chunk)
