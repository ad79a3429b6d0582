"""Small scripted stand-ins the job's unit tests share: a detector and a clock."""

from __future__ import annotations

import numpy as np

from dataproc_faces.detectors.base import Face


class FixedDetector:
    """Finds the same boxes in every image and remembers the shapes it was given."""

    name = "fixed"

    def __init__(self, faces: list[Face], runtime: str = "fixed 1.0") -> None:
        self.faces = faces
        self.runtime = runtime
        self.shapes: list[tuple[int, ...]] = []

    def detect(self, image: np.ndarray) -> list[Face]:
        self.shapes.append(image.shape)
        return list(self.faces)


class Clock:
    """time.perf_counter for pipeline: each call `step` seconds after the previous one."""

    def __init__(self, step: float) -> None:
        self.now, self.step, self.calls = 0.0, step, 0

    def perf_counter(self) -> float:
        self.calls += 1
        self.now += self.step
        return self.now
