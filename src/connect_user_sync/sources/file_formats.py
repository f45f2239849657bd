"""Turning the bytes of a directory export into rows: decoding, CSV layouts, JSON.

Real HR exports arrive in Windows-1252 or UTF-8 with a byte-order mark, separated by
commas, semicolons or tabs, with their own header names and extra columns. This module
knows those layouts; ``file`` decides what a row means. Every row carries where it came
from as the line number a text editor shows (and the spreadsheet row, when a quoted
multi-line field makes the two differ), so that a message points at the right place.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from connect_user_sync.config.model import FILE_USER_FIELDS
from connect_user_sync.domain.bounded import capped
from connect_user_sync.errors import DirectoryReadError

DELIMITERS = (",", ";", "\t")
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_REQUIRED = ("id", "groups")
_WHITESPACE = re.compile(r"[ \t\n\r]*")


@dataclass
class Row:
    """One user record as the file holds it, with fields already named as the contract's."""

    where: str  # "line 7", or "line 9 (spreadsheet row 7)"
    values: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None  # the record itself could not be read


@dataclass
class Table:
    rows: list[Row]
    ignored: list[str]  # columns (or JSON keys) that map to no field
    group_names: dict[str, str] = field(default_factory=dict)  # JSON "groups": id -> name
    kind: str = "column"  # what the file calls a field: column (CSV) or key (JSON)


def decode(data: bytes, encoding: str, origin: str) -> str:
    """The text of an export. A UTF-8 (or UTF-16) byte-order mark always wins."""
    if data.startswith(codecs.BOM_UTF8):
        data, encoding = data[len(codecs.BOM_UTF8) :], "utf-8"
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"  # Excel's "Unicode text": the BOM says which byte order
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        if codecs.lookup(encoding).name == "utf-8":
            fix = (
                "set source.file.encoding to the export's encoding (cp1252 for most "
                "exports from Excel or HR systems on Windows), or save the export as UTF-8"
            )
        else:
            fix = f"the file is not {encoding}: set source.file.encoding to the export's real encoding (often utf-8)"
        raise DirectoryReadError(
            f"directory file {origin}, line {line}: byte 0x{data[exc.start]:02x} at column "
            f"{column} cannot be decoded as {encoding}. Fix: {fix}. Nothing was changed."
        ) from None
    text = text.removeprefix("\ufeff")
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise DirectoryReadError(
            f"directory file {origin}, line {line}: contains NUL characters, which text exports "
            "do not. Fix: this looks like UTF-16 without a byte-order mark; export as CSV UTF-8, "
            "or set source.file.encoding: utf-16-le. Nothing was changed."
        )
    if not text.strip():
        raise DirectoryReadError(
            f"directory file {origin} is empty (line 1 has no header). Fix: check that the "
            "export finished writing before the sync ran; a run on an empty file would "
            "remove everybody, so nothing was changed."
        )
    return text


def looks_like_json(path: str, text: str) -> bool:
    lowered = path.lower()
    if lowered.endswith(".json"):
        return True
    if lowered.endswith((".csv", ".tsv", ".txt")):
        return False
    return text.lstrip().startswith("{")


# --------------------------------------------------------------------------- CSV


def detect_delimiter(header_line: str, origin: str) -> str:
    """The separator of the header line: the most frequent of , ; and tab outside quotes."""
    unquoted = re.sub(r'"[^"]*"', "", header_line)
    counts = {d: unquoted.count(d) for d in DELIMITERS}
    best = max(counts.values())
    if best == 0:
        return ","  # one column only; the checks on required columns explain the rest
    winners = [d for d, n in counts.items() if n == best]
    if len(winners) > 1:
        names = " and ".join(_DELIMITER_NAMES[d] for d in winners)
        raise DirectoryReadError(
            f"directory file {origin}, line 1: the header has as many {names} characters, "
            "so the separator is ambiguous. Fix: set source.file.delimiter to the export's "
            "separator. Nothing was changed."
        )
    return winners[0]


def _wanted(columns: Mapping[str, str]) -> dict[str, list[str]]:
    """Header (case-folded) -> the contract fields it feeds.

    A field named in ``columns`` is read only from that header; the others from a header
    spelt like the field. One header may feed several fields (upn and email from one mail
    column, say).
    """
    wanted: dict[str, list[str]] = {}
    for name in FILE_USER_FIELDS:
        wanted.setdefault(columns.get(name, name).casefold(), []).append(name)
    return wanted


