"""Value types shared by every layer.

Everything here is immutable and free of I/O so that the planner can be table-tested
and property-tested without any service behind it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from connect_user_sync.domain.bounded import capped

# Tags this tool writes on the Connect users it manages. The prefix keeps them clear of
# anybody else's tags; every key stays well under Connect's 128-character limit.
TAG_PREFIX = "connect-user-sync:"
TAG_MANAGED = TAG_PREFIX + "managed"
TAG_SOURCE_ID = TAG_PREFIX + "source-id"
TAG_EMAIL_HASH = TAG_PREFIX + "email-hash"
TAG_DISABLED = TAG_PREFIX + "disabled"
TAG_ADOPTED = TAG_PREFIX + "adopted"


def email_fingerprint(email: str | None) -> str:
    """The value of ``TAG_EMAIL_HASH``: a short digest of the last e-mail applied.

    SearchUsers does not return e-mails, so this tag is how a run notices a changed address
    without a DescribeUser per user.
    """
    return hashlib.sha256((email or "").encode("utf-8")).hexdigest()[:16]


class ActionKind(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    ADOPT = "adopt"
    DISABLE = "disable"
    ENABLE = "enable"
    DELETE = "delete"


DEPROVISION_KINDS = frozenset({ActionKind.DISABLE, ActionKind.DELETE})


class ActionStatus(StrEnum):
    PLANNED = "planned"
    APPLIED = "applied"
    FAILED = "failed"
    HELD = "held"


class MismatchKind(StrEnum):
    CASE = "case_mismatch"
    ATTRIBUTE = "attribute_mismatch"
    INVALID = "invalid_username"
    DUPLICATE = "duplicate_username"
    RENAMED = "renamed"
    OWNERSHIP_CONFLICT = "ownership_conflict"


class RunStatus(StrEnum):
    PLANNED = "planned"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    REFUSED = "refused"
    FAILED = "failed"
    BUSY = "busy"  # another run held a target: nothing was changed there
    # Only in the results table's history, never a report's final status: a run's item says
    # RUNNING from its start until it is recorded; a later run marks one whose heartbeat
    # stopped (killed, timed out) INTERRUPTED.
    RUNNING = "running"
    INTERRUPTED = "interrupted"


def _frozen(mapping: Mapping[str, str | None] | None) -> Mapping[str, str | None]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True, slots=True)
class DirectoryUser:
    """A member of an in-scope directory group, as the identity provider holds it.

    ``attributes`` holds every candidate username attribute the source knows
    (``upn``, ``mail``, ``email``, ``login``, ``username`` ...), raw and unnormalized,
    so that the planner can spot a Connect user named after the wrong one.
    """

    source_id: str
    attributes: Mapping[str, str | None] = field(default_factory=dict)
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    enabled: bool = True
    groups: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Outside data is bounded here, once, for every source: a 10 MB attribute must not
        # become a 10 MB report, alert or DynamoDB item (see ``domain.bounded``).
        object.__setattr__(self, "source_id", _bounded(self.source_id) or "")
        object.__setattr__(
            self, "attributes", _frozen({k: _bounded(v) for k, v in self.attributes.items()})
        )
        for name in ("first_name", "last_name", "email"):
            object.__setattr__(self, name, _bounded(getattr(self, name)))


def _bounded(value: str | None) -> str | None:
    if not isinstance(value, str):
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates (a JSON "\ud800"): no service takes them
        value = value.encode("utf-8", "replace").decode("utf-8")
    return capped(value)


@dataclass(frozen=True)
class GroupRead:
    """How one in-scope group read: its members' count and whether the read finished."""

    name: str
    group_id: str | None
    member_count: int
    complete: bool = True


@dataclass(frozen=True)
class DirectorySnapshot:
    """The result of reading the directory.

    ``complete`` is False whenever there is any doubt that every member of every group
    was seen (a failed page, a throttle that never cleared, a group that vanished).
    Deprovisioning is only ever decided on a complete snapshot.
    """

    users: tuple[DirectoryUser, ...]
    groups: tuple[GroupRead, ...] = ()
    complete: bool = True
    errors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PhoneSettings:
    phone_type: str = "SOFT_PHONE"
    auto_accept: bool = False
    after_contact_work_timeout: int = 0
    desk_phone_number: str | None = None


