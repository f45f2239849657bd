"""Human-readable rendering of a run report (the CLI's table format).

Everything a table shows comes from directories and services, so every value goes in as
plain ``Text`` (never as rich markup: a username like ``[/bold]`` prints as it is) and is
capped (``domain.report.TABLE_VALUE_CHARS``). Piped or in CI there is no terminal width:
tables take ``COLUMNS``, else a wide default, and wrap only between words.

What needs a person comes first: the verdict on an incomplete directory read, then every
error, once. ``history`` draws its rows with the same functions as ``plan`` and ``apply``.
"""

from __future__ import annotations

import os
import re
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

from rich.cells import cell_len
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from connect_user_sync.domain.bounded import TABLE_VALUE_CHARS, capped
from connect_user_sync.domain.models import ActionKind, ActionStatus, MismatchKind, RunStatus
from connect_user_sync.domain.report import ActionOutcome, MismatchRecord, RunReport, TargetReport

WIDE = 200  # columns when the output is not a terminal and COLUMNS is not set
SENTENCE_CHARS = 600  # a mismatch's explanation, an error message: sentences, not values
WORD_CHARS = 100  # a value quoted inside such a sentence in a table cell
SHORT_COLUMN = 24  # a column no wider than this is never wrapped when the table has room
_STATUS_STYLE = {
    RunStatus.PLANNED: "cyan",
    RunStatus.SUCCEEDED: "green",
    RunStatus.PARTIAL: "yellow",
    RunStatus.REFUSED: "red",
    RunStatus.FAILED: "red",
}
_ACTION_STYLE = {
    ActionKind.CREATE: "green",
    ActionKind.UPDATE: "cyan",
    ActionKind.ADOPT: "blue",
    ActionKind.ENABLE: "green",
    ActionKind.DISABLE: "yellow",
    ActionKind.DELETE: "red",
}
# What a person must look at first: removals, then take-overs and changes, then creates.
_ORDER = {
    ActionKind.DELETE: 0,
    ActionKind.DISABLE: 1,
    ActionKind.ENABLE: 2,
    ActionKind.ADOPT: 3,
    ActionKind.UPDATE: 4,
    ActionKind.CREATE: 5,
}
_DONE = {ActionKind.DISABLE: "disabled", ActionKind.DELETE: "deleted"}
_PENDING = {ActionKind.DISABLE: "would disable", ActionKind.DELETE: "would delete"}


# --------------------------------------------------------------------------- output


def console_for(stream: TextIO | None = None) -> Console:
    """A console for ``stream`` (stdout): a terminal's own width, else COLUMNS or WIDE."""
    out = stream or sys.stdout
    if out.isatty():
        return Console(file=out, highlight=False)
    columns = os.environ.get("COLUMNS", "")
    width = int(columns) if columns.isdigit() and int(columns) > 0 else WIDE
    return Console(file=out, width=width, highlight=False, soft_wrap=False)


def plain(value: object, limit: int = TABLE_VALUE_CHARS, style: str = "") -> Text:
    """A value as literal text (no markup), capped."""
    return Text(capped(_value(value), limit), style=style)


def sentence(text: str, style: str = "", *, word: int = TABLE_VALUE_CHARS) -> Text:
    """A message as literal text, each word and the whole capped (values quoted in it)."""
    shortened = " ".join(capped(part, word) for part in text.split(" "))
    return Text(capped(shortened, SENTENCE_CHARS), style=style)


def new_table(*columns: str) -> Table:
    """A table whose cells wrap between words only (``print_table`` keeps words whole)."""
    table = Table(pad_edge=False, show_lines=False)
    for column in columns:
        table.add_column(column, overflow="ellipsis")
    return table


def print_table(console: Console, table: Table) -> None:
    """The table when every word fits in its column; else one block per row.

    A table squeezed below its longest words would cut them: usernames, ids and profile
    names are exactly what a person copies from this output. So the columns get their
    longest word at least (rich alone would shrink the widest column below it), and when
    even that does not fit, each row becomes a block: its first two cells, then
    ``column: value`` lines that wrap between words.
    """
    if _fit_columns(console, table):
        console.print(table)
        return
    if table.title:
        say(console, _text(table.title))
    names = [str(column.header) for column in table.columns]
    columns = [list(column.cells) for column in table.columns]
    for row in zip(*columns, strict=True):
        say(console, Text(" ").join(_text(cell) for cell in row[:2]), hang=4)
        for name, cell in zip(names[2:], row[2:], strict=True):
            if _text(cell).plain.strip():
                say(console, Text.assemble(f"    {name}: ", _text(cell)), hang=8)


