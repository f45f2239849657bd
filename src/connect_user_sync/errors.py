"""The project's own error types. Vendor errors are translated into these at the adapters.

Each keeps the vendor's error ``code`` (``ThrottlingException``, ``E0000047``, ``40103``...)
so that callers decide on codes, never on the text of a message.
"""

from __future__ import annotations


class SyncError(Exception):
    """Base class for errors this tool raises on purpose."""

    def __init__(self, message: str = "", *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class TransientError(SyncError):
    """Worth retrying: throttling, a 5xx, a dropped connection.

    ``retry_after`` is the service's own hint in seconds, when it gave one.
    """

    def __init__(
        self, message: str = "", *, code: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class PermanentError(SyncError):
    """Retrying will not help: a bad parameter, a quota, a missing resource."""


class DirectoryReadError(SyncError):
    """The directory could not be read at all (bad credentials, unreachable IdP).

    The run reports status ``failed`` and exit code 4; nothing is deprovisioned.
    """


class ConfigError(SyncError, ValueError):
    """The configuration cannot be used. ``path`` names the key, ``fix`` the way out."""

    # Whatever a message quotes from the document, it stays readable (an alias bomb or a
    # 10 MB value must not become the message).
    MAX_PATH, MAX_PROBLEM = 200, 600

    def __init__(self, path: str, problem: str, fix: str) -> None:
        self.path = _cut(path, self.MAX_PATH)
        self.problem = _cut(problem, self.MAX_PROBLEM)
        self.fix = _cut(fix, self.MAX_PROBLEM)
        path, problem, fix = self.path, self.problem, self.fix
        super().__init__(f"config error at '{path}': {problem}. Fix: {fix}")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
