"""Human-readable rendering of a run report (the CLI's table format)."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from connect_user_sync.domain.mismatches import fix_for
from connect_user_sync.domain.models import ActionKind, RunStatus
from connect_user_sync.domain.report import ActionOutcome, RunReport

MAX_ROWS = 60
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


def _value(value: Any) -> str:
    if value is None:
        return "∅"
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _describe(action: ActionOutcome) -> str:
    changes = action.changes
    if action.kind == ActionKind.CREATE:
        after = {name: c.after for name, c in changes.items()}
        profiles = after.get("security_profiles")
        parts = [
            ", ".join(str(p) for p in profiles) if isinstance(profiles, list) else None,
            after.get("routing_profile"),
            after.get("hierarchy_group"),
        ]
        return "new: " + " · ".join(str(p) for p in parts if p)
    if action.kind == ActionKind.DELETE:
        return "deleted (cannot be undone)"
    return "; ".join(
        f"{name}: {_value(c.before)} → {_value(c.after)}" for name, c in changes.items()
    )


def render_report(report: RunReport, console: Console) -> None:
    mode = "plan" if report.dry_run else "apply"
    console.print(
        f"[bold]connect-user-sync {mode}[/bold]  run {report.run_id}  "
        f"source {report.source.type} ({report.source.users_in_scope} users in scope)"
    )
    for target in report.targets:
        summary = ", ".join(f"{n} {k}" for k, n in target.counts.items() if n) or "nothing to do"
        console.print(f"\n[bold]{target.region}/{target.instance_id}[/bold]: {summary}")
        if target.error:
            console.print(f"  [red]error:[/red] {target.error}")
        for reason in target.held_because:
            console.print(f"  [red]deprovisioning held:[/red] {reason}")
        if not target.actions:
            continue
        table = Table(show_lines=False, pad_edge=False, expand=False)
        for column in ("action", "username", "changes", "status"):
            table.add_column(column, overflow="fold")
        actions = sorted(target.actions, key=lambda a: (_ORDER.get(a.kind, 9), a.username))
        for action in actions[:MAX_ROWS]:
            status = Text(action.status.value, style="red" if action.held or action.failed else "")
            if action.error:
                status.append(f"\n{action.error}", style="dim")
            table.add_row(
                Text(action.kind.value, style=_ACTION_STYLE.get(action.kind, "")),
                action.username,
                _describe(action),
                status,
            )
        console.print(table)
        if len(actions) > MAX_ROWS:
            console.print(
                f"  … and {len(actions) - MAX_ROWS} more actions (use --format json for all)"
            )
    if report.mismatches:
        console.print(
            f"\n[bold]Username mismatches ({len(report.mismatches)})[/bold]: "
            "these people cannot sign in until fixed"
        )
        table = Table(pad_edge=False)
        for column in ("kind", "IdP asserts", "Connect user", "what to do"):
            table.add_column(column, overflow="fold")
        for m in report.mismatches[:MAX_ROWS]:
            table.add_row(m.kind.value, m.username, m.connect_username or "", fix_for(m.kind))
        console.print(table)
        console.print(
            "[dim]Each mismatch's full explanation is in --format json and in the alert.[/dim]"
        )
    for error in report.all_errors:
        console.print(f"[red]error:[/red] {error}")
    run_status = report.status
    console.print(f"\nStatus: [{_STATUS_STYLE.get(run_status, 'white')}]{run_status.value}[/]")
