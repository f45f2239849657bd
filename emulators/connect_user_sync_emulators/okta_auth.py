"""The Okta emulator's credentials: the org authorization server and API request checks.

- ``POST /oauth2/v1/token``: client credentials with a private-key JWT client assertion,
  checked as Okta checks it: the RS256 signature against the service app's registered
  public keys (``kid`` honoured), ``aud`` = this token URL, ``iss`` = ``sub`` = the client
  id, ``exp`` in the future and at most an hour away, ``jti`` never reused; every
  requested scope must be granted to the app; DPoP can be required.
- API requests: ``SSWS <api token>`` or ``Bearer <access token>``; an access token must
  carry the endpoint's scope (``403`` with ``WWW-Authenticate: ... insufficient_scope``),
  and its app must hold an admin role (``403 E0000006``).
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from connect_user_sync_emulators.okta_wire import oauth_error, okta_error
from connect_user_sync_emulators.server import Request, Response

SCOPES = ("okta.groups.read", "okta.users.read")
TOKEN_LIFETIME = 3600
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_NO_PERMISSION = "You do not have permission to perform the requested action"


@dataclass
class ServiceApp:
    """An API Services app: its public keys (JWKs), granted scopes and admin role."""

    client_id: str
    public_jwks: list[dict[str, Any]]
    scopes: frozenset[str]
    admin_role: bool = True
    require_dpop: bool = False


def generate_key_pair(kid: str = "sync-key-1") -> tuple[str, dict[str, Any]]:
    """A fresh RSA key: the private key as PKCS#8 PEM and the public key as a JWK."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": kid, "use": "sig", "alg": "RS256"})
    return pem, jwk


def _client_error(description: str) -> Response:
    return oauth_error(401, "invalid_client", description)


