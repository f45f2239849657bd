"""``connect-user-sync sandbox``: try the tool on your own HR export, without an AWS account.

Starts on 127.0.0.1, in this process, until Ctrl-C or SIGTERM:

- the Connect emulator, with one instance holding what the README's example
  configuration names (security profiles Agent, CallCenterManager, QualityAnalyst, Admin
  and Disabled; routing profiles Basic Routing Profile, Supervisors and Parked; hierarchy
  groups Floor 1 and Floor 2) and a hand-made ``admin`` user, as a real instance has;
- a moto server for the results table (created from ``template.yaml``'s
  ``ResultsTable``), the alerts topic, and an S3 bucket to try ``s3://`` paths.

It writes a ready configuration and a small sample export into a directory it prints,
and prints the environment to export in another terminal. Then ``plan``, ``apply``,
``runs`` and ``history`` work exactly as they would against AWS.

    python -m connect_user_sync_emulators.sandbox [--dir DIR] [--export FILE] ...
"""

from __future__ import annotations

import argparse
import logging
import shlex
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, TextIO

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
# The README's example instance id, so that its example configuration works as written.
INSTANCE_ID = "11111111-2222-3333-4444-555555555555"
TABLE = "connect-user-sync-sandbox-results"
TOPIC = "connect-user-sync-sandbox-alerts"
BUCKET = "connect-user-sync-sandbox-exports"
SPEED = 10.0  # Connect's default quotas times ten: a 500-user first load takes ~25 s
SECURITY_PROFILES = ("Agent", "CallCenterManager", "QualityAnalyst", "Admin", "Disabled")
ROUTING_PROFILES = ("Basic Routing Profile", "Supervisors", "Parked")
HIERARCHY_GROUPS = ("Floor 1", "Floor 2")
READY = "Sandbox ready. Press Ctrl-C to stop."

SAMPLE_EXPORT = """\
id,upn,email,first_name,last_name,enabled,groups,department
E1001,jane.doe@example.com,jane.doe@example.com,Jane,Doe,Active,CC-Supervisors|CC-Agents,Customer Care
E1002,omar.haddad@example.com,omar.haddad@example.com,Omar,Haddad,Active,CC-Agents,Customer Care
E1003,li.wei@example.com,li.wei@example.com,Li,Wei,Active,CC-Agents,Customer Care
E1004,sofia.rossi@example.com,sofia.rossi@example.com,Sofia,Rossi,Active,CC-Agents,Sales
E1005,kwame.mensah@example.com,kwame.mensah@example.com,Kwame,Mensah,Active,CC-Agents,Sales
E1006,ingrid.novak@example.com,ingrid.novak@example.com,Ingrid,Novak,Terminated,CC-Agents,Sales
"""

CONFIG = """\
# connect-user-sync sandbox configuration. Edit freely: the sandbox never overwrites it.
# Every key is explained in the README; the file source in docs/file-source.md.
source:
  type: file
  file:
    path: {path}
    # encoding: cp1252           # exports from Excel or HR systems on Windows
    # delimiter: ";"             # default: detect , ; or tab from the header line
    # columns:                   # contract field -> the header your export uses
    #   id: Employee ID
    #   upn: Work Email
    #   email: Work Email
    #   first_name: Preferred Name
    #   last_name: Last Name
    #   enabled: Worker Status
    #   groups: Teams            # several groups in one cell are separated by |
    # active_values: [Active, On Leave]   # the enabled column's values that mean active

username:
  attribute: upn                 # the column your IdP asserts as RoleSessionName

groups:                          # in priority order; names as your export spells them
  - name: CC-Supervisors
    security_profiles: [CallCenterManager, Agent]
    routing_profile: Supervisors
    hierarchy_group: Floor 1
    phone: {{type: SOFT_PHONE, auto_accept: true, after_contact_work_timeout: 30}}
  - name: CC-Agents
    security_profiles: [Agent]
    routing_profile: Basic Routing Profile
    hierarchy_group: Floor 2

targets:
  - instance_id: {instance_id}
    region: {region}

deprovision:
  action: disable
  disabled_security_profile: Disabled
  disabled_routing_profile: Parked

safety:
  max_deprovision: 25
  max_deprovision_percent: 10

results: {{table: {table}}}
alerts: {{topic_arn: {topic_arn}}}
"""


