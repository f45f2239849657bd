"""What each username mismatch means and what a person should do about it, said once.

The planner builds every mismatch with the constructors below, so the report's ``detail``
is the one explanation: the alert repeats it with where it happened, the CLI's table shows
the short ``fix`` of the same kind, and nobody words a mismatch a second time.

``mismatch_key`` is the rule for "the same mismatch as last night": an unchanged mismatch
is alerted once and then only listed in the weekly reminder.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from connect_user_sync.domain.models import Mismatch, MismatchKind

# How each source is named in sentences. The single list: the planner, the alerts and the
# CLI all take their wording from here.
SOURCE_LABELS: Mapping[str, str] = {
    "entra": "Entra ID",
    "okta": "Okta",
    "duo": "Duo",
    "identity_center": "IAM Identity Center",
    "file": "the directory file",
}
UNKNOWN_SOURCE = "the identity provider"


def source_label(source_type: str | None) -> str:
    """The name of a source as a sentence uses it ("Entra ID", "the directory file")."""
    return SOURCE_LABELS.get(source_type or "", UNKNOWN_SOURCE)


@dataclass(frozen=True)
class Meaning:
    """One kind of mismatch: what it is, what it does to logins, and the way out."""

    what: str
    effect: str
    fix: str


MEANINGS: Mapping[MismatchKind, Meaning] = {
    MismatchKind.CASE: Meaning(
        "the Connect user differs only in letter case from the asserted username",
        "logins fail; nothing is created for the person",
        "Recreate the Connect user with the asserted spelling, or change the claim",
    ),
    MismatchKind.ATTRIBUTE: Meaning(
        "the Connect user is named after another attribute of the same person",
        "logins fail; nothing is created for the person",
        "Recreate the Connect user as the asserted value, or assert the other attribute",
    ),
    MismatchKind.INVALID: Meaning(
        "the asserted value cannot be a Connect SAML username",
        "the person is skipped",
        "Fix the directory attribute, or assert another attribute",
    ),
    MismatchKind.DUPLICATE: Meaning(
        "several directory users would get the same username",
        "all of them are skipped",
        "Make the attribute unique in the directory",
    ),
    MismatchKind.RENAMED: Meaning(
        "the directory user now asserts another username",
        "a new Connect user is created and the old one deprovisioned",
        "Nothing: handled; tell the agent their new sign-in name",
    ),
    MismatchKind.OWNERSHIP_CONFLICT: Meaning(
        "the Connect user's tags and the tool's own record of the users it manages disagree",
        "the user is not touched",
        "Find out who tagged the user; remove the tags, or approve the adoption",
    ),
}


def fix_for(kind: MismatchKind) -> str:
    """The short way out for a kind of mismatch, as the CLI's table shows it."""
    return MEANINGS[kind].fix


# --------------------------------------------------------------------------- constructors


def case_mismatch(username: str, connect_username: str, source_id: str, source: str) -> Mismatch:
    return Mismatch(
        MismatchKind.CASE,
        username,
        connect_username,
        source_id,
        f"Connect user {connect_username} differs only in letter case from what {source} "
        f"asserts, {username}: logins will fail, because Connect compares usernames "
        f"case-sensitively. Recreate the Connect user as {username}, or change the claim so "
        f"that it sends {connect_username}; nothing was created for this person.",
    )


def attribute_mismatch(
    username: str,
    connect_username: str,
    source_id: str,
    *,
    named_after: str,
    asserted: str,
    source: str,
) -> Mismatch:
    return Mismatch(
        MismatchKind.ATTRIBUTE,
        username,
        connect_username,
        source_id,
        f"Connect user {connect_username} is named after the directory user's {named_after}, "
        f"but {source} asserts the {asserted} {username}: logins will fail. Recreate the "
        f"Connect user as {username}, or assert {named_after} in the SAML claim (and set "
        f"username.attribute to it); nothing was created.",
    )


def invalid_username(shown: str, source_id: str, problem: str, source: str) -> Mismatch:
    return Mismatch(
        MismatchKind.INVALID,
        shown,
        None,
        source_id,
        f"Directory user {source_id} is skipped: {problem}. Fix the attribute in {source}, "
        "or assert another attribute.",
    )


