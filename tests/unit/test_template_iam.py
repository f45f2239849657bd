"""What the sync function's role, and the role in other accounts, may do in Amazon Connect.

Both templates are rendered with the parameters a person deploys with, and each request
the tool makes (or an attacker would like it to make) is evaluated against the rendered
policy with IAM's evaluation rules (``tests/cfn_iam.py``):

- users are created only with the managed tag, only with grantable profiles, only in the
  listed instances;
- an existing user is changed, tagged, untagged or deleted only when it carries the
  managed tag, never given a profile outside the grantable ids;
- an untagged user can be marked as managed only while ``AllowAdoption`` is true;
- the role in another account trusts the sync role with the external id only;
- the Connect statements of the two templates are the same, the environment tells the
  function exactly what IAM allows, and the policy fits IAM's size quota.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from connect_user_sync.config import parse_text
from connect_user_sync.config.deployment import allowed_instances
from tests.cfn_iam import Renderer, Request, Resource, allowed, load, render, trusted

ROOT = Path(__file__).resolve().parents[2]
MAIN = ROOT / "template.yaml"
TARGET_ROLE = ROOT / "templates" / "target-account-role.yaml"

ACCOUNT, OTHER = "123456789012", "222222222222"
INSTANCE_A = f"arn:aws:connect:us-east-1:{ACCOUNT}:instance/aaaaaaaa-0000-4000-8000-000000000001"
INSTANCE_B = f"arn:aws:connect:eu-west-2:{ACCOUNT}:instance/bbbbbbbb-0000-4000-8000-000000000002"
UNLISTED = f"arn:aws:connect:us-east-1:{ACCOUNT}:instance/cccccccc-0000-4000-8000-000000000003"
AGENT_SP = "5a000000-0000-4000-8000-00000000a001"
SUPERVISOR_SP = "5a000000-0000-4000-8000-00000000a002"
DISABLED_SP = "5a000000-0000-4000-8000-00000000a003"
ADMIN_SP = "5a000000-0000-4000-8000-00000000a0ff"
BASIC_RP = "7b000000-0000-4000-8000-00000000b001"
PARKED_RP = "7b000000-0000-4000-8000-00000000b002"
OTHER_RP = "7b000000-0000-4000-8000-00000000b0ff"
SYNC_ROLE = f"arn:aws:iam::{ACCOUNT}:role/sync-SyncFunctionRole-ABC"
TARGET_ROLE_ARN = f"arn:aws:iam::{OTHER}:role/connect-user-sync-target"

MANAGED = {"connect-user-sync:managed": "true", "connect-user-sync:source-id": "u-1"}
CONNECT_PARAMETERS = {
    "GrantableSecurityProfileIds": f"{AGENT_SP},{SUPERVISOR_SP}",
    "GrantableRoutingProfileIds": BASIC_RP,
    "DisabledSecurityProfileId": DISABLED_SP,
    "DisabledRoutingProfileId": PARKED_RP,
}
MAIN_PARAMETERS = {
    "TargetInstanceArns": f"{INSTANCE_A},{INSTANCE_B}",
    "TargetAccountRoleArns": TARGET_ROLE_ARN,
    **CONNECT_PARAMETERS,
}
ROLE_PARAMETERS = {
    "SyncRoleArn": SYNC_ROLE,
    "ExternalId": "connect-user-sync-7f3a",
    "TargetInstanceArns": f"{INSTANCE_A},{INSTANCE_B}",
    **CONNECT_PARAMETERS,
}


def main_role(**overrides: str) -> list[dict[str, Any]]:
    return render(MAIN, {**MAIN_PARAMETERS, **overrides}).role_statements("SyncFunctionRole")


def target_role(**overrides: str) -> list[dict[str, Any]]:
    rendered = render(TARGET_ROLE, {**ROLE_PARAMETERS, **overrides}, account=OTHER)
    return rendered.role_statements("TargetAccountRole")


ROLES = {
    "sync function (template.yaml)": main_role,
    "other account (target-account-role)": target_role,
}


@pytest.fixture(params=sorted(ROLES), scope="module")
def policy(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return ROLES[request.param]()


# --------------------------------------------------------------------------- requests


def user(instance: str, user_id: str = "u-0001", tags: dict[str, str] | None = None) -> Resource:
    return Resource(f"{instance}/agent/{user_id}", tags or {})


def sp(instance: str, profile_id: str) -> Resource:
    return Resource(f"{instance}/security-profile/{profile_id}")


def rp(instance: str, profile_id: str) -> Resource:
    return Resource(f"{instance}/routing-profile/{profile_id}")


def tag_context(tags: dict[str, str]) -> dict[str, Any]:
    context: dict[str, Any] = {f"aws:RequestTag/{k}": v for k, v in tags.items()}
    context["aws:TagKeys"] = list(tags)
    return context


def create_user(
    instance: str = INSTANCE_A,
    profiles: tuple[str, ...] = (AGENT_SP,),
    routing: str = BASIC_RP,
    tags: dict[str, str] | None = None,
    group: str | None = None,
) -> Request:
    """CreateUser authorizes on the new user, each profile, and the hierarchy group."""
    resources = [user(instance, "new-user"), *(sp(instance, p) for p in profiles)]
    resources.append(rp(instance, routing))
    if group:
        resources.append(Resource(f"{instance}/agent-group/{group}"))
    return Request("connect:CreateUser", resources, tag_context(MANAGED if tags is None else tags))


def set_profiles(target: Resource, *profiles: str, instance: str = INSTANCE_A) -> Request:
    return Request(
        "connect:UpdateUserSecurityProfiles", [target, *(sp(instance, p) for p in profiles)]
    )


def tag(target: Resource, tags: dict[str, str]) -> Request:
    return Request("connect:TagResource", [target], tag_context(tags))


HUMAN_ADMIN = user(INSTANCE_A, "admin-1")  # no tags: someone Connect admins made by hand
MANAGED_AGENT = user(INSTANCE_A, "agent-1", MANAGED)


# --------------------------------------------------------------------------- creating


def test_the_tool_creates_users_with_the_managed_tag_and_grantable_profiles(
    policy: list[dict[str, Any]],
) -> None:
    assert allowed(policy, create_user())
    assert allowed(policy, create_user(INSTANCE_B, (AGENT_SP, SUPERVISOR_SP), group="g-1"))
    assert allowed(policy, create_user(profiles=(DISABLED_SP,), routing=PARKED_RP))


@pytest.mark.parametrize(
    "request_",
    [
        pytest.param(create_user(profiles=(AGENT_SP, ADMIN_SP)), id="with Admin"),
        pytest.param(create_user(routing=OTHER_RP), id="with another routing profile"),
        pytest.param(create_user(tags={}), id="without tags"),
        pytest.param(
            create_user(tags={"connect-user-sync:source-id": "u-1"}), id="without the managed tag"
        ),
        pytest.param(
            create_user(tags={**MANAGED, "connect-user-sync:managed": "false"}),
            id="managed=false",
        ),
        pytest.param(create_user(tags={**MANAGED, "team": "blue"}), id="with a foreign tag"),
        pytest.param(create_user(UNLISTED), id="in an instance that is not a target"),
    ],
)
def test_no_other_create_is_allowed(policy: list[dict[str, Any]], request_: Request) -> None:
    assert not allowed(policy, request_)


# --------------------------------------------------------------------------- changing


def test_a_managed_user_is_updated_disabled_retagged_and_deleted(
    policy: list[dict[str, Any]],
) -> None:
    for action in (
        "connect:UpdateUserIdentityInfo",
        "connect:UpdateUserPhoneConfig",
        "connect:DeleteUser",
    ):
        assert allowed(policy, Request(action, [MANAGED_AGENT])), action
    assert allowed(policy, set_profiles(MANAGED_AGENT, SUPERVISOR_SP, AGENT_SP))
    assert allowed(policy, set_profiles(MANAGED_AGENT, DISABLED_SP))  # disable
    assert allowed(
        policy,
        Request("connect:UpdateUserRoutingProfile", [MANAGED_AGENT, rp(INSTANCE_A, PARKED_RP)]),
    )
    hierarchy = Resource(f"{INSTANCE_A}/agent-group/g-1")
    assert allowed(policy, Request("connect:UpdateUserHierarchy", [MANAGED_AGENT, hierarchy]))
    assert allowed(policy, tag(MANAGED_AGENT, {"connect-user-sync:disabled": "2024-01-01"}))
    assert allowed(
        policy,
        Request(
            "connect:UntagResource",
            [MANAGED_AGENT],
            {"aws:TagKeys": ["connect-user-sync:disabled"]},
        ),
    )


@pytest.mark.parametrize(
    "request_",
    [
        pytest.param(set_profiles(MANAGED_AGENT, ADMIN_SP), id="grant Admin to a managed user"),
        pytest.param(set_profiles(HUMAN_ADMIN, DISABLED_SP), id="disable an untagged admin"),
        pytest.param(
            Request("connect:UpdateUserRoutingProfile", [MANAGED_AGENT, rp(INSTANCE_A, OTHER_RP)]),
            id="another routing profile",
        ),
        pytest.param(
            Request("connect:UpdateUserIdentityInfo", [HUMAN_ADMIN]), id="rename an untagged user"
        ),
        pytest.param(Request("connect:DeleteUser", [HUMAN_ADMIN]), id="delete an untagged user"),
        pytest.param(tag(HUMAN_ADMIN, MANAGED), id="forge the managed tag on an untagged user"),
        pytest.param(
            tag(HUMAN_ADMIN, {"connect-user-sync:source-id": "u-2"}),
            id="forge a source-id on an untagged user",
        ),
        pytest.param(tag(MANAGED_AGENT, {"team": "blue"}), id="a foreign tag on a managed user"),
        pytest.param(
            Request(
                "connect:UntagResource",
                [HUMAN_ADMIN],
                {"aws:TagKeys": ["connect-user-sync:managed"]},
            ),
            id="untag an untagged user",
        ),
        pytest.param(
            Request("connect:UntagResource", [MANAGED_AGENT], {"aws:TagKeys": ["team"]}),
            id="remove someone else's tag",
        ),
        pytest.param(
            Request("connect:DeleteUser", [user(UNLISTED, "x", MANAGED)]),
            id="a managed user of an instance that is not a target",
        ),
    ],
)
def test_no_other_change_is_allowed(policy: list[dict[str, Any]], request_: Request) -> None:
    assert not allowed(policy, request_)


def test_reads_cover_every_user_of_the_targets_and_nothing_else(
    policy: list[dict[str, Any]],
) -> None:
    for instance in (INSTANCE_A, INSTANCE_B):
        assert allowed(policy, Request("connect:SearchUsers", [Resource(instance)]))
        assert allowed(policy, Request("connect:ListSecurityProfiles", [Resource(instance)]))
        assert allowed(policy, Request("connect:DescribeUser", [user(instance)]))
    assert not allowed(policy, Request("connect:SearchUsers", [Resource(UNLISTED)]))
    assert not allowed(policy, Request("connect:DescribeUser", [user(UNLISTED)]))


# --------------------------------------------------------------------------- adoption


@pytest.mark.parametrize("build", sorted(ROLES))
def test_adoption_tags_an_untagged_user_only_while_allowed(build: str) -> None:
    adopt = tag(HUMAN_ADMIN, {**MANAGED, "connect-user-sync:adopted": "run-1"})
    assert not allowed(ROLES[build](), adopt)
    with_adoption = ROLES[build](AllowAdoption="true")
    assert allowed(with_adoption, adopt)
    # Even then only the managed marker with the tool's own keys, and still no Admin.
    assert not allowed(with_adoption, tag(HUMAN_ADMIN, {"connect-user-sync:source-id": "u-9"}))
    assert not allowed(with_adoption, tag(HUMAN_ADMIN, {**MANAGED, "team": "blue"}))
    assert not allowed(with_adoption, set_profiles(HUMAN_ADMIN, AGENT_SP))
    assert not allowed(with_adoption, set_profiles(MANAGED_AGENT, ADMIN_SP))


# --------------------------------------------------------------------------- accounts


def test_the_function_may_assume_only_the_listed_roles() -> None:
    statements = main_role()
    assert allowed(statements, Request("sts:AssumeRole", [Resource(TARGET_ROLE_ARN)]))
    assert not allowed(
        statements, Request("sts:AssumeRole", [Resource(f"arn:aws:iam::{OTHER}:role/Admin")])
    )
    none = main_role(TargetAccountRoleArns="")
    assert not any("sts:AssumeRole" in str(s["Action"]) for s in none)


def test_the_role_in_another_account_trusts_the_sync_role_with_the_external_id_only() -> None:
    rendered = render(TARGET_ROLE, ROLE_PARAMETERS, account=OTHER)
    trust = rendered.resource("TargetAccountRole")["AssumeRolePolicyDocument"]
    right = {"sts:ExternalId": "connect-user-sync-7f3a"}
    assert trusted(trust, SYNC_ROLE, right)
    assert not trusted(trust, SYNC_ROLE, {})
    assert not trusted(trust, SYNC_ROLE, {"sts:ExternalId": "guess"})
    assert not trusted(trust, f"arn:aws:iam::{ACCOUNT}:role/SomeoneElse", right)


def test_both_templates_carry_the_same_connect_statements() -> None:
    def connect_statements(path: Path, role: str) -> list[Any]:
        policies = load(path)["Resources"][role]["Properties"]["Policies"]
        found = []
        for policy in policies:
            for entry in policy["PolicyDocument"]["Statement"]:
                body = entry["Fn::If"][1] if "Fn::If" in entry else entry
                if str(body.get("Sid", "")).startswith("Connect"):
                    found.append(copy.deepcopy(entry))
        return found

    main = connect_statements(MAIN, "SyncFunctionRole")
    other = connect_statements(TARGET_ROLE, "TargetAccountRole")
    assert len(main) >= 7
    assert main == other
    shared = (
        "TargetInstanceArns",
        "GrantableSecurityProfileIds",
        "GrantableRoutingProfileIds",
        "DisabledSecurityProfileId",
        "DisabledRoutingProfileId",
        "AllowAdoption",
    )
    for name in shared:  # the same values are accepted by both
        a, b = load(MAIN)["Parameters"][name], load(TARGET_ROLE)["Parameters"][name]
        assert {k: v for k, v in a.items() if k != "Description"} == {
            k: v for k, v in b.items() if k != "Description"
        }, name


# --------------------------------------------------------------------------- environment


def environment(rendered: Renderer) -> dict[str, str]:
    variables: dict[str, str] = rendered.resource("SyncFunction")["Environment"]["Variables"]
    return variables


def granted_ids(statements: list[dict[str, Any]], kind: str) -> set[str]:
    return {
        arn.rsplit("/", 1)[1]
        for s in statements
        for arn in s["Resource"]
        if isinstance(s["Resource"], list) and f"/{kind}/" in arn
    }


def test_the_environment_tells_the_function_exactly_what_iam_allows() -> None:
    rendered = render(MAIN, MAIN_PARAMETERS)
    env = environment(rendered)
    statements = rendered.role_statements("SyncFunctionRole")
    assert (
        set(env["GRANTABLE_SECURITY_PROFILE_IDS"].split(","))
        == granted_ids(statements, "security-profile")
        == {AGENT_SP, SUPERVISOR_SP, DISABLED_SP}
    )
    assert (
        set(env["GRANTABLE_ROUTING_PROFILE_IDS"].split(","))
        == granted_ids(statements, "routing-profile")
        == {BASIC_RP, PARKED_RP}
    )
    assert [a.arn for a in allowed_instances(env["TARGET_INSTANCE_ARNS"])] == [
        INSTANCE_A,
        INSTANCE_B,
    ]
    assert env["ASSUMABLE_ROLE_ARNS"] == TARGET_ROLE_ARN

    bare = environment(
        render(
            MAIN,
            {**MAIN_PARAMETERS, "DisabledSecurityProfileId": "", "DisabledRoutingProfileId": ""},
        )
    )
    assert bare["GRANTABLE_SECURITY_PROFILE_IDS"] == f"{AGENT_SP},{SUPERVISOR_SP}"
    assert bare["GRANTABLE_ROUTING_PROFILE_IDS"] == BASIC_RP
    assert (
        environment(render(MAIN, {**MAIN_PARAMETERS, "TargetAccountRoleArns": ""}))[
            "ASSUMABLE_ROLE_ARNS"
        ]
        == ""
    )


def test_one_disabled_profile_per_instance_is_accepted() -> None:
    second = "5a000000-0000-4000-8000-00000000a004"
    statements = main_role(DisabledSecurityProfileId=f"{DISABLED_SP},{second}")
    assert allowed(statements, set_profiles(MANAGED_AGENT, second, instance=INSTANCE_B))


def test_the_example_configuration_targets_every_listed_instance() -> None:
    rendered = render(MAIN, MAIN_PARAMETERS)
    text = rendered.resource("ConfigParameter")["Value"]
    config = parse_text(text, "template example")
    assert [(t.region, t.instance_id) for t in config.targets] == [
        ("us-east-1", INSTANCE_A.rsplit("/", 1)[1]),
        ("eu-west-2", INSTANCE_B.rsplit("/", 1)[1]),
    ]
    assert config.safety.adopt_existing is False


# --------------------------------------------------------------------------- size


def deployment(instances: int, profiles: int, disabled: int, routing: int) -> dict[str, str]:
    def ids(prefix: str, start: int, count: int) -> str:
        return ",".join(f"{prefix}-0000-4000-8000-{i:012x}" for i in range(start, start + count))

    return {
        "TargetInstanceArns": ",".join(
            f"arn:aws:connect:us-east-1:{ACCOUNT}:instance/{i:08x}-0000-4000-8000-000000000000"
            for i in range(instances)
        ),
        "GrantableSecurityProfileIds": ids("5a000000", 0, profiles),
        "DisabledSecurityProfileId": ids("5a000000", 1000, disabled),
        "GrantableRoutingProfileIds": ids("7b000000", 0, routing),
    }


@pytest.mark.parametrize(
    ("instances", "profiles", "disabled", "routing", "adoption"),
    [(6, 24, 6, 12, "true"), (10, 30, 10, 10, "false")],
)
def test_the_role_policy_fits_iams_inline_quota(
    instances: int, profiles: int, disabled: int, routing: int, adoption: str
) -> None:
    """IAM allows 10,240 characters of inline policy per role (whitespace not counted).

    Documented in docs/deploy.md: six instances (three accounts, two Regions) with 30
    security profile ids and adoption on; ten instances with 40 ids and adoption off.
    """
    parameters = {
        **MAIN_PARAMETERS,
        **deployment(instances, profiles, disabled, routing),
        "DirectorySecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf",
        "AllowAdoption": adoption,
    }
    size = render(MAIN, parameters).inline_policy_size("SyncFunctionRole")
    assert size <= 10_240, size
    role_parameters = {
        **ROLE_PARAMETERS,
        **deployment(instances, profiles, disabled, routing),
        "AllowAdoption": adoption,
    }
    other = render(TARGET_ROLE, role_parameters, account=OTHER)
    assert other.inline_policy_size("TargetAccountRole") <= 10_240
    # The quota is real: four more instances and ten more profiles would not fit.
    bigger = render(
        MAIN, {**parameters, **deployment(instances + 4, profiles + 10, disabled, routing)}
    )
    assert bigger.inline_policy_size("SyncFunctionRole") > 10_240