class SandboxError(Exception):
    """The sandbox cannot start; the message says why and what to do."""


# --------------------------------------------------------------------------- AWS side


class _CfnLoader:
    """A YAML loader that reads CloudFormation short forms (!Ref, !Sub...) as long forms."""

    @staticmethod
    def load(text: str) -> Any:
        import yaml

        class Loader(yaml.SafeLoader):
            pass

        def intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
            name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
            if isinstance(node, yaml.ScalarNode):
                return {name: loader.construct_scalar(node)}
            if isinstance(node, yaml.SequenceNode):
                return {name: loader.construct_sequence(node, deep=True)}
            return {name: loader.construct_mapping(node, deep=True)}  # type: ignore[arg-type]

        Loader.add_multi_constructor("!", intrinsic)
        return yaml.load(text, Loader=Loader)  # noqa: S506 - a SafeLoader subclass


def _template_path() -> Path:
    for candidate in (
        Path.cwd() / "template.yaml",
        Path(__file__).resolve().parents[2] / "template.yaml",
    ):
        if candidate.is_file():
            return candidate
    raise SandboxError(
        "template.yaml not found: run the sandbox from the project's checkout (the results "
        "table is created exactly as the template declares it)"
    )


def create_results_table(dynamodb: Any, name: str, template: Path | None = None) -> None:
    """Create the results table as template.yaml's ``ResultsTable`` declares it."""
    document = _CfnLoader.load((template or _template_path()).read_text(encoding="utf-8"))
    props = document["Resources"]["ResultsTable"]["Properties"]
    dynamodb.create_table(
        TableName=name,
        BillingMode=props["BillingMode"],
        AttributeDefinitions=props["AttributeDefinitions"],
        KeySchema=props["KeySchema"],
        GlobalSecondaryIndexes=props["GlobalSecondaryIndexes"],
    )
    ttl = props.get("TimeToLiveSpecification")
    if ttl:
        dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)


@contextmanager
def _moto(port: int) -> Iterator[tuple[str, str]]:
    """A moto server with the results table, the topic and a bucket; yields (url, topic ARN)."""
    try:
        import boto3
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        raise SandboxError(
            f"the sandbox needs moto's server ({exc.name} is missing). Fix: "
            "pip install 'moto[server]>=5.0' (make sandbox installs it)"
        ) from None
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request on the console
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    try:
        server.start()
    except OSError as exc:
        raise SandboxError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None
    try:
        host, bound = server.get_host_and_port()
        url = f"http://{host}:{bound}"
        session = boto3.Session(  # moto accepts any key: these are not secrets
            aws_access_key_id="sandbox",
            aws_secret_access_key="sandbox",  # noqa: S106
            region_name=REGION,
        )
        create_results_table(session.client("dynamodb", endpoint_url=url), TABLE)
        topic = session.client("sns", endpoint_url=url).create_topic(Name=TOPIC)["TopicArn"]
        session.client("s3", endpoint_url=url).create_bucket(Bucket=BUCKET)
        yield url, str(topic)
    finally:
        server.stop()


# --------------------------------------------------------------------------- Connect side


