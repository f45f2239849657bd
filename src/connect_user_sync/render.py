"""Human-readable rendering of a run report (the CLI's table format)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

MAX_ROWS = 60
_STATUS_STYLE = {
    "planned": "cyan",
    "succeeded": "green",
    "partial": "yellow",
    "refused": "red",
    "failed": "red",
}
_ACTION_STYLE = {
    "create": "green",
    "update": "cyan",
    "adopt": "blue",
    "enable": "green",
    "disable": "yellow",
    "delete": "red",
}
_FIX = {
    "case_mismatch": "Recreate the Connect user with the asserted spelling, or change the claim",
    "attribute_mismatch": "Recreate the Connect user as the asserted value, or assert the other attribute",
    "invalid_username": "Fix the directory attribute, or assert another attribute",
    "duplicate_username": "Make the attribute unique in the directory",
    "renamed": "Nothing: handled; tell the agent their new sign-in name",
}


def _value(value: Any) -> str:
    if value is None:
        return "∅"
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _describe(action: Mapping[str, Any]) -> str:
    changes = action["changes"]
    if action["action"] == "create":
        after = {name: c["to"] for name, c in changes.items()}
        parts = [
            ", ".join(after.get("security_profiles") or []),
            after.get("routing_profile"),
            after.get("hierarchy_group"),
        ]
        return "new: " + " · ".join(str(p) for p in parts if p)
    if action["action"] == "delete":
        return "deleted (cannot be undone)"
    return "; ".join(
        f"{name}: {_value(c['from'])} → {_value(c['to'])}" for name, c in changes.items()
    )


def render_report(report: Mapping[str, Any], console: Console) -> None:
    mode = "plan" if report.get("dry_run") else "apply"
    source = report.get("source", {})
    console.print(
        f"[bold]connect-user-sync {mode}[/bold]  run {report['run_id']}  "
        f"source {source.get('type')} ({source.get('users_in_scope', 0)} users in scope)"
    )
    for target in report.get("targets", []):
        counts = target.get("counts", {})
        summary = ", ".join(f"{n} {k}" for k, n in counts.items() if n) or "nothing to do"
        console.print(f"\n[bold]{target['region']}/{target['instance_id']}[/bold]: {summary}")
        if target.get("error"):
            console.print(f"  [red]error:[/red] {target['error']}")
        for reason in target.get("held_because", []):
            console.print(f"  [red]deprovisioning held:[/red] {reason}")
        actions = target.get("actions", [])
        if not actions:
            continue
        table = Table(show_lines=False, pad_edge=False, expand=False)
        for column in ("action", "username", "changes", "status"):
            table.add_column(column, overflow="fold")
        # What a person must look at first: removals, then take-overs and changes, then creates.
        order = {"delete": 0, "disable": 1, "enable": 2, "adopt": 3, "update": 4, "create": 5}
        actions = sorted(actions, key=lambda a: (order.get(a["action"], 9), a["username"]))
        for action in actions[:MAX_ROWS]:
            changes = _describe(action)
            status = Text(
                action["status"], style="red" if action["status"] in ("failed", "held") else ""
            )
            if action.get("error"):
                status.append(f"\n{action['error']}", style="dim")
            table.add_row(
                Text(action["action"], style=_ACTION_STYLE.get(action["action"], "")),
                action["username"],
                changes,
                status,
            )
        console.print(table)
        if len(actions) > MAX_ROWS:
            console.print(
                f"  … and {len(actions) - MAX_ROWS} more actions (use --format json for all)"
            )
    mismatches = report.get("mismatches", [])
    if mismatches:
        console.print(
            f"\n[bold]Username mismatches ({len(mismatches)})[/bold]: these people cannot sign in until fixed"
        )
        table = Table(pad_edge=False)
        for column in ("kind", "IdP asserts", "Connect user", "what to do"):
            table.add_column(column, overflow="fold")
        for m in mismatches[:MAX_ROWS]:
            table.add_row(
                m["kind"], m["username"], m.get("connect_username") or "", _FIX.get(m["kind"], "")
            )
        console.print(table)
        console.print(
            "[dim]Each mismatch's full explanation is in --format json and in the alert.[/dim]"
        )
    for error in report.get("errors", []):
        console.print(f"[red]error:[/red] {error}")
    status = report["status"]
    console.print(f"\nStatus: [{_STATUS_STYLE.get(status, 'white')}]{status}[/]")
