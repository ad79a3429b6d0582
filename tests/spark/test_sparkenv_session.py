"""A local session's workers see the Google settings the driver has now, not the ones the JVM
was started with (one JVM per process: a later emulator or project must still reach them)."""

from __future__ import annotations

import os

import pytest

from dataproc_faces import sparkenv

pytestmark = pytest.mark.spark


def _seen_by_a_worker(spark) -> str | None:
    return (
        spark.sparkContext.parallelize([0], 1)
        .map(lambda _: os.environ.get("STORAGE_EMULATOR_HOST"))
        .first()
    )


def test_a_later_session_hands_the_drivers_storage_settings_to_its_workers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    first = sparkenv.session("local[1]")  # the JVM starts without the setting
    try:
        assert _seen_by_a_worker(first) is None
    finally:
        first.stop()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:9")
    second = sparkenv.session("local[1]")  # the same JVM, a new session
    try:
        assert _seen_by_a_worker(second) == "http://127.0.0.1:9"
    finally:
        second.stop()


def test_a_stopped_sessions_accumulator_server_closes_off_the_callers_thread() -> None:
    """sparkenv.stop does not wait for the server's once-a-second look at shutdown, yet the
    server does shut down, and a later session in the same process counts with its own."""
    import threading

    first = sparkenv.session("local[1]")
    counted = first.sparkContext.accumulator(0)
    first.sparkContext.parallelize(range(5), 1).foreach(lambda _: counted.add(1))
    server = first.sparkContext._accumulatorServer
    stopping: list[str] = []
    shutdown = server.shutdown
    server.shutdown = lambda: (stopping.append(threading.current_thread().name), shutdown())
    sparkenv.stop(first)
    assert counted.value == 5 and first.sparkContext._jsc is None  # the session is stopped
    for thread in threading.enumerate():
        if thread.name == "accumulator-stop":
            thread.join(timeout=10)
    assert stopping == ["accumulator-stop"] and server.socket.fileno() == -1
    second = sparkenv.session("local[1]")
    try:
        again = second.sparkContext.accumulator(0)
        second.sparkContext.parallelize(range(3), 1).foreach(lambda _: again.add(1))
        assert again.value == 3
    finally:
        sparkenv.stop(second)
