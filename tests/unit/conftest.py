"""Fixtures the unit tests share."""

from __future__ import annotations

import signal

import pytest


@pytest.fixture
def deadline():
    """A loop that never ends fails the test after 3 s instead of hanging it."""

    def expire(signum, frame):
        raise TimeoutError("still running after 3 s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, 3.0)
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)
