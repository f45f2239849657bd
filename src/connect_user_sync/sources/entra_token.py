"""Entra ID access tokens for Microsoft Graph: msal's client-credentials flow.

One msal application per (authority, client id, secret) is kept for the life of the
process: msal's in-memory token cache lives in it, so tokens survive across pages, sources
and warm Lambda invocations. Transient failures (a 5xx from the identity service, a
dropped connection) are retried with the project's retry policy; anything else becomes a
``DirectoryReadError`` whose message says what to fix, by AADSTS code where Entra gives one.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Mapping
from typing import Any

import requests

from connect_user_sync.config.model import EntraSourceConfig
from connect_user_sync.errors import DirectoryReadError
from connect_user_sync.retry import RetryPolicy, request_timeout
from connect_user_sync.secrets import resolve_secret

log = logging.getLogger(__name__)

# Hosts of Entra's public and national clouds. msal validates these itself; any other
# host (a test emulator, a proxy) needs instance discovery switched off.
MICROSOFT_AUTHORITY_HOSTS = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoft.com",
        "login.windows.net",
        "sts.windows.net",
        "login.microsoftonline.us",
        "login-us.microsoftonline.com",
        "login.usgovcloudapi.net",
        "login.chinacloudapi.cn",
        "login.partner.microsoftonline.cn",
        "login.microsoftonline.de",
        "login.sovcloud-identity.fr",
        "login.sovcloud-identity.de",
        "login.sovcloud-identity.sg",
    }
)

# AADSTS codes worth a sentence of their own. Anything else is shown as Entra sent it.
AADSTS_HINTS: Mapping[int, str] = {
    7000215: (
        "Entra rejected the client secret for app {client_id} in tenant {tenant_id}; "
        "store the secret's Value (not its Secret ID) in the secret client_secret_arn points to"
    ),
    7000222: (
        "the client secret for app {client_id} in tenant {tenant_id} has expired; "
        "create a new one in the app registration and update the stored secret"
    ),
    7000218: "no client secret reached Entra for app {client_id}; check the stored secret",
    700016: (
        "Entra has no application with client_id {client_id} in tenant {tenant_id}; check "
        "source.entra.client_id (the Application (client) ID) and source.entra.tenant_id"
    ),
    90002: (
        "Entra has no tenant {tenant_id} at {authority_host}; check source.entra.tenant_id, "
        "and authority_host if the tenant lives in a national cloud"
    ),
    900023: "{tenant_id} is not a valid tenant id; use the Directory (tenant) ID GUID",
    7000112: "app {client_id} is disabled in tenant {tenant_id}; enable it in Entra",
    500011: (
        "the resource {graph_url} is not known in tenant {tenant_id}; check that graph_url "
        "belongs to the same cloud as authority_host"
    ),
}

_APP_CACHE: dict[tuple[str, str, str], Any] = {}
_APP_CACHE_LOCK = threading.Lock()
_APP_CACHE_LIMIT = 16


def clear_app_cache() -> None:
    """Forget every cached msal application (and with it every cached token)."""
    with _APP_CACHE_LOCK:
        _APP_CACHE.clear()


def short(text: str, limit: int = 300) -> str:
    """The first line of ``text``, cut to ``limit`` characters."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first if len(first) <= limit else first[: limit - 3] + "..."


class _MsalHttpClient:
    """The ``http_client`` handed to msal: a requests session with an explicit timeout."""

    def __init__(self, timeout: tuple[float, float]) -> None:
        self._session = requests.Session()
        self._timeout = timeout

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", request_timeout(self._timeout))
        return self._session.get(url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", request_timeout(self._timeout))
        return self._session.post(url, **kwargs)

    def close(self) -> None:
        self._session.close()


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, requests.exceptions.SSLError):
        return False
    if isinstance(exc, requests.ConnectionError | requests.Timeout):
        return True
    # msal raises MsalServiceError (or RuntimeError) for a 5xx from the identity service.
    return type(exc).__name__ == "MsalServiceError" or isinstance(exc, RuntimeError)


