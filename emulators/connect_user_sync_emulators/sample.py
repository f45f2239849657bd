"""A deterministic sample directory and a Connect instance seeded to match it.

The sample contains every situation the tool must handle: each mismatch kind, a leaver,
a renamed user, a hand-made user the tool leaves alone (``adopt_existing`` is false, as by
default: the report lists it as not adopted), an unmanaged admin and a protected
break-glass user (protected by name, and by its Admin profile).
The demo and the end-to-end tests share it.
"""

from __future__ import annotations

import random
from typing import Any

from connect_user_sync.domain.models import (
    TAG_EMAIL_HASH,
    TAG_MANAGED,
    TAG_SOURCE_ID,
    email_fingerprint,
)

FIRST = [
    "Ava",
    "Liam",
    "Noah",
    "Emma",
    "Olivia",
    "Mia",
    "Lucas",
    "Amir",
    "Yuki",
    "Priya",
    "Chen",
    "Fatima",
    "Diego",
    "Sofia",
    "Kwame",
    "Ingrid",
    "Mateo",
    "Aisha",
    "Jonas",
    "Leila",
]
LAST = [
    "Smith",
    "Okafor",
    "Nguyen",
    "Garcia",
    "Müller",
    "Rossi",
    "Tanaka",
    "Patel",
    "Kowalski",
    "Haddad",
    "Johansson",
    "Silva",
    "Kim",
    "Brown",
    "Dubois",
    "Ivanova",
    "Novak",
    "Mensah",
]
GROUPS = [
    {"id": "g-agents", "name": "CC-Agents"},
    {"id": "g-supervisors", "name": "CC-Supervisors"},
    {"id": "g-quality", "name": "CC-Quality"},
]
SECURITY_PROFILES = ["Agent", "CallCenterManager", "QualityAnalyst", "Admin", "Disabled"]
ROUTING_PROFILES = ["Basic Routing Profile", "Supervisors", "Parked"]
HIERARCHY_GROUPS = ["Floor 1", "Floor 2"]
PREMANAGED = 40  # users a previous night's run already created


def _ascii(name: str) -> str:
    return name.lower().replace("ü", "ue")


def sample_directory(size: int = 200, seed: int = 7) -> dict[str, Any]:
    """The contract's file-source JSON: ``{"users": [...], "groups": [...]}``."""
    rng = random.Random(seed)
    users: list[dict[str, Any]] = []
    taken: set[str] = set()
    index = 0
    while len(users) < max(size - 9, 1):
        index += 1
        first, last = rng.choice(FIRST), rng.choice(LAST)
        upn = f"{_ascii(first)}.{_ascii(last)}{index}@example.com"
        if upn in taken:
            continue
        taken.add(upn)
        groups = ["CC-Agents"]
        if index % 15 == 0:
            groups = ["CC-Supervisors", "CC-Agents"]
        if index % 20 == 0:
            groups.append("CC-Quality")
        users.append(
            {
                "id": f"u-{index:05d}",
                "upn": upn,
                "email": upn,
                "first_name": first,
                "last_name": last,
                "groups": groups,
            }
        )
    special = [
        # case_mismatch: Connect holds Jane.Doe@example.com
        {
            "id": "u-case",
            "upn": "jane.doe@example.com",
            "email": "jane.doe@example.com",
            "first_name": "Jane",
            "last_name": "Doe",
            "groups": ["CC-Agents"],
        },
        # attribute_mismatch: Connect user named after the mail, the IdP asserts the UPN
        {
            "id": "u-attr",
            "upn": "mgarcia@example.com",
            "email": "maria.garcia@example.com",
            "first_name": "Maria",
            "last_name": "Garcia",
            "groups": ["CC-Agents"],
        },
        # invalid_username: an Entra guest
        {
            "id": "u-guest",
            "upn": "partner_contoso.com#EXT#@example.onmicrosoft.com",
            "email": "partner@contoso.com",
            "first_name": "Pat",
            "last_name": "Partner",
            "groups": ["CC-Agents"],
        },
        # duplicate_username: two directory users with one UPN
        {
            "id": "u-dup1",
            "upn": "alex.kim@example.com",
            "email": "alex.kim@example.com",
            "first_name": "Alex",
            "last_name": "Kim",
            "groups": ["CC-Agents"],
        },
        {
            "id": "u-dup2",
            "upn": "alex.kim@example.com",
            "email": "alex.kim2@example.com",
            "first_name": "Alexandra",
            "last_name": "Kim",
            "groups": ["CC-Agents"],
        },
        # renamed: Connect has sam.lee@example.com made for u-renamed
        {
            "id": "u-renamed",
            "upn": "sam.taylor@example.com",
            "email": "sam.taylor@example.com",
            "first_name": "Sam",
            "last_name": "Taylor",
            "groups": ["CC-Agents"],
        },
        # not adopted: created by hand in Connect, same username (adopt_existing is false)
        {
            "id": "u-adopt",
            "upn": "existing.agent@example.com",
            "email": "existing.agent@example.com",
            "first_name": "Eddie",
            "last_name": "Existing",
            "groups": ["CC-Supervisors"],
        },
        # leaver: disabled in the directory
        {
            "id": "u-leaver",
            "upn": "former.agent@example.com",
            "email": "former.agent@example.com",
            "first_name": "Fran",
            "last_name": "Former",
            "enabled": False,
            "groups": ["CC-Agents"],
        },
        # a supervisor who is also quality
        {
            "id": "u-lead",
            "upn": "lead.qa@example.com",
            "email": "lead.qa@example.com",
            "first_name": "Lee",
            "last_name": "Lead",
            "groups": ["CC-Supervisors", "CC-Quality"],
        },
    ]
    return {"users": users + special, "groups": GROUPS}


