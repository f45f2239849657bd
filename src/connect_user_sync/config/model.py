"""The configuration's typed model: what a validated document means.

The parser (``config.parser``) builds these values; nothing here reads files or checks
input. ``USERNAME_ATTRIBUTES`` is the one place that says which username attributes each
source offers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from connect_user_sync.domain.models import GroupRule

SOURCE_TYPES = ("entra", "okta", "duo", "identity_center", "file")
# The attributes each source can assert as RoleSessionName; the first is the default.
USERNAME_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "entra": ("upn", "mail"),
    "okta": ("login", "email"),
    "duo": ("username", "email"),
    "identity_center": ("user_name", "email"),
    "file": ("upn", "email", "login", "username", "id"),
}
DEPROVISION_ACTIONS = ("disable", "delete", "report")
PHONE_TYPES = ("SOFT_PHONE", "DESK_PHONE")


# The fields a user of the file source has (CONTRACT.md §2); ``file.columns`` maps them.
FILE_USER_FIELDS = (
    "id",
    "upn",
    "email",
    "login",
    "username",
    "first_name",
    "last_name",
    "enabled",
    "groups",
)


@dataclass(frozen=True)
class FileSourceConfig:
    """``source.file``: where the export is and how to read it.

    ``delimiter`` None means: detect ``,`` ``;`` or tab from the header line.
    ``columns`` pairs a contract field with the header the export uses for it.
    ``active_values`` None means the built-in words decide ``enabled``.
    """

    path: str
    encoding: str = "utf-8"
    delimiter: str | None = None
    columns: tuple[tuple[str, str], ...] = ()
    active_values: tuple[str, ...] | None = None


@dataclass(frozen=True)
class EntraSourceConfig:
    tenant_id: str
    client_id: str
    client_secret_arn: str | None = None
    client_secret: str | None = None
    authority_host: str = "login.microsoftonline.com"
    graph_url: str = "https://graph.microsoft.com"


@dataclass(frozen=True)
class OktaSourceConfig:
    org_url: str
    api_token_secret_arn: str | None = None
    api_token: str | None = None
    client_id: str | None = None
    private_key_secret_arn: str | None = None
    private_key: str | None = None


@dataclass(frozen=True)
class DuoSourceConfig:
    api_host: str
    integration_key: str
    secret_key_arn: str | None = None
    secret_key: str | None = None


@dataclass(frozen=True)
class IdentityCenterSourceConfig:
    identity_store_id: str
    region: str
    role_arn: str | None = None
    external_id: str | None = None


@dataclass(frozen=True)
class SourceConfig:
    type: str
    file: FileSourceConfig | None = None
    entra: EntraSourceConfig | None = None
    okta: OktaSourceConfig | None = None
    duo: DuoSourceConfig | None = None
    identity_center: IdentityCenterSourceConfig | None = None


@dataclass(frozen=True)
class UsernameConfig:
    attribute: str
    lowercase: bool = False


@dataclass(frozen=True)
class TargetConfig:
    instance_id: str
    region: str
    account_id: str | None = None
    role_arn: str | None = None
    external_id: str | None = None

    @property
    def key(self) -> str:
        return f"{self.region}/{self.instance_id}"


@dataclass(frozen=True)
class DeprovisionConfig:
    action: str = "disable"
    disabled_security_profile: str | None = None
    disabled_routing_profile: str | None = None


DEFAULT_PROTECTED_PROFILES = ("Admin",)


@dataclass(frozen=True)
class SafetyConfig:
    max_deprovision: int = 25
    max_deprovision_percent: float = 10
    protected_usernames: frozenset[str] = frozenset()
    adopt_existing: bool = False
    # None: the default, [Admin], which an instance without an Admin profile may lack.
    protected_security_profiles: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Config:
    source: SourceConfig
    username: UsernameConfig
    groups: tuple[GroupRule, ...]
    targets: tuple[TargetConfig, ...]
    deprovision: DeprovisionConfig = field(default_factory=DeprovisionConfig)
    safety: SafetyConfig = field(default_factory=SafetyConfig)
    results_table: str | None = None
    alerts_topic_arn: str | None = None
