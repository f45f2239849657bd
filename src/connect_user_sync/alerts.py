"""Alerts on SNS: one readable message per run that needs a person, and a weekly reminder.

A run needs a person when it found mismatches nobody has been told about yet, or when a
safety stop kept it from finishing its job: deprovisioning held back (status ``refused``,
or ``held`` actions), or a directory that could not be read completely (status
``failed``). A dry run only ever alerts on a safety stop: it is somebody looking already.

Each message is written for the person on call: what happened, who is affected and what
to do, in plain sentences. Below a marker line follows the same facts as JSON, for the
ticketing system or a chat bot. ``run_id`` and ``status`` also travel as SNS message
attributes so subscriptions can filter on them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

SUBJECT_LIMIT = 100  # SNS refuses longer subjects
MESSAGE_LIMIT = 250_000  # SNS allows 256 KiB; keep room for the attributes
LISTED = 50  # people named in the plain-English part, per section
JSON_MARKER = "----- machine-readable (JSON) -----"
PRODUCT = "connect-user-sync"

SOURCE_NAMES = {"entra": "Entra ID", "okta": "Okta", "duo": "Duo", "file": "the directory file"}


def _source_name(report: Mapping[str, Any]) -> str:
    source = report.get("source") or {}
    return SOURCE_NAMES.get(str(source.get("type")), "the identity provider")


def _where(mismatch: Mapping[str, Any]) -> str:
    instance = mismatch.get("instance_id")
    return f" (Connect instance {instance})" if instance else ""


def describe_mismatch(mismatch: Mapping[str, Any], source: str = "the identity provider") -> str:
    """One paragraph a person can act on: what is wrong, the effect, and the fix."""
    kind = mismatch.get("kind")
    asserted = mismatch.get("username") or "(no value)"
    connect_name = mismatch.get("connect_username")
    source_id = mismatch.get("source_id")
    who = f" (directory id {source_id})" if source_id else ""
    where = _where(mismatch)
    if kind == "case_mismatch":
        text = (
            f"Connect user {connect_name}{where} differs only in letter case from what {source} "
            f"asserts, {asserted}{who}: logins will fail, because Connect compares usernames "
            f"case-sensitively. Nothing was created for this person. Recreate the Connect user "
            f"as {asserted}, or change the claim so that it sends {connect_name}."
        )
    elif kind == "attribute_mismatch":
        text = (
            f"Connect user {connect_name}{where} is named after another attribute of the same "
            f"directory user{who} than the one {source} asserts at login ({asserted}): logins "
            f"will fail. Nothing was created. Recreate the Connect user as {asserted}, or point "
            f"username.attribute (and the IdP claim) at the attribute the Connect user is "
            f"named after."
        )
    elif kind == "invalid_username":
        text = (
            f"{asserted}{who} cannot be a Connect SAML username (2 to 64 characters from "
            f"A-Z a-z 0-9 _ . @ -): the user was skipped. Fix the attribute in {source}, or "
            f"assert another attribute (the mail address, say, for guest accounts)."
        )
    elif kind == "duplicate_username":
        text = (
            f"Several directory users would get the username {asserted}; this one{who} is one of "
            f"them. All of them were skipped{where}. Make the attribute unique in {source}."
        )
    elif kind == "renamed":
        text = (
            f"Directory user{who} now asserts {asserted} instead of {connect_name}{where}. Connect "
            f"cannot rename users, so {asserted} is created with the same settings and "
            f"{connect_name} is deprovisioned. Check that the person can sign in as {asserted}; "
            f"re-point anything that referred to the old user (quick connects, reports)."
        )
    else:
        text = f"{kind} for {asserted}{who}{where}."
    detail = mismatch.get("detail")
    if detail and str(detail) not in text:
        text += f" Detail: {detail}"
    return text


def held_actions(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {**action, "instance_id": target.get("instance_id")}
        for target in report.get("targets", ())
        for action in target.get("actions", ())
        if action.get("status") == "held"
    ]


def safety_stop(report: Mapping[str, Any]) -> bool:
    """True when a safety rule kept the run from doing its whole job."""
    return report.get("status") in ("refused", "failed") or bool(held_actions(report))


def _ascii(text: str) -> str:
    cleaned = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in text)
    return cleaned.strip() or PRODUCT


def _subject(parts: Sequence[str], tail: str = "") -> str:
    subject = _ascii(f"{PRODUCT}: " + "; ".join(parts) + tail)
    if len(subject) > SUBJECT_LIMIT:
        subject = subject[: SUBJECT_LIMIT - 3].rstrip() + "..."
    return subject


def _plural(count: int, word: str, many: str | None = None) -> str:
    return f"{count} {word if count == 1 else (many or word + 's')}"


def _listed(lines: list[str], total: int) -> list[str]:
    if total > LISTED:
        more = (
            f"... and {total - LISTED} more (see the JSON below, or the run's items in DynamoDB)."
        )
        return [*lines[:LISTED], more]
    return lines


APPROVE_HINT = (
    "If the change is expected, run again with approval: invoke the sync function with "
    '{"approve_deprovision": true}, or `connect-user-sync apply --approve-deprovision`. '
    "If it is not, fix the directory first; nothing has been deprovisioned."
)


def compose_run_alert(
    report: Mapping[str, Any], new_mismatches: Sequence[Mapping[str, Any]]
) -> tuple[str, str] | None:
    """The subject and body for a run, or None when nobody needs to hear about it."""
    dry_run = bool(report.get("dry_run"))
    stopped = safety_stop(report)
    mismatches = [] if dry_run else list(new_mismatches)
    if not stopped and not mismatches:
        return None
    status = str(report.get("status"))
    run_id = str(report.get("run_id"))
    source = _source_name(report)
    held = held_actions(report)
    subject_parts: list[str] = []
    sections: list[str] = []
    prefix = "Dry run: " if dry_run else ""

    if status == "failed":
        subject_parts.append(f"{prefix}directory read failed, nothing deprovisioned")
        errors = [str(e) for e in report.get("errors", ())] or ["no detail was recorded"]
        sections.append(
            f"WHAT HAPPENED\n{source[0].upper() + source[1:]} could not be read completely, so "
            f"this run deprovisioned nobody (creates and updates from what was read may have "
            f"gone ahead). The errors were:\n"
            + "\n".join(f"  - {e}" for e in _listed(errors, len(errors)))
            + "\n\nWHAT TO DO\nCheck the credentials (the secret in Secrets Manager), the "
            "directory's availability and the group names in the configuration. The next run "
            "retries by itself; invoke the function by hand to retry sooner."
        )
    if held:
        subject_parts.append(f"{prefix}{_plural(len(held), 'deprovisioning')} held back")
        reasons = sorted(
            {
                str(reason)
                for target in report.get("targets", ())
                for reason in target.get("held_because", ()) or ()
            }
        )
        people = [
            f"  - {a.get('action')} {a.get('username')} (Connect instance {a.get('instance_id')})"
            for a in held
        ]
        sections.append(
            "WHAT HAPPENED\n"
            + (
                "This dry run shows that a safety limit would hold back deprovisioning"
                if dry_run
                else "A safety limit held back deprovisioning"
            )
            + (f": {'; '.join(reasons)}" if reasons else "")
            + ".\n\nWHO IS AFFECTED\nThese Connect users would have been deprovisioned "
            "and were left as they are:\n"
            + "\n".join(_listed(people, len(people)))
            + f"\n\nWHAT TO DO\n{APPROVE_HINT}"
        )
    elif status == "refused":
        subject_parts.append(f"{prefix}run refused by a safety limit")
        sections.append(
            f"WHAT HAPPENED\nA safety limit stopped the run.\n\nWHAT TO DO\n{APPROVE_HINT}"
        )
    if mismatches:
        subject_parts.append(_plural(len(mismatches), "new mismatch", "new mismatches"))
        paragraphs = [f"  - {describe_mismatch(m, source)}" for m in mismatches]
        sections.append(
            "NEW MISMATCHES\nThese directory users cannot sign in to Connect as things stand "
            "(each is reported once, until it is fixed):\n"
            + "\n".join(_listed(paragraphs, len(paragraphs)))
        )

    header = (
        f"connect-user-sync run {run_id} ({report.get('trigger') or 'run'}"
        f"{', dry run' if dry_run else ''}) finished with status {status} "
        f"at {report.get('finished_at')}."
    )
    machine = {
        "type": "run_alert",
        "run_id": run_id,
        "status": status,
        "dry_run": dry_run,
        "trigger": report.get("trigger"),
        "started_at": report.get("started_at"),
        "finished_at": report.get("finished_at"),
        "safety_stop": stopped,
        "held_actions": held,
        "new_mismatches": mismatches,
        "errors": list(report.get("errors", ())),
        "counts": {t.get("instance_id"): t.get("counts") for t in report.get("targets", ())},
    }
    body = _with_json(header + "\n\n" + "\n\n".join(sections), machine)
    return _subject(subject_parts), body


def compose_reminder(open_mismatches: Sequence[Mapping[str, Any]]) -> tuple[str, str] | None:
    """The weekly reminder of mismatches still open, or None when there are none."""
    if not open_mismatches:
        return None
    lines = [
        f"  - open since {m.get('first_seen_at') or 'unknown'}: {describe_mismatch(m)}"
        for m in open_mismatches
    ]
    count = len(open_mismatches)
    text = (
        f"{_plural(count, 'mismatch', 'mismatches')} reported by connect-user-sync "
        f"{'is' if count == 1 else 'are'} still open. The people concerned cannot sign in to "
        f"Connect until each is fixed; the next full sync notices the fix by itself.\n\n"
        "STILL OPEN\n" + "\n".join(_listed(lines, count))
    )
    machine = {"type": "reminder", "open_mismatches": list(open_mismatches)}
    subject = _subject([f"reminder, {_plural(count, 'mismatch', 'mismatches')} still open"])
    return subject, _with_json(text, machine)


def _with_json(text: str, machine: Mapping[str, Any]) -> str:
    """Append the JSON section, trimming the long lists if SNS's size limit requires it."""
    data = dict(machine)

    def render() -> str:
        return (
            f"{text}\n\n{JSON_MARKER}\n{json.dumps(data, indent=2, sort_keys=True, default=str)}\n"
        )

    body = render()
    for key in ("held_actions", "new_mismatches", "open_mismatches", "errors"):
        if len(body.encode("utf-8")) <= MESSAGE_LIMIT:
            break
        if isinstance(data.get(key), list):
            data[f"{key}_total"] = len(data[key])
            data[key] = data[key][:LISTED]
            body = render()
    if len(body.encode("utf-8")) > MESSAGE_LIMIT:
        body = body.encode("utf-8")[:MESSAGE_LIMIT].decode("utf-8", "ignore")
    return body