def _field_map(
    headers: Sequence[str], columns: Mapping[str, str], origin: str, required: Sequence[str]
) -> tuple[dict[int, list[str]], list[str]]:
    """Which contract fields each column feeds, and the headers that feed none."""
    wanted = _wanted(columns)
    feeds: dict[int, list[str]] = {}
    ignored: list[str] = []
    seen: dict[str, int] = {}
    for index, header in enumerate(headers):
        names = wanted.get(header.casefold())
        if not names:
            ignored.append(header or f"(column {index + 1}, no header)")
            continue
        if header.casefold() in seen:
            raise DirectoryReadError(
                f"directory file {origin}, line 1: the column {header!r} appears twice "
                f"(columns {seen[header.casefold()] + 1} and {index + 1}), so "
                f"{', '.join(names)} is ambiguous. Fix: rename one of them in the export, "
                "or map the field to another column with source.file.columns. Nothing was changed."
            )
        seen[header.casefold()] = index
        feeds[index] = names
    present = {n for names in feeds.values() for n in names}
    shown = capped(", ".join(repr(h) for h in headers[:50]), 300)  # a message, not a dump
    for name, header in columns.items():
        if name not in present:
            raise DirectoryReadError(
                f"directory file {origin}, line 1: there is no column {header!r} "
                f"(source.file.columns.{name}); the header has {shown}. Fix: map {name} to "
                "one of those in source.file.columns. Nothing was changed."
            )
    for name in required:
        if name not in present:
            raise DirectoryReadError(
                f"directory file {origin}, line 1: no column gives the users' {name}; the "
                f"header has {shown}. Fix: add the column to the export, or map it with "
                f"source.file.columns: {{{name}: <header in the file>}}. Nothing was changed."
            )
    return feeds, ignored


def _records(reader: Any) -> Iterator[tuple[int, int, list[str] | None, str | None]]:
    """(first line, spreadsheet row, cells or None, problem) for each record after the header."""
    end = reader.line_num
    sheet_row = 1
    while True:
        start = end + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # e.g. a field over the csv module's 128 KiB limit
            sheet_row += 1
            end = reader.line_num
            yield (
                start,
                sheet_row,
                None,
                f"cannot be read as CSV ({exc}); check for an unbalanced quote",
            )
            continue
        sheet_row += 1
        end = reader.line_num
        yield start, sheet_row, cells, None


def csv_table(
    text: str,
    origin: str,
    *,
    delimiter: str | None,
    columns: Mapping[str, str],
    require_enabled: bool = False,
) -> Table:
    first_line = re.split(r"\r\n|\r|\n", text, maxsplit=1)[0]
    separator = delimiter or detect_delimiter(first_line, origin)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator)
    try:
        headers = [h.strip() for h in next(reader)]
    except csv.Error as exc:
        raise DirectoryReadError(
            f"directory file {origin}, line 1: the header cannot be read as CSV ({exc}). "
            "Fix: export the file again as CSV. Nothing was changed."
        ) from None
    required = (*_REQUIRED, "enabled") if require_enabled else _REQUIRED
    feeds, ignored = _field_map(headers, columns, origin, required)
    rows: list[Row] = []
    for start, sheet_row, cells, problem in _records(reader):
        where = (
            f"line {start}" if start == sheet_row else f"line {start} (spreadsheet row {sheet_row})"
        )
        if cells is None:
            rows.append(Row(where, problem=problem))
            continue
        if not any(cell.strip() for cell in cells):
            continue  # a blank line
        extra = cells[len(headers) :]
        if len(cells) < len(headers) or any(cell.strip() for cell in extra):
            rows.append(
                Row(
                    where,
                    problem=(
                        f"has {len(cells)} fields where the header has {len(headers)} "
                        f"(separator: {_DELIMITER_NAMES.get(separator, repr(separator))}); "
                        "check the quoting of this line"
                    ),
                )
            )
            continue
        values: dict[str, Any] = {}
        for index, names in feeds.items():
            cell = cells[index].strip()
            for name in names:
                if name == "groups":
                    values[name] = [g.strip() for g in cell.split("|") if g.strip()]
                elif cell:
                    values[name] = cell
        rows.append(Row(where, values))
    if not rows:
        raise DirectoryReadError(
            f"directory file {origin} has a header (line 1) but no users. Fix: check that "
            "the export finished and selected the right people; a run on it would remove "
            "everybody, so nothing was changed."
        )
    return Table(rows, ignored)


# --------------------------------------------------------------------------- JSON