def say(console: Console, text: Text, *, hang: int = 0) -> None:
    """Print ``text`` wrapped between words at the console's width, continuation lines
    indented by ``hang``; a word longer than a line stays whole (it is never split)."""
    width = max(console.width - hang, 20)
    number = 0
    for paragraph in text.split("\n", allow_blank=True):
        for line in paragraph.divide(_breaks(paragraph.plain, width)):
            line.rstrip()
            shown = Text(" " * hang) + line if number else line
            console.print(shown, overflow="ignore", crop=False, soft_wrap=True)
            number += 1


def _breaks(plain: str, width: int) -> list[int]:
    """Where to break ``plain`` so lines fit ``width``, only ever between words."""
    offsets: list[int] = []
    used, words = cell_len(plain) - cell_len(plain.lstrip()), 0  # an indent counts too
    for word in re.finditer(r"\S+\s*", plain):
        if words and used + cell_len(word.group().rstrip()) > width:
            offsets.append(word.start())
            used, words = 0, 0
        used += cell_len(word.group())
        words += 1
    return offsets


def _fit_columns(console: Console, table: Table) -> bool:
    """Fix each column's width so no word is cut; False when the words alone are too wide."""
    unbounded = console.options.update_width(1_000_000)  # the words' widths, not the screen's
    ranges = [
        [Measurement.get(console, unbounded, cell) for cell in (column.header, *column.cells)]
        for column in table.columns
    ]
    least = [max(m.minimum for m in cells) for cells in ranges]
    most = [max(m.maximum for m in cells) for cells in ranges]
    overhead = Measurement.get(console, unbounded, table).maximum - sum(most)
    room = console.width - overhead
    if sum(least) > room:
        return False
    # Short columns (a status, an action, an id) stay on one line when there is room.
    whole = [m if m <= SHORT_COLUMN else n for n, m in zip(least, most, strict=True)]
    if sum(whole) <= room:
        least = whole
    if sum(most) > room:  # share what is left over the columns that can use it
        spare, wants = room - sum(least), [m - n for n, m in zip(least, most, strict=True)]
        total = sum(wants)
        for column, low, want in zip(table.columns, least, wants, strict=True):
            column.width = low + spare * want // total
    return True


def _text(cell: object) -> Text:
    return cell if isinstance(cell, Text) else Text(str(cell))


def _value(value: Any) -> str:
    if value is None:
        return "∅"
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(_value(v) for v in value) if value else "none"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_value(v)}" for k, v in value.items())
    return str(value)


# --------------------------------------------------------------------------- actions


def describe(action: ActionOutcome) -> str:
    """What an action changes, in words: the same for plan, apply and history."""
    after = {name: change.after for name, change in action.changes.items()}
    if action.kind == ActionKind.CREATE:
        parts = [after.get("security_profiles"), after.get("routing_profile")]
        parts.append(after.get("hierarchy_group"))
        return "new: " + " · ".join(_value(p) for p in parts if p)
    changes = "; ".join(
        f"{name}: {_value(c.before)} → {_value(c.after)}"
        for name, c in action.changes.items()
        if name != "user"
    )
    verb = (_DONE if action.applied else _PENDING).get(action.kind)
    if action.kind == ActionKind.DELETE:
        return f"{verb} (cannot be undone)"
    if verb:  # with deprovision.action report there is nothing more to say: it is held
        return f"{verb}: {changes}" if changes else verb
    return changes or "tags only"


def action_cells(action: ActionOutcome, *, note: str = "") -> list[Text]:
    """The action, username, changes and status cells of one action's row.

    A held action's reason is printed once above its table, not on every row; a failed
    one's error goes under its status. ``note`` follows the status (``history``: dry run).
    """
    style = "red" if action.held or action.failed else "green"
    status = plain(action.status.value + note, style=style)
    if action.error and not action.held:
        status.append("\n")
        status.append(plain(action.error, style="dim"))
    return [
        plain(action.kind.value, style=_ACTION_STYLE.get(action.kind, "")),
        plain(action.username),
        plain(describe(action)),
        status,
    ]


def action_from_item(item: Mapping[str, Any]) -> ActionOutcome:
    """An action as the results table recorded it (``ActionOutcome.to_json`` plus keys)."""
    from connect_user_sync.domain.models import Change

    changes = item.get("changes") or {}
    return ActionOutcome(
        kind=ActionKind(str(item.get("action"))),
        username=str(item.get("username") or ""),
        source_id=item.get("source_id"),
        user_id=item.get("user_id"),
        status=ActionStatus(str(item.get("status"))),
        error=item.get("error"),
        changes={
            str(name): Change(c.get("from"), c.get("to"))
            if isinstance(c, Mapping)
            else Change(None, c)
            for name, c in changes.items()
        },
    )


