"""Progress on stderr while a run works, only when a person is watching."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class TerminalProgress:
    """One progress line on stderr, redrawn in place; silent when stderr is not a terminal."""

    def __init__(self, stream: TextIO | None = None, *, min_interval: float = 0.2) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.min_interval = min_interval
        self.last = 0.0

    def __call__(self, phase: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if total and done < total and now - self.last < self.min_interval:
            return
        self.last = now
        tail = f" {done}/{total}" if total else ""
        self.stream.write(f"\r\033[K{phase}{tail}")
        if total and done >= total:
            self.stream.write("\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r\033[K")
            self.stream.flush()
