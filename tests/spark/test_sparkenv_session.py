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