class EntraTokens:
    """Access tokens for Graph, for one app registration."""

    def __init__(
        self,
        config: EntraSourceConfig,
        graph_url: str,
        retry: RetryPolicy,
        *,
        msal_app: Any = None,
        timeout: tuple[float, float] = (5, 30),
    ) -> None:
        self.config = config
        self.graph_url = graph_url
        self.scopes = [f"{graph_url}/.default"]
        self._retry = retry
        self._app = msal_app
        self._timeout = timeout

    def fill(self, template: str) -> str:
        return template.format(
            client_id=self.config.client_id,
            tenant_id=self.config.tenant_id,
            authority_host=self.config.authority_host,
            graph_url=self.graph_url,
        )

    def token(self) -> str:
        """A valid access token (msal serves it from its cache while it lasts)."""
        app = self._msal_app()
        budget = self._retry.start()
        while True:
            problem: str
            try:
                result = app.acquire_token_for_client(scopes=self.scopes)
            except Exception as exc:  # msal raises for 5xx and transport errors
                if not _transient(exc):
                    raise DirectoryReadError(
                        f"cannot get a token for app {self.config.client_id} from "
                        f"{self.config.authority_host}: {type(exc).__name__}: {short(str(exc))}"
                    ) from exc
                problem = f"{type(exc).__name__}: {short(str(exc))}"
            else:
                if isinstance(result, dict) and result.get("access_token"):
                    return str(result["access_token"])
                error = result if isinstance(result, dict) else {}
                if error.get("error") not in ("temporarily_unavailable", "server_error"):
                    raise DirectoryReadError(self._token_error_message(error))
                problem = f"{error.get('error')}: {short(str(error.get('error_description')))}"
            delay = budget.next_delay()
            if delay is None:
                raise DirectoryReadError(
                    f"cannot get a token for app {self.config.client_id} from "
                    f"{self.config.authority_host} after {budget.attempts} attempts: {problem}"
                )
            log.warning("entra token request failed (%s); retrying in %.1f s", problem, delay)
            budget.sleep(delay)

    def _token_error_message(self, error: Mapping[str, Any]) -> str:
        description = short(str(error.get("error_description") or "no description"))
        codes = error.get("error_codes") or []
        code = codes[0] if codes and isinstance(codes[0], int) else None
        if code is None and description.startswith("AADSTS"):
            digits = description[6:].split(":", 1)[0]
            code = int(digits) if digits.isdigit() else None
        template = AADSTS_HINTS.get(code) if code is not None else None
        if template is None:
            return (
                f"Entra refused a token for app {self.config.client_id} in tenant "
                f"{self.config.tenant_id} ({error.get('error')}: {description})"
            )
        return f"{self.fill(template)} ({description})"

    def _msal_app(self) -> Any:
        if self._app is not None:
            return self._app
        cfg = self.config
        secret = resolve_secret(
            cfg.client_secret_arn, cfg.client_secret, key_path="source.entra.client_secret_arn"
        )
        authority = f"https://{cfg.authority_host}/{cfg.tenant_id}"
        key = (authority, cfg.client_id, hashlib.sha256(secret.encode("utf-8")).hexdigest())
        with _APP_CACHE_LOCK:
            app = _APP_CACHE.get(key)
            if app is None:
                app = self._build_app(authority, secret)
                if len(_APP_CACHE) >= _APP_CACHE_LIMIT:
                    _APP_CACHE.pop(next(iter(_APP_CACHE)))
                _APP_CACHE[key] = app
        self._app = app
        return app

    def _build_app(self, authority: str, secret: str) -> Any:
        import msal

        host = self.config.authority_host.split(":", 1)[0].lower()
        options: dict[str, Any] = {}
        if host not in MICROSOFT_AUTHORITY_HOSTS:
            options["instance_discovery"] = False
        budget = self._retry.start()
        while True:
            try:
                # The constructor fetches the tenant's OpenID configuration.
                return msal.ConfidentialClientApplication(
                    self.config.client_id,
                    client_credential=secret,
                    authority=authority,
                    http_client=_MsalHttpClient(self._timeout),
                    **options,
                )
            except Exception as exc:
                delay = budget.next_delay() if _transient(exc) else None
                if delay is None:
                    raise DirectoryReadError(self._authority_error_message(authority, exc)) from exc
                log.warning("entra discovery at %s failed (%s); retrying", authority, exc)
                budget.sleep(delay)

    def _authority_error_message(self, authority: str, exc: BaseException) -> str:
        # msal wraps the discovery response (AADSTS90002 for an unknown tenant) in a
        # ValueError whose __context__ holds the original text.
        texts = [str(exc)]
        if exc.__context__ is not None:
            texts.append(str(exc.__context__))
        for text in texts:
            if "AADSTS90002" in text or "invalid_tenant" in text:
                return f"{self.fill(AADSTS_HINTS[90002])} ({authority})"
            if "AADSTS900023" in text:
                return f"{self.fill(AADSTS_HINTS[900023])} ({authority})"
        if isinstance(exc, ValueError):
            return (
                f"Entra did not answer as a tenant at {authority}: check source.entra.tenant_id "
                f"and authority_host ({short(texts[-1])})"
            )
        return f"cannot reach Entra at {authority}: {type(exc).__name__}: {short(str(exc))}"
