"""Duo: how many Admin API requests a plan over 1,000 group members costs (`make bench`).

The whole pipeline runs: the Duo source (duo_client over TLS against the Duo emulator,
every request signed and checked) and a plan against the Connect emulator. The figure to
read is the request count against its bound, 2 x ceil(members / 100) + 5: members come 500
a page and details 100 ids a request, so the count never grows with one request per user.
"""

from __future__ import annotations

import math
import os
import time

from connect_user_sync.config import parse_config
from connect_user_sync.service import RunRequest, run_sync
from connect_user_sync_emulators.connect import ConnectEmulator
from connect_user_sync_emulators.duo import DuoEmulator

MEMBERS = 1000
SPEED = 50.0


def main() -> None:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    touched = (
        "REQUESTS_CA_BUNDLE",
        "AWS_ENDPOINT_URL_CONNECT",
        "CONNECT_USER_SYNC_RATE_MULTIPLIER",
    )
    saved = {key: os.environ.get(key) for key in touched}
    os.environ["CONNECT_USER_SYNC_RATE_MULTIPLIER"] = str(SPEED)
    with (
        ConnectEmulator(speed=SPEED) as connect,
        DuoEmulator("DIBENCHINTEGRATION00", "bench-secret-key") as duo,
    ):
        os.environ["AWS_ENDPOINT_URL_CONNECT"] = connect.url
        os.environ["REQUESTS_CA_BUNDLE"] = duo.ca_file
        iid = connect.add_instance()
        for profile in ("Agent", "Disabled"):
            connect.add_security_profile(iid, profile)
        connect.add_routing_profile(iid, "Basic")
        ids = [f"DU{n:018d}" for n in range(MEMBERS)]
        for n, uid in enumerate(ids):
            duo.add_user(uid, f"agent{n}", email=f"agent{n}@example.com", firstname="A")
        duo.add_group("DGBENCH", "CC-Agents", ids)
        config = parse_config(
            {
                "source": duo.source_section(),
                "username": {"attribute": "email"},
                "groups": [
                    {
                        "name": "CC-Agents",
                        "security_profiles": ["Agent"],
                        "routing_profile": "Basic",
                    }
                ],
                "targets": [{"instance_id": iid, "region": "us-east-1"}],
                "deprovision": {"action": "disable", "disabled_security_profile": "Disabled"},
            }
        )
        start = time.perf_counter()
        outcome = run_sync(config, RunRequest(dry_run=True))
        seconds = time.perf_counter() - start
        bound = 2 * math.ceil(MEMBERS / 100) + 5
        creates = outcome.report["targets"][0]["counts"]["create"]
        print(
            f"duo plan, {MEMBERS} members: {duo.api_requests} Duo requests (bound {bound}), "
            f"{dict(duo.requests)}, {creates} creates planned, {seconds:6.2f} s"
        )
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


if __name__ == "__main__":
    main()
