"""An IAM Identity Center identity store for tests and the demo: moto behind a thin front.

moto's ``identitystore`` (run as a ``ThreadedMotoServer``) keeps the groups, users and
memberships and answers the real wire protocol (AWS JSON 1.1, ``X-Amz-Target``). A small
HTTP front in this module forwards every request to it and adds what moto lacks and a
test needs, still on the wire, so that the unmodified boto3 client runs end to end:

- per-operation call counts, and the access key ids that signed the calls;
- ``UserStatus`` on ``ListUsers`` / ``DescribeUser`` answers for users given a status
  (moto 5 does not model UserStatus at all; the service's current model has
  ``ENABLED | DISABLED``);
- ``ResourceNotFoundException`` (``ResourceType: IDENTITY_STORE``) for a store nobody
  created (moto silently creates any store it is asked about);
- injected faults: ``ThrottlingException`` (with ``RetryAfterSeconds``),
  ``AccessDeniedException``, ``InternalServerException``, for N calls or for ever.

Point a client at it with ``AWS_ENDPOINT_URL_IDENTITYSTORE`` (see ``env``).
"""

from __future__ import annotations

import http.client
import json
import logging
import secrets
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from connect_user_sync_emulators.server import EmulatorServer, Request, Response

DEMO_REGION = "us-east-1"
_FORWARDED_RESPONSE_HEADERS = ("x-amzn-requestid", "x-amzn-errortype")


def new_store_id() -> str:
    """A fresh identity store id in the service's ``d-`` + 10 hex digits form."""
    return "d-" + secrets.token_hex(5)


@dataclass
class _Fault:
    operation: str | None  # None: every operation
    remaining: int | None  # None: for ever
    status: int
    body: dict[str, Any]


@dataclass
class SeededStore:
    """What ``load_directory`` created: ids by the directory document's names and ids."""

    store_id: str
    group_ids: dict[str, str] = field(default_factory=dict)  # group name -> GroupId
    user_ids: dict[str, str] = field(default_factory=dict)  # document id -> UserId
    skipped: list[str] = field(default_factory=list)  # why a document user is not there


