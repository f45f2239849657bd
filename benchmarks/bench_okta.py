"""Okta: what a plan over large groups costs in Okta requests (printed by ``make bench``).

A dry run of the whole service (the okta SDK against the Okta emulator over TLS, boto3
against the Connect emulator) over two groups of 2,000 members each, signed in as a
service app with a private-key JWT. The bound per group is ceil(members / 200) pages plus
five requests for everything else (token, group lookup, a retry or two).
"""

from __future__ import annotations

import math
import os
import time

os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from connect_user_sync.config import parse_config
from connect_user_sync.service import RunRequest, run_sync
from connect_user_sync_emulators.connect import ConnectEmulator
from connect_user_sync_emulators.okta import OktaEmulator, generate_key_pair

MEMBERS = 2000
GROUPS = ("CC-Agents", "CC-Supervisors")
CLIENT_ID = "0oa-bench-service-app"
SPEED = 50.0


def main() -> int:
    os.environ.setdefault("CONNECT_USER_SYNC_RATE_MULTIPLIER", str(SPEED))
    private_key, public_jwk = generate_key_pair()
    with (
        ConnectEmulator(speed=SPEED, max_users_per_instance=50000) as connect,
        OktaEmulator() as okta,
    ):
        okta.register_app(CLIENT_ID, public_jwk)
        for index, name in enumerate(GROUPS):
            ids = [f"00u{index}{n:06d}" for n in range(MEMBERS)]
            for user_id in ids:
                login = f"{user_id}@example.com"
                okta.add_user(user_id, login, login, "A", user_id)
            okta.add_group(f"00g{index}", name, ids)
        iid = connect.add_instance()
        connect.add_security_profile(iid, "Agent")
        connect.add_security_profile(iid, "Disabled")
        connect.add_routing_profile(iid, "Basic")
        saved = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL_CONNECT", *okta.env())}
        os.environ.update({"AWS_ENDPOINT_URL_CONNECT": connect.url, **okta.env()})
        try:
            config = parse_config(
                {
                    "source": {
                        "type": "okta",
                        "okta": {
                            "org_url": okta.org_url,
                            "client_id": CLIENT_ID,
                            "private_key": private_key,
                        },
                    },
                    "username": {"attribute": "login"},
                    "groups": [
                        {"name": name, "security_profiles": ["Agent"], "routing_profile": "Basic"}
                        for name in GROUPS
                    ],
                    "targets": [{"instance_id": iid, "region": "us-east-1"}],
                    "deprovision": {"action": "disable", "disabled_security_profile": "Disabled"},
                }
            )
            start = time.perf_counter()
            outcome = run_sync(config, RunRequest(dry_run=True))
            seconds = time.perf_counter() - start
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    creates = outcome.report["targets"][0]["counts"]["create"]
    total = okta.api_requests + okta.token_requests
    per_group = total / len(GROUPS)
    bound = math.ceil(MEMBERS / 200) + 5
    verdict = "within" if per_group <= bound else "OVER"
    print(
        f"okta plan, {len(GROUPS)} groups x {MEMBERS} members: {seconds:6.2f} s, "
        f"{total} Okta requests ({dict(okta.requests)}), {per_group:.1f} per group, "
        f"bound ceil({MEMBERS}/200)+5 = {bound}: {verdict}; {creates} creates planned"
    )
    return 0 if per_group <= bound else 1


if __name__ == "__main__":
    raise SystemExit(main())
