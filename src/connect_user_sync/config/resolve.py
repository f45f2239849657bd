"""The configuration's Connect names, resolved against one instance's catalog.

A name the instance does not know is a configuration error naming the key, with the
closest spelling or the names that exist; the run stops before its first write.
"""

from __future__ import annotations

from connect_user_sync.config.model import Config
from connect_user_sync.domain.catalog import Catalog, Lookup
from connect_user_sync.domain.mismatches import source_label
from connect_user_sync.domain.planner import PlanPolicy
from connect_user_sync.domain.settings import ResolvedRule
from connect_user_sync.errors import ConfigError

KNOWN_SHOWN = 15  # names listed when nothing is close


def require(lookup: Lookup, path: str) -> str:
    """The id ``lookup`` found, or the ``ConfigError`` a person can act on."""
    if lookup.found is not None:
        return lookup.found
    if lookup.ambiguous:
        raise ConfigError(
            path,
            f"{len(lookup.ids)} {lookup.kind}s are named {lookup.name!r}",
            "rename one of them in Connect so the name is unique",
        )
    closest = lookup.closest
    hint = (
        f"did you mean {closest!r}?"
        if closest
        else f"known: {', '.join(lookup.known[:KNOWN_SHOWN]) or 'none'}"
    )
    raise ConfigError(
        path,
        f"no {lookup.kind} named {lookup.name!r} in the Connect instance",
        f"use the exact name from Connect ({hint})",
    )


def resolve(
    config: Config, catalog: Catalog, target_index: int
) -> tuple[list[ResolvedRule], PlanPolicy]:
    """Group rules and the plan policy of one target, with every Connect name as an id."""
    where = f" (target {target_index})" if len(config.targets) > 1 else ""
    rules: list[ResolvedRule] = []
    for index, rule in enumerate(config.groups):
        path = f"groups[{index}]"
        rules.append(
            ResolvedRule(
                label=rule.label,
                security_profile_ids=tuple(
                    require(catalog.security_profile(name), f"{path}.security_profiles{where}")
                    for name in rule.security_profiles
                ),
                routing_profile_id=require(
                    catalog.routing_profile(rule.routing_profile), f"{path}.routing_profile{where}"
                ),
                hierarchy_group_id=require(
                    catalog.hierarchy_group(rule.hierarchy_group), f"{path}.hierarchy_group{where}"
                )
                if rule.hierarchy_group
                else None,
                phone=rule.phone,
            )
        )
    deprovision = config.deprovision
    disabled_sp = disabled_rp = None
    if deprovision.disabled_security_profile:
        disabled_sp = require(
            catalog.security_profile(deprovision.disabled_security_profile),
            f"deprovision.disabled_security_profile{where}",
        )
    if deprovision.disabled_routing_profile:
        disabled_rp = require(
            catalog.routing_profile(deprovision.disabled_routing_profile),
            f"deprovision.disabled_routing_profile{where}",
        )
    policy = PlanPolicy(
        username_attribute=config.username.attribute,
        lowercase=config.username.lowercase,
        deprovision_action=deprovision.action,
        disabled_security_profile_id=disabled_sp,
        disabled_routing_profile_id=disabled_rp,
        protected_usernames=config.safety.protected_usernames,
        adopt_existing=config.safety.adopt_existing,
        source_label=source_label(config.source.type),
    )
    return rules, policy