class IdentityStoreEmulator:
    """moto's identitystore behind a counting, fault-injecting front.

    Parameters
    ----------
    moto_url:
        A running moto server to keep the data in; by default one is started (and stopped)
        in this process.
    """

    def __init__(self, moto_url: str | None = None) -> None:
        self._moto_url = moto_url
        self._moto: Any = None
        self._front = EmulatorServer(self._handle)
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []
        self._stores: set[str] = set()
        self._statuses: dict[str, str] = {}
        self.calls: Counter[str] = Counter()
        self.access_keys: Counter[str] = Counter()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> IdentityStoreEmulator:
        if self._moto_url is None:
            from moto.server import ThreadedMotoServer

            # moto's request log would drown the demo's output.
            logging.getLogger("werkzeug").setLevel(logging.ERROR)
            self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            self._moto.start()
            host, port = self._moto.get_host_and_port()
            self._moto_url = f"http://{host}:{port}"
        self._front.start()
        return self

    def stop(self) -> None:
        self._front.stop()
        if self._moto is not None:
            self._moto.stop()
            self._moto = None

    def __enter__(self) -> IdentityStoreEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The endpoint for ``AWS_ENDPOINT_URL_IDENTITYSTORE``."""
        return self._front.url

    @property
    def moto_url(self) -> str:
        """The moto server behind the front (STS, for instance, is reached there)."""
        assert self._moto_url is not None, "start the emulator first"
        return self._moto_url

    def env(self) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL_IDENTITYSTORE": self.url}

    # ------------------------------------------------------------------ state

    def create_store(self, store_id: str | None = None) -> str:
        """Make a store exist (the front answers ResourceNotFound for any other)."""
        store = store_id or new_store_id()
        with self._lock:
            self._stores.add(store)
        return store

    def set_user_status(self, user_id: str, status: str | None) -> None:
        """Give a user ``UserStatus`` (ENABLED or DISABLED) in answers; None removes it."""
        with self._lock:
            if status is None:
                self._statuses.pop(user_id, None)
            else:
                self._statuses[user_id] = status

    def reset_calls(self) -> None:
        with self._lock:
            self.calls.clear()
            self.access_keys.clear()

    def client(self, region: str = DEMO_REGION, **credentials: str) -> Any:
        """A boto3 identitystore client on this front, for seeding; default credentials
        are dummy ones, which moto files under its default account."""
        import boto3

        return boto3.client(
            "identitystore",
            region_name=region,
            endpoint_url=self.url,
            aws_access_key_id=credentials.get("aws_access_key_id", "emulator"),
            aws_secret_access_key=credentials.get("aws_secret_access_key", "emulator"),
            aws_session_token=credentials.get("aws_session_token"),
        )

    def load_directory(
        self,
        directory: Mapping[str, Any],
        *,
        store_id: str | None = None,
        client: Any = None,
        direct: bool = False,
    ) -> SeededStore:
        """Create the file-source shaped ``directory`` through the API.

        A user's ``UserName`` is ``user_name``, else ``upn``, ``username``, ``login`` or
        ``email``; ``emails`` (raw Identity Store Email objects) overrides the default of
        ``email`` as the one primary work address; ``status`` (or ``enabled: false`` for
        DISABLED) sets UserStatus. A user whose UserName is taken is skipped, as the
        service's uniqueness rule would refuse it.

        ``direct`` writes into the in-process moto backend instead of calling the API: the
        same state the API then serves, for benchmarks that need thousands of users in
        seconds (moto's default account, the client's Region).
        """
        ids = _DirectStore(client) if direct else client or self.client()
        seeded = SeededStore(self.create_store(store_id))
        store = seeded.store_id
        names = [str(g["name"]) for g in directory.get("groups", [])]
        for user in directory.get("users", []):
            names.extend(str(n) for n in user.get("groups", []) if n not in names)
        for name in names:
            response = ids.create_group(IdentityStoreId=store, DisplayName=name)
            seeded.group_ids[name] = response["GroupId"]
        taken: set[str] = set()
        for user in directory.get("users", []):
            user_name = _user_name(user)
            if user_name in taken:
                seeded.skipped.append(
                    f"{user['id']}: UserName {user_name!r} is taken (the store keeps them unique)"
                )
                continue
            taken.add(user_name)
            fields = _user_fields(user, user_name)
            user_id = str(ids.create_user(IdentityStoreId=store, **fields)["UserId"])
            seeded.user_ids[str(user["id"])] = user_id
            for name in user.get("groups", []):
                ids.create_group_membership(
                    IdentityStoreId=store,
                    GroupId=seeded.group_ids[str(name)],
                    MemberId={"UserId": user_id},
                )
            status = user.get("status") or (None if user.get("enabled", True) else "DISABLED")
            if status:
                self.set_user_status(user_id, str(status))
        return seeded

    # ------------------------------------------------------------------ faults

    def throttle(
        self, operation: str | None = None, times: int | None = 1, retry_after: int | None = None
    ) -> None:
        """Answer ThrottlingException to the next ``times`` calls (None: for ever)."""
        body: dict[str, Any] = {"__type": "ThrottlingException", "Message": "Rate exceeded"}
        if retry_after is not None:
            body["RetryAfterSeconds"] = retry_after
        self._add_fault(_Fault(operation, times, 400, body))

    def deny(self, operation: str | None = None, times: int | None = None) -> None:
        """Answer AccessDeniedException, as IAM does for a role without the permission."""
        body = {
            "__type": "AccessDeniedException",
            "Message": "User: arn:aws:sts::123456789012:assumed-role/sync/connect-user-sync "
            "is not authorized to perform: identitystore:" + (operation or "ListUsers"),
        }
        self._add_fault(_Fault(operation, times, 400, body))

    def fail(self, operation: str | None = None, times: int | None = 1) -> None:
        """Answer InternalServerException (HTTP 500)."""
        body = {"__type": "InternalServerException", "Message": "Internal server error"}
        self._add_fault(_Fault(operation, times, 500, body))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _add_fault(self, fault: _Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _take_fault(self, operation: str) -> _Fault | None:
        for fault in self._faults:
            if fault.operation not in (None, operation):
                continue
            if fault.remaining is not None:
                if fault.remaining <= 0:
                    continue
                fault.remaining -= 1
            return fault
        return None

    # ------------------------------------------------------------------ wire

    def _handle(self, request: Request) -> Response:
        target = str(request.headers.get("X-Amz-Target") or "")
        operation = target.rpartition(".")[2] or "?"
        try:
            body = request.json()
        except ValueError:
            body = {}
        with self._lock:
            self.calls[operation] += 1
            self.access_keys[_access_key(str(request.headers.get("Authorization") or ""))] += 1
            fault = self._take_fault(operation)
            stores = set(self._stores)
        if fault is not None:
            return _error(fault.status, dict(fault.body))
        store = body.get("IdentityStoreId") if isinstance(body, dict) else None
        if isinstance(store, str) and store and store not in stores:
            return _error(
                400,
                {
                    "__type": "ResourceNotFoundException",
                    "Message": "IDENTITY_STORE not found.",
                    "ResourceType": "IDENTITY_STORE",
                    "ResourceId": store,
                },
            )
        status, headers, payload = self._forward(request)
        if status == 200 and operation in ("ListUsers", "DescribeUser"):
            payload = self._with_statuses(operation, payload)
        return Response(status, raw=payload, headers=headers, content_type=headers["Content-Type"])

    def _forward(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(self.moto_url)
        connection = http.client.HTTPConnection(
            parts.hostname or "127.0.0.1", parts.port, timeout=60
        )
        try:
            skip = {"host", "content-length", "connection", "accept-encoding"}
            headers = {k: v for k, v in request.headers.items() if k.lower() not in skip}
            connection.request(
                request.method, request.full_path, body=request.body, headers=headers
            )
            answer = connection.getresponse()
            payload = answer.read()
            out = {"Content-Type": answer.getheader("Content-Type") or "application/x-amz-json-1.1"}
            for name in _FORWARDED_RESPONSE_HEADERS:
                value = answer.getheader(name)
                if value:
                    out[name] = value
            return answer.status, out, payload
        finally:
            connection.close()

    def _with_statuses(self, operation: str, payload: bytes) -> bytes:
        document = json.loads(payload or b"{}")
        with self._lock:
            statuses = dict(self._statuses)
        users = document.get("Users", []) if operation == "ListUsers" else [document]
        for user in users:
            status = statuses.get(user.get("UserId"))
            if status:
                user["UserStatus"] = status
        return json.dumps(document).encode()


class _DirectStore:
    """The three seeding calls, straight into moto's in-process identitystore backend."""

    def __init__(self, client: Any) -> None:
        from moto.core.models import DEFAULT_ACCOUNT_ID
        from moto.identitystore.models import identitystore_backends

        region = client.meta.region_name if client is not None else DEMO_REGION
        self._backend = identitystore_backends[DEFAULT_ACCOUNT_ID][region]

    def create_group(self, *, IdentityStoreId: str, DisplayName: str) -> dict[str, str]:
        group_id, _ = self._backend.create_group(IdentityStoreId, DisplayName, "")
        return {"GroupId": group_id}

    def create_user(self, *, IdentityStoreId: str, **fields: Any) -> dict[str, str]:
        # moto's positional order; what a test never sets is None, as the API path passes it.
        create: Any = self._backend.create_user
        user_id, _ = create(
            IdentityStoreId,
            fields["UserName"],
            fields["Name"],
            fields["DisplayName"],
            None,  # NickName
            None,  # ProfileUrl
            fields.get("Emails", []),
            [],  # Addresses
            [],  # PhoneNumbers
            None,  # UserType
            None,  # Title
            None,  # PreferredLanguage
            None,  # Locale
            None,  # Timezone
        )
        return {"UserId": user_id}

    def create_group_membership(
        self,
        *,
        IdentityStoreId: str,
        GroupId: str,
        MemberId: dict[str, str],
    ) -> None:
        self._backend.create_group_membership(IdentityStoreId, GroupId, MemberId)


