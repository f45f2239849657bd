"""An Amazon Connect emulator that speaks the real REST-JSON wire protocol.

An unmodified boto3 ``connect`` client talks to it through ``endpoint_url=`` or the
``AWS_ENDPOINT_URL_CONNECT`` environment variable. Routing, parameter binding and input
validation are driven by botocore's own service model, so request shapes stay in step with
the SDK. Only the user-management slice of the API is implemented (see ``SUPPORTED``).

Besides the HTTP interface there is a Python API for seeding (instances, profiles,
hierarchy groups, users), inspection (``users``, ``user_by_name``, ``calls``) and fault
injection (``throttle_rate``, ``fail_username``, ``fail_requests``, ``lose_create_response``).

Run it in the foreground with ``python -m connect_user_sync_emulators.connect --port 8000``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import copy
import functools
import hashlib
import json
import random
import re
import threading
import time
import unicodedata
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from botocore.model import OperationModel, ServiceModel, Shape, StructureShape

from .server import EmulatorServer, Request, Response

__all__ = [
    "DEFAULT_RATES",
    "SUPPORTED",
    "ConnectEmulator",
    "ConnectError",
    "main",
    "tag_key_problem",
    "username_problem",
]

# The access key id in a SigV4 Authorization header.
_CREDENTIAL = re.compile(r"Credential=([^/\s,]+)/")

#: Operations this emulator implements.
SUPPORTED: frozenset[str] = frozenset(
    {
        "CreateUser",
        "SearchUsers",
        "DescribeUser",
        "ListUsers",
        "UpdateUserIdentityInfo",
        "UpdateUserPhoneConfig",
        "UpdateUserRoutingProfile",
        "UpdateUserSecurityProfiles",
        "UpdateUserHierarchy",
        "DeleteUser",
        "TagResource",
        "UntagResource",
        "ListTagsForResource",
        "ListSecurityProfiles",
        "ListRoutingProfiles",
        "ListUserHierarchyGroups",
    }
)

#: Published default request rates (requests per second, per account and Region).
DEFAULT_RATES: Mapping[str, float] = {
    "CreateUser": 2.0,
    "DeleteUser": 2.0,
    "SearchUsers": 2.0,
    "UpdateUserIdentityInfo": 2.0,
    "UpdateUserPhoneConfig": 2.0,
    "UpdateUserRoutingProfile": 2.0,
    "UpdateUserSecurityProfiles": 2.0,
    "UpdateUserHierarchy": 2.0,
    "TagResource": 2.0,
    "UntagResource": 2.0,
    "ListSecurityProfiles": 2.0,
    "DescribeUser": 10.0,
    "ListUsers": 10.0,
    "ListRoutingProfiles": 10.0,
    "ListUserHierarchyGroups": 10.0,
    "ListTagsForResource": 10.0,
}

# Errors that the front end of a real AWS endpoint returns but the Connect model does not
# list; everything else takes its status from the model's error shapes.
_UNMODELED_STATUS: Mapping[str, int] = {
    "MissingAuthenticationTokenException": 403,
    "UnknownOperationException": 404,
    "SerializationException": 400,
    "UnrecognizedClientException": 403,
}

_MAX_SAML_USERNAME = 64
_MAX_TAGS = 50
_DEFAULT_PAGE = 100
_USERNAME_CHARS = re.compile(r"[A-Za-z0-9_.@-]+")
_EMAIL_DOMAIN = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)+")
_PHONE_NUMBER = re.compile(r"\+[1-9]\d{1,14}")
_TAG_KEY_EXTRA = frozenset("_.:/=+-@")


# --------------------------------------------------------------------------- helpers


def username_problem(username: str) -> str | None:
    """Why ``username`` is not a valid username on a SAML instance, or None if it is.

    Characters ``A-Z a-z 0-9 _ . @ -``, 1 to 64 of them, ``@`` only in an email-like form.
    """
    if not username:
        return "Username must not be empty"
    if len(username) > _MAX_SAML_USERNAME:
        return f"Username must be at most {_MAX_SAML_USERNAME} characters on a SAML instance"
    if not _USERNAME_CHARS.fullmatch(username):
        return "Username may contain only the characters A-Z a-z 0-9 _ . @ -"
    if "@" in username:
        local, _, domain = username.partition("@")
        if not local or not _EMAIL_DOMAIN.fullmatch(domain):
            return "Username may contain @ only in an email format, like name@example.com"
    return None


def tag_key_problem(key: str) -> str | None:
    """Why ``key`` breaks ``^(?!aws:)[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*$`` (1..128), or None."""
    if not 1 <= len(key) <= 128:
        return f"Tag key '{key}' must be 1 to 128 characters long"
    if key.startswith("aws:"):
        return f"Tag key '{key}' must not start with the reserved prefix aws:"
    for char in key:
        if char not in _TAG_KEY_EXTRA and unicodedata.category(char)[0] not in "LZN":
            return f"Tag key '{key}' contains the character {char!r}, which is not allowed"
    return None


@functools.lru_cache(maxsize=1)
def _service_model() -> ServiceModel:
    import botocore.session

    return botocore.session.get_session().get_service_model("connect")


def _error_status(code: str) -> int:
    if code in _UNMODELED_STATUS:
        return _UNMODELED_STATUS[code]
    try:
        shape = _service_model().shape_for(code)
    except Exception as exc:  # botocore raises NoShapeFoundError
        raise ValueError(f"unknown Connect error {code!r}") from exc
    error = shape.metadata.get("error") or {}
    if not shape.metadata.get("exception"):
        raise ValueError(f"{code!r} is not an error shape of the Connect model")
    return int(error.get("httpStatusCode", 400))


class ConnectError(Exception):
    """A Connect service error: the name botocore maps to an exception class, and a message.

    Raised by the Python seeding API too (for instance by ``add_user`` on an invalid
    username), with the same code the HTTP API would answer with.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = _error_status(code)


def _not_found(message: str) -> ConnectError:
    return ConnectError("ResourceNotFoundException", message)


def _invalid(message: str) -> ConnectError:
    return ConnectError("InvalidParameterException", message)


# --------------------------------------------------------------------------- routing


@dataclass(frozen=True)
class _Route:
    operation: str
    method: str
    segments: tuple[str, ...]
    query_literals: tuple[str, ...]

    @property
    def specificity(self) -> int:
        return sum(1 for s in self.segments if not s.startswith("{"))

    def match(
        self, method: str, path: str, query: Mapping[str, list[str]]
    ) -> dict[str, str] | None:
        if method != self.method or any(q not in query for q in self.query_literals):
            return None
        parts = path.split("/")[1:] if path.startswith("/") else path.split("/")
        if parts == [""]:
            parts = []
        labels: dict[str, str] = {}
        for index, segment in enumerate(self.segments):
            if segment.startswith("{") and segment.endswith("+}"):
                rest = parts[index:]
                if not rest or rest == [""]:
                    return None
                labels[segment[1:-2]] = unquote("/".join(rest))
                return labels
            if index >= len(parts):
                return None
            if segment.startswith("{"):
                if not parts[index]:
                    return None
                labels[segment[1:-1]] = unquote(parts[index])
            elif segment != parts[index]:
                return None
        return labels if len(parts) == len(self.segments) else None


@functools.lru_cache(maxsize=1)
def _routes() -> tuple[_Route, ...]:
    model = _service_model()
    routes = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        path, _, literal_query = http["requestUri"].partition("?")
        segments = tuple(s for s in path.split("/")[1:])
        if segments == ("",):
            segments = ()
        literals = tuple(q.split("=")[0] for q in literal_query.split("&") if q)
        routes.append(_Route(name, http["method"], segments, literals))
    routes.sort(key=lambda r: r.specificity, reverse=True)
    return tuple(routes)


def _find_route(
    method: str, path: str, query: Mapping[str, list[str]]
) -> tuple[str, dict[str, str]] | None:
    for route in _routes():
        labels = route.match(method, path, query)
        if labels is not None:
            return route.operation, labels
    return None


# --------------------------------------------------------------------------- validation


def _validate(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    """Check ``value`` against a botocore shape: types, required members, min/max, enums."""
    kind = shape.type_name
    meta = shape.metadata
    if kind == "structure":
        assert isinstance(shape, StructureShape)
        if not isinstance(value, dict):
            errors.append(
                f"Value at '{path}' failed to satisfy constraint: Member must be an object"
            )
            return
        for required in shape.required_members:
            if value.get(required) is None:
                errors.append(
                    f"Value null at '{_join(path, required)}' failed to satisfy constraint: "
                    "Member must not be null"
                )
        for key, item in value.items():
            if key in shape.members and item is not None:
                _validate(shape.members[key], item, _join(path, key), errors)
        return
    if kind == "list":
        if not isinstance(value, list):
            errors.append(f"Value at '{path}' failed to satisfy constraint: Member must be a list")
            return
        _check_length(len(value), meta, path, "length", errors)
        member = shape.member  # type: ignore[attr-defined]
        for index, item in enumerate(value):
            _validate(member, item, f"{path}.{index + 1}", errors)
        return
    if kind == "map":
        if not isinstance(value, dict):
            errors.append(f"Value at '{path}' failed to satisfy constraint: Member must be a map")
            return
        _check_length(len(value), meta, path, "number of entries", errors)
        for key, item in value.items():
            _validate(shape.key, key, f"{path}.key", errors)  # type: ignore[attr-defined]
            _validate(shape.value, item, f"{path}.{key}", errors)  # type: ignore[attr-defined]
        return
    if kind == "string":
        if not isinstance(value, str):
            errors.append(
                f"Value at '{path}' failed to satisfy constraint: Member must be a string"
            )
            return
        _check_length(len(value), meta, path, "length", errors)
        if "enum" in meta and value not in meta["enum"]:
            errors.append(
                f"Value '{value}' at '{path}' failed to satisfy constraint: "
                f"Member must satisfy enum value set: [{', '.join(meta['enum'])}]"
            )
        return
    if kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            errors.append(
                f"Value at '{path}' failed to satisfy constraint: Member must be an integer"
            )
            return
        if "min" in meta and value < meta["min"]:
            errors.append(
                f"Value '{value}' at '{path}' failed to satisfy constraint: "
                f"Member must have value greater than or equal to {meta['min']}"
            )
        if "max" in meta and value > meta["max"]:
            errors.append(
                f"Value '{value}' at '{path}' failed to satisfy constraint: "
                f"Member must have value less than or equal to {meta['max']}"
            )
        return
    if kind == "boolean" and not isinstance(value, bool):
        errors.append(f"Value at '{path}' failed to satisfy constraint: Member must be a boolean")
    if kind in ("double", "float", "timestamp") and (
        not isinstance(value, int | float) or isinstance(value, bool)
    ):
        errors.append(f"Value at '{path}' failed to satisfy constraint: Member must be a number")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _check_length(
    size: int, meta: Mapping[str, Any], path: str, what: str, errors: list[str]
) -> None:
    if "min" in meta and size < meta["min"]:
        errors.append(
            f"Value at '{path}' failed to satisfy constraint: "
            f"Member must have {what} greater than or equal to {meta['min']}"
        )
    if "max" in meta and size > meta["max"]:
        errors.append(
            f"Value at '{path}' failed to satisfy constraint: "
            f"Member must have {what} less than or equal to {meta['max']}"
        )


def _raise_if(errors: list[str]) -> None:
    if errors:
        count = len(errors)
        noun = "error" if count == 1 else "errors"
        raise _invalid(f"{count} validation {noun} detected: {'; '.join(errors)}")


def _bind(op: OperationModel, labels: Mapping[str, str], request: Request) -> dict[str, Any]:
    """Gather an operation's input members from the URI, query string, headers and body."""
    shape = op.input_shape
    params: dict[str, Any] = {}
    if shape is None:
        return params
    body: Any = {}
    if request.body:
        try:
            body = json.loads(request.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ConnectError("SerializationException", f"Malformed JSON body: {exc}") from exc
        if not isinstance(body, dict):
            raise ConnectError("SerializationException", "The request body must be a JSON object")
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if location == "uri":
            if wire in labels:
                params[name] = labels[wire]
        elif location == "querystring":
            values = request.query.get(wire)
            if values is None:
                continue
            if member.type_name == "list":
                params[name] = list(values)
            elif member.type_name in ("integer", "long"):
                try:
                    params[name] = int(values[0])
                except ValueError as exc:
                    raise _invalid(f"Value '{values[0]}' at '{wire}' must be an integer") from exc
            elif member.type_name == "boolean":
                params[name] = values[0].lower() == "true"
            else:
                params[name] = values[0]
        elif location == "header":
            header = request.headers.get(wire)
            if header is not None:
                params[name] = header
        elif name in body and body[name] is not None:
            params[name] = body[name]
    return params


# --------------------------------------------------------------------------- state


@dataclass
class _Resource:
    seq: int
    id: str
    arn: str
    name: str
    modified: float
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class _User:
    seq: int
    id: str
    arn: str
    instance_id: str
    username: str
    identity: dict[str, str]
    phone: dict[str, Any]
    security_profile_ids: list[str]
    routing_profile_id: str
    hierarchy_group_id: str | None
    directory_user_id: str | None
    modified: float
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class _Instance:
    id: str
    arn: str
    tags: dict[str, str] = field(default_factory=dict)
    security_profiles: dict[str, _Resource] = field(default_factory=dict)
    routing_profiles: dict[str, _Resource] = field(default_factory=dict)
    hierarchy_groups: dict[str, _Resource] = field(default_factory=dict)
    users: dict[str, _User] = field(default_factory=dict)
    usernames: dict[str, str] = field(default_factory=dict)


@dataclass
class _Fault:
    username: str
    operation: str | None
    error: str
    remaining: int | None


class _TokenBucket:
    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.capacity = max(burst, 1.0)
        self.tokens = self.capacity
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


# --------------------------------------------------------------------------- emulator


class ConnectEmulator:
    """Amazon Connect (user management) on 127.0.0.1, for one account and Region.

    ``speed`` multiplies every request rate and burst; ``rate_limits=False`` disables them.
    ``rates`` overrides the per-operation base rates (requests per second).
    ``throttle_rate`` is the fraction of requests answered ThrottlingException at random
    (drawn from ``random.Random(seed)``); it can be changed at any time.
    ``caller_account`` maps the access key id of a request's SigV4 credential to the AWS
    account it belongs to (for instance moto's, for keys its STS handed out). When it is
    given, instances may live in several accounts (``add_instance(account_id=...)``) and a
    request for a resource of another account is refused with AccessDeniedException, as
    IAM refuses it: Connect has no resource policies, so only credentials of the instance's
    own account (an assumed role there) can reach it.
    """

    def __init__(
        self,
        region: str = "us-east-1",
        account_id: str = "123456789012",
        speed: float = 1.0,
        burst: float = 5,
        rate_limits: bool = True,
        seed: int = 0,
        max_users_per_instance: int = 500,
        *,
        throttle_rate: float = 0.0,
        rates: Mapping[str, float] | None = None,
        port: int = 0,
        host: str = "127.0.0.1",
        caller_account: Callable[[str], str | None] | None = None,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.region = region
        self.account_id = account_id
        self.speed = speed
        self.burst = burst
        self.rate_limits = rate_limits
        self.max_users_per_instance = max_users_per_instance
        self.throttle_rate = throttle_rate
        self.caller_account = caller_account
        self._caller: str | None = None  # the account of the request being handled
        self.rates: dict[str, float] = {**DEFAULT_RATES, **(rates or {})}
        self.calls: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()
        self._random = random.Random(seed)
        self._lock = threading.RLock()
        self._seq = 0
        self._instances: dict[str, _Instance] = {}
        self._arns: dict[str, _Instance | _Resource | _User] = {}
        self._buckets: dict[str, _TokenBucket] = {}
        self._faults: list[_Fault] = []
        self._bursts: list[_Fault] = []
        self._lost_creates: Counter[str] = Counter()
        self._server = EmulatorServer(self._handle, port=port, host=host)
        self._handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any] | None]] = {
            "CreateUser": self._create_user,
            "SearchUsers": self._search_users,
            "DescribeUser": self._describe_user,
            "ListUsers": self._list_users,
            "UpdateUserIdentityInfo": self._update_identity_info,
            "UpdateUserPhoneConfig": self._update_phone_config,
            "UpdateUserRoutingProfile": self._update_routing_profile,
            "UpdateUserSecurityProfiles": self._update_security_profiles,
            "UpdateUserHierarchy": self._update_hierarchy,
            "DeleteUser": self._delete_user,
            "TagResource": self._tag_resource,
            "UntagResource": self._untag_resource,
            "ListTagsForResource": self._list_tags,
            "ListSecurityProfiles": self._list_security_profiles,
            "ListRoutingProfiles": self._list_routing_profiles,
            "ListUserHierarchyGroups": self._list_hierarchy_groups,
        }

    # ----------------------------------------------------------------- lifecycle

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def port(self) -> int:
        return self._server.port

    def start(self) -> ConnectEmulator:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> ConnectEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- seeding

    def add_instance(self, instance_id: str | None = None, *, account_id: str | None = None) -> str:
        """Create an (empty) instance, in ``account_id`` (default: the emulator's); its id."""
        with self._lock:
            instance_id = instance_id or str(uuid.uuid4())
            if instance_id in self._instances:
                raise ConnectError("DuplicateResourceException", f"Instance {instance_id} exists")
            account = account_id or self.account_id
            arn = f"arn:aws:connect:{self.region}:{account}:instance/{instance_id}"
            instance = _Instance(id=instance_id, arn=arn)
            self._instances[instance_id] = instance
            self._arns[arn] = instance
            return instance_id

    def instance_arn(self, instance_id: str) -> str:
        with self._lock:
            return self._instance(instance_id).arn

    def add_security_profile(self, instance_id: str, name: str) -> str:
        return self._add_resource(instance_id, name, "security_profiles", "security-profile")

    def add_routing_profile(self, instance_id: str, name: str) -> str:
        return self._add_resource(instance_id, name, "routing_profiles", "routing-profile")

    def add_hierarchy_group(self, instance_id: str, name: str) -> str:
        return self._add_resource(instance_id, name, "hierarchy_groups", "agent-group")

    def _add_resource(self, instance_id: str, name: str, attribute: str, arn_kind: str) -> str:
        with self._lock:
            instance = self._instance(instance_id)
            catalog: dict[str, _Resource] = getattr(instance, attribute)
            if any(r.name == name for r in catalog.values()):
                raise ConnectError("DuplicateResourceException", f"{arn_kind} '{name}' exists")
            resource_id = str(uuid.uuid4())
            arn = f"{instance.arn}/{arn_kind}/{resource_id}"
            resource = _Resource(self._next_seq(), resource_id, arn, name, time.time())
            catalog[resource_id] = resource
            self._arns[arn] = resource
            return resource_id

    def add_user(
        self,
        instance_id: str,
        username: str,
        *,
        security_profile_ids: Sequence[str],
        routing_profile_id: str,
        first_name: str | None = None,
        last_name: str | None = None,
        email: str | None = None,
        hierarchy_group_id: str | None = None,
        phone: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> str:
        """Create a user without HTTP, rate limits or injected faults; validates like CreateUser.

        Raises ``ConnectError`` where CreateUser would answer with an error.
        """
        params: dict[str, Any] = {
            "InstanceId": instance_id,
            "Username": username,
            "SecurityProfileIds": list(security_profile_ids),
            "RoutingProfileId": routing_profile_id,
        }
        identity = {
            k: v
            for k, v in (("FirstName", first_name), ("LastName", last_name), ("Email", email))
            if v is not None
        }
        if identity:
            params["IdentityInfo"] = identity
        if hierarchy_group_id is not None:
            params["HierarchyGroupId"] = hierarchy_group_id
        if phone is not None:
            params["PhoneConfig"] = dict(phone)
        if tags is not None:
            params["Tags"] = dict(tags)
        errors: list[str] = []
        shape = _service_model().operation_model("CreateUser").input_shape
        assert shape is not None
        _validate(shape, params, "", errors)
        _raise_if(errors)
        with self._lock:
            return str(self._do_create_user(params, inject=False)["UserId"])

    # ----------------------------------------------------------------- inspection

    def users(self, instance_id: str) -> list[dict[str, Any]]:
        """Every user of the instance in creation order, as DescribeUser's ``User`` (with Email)."""
        with self._lock:
            return [self._python_user(u) for u in self._instance(instance_id).users.values()]

    def user_by_name(self, instance_id: str, username: str) -> dict[str, Any] | None:
        """The user with exactly this (case-sensitive) username, or None."""
        with self._lock:
            instance = self._instance(instance_id)
            user_id = instance.usernames.get(username)
            return self._python_user(instance.users[user_id]) if user_id else None

    def reset_calls(self) -> None:
        with self._lock:
            self.calls.clear()
            self.throttled.clear()

    # ----------------------------------------------------------------- faults

    def fail_username(
        self,
        username: str,
        operation: str | None = None,
        error: str = "InternalServiceException",
        times: int | None = None,
    ) -> None:
        """Answer calls touching ``username`` (optionally only ``operation``) with ``error``.

        ``times=None`` fails every such call; otherwise only the next ``times`` of them.
        The failing call has no effect.
        """
        _error_status(error)  # reject unknown error names early
        if operation is not None and operation not in SUPPORTED:
            raise ValueError(f"unsupported operation {operation!r}")
        with self._lock:
            self._faults.append(_Fault(username, operation, error, times))

    def fail_requests(
        self, times: int, error: str = "InternalServiceException", operation: str | None = None
    ) -> None:
        """Answer the next ``times`` requests (of ``operation``, or of any) with ``error``.

        A burst of server errors across users; the failing calls have no effect.
        """
        _error_status(error)
        if operation is not None and operation not in SUPPORTED:
            raise ValueError(f"unsupported operation {operation!r}")
        with self._lock:
            self._bursts.append(_Fault("", operation, error, times))

    def lose_create_response(self, username: str, times: int = 1) -> None:
        """The next CreateUser of ``username`` succeeds but is answered InternalServiceException."""
        with self._lock:
            self._lost_creates[username] += times

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._bursts.clear()
            self._lost_creates.clear()
            self.throttle_rate = 0.0

    def _burst(self, operation: str) -> None:
        with self._lock:
            for fault in self._bursts:
                if fault.operation not in (None, operation):
                    continue
                assert fault.remaining is not None
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._bursts.remove(fault)
                raise ConnectError(fault.error, f"Injected {fault.error} (burst)")

    def _inject(self, operation: str, username: str) -> None:
        for fault in self._faults:
            if fault.username != username or fault.operation not in (None, operation):
                continue
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
            raise ConnectError(fault.error, f"Injected {fault.error} for user {username}")

    # ----------------------------------------------------------------- HTTP

    def _handle(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        try:
            if not request.headers.get("Authorization"):
                raise ConnectError(
                    "MissingAuthenticationTokenException", "Missing Authentication Token"
                )
            found = _find_route(request.method, request.raw_path, request.query)
            if found is None:
                raise ConnectError(
                    "UnknownOperationException",
                    f"No Connect operation matches {request.method} {request.raw_path}",
                )
            operation, labels = found
            with self._lock:
                self.calls[operation] += 1
            if operation not in SUPPORTED:
                raise ConnectError(
                    "InvalidRequestException",
                    f"The Connect emulator does not support {operation} "
                    f"({request.method} {request.raw_path})",
                )
            self._admit(operation)
            self._burst(operation)
            op_model = _service_model().operation_model(operation)
            params = _bind(op_model, labels, request)
            errors: list[str] = []
            if op_model.input_shape is not None:
                _validate(op_model.input_shape, params, "", errors)
            _raise_if(errors)
            caller = self._caller_of(request)
            with self._lock:
                self._caller = caller
                try:
                    result = self._handlers[operation](params)
                finally:
                    self._caller = None
        except ConnectError as exc:
            return Response(
                exc.status,
                {"Message": exc.message},
                headers={"x-amzn-ErrorType": exc.code, "x-amzn-RequestId": request_id},
            )
        return Response(200, result, headers={"x-amzn-RequestId": request_id})

    def _admit(self, operation: str) -> None:
        with self._lock:
            throttled = self.throttle_rate > 0 and self._random.random() < self.throttle_rate
            if not throttled and self.rate_limits:
                bucket = self._buckets.get(operation)
                if bucket is None:
                    rate = self.rates.get(operation, 2.0) * self.speed
                    bucket = _TokenBucket(rate, self.burst * self.speed)
                    self._buckets[operation] = bucket
                throttled = not bucket.take()
            if throttled:
                self.throttled[operation] += 1
                raise ConnectError("ThrottlingException", "Rate exceeded")

    def _caller_of(self, request: Request) -> str | None:
        """The caller's account, from the access key id in the SigV4 ``Credential=``."""
        if self.caller_account is None:
            return None
        match = _CREDENTIAL.search(request.headers.get("Authorization") or "")
        account = self.caller_account(match.group(1)) if match else None
        if account is None:
            raise ConnectError(
                "UnrecognizedClientException",
                "The security token included in the request is invalid",
            )
        return account

    def _authorize(self, arn: str) -> None:
        """Refuse a resource of another account than the caller's (no resource policies)."""
        if self._caller is not None and arn.split(":")[4] != self._caller:
            raise ConnectError(
                "AccessDeniedException",
                f"account {self._caller} is not authorized to access {arn}",
            )

    # ----------------------------------------------------------------- lookups

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _instance(self, instance_id: str) -> _Instance:
        key = instance_id
        if key.startswith("arn:"):
            key = key.rsplit("instance/", 1)[-1]
        instance = self._instances.get(key)
        if instance is None or (instance_id.startswith("arn:") and instance.arn != instance_id):
            raise _not_found(f"Instance not found: {instance_id}")
        self._authorize(instance.arn)
        return instance

    def _user(self, params: Mapping[str, Any], operation: str) -> tuple[_Instance, _User]:
        instance = self._instance(params["InstanceId"])
        user = instance.users.get(params["UserId"])
        if user is None:
            raise _not_found(f"User not found for UserId: {params['UserId']}")
        self._inject(operation, user.username)
        return instance, user

    def _check_security_profiles(self, instance: _Instance, ids: Sequence[str]) -> list[str]:
        unique = list(dict.fromkeys(ids))
        missing = [i for i in unique if i not in instance.security_profiles]
        if missing:
            raise _invalid(f"Security profile ids not found in the instance: {', '.join(missing)}")
        return unique

    def _check_routing_profile(self, instance: _Instance, routing_profile_id: str) -> None:
        if routing_profile_id not in instance.routing_profiles:
            raise _invalid(f"Routing profile not found in the instance: {routing_profile_id}")

    def _check_hierarchy_group(self, instance: _Instance, group_id: str | None) -> None:
        if group_id is not None and group_id not in instance.hierarchy_groups:
            raise _invalid(f"Hierarchy group not found in the instance: {group_id}")

    @staticmethod
    def _check_tags(tags: Mapping[str, str]) -> None:
        if len(tags) > _MAX_TAGS:
            raise _invalid(f"A resource can have at most {_MAX_TAGS} tags, not {len(tags)}")
        for key, value in tags.items():
            problem = tag_key_problem(key)
            if problem:
                raise _invalid(problem)
            if len(value) > 256:
                raise _invalid(f"The value of tag '{key}' must be at most 256 characters")

    @staticmethod
    def _phone(
        given: Mapping[str, Any] | None, current: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        given = given or {}
        phone: dict[str, Any] = {
            "PhoneType": given.get("PhoneType") or (current or {}).get("PhoneType") or "SOFT_PHONE",
            "AutoAccept": bool(given.get("AutoAccept", False)),
            "AfterContactWorkTimeLimit": int(given.get("AfterContactWorkTimeLimit", 0)),
        }
        desk = given.get("DeskPhoneNumber")
        if desk:
            if not _PHONE_NUMBER.fullmatch(desk):
                raise _invalid(f"DeskPhoneNumber '{desk}' must be in E.164 format")
            phone["DeskPhoneNumber"] = desk
        elif phone["PhoneType"] == "DESK_PHONE":
            raise _invalid("A DeskPhoneNumber is required when PhoneType is DESK_PHONE")
        if "PersistentConnection" in given:
            phone["PersistentConnection"] = bool(given["PersistentConnection"])
        return phone

    @staticmethod
    def _identity(given: Mapping[str, Any]) -> dict[str, str]:
        return {
            k: given[k]
            for k in ("FirstName", "LastName", "Email", "SecondaryEmail", "Mobile")
            if given.get(k) is not None
        }

    def _resolve_arn(self, arn: str) -> _Instance | _Resource | _User:
        if not arn.startswith("arn:"):
            raise _invalid(f"Invalid resource ARN: {arn}")
        resource = self._arns.get(arn)
        if resource is None:
            raise _not_found(f"Resource not found: {arn}")
        self._authorize(arn)
        return resource

    # ----------------------------------------------------------------- shapes

    def _wire_user(self, user: _User) -> dict[str, Any]:
        record: dict[str, Any] = {
            "Id": user.id,
            "Arn": user.arn,
            "Username": user.username,
            "IdentityInfo": dict(user.identity),
            "PhoneConfig": dict(user.phone),
            "SecurityProfileIds": list(user.security_profile_ids),
            "RoutingProfileId": user.routing_profile_id,
            "Tags": dict(user.tags),
            "LastModifiedTime": user.modified,
            "LastModifiedRegion": self.region,
        }
        if user.directory_user_id:
            record["DirectoryUserId"] = user.directory_user_id
        if user.hierarchy_group_id:
            record["HierarchyGroupId"] = user.hierarchy_group_id
        return record

    def _python_user(self, user: _User) -> dict[str, Any]:
        record = copy.deepcopy(self._wire_user(user))
        record["LastModifiedTime"] = datetime.fromtimestamp(user.modified, UTC)
        return record

    @staticmethod
    def _search_summary(record: Mapping[str, Any]) -> dict[str, Any]:
        summary = {
            k: record[k]
            for k in (
                "Id",
                "Arn",
                "Username",
                "DirectoryUserId",
                "HierarchyGroupId",
                "PhoneConfig",
                "RoutingProfileId",
                "SecurityProfileIds",
                "Tags",
            )
            if k in record
        }
        identity = record.get("IdentityInfo") or {}
        summary["IdentityInfo"] = {
            k: identity[k] for k in ("FirstName", "LastName") if k in identity
        }
        if "PhoneConfig" in summary:
            # The API model's UserPhoneConfig: "When returned by a SearchUsers call,
            # AfterContactWorkTimeLimit is returned in milliseconds" (seconds everywhere else).
            phone = dict(summary["PhoneConfig"])
            phone["AfterContactWorkTimeLimit"] = (
                int(phone.get("AfterContactWorkTimeLimit", 0)) * 1000
            )
            summary["PhoneConfig"] = phone
        return summary

    # ----------------------------------------------------------------- paging

    @staticmethod
    def _query_hash(params: Mapping[str, Any]) -> str:
        query = {k: v for k, v in params.items() if k not in ("NextToken", "MaxResults")}
        digest = hashlib.sha256(json.dumps(query, sort_keys=True, default=str).encode())
        return digest.hexdigest()[:16]

    def _page(
        self, items: Sequence[Any], params: Mapping[str, Any], default_size: int = _DEFAULT_PAGE
    ) -> tuple[list[Any], str | None]:
        """Items (ordered by ``seq``) after the token's position, and the next token."""
        after = 0
        token = params.get("NextToken")
        query = self._query_hash(params)
        if token:
            try:
                decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
                after = int(decoded["after"])
                token_query = decoded["query"]
            except (ValueError, KeyError, TypeError, binascii.Error) as exc:
                raise _invalid("The NextToken is not valid") from exc
            if token_query != query:
                raise _invalid("The NextToken does not belong to this request")
        size = int(params.get("MaxResults") or default_size)
        rest = [item for item in items if item.seq > after]
        page = rest[:size]
        if len(rest) > size:
            payload = json.dumps({"after": page[-1].seq, "query": query}).encode()
            return page, base64.urlsafe_b64encode(payload).decode()
        return page, None

    def _catalog(self, params: Mapping[str, Any], attribute: str, list_name: str) -> dict[str, Any]:
        instance = self._instance(params["InstanceId"])
        catalog: dict[str, _Resource] = getattr(instance, attribute)
        page, token = self._page(list(catalog.values()), params)
        result: dict[str, Any] = {
            list_name: [
                {
                    "Id": r.id,
                    "Arn": r.arn,
                    "Name": r.name,
                    "LastModifiedTime": r.modified,
                    "LastModifiedRegion": self.region,
                }
                for r in page
            ]
        }
        if token:
            result["NextToken"] = token
        return result

    # ----------------------------------------------------------------- operations

    def _create_user(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._do_create_user(params, inject=True)

    def _do_create_user(self, params: Mapping[str, Any], *, inject: bool) -> dict[str, Any]:
        username: str = params["Username"]
        problem = username_problem(username)
        if problem:
            raise _invalid(problem)
        if inject:
            self._inject("CreateUser", username)
        if params.get("Password") is not None:
            raise ConnectError(
                "InvalidRequestException",
                "This instance uses SAML 2.0-based authentication: a password cannot be set",
            )
        instance = self._instance(params["InstanceId"])
        profiles = self._check_security_profiles(instance, params["SecurityProfileIds"])
        self._check_routing_profile(instance, params["RoutingProfileId"])
        self._check_hierarchy_group(instance, params.get("HierarchyGroupId"))
        tags = dict(params.get("Tags") or {})
        self._check_tags(tags)
        phone = self._phone(params.get("PhoneConfig"), None)
        if username in instance.usernames:
            raise ConnectError("DuplicateResourceException", f"User {username} already exists")
        if len(instance.users) >= self.max_users_per_instance:
            raise ConnectError(
                "LimitExceededException",
                f"The users per instance quota ({self.max_users_per_instance}) has been reached",
            )
        user_id = str(uuid.uuid4())
        user = _User(
            seq=self._next_seq(),
            id=user_id,
            arn=f"{instance.arn}/agent/{user_id}",
            instance_id=instance.id,
            username=username,
            identity=self._identity(params.get("IdentityInfo") or {}),
            phone=phone,
            security_profile_ids=profiles,
            routing_profile_id=params["RoutingProfileId"],
            hierarchy_group_id=params.get("HierarchyGroupId"),
            directory_user_id=params.get("DirectoryUserId"),
            modified=time.time(),
            tags=tags,
        )
        instance.users[user_id] = user
        instance.usernames[username] = user_id
        self._arns[user.arn] = user
        if inject and self._lost_creates[username] > 0:
            self._lost_creates[username] -= 1
            raise ConnectError("InternalServiceException", "Request processing failed")
        return {"UserId": user_id, "UserArn": user.arn}

    def _describe_user(self, params: dict[str, Any]) -> dict[str, Any]:
        _, user = self._user(params, "DescribeUser")
        return {"User": self._wire_user(user)}

    def _list_users(self, params: dict[str, Any]) -> dict[str, Any]:
        instance = self._instance(params["InstanceId"])
        page, token = self._page(list(instance.users.values()), params)
        result: dict[str, Any] = {
            "UserSummaryList": [
                {
                    "Id": u.id,
                    "Arn": u.arn,
                    "Username": u.username,
                    "LastModifiedTime": u.modified,
                    "LastModifiedRegion": self.region,
                }
                for u in page
            ]
        }
        if token:
            result["NextToken"] = token
        return result

    def _search_users(self, params: dict[str, Any]) -> dict[str, Any]:
        instance = self._instance(params["InstanceId"])
        search_filter = params.get("SearchFilter") or {}
        if "TagFilter" in search_filter and "UserAttributeFilter" in search_filter:
            # The model's documentation of UserAttributeFilter says exactly this.
            raise ConnectError(
                "AccessDeniedException",
                "A SearchFilter takes a TagFilter or a UserAttributeFilter, not both",
            )
        criteria = params.get("SearchCriteria")
        matches = list(instance.users.values())
        if search_filter:
            matches = [user for user in matches if _filter_matches(search_filter, user)]
        if criteria is not None:
            matches_criteria = _compile_criteria(criteria)
            matches = [user for user in matches if matches_criteria(user)]
        page, token = self._page(matches, params)
        result: dict[str, Any] = {
            "Users": [self._search_summary(self._wire_user(u)) for u in page],
            "ApproximateTotalCount": len(matches),
        }
        if token:
            result["NextToken"] = token
        return result

    def _update_identity_info(self, params: dict[str, Any]) -> None:
        _, user = self._user(params, "UpdateUserIdentityInfo")
        user.identity.update(self._identity(params["IdentityInfo"]))
        user.modified = time.time()

    def _update_phone_config(self, params: dict[str, Any]) -> None:
        _, user = self._user(params, "UpdateUserPhoneConfig")
        user.phone = self._phone(params["PhoneConfig"], user.phone)
        user.modified = time.time()

    def _update_routing_profile(self, params: dict[str, Any]) -> None:
        instance, user = self._user(params, "UpdateUserRoutingProfile")
        self._check_routing_profile(instance, params["RoutingProfileId"])
        user.routing_profile_id = params["RoutingProfileId"]
        user.modified = time.time()

    def _update_security_profiles(self, params: dict[str, Any]) -> None:
        instance, user = self._user(params, "UpdateUserSecurityProfiles")
        user.security_profile_ids = self._check_security_profiles(
            instance, params["SecurityProfileIds"]
        )
        user.modified = time.time()

    def _update_hierarchy(self, params: dict[str, Any]) -> None:
        instance, user = self._user(params, "UpdateUserHierarchy")
        group_id = params.get("HierarchyGroupId") or None
        self._check_hierarchy_group(instance, group_id)
        user.hierarchy_group_id = group_id
        user.modified = time.time()

    def _delete_user(self, params: dict[str, Any]) -> None:
        instance, user = self._user(params, "DeleteUser")
        del instance.users[user.id]
        del instance.usernames[user.username]
        del self._arns[user.arn]

    def _tagged(self, params: Mapping[str, Any], operation: str) -> _Instance | _Resource | _User:
        resource = self._resolve_arn(params["resourceArn"])
        if isinstance(resource, _User):
            self._inject(operation, resource.username)
        return resource

    def _tag_resource(self, params: dict[str, Any]) -> None:
        resource = self._tagged(params, "TagResource")
        merged = {**resource.tags, **params["tags"]}
        self._check_tags(params["tags"])
        self._check_tags(merged)
        resource.tags = merged
        if isinstance(resource, _User):
            resource.modified = time.time()

    def _untag_resource(self, params: dict[str, Any]) -> None:
        resource = self._tagged(params, "UntagResource")
        for key in params["tagKeys"]:
            resource.tags.pop(key, None)
        if isinstance(resource, _User):
            resource.modified = time.time()

    def _list_tags(self, params: dict[str, Any]) -> dict[str, Any]:
        resource = self._tagged(params, "ListTagsForResource")
        return {"tags": dict(resource.tags)}

    def _list_security_profiles(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._catalog(params, "security_profiles", "SecurityProfileSummaryList")

    def _list_routing_profiles(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._catalog(params, "routing_profiles", "RoutingProfileSummaryList")

    def _list_hierarchy_groups(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._catalog(params, "hierarchy_groups", "UserHierarchyGroupSummaryList")


# --------------------------------------------------------------------------- search


def _tag_condition(condition: Mapping[str, Any], tags: Mapping[str, str]) -> bool:
    key = condition.get("TagKey")
    if key is None or key not in tags:
        return False
    value = condition.get("TagValue")
    return value is None or tags[key] == value


def _filter_matches(search_filter: Mapping[str, Any], user: _User) -> bool:
    """SearchFilter: TagFilter and UserAttributeFilter (tags and hierarchy group)."""
    tag_filter = search_filter.get("TagFilter") or {}
    tags = user.tags
    if "TagCondition" in tag_filter and not _tag_condition(tag_filter["TagCondition"], tags):
        return False
    if tag_filter.get("AndConditions") and not all(
        _tag_condition(c, tags) for c in tag_filter["AndConditions"]
    ):
        return False
    if tag_filter.get("OrConditions") and not any(
        all(_tag_condition(c, tags) for c in group) for group in tag_filter["OrConditions"]
    ):
        return False
    attribute_filter = search_filter.get("UserAttributeFilter") or {}

    def attribute_and(condition: Mapping[str, Any]) -> bool:
        if not all(_tag_condition(c, tags) for c in condition.get("TagConditions") or []):
            return False
        group = condition.get("HierarchyGroupCondition")
        return group is None or _hierarchy_matches(group, user)

    if "TagCondition" in attribute_filter and not _tag_condition(
        attribute_filter["TagCondition"], tags
    ):
        return False
    group = attribute_filter.get("HierarchyGroupCondition")
    if group is not None and not _hierarchy_matches(group, user):
        return False
    if "AndCondition" in attribute_filter and not attribute_and(attribute_filter["AndCondition"]):
        return False
    return not attribute_filter.get("OrConditions") or any(
        attribute_and(c) for c in attribute_filter["OrConditions"]
    )


def _hierarchy_matches(condition: Mapping[str, Any], user: _User) -> bool:
    # The emulator keeps no hierarchy tree: WITH_CHILD_GROUPS behaves like EXACT.
    return condition.get("Value") is not None and user.hierarchy_group_id == condition["Value"]


_SCALAR_FIELDS: Mapping[str, Callable[[_User], str]] = {
    "username": lambda u: u.username,
    "firstname": lambda u: u.identity.get("FirstName", ""),
    "lastname": lambda u: u.identity.get("LastName", ""),
    "routingprofileid": lambda u: u.routing_profile_id,
    "resourceid": lambda u: u.id,
}
_STRING_FIELDS: Mapping[str, Callable[[_User], list[str]]] = {
    "username": lambda u: [u.username],
    "firstname": lambda u: [u.identity.get("FirstName", "")],
    "lastname": lambda u: [u.identity.get("LastName", "")],
    "routingprofileid": lambda u: [u.routing_profile_id],
    "securityprofileid": lambda u: list(u.security_profile_ids),
    "resourceid": lambda u: [u.id],
}
# The model's documentation of UserSearchCriteria: "name" fields take "contains" queries of
# 2 to 25 characters only.
_NAME_FIELDS = frozenset({"username", "firstname", "lastname"})
_CONTAINS_LENGTH = (2, 25)


def _exact_scalar(criteria: Mapping[str, Any]) -> tuple[str, str] | None:
    """(field, value) when ``criteria`` is nothing but one EXACT leaf on a one-valued field."""
    condition = criteria.get("StringCondition")
    if condition is None or set(criteria) != {"StringCondition"}:
        return None
    _string_test(condition)  # refuses what the service refuses
    field_name = str(condition.get("FieldName", "")).lower()
    if condition.get("ComparisonType") != "EXACT" or field_name not in _SCALAR_FIELDS:
        return None
    return field_name, str(condition["Value"])


def _string_test(condition: Mapping[str, Any]) -> Callable[[_User], bool]:
    name = str(condition.get("FieldName", ""))
    getter = _STRING_FIELDS.get(name.lower())
    if getter is None:
        raise _invalid(
            f"Unsupported FieldName '{name}': use Username, FirstName, LastName, "
            "RoutingProfileId, SecurityProfileId or ResourceId"
        )
    value = condition.get("Value")
    comparison = condition.get("ComparisonType")
    if value is None or comparison is None:
        raise _invalid("A StringCondition needs a Value and a ComparisonType")
    low, high = _CONTAINS_LENGTH
    if comparison == "CONTAINS" and name.lower() in _NAME_FIELDS and not low <= len(value) <= high:
        raise _invalid(
            f"A CONTAINS query on {name} takes {low} to {high} characters, not {len(value)}"
        )
    compare: Callable[[str], bool]
    if comparison == "EXACT":
        compare = value.__eq__
    elif comparison == "STARTS_WITH":
        compare = lambda s: s.startswith(value)  # noqa: E731
    else:
        compare = lambda s: value in s  # noqa: E731
    return lambda user: any(compare(s) for s in getter(user))


def _compile_criteria(criteria: Mapping[str, Any]) -> Callable[[_User], bool]:
    """SearchCriteria as one predicate, checked (and refused) once per request.

    Every leaf and list given must hold. String matching is case-sensitive: neither the
    API model nor Connect's documentation says that any comparison ignores letter case, so
    the emulator does not pretend it does, and a client must not rely on it.
    """
    tests: list[Callable[[_User], bool]] = []
    condition = criteria.get("StringCondition")
    if condition is not None:
        tests.append(_string_test(condition))
    if criteria.get("ListCondition") is not None:
        raise ConnectError(
            "InvalidRequestException", "The Connect emulator does not support ListCondition"
        )
    group = criteria.get("HierarchyGroupCondition")
    if group is not None:
        tests.append(lambda user: _hierarchy_matches(group, user))
    every = [_compile_criteria(c) for c in criteria.get("AndConditions") or ()]
    if every:
        tests.append(lambda user: all(test(user) for test in every))
    if criteria.get("OrConditions"):
        # EXACT leaves on one field become one set look-up, as an index would answer them.
        exact: dict[str, set[str]] = {}
        either: list[Callable[[_User], bool]] = []
        for branch in criteria["OrConditions"]:
            leaf = _exact_scalar(branch)
            if leaf is None:
                either.append(_compile_criteria(branch))
            else:
                exact.setdefault(leaf[0], set()).add(leaf[1])
        for field_name, values in exact.items():
            get = _SCALAR_FIELDS[field_name]
            either.append(lambda user, get=get, values=values: get(user) in values)
        tests.append(lambda user: any(test(user) for test in either))
    if len(tests) == 1:
        return tests[0]
    return lambda user: all(test(user) for test in tests)


# --------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m connect_user_sync_emulators.connect",
        description="Run the Amazon Connect emulator in the foreground.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--speed", type=float, default=1.0, help="multiplies rates and bursts")
    parser.add_argument("--burst", type=float, default=5)
    parser.add_argument("--no-rate-limits", action="store_true")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--account-id", default="123456789012")
    parser.add_argument("--max-users", type=int, default=500, help="users per instance")
    parser.add_argument("--instance-id", default=None, help="id of the seeded instance")
    args = parser.parse_args(argv)
    emulator = ConnectEmulator(
        region=args.region,
        account_id=args.account_id,
        speed=args.speed,
        burst=args.burst,
        rate_limits=not args.no_rate_limits,
        max_users_per_instance=args.max_users,
        port=args.port,
        host=args.host,
    )
    instance_id = emulator.add_instance(args.instance_id)
    seeded = {
        "security_profiles": {
            name: emulator.add_security_profile(instance_id, name)
            for name in ("Admin", "Agent", "CallCenterManager", "QualityAnalyst")
        },
        "routing_profiles": {
            "Basic Routing Profile": emulator.add_routing_profile(
                instance_id, "Basic Routing Profile"
            )
        },
    }
    with emulator:
        print(f"Amazon Connect emulator listening on {emulator.url}", flush=True)
        print(f"  export AWS_ENDPOINT_URL_CONNECT={emulator.url}", flush=True)
        print(f"  instance: {instance_id}", flush=True)
        print(f"  seeded: {json.dumps(seeded)}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
