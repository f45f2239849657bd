"""Directory sources. ``build_source`` picks the adapter named by ``source.type``.

Each adapter module is imported only when its source is configured, so a run never pays
for (or depends on) the SDK of a directory it does not use.
"""

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
        return FileSource(source.file, s3_client=clients.get("s3_client"))
    if source.type == "entra":
        from connect_user_sync.sources.entra import EntraSource

        assert source.entra is not None
        return EntraSource(source.entra, attribute, **clients)
    if source.type == "okta":
        from connect_user_sync.sources.okta import OktaSource

        assert source.okta is not None
        return OktaSource(source.okta, attribute, **clients)
    if source.type == "duo":
        from connect_user_sync.sources.duo import DuoSource

        assert source.duo is not None
        return DuoSource(source.duo, attribute, **clients)
    from connect_user_sync.sources.identity_center import IdentityCenterSource

    assert source.identity_center is not None
    return IdentityCenterSource(source.identity_center, attribute, **clients)
