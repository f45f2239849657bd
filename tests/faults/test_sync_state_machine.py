"""A state machine of a directory's life, with syncs and faults interleaved.

Hypothesis drives random steps: people join, leave, are renamed, come back, change name or
group or are disabled; somebody edits Connect by hand (moves a managed user, deletes one,
creates an unrelated one); faults are injected into Connect (throttling, a burst of
server errors, a lost create response, a user whose every call fails); and syncs run (the
real service, boto3, the Connect emulator, the results table on moto). After every sync:

- no wrong deprovisioning: nobody active in an in-scope group has their current username
  disabled in Connect, and every managed user carries the id of a person who asserted that
  username at some point (no user made for the wrong person);
- every planned action is applied, failed with its error, held, or left for the next run;
- the run is recorded with a final status and one item per action.

At the end a fault-free sync (approved, as a person would once a group emptied) converges:
each active person has exactly one enabled managed user, under their current username,
nobody else has one, and the next plan is empty.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    multiple,
    rule,
    run_state_machine_as_test,
)

from connect_user_sync.config import TargetConfig, parse_config
from connect_user_sync.connect import ConnectInstance, RateLimiter, connect_client
from connect_user_sync.domain.models import TAG_DISABLED, TAG_MANAGED, TAG_SOURCE_ID
from connect_user_sync.service import RunRequest, run_sync
from connect_user_sync.sources.file import FileSource
from connect_user_sync.store import DynamoRunStore
from connect_user_sync_emulators.connect import ConnectEmulator
from tests.conftest import create_results_table
from tests.faults.stand import every_action_accounted

pytestmark = pytest.mark.slow

NAMES = ["ana", "bo", "cy", "dee", "eli", "fay", "gus", "hal"]
GROUPS = ["Agents", "Supervisors"]


def run_machine(emulator: ConnectEmulator, ddb: Any, tmp: Path) -> None:
    class DirectoryLife(RuleBasedStateMachine):
        people = Bundle("people")

        def __init__(self) -> None:
            super().__init__()
            self.iid = emulator.add_instance()
            self.sp = {
                n: emulator.add_security_profile(self.iid, n)
                for n in ("Agent", "Supervisor", "Disabled")
            }
            self.rp = {n: emulator.add_routing_profile(self.iid, n) for n in ("Basic", "Sales")}
            self.table = f"machine-{uuid.uuid4().hex[:8]}"
            create_results_table(ddb, self.table)
            self.store = DynamoRunStore(self.table, client=ddb)
            self.connect = boto3.client("connect", region_name="us-east-1")
            # One client for every sync of the machine: building one costs half a second.
            self.adapter_client = connect_client("us-east-1")
            self.directory: dict[str, dict[str, Any]] = {}
            self.asserted: dict[str, set[str]] = defaultdict(set)  # id -> usernames ever
            self.path = tmp / f"{self.iid}.json"
            self.config = parse_config(
                {
                    "source": {"type": "file", "file": {"path": str(self.path)}},
                    "groups": [
                        {
                            "name": "Supervisors",
                            "security_profiles": ["Supervisor", "Agent"],
                            "routing_profile": "Sales",
                        },
                        {
                            "name": "Agents",
                            "security_profiles": ["Agent"],
                            "routing_profile": "Basic",
                        },
                    ],
                    "targets": [{"instance_id": self.iid, "region": "us-east-1"}],
                    "deprovision": {"action": "disable", "disabled_security_profile": "Disabled"},
                    "safety": {"max_deprovision": 1000, "max_deprovision_percent": 100},
                    "results": {"table": self.table},
                }
            )
            self.serial = 0
            emulator.clear_faults()

        def target(self, config: TargetConfig, limiter: RateLimiter) -> ConnectInstance:
            return ConnectInstance(self.adapter_client, config.instance_id, limiter=limiter)

        # ------------------------------------------------------------- the directory

        def _upn(self, name: str) -> str:
            self.serial += 1
            return f"{name}.{self.serial}@example.com"

        @initialize(
            target=people,
            hires=st.lists(
                st.tuples(st.sampled_from(NAMES), st.sampled_from(GROUPS)), min_size=2, max_size=6
            ),
        )
        def first_hires(self, hires: list[tuple[str, str]]) -> Any:
            return multiple(*(self.join(name, group) for name, group in hires))

        @rule(target=people, name=st.sampled_from(NAMES), group=st.sampled_from(GROUPS))
        def join(self, name: str, group: str) -> str:
            sid = f"id-{uuid.uuid4().hex[:8]}"
            upn = self._upn(name)
            self.directory[sid] = {
                "id": sid,
                "upn": upn,
                "email": upn,
                "first_name": name.title(),
                "last_name": "Person",
                "enabled": True,
                "groups": [group],
            }
            self.asserted[sid].add(upn)
            return sid

        @rule(sid=people)
        def leave(self, sid: str) -> None:
            self.directory[sid]["groups"] = []

        @rule(sid=people, group=st.sampled_from(GROUPS))
        def rehire(self, sid: str, group: str) -> None:
            self.directory[sid]["groups"] = [group]
            self.directory[sid]["enabled"] = True

        @rule(sid=people, name=st.sampled_from(NAMES))
        def rename(self, sid: str, name: str) -> None:
            upn = self._upn(name)
            self.directory[sid]["upn"] = upn
            self.asserted[sid].add(upn)

        @rule(sid=people, change=st.sampled_from(["last_name", "email", "group", "disable"]))
        def change(self, sid: str, change: str) -> None:
            person = self.directory[sid]
            if change == "last_name":
                person["last_name"] = person["last_name"] + "x"
            elif change == "email":
                person["email"] = f"{uuid.uuid4().hex[:6]}@mail.example.com"
            elif change == "group":
                person["groups"] = [g for g in GROUPS if g not in person["groups"]][:1]
            else:
                person["enabled"] = False

        @rule(sid=consumes(people))
        def removed_from_the_directory(self, sid: str) -> None:
            del self.directory[sid]

        # ------------------------------------------------------------- Connect by hand

        def _managed(self) -> list[dict[str, Any]]:
            return [u for u in emulator.users(self.iid) if u["Tags"].get(TAG_MANAGED) == "true"]

        @rule(pick=st.integers(0, 50), what=st.sampled_from(["move", "delete", "unrelated"]))
        def manual_edit(self, pick: int, what: str) -> None:
            if what == "unrelated":
                emulator.add_user(
                    self.iid,
                    f"hand.made.{uuid.uuid4().hex[:6]}@example.com",
                    security_profile_ids=[self.sp["Agent"]],
                    routing_profile_id=self.rp["Basic"],
                )
                return
            managed = self._managed()
            if not managed:
                return
            user = managed[pick % len(managed)]
            ids = {"InstanceId": self.iid, "UserId": user["Id"]}
            try:  # a person's edit meets the injected faults too; then it did not happen
                if what == "move":
                    other = "Sales" if user["RoutingProfileId"] == self.rp["Basic"] else "Basic"
                    self.connect.update_user_routing_profile(RoutingProfileId=self.rp[other], **ids)
                else:
                    self.connect.delete_user(**ids)
            except ClientError:
                pass

        # ------------------------------------------------------------- faults

        @rule(
            fault=st.sampled_from(["throttle", "burst", "lost_create", "failing_user"]),
            sid=people,
        )
        def inject_fault(self, fault: str, sid: str) -> None:
            upn = self.directory.get(sid, {}).get("upn", "nobody@example.com")
            if fault == "throttle":
                emulator.throttle_rate = 0.3
            elif fault == "burst":
                emulator.fail_requests(6, "InternalServiceException")
            elif fault == "lost_create":
                emulator.lose_create_response(upn)
            else:
                emulator.fail_username(upn, error="InternalServiceException")

        # ------------------------------------------------------------- syncs

        def _sync(self, *, dry_run: bool = False, approve: bool = False) -> dict[str, Any]:
            self.path.write_text(
                json.dumps(
                    {
                        "users": list(self.directory.values()),
                        "groups": [
                            {"id": "g1", "name": "Agents"},
                            {"id": "g2", "name": "Supervisors"},
                        ],
                    }
                ),
                encoding="utf-8",
            )
            outcome = run_sync(
                self.config,
                RunRequest(dry_run=dry_run, approve_deprovision=approve),
                store=self.store,
                source=FileSource(str(self.path)),
                connect=self.target,
            )
            report = outcome.report.to_json()
            assert report["status"] != "busy", "nothing else runs here"
            return report

        @rule()
        def sync(self) -> None:
            report = self._sync()
            emulator.clear_faults()
            every_action_accounted(report)
            item = self.store.run(report["run_id"])
            assert item is not None and item["status"] == report["status"]
            items = self.store._query(
                KeyConditionExpression="PK = :pk",
                ExpressionAttributeValues={":pk": {"S": f"RUN#{report['run_id']}"}},
            )
            recorded = [i for i in items if str(i["SK"]).startswith("ACTION#")]
            assert len(recorded) == sum(len(t["actions"]) for t in report["targets"])
            self.check_no_wrong_deprovision()

        def _active(self) -> dict[str, str]:
            return {
                sid: p["upn"] for sid, p in self.directory.items() if p["enabled"] and p["groups"]
            }

        def check_no_wrong_deprovision(self) -> None:
            users = {u["Username"]: u for u in emulator.users(self.iid)}
            for sid, upn in self._active().items():
                user = users.get(upn)
                if user is not None and user["Tags"].get(TAG_MANAGED) == "true":
                    assert not user["Tags"].get(TAG_DISABLED), f"{upn} is active but disabled"
                    assert user["Tags"].get(TAG_SOURCE_ID) == sid
            for user in self._managed():
                sid = user["Tags"].get(TAG_SOURCE_ID)
                assert user["Username"] in self.asserted.get(sid or "", set()), (
                    f"{user['Username']} was made for somebody who never asserted it"
                )

        def teardown(self) -> None:
            emulator.clear_faults()
            # A group that emptied holds deprovisioning until a person approves: one does.
            report = self._sync(approve=True)
            assert report["status"] == "succeeded", report["errors"]
            self.check_no_wrong_deprovision()
            enabled: dict[str, list[str]] = defaultdict(list)
            for user in self._managed():
                if not user["Tags"].get(TAG_DISABLED):
                    enabled[user["Tags"][TAG_SOURCE_ID]].append(user["Username"])
            assert dict(enabled) == {sid: [upn] for sid, upn in self._active().items()}
            plan = self._sync(dry_run=True)
            assert [a for t in plan["targets"] for a in t["actions"]] == []

    run_state_machine_as_test(
        DirectoryLife,
        settings=settings(
            max_examples=8,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )


def test_random_lives_of_a_directory_converge_whatever_the_faults(
    connect_emulator: ConnectEmulator,
    moto_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_CONNECT", connect_emulator.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_url)
    monkeypatch.setenv("LEASE_WAIT_SECONDS", "0")
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    try:
        run_machine(connect_emulator, ddb, tmp_path)
    finally:
        connect_emulator.clear_faults()
