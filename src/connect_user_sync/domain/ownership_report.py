"""What a target's report says about ownership: on what it rested, and who was left alone.

Three facts, per target, in every report (JSON and table):

- ``ownership``: ``results table records`` (the tool's own record decides), or
  ``tags only (no results table)`` (a CLI run without a table: the tags decide, and no
  delete goes ahead);
- ``protected_users``: users the plan would have touched but left alone because they hold
  a profile in ``safety.protected_security_profiles``. A list in the report, not a mismatch:
  nothing is wrong and nothing needs fixing, so it is not alerted; it is there, run after
  run, for whoever reads the report;
- ``not_adopted``: Connect users with exactly the username a directory user asserts that
  the tool does not manage because ``safety.adopt_existing`` is false (logins work; their
  settings are not kept in step).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connect_user_sync.domain.models import TargetPlan
from connect_user_sync.domain.ownership import TAGS_ONLY

LISTED = 200  # users listed per list; the count stays exact


@dataclass(frozen=True, slots=True)
class ProtectedEntry:
    username: str
    user_id: str
    security_profiles: tuple[str, ...]  # the protected profiles held, by name
    would: str

    def to_json(self) -> dict[str, Any]:
        return {
            "username": self.username,
            "user_id": self.user_id,
            "security_profiles": list(self.security_profiles),
            "would": self.would,
        }


@dataclass(frozen=True)
class OwnershipNotes:
    mode: str
    protected: tuple[ProtectedEntry, ...] = ()
    not_adopted: tuple[str, ...] = ()

    @classmethod
    def of(cls, plan: TargetPlan, names: Mapping[str, str]) -> OwnershipNotes:
        return cls(
            plan.ownership,
            tuple(
                ProtectedEntry(
                    p.username,
                    p.user_id,
                    tuple(sorted(names.get(i, i) for i in p.security_profile_ids)),
                    p.would,
                )
                for p in plan.protected
            ),
            tuple(plan.not_adopted),
        )

    @classmethod
    def from_json(cls, target: Mapping[str, Any]) -> OwnershipNotes | None:
        """Read back what ``to_json`` added to a target's document (None if nothing)."""
        if "ownership" not in target:
            return None
        return cls(
            str(target["ownership"]),
            tuple(
                ProtectedEntry(
                    str(p.get("username", "")),
                    str(p.get("user_id", "")),
                    tuple(str(n) for n in p.get("security_profiles") or ()),
                    str(p.get("would", "")),
                )
                for p in target.get("protected_users") or ()
            ),
            tuple(str(u) for u in target.get("not_adopted") or ()),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ownership": self.mode}
        if self.protected:
            out["protected_users"] = [p.to_json() for p in self.protected[:LISTED]]
            out["protected_count"] = len(self.protected)
        if self.not_adopted:
            out["not_adopted"] = list(self.not_adopted[:LISTED])
            out["not_adopted_count"] = len(self.not_adopted)
        return out

    def lines(self) -> list[str]:
        """One sentence per fact worth a person's attention, for the CLI's table output."""
        lines: list[str] = []
        if self.mode == TAGS_ONLY:
            lines.append(
                "ownership rests on tags only (no results table): nothing is deleted; set "
                "results.table so that the tool's own records decide"
            )
        if self.protected:
            shown = ", ".join(
                f"{p.username} ({', '.join(p.security_profiles)})" for p in self.protected[:10]
            )
            more = f" and {len(self.protected) - 10} more" if len(self.protected) > 10 else ""
            lines.append(
                f"{len(self.protected)} user(s) hold a protected security profile and were left "
                f"alone: {shown}{more}"
            )
        if self.not_adopted:
            shown = ", ".join(self.not_adopted[:10])
            more = f" and {len(self.not_adopted) - 10} more" if len(self.not_adopted) > 10 else ""
            lines.append(
                f"{len(self.not_adopted)} existing Connect user(s) match a directory user but are "
                f"not managed (safety.adopt_existing is false): {shown}{more}"
            )
        return lines
