"""On-demand runs through the CLI for every directory source: look-ups, never whole groups.

GIVEN each directory (Graph, Okta, Duo and Identity Store emulators, and the file source)
holding the same people, and a Connect instance with users made earlier, WHEN the CLI
applies ``--user`` for a newcomer, a person whose Connect user differs only in case, one
named after another attribute, a leaver, one moved out of every group and one (given by
directory id) moved to another group, THEN each gets what a full run would give them, no
group's member list is read, and Connect is read with a handful of calls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest

from connect_user_sync.retry import RetryPolicy
from connect_user_sync.sources import duo as duo_source
from connect_user_sync.sources import entra, okta_client
from connect_user_sync_emulators.duo import DuoEmulator
from connect_user_sync_emulators.graph import GraphEmulator
from connect_user_sync_emulators.identity_center import IdentityStoreEmulator
from connect_user_sync_emulators.okta import OktaEmulator
from tests.conftest import World, person
from tests.functional.test_on_demand import CATALOG, READS, hand_made, managed

OKTA_TOKEN = "00-on-demand-token"
FAST = RetryPolicy(max_attempts=4, max_total_wait=60.0, sleep=lambda seconds: None)


@dataclass
class Directory:
    """One directory source holding a directory document, as the tests drive it."""

    name: str
    attribute: str  # the username attribute asserting the document's upn
    mail_attribute: str  # the one holding its email
    load: Callable[[World, dict[str, Any]], dict[str, str]]  # -> document id: source id
    whole_group_reads: Callable[[], int]
    requests: Callable[[], int]
    emulator: Any = None


def uid(n: int) -> str:
    return f"DU{n:018d}"  # shaped like a Duo user id, fine for every other source


def _file() -> Directory:
    def load(world: World, doc: dict[str, Any]) -> dict[str, str]:
        world.directory = doc
        return {u["id"]: u["id"] for u in doc["users"]}

    return Directory("file", "upn", "email", load, lambda: 0, lambda: 0)


def _entra(stack: ExitStack, monkeypatch: pytest.MonkeyPatch) -> Directory:
    entra.clear_app_cache()
    stack.callback(entra.clear_app_cache)
    graph = stack.enter_context(GraphEmulator("tenant-od", "client-od", "secret-od"))
    for key, value in graph.env().items():
        monkeypatch.setenv(key, value)

    def load(world: World, doc: dict[str, Any]) -> dict[str, str]:
        graph.load_directory(doc)
        world.config["source"] = graph.source_section()
        return {u["id"]: u["id"] for u in doc["users"]}

    return Directory(
        "entra",
        "upn",
        "mail",
        load,
        lambda: graph.requests["graph.members"],
        lambda: graph.graph_requests,
    )


def _okta(stack: ExitStack, monkeypatch: pytest.MonkeyPatch) -> Directory:
    monkeypatch.setattr(okta_client, "DEFAULT_POLICY", FAST)
    okta = stack.enter_context(OktaEmulator(api_token=OKTA_TOKEN))
    for key, value in okta.env().items():
        monkeypatch.setenv(key, value)

    def load(world: World, doc: dict[str, Any]) -> dict[str, str]:
        okta.load_directory(doc)
        world.config["source"] = {
            "type": "okta",
            "okta": {"org_url": okta.org_url, "api_token": OKTA_TOKEN},
        }
        return {u["id"]: u["id"] for u in doc["users"]}

    return Directory(
        "okta",
        "login",
        "email",
        load,
        lambda: okta.requests["group.users"],
        lambda: okta.api_requests,
        okta,
    )


def _duo(stack: ExitStack, monkeypatch: pytest.MonkeyPatch) -> Directory:
    monkeypatch.setattr(duo_source, "DEFAULT_RETRY", FAST)
    duo = stack.enter_context(
        DuoEmulator("DIONDEMANDINTEGRATN0", "on-demand-secret-key-0123456789")
    )
    for key, value in duo.env().items():
        monkeypatch.setenv(key, value)

    def load(world: World, doc: dict[str, Any]) -> dict[str, str]:
        duo.load_directory(doc)
        world.config["source"] = duo.source_section()
        return {u["id"]: u["id"] for u in doc["users"]}

    return Directory(
        "duo",
        "username",
        "email",
        load,
        lambda: duo.requests["group_users"],
        lambda: duo.api_requests,
        duo,
    )


def _identity_center(stack: ExitStack, monkeypatch: pytest.MonkeyPatch, moto_url: str) -> Directory:
    store = stack.enter_context(IdentityStoreEmulator(moto_url=moto_url))
    for key, value in store.env().items():
        monkeypatch.setenv(key, value)

    def load(world: World, doc: dict[str, Any]) -> dict[str, str]:
        seeded = store.load_directory(doc)
        world.config["source"] = {
            "type": "identity_center",
            "identity_center": {"identity_store_id": seeded.store_id, "region": "us-east-1"},
        }
        store.reset_calls()
        return dict(seeded.user_ids)

    return Directory(
        "identity_center",
        "user_name",
        "email",
        load,
        lambda: store.calls["ListGroupMemberships"] + store.calls["ListUsers"],
        lambda: sum(store.calls.values()),
    )


SOURCES = ("file", "entra", "okta", "duo", "identity_center")


@pytest.fixture(params=SOURCES)
def directory(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, moto_url: str
) -> Iterator[Directory]:
    with ExitStack() as stack:
        if request.param == "file":
            yield _file()
        elif request.param == "entra":
            yield _entra(stack, monkeypatch)
        elif request.param == "okta":
            yield _okta(stack, monkeypatch)
        elif request.param == "duo":
            yield _duo(stack, monkeypatch)
        else:
            yield _identity_center(stack, monkeypatch, moto_url)


GROUPS = [{"id": "g-agents", "name": "Agents"}, {"id": "g-sup", "name": "Supervisors"}]


def test_named_users_get_what_a_full_run_gives_them(world: World, directory: Directory) -> None:
    crowd = [person(uid(i), f"agent.{i}@example.com") for i in range(40)]
    named = [
        person(uid(100), "new.hire@example.com"),
        person(uid(101), "jane.doe@example.com"),
        {**person(uid(102), "mgarcia@example.com"), "email": "maria.garcia@example.com"},
        person(uid(103), "left.soon@example.com", enabled=False),
        person(uid(104), "moved.out@example.com", ()),
        person(uid(105), "pro.moted@example.com", ("Supervisors",)),
    ]
    ids = directory.load(world, {"users": crowd + named, "groups": GROUPS})
    world.config["username"] = {"attribute": directory.attribute}
    for raw in crowd + named[3:]:
        first, last = raw["first_name"], raw["last_name"]
        managed(world, raw["upn"], ids[raw["id"]], first_name=first, last_name=last)
    hand_made(world, "Jane.Doe@example.com")
    hand_made(world, "maria.garcia@example.com")
    world.emulator.reset_calls()
    before = directory.requests()

    code, report, _ = world.cli(
        "apply",
        *("--user", "new.hire@example.com", "--user", "jane.doe@example.com"),
        *("--user", "mgarcia@example.com", "--user", "left.soon@example.com"),
        *("--user", "moved.out@example.com", "--user", ids[uid(105)]),
    )

    assert code == 0, report
    assert world.kinds(report) == {
        "new.hire@example.com": "create",
        "left.soon@example.com": "disable",
        "moved.out@example.com": "disable",
        "pro.moted@example.com": "update",
    }
    kinds = {(m["kind"], m["connect_username"]) for m in report["mismatches"]}
    assert kinds == {
        ("case_mismatch", "Jane.Doe@example.com"),
        ("attribute_mismatch", "maria.garcia@example.com"),
    }
    users = world.users()
    assert users["pro.moted@example.com"]["RoutingProfileId"] == world.rp["Sales"]
    assert users["left.soon@example.com"]["SecurityProfileIds"] == [world.sp["Disabled"]]
    assert "jane.doe@example.com" not in users
    # No group's member list was read: a few directory requests per name, whatever the sizes.
    assert directory.whole_group_reads() == 0
    assert directory.requests() - before <= 8 * 6
    connect_reads = sum(world.emulator.calls[name] for name in (*READS, *CATALOG))
    assert connect_reads <= 12, dict(world.emulator.calls)


@pytest.mark.parametrize("directory", ["file", "entra", "okta", "duo"], indirect=True)
def test_a_duplicate_e_mail_is_seen_from_one_of_its_users(
    world: World, directory: Directory
) -> None:
    # The Identity Store API treats emails.value as a unique attribute (GetUserId finds the
    # one user holding an address), so this clash is not one it can hold.
    ids = directory.load(
        world,
        {
            "users": [
                {**person(uid(1), "kim.a@example.com"), "email": "team@example.com"},
                {**person(uid(2), "kim.b@example.com"), "email": "team@example.com"},
            ],
            "groups": GROUPS,
        },
    )
    world.config["username"] = {"attribute": directory.mail_attribute}

    code, report, _ = world.cli("apply", "--user", ids[uid(1)])

    assert code == 0 and report is not None
    assert world.actions(report) == []
    (duplicate,) = report["mismatches"]
    assert duplicate["kind"] == "duplicate_username" and duplicate["source_id"] == ids[uid(1)]
    assert world.users() == {}


@pytest.mark.parametrize("directory", ["okta", "duo"], indirect=True)
def test_a_look_up_that_keeps_failing_deprovisions_nobody(
    world: World, directory: Directory
) -> None:
    leaver = person(uid(7), "left.soon@example.com", enabled=False)
    ids = directory.load(world, {"users": [leaver], "groups": GROUPS})
    world.config["username"] = {"attribute": directory.attribute}
    managed(world, "left.soon@example.com", ids[uid(7)])
    if isinstance(directory.emulator, DuoEmulator):
        directory.emulator.fail_route("user_groups", 500)  # the leaver's groups: unreadable
    else:
        directory.emulator.throttle_next(1000, reset_in=0)  # every request answers 429

    code, report, _ = world.cli("apply", "--user", "left.soon@example.com")

    assert code == 4 and report is not None and report["status"] == "failed"
    assert [a["status"] for a in world.actions(report)] == ["held"]
    assert report["errors"]
    user = world.users()["left.soon@example.com"]
    assert user["SecurityProfileIds"] == [world.sp["Agent"]]