def _user_lines(text: str) -> list[int]:
    """The line on which each element of the top-level ``users`` list starts.

    Only called on a document ``json.loads`` accepted, so the walk cannot go astray;
    the line is counted incrementally to stay linear in the size of the file.
    """
    decoder = json.JSONDecoder()

    def skip(i: int) -> int:
        match = _WHITESPACE.match(text, i)
        return match.end() if match else i

    lines: list[int] = []
    i = skip(0)
    if text[i : i + 1] != "{":
        return lines
    i = skip(i + 1)
    while i < len(text) and text[i] != "}":
        key, i = decoder.raw_decode(text, i)
        i = skip(skip(i) + 1)  # past the colon
        if key == "users" and text[i : i + 1] == "[":
            lines, line, counted = [], 1, 0
            i = skip(i + 1)
            while text[i : i + 1] != "]":
                line += text.count("\n", counted, i)
                counted = i
                lines.append(line)
                _, i = decoder.raw_decode(text, i)
                i = skip(i)
                if text[i : i + 1] == ",":
                    i = skip(i + 1)
            i += 1
        else:
            _, i = decoder.raw_decode(text, i)
        i = skip(i)
        if text[i : i + 1] == ",":
            i = skip(i + 1)
    return lines


def json_table(
    text: str, origin: str, *, columns: Mapping[str, str], require_enabled: bool = False
) -> Table:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DirectoryReadError(
            f"directory file {origin}, line {exc.lineno}: not valid JSON ({exc.msg} at "
            f"column {exc.colno}). Fix: correct the file there, or export it again. "
            "Nothing was changed."
        ) from None
    except RecursionError:  # arrays in arrays thousands deep: no export looks like that
        raise DirectoryReadError(
            f"directory file {origin}: the JSON is nested too deeply to be a directory "
            "export. Fix: export it again. Nothing was changed."
        ) from None
    if not isinstance(document, Mapping) or not isinstance(document.get("users"), list):
        raise DirectoryReadError(
            f"directory file {origin}, line 1: expected a JSON object with a 'users' list. "
            'Fix: write {"users": [...], "groups": [...]} (see the file source guide). '
            "Nothing was changed."
        )
    users: list[Any] = document["users"]
    if not users and not document.get("groups"):
        # Only a document that lists its groups can say "these groups have no members";
        # an empty list on its own is the classic half-finished export.
        raise DirectoryReadError(
            f"directory file {origin}: the 'users' list is empty and no 'groups' are listed. "
            "Fix: check that the export finished; a run on it would remove everybody, so "
            "nothing was changed."
        )
    lines = _user_lines(text)
    if len(lines) != len(users):
        lines = []
    wanted = _wanted(columns)
    keys = {str(k).casefold() for u in users if isinstance(u, Mapping) for k in u}
    missing = [f"{n}: {h!r}" for n, h in columns.items() if h.casefold() not in keys]
    enabled_key = columns.get("enabled", "enabled")
    if require_enabled and enabled_key.casefold() not in keys:
        missing.append(f"enabled: {enabled_key!r}, needed by source.file.active_values")
    if missing:
        raise DirectoryReadError(
            f"directory file {origin}: no user has the key(s) that source.file.columns names "
            f"({', '.join(missing)}). Fix: map each field to a key the file has. "
            "Nothing was changed."
        )
    shared = {line for line, count in Counter(lines).items() if count > 1}
    rows: list[Row] = []
    ignored: dict[str, None] = {}
    for index, raw in enumerate(users):
        # One user per line is the usual layout; a one-line document needs the index too.
        line = lines[index] if lines else None
        where = (
            f"line {line}" if line and line not in shared else f"users[{index}] (line {line or 1})"
        )
        if not isinstance(raw, Mapping):
            rows.append(Row(where, problem=f"expected an object, got {type(raw).__name__}"))
            continue
        row = Row(where)
        source: dict[str, str] = {}
        for key, value in raw.items():
            names = wanted.get(str(key).casefold())
            if not names:
                ignored.setdefault(str(key))
            for name in names or ():
                if name in source:
                    row.problem = f"keys {source[name]!r} and {key!r} both give {name}"
                source[name] = str(key)
                row.values[name] = value
        rows.append(row)
    listed = document.get("groups") or ()
    group_names = {
        str(g.get("id")): str(g.get("name"))
        for g in (listed if isinstance(listed, list) else ())
        if isinstance(g, Mapping)
    }
    return Table(rows, list(ignored), group_names, "key")
