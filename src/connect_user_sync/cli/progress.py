"""Progress on stderr while a run works.

On a terminal, one line redrawn in place. Anywhere else (a pipe, CI, a log file), plain
lines: one when a phase starts, then one every ``every_seconds`` or each ``every_fraction``
of the way, whichever comes first, with done/total and the estimated time left, and one
when the phase ends. A first sync of thousands of users takes the better part of an hour
at Connect's default quotas; it must not look stuck.

The clock is injectable, so that the pacing is tested without waiting.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


def duration(seconds: float) -> str:
    """``42 s``, ``7 min``, ``1 h 05 min``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


class TerminalProgress:
    """Reports ``(phase, done, total)`` from the service on ``stream`` (stderr)."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        interactive: bool | None = None,
        every_seconds: float = 10.0,
        every_fraction: float = 0.1,
        min_interval: float = 0.2,
    ) -> None:
        self.stream = stream or sys.stderr
        self.clock = clock
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.every_seconds = every_seconds
        self.every_fraction = every_fraction
        self.min_interval = min_interval
        self.phase: str | None = None
        self.started = 0.0  # when the phase was first reported
        self.baseline = 0  # ``done`` at that moment
        self.last = float("-inf")  # when a line was last written
        self.step = -1  # the last fraction step reported
        self.drawn = False

    # ------------------------------------------------------------------ the callback

    def __call__(self, phase: str, done: int, total: int) -> None:
        now = self.clock()
        if phase != self.phase:
            self._finish_line()
            self.phase, self.started, self.baseline = phase, now, done
            self.step = self._step(done, total)
            self.last = float("-inf")
            if not self.interactive:
                self._write(self.line(phase, done, total, now) if total else f"{phase}…")
                self.last = now
                return
        finished = bool(total) and done >= total
        if self.interactive:
            if finished or now - self.last >= self.min_interval:
                self.last = now
                self.stream.write(f"\r\033[K{self.line(phase, done, total, now)}")
                self.drawn = True
                if finished:
                    self._finish_line()
                self.stream.flush()
            return
        if not total:
            return
        step = self._step(done, total)
        if finished or step > self.step or now - self.last >= self.every_seconds:
            self.step = max(step, self.step)
            self.last = now
            self._write(self.line(phase, done, total, now))

    def close(self) -> None:
        self._finish_line()

    # ------------------------------------------------------------------ the words

    def line(self, phase: str, done: int, total: int, now: float) -> str:
        if not total:
            return f"{phase}…"
        head = f"{phase}: {done}/{total} ({100 * done // total}%)"
        elapsed = now - self.started
        if done >= total:
            return f"{head}, done in {duration(elapsed)}"
        progressed = done - self.baseline
        if progressed <= 0 or elapsed <= 0:
            return f"{head}, estimating the time left"
        left = (total - done) * elapsed / progressed
        return f"{head}, about {duration(left)} left"

    # ------------------------------------------------------------------ helpers

    def _step(self, done: int, total: int) -> int:
        if not total or self.every_fraction <= 0:
            return 0
        return int(done / total / self.every_fraction + 1e-9)

    def _write(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def _finish_line(self) -> None:
        if self.interactive and self.drawn:
            self.stream.write("\n")
            self.stream.flush()
        self.drawn = False
