"""What the deployment allows, checked against the configuration before any write.

The stack (``template.yaml``) scopes the function's Connect permissions to the instances
in its ``TargetInstanceArns`` parameter and its ``sts:AssumeRole`` permission to the roles
in ``TargetAccountRoleArns``, and hands both lists to the function as
``TARGET_INSTANCE_ARNS`` and ``ASSUMABLE_ROLE_ARNS`` (comma-separated). A target outside
them would only fail with AccessDenied half-way through a run; ``check_deployment_scope``
makes it a configuration error that names the target and the parameter to change, before
the first call to Connect.

Without ``TARGET_INSTANCE_ARNS`` (the CLI on someone's machine) nothing is checked: the
IAM permissions of whoever runs it decide.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from connect_user_sync.config.model import Config
from connect_user_sync.errors import ConfigError

TARGET_INSTANCE_ARNS_ENV = "TARGET_INSTANCE_ARNS"
ASSUMABLE_ROLE_ARNS_ENV = "ASSUMABLE_ROLE_ARNS"

_INSTANCE_ARN = re.compile(
    r"^arn:aws[a-z-]*:connect:([a-z0-9-]+):(\d{12}):instance/"
    r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
)
_ROLE_ACCOUNT = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/")
SHOWN = 5  # allowed instances listed in a message


@dataclass(frozen=True)
class AllowedInstance:
    """One entry of ``TARGET_INSTANCE_ARNS``."""

    arn: str
    region: str
    account_id: str
    instance_id: str


def _entries(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def allowed_instances(text: str) -> tuple[AllowedInstance, ...]:
    """The instances of a ``TARGET_INSTANCE_ARNS`` value; a malformed one is an error."""
    found: list[AllowedInstance] = []
    for entry in _entries(text):
        match = _INSTANCE_ARN.match(entry)
        if match is None:
            raise ConfigError(
                TARGET_INSTANCE_ARNS_ENV,
                f"{entry[:120]!r} is not a Connect instance ARN",
                "set the stack's TargetInstanceArns to ARNs like "
                "arn:aws:connect:REGION:ACCOUNT:instance/INSTANCE_ID and redeploy",
            )
        region, account, instance_id = match.groups()
        found.append(AllowedInstance(entry, region, account, instance_id))
    return tuple(found)


def _listed(instances: tuple[AllowedInstance, ...]) -> str:
    names = [i.arn for i in instances[:SHOWN]]
    more = len(instances) - SHOWN
    return ", ".join(names) + (f" and {more} more" if more > 0 else "")


def check_deployment_scope(config: Config, environ: Mapping[str, str] | None = None) -> None:
    """Raise ``ConfigError`` for a target or role the deployment's IAM does not cover."""
    env = os.environ if environ is None else environ
    raw = (env.get(TARGET_INSTANCE_ARNS_ENV) or "").strip()
    if not raw:
        return
    allowed = allowed_instances(raw)
    roles = frozenset(_entries(env.get(ASSUMABLE_ROLE_ARNS_ENV) or ""))
    for index, target in enumerate(config.targets):
        path = f"targets[{index}]"
        matches = [
            a
            for a in allowed
            if a.instance_id == target.instance_id
            and a.region == target.region
            and (target.account_id is None or a.account_id == target.account_id)
        ]
        if not matches:
            raise ConfigError(
                path,
                f"the Connect instance {target.region}/{target.instance_id} is not one this "
                f"deployment may change (TargetInstanceArns: {_listed(allowed)})",
                "add the instance's ARN to the stack's TargetInstanceArns parameter and "
                "redeploy, or remove the target",
            )
        if target.role_arn:
            _check_role(f"{path}.role_arn", target.role_arn, roles, matches[0].account_id)
    source = config.source.identity_center
    if source is not None and source.role_arn:
        _check_role("source.identity_center.role_arn", source.role_arn, roles, None)


def _check_role(path: str, role_arn: str, roles: frozenset[str], account: str | None) -> None:
    if role_arn not in roles:
        raise ConfigError(
            path,
            "is not a role this deployment may assume",
            "add it to the stack's TargetAccountRoleArns parameter and redeploy",
        )
    match = _ROLE_ACCOUNT.match(role_arn)
    if account is not None and match is not None and match.group(1) != account:
        raise ConfigError(
            path,
            f"is a role in account {match.group(1)}, but the instance is in account {account}",
            "use the role that templates/target-account-role.yaml created in the "
            "instance's account",
        )


__all__ = [
    "ASSUMABLE_ROLE_ARNS_ENV",
    "TARGET_INSTANCE_ARNS_ENV",
    "AllowedInstance",
    "allowed_instances",
    "check_deployment_scope",
]
