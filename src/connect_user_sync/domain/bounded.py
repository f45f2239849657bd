"""Bounded text: how much of an outside value a message, a report or a record may carry.

Values reach this tool from files, configuration documents and directories that nobody
here controls. A 10 MB UPN, a configuration whose aliases expand to millions of nodes, or a
string with terminal control characters must never become a 20 MB report, a MemoryError or
a garbled terminal. Every place that echoes an outside value goes through one of these:

- ``capped(text, limit)``: the text itself when short enough; otherwise its beginning and a
  marker with its length and a short digest of the whole, so that two long values that
  differ only at the end stay distinguishable (the digest keeps keys and mismatch
  identities apart) and the cut is plain to see.
- ``shown(value, limit)``: a ``repr`` for error messages whose *work* is bounded too
  (``reprlib`` stops walking a structure after a few items and levels), so an alias bomb
  is never expanded to be printed.
"""

from __future__ import annotations

import hashlib
import reprlib
from collections.abc import Sequence

MESSAGE_VALUE_CHARS = 80  # a value quoted in an error message
# A directory value (username, name, e-mail, id) kept in reports and records; no more than
# the report's own cap per JSON string, so that the digest marker survives into the report.
FIELD_CHARS = 1000


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def capped(text: str, limit: int = FIELD_CHARS) -> str:
    """``text`` if it has at most ``limit`` characters, else a shortened, marked form.

    The result never exceeds ``limit`` characters (for ``limit`` >= 40) and is the same for
    the same input, so it can stand in for the value in keys and comparisons.
    """
    if len(text) <= limit:
        return text
    marker = f"...[{len(text)} chars, sha256 {_digest(text)}]"
    keep = max(0, limit - len(marker))
    return text[:keep] + marker


class _Repr(reprlib.Repr):
    def __init__(self, limit: int) -> None:
        super().__init__()
        self.maxlevel = 3
        self.maxtuple = self.maxlist = self.maxarray = self.maxset = self.maxfrozenset = 4
        self.maxdeque = self.maxdict = 4
        self.maxstring = self.maxother = self.maxlong = max(12, limit)


def shown(value: object, limit: int = MESSAGE_VALUE_CHARS) -> str:
    """A bounded ``repr`` of ``value`` for a message: at most about ``limit`` characters."""
    try:
        text = _Repr(limit).repr(value)
    except Exception:  # a hostile __repr__ must not take the message down with it
        text = f"<{type(value).__name__}>"
    if len(text) > limit:
        text = text[: max(0, limit - 3)] + "..."
    return text


def printable(text: str) -> str:
    """``text`` with control characters (terminal escapes, NUL, newlines) made visible."""
    if text.isprintable():
        return text
    return "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text
    )


KEY_BYTES = 512  # of a DynamoDB key built from outside data (limits: 2048 PK, 1024 SK bytes)


def key_component(value: str, max_bytes: int = KEY_BYTES) -> str:
    """``value`` for use inside a DynamoDB key: itself when it fits, else a digest.

    The value itself is kept in a non-key attribute of the item (capped); the key only has
    to be stable and distinct, which ``sha256:<hex>`` is.
    """
    data = value.encode("utf-8", "surrogatepass")
    if len(data) <= max_bytes:
        return value
    return "sha256:" + hashlib.sha256(data).hexdigest()


# How much of a report a person or a store is given: counts stay exact, text is cut.
JSON_VALUE_CHARS = FIELD_CHARS  # per string in the JSON run report (and what is stored)
TABLE_VALUE_CHARS = 200  # per value in the CLI's tables
MAX_LISTED_ERRORS = 50  # error messages listed; the report's ``error_count`` is exact


def capped_value(value: object, limit: int = JSON_VALUE_CHARS) -> object:
    """A JSON-ready value with every string in it ``capped`` (lists and mappings too)."""
    if isinstance(value, str):
        return capped(value, limit)
    if isinstance(value, list | tuple):
        return [capped_value(v, limit) for v in value]
    if isinstance(value, dict):
        return {str(k): capped_value(v, limit) for k, v in value.items()}
    return value


def listed(messages: Sequence[str], limit: int = MAX_LISTED_ERRORS) -> list[str]:
    """The first ``limit`` messages, each capped, and one line saying how many more there are."""
    shown_ = [capped(m) for m in messages[:limit]]
    if len(messages) > limit:
        shown_.append(f"… and {len(messages) - limit} more (error_count has the total)")
    return shown_
