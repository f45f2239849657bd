"""The ``source.entra``, ``source.okta``, ``source.duo`` and ``source.identity_center`` sections.

(``source.file`` has its own module, ``file_section``.) Secrets are given as Secrets
Manager ARNs; for a local run only, the value may be written inline instead.
"""

from __future__ import annotations

import re

from connect_user_sync.config.model import (
    Config,
    DuoSourceConfig,
    EntraSourceConfig,
    IdentityCenterSourceConfig,
    OktaSourceConfig,
    SourceConfig,
)
from connect_user_sync.config.section import REGION, ROLE_ARN, ROLE_ARN_EXAMPLE, Section
from connect_user_sync.domain.bounded import shown
from connect_user_sync.errors import ConfigError

SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$")
HOST_PORT = re.compile(r"^[A-Za-z0-9.-]+(:\d{1,5})?$")
IDENTITY_STORE = re.compile(r"^d-[0-9a-f]{10}$|^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$")
ORG_URL = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d+)?/?$")
DEFAULT_AUTHORITY = "login.microsoftonline.com"
DEFAULT_GRAPH = "https://graph.microsoft.com"


def secret_pair(sec: Section, arn_key: str, inline_key: str) -> tuple[str | None, str | None]:
    """A secret's ARN and inline value; giving both is an error."""
    arn = sec.matching(arn_key, SECRET_ARN, "arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME")
    inline = sec.text(inline_key)
    if arn and inline:
        raise ConfigError(
            sec.at(inline_key), f"both {arn_key} and {inline_key} are set", f"keep only {arn_key}"
        )
    return arn, inline


def require_one_secret(
    sec: Section, arn: str | None, inline: str | None, arn_key: str, inline_key: str
) -> None:
    if not arn and not inline:
        raise ConfigError(
            sec.at(arn_key),
            f"no {arn_key} given",
            f"store the secret in Secrets Manager and give its ARN as {arn_key} "
            f"(for a local run only, {inline_key} may hold the value)",
        )


def parse_entra(sub: Section) -> EntraSourceConfig:
    sub.check_keys(
        (
            "tenant_id",
            "client_id",
            "client_secret_arn",
            "client_secret",
            "authority_host",
            "graph_url",
        )
    )
    arn, inline = secret_pair(sub, "client_secret_arn", "client_secret")
    require_one_secret(sub, arn, inline, "client_secret_arn", "client_secret")
    authority = (
        sub.matching("authority_host", HOST_PORT, f"{DEFAULT_AUTHORITY} (host[:port], no scheme)")
        or DEFAULT_AUTHORITY
    )
    graph_url = sub.text("graph_url") or DEFAULT_GRAPH
    if not graph_url.startswith("https://"):
        raise ConfigError(
            sub.at("graph_url"),
            f"{shown(graph_url)} is not an https URL",
            f"use {DEFAULT_GRAPH} or your national cloud's Graph URL",
        )
    return EntraSourceConfig(
        tenant_id=sub.required_text("tenant_id"),
        client_id=sub.required_text("client_id"),
        client_secret_arn=arn,
        client_secret=inline,
        authority_host=authority,
        graph_url=graph_url.rstrip("/"),
    )


def parse_okta(sub: Section) -> OktaSourceConfig:
    sub.check_keys(
        (
            "org_url",
            "api_token_secret_arn",
            "api_token",
            "client_id",
            "private_key_secret_arn",
            "private_key",
        )
    )
    org_url = sub.required_text("org_url")
    if not ORG_URL.match(org_url):
        raise ConfigError(
            sub.at("org_url"),
            f"{shown(org_url)} is not an org URL",
            "use https://YOUR-ORG.okta.com",
        )
    token_arn, token = secret_pair(sub, "api_token_secret_arn", "api_token")
    key_arn, key = secret_pair(sub, "private_key_secret_arn", "private_key")
    client_id = sub.text("client_id")
    if client_id:
        require_one_secret(sub, key_arn, key, "private_key_secret_arn", "private_key")
    else:
        require_one_secret(sub, token_arn, token, "api_token_secret_arn", "api_token")
    return OktaSourceConfig(org_url.rstrip("/"), token_arn, token, client_id, key_arn, key)


def parse_identity_center(sub: Section) -> IdentityCenterSourceConfig:
    sub.check_keys(("identity_store_id", "region", "role_arn", "external_id"))
    store_id = sub.matching(
        "identity_store_id",
        IDENTITY_STORE,
        "d-1234567890 (Identity Center settings, 'Identity store ID')",
        required=True,
    )
    region = sub.matching("region", REGION, "us-east-1", required=True)
    role_arn = sub.matching("role_arn", ROLE_ARN, ROLE_ARN_EXAMPLE)
    external_id = sub.text("external_id")
    if external_id and not role_arn:
        raise ConfigError(
            sub.at("external_id"),
            "set without role_arn",
            "remove it or add the role_arn it belongs to",
        )
    assert store_id is not None
    assert region is not None
    return IdentityCenterSourceConfig(store_id, region, role_arn, external_id)


def parse_duo(sub: Section) -> DuoSourceConfig:
    sub.check_keys(("api_host", "integration_key", "secret_key_arn", "secret_key"))
    arn, inline = secret_pair(sub, "secret_key_arn", "secret_key")
    require_one_secret(sub, arn, inline, "secret_key_arn", "secret_key")
    host = sub.matching(
        "api_host",
        HOST_PORT,
        "api-XXXXXXXX.duosecurity.com (host[:port], no scheme)",
        required=True,
    )
    assert host is not None
    return DuoSourceConfig(host, sub.required_text("integration_key"), arn, inline)


def parse_idp_source(kind: str, sub: Section) -> SourceConfig:
    """``source`` for every type but ``file``, from its section ``sub``."""
    if kind == "entra":
        return SourceConfig(kind, entra=parse_entra(sub))
    if kind == "okta":
        return SourceConfig(kind, okta=parse_okta(sub))
    if kind == "identity_center":
        return SourceConfig(kind, identity_center=parse_identity_center(sub))
    return SourceConfig(kind, duo=parse_duo(sub))


# (source type, inline key, ARN key) of every secret a source takes.
SECRET_KEYS = (
    ("entra", "client_secret", "client_secret_arn"),
    ("okta", "api_token", "api_token_secret_arn"),
    ("okta", "private_key", "private_key_secret_arn"),
    ("duo", "secret_key", "secret_key_arn"),
)


def refuse_inline_secrets(config: Config) -> None:
    """For the Lambda function: secrets come from Secrets Manager by ARN, never inline.

    A secret written into the configuration document sits in plain text in the SSM
    parameter (and its history) for anyone who may read it. The value is never quoted.
    """
    for kind, inline_key, arn_key in SECRET_KEYS:
        section = getattr(config.source, kind)
        if section is not None and getattr(section, inline_key):
            raise ConfigError(
                f"source.{kind}.{inline_key}",
                "a secret is written inline in the configuration; the function takes "
                "secrets from Secrets Manager only (the value is not shown)",
                f"store it in Secrets Manager, give its ARN as source.{kind}.{arn_key} and "
                f"remove {inline_key}; then rotate the secret, since the parameter held it",
            )
