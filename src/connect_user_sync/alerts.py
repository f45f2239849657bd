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

from connect_user_sync.domain.mismatches import source_label
from connect_user_sync.domain.models import ActionKind, RunStatus
from connect_user_sync.domain.report import MismatchRecord, OpenMismatch, RunReport

SUBJECT_LIMIT = 100  # SNS refuses longer subjects
MESSAGE_LIMIT = 250_000  # SNS allows 256 KiB; keep room for the attributes
LISTED = 50  # people named in the plain-English part, per section
JSON_MARKER = "----- machine-readable (JSON) -----"
PRODUCT = "connect-user-sync"
REMINDER_STATUS = "open_mismatches"  # the reminder's SNS status attribute


def held_actions(report: RunReport) -> list[dict[str, Any]]:
    """The held actions as the JSON section lists them, each with its instance."""
    return [
        {**action.to_json(), "instance_id": target.instance_id}
        for target, action in report.held_actions
    ]


def adoption_notes(report: RunReport) -> list[str]:
    """A line per adoption a person should know of: profiles kept, or approval awaited."""
    lines: list[str] = []
    for target in report.targets:
        for action in target.actions:
            if action.kind != ActionKind.ADOPT:
                continue
            kept = action.changes.get("kept_security_profiles")
            kept_text = (
                f", keeping {', '.join(map(str, kept.after))}"
                if kept and isinstance(kept.after, list)
                else ""
            )
            if action.applied and kept_text:
                lines.append(
                    f"  - {action.username} adopted{kept_text} (Connect instance {target.instance_id})"
                )
            elif action.held and not report.dry_run:
                lines.append(
                    f"  - {action.username} waits: {action.error} (Connect instance {target.instance_id})"
                )
    return lines


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
    report: RunReport, new_mismatches: Sequence[MismatchRecord]
) -> tuple[str, str] | None:
    """The subject and body for a run, or None when nobody needs to hear about it."""
    dry_run = report.dry_run
    stopped = report.safety_stop
    mismatches = [] if dry_run else list(new_mismatches)
    interrupted = list(report.interrupted_runs)
    adoptions = adoption_notes(report)
    if not stopped and not mismatches and not interrupted and not adoptions:
        return None
    status = report.status
    source = source_label(report.source.type)
    # Held adoptions wait for an approval, not for a limit: they have their own section.
    held = tuple((t, a) for t, a in report.held_actions if a.kind != ActionKind.ADOPT)
    subject_parts: list[str] = []
    sections: list[str] = []
    prefix = "Dry run: " if dry_run else ""

    if status == RunStatus.FAILED and report.aborted:
        subject_parts.append(f"{prefix}run stopped on an unexpected error")
        errors = list(report.all_errors) or ["no detail was recorded"]
        sections.append(
            "WHAT HAPPENED\nThe run stopped on an unexpected error before it had finished; "
            "what it applied until then is recorded with it. The errors were:\n"
            + "\n".join(f"  - {e}" for e in _listed(errors, len(errors)))
            + "\n\nWHAT TO DO\nThe next run plans again from live state and carries on. If "
            "the error comes back, the logs of the run have the details."
        )
    elif status == RunStatus.FAILED:
        subject_parts.append(f"{prefix}directory read failed, nothing deprovisioned")
        errors = list(report.all_errors) or ["no detail was recorded"]
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
        reasons = sorted({reason for target in report.targets for reason in target.held_because})
        people = [
            f"  - {a.kind.value} {a.username} (Connect instance {t.instance_id})" for t, a in held
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
    elif status == RunStatus.REFUSED:
        subject_parts.append(f"{prefix}run refused by a safety limit")
        sections.append(
            f"WHAT HAPPENED\nA safety limit stopped the run.\n\nWHAT TO DO\n{APPROVE_HINT}"
        )
    if interrupted:
        subject_parts.append(_plural(len(interrupted), "earlier run") + " interrupted")
        sections.append(
            "INTERRUPTED RUNS\nThese runs stopped without finishing (killed, or past their "
            "time) and are marked interrupted in the results table: "
            + ", ".join(interrupted[:LISTED])
            + ". What they applied before they stopped is recorded with them; this run "
            "planned again from live state and carried on where they left off."
        )
    if adoptions:
        subject_parts.append("adoptions to check")
        sections.append(
            "ADOPTIONS\nAn adoption never takes a security profile away; the profiles listed "
            "as kept stay with the user and are never removed by this tool. Check that each "
            "user should keep them:\n" + "\n".join(_listed(adoptions, len(adoptions)))
        )
    if mismatches:
        subject_parts.append(_plural(len(mismatches), "new mismatch", "new mismatches"))
        paragraphs = [f"  - {m.explained}" for m in mismatches]
        sections.append(
            "NEW MISMATCHES\nThese directory users cannot sign in to Connect as things stand "
            "(each is reported once, until it is fixed):\n"
            + "\n".join(_listed(paragraphs, len(paragraphs)))
        )

    header = (
        f"connect-user-sync run {report.run_id} ({report.trigger or 'run'}"
        f"{', dry run' if dry_run else ''}) finished with status {status.value} "
        f"at {report.finished_at}."
    )
    machine = {
        "type": "run_alert",
        "run_id": report.run_id,
        "status": status.value,
        "dry_run": dry_run,
        "trigger": report.trigger,
        "started_at": report.started_at,
        "finished_at": report.finished_at,
        "safety_stop": stopped,
        "held_actions": held_actions(report),
        "new_mismatches": [m.to_json() for m in mismatches],
        "errors": list(report.all_errors),
        "interrupted_runs": interrupted,
        "counts": {t.instance_id: t.counts for t in report.targets},
    }
    body = _with_json(header + "\n\n" + "\n\n".join(sections), machine)
    return _subject(subject_parts), body


def compose_reminder(open_mismatches: Sequence[OpenMismatch]) -> tuple[str, str] | None:
    """The weekly reminder of mismatches still open, or None when there are none."""
    if not open_mismatches:
        return None
    lines = [
        f"  - open since {m.first_seen_at or 'unknown'}: {m.record.explained}"
        for m in open_mismatches
    ]
    count = len(open_mismatches)
    text = (
        f"{_plural(count, 'mismatch', 'mismatches')} reported by connect-user-sync "
        f"{'is' if count == 1 else 'are'} still open. The people concerned cannot sign in to "
        f"Connect until each is fixed; the next full sync notices the fix by itself.\n\n"
        "STILL OPEN\n" + "\n".join(_listed(lines, count))
    )
    machine = {"type": "reminder", "open_mismatches": [m.to_json() for m in open_mismatches]}
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

    def check(self) -> str | None:
        """Why alerts cannot be sent to the topic (missing, forbidden), or None.

        Run before any write, so that a deleted topic shows on a quiet night too. Other
        failures (throttling, the network) raise: they say nothing about the topic.
        """
        from botocore.exceptions import ClientError

        try:
            self.client.get_topic_attributes(TopicArn=self.topic_arn)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("NotFound", "NotFoundException", "InvalidParameter"):
                problem = "does not exist"
            elif code in ("AuthorizationError", "AccessDenied", "AccessDeniedException"):
                problem = "may not be used by this role (sns:GetTopicAttributes, sns:Publish)"
            else:
                raise
            return (
                f"the alerts topic {self.topic_arn} {problem}: this run could not alert anybody. "
                "Fix alerts.topic_arn / ALERTS_TOPIC_ARN (the template creates the topic)"
            )
        return None

    def notify(self, report: RunReport, new_mismatches: Sequence[MismatchRecord]) -> None:
        message = compose_run_alert(report, new_mismatches)
        if message is None:
            return
        subject, body = message
        self._publish(
            subject,
            body,
            {
                "run_id": report.run_id,
                "status": report.status.value,
                "kind": "run_alert",
                "dry_run": "true" if report.dry_run else "false",
            },
        )

    def send_reminder(self, open_mismatches: Sequence[OpenMismatch]) -> bool:
        """Publish the reminder; False when nothing is open and nothing was sent."""
        message = compose_reminder(open_mismatches)
        if message is None:
            return False
        subject, body = message
        run_ids = sorted({m.run_id for m in open_mismatches if m.run_id})
        self._publish(
            subject,
            body,
            {
                "run_id": run_ids[-1] if run_ids else "none",
                "status": REMINDER_STATUS,
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
