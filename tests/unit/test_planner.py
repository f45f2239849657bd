"""The planner as a table: given directory and Connect state, the actions and mismatches."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connect_user_sync.domain.models import (
    TAG_DISABLED,
    TAG_EMAIL_HASH,
    TAG_MANAGED,
    TAG_SOURCE_ID,
    ActionKind,
    ConnectUser,
    DirectoryUser,
    PhoneSettings,
    SyncAction,
)
from connect_user_sync.domain.planner import PlanPolicy, plan_target, view_directory
from connect_user_sync.domain.settings import ResolvedRule, email_fingerprint

RULES = [
    ResolvedRule(
        "Supervisors", ("sp-sup", "sp-agent"), "rp-sales", "hg-1", PhoneSettings(auto_accept=True)
    ),
    ResolvedRule("Agents", ("sp-agent",), "rp-basic", None, PhoneSettings()),
]
POLICY = PlanPolicy(
    "upn",
    deprovision_action="disable",
    disabled_security_profile_id="sp-off",
    protected_usernames=frozenset({"root.admin@example.com"}),
)


def dir_user(
    sid: str, upn: str, *groups: str, enabled: bool = True, mail: str | None = None
) -> DirectoryUser:
    return DirectoryUser(
        sid,
        {"upn": upn, "mail": mail or upn.lower()},
        "First",
        "Last",
        mail or upn.lower(),
        enabled,
        groups or ("Agents",),
    )


def connect_user(
    name: str,
    sid: str | None = None,
    *,
    profiles: Sequence[str] = ("sp-agent",),
    routing: str = "rp-basic",
    disabled: bool = False,
    managed: bool = True,
    email: str | None = None,
) -> ConnectUser:
    tags: dict[str, str | None] = {}
    if managed:
        tags = {TAG_MANAGED: "true", TAG_EMAIL_HASH: email_fingerprint(email or name.lower())}
        if sid:
            tags[TAG_SOURCE_ID] = sid
    if disabled:
        tags[TAG_DISABLED] = "2026-01-01T00:00:00Z"
    return ConnectUser(
        f"id-{name}",
        f"arn:{name}",
        name,
        frozenset(profiles),
        routing,
        None,
        PhoneSettings(),
        "First",
        "Last",
        tags,
    )


def plan(
    directory: Sequence[DirectoryUser],
    connect: Sequence[ConnectUser],
    policy: PlanPolicy = POLICY,
    only: frozenset[str] | None = None,
) -> tuple[dict[str, ActionKind], list[tuple[str, str | None]]]:
    view = view_directory(directory, RULES, policy)
    target, found = plan_target("i", "us-east-1", view, connect, policy, now="T", only=only)
    mismatches = [(m.kind.value, m.source_id) for m in view.mismatches + found]
    return {a.username: a.kind for a in target.actions}, sorted(mismatches)


CASES = {
    "new user is created": (
        [dir_user("u1", "ana@example.com")],
        [],
        {"ana@example.com": ActionKind.CREATE},
        [],
    ),
    "in-step user is left alone": (
        [dir_user("u1", "ana@example.com")],
        [connect_user("ana@example.com", "u1")],
        {},
        [],
    ),
    "group change is an update": (
        [dir_user("u1", "ana@example.com", "Supervisors")],
        [connect_user("ana@example.com", "u1")],
        {"ana@example.com": ActionKind.UPDATE},
        [],
    ),
    "untagged exact match is not adopted by default": (
        [dir_user("u1", "ana@example.com")],
        [connect_user("ana@example.com", managed=False)],
        {},
        [],
    ),
    "leaver is disabled": (
        [dir_user("u1", "ana@example.com", enabled=False)],
        [connect_user("ana@example.com", "u1")],
        {"ana@example.com": ActionKind.DISABLE},
        [],
    ),
    "removed from groups is disabled": (
        [],
        [connect_user("ana@example.com", "u1")],
        {"ana@example.com": ActionKind.DISABLE},
        [],
    ),
    "already disabled stays as it is": (
        [],
        [connect_user("ana@example.com", "u1", profiles=("sp-off",), disabled=True)],
        {},
        [],
    ),
    "returning user is enabled": (
        [dir_user("u1", "ana@example.com")],
        [connect_user("ana@example.com", "u1", profiles=("sp-off",), disabled=True)],
        {"ana@example.com": ActionKind.ENABLE},
        [],
    ),
    "unmanaged users are never deprovisioned": (
        [],
        [connect_user("someone@example.com", managed=False)],
        {},
        [],
    ),
    "protected users are never touched": (
        [dir_user("u1", "root.admin@example.com", "Supervisors")],
        [
            connect_user("root.admin@example.com", "u1"),
            connect_user("ROOT.admin@example.com", "u9"),
        ],
        {"ROOT.admin@example.com": ActionKind.DISABLE},
        [],
    ),
    "case mismatch creates nothing": (
        [dir_user("u1", "jane.doe@example.com")],
        [connect_user("Jane.Doe@example.com", managed=False)],
        {},
        [("case_mismatch", "u1")],
    ),
    "attribute mismatch creates nothing": (
        [dir_user("u1", "jdoe@example.com", mail="jane.doe@example.com")],
        [connect_user("jane.doe@example.com", managed=False)],
        {},
        [("attribute_mismatch", "u1")],
    ),
    "invalid username is skipped and its Connect user kept": (
        [dir_user("u1", "bad name@example.com")],
        [connect_user("bad.name@example.com", "u1")],
        {},
        [("invalid_username", "u1")],
    ),
    "duplicates are all skipped": (
        [dir_user("u1", "same@example.com"), dir_user("u2", "same@example.com")],
        [],
        {},
        [("duplicate_username", "u1"), ("duplicate_username", "u2")],
    ),
    "renamed user: create new, deprovision old": (
        [dir_user("u1", "sam.taylor@example.com")],
        [connect_user("sam.lee@example.com", "u1")],
        {"sam.taylor@example.com": ActionKind.CREATE, "sam.lee@example.com": ActionKind.DISABLE},
        [("renamed", "u1")],
    ),
    "renamed, old already disabled: nothing more": (
        [dir_user("u1", "sam.taylor@example.com")],
        [
            connect_user("sam.lee@example.com", "u1", profiles=("sp-off",), disabled=True),
            connect_user("sam.taylor@example.com", "u1", email="sam.taylor@example.com"),
        ],
        {},
        [],
    ),
    "disabled directory user never triggers a mismatch": (
        [dir_user("u1", "bad name", enabled=False)],
        [],
        {},
        [],
    ),
    "users outside every group are ignored": (
        [DirectoryUser("u1", {"upn": "x@example.com"}, groups=())],
        [],
        {},
        [],
    ),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_plan_table(case: str) -> None:
    directory, connect, actions, mismatches = CASES[case]
    assert plan(directory, connect) == (actions, mismatches)


def test_delete_policy_deletes_instead_of_disabling() -> None:
    policy = replace(POLICY, deprovision_action="delete")
    assert plan([], [connect_user("ana@example.com", "u1")], policy)[0] == {
        "ana@example.com": ActionKind.DELETE
    }


def test_user_filter_plans_only_the_named_users() -> None:
    directory = [dir_user("u1", "ana@example.com"), dir_user("u2", "bo@example.com")]
    connect = [connect_user("gone@example.com", "u3"), connect_user("left@example.com", "u4")]
    actions, _ = plan(directory, connect, only=frozenset({"u2", "left@example.com"}))
    assert actions == {"bo@example.com": ActionKind.CREATE, "left@example.com": ActionKind.DISABLE}


def test_security_profiles_union_is_capped_at_ten() -> None:
    many = [
        ResolvedRule(f"G{i}", tuple(f"sp-{i}-{j}" for j in range(4)), "rp", None, PhoneSettings())
        for i in range(4)
    ]
    user = DirectoryUser("u1", {"upn": "a@example.com"}, groups=tuple(f"G{i}" for i in range(4)))
    view = view_directory([user], many, POLICY)
    settings_ = view.wanted["u1"].settings
    assert len(settings_.security_profile_ids) == 10
    assert {"sp-0-0", "sp-1-3"} <= settings_.security_profile_ids  # first groups win the slots


# --------------------------------------------------------------------------- property


def apply_in_memory(users: list[ConnectUser], actions: Sequence[SyncAction]) -> list[ConnectUser]:
    """Connect's documented semantics for each action, reduced to data."""
    by_id = {u.user_id: u for u in users}
    for n, action in enumerate(actions):
        if action.status.value == "held":
            continue
        if action.kind == ActionKind.DELETE:
            by_id.pop(action.user_id or "", None)
            continue
        if action.kind == ActionKind.CREATE:
            d = action.desired
            assert d is not None
            by_id[f"new-{n}"] = ConnectUser(
                f"new-{n}",
                f"arn:new-{n}",
                action.username,
                d.security_profile_ids,
                d.routing_profile_id,
                d.hierarchy_group_id,
                d.phone,
                d.first_name,
                d.last_name,
                dict(action.set_tags),
            )
            continue
        user = by_id[action.user_id or ""]
        fields: dict[str, object] = {}
        for name, change in action.changes.items():
            if name == "security_profile_ids":
                fields[name] = frozenset(change.after)  # type: ignore[arg-type]
            elif name == "phone":
                fields[name] = action.desired.phone if action.desired else None
            elif name in ConnectUser.__dataclass_fields__ and name != "email":
                fields[name] = change.after
        tags = {k: v for k, v in user.tags.items() if k not in action.remove_tags}
        tags.update(action.set_tags)
        by_id[user.user_id] = replace(user, tags=tags, **fields)  # type: ignore[arg-type]
    return list(by_id.values())


