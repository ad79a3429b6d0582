"""Detection cost per megapixel of the input photo, at 2, 6 and 12 MP, one thread.

    python -m bench.cost --images DIR --truth FILE [--detector NAME ...] [--repeat 3]

Every annotated photo is scaled up (cubic) to each size, its truth boxes with it, and each
detector runs on it as the job runs it (one OpenCV thread, the detector built once). Reported:
CPU milliseconds per megapixel of the input photo (the best of --repeat runs, which removes
other processes' interference) and recall / precision at IoU 0.3, so a faster configuration that
finds less shows up as such.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "spark"))

from dataproc_faces.detectors.base import DetectOptions, make_detector  # noqa: E402
from dataproc_faces.evaluate import match, read_image, read_truth, scores  # noqa: E402

SIZES = (2.0, 6.0, 12.0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.cost", description=__doc__.split("\n")[0])
    p.add_argument("--images", type=Path, required=True)
    p.add_argument("--truth", type=Path, required=True)
    p.add_argument("--detector", action="append", help="default: retinaface, centerface, haar")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    cv2.setNumThreads(1)
    truth = read_truth(args.truth)
    photos = [(t, read_image(args.images / t.file)) for t in truth]
    for name in args.detector or ["retinaface", "centerface", "haar"]:
        detector = make_detector(DetectOptions(detector=name))
        for mp in SIZES:
            best, matches = math.inf, []
            for _ in range(args.repeat):
                cpu, matches = 0.0, []
                for item, photo in photos:
                    h, w = photo.shape[:2]
                    k = math.sqrt(mp * 1e6 / (w * h))
                    big = cv2.resize(photo, (round(w * k), round(h * k)), cv2.INTER_CUBIC)
                    start = time.process_time()
                    faces = detector.detect(big)
                    cpu += time.process_time() - start
                    boxes = [(x * k, y * k, fw * k, fh * k) for x, y, fw, fh in item.faces]
                    found = [(f.x, f.y, f.w, f.h) for f in faces]
                    matches.append(match(boxes, found, 0.3))
                best = min(best, cpu)
            s = scores(matches)
            print(
                f"{name:11} {mp:4.0f} MP: {best * 1000 / (mp * len(photos)):7.1f} ms/MP "
                f"({best * 1000 / len(photos):7.0f} ms per photo)  recall {s.recall:.3f}  "
                f"precision {s.precision:.3f}  [{getattr(detector, 'runtime', '')}]",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
