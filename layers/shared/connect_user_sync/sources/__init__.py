"""Directory sources. ``build_source`` picks the adapter named by ``source.type``."""

from __future__ import annotations

from typing import Any

from connect_user_sync.config import Config, ConfigError
from connect_user_sync.ports import DirectorySource


def build_source(config: Config, **clients: Any) -> DirectorySource:
    """The adapter for ``config.source``; SDK clients may be injected for tests."""
    source = config.source
    attribute = config.username.attribute
    if source.type == "file":
        from connect_user_sync.sources.file import FileSource

        assert source.file is not None
        return FileSource(source.file.path, s3_client=clients.get("s3_client"))
    if source.type == "entra":
        from connect_user_sync.sources.entra import EntraSource

        assert source.entra is not None
        return EntraSource(source.entra, attribute, **clients)
    # Okta and Duo are part of the configuration contract, but their adapters are not
    # shipped yet: say so plainly instead of failing on an import.
    raise ConfigError(
        "source.type",
        f"the {source.type} source is not available in this version",
        "use source.type entra or file (an HR export) for now",
    )