NAMES = st.sampled_from(["ana", "Ana", "bo", "cy", "dee", "ed", "bad name", "x_y#EXT#"])
DOMAIN = "@example.com"


@st.composite
def worlds(draw: st.DrawFn) -> tuple[list[DirectoryUser], list[ConnectUser], PlanPolicy]:
    directory = []
    for sid in draw(
        st.lists(st.sampled_from([f"u{i}" for i in range(8)]), unique=True, max_size=8)
    ):
        groups = draw(
            st.lists(st.sampled_from(["Agents", "Supervisors", "Other"]), unique=True, max_size=2)
        )
        directory.append(
            DirectoryUser(
                sid,
                {"upn": draw(NAMES) + DOMAIN, "mail": draw(NAMES) + DOMAIN},
                draw(st.sampled_from([None, "F"])),
                "L",
                draw(NAMES) + DOMAIN,
                draw(st.booleans()),
                tuple(groups),
            )
        )
    connect = []
    for index, name in enumerate(draw(st.lists(NAMES, unique=True, max_size=6))):
        sid = draw(st.sampled_from([None, *[f"u{i}" for i in range(8)]]))
        connect.append(
            replace(
                connect_user(
                    name + DOMAIN,
                    sid,
                    managed=draw(st.booleans()),
                    disabled=draw(st.booleans()),
                    profiles=draw(
                        st.sampled_from([("sp-agent",), ("sp-off",), ("sp-sup", "sp-agent")])
                    ),
                ),
                user_id=f"c{index}",
            )
        )
    policy = replace(
        POLICY,
        deprovision_action=draw(st.sampled_from(["disable", "delete"])),
        adopt_existing=draw(st.booleans()),
    )
    return directory, connect, policy


@settings(max_examples=1500, deadline=None)
@given(worlds())
def test_applying_a_plan_then_planning_again_yields_no_actions(
    world: tuple[list[DirectoryUser], list[ConnectUser], PlanPolicy],
) -> None:
    directory, connect, policy = world
    view = view_directory(directory, RULES, policy)
    first, _ = plan_target("i", "r", view, connect, policy, now="T")
    after = apply_in_memory(connect, first.actions)
    second, _ = plan_target(
        "i", "r", view_directory(directory, RULES, policy), after, policy, now="T2"
    )
    # Only what waits for a person (an adoption without its approval) may come back.
    assert [(a.kind, a.username) for a in second.actions if a.status.value != "held"] == []
    # and nothing unmanaged or protected was ever an action's subject
    managed = {u.user_id for u in connect if u.managed} | {None}
    adopted = {a.user_id for a in first.actions if a.kind == ActionKind.ADOPT}
    assert all(a.user_id in managed | adopted for a in first.actions)