def parse_json_section(body: str) -> dict[str, Any]:
    """The machine-readable part of a message this module wrote."""
    _, _, tail = body.partition(JSON_MARKER)
    value = json.loads(tail)
    assert isinstance(value, dict)
    return value


class SnsAlerter:
    """An ``Alerter`` that publishes to one SNS topic.

    Parameters
    ----------
    topic_arn:
        The alerts topic (``alerts.topic_arn`` or the ``ALERTS_TOPIC_ARN`` environment).
    client:
        A boto3 ``sns`` client; by default one from the standard AWS configuration.
    """

    def __init__(self, topic_arn: str, *, client: Any = None) -> None:
        if client is None:
            import boto3

            region = topic_arn.split(":")[3] if topic_arn.count(":") >= 5 else None
            client = boto3.client("sns", region_name=region or None)
        self.topic_arn = topic_arn
        self.client = client

    def notify(
        self, report: Mapping[str, Any], new_mismatches: Sequence[Mapping[str, Any]]
    ) -> None:
        message = compose_run_alert(report, new_mismatches)
        if message is None:
            return
        subject, body = message
        self._publish(
            subject,
            body,
            {
                "run_id": str(report.get("run_id")),
                "status": str(report.get("status")),
                "kind": "run_alert",
                "dry_run": "true" if report.get("dry_run") else "false",
            },
        )

    def send_reminder(self, open_mismatches: Sequence[Mapping[str, Any]]) -> bool:
        """Publish the reminder; False when nothing is open and nothing was sent."""
        message = compose_reminder(open_mismatches)
        if message is None:
            return False
        subject, body = message
        run_ids = sorted({str(m.get("run_id")) for m in open_mismatches if m.get("run_id")})
        self._publish(
            subject,
            body,
            {
                "run_id": run_ids[-1] if run_ids else "none",
                "status": "open_mismatches",
                "kind": "reminder",
            },
        )
        return True

    def _publish(self, subject: str, body: str, attributes: Mapping[str, str]) -> None:
        self.client.publish(
            TopicArn=self.topic_arn,
            Subject=subject,
            Message=body,
            MessageAttributes={
                name: {"DataType": "String", "StringValue": value or "none"}
                for name, value in attributes.items()
            },
        )
