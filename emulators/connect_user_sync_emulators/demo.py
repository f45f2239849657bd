"""The demo's world: emulators, a seeded Connect instance and a sample directory.

``demo_world`` starts the Connect emulator (and, for another source, that directory's
emulator), seeds an instance and a sample directory, writes the directory and a ready
configuration to a work directory and points the environment at the emulators. The
``connect-user-sync demo`` verb (``connect_user_sync.cli.demo``) runs the product in it:
this package runs no product code itself.
"""

from __future__ import annotations

import importlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEMO_SPEED = 50.0  # the emulator and the client both run 50x Connect's default quotas

# Each directory's demo: a context manager taking the sample directory and yielding
# (source section of the config, environment to set[, username attribute to assert]).
SOURCE_DEMOS = {
    "entra": "connect_user_sync_emulators.graph:entra_demo",
    "okta": "connect_user_sync_emulators.okta:okta_demo",
    "duo": "connect_user_sync_emulators.duo:duo_demo",
    "identity_center": "connect_user_sync_emulators.identity_center:identity_center_demo",
}


@contextmanager
def _env(values: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


@dataclass(frozen=True)
class DemoWorld:
    """What the demo runs against, alive while ``demo_world`` is."""

    source: str
    emulator: Any  # the ConnectEmulator
    instance_id: str
    directory: dict[str, Any]
    document: dict[str, Any]  # the configuration, ready for the product's parser
    workdir: Path
    directory_path: Path
    config_path: Path

    def connect_calls(self) -> int:
        return sum(self.emulator.calls.values())

    def existing_users(self) -> int:
        return len(self.emulator.users(self.instance_id))


@contextmanager
def demo_world(source: str = "file", users: int = 200) -> Iterator[DemoWorld]:
    """Start the emulators and seed them; everything stops when the block ends."""
    import yaml

    from connect_user_sync_emulators.connect import ConnectEmulator
    from connect_user_sync_emulators.sample import sample_config, sample_directory, seed_connect

    workdir = Path(tempfile.mkdtemp(prefix="connect-user-sync-demo-"))
    with ExitStack() as stack:
        emulator = stack.enter_context(ConnectEmulator(speed=DEMO_SPEED))
        stack.enter_context(
            _env(
                {
                    "AWS_ENDPOINT_URL_CONNECT": emulator.url,
                    "AWS_ACCESS_KEY_ID": "demo",
                    "AWS_SECRET_ACCESS_KEY": "demo",
                    "AWS_DEFAULT_REGION": "us-east-1",
                    "CONNECT_USER_SYNC_RATE_MULTIPLIER": str(DEMO_SPEED),
                }
            )
        )
        directory = sample_directory(users)
        directory_path = workdir / "directory.json"
        directory_path.write_text(
            json.dumps(directory, indent=2, ensure_ascii=False), encoding="utf-8"
        )
        instance_id = seed_connect(emulator, directory)
        document = sample_config(instance_id, str(directory_path))
        if source != "file":
            module_name, _, factory_name = SOURCE_DEMOS[source].partition(":")
            factory = getattr(importlib.import_module(module_name), factory_name)
            section, env, *attribute = stack.enter_context(factory(directory))
            stack.enter_context(_env(env))
            document["source"] = section
            if attribute:
                document["username"]["attribute"] = attribute[0]
        config_path = workdir / "config.yaml"
        config_path.write_text(
            yaml.safe_dump(document, sort_keys=False, allow_unicode=True), encoding="utf-8"
        )
        yield DemoWorld(
            source, emulator, instance_id, directory, document, workdir, directory_path, config_path
        )
