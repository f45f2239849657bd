"""The ``source.file`` section: where the export is and how to read a real HR export.

Kept apart from ``parser`` so that the file source's settings live in one small place;
``parser`` hands over its ``_Section`` reader for the section (CONTRACT.md §2).
"""

from __future__ import annotations

import codecs
from typing import TYPE_CHECKING

from connect_user_sync.config.model import FILE_USER_FIELDS, FileSourceConfig
from connect_user_sync.domain.bounded import shown
from connect_user_sync.errors import ConfigError

if TYPE_CHECKING:  # parser imports this module: only the type crosses back
    from connect_user_sync.config.parser import _Section


def parse_file_source(sub: _Section) -> FileSourceConfig:
    """``source.file``: the path plus how to read a real HR export (CONTRACT.md §2)."""
    sub.check_keys(("path", "encoding", "delimiter", "columns", "active_values"))
    encoding = sub.text("encoding", default="utf-8") or "utf-8"
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ConfigError(
            sub.at("encoding"),
            f"{shown(encoding)} is not a known text encoding",
            "use the export's encoding, e.g. utf-8 (the default), cp1252 (Excel on Windows) or latin-1",
        ) from None
    delimiter = sub.get("delimiter", str)
    if delimiter is not None:
        delimiter = {"tab": "\t", "\\t": "\t"}.get(delimiter.lower(), delimiter)
        if len(delimiter) != 1 or delimiter in '"\r\n':
            raise ConfigError(
                sub.at("delimiter"),
                f"{shown(delimiter)} is not a single separator character",
                "use ',', ';', '|' or tab (written tab or \"\\t\"), or remove it to detect , ; and tab",
            )
    columns: list[tuple[str, str]] = []
    mapping = sub.section("columns")
    if mapping is not None:
        mapping.check_keys(FILE_USER_FIELDS)
        for name in FILE_USER_FIELDS:
            header = mapping.text(name)
            if header is not None:
                columns.append((name, header.strip()))
    active_values: tuple[str, ...] | None = None
    raw_active = sub.data.get("active_values")
    if raw_active is not None:
        if isinstance(raw_active, list) and any(
            isinstance(v, bool | int | float) for v in raw_active
        ):
            raise ConfigError(
                sub.at("active_values"),
                f"{shown(raw_active)} holds a value YAML read as a boolean or number",
                "quote each value as the export spells it, e.g. active_values: ['Yes', 'Active']",
            )
        active_values = tuple(v.strip() for v in sub.string_list("active_values"))
        if not active_values:
            raise ConfigError(
                sub.at("active_values"),
                "empty list: every user would read as disabled",
                "list the values of the enabled column that mean active, or remove the key",
            )
    return FileSourceConfig(
        sub.required_text("path"),
        encoding=encoding,
        delimiter=delimiter,
        columns=tuple(columns),
        active_values=active_values,
    )
