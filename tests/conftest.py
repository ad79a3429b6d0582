"""Shared fixtures: a sealed environment (no real Google endpoints) and the bundled samples."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
ASTRONAUT_FACE = (177, 66, 95, 95)  # x, y, w, h of the Haar box at 512x512 (CONVENTIONS.md)

# Workers must run this interpreter; nothing may look for real Google credentials.
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
os.environ.setdefault("GOOGLE_CLOUD_PROJECT", "test-project")
os.environ["GOOGLE_APPLICATION_CREDENTIALS"] = os.devnull
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.umask(0o022)  # the usual umask: tests check that every output file follows it (0644)


def iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union else 0.0


@pytest.fixture(scope="session")
def samples() -> Path:
    return SAMPLES


@pytest.fixture(scope="session")
def astronaut_bytes() -> bytes:
    return (SAMPLES / "astronaut.png").read_bytes()