@dataclass(frozen=True)
class GroupRule:
    """One entry of ``groups:`` in the configuration, with names still unresolved."""

    key: str  # display name, or the directory id when ``by_id``
    by_id: bool
    security_profiles: tuple[str, ...]
    routing_profile: str
    hierarchy_group: str | None = None
    phone: PhoneSettings = field(default_factory=PhoneSettings)

    @property
    def label(self) -> str:
        return f"id:{self.key}" if self.by_id else self.key


@dataclass(frozen=True, slots=True)
class DesiredSettings:
    """What a managed Connect user should look like, with Connect ids resolved."""

    security_profile_ids: frozenset[str]
    routing_profile_id: str
    hierarchy_group_id: str | None
    phone: PhoneSettings
    first_name: str | None
    last_name: str | None
    email: str | None


@dataclass(frozen=True, slots=True)
class ConnectUser:
    """A user as SearchUsers returns it (note: no e-mail; see ``TAG_EMAIL_HASH``)."""

    user_id: str
    arn: str
    username: str
    security_profile_ids: frozenset[str]
    routing_profile_id: str | None
    hierarchy_group_id: str | None
    phone: PhoneSettings | None
    first_name: str | None
    last_name: str | None
    tags: Mapping[str, str | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tags", _frozen(self.tags))

    @property
    def managed(self) -> bool:
        return self.tags.get(TAG_MANAGED) == "true"

    @property
    def source_id(self) -> str | None:
        return self.tags.get(TAG_SOURCE_ID)

    @property
    def disabled(self) -> bool:
        return bool(self.tags.get(TAG_DISABLED))


@dataclass(frozen=True, slots=True)
class Change:
    before: object
    after: object


@dataclass(slots=True)
class SyncAction:
    """One step of a plan, and later its outcome.

    Slotted, like the other per-user values here: a first load plans 50,000 of them.
    """

    kind: ActionKind
    username: str
    source_id: str | None
    user_id: str | None
    changes: dict[str, Change] = field(default_factory=dict)
    desired: DesiredSettings | None = None
    # Tags to set and to remove, computed by the planner so that apply is mechanical.
    set_tags: dict[str, str] = field(default_factory=dict)
    remove_tags: tuple[str, ...] = ()
    arn: str | None = None
    status: ActionStatus = ActionStatus.PLANNED
    error: str | None = None

    @property
    def deprovisions(self) -> bool:
        return self.kind in DEPROVISION_KINDS


@dataclass(frozen=True, slots=True)
class Mismatch:
    kind: MismatchKind
    username: str
    connect_username: str | None
    source_id: str | None
    detail: str


@dataclass
class TargetPlan:
    """Everything one run will do, or did, to one Connect instance."""

    instance_id: str
    region: str
    actions: list[SyncAction] = field(default_factory=list)
    unchanged: int = 0
    managed_count: int = 0  # active managed users: the base of the percentage limit
    hold_reasons: list[str] = field(default_factory=list)
    # Ownership (domain.ownership): how it was decided, users left alone and why, and the
    # records to write without a Connect write (creates a killed run left unrecorded).
    ownership: str = "tags only (no results table)"
    protected: list[ProtectedUser] = field(default_factory=list)
    not_adopted: list[str] = field(default_factory=list)
    confirm: list[OwnedRecord] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class OwnedRecord:
    """The tool's own record that it manages a Connect user (the results table's proof).

    ``how`` is ``created`` or ``adopted``; ``kept_security_profile_ids`` are profiles an
    adopted user held that the configuration does not grant, which the tool never removes.
    """

    user_id: str
    username: str
    source_id: str
    how: str = "created"
    run_id: str | None = None
    kept_security_profile_ids: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class PendingRecord:
    """Written before a CreateUser (or an adoption's tags), deleted once the record is."""

    username: str
    source_id: str
    how: str = "created"
    kept_security_profile_ids: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class ProtectedUser:
    """A Connect user left alone because it holds a protected security profile."""

    username: str
    user_id: str
    security_profile_ids: frozenset[str]
    would: str  # the action the plan would otherwise have taken
