"""The configuration's Connect names, resolved against one instance's catalog.

A name the instance does not know is a configuration error naming the key, with the
closest spelling or the names that exist; the run stops before its first write.
"""

from __future__ import annotations

from connect_user_sync.config.grantable import Grantable
from connect_user_sync.config.model import DEFAULT_PROTECTED_PROFILES, Config
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
    config: Config, catalog: Catalog, target_index: int, *, grantable: Grantable | None = None
) -> tuple[list[ResolvedRule], PlanPolicy]:
    """Group rules and the plan policy of one target, with every Connect name as an id.

    Every profile the configuration grants must be one the function may grant
    (``grantable``, by default from the environment: ``config.grantable``), and none may be
    a protected one: both are configuration errors, raised before any write.
    """
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
    grantable = Grantable.from_environment() if grantable is None else grantable
    protected = check_profiles(config, catalog, rules, disabled_sp, disabled_rp, where, grantable)
    policy = PlanPolicy(
        username_attribute=config.username.attribute,
        lowercase=config.username.lowercase,
        deprovision_action=deprovision.action,
        disabled_security_profile_id=disabled_sp,
        disabled_routing_profile_id=disabled_rp,
        protected_usernames=config.safety.protected_usernames,
        protected_security_profile_ids=protected,
        adopt_existing=config.safety.adopt_existing,
        grantable_security_profile_ids=grantable.security_profile_ids,
        source_label=source_label(config.source.type),
    )
    return rules, policy


def check_profiles(
    config: Config,
    catalog: Catalog,
    rules: list[ResolvedRule],
    disabled_sp: str | None,
    disabled_rp: str | None,
    where: str,
    grantable: Grantable,
) -> frozenset[str]:
    """The protected profiles' ids, once what the configuration grants has been checked."""
    names = catalog.names_by_id()
    for index, rule in enumerate(rules):
        path = f"groups[{index}]"
        grants = [(names.get(i, i), i) for i in rule.security_profile_ids]
        grantable.check_security_profiles(f"{path}.security_profiles{where}", grants)
        grantable.check_routing_profile(
            f"{path}.routing_profile{where}",
            names.get(rule.routing_profile_id, rule.routing_profile_id),
            rule.routing_profile_id,
        )
    deprovision = config.deprovision
    if disabled_sp and deprovision.disabled_security_profile:
        grantable.check_security_profiles(
            f"deprovision.disabled_security_profile{where}",
            [(deprovision.disabled_security_profile, disabled_sp)],
        )
    if disabled_rp and deprovision.disabled_routing_profile:
        grantable.check_routing_profile(
            f"deprovision.disabled_routing_profile{where}",
            deprovision.disabled_routing_profile,
            disabled_rp,
        )
    wanted = config.safety.protected_security_profiles
    protected: set[str] = set()
    for name in DEFAULT_PROTECTED_PROFILES if wanted is None else wanted:
        lookup = catalog.security_profile(name)
        if wanted is None and not lookup.ids:
            continue  # an instance without an Admin profile: nothing to protect by that name
        protected.update(
            (require(lookup, f"safety.protected_security_profiles{where}"),)
            if not lookup.ambiguous
            else lookup.ids
        )
    for index, rule in enumerate(rules):
        for profile_id in set(rule.security_profile_ids) & protected:
            raise ConfigError(
                f"groups[{index}].security_profiles{where}",
                f"grants {names.get(profile_id, profile_id)!r}, which "
                "safety.protected_security_profiles protects: users given it could be "
                "created but never updated or deprovisioned again",
                "grant it by hand in Connect instead, or take it out of "
                "safety.protected_security_profiles",
            )
    if disabled_sp in protected:
        raise ConfigError(
            f"deprovision.disabled_security_profile{where}",
            "is a protected security profile",
            "name a profile with no permissions",
        )
    return frozenset(protected)