def _error(status: int, body: dict[str, Any]) -> Response:
    return Response(
        status,
        body,
        headers={"x-amzn-ErrorType": str(body["__type"])},
        content_type="application/x-amz-json-1.1",
    )


def _access_key(authorization: str) -> str:
    # "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/identitystore/aws4_request, ..."
    marker = "Credential="
    if marker not in authorization:
        return ""
    return authorization.split(marker, 1)[1].split("/", 1)[0]


def _user_name(user: Mapping[str, Any]) -> str:
    for key in ("user_name", "upn", "username", "login", "email"):
        value = user.get(key)
        if value:
            return str(value)
    return str(user["id"])


def _user_fields(user: Mapping[str, Any], user_name: str) -> dict[str, Any]:
    first = str(user.get("first_name") or "-")
    last = str(user.get("last_name") or "-")
    fields: dict[str, Any] = {
        "UserName": user_name,
        "DisplayName": f"{first} {last}",
        "Name": {"GivenName": first, "FamilyName": last},
    }
    if "emails" in user:
        if user["emails"]:
            fields["Emails"] = list(user["emails"])
    elif user.get("email"):
        fields["Emails"] = [{"Value": str(user["email"]), "Type": "work", "Primary": True}]
    return fields


@contextmanager
def identity_center_demo(
    directory: Mapping[str, Any],
) -> Iterator[tuple[dict[str, Any], dict[str, str], str]]:
    """An identity store seeded with the sample directory, for ``make demo``.

    Yields ``(source_section, env, username_attribute)``: the configuration's ``source:``
    mapping, ``AWS_ENDPOINT_URL_IDENTITYSTORE`` pointing at the emulator, and ``user_name``
    (the Connect application asserting ``${user:subject}``). The sample's second
    ``alex.kim@example.com`` is left out: the Identity Store keeps user names unique.
    """
    with IdentityStoreEmulator() as emulator:
        seeded = emulator.load_directory(directory)
        section = {
            "type": "identity_center",
            "identity_center": {"identity_store_id": seeded.store_id, "region": DEMO_REGION},
        }
        yield section, emulator.env(), "user_name"
