"""The ``okta`` SDK (3.x) wired for a batch reader that must know when a read is incomplete.

What is used from the SDK: its ``RequestExecutor`` (the SSWS header, or the OAuth 2.0
client-credentials flow with a private-key JWT client assertion signed by the SDK and the
access token it keeps), its ``HTTPClient`` on aiohttp, and its ``ConfigValidator``.
What is not, and why:

- ``okta.Client``: its constructor merges ``OKTA_*`` environment variables and
  ``~/.okta/okta.yaml`` / ``./okta.yaml`` into the configuration by itself. A stray
  variable on a laptop or a build agent could switch the org, the credentials or the HTTPS
  check. The executor is built here from a configuration assembled only from ours.
- The typed ``list_group_users`` and ``PaginationHelper``: SDK 3.4 validates a whole page
  at once, and one profile with a login or e-mail under 5 characters fails the page; and
  Okta sends ``self`` and ``next`` as two ``Link`` header lines, of which a plain header
  lookup sees one. Pages are read as raw JSON through the executor and every ``Link`` line
  is parsed here.
- The SDK's own retries (``rateLimit.maxRetries``) are switched off: they sleep outside any
  budget and give up after two. Every wait goes through ``connect_user_sync.retry``
  instead, so the total wait is bounded and a test can run it without real sleeping.

TLS trust follows ``REQUESTS_CA_BUNDLE`` (then ``SSL_CERT_FILE``); aiohttp reads neither
by itself once imported. Connect and read timeouts are explicit. Proxies follow
``HTTPS_PROXY`` / ``NO_PROXY``.
"""

from __future__ import annotations

import logging
import os
import re
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from connect_user_sync.config.model import OktaSourceConfig
from connect_user_sync.errors import ConfigError, DirectoryReadError, TransientError
from connect_user_sync.retry import RetryPolicy, reset_wait_seconds
from connect_user_sync.secrets import resolve_secret

log = logging.getLogger(__name__)

SCOPES = ("okta.groups.read", "okta.users.read")
USER_AGENT = "connect-user-sync"
# Okta's rate-limit windows are one minute long: a reset is never much more than 60 s away.
DEFAULT_POLICY = RetryPolicy(
    max_attempts=8, base=1.0, cap=30.0, max_total_wait=180.0, max_hint=65.0
)
_LINK = re.compile(r'<([^>]*)>\s*;\s*rel="?([A-Za-z]+)"?')


class RequestFailed(Exception):
    """One request failed for good (after the retries it deserved)."""


class NotFound(Exception):
    """Okta answered 404 (E0000007) for the object."""


@dataclass(frozen=True)
class OktaResponse:
    """A 200 answer: the parsed JSON body and the relations of its ``Link`` headers."""

    body: Any
    links: Mapping[str, str]


def parse_links(values: Sequence[str]) -> dict[str, str]:
    """``rel -> URL`` from every ``Link`` header line (one line may also hold several)."""
    links: dict[str, str] = {}
    for value in values:
        for url, rel in _LINK.findall(value):
            links.setdefault(rel.lower(), url)
    return links


def cursor_of(url: str) -> str | None:
    """The ``after`` cursor of a ``next`` link."""
    values = parse_qs(urlsplit(url).query).get("after")
    return values[-1] if values else None


def trust_context() -> ssl.SSLContext:
    """A TLS context trusting ``REQUESTS_CA_BUNDLE``, else ``SSL_CERT_FILE``, else the system."""
    for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        path = os.environ.get(name)
        if path:
            try:
                return ssl.create_default_context(cafile=path)
            except (OSError, ssl.SSLError) as exc:
                raise DirectoryReadError(
                    f"{name} points to {path}, which is not a readable PEM CA bundle ({exc}); "
                    "fix or unset the variable"
                ) from exc
    return ssl.create_default_context()


def _short(text: object, limit: int = 240) -> str:
    first = str(text).strip().splitlines()[0] if str(text).strip() else ""
    return first if len(first) <= limit else first[: limit - 3] + "..."


