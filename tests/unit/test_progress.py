"""The progress formatter and reporter: exact text, and a bounded number of log lines."""

from __future__ import annotations

import io
import time

import pytest

from dataproc_faces.progress import (
    PREFIX,
    Reporter,
    format_duration,
    format_progress,
    parse_progress,
    watch,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0:00"), (59.4, "0:59"), (61, "1:01"), (3725, "1:02:05")]
)
def test_durations(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_format_progress_midway() -> None:
    assert format_progress(50, 200, 25.0) == "50/200 images (25%), 2.00 images/s, ETA 1:15"


def test_format_progress_start_end_and_bounds() -> None:
    assert format_progress(0, 10, 0.0) == "0/10 images (0%), 0.00 images/s, ETA --:--"
    assert format_progress(10, 10, 5.0) == "10/10 images (100%), 2.00 images/s, done in 0:05"
    assert format_progress(12, 10, 5.0).startswith("10/10 images (100%)")  # retried tasks
    assert format_progress(0, 0, 1.0) == "0/0 images (100%), 0.00 images/s, done in 0:01"


def test_format_progress_bar() -> None:
    text = format_progress(5, 10, 1.0, bar_width=10)
    assert text.startswith("[#####.....] 5/10 images (50%)")


def test_parse_reads_back_plain_lines() -> None:
    line = f"{PREFIX} {format_progress(120, 300, 40.0)}"
    assert parse_progress(line) == (120, 300)
    assert parse_progress("26/11/25 WARN something else 3/4") is None


def test_plain_lines_never_flood() -> None:
    """100,000 images over 1,000 s polled 4 times a second: ~10 % steps and 30 s heartbeats."""
    out, clock = io.StringIO(), Clock()
    reporter = Reporter(100_000, out, tty=False, clock=clock)
    for tick in range(4000):
        clock.now += 0.25
        reporter.update(tick * 25)
    reporter.finish()
    lines = out.getvalue().splitlines()
    assert all(line.startswith(PREFIX) for line in lines)
    assert len(lines) <= 1000 / 30 + 12  # not one per poll (4,000), nor one per image
    assert parse_progress(lines[-1]) == (100_000, 100_000)


def test_plain_lines_on_a_slow_job_come_every_interval() -> None:
    out, clock = io.StringIO(), Clock()
    reporter = Reporter(1_000_000, out, tty=False, clock=clock)
    for tick in range(600):  # ten minutes, one image a second: far below a 10 % step
        clock.now += 1
        reporter.update(tick)
    assert 19 <= len(out.getvalue().splitlines()) <= 21  # one line per 30 s


def test_no_line_when_nothing_changed() -> None:
    out, clock = io.StringIO(), Clock()
    reporter = Reporter(10, out, tty=False, clock=clock)
    for _ in range(100):
        clock.now += 60
        reporter.update(3)
    assert len(out.getvalue().splitlines()) == 1


def test_terminal_redraws_one_line() -> None:
    out, clock = io.StringIO(), Clock()
    reporter = Reporter(100, out, tty=True, clock=clock)
    for done in range(100):
        clock.now += 0.1
        reporter.update(done)
    reporter.finish()
    text = out.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")
    assert 15 <= text.count("\r") <= 25  # throttled to about two redraws a second
    assert "[########################] 100/100 images (100%)" in text


def test_watch_polls_a_counter_until_the_body_ends() -> None:
    out = io.StringIO()
    count = {"n": 0}
    with watch(4, lambda: count["n"], stream=out, poll=0.01):
        for _ in range(4):
            count["n"] += 1
            time.sleep(0.05)
    lines = out.getvalue().splitlines()
    assert parse_progress(lines[0]) == (0, 4)
    assert parse_progress(lines[-1]) == (4, 4)
