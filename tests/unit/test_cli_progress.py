"""Progress on a stderr that is not a terminal: paced by an injected clock, with time left."""

from __future__ import annotations

import io

import pytest

from connect_user_sync.cli.progress import TerminalProgress, duration


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def progress(**options: float) -> tuple[TerminalProgress, io.StringIO, Clock]:
    stream, clock = io.StringIO(), Clock()
    return TerminalProgress(stream, clock=clock, interactive=False, **options), stream, clock


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_a_long_apply_prints_a_line_every_ten_percent_with_the_time_left() -> None:
    # 5,000 creates at Connect's default 2 per second: about 42 minutes.
    report, stream, clock = progress(every_seconds=10_000)
    report("Applying to i-1", 0, 5000)
    for done in range(1, 5001):
        clock.now += 0.5
        report("Applying to i-1", done, 5000)

    printed = lines(stream)
    assert printed[0] == "Applying to i-1: 0/5000 (0%), estimating the time left"
    assert printed[1] == "Applying to i-1: 500/5000 (10%), about 38 min left"
    assert printed[5] == "Applying to i-1: 2500/5000 (50%), about 21 min left"
    assert printed[-1] == "Applying to i-1: 5000/5000 (100%), done in 42 min"
    assert len(printed) == 11  # the start, each tenth, and not one line per user


def test_a_slow_phase_still_prints_every_ten_seconds() -> None:
    report, stream, clock = progress()
    report("Applying to i-1", 0, 1000)
    for done in range(1, 31):  # 30 actions, 4 seconds each: far below 10 %
        clock.now += 4
        report("Applying to i-1", done, 1000)

    printed = lines(stream)[1:]
    assert [line.split(",")[0] for line in printed] == [
        "Applying to i-1: 3/1000 (0%)",
        "Applying to i-1: 6/1000 (0%)",
        "Applying to i-1: 9/1000 (0%)",
        "Applying to i-1: 12/1000 (1%)",
        "Applying to i-1: 15/1000 (1%)",
        "Applying to i-1: 18/1000 (1%)",
        "Applying to i-1: 21/1000 (2%)",
        "Applying to i-1: 24/1000 (2%)",
        "Applying to i-1: 27/1000 (2%)",
        "Applying to i-1: 30/1000 (3%)",
    ]
    assert printed[-1].endswith("about 1 h 05 min left")  # 970 left at 4 s each


def test_a_phase_without_a_total_is_announced_once_and_phases_follow_each_other() -> None:
    report, stream, clock = progress()
    report("Reading the directory", 0, 0)
    clock.now += 30
    report("Reading the directory", 0, 0)
    report("Applying to i-1", 0, 2)
    clock.now += 1
    report("Applying to i-1", 1, 2)
    clock.now += 1
    report("Applying to i-1", 2, 2)
    report.close()

    assert lines(stream) == [
        "Reading the directory…",
        "Applying to i-1: 0/2 (0%), estimating the time left",
        "Applying to i-1: 1/2 (50%), about 1 s left",
        "Applying to i-1: 2/2 (100%), done in 2 s",
    ]


def test_a_terminal_gets_one_line_redrawn_in_place() -> None:
    stream, clock = io.StringIO(), Clock()
    report = TerminalProgress(stream, clock=clock, interactive=True)
    report("Applying to i-1", 0, 3)
    for done in (1, 2, 3):
        clock.now += 1
        report("Applying to i-1", done, 3)
    text = stream.getvalue()
    assert text.count("\r\033[K") == 4 and text.endswith("done in 3 s\n")


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0, "0 s"), (42.4, "42 s"), (90, "2 min"), (2520, "42 min"), (3900, "1 h 05 min")],
)
def test_durations_read_like_a_person_would_say_them(seconds: float, shown: str) -> None:
    assert duration(seconds) == shown