def _connect(port: int, speed: float, max_users: int) -> Any:
    from connect_user_sync_emulators.connect import ConnectEmulator

    emulator = ConnectEmulator(
        region=REGION,
        account_id=ACCOUNT_ID,
        speed=speed,
        max_users_per_instance=max_users,
        port=port,
    )
    iid = emulator.add_instance(INSTANCE_ID)
    profiles = {n: emulator.add_security_profile(iid, n) for n in SECURITY_PROFILES}
    routing = {n: emulator.add_routing_profile(iid, n) for n in ROUTING_PROFILES}
    for name in HIERARCHY_GROUPS:
        emulator.add_hierarchy_group(iid, name)
    # Every real instance has its hand-made administrator; the sync never touches it.
    emulator.add_user(
        iid,
        "admin",
        security_profile_ids=[profiles["Admin"]],
        routing_profile_id=routing["Basic Routing Profile"],
        first_name="Instance",
        last_name="Administrator",
    )
    return emulator


# --------------------------------------------------------------------------- the run


def _files(directory: Path, export: Path | None, topic_arn: str) -> tuple[Path, Path, bool]:
    """Write the sample export and the configuration; keep a configuration already there."""
    directory.mkdir(parents=True, exist_ok=True)
    sample = directory / "export.csv"
    if export is None and not sample.exists():
        sample.write_text(SAMPLE_EXPORT, encoding="utf-8")
    config = directory / "sync.yaml"
    if config.exists():
        return config, export or sample, False
    path = str(export.resolve()) if export else "export.csv"
    config.write_text(
        CONFIG.format(
            path=path,
            instance_id=INSTANCE_ID,
            region=REGION,
            table=TABLE,
            topic_arn=topic_arn,
        ),
        encoding="utf-8",
    )
    return config, export or sample, True


