"""Looking Connect names up, and deciding about a username that is already taken."""

from __future__ import annotations

import pytest

from connect_user_sync.config import parse_config
from connect_user_sync.config.resolve import require, resolve
from connect_user_sync.domain.catalog import Catalog
from connect_user_sync.domain.models import (
    TAG_MANAGED,
    TAG_SOURCE_ID,
    ActionKind,
    ConnectUser,
    DesiredSettings,
    PhoneSettings,
    SyncAction,
)
from connect_user_sync.domain.takeover import Refusal, Takeover, after_duplicate
from connect_user_sync.errors import ConfigError

CATALOG = Catalog.of(
    [("Agent", "sp-1"), ("Disabled", "sp-2")],
    [("Basic Routing Profile", "rp-1")],
    [("Floor 1", "hg-1"), ("Floor 1", "hg-2"), ("Floor 2", "hg-3")],
)


def test_a_lookup_finds_one_id_or_says_what_is_there() -> None:
    assert CATALOG.security_profile("Agent").found == "sp-1"
    missing = CATALOG.routing_profile("basic routing profile")
    assert missing.found is None and missing.closest == "Basic Routing Profile"
    duplicate = CATALOG.hierarchy_group("Floor 1")
    assert duplicate.found is None and duplicate.ambiguous and duplicate.ids == ("hg-1", "hg-2")
    assert CATALOG.names_by_id()["hg-3"] == "Floor 2"


@pytest.mark.parametrize(
    ("lookup", "problem", "fix"),
    [
        (
            CATALOG.routing_profile("basic routing profile"),
            "no routing profile named 'basic routing profile' in the Connect instance",
            "did you mean 'Basic Routing Profile'?",
        ),
        (
            CATALOG.security_profile("Supervisor"),
            "no security profile named 'Supervisor' in the Connect instance",
            "known: Agent, Disabled",
        ),
        (
            CATALOG.hierarchy_group("Floor 1"),
            "2 hierarchy groups are named 'Floor 1'",
            "rename one of them in Connect so the name is unique",
        ),
    ],
)
def test_a_miss_becomes_a_configuration_error_naming_the_key(
    lookup: object, problem: str, fix: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        require(lookup, "groups[0].x")  # type: ignore[arg-type]
    assert raised.value.path == "groups[0].x"
    assert raised.value.problem == problem and fix in raised.value.fix


def test_resolve_names_every_key_of_the_target() -> None:
    config = parse_config(
        {
            "source": {"type": "file", "file": {"path": "d.json"}},
            "groups": [
                {
                    "name": "A",
                    "security_profiles": ["Agent"],
                    "routing_profile": "Basic Routing Profile",
                    "hierarchy_group": "Floor 2",
                }
            ],
            "targets": [
                {"instance_id": "11111111-2222-3333-4444-555555555555", "region": "us-east-1"},
                {"instance_id": "11111111-2222-3333-4444-666666666666", "region": "us-east-1"},
            ],
            "deprovision": {"action": "disable", "disabled_security_profile": "Disabled"},
        }
    )
    (rule,), policy = resolve(config, CATALOG, 0)
    assert (rule.security_profile_ids, rule.routing_profile_id, rule.hierarchy_group_id) == (
        ("sp-1",),
        "rp-1",
        "hg-3",
    )
    assert policy.disabled_security_profile_id == "sp-2"
    assert policy.source_label == "the directory file"
    with pytest.raises(ConfigError, match=r"deprovision.disabled_security_profile \(target 1\)"):
        resolve(
            config,
            Catalog.of(
                [("Agent", "sp-1")], [("Basic Routing Profile", "rp-1")], [("Floor 2", "hg-3")]
            ),
            1,
        )


# --------------------------------------------------------------------------- takeover

SETTINGS = DesiredSettings(frozenset({"sp-1"}), "rp-1", None, PhoneSettings(), "Ann", "Lee", None)


def create() -> SyncAction:
    return SyncAction(
        ActionKind.CREATE,
        "ann@x.com",
        "s1",
        None,
        desired=SETTINGS,
        set_tags={TAG_MANAGED: "true", TAG_SOURCE_ID: "s1"},
    )


def existing(
    tags: dict[str, str | None], profiles: frozenset[str] = frozenset({"sp-1"})
) -> ConnectUser:
    return ConnectUser(
        "u-9", "arn:u-9", "ann@x.com", profiles, "rp-2", None, None, "Ann", "Lee", tags
    )


def test_a_lost_create_response_is_carried_on_with_an_update() -> None:
    decision = after_duplicate(
        create(), existing({TAG_MANAGED: "true", TAG_SOURCE_ID: "s1"}), adopt_existing=False
    )
    assert isinstance(decision, Takeover)
    update = decision.update
    assert (update.kind, update.user_id, update.arn) == (ActionKind.UPDATE, "u-9", "arn:u-9")
    assert set(update.changes) == {"routing_profile_id", "phone"}
    assert update.set_tags == {}  # the tags are already right


@pytest.mark.parametrize(
    ("user", "adopt", "reason"),
    [
        (None, True, "SearchUsers cannot find it"),
        (existing({TAG_MANAGED: "true", TAG_SOURCE_ID: "s2"}), True, "for directory user s2"),
        (existing({}), False, "was not made by this run"),
        # Holding a profile this create would not grant (an Admin): somebody else's user.
        (
            existing({TAG_MANAGED: "true", TAG_SOURCE_ID: "s1"}, frozenset({"sp-1", "sp-admin"})),
            True,
            "security profiles this create would not grant",
        ),
    ],
)
def test_a_taken_username_is_left_alone_when_it_is_not_ours_to_take(
    user: ConnectUser | None, adopt: bool, reason: str
) -> None:
    decision = after_duplicate(create(), user, adopt_existing=adopt)
    assert isinstance(decision, Refusal) and reason in decision.reason


def test_an_unmanaged_user_is_adopted_when_allowed() -> None:
    decision = after_duplicate(create(), existing({}), adopt_existing=True)
    assert isinstance(decision, Takeover)
    assert decision.update.set_tags == {TAG_MANAGED: "true", TAG_SOURCE_ID: "s1"}
