"""Parsing and validating the configuration document, with errors a person can act on.

The same document is read by the CLI (YAML or JSON file) and by the Lambda functions
(SSM parameter or packaged file). Every error names the key's path and how to fix it;
unknown keys are errors too, because a misspelt safety limit must not silently fall back
to a default.

The validator is hand-written rather than pydantic: its messages name the key path, the
fix and the closest allowed key, which is what people see most of this tool, and it keeps
the Lambda layer free of pydantic-core.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from connect_user_sync.config.document import MAX_BYTES, decode, load_document
from connect_user_sync.config.file_section import parse_file_source
from connect_user_sync.config.model import (
    DEPROVISION_ACTIONS,
    PHONE_TYPES,
    SOURCE_TYPES,
    USERNAME_ATTRIBUTES,
    Config,
    DeprovisionConfig,
    SafetyConfig,
    SourceConfig,
    TargetConfig,
    UsernameConfig,
)
from connect_user_sync.config.section import REGION as _REGION
from connect_user_sync.config.section import ROLE_ARN as _ROLE_ARN
from connect_user_sync.config.section import ROLE_ARN_EXAMPLE, Section
from connect_user_sync.config.sources import parse_idp_source
from connect_user_sync.domain.bounded import shown
from connect_user_sync.domain.models import GroupRule, PhoneSettings
from connect_user_sync.domain.usernames import normalize
from connect_user_sync.errors import ConfigError

# The section reader, under the name the other parser modules use for it.
_Section = Section

_INSTANCE_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_INSTANCE_ARN = re.compile(
    r"^arn:aws[a-z-]*:connect:([a-z0-9-]+):(\d{12}):instance/"
    r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
)
_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]+(\.fifo)?$")


# --------------------------------------------------------------------------- sections


def _parse_source(root: _Section) -> SourceConfig:
    sec = root.section("source", required=True)
    assert sec is not None
    sec.check_keys(("type", *SOURCE_TYPES))
    kind = sec.choice("type", SOURCE_TYPES)
    for other in SOURCE_TYPES:
        if other != kind and sec.data.get(other) is not None:
            raise ConfigError(
                sec.at(other),
                f"settings for '{other}' while type is '{kind}'",
                f"remove '{other}:' or set type: {other}",
            )
    sub = sec.section(kind, required=True)
    assert sub is not None
    if kind == "file":
        return SourceConfig(kind, file=parse_file_source(sub))
    return parse_idp_source(kind, sub)


def _parse_username(root: _Section, source_type: str) -> UsernameConfig:
    sec = root.section("username") or _Section({}, "username")
    sec.check_keys(("attribute", "lowercase"))
    allowed = USERNAME_ATTRIBUTES[source_type]
    default = allowed[0]
    attribute = sec.text("attribute", default=default) or default
    if attribute not in allowed:
        raise ConfigError(
            sec.at("attribute"),
            f"{shown(attribute)} is not an attribute the {source_type} source offers",
            f"use one of {', '.join(allowed)}, matching the claim your IdP sends as RoleSessionName",
        )
    return UsernameConfig(attribute, bool(sec.get("lowercase", bool, False)))


def _parse_phone(sec: _Section | None) -> PhoneSettings:
    if sec is None:
        return PhoneSettings()
    sec.check_keys(("type", "auto_accept", "after_contact_work_timeout", "desk_phone_number"))
    phone_type = sec.choice("type", PHONE_TYPES, default="SOFT_PHONE")
    timeout = sec.get("after_contact_work_timeout", int, 0) or 0
    if timeout < 0:
        raise ConfigError(
            sec.at("after_contact_work_timeout"),
            f"{timeout} is negative",
            "use 0 (no limit) or a number of seconds",
        )
    desk = sec.text("desk_phone_number")
    if phone_type == "DESK_PHONE" and not desk:
        raise ConfigError(
            sec.at("desk_phone_number"),
            "missing for a DESK_PHONE",
            "give the E.164 number, e.g. +12065550100, or use SOFT_PHONE",
        )
    return PhoneSettings(phone_type, bool(sec.get("auto_accept", bool, False)), timeout, desk)


def _parse_groups(root: _Section) -> tuple[GroupRule, ...]:
    raw = root.data.get("groups")
    if not isinstance(raw, list) or not raw:
        raise ConfigError(
            "groups",
            "expected a non-empty list of directory groups",
            "list at least one group with its security_profiles and routing_profile",
        )
    rules: list[GroupRule] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        sec = _Section(item, f"groups[{index}]")
        sec.check_keys(
            ("name", "id", "security_profiles", "routing_profile", "hierarchy_group", "phone")
        )
        name, gid = sec.text("name"), sec.text("id")
        if bool(name) == bool(gid):
            raise ConfigError(
                sec.at("name"),
                "give exactly one of 'name' or 'id'",
                "name the group by its display name or its directory id",
            )
        key = gid or name
        assert key is not None
        label = f"id:{key}" if gid else key
        if label in seen:
            raise ConfigError(
                sec.at("id" if gid else "name"),
                f"group {shown(label)} is listed twice",
                "merge the two entries",
            )
        seen.add(label)
        profiles = sec.string_list("security_profiles")
        if not 1 <= len(profiles) <= 10:
            raise ConfigError(
                sec.at("security_profiles"),
                f"{len(profiles)} security profiles given",
                "list 1 to 10 security profile names (Connect's limit)",
            )
        rules.append(
            GroupRule(
                key=key,
                by_id=bool(gid),
                security_profiles=tuple(profiles),
                routing_profile=sec.required_text("routing_profile"),
                hierarchy_group=sec.text("hierarchy_group"),
                phone=_parse_phone(sec.section("phone")),
            )
        )
    return tuple(rules)


def _parse_targets(root: _Section) -> tuple[TargetConfig, ...]:
    raw = root.data.get("targets")
    if not isinstance(raw, list) or not raw:
        raise ConfigError(
            "targets",
            "expected a non-empty list of Connect instances",
            "add '- instance_id: ...' and 'region: ...'",
        )
    targets: list[TargetConfig] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        sec = _Section(item, f"targets[{index}]")
        sec.check_keys(("instance_id", "instance_arn", "region", "role_arn", "external_id"))
        instance_id = sec.matching(
            "instance_id", _INSTANCE_ID, "11111111-2222-3333-4444-555555555555 (lower-case UUID)"
        )
        arn = sec.matching(
            "instance_arn", _INSTANCE_ARN, "arn:aws:connect:REGION:ACCOUNT:instance/INSTANCE_ID"
        )
        region = sec.matching("region", _REGION, "us-east-1")
        account = None
        if arn:
            match = _INSTANCE_ARN.match(arn)
            assert match is not None
            arn_region, account, arn_id = match.groups()
            if instance_id and instance_id != arn_id:
                raise ConfigError(
                    sec.at("instance_id"),
                    "differs from the id inside instance_arn",
                    "give only one of instance_id and instance_arn",
                )
            if region and region != arn_region:
                raise ConfigError(
                    sec.at("region"),
                    f"differs from the region in instance_arn ({arn_region})",
                    "remove region or make them agree",
                )
            instance_id, region = arn_id, arn_region
        if not instance_id:
            raise ConfigError(
                sec.at("instance_id"), "missing", "give instance_id (with region) or instance_arn"
            )
        if not region:
            raise ConfigError(
                sec.at("region"), "missing", "give the instance's AWS Region, e.g. us-east-1"
            )
        role_arn = sec.matching("role_arn", _ROLE_ARN, ROLE_ARN_EXAMPLE)
        external_id = sec.text("external_id")
        if external_id and not role_arn:
            raise ConfigError(
                sec.at("external_id"),
                "set without role_arn",
                "remove it or add the role_arn it belongs to",
            )
        target = TargetConfig(instance_id, region, account, role_arn, external_id)
        if target.key in seen:
            raise ConfigError(
                sec.at("instance_id"),
                "this instance is listed twice",
                "remove the duplicate target",
            )
        seen.add(target.key)
        targets.append(target)
    return tuple(targets)


def _parse_deprovision(root: _Section) -> DeprovisionConfig:
    sec = root.section("deprovision") or _Section({}, "deprovision")
    sec.check_keys(("action", "disabled_security_profile", "disabled_routing_profile"))
    action = sec.choice("action", DEPROVISION_ACTIONS, default="disable")
    profile = sec.text("disabled_security_profile")
    if action == "disable" and not profile:
        raise ConfigError(
            sec.at("disabled_security_profile"),
            "required when action is disable",
            "name a Connect security profile with no permissions (e.g. 'Disabled'), or choose action: report",
        )
    return DeprovisionConfig(action, profile, sec.text("disabled_routing_profile"))


def _parse_safety(root: _Section) -> SafetyConfig:
    sec = root.section("safety") or _Section({}, "safety")
    sec.check_keys(
        (
            "max_deprovision",
            "max_deprovision_percent",
            "protected_usernames",
            "protected_security_profiles",
            "adopt_existing",
        )
    )
    limit = sec.get("max_deprovision", int, 25)
    percent = sec.get("max_deprovision_percent", float, 10.0)
    assert limit is not None
    assert percent is not None
    if limit < 0:
        raise ConfigError(
            sec.at("max_deprovision"),
            f"{limit} is negative",
            "use 0 to hold every deprovisioning, or a positive limit",
        )
    if not 0 <= percent <= 100:
        raise ConfigError(
            sec.at("max_deprovision_percent"),
            f"{percent} is outside 0..100",
            "give a percentage between 0 and 100",
        )
    protected = frozenset(normalize(name) for name in sec.string_list("protected_usernames"))
    profiles = (
        tuple(sec.string_list("protected_security_profiles"))
        if sec.data.get("protected_security_profiles") is not None
        else None
    )
    adopt = bool(sec.get("adopt_existing", bool, False))
    return SafetyConfig(limit, percent, protected, adopt, profiles)


def parse_config(document: object) -> Config:
    """Validate a loaded document and return the typed configuration."""
    root = _Section(document, "")
    root.check_keys(
        ("source", "username", "groups", "targets", "deprovision", "safety", "results", "alerts")
    )
    source = _parse_source(root)
    username = _parse_username(root, source.type)
    results = root.section("results") or _Section({}, "results")
    results.check_keys(("table",))
    alerts = root.section("alerts") or _Section({}, "alerts")
    alerts.check_keys(("topic_arn",))
    return Config(
        source=source,
        username=username,
        groups=_parse_groups(root),
        targets=_parse_targets(root),
        deprovision=_parse_deprovision(root),
        safety=_parse_safety(root),
        results_table=results.text("table"),
        alerts_topic_arn=alerts.matching(
            "topic_arn", _TOPIC_ARN, "arn:aws:sns:REGION:ACCOUNT:TOPIC"
        ),
    )


def parse_text(text: str, origin: str = "config") -> Config:
    """Parse YAML or JSON text (JSON is tried first; YAML is a superset anyway).

    YAML aliases and nesting are limited and every parser failure is a ``ConfigError``
    (``config.document``).
    """
    document = load_document(text, origin)
    if document is None:
        raise ConfigError(origin, "the document is empty", "start from the example in the README")
    try:
        return parse_config(document)
    except ConfigError:
        raise
    except Exception as exc:  # whatever the document holds, a message and no traceback
        raise ConfigError(
            origin,
            f"the document cannot be read: {type(exc).__name__}: {shown(str(exc))}",
            "compare it with the example in the README (keys are plain words, values "
            "strings, numbers, lists or mappings)",
        ) from None


def load_config(path: str | Path) -> Config:
    """Read and validate a configuration file. Relative source paths stay as written."""
    file = Path(path)
    try:
        with file.open("rb") as handle:  # bounded: /dev/zero must not fill the memory
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError(
            "--config",
            f"cannot read {file}: {exc.strerror or exc}",
            "give the path of an existing YAML or JSON file",
        ) from exc
    config = parse_text(decode(data, str(file)), str(file))
    if config.source.file and "://" not in config.source.file.path:
        # A relative directory path is relative to the config file, not to the cwd.
        resolved = (file.parent / config.source.file.path).resolve()
        config = _with_file_path(config, str(resolved))
    return config


def _with_file_path(config: Config, path: str) -> Config:
    assert config.source.file is not None
    return replace(
        config, source=replace(config.source, file=replace(config.source.file, path=path))
    )