def _environment(aws_url: str, connect_url: str, speed: float) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": aws_url,
        "AWS_ENDPOINT_URL_CONNECT": connect_url,
        "AWS_ACCESS_KEY_ID": "sandbox",
        "AWS_SECRET_ACCESS_KEY": "sandbox",  # not a secret: moto accepts any key
        "AWS_DEFAULT_REGION": REGION,
        "CONNECT_USER_SYNC_RATE_MULTIPLIER": f"{speed:g}",
    }


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may install handlers; the caller owns ``stop``
        return
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_sandbox(
    directory: str | Path | None = None,
    *,
    export: str | Path | None = None,
    connect_port: int = 0,
    aws_port: int = 0,
    speed: float = SPEED,
    max_users: int = 500,
    out: TextIO | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Run the sandbox until Ctrl-C, SIGTERM or ``stop`` is set. Returns an exit code.

    ``directory`` (default: ``<tmp>/connect-user-sync-sandbox``) receives ``sync.yaml``,
    ``export.csv`` and ``sandbox.env``; an existing ``sync.yaml`` is kept. ``export`` is
    the path of your own export, written into a new ``sync.yaml``. Port 0 picks a free port.
    """
    write = (out or sys.stdout).write
    stop = stop or threading.Event()
    workdir = (
        Path(directory) if directory else Path(tempfile.gettempdir()) / "connect-user-sync-sandbox"
    )
    export_path = Path(export) if export else None
    if export_path is not None and not export_path.is_file():
        write(
            f"connect-user-sync sandbox: {export_path} is not a file. Fix: give the path of your export.\n"
        )
        return 2
    try:
        with ExitStack() as stack:
            # Handlers first: a Ctrl-C at any moment from here on (while the servers start,
            # while the banner prints) only asks the loop below to stop, never interrupts.
            stack.enter_context(_stop_on_signals(stop))
            try:
                emulator = stack.enter_context(_connect(connect_port, speed, max_users))
            except OSError as exc:
                raise SandboxError(
                    f"cannot listen on 127.0.0.1:{connect_port}: {exc.strerror or exc}"
                ) from None
            aws_url, topic_arn = stack.enter_context(_moto(aws_port))
            config, data, fresh = _files(workdir, export_path, topic_arn)
            env = _environment(aws_url, emulator.url, speed)
            env_file = workdir / "sandbox.env"
            env_file.write_text(
                "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items()), encoding="utf-8"
            )
            write(
                _banner(
                    emulator.url, aws_url, topic_arn, config, data, fresh, env, env_file, max_users
                )
            )
            write(READY + "\n")
            (out or sys.stdout).flush()
            while not stop.wait(0.2):
                pass
            write("Stopping the sandbox...\n")
        write("Sandbox stopped. Its state lived in memory and is gone; the files stay.\n")
        return 0
    except SandboxError as exc:
        write(f"connect-user-sync sandbox: {exc}\n")
        return 2


def _banner(
    connect_url: str,
    aws_url: str,
    topic_arn: str,
    config: Path,
    data: Path,
    fresh: bool,
    env: dict[str, str],
    env_file: Path,
    max_users: int,
) -> str:
    q = shlex.quote
    lines = [
        "connect-user-sync sandbox: Amazon Connect and AWS on this machine, no account needed.",
        "",
        f"  Connect emulator  {connect_url}",
        f"      instance {INSTANCE_ID} ({REGION}), at most {max_users} users",
        f"      security profiles: {', '.join(SECURITY_PROFILES)}",
        f"      routing profiles:  {', '.join(ROUTING_PROFILES)}",
        f"      hierarchy groups:  {', '.join(HIERARCHY_GROUPS)}",
        f"  AWS (moto)        {aws_url}",
        f"      results table {TABLE}, alerts topic {topic_arn}",
        f"      bucket s3://{BUCKET} (upload an export there to try an s3:// path)",
        "",
        f"Configuration: {config}" + ("" if fresh else " (kept from an earlier start)"),
        f"Export:        {data}",
        "",
        f"In another terminal, set this environment (or: source {q(str(env_file))}):",
        "",
        *(f"export {k}={q(v)}" for k, v in env.items()),
        "",
        "Then try:",
        f"  connect-user-sync plan  --config {q(str(config))}     # what would change; writes nothing",
        f"  connect-user-sync apply --config {q(str(config))}",
        f"  connect-user-sync runs  --config {q(str(config))}",
        f"  connect-user-sync history jane.doe@example.com --config {q(str(config))}",
        "",
        "To use your own export, point source.file.path in the configuration at it (or start",
        "with --export FILE), and name your groups and columns there.",
        "",
    ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The sandbox's options, for ``python -m`` and for the ``sandbox`` CLI verb."""
    parser.add_argument(
        "--dir",
        metavar="DIR",
        help="where to write sync.yaml, export.csv and sandbox.env "
        "(default: <tmp>/connect-user-sync-sandbox)",
    )
    parser.add_argument("--export", metavar="FILE", help="your own export, used in a new sync.yaml")
    parser.add_argument("--connect-port", type=int, default=0, help="default: any free port")
    parser.add_argument("--aws-port", type=int, default=0, help="default: any free port")
    parser.add_argument(
        "--speed",
        type=float,
        default=SPEED,
        help=f"multiple of Connect's default API quotas (default {SPEED:g})",
    )
    parser.add_argument(
        "--max-users",
        type=int,
        default=500,
        help="users per instance, Connect's default quota (default 500)",
    )


def run_from_args(args: argparse.Namespace) -> int:
    if args.speed <= 0 or args.max_users < 1:
        print(
            "connect-user-sync sandbox: --speed and --max-users must be positive", file=sys.stderr
        )
        return 2
    return run_sandbox(
        args.dir,
        export=args.export,
        connect_port=args.connect_port,
        aws_port=args.aws_port,
        speed=args.speed,
        max_users=args.max_users,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="connect-user-sync sandbox",
        description="Amazon Connect and AWS on this machine, to try the tool on your own export.",
    )
    add_arguments(parser)
    try:
        return run_from_args(parser.parse_args(argv))
    except KeyboardInterrupt:  # Ctrl-C before the handlers were in place: nothing started
        print("Sandbox stopped before it was ready.")
        return 0


if __name__ == "__main__":
    sys.exit(main())