def duplicate_usernames(username: str, source_ids: Sequence[str], source: str) -> list[Mismatch]:
    """One mismatch per directory user involved, each naming all of them."""
    ids = ", ".join(source_ids)
    return [
        Mismatch(
            MismatchKind.DUPLICATE,
            username,
            None,
            source_id,
            f"{len(source_ids)} directory users ({ids}) would all sign in as {username}, so "
            f"all of them are skipped. Make the attribute unique in {source}.",
        )
        for source_id in source_ids
    ]


def renamed(username: str, old_username: str, source_id: str, deprovision_action: str) -> Mismatch:
    return Mismatch(
        MismatchKind.RENAMED,
        username,
        old_username,
        source_id,
        f"Directory user {source_id} now signs in as {username} instead of {old_username}. "
        f"Connect cannot rename users: {username} is created with the same settings and "
        f"{old_username} is deprovisioned ({deprovision_action}). Check that the person can "
        f"sign in as {username}, and re-point anything that referred to the old user "
        "(quick connects, reports).",
    )


# Why a user's ownership is in conflict (domain.ownership decides, these say it).
TAGGED_WITHOUT_RECORD = "tagged_without_record"
SOURCE_ID_DIFFERS = "source_id_differs"
RECORD_WITHOUT_TAGS = "record_without_tags"


def ownership_conflict(
    username: str,
    connect_username: str,
    source_id: str | None,
    *,
    why: str,
    recorded_source_id: str | None = None,
) -> Mismatch:
    """A Connect user whose tags this tool's own record does not back (or the reverse)."""
    if why == RECORD_WITHOUT_TAGS:
        what = (
            f"This tool's record says it manages Connect user {connect_username} (for "
            f"directory user {source_id}), but the user no longer carries its "
            "connect-user-sync tags: somebody removed them."
        )
        way_out = (
            "If the user should be managed again, restore the tags connect-user-sync:managed=true "
            f"and connect-user-sync:source-id={source_id}; if not, delete the record "
            "(PK OWNED#<instance id>, SK USER#<user id>) from the results table."
        )
    elif why == SOURCE_ID_DIFFERS:
        what = (
            f"Connect user {connect_username} carries the source-id tag {source_id}, but this "
            f"tool recorded it for directory user {recorded_source_id}: the tag was changed "
            "by somebody else."
        )
        way_out = f"Set connect-user-sync:source-id back to {recorded_source_id}."
    else:
        what = (
            f"Connect user {connect_username} carries connect-user-sync tags (source-id "
            f"{source_id or 'none'}), but this tool has no record of creating or adopting "
            "it: the tags were written by somebody else, or by a version of this tool that "
            "kept no records."
        )
        way_out = (
            "If the user is one this tool made before it kept records, run apply with "
            '--approve-adoption (or the {"approve_adoption": true} event) to record it; '
            "otherwise remove the connect-user-sync tags from the user."
        )
    return Mismatch(
        MismatchKind.OWNERSHIP_CONFLICT,
        username,
        connect_username,
        source_id,
        f"{what} The user is not touched until a person decides. {way_out}",
    )


# --------------------------------------------------------------------------- identity


def mismatch_key(
    kind: str,
    instance_id: str | None,
    source_id: str | None,
    username: str | None,
    connect_username: str | None,
) -> str:
    """A stable identity for a mismatch, so that an unchanged one is not alerted twice.

    The format is stored in the results table (open mismatches): keep it as it is.
    """
    return "|".join(
        str(part or "") for part in (kind, instance_id, source_id, username, connect_username)
    )


def describe(detail: str, *, source_id: str | None = None, instance_id: str | None = None) -> str:
    """A mismatch for a message to a person: its detail, then who and where."""
    where = [f"directory id {source_id}"] if source_id else []
    if instance_id:
        where.append(f"Connect instance {instance_id}")
    return f"{detail} [{'; '.join(where)}]" if where else detail
