"""The project's own error types. Vendor errors are translated into these at the adapters."""

from __future__ import annotations


class SyncError(Exception):
    """Base class for errors this tool raises on purpose."""


class TransientError(SyncError):
    """Worth retrying: throttling, a 5xx, a dropped connection."""


class PermanentError(SyncError):
    """Retrying will not help: a bad parameter, a quota, a missing resource."""


class DirectoryReadError(SyncError):
    """The directory could not be read at all (bad credentials, unreachable IdP).

    The run reports status ``failed`` and exit code 4; nothing is deprovisioned.
    """
