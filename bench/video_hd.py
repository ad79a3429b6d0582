"""Frames per second on a generated 1080p clip: decode + hide + encode alone, then with the
default detector on every frame. `python -m bench.video_hd [frames]`; docs/scale.md uses it."""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from dataproc_faces.detectors.base import DetectOptions, Face, make_detector
from dataproc_faces.imaging.render import RenderOptions
from dataproc_faces.video.process import VideoOptions, drawer, process_video
from tests.unit.videogen import make_clip


def main(frames: int = 75) -> None:
    cv2.setNumThreads(1)
    detector = make_detector(DetectOptions())
    spent = [0.0]

    def detect(image: np.ndarray) -> list[Face]:
        t = time.perf_counter()
        found = detector.detect(image)
        spent[0] += time.perf_counter() - t
        return found

    with tempfile.TemporaryDirectory() as work:
        src = Path(work) / "c.mp4"
        make_clip(src, size=(1920, 1080), frames=frames, fps=25, side=200)
        for name, fn in (("no detector", lambda _: []), ("retinaface, every frame", detect)):
            spent[0] = 0.0
            started = time.perf_counter()
            r = process_video(
                str(src), str(Path(work) / "o.mp4"), str(Path(work) / "b.jsonl"), fn,
                drawer(RenderOptions(mode="blur")), VideoOptions(segment_seconds=10),
            )  # fmt: skip
            wall = time.perf_counter() - started
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
            print(
                f"{name}: {r.frames} frames in {wall:.2f} s ({r.frames / wall:.2f} frames/s), "
                f"detector {spent[0]:.2f} s, peak RSS {rss} MB",
                flush=True,
            )


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:2]))