def sample_config(
    instance_id: str, directory_path: str, region: str = "us-east-1"
) -> dict[str, Any]:
    return {
        "source": {"type": "file", "file": {"path": directory_path}},
        "username": {"attribute": "upn"},
        "groups": [
            {
                "name": "CC-Supervisors",
                "security_profiles": ["CallCenterManager", "Agent"],
                "routing_profile": "Supervisors",
                "hierarchy_group": "Floor 1",
                "phone": {
                    "type": "SOFT_PHONE",
                    "auto_accept": True,
                    "after_contact_work_timeout": 30,
                },
            },
            {
                "name": "CC-Agents",
                "security_profiles": ["Agent"],
                "routing_profile": "Basic Routing Profile",
                "hierarchy_group": "Floor 2",
                "phone": {"type": "SOFT_PHONE", "auto_accept": False},
            },
            {
                "name": "CC-Quality",
                "security_profiles": ["QualityAnalyst"],
                "routing_profile": "Basic Routing Profile",
            },
        ],
        "targets": [{"instance_id": instance_id, "region": region}],
        "deprovision": {
            "action": "disable",
            "disabled_security_profile": "Disabled",
            "disabled_routing_profile": "Parked",
        },
        "safety": {
            "max_deprovision": 25,
            "max_deprovision_percent": 10,
            "protected_usernames": ["break.glass@example.com"],
            "protected_security_profiles": ["Admin"],
            "adopt_existing": False,
        },
    }


def seed_connect(emulator: Any, directory: dict[str, Any]) -> str:
    """Create an instance with profiles and the users a real instance would already have."""
    iid = emulator.add_instance()
    sp = {name: emulator.add_security_profile(iid, name) for name in SECURITY_PROFILES}
    rp = {name: emulator.add_routing_profile(iid, name) for name in ROUTING_PROFILES}
    hg = {name: emulator.add_hierarchy_group(iid, name) for name in HIERARCHY_GROUPS}
    basic = rp["Basic Routing Profile"]
    phone = {"PhoneType": "SOFT_PHONE", "AutoAccept": False, "AfterContactWorkTimeLimit": 0}

    def managed(source_id: str, email: str | None) -> dict[str, str]:
        return {
            TAG_MANAGED: "true",
            TAG_SOURCE_ID: source_id,
            TAG_EMAIL_HASH: email_fingerprint(email),
        }

    # Users a previous run already created, in step with the directory.
    plain_agents = [
        u for u in directory["users"] if u["groups"] == ["CC-Agents"] and u["id"].startswith("u-0")
    ]
    for user in plain_agents[:PREMANAGED]:
        emulator.add_user(
            iid,
            user["upn"],
            security_profile_ids=[sp["Agent"]],
            routing_profile_id=basic,
            first_name=user["first_name"],
            last_name=user["last_name"],
            email=user["email"],
            hierarchy_group_id=hg["Floor 2"],
            phone=phone,
            tags=managed(user["id"], user["email"]),
        )
    # The situations the demo shows.
    emulator.add_user(
        iid, "Jane.Doe@example.com", security_profile_ids=[sp["Agent"]], routing_profile_id=basic
    )
    emulator.add_user(
        iid,
        "maria.garcia@example.com",
        security_profile_ids=[sp["Agent"]],
        routing_profile_id=basic,
    )
    emulator.add_user(
        iid,
        "sam.lee@example.com",
        security_profile_ids=[sp["Agent"]],
        routing_profile_id=basic,
        first_name="Sam",
        last_name="Lee",
        hierarchy_group_id=hg["Floor 2"],
        phone=phone,
        tags=managed("u-renamed", "sam.lee@example.com"),
    )
    emulator.add_user(
        iid,
        "existing.agent@example.com",
        security_profile_ids=[sp["Agent"]],
        routing_profile_id=basic,
        first_name="Eddie",
        last_name="Existing",
    )
    emulator.add_user(
        iid,
        "former.agent@example.com",
        security_profile_ids=[sp["Agent"]],
        routing_profile_id=basic,
        first_name="Fran",
        last_name="Former",
        phone=phone,
        tags=managed("u-leaver", "former.agent@example.com"),
    )
    emulator.add_user(
        iid,
        "moved.on@example.com",
        security_profile_ids=[sp["Agent"]],
        routing_profile_id=basic,
        tags=managed("u-gone", "moved.on@example.com"),
    )
    emulator.add_user(
        iid,
        "break.glass@example.com",
        security_profile_ids=[sp["Admin"]],
        routing_profile_id=basic,
        tags=managed("u-breakglass", "break.glass@example.com"),
    )
    emulator.add_user(iid, "admin", security_profile_ids=[sp["Admin"]], routing_profile_id=basic)
    return str(iid)