class OktaConnection:
    """One read's worth of Okta: an SDK request executor on one aiohttp session.

    Use as an async context manager. ``get`` returns an ``OktaResponse`` or raises
    ``NotFound``, ``RequestFailed`` (retries spent, or a 4xx that no retry mends) or
    ``DirectoryReadError`` (credentials, scopes, roles, TLS: something a person must fix).
    """

    def __init__(
        self,
        config: OktaSourceConfig,
        *,
        policy: RetryPolicy = DEFAULT_POLICY,
        clock: Callable[[], float] = time.time,
        timeout: tuple[float, float] = (5.0, 30.0),
    ) -> None:
        self.config = config
        self.org_url = config.org_url.rstrip("/")
        self.oauth = bool(config.client_id)
        self._policy = policy
        self._clock = clock
        self._timeout = timeout
        self._executor: Any = None
        self._session: Any = None
        # The rate-limit state last seen per bucket: (remaining, reset epoch seconds).
        self._limits: dict[str, tuple[int, float]] = {}

    # ------------------------------------------------------------------ lifecycle

    def _sdk_config(self) -> dict[str, Any]:
        cfg = self.config
        client: dict[str, Any] = {
            "orgUrl": self.org_url,
            "userAgent": USER_AGENT,
            "requestTimeout": 0,  # per-request timeouts are set on the HTTP client below
            "rateLimit": {"maxRetries": 0},
            "cache": {"enabled": False, "defaultTtl": 0, "defaultTti": 0},
            "logging": {"enabled": False},
        }
        if self.oauth:
            key = resolve_secret(
                cfg.private_key_secret_arn,
                cfg.private_key,
                key_path="source.okta.private_key_secret_arn",
            )
            client.update(
                authorizationMode="PrivateKey",
                clientId=cfg.client_id,
                scopes=list(SCOPES),
                privateKey=key,
                oauthTokenRenewalOffset=5,
                dpopEnabled=False,
            )
        else:
            token = resolve_secret(
                cfg.api_token_secret_arn, cfg.api_token, key_path="source.okta.api_token_secret_arn"
            )
            client.update(authorizationMode="SSWS", token=token)
        return {"client": client, "testing": {"testingDisableHttpsCheck": False}}

    async def __aenter__(self) -> OktaConnection:
        import aiohttp
        from okta.cache.no_op_cache import NoOpCache
        from okta.config.config_validator import ConfigValidator
        from okta.http_client import HTTPClient
        from okta.request_executor import RequestExecutor

        # The SDK logs each request (credentials included) at DEBUG and a traceback for a
        # dropped connection; its own Client silences this logger, and so do we.
        logging.getLogger("okta-sdk-python").disabled = True
        sdk_config = self._sdk_config()
        try:
            ConfigValidator(sdk_config)  # type: ignore[no-untyped-call]
        except ValueError as exc:
            raise ConfigError(
                "source.okta.org_url",
                f"the okta SDK refuses {self.org_url!r} "
                f"({_short(str(exc).replace('Errors:', ''))})",
                "use the org's own https URL, https://YOUR-ORG.okta.com (not the -admin one)",
            ) from exc
        connect, read = self._timeout
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=read)

        class _HttpClient(HTTPClient):  # type: ignore[misc]
            """The SDK's client with explicit timeouts; proxies come from the session."""

            def __init__(self, http_config: dict[str, Any]) -> None:
                super().__init__(http_config)  # type: ignore[no-untyped-call]
                self._timeout = timeout
                self._proxy = None

        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=trust_context(), limit=4),
            timeout=timeout,
            trust_env=True,
        )
        cache = NoOpCache()  # type: ignore[no-untyped-call]
        self._executor = RequestExecutor(sdk_config, cache, _HttpClient)  # type: ignore[no-untyped-call]
        self._executor.set_session(self._session)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    # ------------------------------------------------------------------ requests

    async def get(
        self, path: str, params: Sequence[tuple[str, str]] = (), *, bucket: str, what: str
    ) -> OktaResponse:
        """GET ``path`` with retries: 429 waits for the reset, 5xx and drops back off."""
        url = f"{self.org_url}{path}" + (f"?{urlencode(list(params))}" if params else "")
        budget = self._policy.start()
        while True:
            pause = self._pause_for(bucket)
            if pause:
                delay = budget.next_delay(pause)
                if delay is None:
                    raise RequestFailed(
                        f"{what}: Okta's rate limit for this endpoint stays spent "
                        f"(X-Rate-Limit-Remaining 0) beyond the {budget.waited:.0f} s already waited"
                    )
                log.info("okta rate limit spent; waiting %.1f s for the reset", delay)
                budget.sleep(delay)
            try:
                return await self._attempt(url, bucket)
            except TransientError as exc:
                delay = budget.next_delay(exc.retry_after)
                if delay is None:
                    raise RequestFailed(
                        f"{what} failed after {budget.retries + 1} attempts and "
                        f"{budget.waited:.0f} s of waiting: {exc}"
                    ) from exc
                log.warning(
                    "okta %s: %s; retrying in %.1f s (retry %d)",
                    what,
                    exc,
                    delay,
                    budget.retries + 1,
                )
                budget.sleep(delay)

    def _pause_for(self, bucket: str) -> float | None:
        """Seconds to wait before using ``bucket`` again, when Okta said it was spent."""
        remaining, reset = self._limits.get(bucket, (1, 0.0))
        if remaining > 0:
            return None
        wait = reset_wait_seconds(reset, now=self._clock())
        self._limits.pop(bucket, None)  # one wait per spent window; the next answer tells more
        return wait if wait and wait > 1.0 else None

    def _note_limits(self, bucket: str, headers: Any) -> float | None:
        remaining = _number(headers.get("X-Rate-Limit-Remaining"))
        reset = _number(headers.get("X-Rate-Limit-Reset"))
        if remaining is not None and reset is not None:
            self._limits[bucket] = (int(remaining), reset)
        return reset_wait_seconds(reset, now=self._clock()) if reset is not None else None

    async def _attempt(self, url: str, bucket: str) -> OktaResponse:
        import json

        import aiohttp

        try:
            request, error = await self._executor.create_request(
                "GET", url, headers={"Accept": "application/json"}
            )
        except Exception as exc:
            # The SDK signs the client assertion here: a key it cannot read raises (ValueError,
            # SyntaxError, jwcrypto's own errors). Nothing else in this call raises.
            if not self.oauth:
                raise DirectoryReadError(
                    f"the okta SDK could not build a request to {self.org_url} "
                    f"({type(exc).__name__}: {_short(exc)})"
                ) from exc
            raise DirectoryReadError(self._key_problem(exc)) from exc
        if error is not None:
            raise self._token_problem(error)
        _, response, text, error = await self._executor.fire_request(request)
        if response is None:
            if isinstance(error, aiohttp.ClientConnectorCertificateError | ssl.SSLError):
                raise DirectoryReadError(
                    f"TLS verification failed for {self.org_url}: {_short(error)}. If a proxy or "
                    "private CA sits in between, point REQUESTS_CA_BUNDLE at its CA bundle"
                )
            raise TransientError(
                f"no answer from {self.org_url} ({type(error).__name__}: {_short(error)})"
            )
        status = int(response.status)
        reset_wait = self._note_limits(bucket, response.headers)
        body: Any = None
        try:
            body = json.loads(text) if text else None
        except ValueError:
            body = None
        if status == 200:
            if body is None:
                raise TransientError("HTTP 200 whose body is not JSON")
            return OktaResponse(body, parse_links(response.headers.getall("Link", [])))
        code, summary = _okta_error(body)
        described = f"HTTP {status} {code}: {summary}".strip()
        if status == 401:
            raise DirectoryReadError(self._unauthorized(described))
        if status == 403:
            raise DirectoryReadError(
                self._forbidden(described, response.headers.get("WWW-Authenticate", ""))
            )
        if status == 404:
            raise NotFound(described)
        if status == 429:
            self._limits.pop(bucket, None)  # the retry's own wait covers this window
            raise TransientError(described, code=code or "E0000047", retry_after=reset_wait)
        if status >= 500:
            raise TransientError(described, code=code)
        raise RequestFailed(described)

    # ------------------------------------------------------------------ messages

    def _credential(self) -> str:
        cfg = self.config
        if self.oauth:
            where = cfg.private_key_secret_arn or "source.okta.private_key"
            return f"service app {cfg.client_id} (private key from {where})"
        return f"the API token from {cfg.api_token_secret_arn or 'source.okta.api_token'}"

    def _key_problem(self, exc: BaseException) -> str:
        where = self.config.private_key_secret_arn or "source.okta.private_key"
        # The SDK's own message may quote the key: only its type is shown.
        return (
            f"the private key in {where} is not an RSA private key the okta SDK can read "
            f"({type(exc).__name__}); store the private key of the service app's key pair as "
            "PEM (-----BEGIN PRIVATE KEY-----) or as a JWK, not the public key"
        )

    def _token_problem(self, error: Any) -> Exception:
        import aiohttp

        if isinstance(error, aiohttp.ClientConnectorCertificateError | ssl.SSLError):
            return DirectoryReadError(
                f"TLS verification failed for {self.org_url}: {_short(error)}. If a proxy or "
                "private CA sits in between, point REQUESTS_CA_BUNDLE at its CA bundle"
            )
        status = getattr(error, "status", None)
        code = str(getattr(error, "error_code", "") or "")
        summary = _short(getattr(error, "error_summary", "") or error)
        if status is None or status == 429 or status >= 500:
            headers = getattr(error, "headers", None) or {}
            reset = _number(headers.get("X-Rate-Limit-Reset")) if status == 429 else None
            hint = reset_wait_seconds(reset, now=self._clock()) if reset is not None else None
            return TransientError(
                f"token request: {code or type(error).__name__}: {summary}",
                code=code,
                retry_after=hint,
            )
        app = f"service app {self.config.client_id} at {self.org_url}"
        if code == "invalid_client":
            fix = (
                "check that client_id is the app's Client ID, that its client authentication "
                "is 'Public key / Private key', and that the public key registered on the app "
                "belongs to the private key in "
                f"{self.config.private_key_secret_arn or 'source.okta.private_key'}"
            )
        elif code == "invalid_scope":
            fix = "grant okta.groups.read and okta.users.read on the app's 'Okta API Scopes' tab"
        elif code == "invalid_dpop_proof" or "dpop" in summary.lower():
            fix = (
                "clear 'Require Demonstrating Proof of Possession (DPoP) header in token "
                "requests' on the app's General tab"
            )
        elif code == "unauthorized_client":
            fix = "the app must be an API Services app allowed the Client Credentials grant"
        else:
            fix = "see docs/okta.md for the service app's settings"
        return DirectoryReadError(f"Okta refused a token to {app} ({code}: {summary}); {fix}")

    def _unauthorized(self, described: str) -> str:
        if self.oauth:
            return (
                f"Okta at {self.org_url} rejected the access token of {self._credential()} "
                f"({described}); check that org_url is the org the app belongs to"
            )
        return (
            f"Okta at {self.org_url} rejected {self._credential()} ({described}). The token "
            "is wrong, revoked, expired (unused for 30 days) or belongs to another org: create "
            "a new one under Security > API > Tokens and store it in the secret"
        )

    def _forbidden(self, described: str, challenge: str) -> str:
        if "insufficient_scope" in challenge:
            scope = re.search(r'scope="([^"]*)"', challenge)
            needed = scope.group(1) if scope else " and ".join(SCOPES)
            return (
                f"the access token of {self._credential()} lacks the scope {needed} "
                f"({described}); grant okta.groups.read and okta.users.read on the app's "
                "'Okta API Scopes' tab"
            )
        if self.oauth:
            return (
                f"Okta refused {self._credential()} access to groups and users ({described}); "
                "assign the app an admin role that may read them (Read-Only Administrator) on "
                "its 'Admin roles' tab"
            )
        return (
            f"Okta refused {self._credential()} access to groups and users ({described}); the "
            "admin who created the token needs a role that may read them (Read-Only "
            "Administrator or above)"
        )


def _number(value: object) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(str(value))
    except ValueError:
        return None


def _okta_error(body: object) -> tuple[str, str]:
    if isinstance(body, dict):
        code = body.get("errorCode") or body.get("error") or ""
        summary = body.get("errorSummary") or body.get("error_description") or ""
        return str(code), _short(summary)
    return "", ""
