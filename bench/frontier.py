"""Recall against cost for every detector configuration tried on real photos.

    python -m bench.frontier --images DIR --truth FILE [--min-face 32] [--json OUT]

Each configuration runs once per photo at a low score threshold; every threshold of a sweep is
then scored from the same boxes (non-maximum suppression per threshold). A detection is false
only when it overlaps (IoU >= 0.3) no annotated face of any size; recall counts faces at least
--min-face px wide (and, separately, 64 px). Cost is CPU milliseconds per megapixel of the
input photo on one thread (detection only: the network, decoding and NMS).

Configurations: RetinaFace (the default's network) at 1x, 1.5x and 2x the photo, with a mirrored
second look, in bf16 and fp32; CenterFace in one full-resolution pass; both networks together
(one NMS); and the package's own detectors as they run in the job.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "spark"))

from dataproc_faces.detectors import centerface, retinaface, weights  # noqa: E402
from dataproc_faces.detectors.base import DetectOptions, make_detector, nms  # noqa: E402
from dataproc_faces.detectors.openvino_cpu import compile_on_cpu  # noqa: E402
from dataproc_faces.evaluate import at_least, match, read_image, read_truth  # noqa: E402

Boxes = tuple[np.ndarray, np.ndarray]  # (N, 4) x, y, w, h and (N,) scores
THRESHOLDS = (0.2, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def retina_look(precision: str) -> Callable[[np.ndarray], Boxes]:
    compiled, _ = compile_on_cpu(weights.load(weights.RETINAFACE), "RetinaFace", hint=precision)
    request = compiled.create_infer_request()

    def look(image: np.ndarray) -> Boxes:
        h, w = image.shape[:2]
        hp, wp = retinaface.aligned(h), retinaface.aligned(w)
        canvas = np.zeros((hp, wp, 3), np.float32)
        canvas[:h, :w] = image
        blob = (canvas - retinaface.MEAN_BGR).transpose(2, 0, 1)[np.newaxis]
        out = request.infer({0: blob})
        loc, conf = out[compiled.output("loc")][0], out[compiled.output("conf")][0]
        boxes, scores = retinaface.decode(loc, conf, retinaface.anchors(hp, wp), 0.1)
        return _xywh(boxes), scores

    return look


def centerface_look(precision: str) -> Callable[[np.ndarray], Boxes]:
    model = weights.load(weights.CENTERFACE)
    compiled, _ = compile_on_cpu(model, "CenterFace", [1, 3, -1, -1], precision)
    request = compiled.create_infer_request()

    def look(image: np.ndarray) -> Boxes:
        h, w = image.shape[:2]
        canvas = np.zeros((math.ceil(h / 32) * 32, math.ceil(w / 32) * 32, 3), np.float32)
        canvas[:h, :w] = image[..., ::-1]
        out = request.infer({0: canvas.transpose(2, 0, 1)[np.newaxis]})
        boxes, scores = centerface.decode([out[compiled.output(i)] for i in range(4)], 0.1)
        return _xywh(boxes), scores

    return look


def _xywh(boxes: np.ndarray) -> np.ndarray:
    return np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)


def scaled(look: Callable[[np.ndarray], Boxes], factor: float) -> Callable[[np.ndarray], Boxes]:
    def run(image: np.ndarray) -> Boxes:
        h, w = image.shape[:2]
        size = (round(w * factor), round(h * factor))
        boxes, scores = look(cv2.resize(image, size, interpolation=cv2.INTER_LINEAR))
        return boxes / factor, scores

    return run


def mirrored(look: Callable[[np.ndarray], Boxes]) -> Callable[[np.ndarray], Boxes]:
    def run(image: np.ndarray) -> Boxes:
        b1, s1 = look(image)
        b2, s2 = look(np.ascontiguousarray(image[:, ::-1]))
        b2 = b2.copy()
        b2[:, 0] = image.shape[1] - b2[:, 0] - b2[:, 2]
        return np.concatenate([b1, b2]), np.concatenate([s1, s2])

    return run


def union(*looks: Callable[[np.ndarray], Boxes]) -> Callable[[np.ndarray], Boxes]:
    def run(image: np.ndarray) -> Boxes:
        found = [look(image) for look in looks]
        return np.concatenate([b for b, _ in found]), np.concatenate([s for _, s in found])

    return run


def packaged(name: str) -> Callable[[np.ndarray], Boxes]:
    """A detector exactly as the job runs it, at its lowest useful threshold."""
    detector = make_detector(DetectOptions(detector=name, score_threshold=0.1))

    def run(image: np.ndarray) -> Boxes:
        faces = detector.detect(image)
        boxes = np.float32([[f.x, f.y, f.w, f.h] for f in faces]).reshape(-1, 4)
        return boxes, np.float32([f.score or 1.0 for f in faces])

    return run


def after_nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> list[tuple]:
    """The (x, y, w, h) boxes scoring at least `threshold` that the detectors' NMS keeps."""
    boxes, scores = boxes[scores >= threshold], scores[scores >= threshold]
    corners = np.concatenate([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], axis=1)
    return [tuple(boxes[i]) for i in nms(corners, scores, retinaface.NMS_IOU)]


