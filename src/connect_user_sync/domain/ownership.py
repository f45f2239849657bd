"""Who manages a Connect user: the tool's own record, checked against the user's tags.

A tag proves nothing by itself: a Connect administrator can tag any user, and so can any
role allowed ``connect:TagResource``. The results table, which Connect administrators
cannot write, holds this tool's record of every user it created or adopted. A user is
managed only when that record says so *and* the user's tags agree with it; any
disagreement is an ``ownership_conflict`` and the user is not touched.

Without a results table (a CLI run with no ``results.table``) the tags are all there is:
ownership then rests on the tags, the plan says so, and the safety gate never lets a delete
through (``domain.safety``).

A create writes a *pending* record before ``CreateUser`` and the real record once Connect
has returned the user id, so a run killed in between does not leave a user the next run
would call forged: a tagged user without a record whose username and ``source-id`` tag match
a pending record is confirmed and recorded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from connect_user_sync.domain.mismatches import (
    RECORD_WITHOUT_TAGS,
    SOURCE_ID_DIFFERS,
    TAGGED_WITHOUT_RECORD,
)
from connect_user_sync.domain.models import (
    TAG_MANAGED,
    TAG_SOURCE_ID,
    ConnectUser,
    OwnedRecord,
    PendingRecord,
)

RECORDS = "results table records"
TAGS_ONLY = "tags only (no results table)"
CREATED, ADOPTED = "created", "adopted"


class Ownership(StrEnum):
    MANAGED = "managed"
    UNMANAGED = "unmanaged"
    CONFLICT = "conflict"


@dataclass(frozen=True)
class Ledger:
    """This tool's records for one Connect instance, as read from the results table."""

    records: Mapping[str, OwnedRecord] = field(default_factory=dict)  # user id -> record
    pending: Mapping[str, PendingRecord] = field(default_factory=dict)  # username -> pending

    def __post_init__(self) -> None:
        object.__setattr__(self, "records", MappingProxyType(dict(self.records)))
        object.__setattr__(self, "pending", MappingProxyType(dict(self.pending)))

    @classmethod
    def of(cls, records: Iterable[OwnedRecord], pending: Iterable[PendingRecord] = ()) -> Ledger:
        return cls({r.user_id: r for r in records}, {p.username: p for p in pending})


@dataclass(frozen=True, slots=True)
class Verdict:
    """What ``ownership`` decided about one user, and on what grounds."""

    ownership: Ownership
    record: OwnedRecord | None = None
    confirms: PendingRecord | None = None  # a create a killed run left unrecorded
    conflict: str | None = None  # why, one of the mismatches module's reasons

    @property
    def managed(self) -> bool:
        return self.ownership == Ownership.MANAGED


UNMANAGED = Verdict(Ownership.UNMANAGED)
MANAGED_BY_TAG = Verdict(Ownership.MANAGED)  # shared: one object, however many users


def carries_tags(user: ConnectUser) -> bool:
    """The user carries one of the tags that would mark it as this tool's."""
    return TAG_MANAGED in user.tags or TAG_SOURCE_ID in user.tags


def pending_key(username: str) -> str:
    """The sort-key suffix of a pending record: usernames may hold any character."""
    return hashlib.sha256(username.encode("utf-8")).hexdigest()


def ownership(user: ConnectUser, ledger: Ledger | None) -> Verdict:
    """Decide whether ``user`` is managed by this tool, not, or in conflict.

    ``ledger`` None means there is no results table: the tag decides, as it is all there
    is (and the safety gate then refuses every delete).
    """
    if ledger is None:
        return MANAGED_BY_TAG if user.managed else UNMANAGED
    record = ledger.records.get(user.user_id)
    if record is not None:
        if not user.managed:
            return Verdict(Ownership.CONFLICT, record, conflict=RECORD_WITHOUT_TAGS)
        if user.source_id != record.source_id:
            return Verdict(Ownership.CONFLICT, record, conflict=SOURCE_ID_DIFFERS)
        return Verdict(Ownership.MANAGED, record)
    if not carries_tags(user):
        return UNMANAGED
    pending = ledger.pending.get(user.username)
    if (
        pending is not None
        and user.managed
        and user.source_id is not None
        and user.source_id == pending.source_id
    ):
        return Verdict(Ownership.MANAGED, confirms=pending)
    return Verdict(Ownership.CONFLICT, conflict=TAGGED_WITHOUT_RECORD)


def confirmed_record(user: ConnectUser, pending: PendingRecord, run_id: str | None) -> OwnedRecord:
    """The record a confirmed pending create (or adoption) becomes."""
    return OwnedRecord(
        user.user_id,
        user.username,
        pending.source_id,
        pending.how,
        run_id,
        pending.kept_security_profile_ids,
    )
