"""Directory sources. ``build_source`` picks the adapter named by ``source.type``."""

from __future__ import annotations

from typing import Any

from connect_user_sync.config import Config
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
    if source.type == "okta":
        from connect_user_sync.sources.okta import OktaSource  # type: ignore[import-not-found,unused-ignore]

        return OktaSource(source.okta, attribute, **clients)  # type: ignore[no-any-return,unused-ignore]
    from connect_user_sync.sources.duo import DuoSource  # type: ignore[import-not-found,unused-ignore]

    return DuoSource(source.duo, attribute, **clients)  # type: ignore[no-any-return,unused-ignore]