def score(truth: list, found: list[Boxes], min_face: float, threshold: float) -> dict[str, float]:
    tp32 = n32 = tp64 = n64 = false = detections = 0
    for item, (boxes, scores) in zip(truth, found, strict=True):
        kept = after_nms(boxes, scores, threshold)
        detections += len(kept)
        false += len(match(item.faces + item.ignore, kept, 0.3).false)
        for limit in (min_face, 64):
            sized = at_least(item, limit)
            got = match(sized.faces, kept, 0.3, sized.ignore).tp
            if limit == 64:
                tp64, n64 = tp64 + got, n64 + len(sized.faces)
            else:
                tp32, n32 = tp32 + got, n32 + len(sized.faces)
    return {
        "recall": round(tp32 / n32, 3),
        "recall_64": round(tp64 / n64, 3),
        "precision": round(1 - false / detections, 3) if detections else 1.0,
    }


def configurations() -> dict[str, Callable[[np.ndarray], Boxes]]:
    rf_bf16, rf_fp32 = retina_look("bf16"), retina_look("f32")
    cf_bf16, cf_fp32 = centerface_look("bf16"), centerface_look("f32")
    return {
        "retinaface 1x bf16 (default's network)": rf_bf16,
        "retinaface 1x fp32": rf_fp32,
        "retinaface 1.5x bf16": scaled(rf_bf16, 1.5),
        "retinaface 2x bf16": scaled(rf_bf16, 2.0),
        "retinaface 1x + mirrored bf16": mirrored(rf_bf16),
        "centerface 1x bf16 (openvino)": cf_bf16,
        "centerface 1x fp32 (openvino)": cf_fp32,
        "retinaface + centerface 1x bf16": union(rf_bf16, cf_bf16),
        "job: --detector retinaface": packaged("retinaface"),
        "job: --detector centerface": packaged("centerface"),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.frontier", description=__doc__.split("\n")[0])
    p.add_argument("--images", type=Path, required=True)
    p.add_argument("--truth", type=Path, required=True)
    p.add_argument("--min-face", type=float, default=32.0)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    cv2.setNumThreads(1)
    truth = read_truth(args.truth)
    images = [read_image(args.images / t.file) for t in truth]
    megapixels = sum(i.shape[0] * i.shape[1] for i in images) / 1e6
    results: dict[str, Any] = {}
    for name, run in configurations().items():
        run(images[0])  # warm-up: first-shape costs are not per-photo costs
        cpu = time.process_time()
        found = [run(image) for image in images]
        ms_per_mp = (time.process_time() - cpu) * 1000 / megapixels
        points = {t: score(truth, found, args.min_face, t) for t in THRESHOLDS}
        results[name] = {"cpu_ms_per_megapixel": round(ms_per_mp, 1), "sweep": points}
        for t, s in points.items():
            print(
                f"{name:42} {ms_per_mp:6.0f} ms/MP  thr {t:.2f}  R>={args.min_face:g} "
                f"{s['recall']:.3f}  R>=64 {s['recall_64']:.3f}  P {s['precision']:.3f}",
                flush=True,
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
