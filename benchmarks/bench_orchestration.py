"""The workflow's first load: how many apply passes, how long, against the quota's bound.

One execution of ``statemachine/sync.asl.json`` (the ASL interpreter of the emulators
package; its Lambda steps are ``functions/workflow/app.py`` in-process) creates 5,000 agents
in an empty instance. Connect is the emulator with its quotas enforced, and the client's
limiter, both at ``SPEED`` times the published rates; the functions' 900-second timeout is
divided by the same factor, so simulated seconds are wall seconds times ``SPEED``. The
quota's lower bound is (CreateUser calls - burst) / 2 per second. Everything that is not
Connect (moto's S3, the interpreter, the machine's other load) is also multiplied by the
factor, so the ratio overstates what a real run spends beyond the quota.

No results table here: moto answers a Query over thousands of ownership records in
seconds (DynamoDB in milliseconds), which at this factor would dominate every pass.
"""

from __future__ import annotations

import gzip
import json
import logging
import math
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # tests.workflow_harness: the same harness as the tests

USERS = 5000
SPEED = 100.0
TIMEOUT = 900.0  # the functions' timeout in template.yaml
MARGIN = 30.0  # DEADLINE_MARGIN_SECONDS
BURST = 5.0  # the emulator's burst per operation (unscaled)
CREATE_RATE = 2.0  # CreateUser per second, per account and Region


def main() -> int:
    from moto.server import ThreadedMotoServer

    from connect_user_sync_emulators.connect import ConnectEmulator
    from tests.workflow_harness import Workflow

    logging.disable(logging.INFO)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    saved = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_CONNECT")}
    try:
        with (
            tempfile.TemporaryDirectory() as tmp,
            ConnectEmulator(speed=SPEED, max_users_per_instance=USERS * 2) as connect,
        ):
            os.environ["AWS_ENDPOINT_URL"] = f"http://{host}:{port}"
            os.environ["AWS_ENDPOINT_URL_CONNECT"] = connect.url
            workflow = Workflow(
                speed=SPEED, timeout_seconds=TIMEOUT, quiet=True, results_table=False
            )
            os.environ.update(workflow.environment())
            iid = connect.add_instance()
            for name in ("Agent", "Disabled"):
                connect.add_security_profile(iid, name)
            connect.add_routing_profile(iid, "Basic")
            directory = {
                "users": [
                    {
                        "id": f"u{i}",
                        "upn": f"agent.{i}@example.com",
                        "first_name": "A",
                        "last_name": f"N{i}",
                        "groups": ["Agents"],
                    }
                    for i in range(USERS)
                ],
                "groups": [{"id": "g", "name": "Agents"}],
            }
            path = Path(tmp) / "directory.json"
            path.write_text(json.dumps(directory), encoding="utf-8")
            workflow.configure(
                {
                    "source": {"type": "file", "file": {"path": str(path)}},
                    "username": {"attribute": "upn"},
                    "groups": [
                        {
                            "name": "Agents",
                            "security_profiles": ["Agent"],
                            "routing_profile": "Basic",
                        }
                    ],
                    "targets": [{"instance_id": iid, "region": "us-east-1"}],
                    "deprovision": {"action": "disable", "disabled_security_profile": "Disabled"},
                }
            )
            connect.reset_calls()
            began = time.perf_counter()
            run = workflow.start(
                {"detail-type": "Scheduled Event", "source": "aws.scheduler", "detail": {}}
            )
            wall = time.perf_counter() - began
            report(
                run, wall, connect.calls["CreateUser"], sum(connect.throttled.values()), workflow
            )
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return 0


def report(run: object, wall: float, creates: int, throttled: int, workflow: object) -> None:
    from connect_user_sync_emulators.states import PAYLOAD_LIMIT, Execution
    from tests.workflow_harness import Workflow

    assert isinstance(run, Execution)
    assert isinstance(workflow, Workflow)
    if run.status != "SUCCEEDED":
        print(f"workflow first load: execution {run.status}: {run.error}: {run.cause}")
        return
    summary = run.output
    passes = summary["passes"]["0"]
    simulated = wall * SPEED
    bound = (creates - BURST) / CREATE_RATE
    per_pass = TIMEOUT - MARGIN
    body = workflow.s3.get_object(
        Bucket=workflow.bucket, Key=f"runs/{summary['run_id']}/directory.json.gz"
    )["Body"].read()
    print(
        f"workflow first load, {USERS} users at {SPEED:g}x: status {summary['status']} in one "
        f"execution, {passes} apply passes (at least ceil({bound:.0f} / {per_pass:.0f}) = "
        f"{math.ceil(bound / per_pass)} at the quota; cap {workflow.max_iterations}); simulated "
        f"{simulated:.0f} s (wall {wall:.1f} s) against the CreateUser bound {bound:.0f} s: "
        f"ratio {simulated / bound:.2f}; {creates} CreateUser, {throttled} throttled; largest "
        f"state {run.largest_payload} bytes (limit {PAYLOAD_LIMIT}); snapshot in S3 "
        f"{len(body) // 1024} KB gzip, {len(gzip.decompress(body)) // 1024} KB JSON"
    )


if __name__ == "__main__":
    sys.exit(main())
