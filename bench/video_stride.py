"""Detection on every frame or on a stride, measured: recall per frame against detector cost on a
generated clip (the astronaut's face moving across a background, some frames degraded so the
detector misses them). `python -m bench.video_stride` prints one line per setting."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np

from dataproc_faces.detectors.base import DetectOptions, Face, make_detector
from dataproc_faces.video.process import VideoOptions, process_video
from dataproc_faces.video.track import iou
from tests.unit.videogen import make_clip


def main(frames: int = 120, size: tuple[int, int] = (640, 360), side: int = 80) -> None:
    cv2.setNumThreads(1)
    detector = make_detector(DetectOptions())
    with tempfile.TemporaryDirectory() as work:
        src = Path(work) / "clip.mp4"
        clip = make_clip(src, size=size, frames=frames, fps=25, side=side, audio=False)
        degraded = set(range(7, frames, 11))  # every 11th frame blurred hard: a detector misses
        _degrade(src, Path(work) / "deg.mp4", degraded)
        truth = [Face(*b) for b in clip.boxes]
        for stride, memory in ((1, 0), (1, 2), (2, 2), (3, 3), (5, 5)):
            calls = [0.0, 0]

            def detect(image: np.ndarray, calls: list = calls) -> list[Face]:
                t = time.perf_counter()
                found = detector.detect(image)
                calls[0] += time.perf_counter() - t
                calls[1] += 1
                return found

            boxes = Path(work) / "b.jsonl"
            started = time.perf_counter()
            process_video(
                str(Path(work) / "deg.mp4"), str(Path(work) / "o.mp4"), str(boxes), detect,
                lambda *_: None, VideoOptions(stride=stride, memory=memory, segment_seconds=2),
            )  # fmt: skip
            wall = time.perf_counter() - started
            hidden = _covered(boxes, truth)
            print(
                f"stride {stride} memory {memory}: faces hidden in {hidden}/{frames} frames "
                f"({hidden / frames:.1%}), {calls[1]} detector calls, detector {calls[0]:.2f} s, "
                f"wall {wall:.2f} s ({frames / wall:.1f} frames/s)",
                flush=True,
            )


def _degrade(src: Path, dst: Path, frames: set[int]) -> None:
    with av.open(str(src)) as c, av.open(str(dst), "w", format="mp4") as out:
        vs = c.streams.video[0]
        o = out.add_stream("libx264", rate=vs.average_rate, options={"preset": "ultrafast"})
        o.width, o.height, o.pix_fmt = vs.width, vs.height, "yuv420p"
        for i, f in enumerate(c.decode(vs)):
            img = f.to_ndarray(format="bgr24")
            if i in frames:
                img = cv2.GaussianBlur(img, (0, 0), 9)
            nf = av.VideoFrame.from_ndarray(img, format="bgr24")
            nf.pts, nf.time_base = f.pts, f.time_base
            for p in o.encode(nf):
                out.mux(p)
        for p in o.encode(None):
            out.mux(p)


def _covered(boxes: Path, truth: list[Face]) -> int:
    import json

    n = 0
    for line in boxes.read_text().splitlines():
        row = json.loads(line)
        t = truth[row["frame"]]
        faces = [Face(f["x"], f["y"], f["w"], f["h"]) for f in row["faces"]]
        n += any(iou(t, f) >= 0.3 for f in faces)
    return n


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:2]))