# --------------------------------------------------------------------------- the report


def headline(report: RunReport) -> str | None:
    """The first line when the directory read went wrong: what was and was not done."""
    source = report.source
    if source.complete:
        return None
    if source.read_failed:
        return "directory read failed: nothing was read; nothing was changed"
    count = source.error_count
    if source.type == "file":
        noun = "row with errors" if count == 1 else "rows with errors"
    else:
        noun = "error" if count == 1 else "errors"
    done = "planned" if report.dry_run else "applied"
    what = f"{count} {noun}" if count else "some data could not be read"
    return f"directory read incomplete: {what}; creates and updates {done}; deprovisioning held"


def held_reasons(target: TargetReport) -> list[str]:
    """Why this target's actions are held, each reason once."""
    reasons = dict.fromkeys(a.error for a in target.actions if a.held and a.error)
    if not reasons:
        reasons = dict.fromkeys(target.held_because)
    return [str(r) for r in reasons]


def render_report(report: RunReport, console: Console, *, limit: int | None = None) -> None:
    """Print the run report. ``limit`` caps the rows of each table, saying how many more."""
    top = headline(report)
    if top:
        say(console, sentence(top, style="bold red"))
    for error in report.listed_errors:
        say(console, Text.assemble(("error: ", "red"), sentence(error)), hang=7)
    mode = "plan" if report.dry_run else "apply"
    console.print(
        Text.assemble(
            (f"connect-user-sync {mode}", "bold"),
            f"  run {report.run_id}  source {report.source.type} ",
            f"({report.source.users_in_scope} users in scope)",
        )
    )
    for target in report.targets:
        _render_target(target, console, limit, read_failed=report.source.read_failed)
    if report.mismatches:
        _render_mismatches(report.mismatches, console, limit)
    status = report.status
    line = Text.assemble("\nStatus: ", (status.value, _STATUS_STYLE.get(status, "white")))
    if report.error_count:
        line.append(f" ({report.error_count} error(s), listed at the top)")
    say(console, line)


def _render_target(
    target: TargetReport, console: Console, limit: int | None, *, read_failed: bool
) -> None:
    name = Text.assemble("\n", (f"{target.region}/{target.instance_id}", "bold"), ": ")
    if target.error or read_failed:
        why = "the directory could not be read" if read_failed else "the error is at the top"
        say(console, name + Text(f"not read ({why}); nothing was planned"))
        return
    counts = ", ".join(f"{n} {k}" for k, n in target.counts.items() if n)
    say(console, name + Text(counts or "nothing to do"))
    for reason in held_reasons(target):
        line = Text.assemble("  ", ("deprovisioning held: ", "red"), sentence(reason))
        say(console, line, hang=4)
    for note in target.ownership.lines() if target.ownership else ():
        say(console, Text.assemble("  ", ("note: ", "yellow"), sentence(note)), hang=4)
    if not target.actions:
        return
    actions = sorted(target.actions, key=lambda a: (_ORDER.get(a.kind, 9), a.username))
    table = new_table("action", "username", "changes", "status")
    for action in _first(actions, limit):
        table.add_row(*action_cells(action))
    print_table(console, table)
    _more(console, len(actions), limit, "actions")


def _render_mismatches(
    mismatches: Sequence[MismatchRecord], console: Console, limit: int | None
) -> None:
    console.print(
        Text.assemble(
            "\n",
            (f"Username mismatches ({len(mismatches)})", "bold"),
            ": these people cannot sign in until fixed",
        )
    )
    clashes: dict[str, list[str]] = defaultdict(list)
    for m in mismatches:
        if m.kind == MismatchKind.DUPLICATE and m.source_id:
            clashes[m.username].append(m.source_id)
    table = new_table("kind", "IdP asserts", "Connect user", "directory id(s)", "detail")
    for m in _first(mismatches, limit):
        ids = clashes[m.username] if m.kind == MismatchKind.DUPLICATE else [m.source_id or ""]
        table.add_row(
            plain(m.kind.value),
            plain(m.username),
            plain(m.connect_username or ""),
            plain(", ".join(dict.fromkeys(ids))),
            sentence(m.detail, word=WORD_CHARS),
        )
    print_table(console, table)
    _more(console, len(mismatches), limit, "mismatches")


def _first(rows: Sequence[Any], limit: int | None) -> Iterable[Any]:
    return rows if limit is None else rows[:limit]


def _more(console: Console, total: int, limit: int | None, what: str) -> None:
    if limit is not None and total > limit:
        text = f"  … and {total - limit} more {what} not shown (--limit {limit}); "
        say(console, Text(text + "--format json lists them all"), hang=4)
