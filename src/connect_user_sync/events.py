"""The sync function's events, turned into what to do.

- the EventBridge scheduled event (``"detail-type": "Scheduled Event"``, from a rule or
  from EventBridge Scheduler with the template's input): a full sync. Its ``detail`` may
  carry the manual keys below, which is how the weekly schedule asks for ``remind``;
- ``{"dry_run": true}``, ``{"users": ["jane@example.com"]}``,
  ``{"approve_deprovision": true}``, ``{"approve_adoption": true}``, in any combination;
  ``{}`` is a full sync;
- ``{"action": "remind"}``: send the reminder of mismatches still open.

Unknown keys and wrong types are refused with an ``EventError`` naming the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connect_user_sync.domain.bounded import capped, printable, shown
from connect_user_sync.service import RunRequest

MANUAL_KEYS = ("dry_run", "users", "approve_deprovision", "approve_adoption", "action")
SYNC, REMIND = "sync", "remind"
ACTIONS = (SYNC, REMIND)
SCHEDULED_DETAIL_TYPE = "Scheduled Event"
SCHEDULED_SOURCES = ("aws.events", "aws.scheduler")


class EventError(ValueError):
    """The event cannot be understood; nothing was done."""


@dataclass(frozen=True)
class Invocation:
    action: str
    request: RunRequest


def _flag(payload: Mapping[str, Any], key: str, where: str) -> bool:
    value = payload.get(key, False)
    if not isinstance(value, bool):
        raise EventError(f"{where}{key} must be true or false, got {shown(value)}")
    return value


def _users(payload: Mapping[str, Any], where: str) -> tuple[str, ...]:
    value = payload.get("users", [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise EventError(
            f'{where}users must be a list of usernames or directory ids, e.g. ["jane@example.com"]; '
            f"got {shown(value)}"
        )
    return tuple(v.strip() for v in value)


def _manual(payload: Any, *, trigger: str, where: str = "") -> Invocation:
    if not isinstance(payload, Mapping):
        raise EventError(
            f"{where or 'the event'} must be a JSON object, got {type(payload).__name__}"
        )
    unknown = sorted(printable(capped(str(k), 60)) for k in payload if k not in MANUAL_KEYS)[:10]
    if unknown:
        raise EventError(
            f"unknown event key(s) {', '.join(unknown)}{' in ' + where.rstrip('.') if where else ''}; "
            f"allowed: {', '.join(MANUAL_KEYS)} (or send the scheduled event)"
        )
    action = payload.get("action", SYNC)
    if action not in ACTIONS:
        raise EventError(f"{where}action must be one of {', '.join(ACTIONS)}, got {shown(action)}")
    request = RunRequest(
        dry_run=_flag(payload, "dry_run", where),
        users=_users(payload, where),
        approve_deprovision=_flag(payload, "approve_deprovision", where),
        approve_adoption=_flag(payload, "approve_adoption", where),
        trigger=trigger,
    )
    if action == REMIND and (
        request.dry_run or request.users or request.approve_deprovision or request.approve_adoption
    ):
        raise EventError('"action": "remind" takes no other keys')
    return Invocation(action, request)


def parse_event(event: Any) -> Invocation:
    """Turn a Lambda event into what to do; raises ``EventError`` with a readable message."""
    if event is None:
        event = {}
    if isinstance(event, Mapping) and event.get("detail-type") == SCHEDULED_DETAIL_TYPE:
        if event.get("source") not in SCHEDULED_SOURCES:
            raise EventError(f"a scheduled event must come from {' or '.join(SCHEDULED_SOURCES)}")
        return _manual(event.get("detail") or {}, trigger="schedule", where="detail.")
    return _manual(event, trigger="manual")