class OrgAuthority:
    """Service apps, API tokens and the access tokens issued, for one emulated org."""

    def __init__(self, org_url: Callable[[], str], clock: Callable[[], float]) -> None:
        self._org_url = org_url
        self.clock = clock
        self.apps: dict[str, ServiceApp] = {}
        self.api_tokens: set[str] = set()
        # False: the API token's admin holds no role that may read users and groups.
        self.token_admin_role = True
        self._access: dict[str, tuple[str, frozenset[str], float]] = {}
        self._used_jti: set[str] = set()
        self._lock = threading.RLock()

    def register_app(
        self,
        client_id: str,
        public_jwk: Mapping[str, Any],
        scopes: Iterable[str] = SCOPES,
        *,
        admin_role: bool = True,
    ) -> ServiceApp:
        app = ServiceApp(client_id, [dict(public_jwk)], frozenset(scopes), admin_role)
        with self._lock:
            self.apps[client_id] = app
        return app

    def revoke_access_tokens(self) -> None:
        with self._lock:
            self._access.clear()

    # ------------------------------------------------------------------ token endpoint

    def token(self, request: Request) -> Response:
        import jwt

        if request.method != "POST":
            return oauth_error(405, "invalid_request", "The token endpoint accepts POST only.")
        form = {k: v[-1] for k, v in parse_qs(request.body.decode("utf-8")).items()}
        if form.get("grant_type") != "client_credentials":
            return oauth_error(400, "unsupported_grant_type", "The grant type is not supported.")
        assertion = form.get("client_assertion", "")
        if form.get("client_assertion_type") != ASSERTION_TYPE or not assertion:
            return _client_error("Client authentication failed.")
        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            return _client_error("The client_assertion is not a valid JWT.")
        app = self.apps.get(str(claims.get("iss")))
        if app is None:
            return _client_error("Invalid value for 'client_id' parameter.")
        if request.headers.get("DPoP") is None and app.require_dpop:
            return oauth_error(400, "invalid_dpop_proof", "The DPoP proof JWT header is missing.")
        verified = self._verify(app, assertion, header)
        if isinstance(verified, Response):
            return verified
        if verified["sub"] != app.client_id:
            return _client_error(
                "The client_assertion token must have 'iss' and 'sub' claims equal to the "
                "client_id."
            )
        if float(verified["exp"]) > self.clock() + TOKEN_LIFETIME + 60:
            return _client_error(
                "The client_assertion token has an expiration too far into the future."
            )
        with self._lock:
            if verified["jti"] in self._used_jti:
                return _client_error("The client_assertion token has already been used.")
            self._used_jti.add(verified["jti"])
        requested = form.get("scope", "").split()
        missing = [scope for scope in requested if scope not in app.scopes]
        if not requested or missing:
            return oauth_error(
                400,
                "invalid_scope",
                "The following scopes were requested, but not granted: " + " ".join(missing)
                if missing
                else "The scope parameter is missing.",
            )
        token = "eyJemu." + secrets.token_urlsafe(32)
        with self._lock:
            self._access[token] = (
                app.client_id,
                frozenset(requested),
                self.clock() + TOKEN_LIFETIME,
            )
        return Response(
            200,
            {
                "token_type": "Bearer",
                "expires_in": TOKEN_LIFETIME,
                "access_token": token,
                "scope": " ".join(requested),
            },
        )

    def _verify(
        self, app: ServiceApp, assertion: str, header: Mapping[str, Any]
    ) -> dict[str, Any] | Response:
        """The assertion's claims if one of the app's keys signed it, else the refusal."""
        import jwt
        from jwt.algorithms import RSAAlgorithm

        keys = [k for k in app.public_jwks if header.get("kid") in (None, k.get("kid"))]
        for jwk in keys:
            try:
                claims: dict[str, Any] = jwt.decode(
                    assertion,
                    RSAAlgorithm.from_jwk(json.dumps(jwk)),  # type: ignore[arg-type]
                    algorithms=["RS256"],
                    audience=f"{self._org_url()}/oauth2/v1/token",
                    options={"require": ["exp", "iss", "sub", "aud", "jti"]},
                )
                return claims
            except jwt.InvalidAudienceError:
                return _client_error(
                    "The audience claim for client_assertion must be the endpoint invoked for "
                    "the request."
                )
            except jwt.ExpiredSignatureError:
                return _client_error("The client_assertion token is expired.")
            except jwt.MissingRequiredClaimError as exc:
                return _client_error(f"The client_assertion lacks {exc.claim}.")
            except jwt.PyJWTError:
                continue
        return _client_error("The client_assertion signature is invalid.")

    # ------------------------------------------------------------------ api requests

    def authorize(self, request: Request, scope: str) -> Response | None:
        """None when the request may go on, else Okta's refusal."""
        auth = request.headers.get("Authorization", "")
        kind, _, credential = auth.partition(" ")
        if auth.startswith("SSWS"):
            if auth[4:].strip() not in self.api_tokens:
                return okta_error(401, "E0000011", "Invalid token provided")
            if not self.token_admin_role:
                return okta_error(403, "E0000006", _NO_PERMISSION)
            return None
        if kind != "Bearer":
            return okta_error(401, "E0000011", "Invalid token provided")
        with self._lock:
            grant = self._access.get(credential.strip())
        if grant is None or grant[2] < self.clock():
            return okta_error(401, "E0000011", "Invalid token provided")
        client_id, scopes, _ = grant
        if scope and scope not in scopes:
            org = self._org_url()
            challenge = (
                f'Bearer authorization_uri="{org}/oauth2/v1/authorize", realm="{org}", '
                f'scope="{scope}", error="insufficient_scope", error_description="The access '
                f'token provided does not contain the required scopes.", '
                f'resource="{request.raw_path}"'
            )
            return okta_error(403, "E0000006", _NO_PERMISSION, {"WWW-Authenticate": challenge})
        if not self.apps[client_id].admin_role:
            return okta_error(403, "E0000006", _NO_PERMISSION)
        return None
