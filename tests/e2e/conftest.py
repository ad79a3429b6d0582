"""Local servers for the cloud path: gcp-storage-emulator on loopback, and env that points at it.

The emulator process lives for the session; each test module gets its own bucket and sets
`STORAGE_EMULATOR_HOST` only while it runs (and restores it), so no other test sees it.
Nothing here can reach a real Google endpoint: the conftest one level up blanks ADC.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PROJECT = "test-project"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout} s")


def _stop_with_parent() -> None:
    """In the child before exec: SIGTERM when the test process dies, even by SIGKILL.

    A test process killed outright (mutation runs kill looping mutants) never runs the fixture's
    teardown; without this its emulator would live on.
    """
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass(frozen=True)
class Emulator:
    url: str  # http://127.0.0.1:PORT, what STORAGE_EMULATOR_HOST takes
    port: int


@pytest.fixture(scope="session")
def emulator(tmp_path_factory) -> Iterator[Emulator]:
    """gcp-storage-emulator in memory on a free loopback port (with listing offsets:
    storage_emulator.py); stopped by its PID at the end."""
    port = free_port()
    log = tmp_path_factory.mktemp("emulator") / "emulator.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).with_name("storage_emulator.py")),
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--in-memory",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_stop_with_parent,
        )
    try:
        wait_for_port(port, proc)
        yield Emulator(f"http://127.0.0.1:{port}", port)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def emulator_env(url: str) -> dict[str, str]:
    """What a process needs to use the emulator at `url` with no real credentials."""
    return {
        "STORAGE_EMULATOR_HOST": url,
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        "GOOGLE_APPLICATION_CREDENTIALS": os.devnull,
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "SPARK_LOCAL_IP": "127.0.0.1",
    }


class patched_env:
    """Set environment variables for a block and put the old values back afterwards."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.saved: dict[str, str | None] = {}

    def __enter__(self) -> None:
        for key, value in self.values.items():
            self.saved[key] = os.environ.get(key)
            os.environ[key] = value

    def __exit__(self, *exc: object) -> None:
        for key, value in self.saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="module")
def gcs_env(emulator) -> Iterator[dict[str, str]]:
    """This module's process talks to the emulator; returns the env for subprocesses too."""
    env = emulator_env(emulator.url)
    with patched_env(env):
        yield env


@pytest.fixture(scope="module")
def bucket(gcs_env) -> str:
    """A fresh bucket per test module, created with the real client."""
    from dataproc_faces.storage.gcs import client

    name = f"faces-{uuid.uuid4().hex[:10]}"
    client().create_bucket(name)
    return name


def upload(bucket: str, objects: dict[str, bytes]) -> None:
    from dataproc_faces.storage.gcs import client

    b = client().bucket(bucket)
    for name, data in objects.items():
        b.blob(name).upload_from_string(data)


def names(bucket: str, prefix: str = "") -> list[str]:
    from dataproc_faces.storage.gcs import client

    return sorted(b.name for b in client().list_blobs(bucket, prefix=prefix))


def run_cli(
    env: dict[str, str], *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """`dataproc-faces ARGS` in a fresh interpreter, so Spark and its workers get `env`."""
    return subprocess.run(
        [sys.executable, "-m", "dataproc_faces", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **env},
    )
