"""Progress of a run (images done / total, rate, ETA) without flooding logs.

The driver sees no rows until `collect()` returns, so the pipeline counts processed images in a
Spark accumulator and a daemon thread here reads it. Accumulators reach the driver when a task
ends, which is the same granularity `statusTracker()` gives, but as an exact image count rather
than a count of tasks of unequal size. `toLocalIterator` was rejected: it runs one job per
partition and so caps parallelism at one or two tasks.

`format_progress` and `Reporter` take no Spark object: the remote `wait` can feed them the counts
it reads elsewhere, and `parse_progress` reads back the plain lines a driver log contains.
"""

from __future__ import annotations

import re
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

PREFIX = "dataproc-faces: progress"
LOG_INTERVAL = 30.0  # seconds between plain lines when stderr is not a terminal...
LOG_STEP = 0.10  # ...or sooner when this fraction of the images is done since the last line
TTY_INTERVAL = 0.5  # seconds between redraws of the single terminal line
BAR_WIDTH = 24

_LINE = re.compile(rf"{re.escape(PREFIX)}\s+(\d+)/(\d+)\b")

# The phases after the tasks, one plain line each (`dataproc-faces: phase compacting`), so a
# page reading the driver's output can say what the run does once every image is done.
PHASE_PREFIX = "dataproc-faces: phase"
PHASES = {
    "compacting": "compacting the manifest and summing up",
    "gallery": "writing the gallery",
}
_PHASE = re.compile(rf"^{re.escape(PHASE_PREFIX)}\s+([a-z]+)\b")


def format_duration(seconds: float) -> str:
    """`m:ss` or `h:mm:ss`: short enough for one terminal line."""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_progress(done: int, total: int, elapsed: float, bar_width: int = 0) -> str:
    """One line: `120/300 images (40%), 3.2 images/s, ETA 0:56`, with an optional text bar."""
    done = max(0, min(done, total)) if total > 0 else max(0, done)
    fraction = done / total if total > 0 else 1.0
    rate = done / elapsed if elapsed > 0 else 0.0
    if done >= total:
        eta = f"done in {format_duration(elapsed)}"
    elif rate > 0:
        eta = f"ETA {format_duration((total - done) / rate)}"
    else:
        eta = "ETA --:--"
    text = f"{done}/{total} images ({fraction:.0%}), {rate:.2f} images/s, {eta}"
    if bar_width > 0:
        filled = int(fraction * bar_width)
        text = f"[{'#' * filled}{'.' * (bar_width - filled)}] {text}"
    return text


def parse_progress(line: str) -> tuple[int, int] | None:
    """(done, total) from a plain progress line of a driver log, for a remote `wait`."""
    match = _LINE.search(line)
    return (int(match.group(1)), int(match.group(2))) if match else None


def format_phase(name: str) -> str:
    """The line announcing `name` (a key of PHASES)."""
    if name not in PHASES:
        raise ValueError(f"unknown phase {name!r}")
    return f"{PHASE_PREFIX} {name}: {PHASES[name]}"


def parse_phase(line: str) -> str | None:
    """The phase a line announces, or None."""
    match = _PHASE.match(line.strip())
    return match.group(1) if match and match.group(1) in PHASES else None


class Reporter:
    """Shows counts as they change: a redrawn line on a terminal, sparse plain lines otherwise."""

    def __init__(
        self,
        total: int,
        stream: TextIO | None = None,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        log_interval: float = LOG_INTERVAL,
        log_step: float = LOG_STEP,
    ) -> None:
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.clock = clock
        self.log_interval = log_interval
        self.log_step = log_step
        self.started = clock()
        self._last_time: float | None = None
        self._last_done = -1
        self._closed = False

    def update(self, done: int) -> None:
        """Show `done` if it is worth a line now; cheap to call often."""
        if self._closed:
            return
        now = self.clock()
        if self.tty:
            if self._last_time is None or now - self._last_time >= TTY_INTERVAL:
                self._draw(done, now)
        elif self._due(done, now):
            self._print(done, now)

    def finish(self, done: int | None = None) -> None:
        """The final count, always shown, and the terminal line ended."""
        if self._closed:
            return
        done = self.total if done is None else done
        now = self.clock()
        if self.tty:
            self._draw(done, now)
            self.stream.write("\n")
            self.stream.flush()
        elif done != self._last_done:
            self._print(done, now)
        self._closed = True

    def _due(self, done: int, now: float) -> bool:
        if self._last_time is None:
            return True
        if done == self._last_done:
            return False
        step = max(1, int(self.total * self.log_step))
        return done - self._last_done >= step or now - self._last_time >= self.log_interval

    def _print(self, done: int, now: float) -> None:
        text = format_progress(done, self.total, now - self.started)
        self.stream.write(f"{PREFIX} {text}\n")
        self.stream.flush()
        self._last_time, self._last_done = now, done

    def _draw(self, done: int, now: float) -> None:
        text = format_progress(done, self.total, now - self.started, BAR_WIDTH)
        width = shutil.get_terminal_size((100, 24)).columns - 1
        # \r and erase-to-end redraw one line; a line longer than the terminal would wrap
        self.stream.write("\r" + text[:width] + "\x1b[K")
        self.stream.flush()
        self._last_time, self._last_done = now, done


@contextmanager
def watch(
    total: int, read_done: Callable[[], int], stream: TextIO | None = None, poll: float = 0.25
) -> Iterator[Reporter]:
    """Poll `read_done` from a daemon thread while the body runs (a Spark action, typically)."""
    reporter = Reporter(total, stream)
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(poll):
            reporter.update(min(read_done(), total))

    reporter.update(0)
    thread = threading.Thread(target=loop, name="dataproc-faces-progress", daemon=True)
    thread.start()
    ok = False
    try:
        yield reporter
        ok = True
    finally:
        stop.set()
        thread.join(timeout=2)
        reporter.finish(total if ok else min(read_done(), total))
