"""The configuration: its typed model (``model``) and the validating parser (``parser``)."""

from connect_user_sync.config.model import (
    DEPROVISION_ACTIONS,
    PHONE_TYPES,
    SOURCE_TYPES,
    USERNAME_ATTRIBUTES,
    Config,
    DeprovisionConfig,
    DuoSourceConfig,
    EntraSourceConfig,
    FileSourceConfig,
    IdentityCenterSourceConfig,
    OktaSourceConfig,
    SafetyConfig,
    SourceConfig,
    TargetConfig,
    UsernameConfig,
)
from connect_user_sync.config.parser import load_config, parse_config, parse_text
from connect_user_sync.errors import ConfigError

__all__ = [
    "DEPROVISION_ACTIONS",
    "PHONE_TYPES",
    "SOURCE_TYPES",
    "USERNAME_ATTRIBUTES",
    "Config",
    "ConfigError",
    "DeprovisionConfig",
    "DuoSourceConfig",
    "EntraSourceConfig",
    "FileSourceConfig",
    "IdentityCenterSourceConfig",
    "OktaSourceConfig",
    "SafetyConfig",
    "SourceConfig",
    "TargetConfig",
    "UsernameConfig",
    "load_config",
    "parse_config",
    "parse_text",
]
