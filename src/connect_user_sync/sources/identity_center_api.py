"""The Identity Store API as the Identity Center source uses it: one client, one retry policy.

The client comes from the standard AWS configuration (``AWS_ENDPOINT_URL_IDENTITYSTORE``,
``AWS_ENDPOINT_URL``, the usual credential chain) in the configured Region, after assuming
``role_arn`` through STS when one is set. botocore's own retries are off, so that the
project's one retry policy decides alone: a throttled call is neither retried twice over
nor waited for twice.

Vendor errors become the project's own here: throttling and 5xx are ``TransientError``
(retried, honouring ``RetryAfterSeconds``), access and credential problems and a missing
store are ``DirectoryReadError`` naming the fix, and any other answer the service gives is
``RefusedError`` for the caller to interpret (a group that does not exist, a user deleted
mid-read).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from connect_user_sync.config.model import IdentityCenterSourceConfig
from connect_user_sync.errors import DirectoryReadError, PermanentError, TransientError
from connect_user_sync.retry import RetryPolicy

log = logging.getLogger(__name__)

ROLE_SESSION_NAME = "connect-user-sync"

_THROTTLE_CODES = frozenset(
    {"ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded", "Throttling"}
)
_SERVER_CODES = frozenset(
    {
        "InternalServerException",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
    }
)
_CREDENTIAL_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "ExpiredTokenException",
        "ExpiredToken",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
    }
)
READ_ACTIONS = (
    "identitystore:GetGroupId, identitystore:DescribeGroup, identitystore:ListGroupMemberships, "
    "identitystore:ListUsers and identitystore:DescribeUser (and, for on-demand runs, "
    "identitystore:GetUserId and identitystore:IsMemberInGroups)"
)


class RefusedError(PermanentError):
    """The service answered with an error that retrying will not change."""

    def __init__(self, message: str, *, code: str, resource_type: str | None = None) -> None:
        super().__init__(message, code=code)
        self.resource_type = resource_type


def short(text: object, limit: int = 300) -> str:
    """One line of at most ``limit`` characters, for messages."""
    value = " ".join(str(text).split())
    return value if len(value) <= limit else value[: limit - 3] + "..."


def _snake(operation: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in operation).lstrip("_")


def _error_parts(exc: Any) -> tuple[dict[str, Any], str, str, int]:
    response = getattr(exc, "response", None) or {}
    error = response.get("Error") or {}
    code = str(error.get("Code") or "Unknown")
    message = short(error.get("Message") or response.get("Message") or exc)
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0
    return response, code, message, int(status)


class IdentityStoreApi:
    """Calls one identity store with retries; builds its boto3 client on first use."""

    def __init__(
        self,
        config: IdentityCenterSourceConfig,
        *,
        client: Any = None,
        sts_client: Any = None,
        session: Any = None,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        self.config = config
        self.store = config.identity_store_id
        self._client = client
        self._sts = sts_client
        self._session = session
        self._retry = retry_policy or RetryPolicy()

    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        """One Identity Store call (``ListUsers``...) under the retry policy.

        Raises ``TransientError`` once the retries are spent, ``RefusedError`` for a
        permanent answer, ``DirectoryReadError`` for access, credentials or a missing store.
        """
        method = getattr(self._identitystore(), _snake(operation))
        return self._with_retries(operation, lambda: method(**params), self._translate)

    # ------------------------------------------------------------------ retries

    def _with_retries(
        self,
        operation: str,
        call: Callable[[], Any],
        translate: Callable[[str, Any], Exception],
    ) -> dict[str, Any]:
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            ConnectionClosedError,
            ConnectTimeoutError,
            EndpointConnectionError,
            NoCredentialsError,
            ParamValidationError,
            ReadTimeoutError,
        )

        def attempt() -> dict[str, Any]:
            try:
                response = call()
            except ClientError as exc:
                raise translate(operation, exc) from exc
            except (
                EndpointConnectionError,
                ConnectionClosedError,
                ConnectTimeoutError,
                ReadTimeoutError,
            ) as exc:
                raise TransientError(
                    f"{operation}: {type(exc).__name__}: {short(exc)}", code=type(exc).__name__
                ) from exc
            except NoCredentialsError as exc:
                raise DirectoryReadError(
                    "no AWS credentials were found to call IAM Identity Center; run with a role "
                    "or profile that can read the identity store (see docs/identity-center.md)"
                ) from exc
            except ParamValidationError as exc:
                raise RefusedError(
                    f"{operation}: {short(exc)}", code="ParamValidationError"
                ) from exc
            except BotoCoreError as exc:  # a profile, a credential process, a config file
                raise DirectoryReadError(
                    f"cannot call IAM Identity Center ({operation}): {type(exc).__name__}: "
                    f"{short(exc)}"
                ) from exc
            result = dict(response)
            result.pop("ResponseMetadata", None)
            return result

        def on_retry(exc: TransientError, retry: int, delay: float) -> None:
            log.warning(
                "identity center %s: %s; retry %d in %.1f s", operation, exc.code, retry, delay
            )

        return self._retry.call(attempt, on_retry=on_retry)

    def _translate(self, operation: str, exc: Any) -> Exception:
        response, code, message, status = _error_parts(exc)
        if code in _THROTTLE_CODES or code in _SERVER_CODES or status >= 500:
            hint = response.get("RetryAfterSeconds")
            retry_after = float(hint) if isinstance(hint, int | float) else None
            return TransientError(f"{operation}: {message}", code=code, retry_after=retry_after)
        where = f"identity store {self.store} in {self.config.region}"
        via = (
            f" through the role {self.config.role_arn}"
            if self.config.role_arn
            else " with the credentials this run has (no source.identity_center.role_arn)"
        )
        if code == "AccessDeniedException":
            return DirectoryReadError(
                f"IAM Identity Center refused {operation} on {where}{via}: {message}. Fix: allow "
                f"{READ_ACTIONS} on arn:aws:identitystore::ACCOUNT:identitystore/{self.store} "
                "and on arn:aws:identitystore:::user/*, group/* and membership/* in the store's "
                "account (the management or delegated-admin account), and set role_arn to that "
                "role; see docs/identity-center.md"
            )
        if code in _CREDENTIAL_CODES:
            return DirectoryReadError(
                f"IAM Identity Center rejected the AWS credentials{via} ({code}: {message}); "
                "check the credentials or the role the sync runs as"
            )
        resource_type = response.get("ResourceType")
        store_missing = code == "ResourceNotFoundException" and resource_type == "IDENTITY_STORE"
        store_invalid = code == "ValidationException" and (
            self.store in message or "identitystoreid" in message.lower().replace(" ", "")
        )
        if store_missing or store_invalid:
            return DirectoryReadError(
                f"IAM Identity Center has no {where}{via} ({code}: {message}). Fix: copy the "
                "Identity store ID from IAM Identity Center > Settings into "
                "source.identity_center.identity_store_id, set region to Identity Center's "
                "home Region, and set role_arn to a role in the account that holds the store "
                "(the management or delegated-admin account)"
            )
        return RefusedError(
            f"{operation}: {message}",
            code=code,
            resource_type=resource_type if isinstance(resource_type, str) else None,
        )

    # ------------------------------------------------------------------ clients

    def _identitystore(self) -> Any:
        if self._client is None:
            from botocore.exceptions import BotoCoreError

            try:
                self._client = self._build_client()
            except BotoCoreError as exc:
                raise DirectoryReadError(
                    f"cannot set up an AWS client for IAM Identity Center in "
                    f"{self.config.region}: {type(exc).__name__}: {short(exc)}"
                ) from exc
        return self._client

    def _build_client(self) -> Any:
        import boto3
        from botocore.config import Config as BotoConfig

        boto_config = BotoConfig(
            retries={"total_max_attempts": 1},
            connect_timeout=5,
            read_timeout=30,
            user_agent_extra="connect-user-sync",
        )
        region = self.config.region
        base = self._session or boto3.session.Session()
        if not self.config.role_arn:
            return base.client("identitystore", region_name=region, config=boto_config)
        sts = self._sts or base.client("sts", region_name=region, config=boto_config)
        params: dict[str, Any] = {
            "RoleArn": self.config.role_arn,
            "RoleSessionName": ROLE_SESSION_NAME,
        }
        if self.config.external_id:
            params["ExternalId"] = self.config.external_id
        try:
            credentials = self._with_retries(
                "AssumeRole", lambda: sts.assume_role(**params), self._translate_sts
            )["Credentials"]
        except (TransientError, RefusedError) as exc:
            raise DirectoryReadError(
                f"cannot assume source.identity_center.role_arn {self.config.role_arn} "
                f"({exc.code}: {short(exc)})"
            ) from exc
        # One hour, the STS default, outlasts any read: a Lambda run stops at 15 minutes.
        assumed = boto3.session.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name=region,
        )
        return assumed.client("identitystore", region_name=region, config=boto_config)

    def _translate_sts(self, operation: str, exc: Any) -> Exception:
        _, code, message, status = _error_parts(exc)
        if code in _THROTTLE_CODES or status >= 500:
            return TransientError(f"{operation}: {message}", code=code)
        external = (
            " and that source.identity_center.external_id matches its sts:ExternalId condition"
            if self.config.external_id
            else ""
        )
        return DirectoryReadError(
            f"cannot assume source.identity_center.role_arn {self.config.role_arn} "
            f"({code}: {message}). Fix: check that the role's trust policy lets the principal "
            f"this sync runs as call sts:AssumeRole{external}"
        )
