"""`dataproc-faces eval`: how well and how fast a detector finds annotated faces.

Matching is greedy and one-to-one: every (truth, detection) pair whose IoU reaches the threshold is
a candidate; candidates are taken in order of decreasing IoU (ties: truth order, then detection
order), each truth and each detection at most once. Matched pairs are true positives, unmatched
detections false positives, unmatched truths misses. Truth boxes marked `ignore` (dlib's
`ignore='1'`) are neither to be found nor false when found. With no detections precision is 1, with
no truth faces recall is 1 (nothing was wrong / nothing was missed); F1 is their harmonic mean.

Truth formats:
- our JSON: {"images": [{"file": "a.jpg", "faces": [{"x": 1, "y": 2, "w": 3, "h": 4}, ...]}]}
  (a face may carry "ignore": true); `file` is relative to --images.
- dlib imglab XML: <image file='a.jpg'><box top='2' left='1' width='3' height='4'/></image>.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2

from .cli import add_detector_arguments, detect_options_from_args
from .detect import DetectOptions, DetectorError, Face, make_detector

Box = tuple[float, float, float, float]  # x, y, w, h
THRESHOLDS = (0.5, 0.3)


@dataclass(frozen=True)
class TruthImage:
    file: str
    faces: list[Box]
    ignore: list[Box] = field(default_factory=list)


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two x, y, w, h boxes (0 for empty boxes)."""
    ix = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    iy = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if ix <= 0 or iy <= 0:
        return 0.0
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


@dataclass(frozen=True)
class Match:
    pairs: list[tuple[int, int]]  # (truth index, detection index)
    misses: list[int]  # truth indices
    false: list[int]  # detection indices

    @property
    def tp(self) -> int:
        return len(self.pairs)


def match(
    truth: Sequence[Box], found: Sequence[Box], threshold: float, ignore: Sequence[Box] = ()
) -> Match:
    """Greedy one-to-one matching by decreasing IoU (see the module docstring)."""
    candidates = [
        (-iou(t, d), ti, di)
        for ti, t in enumerate(truth)
        for di, d in enumerate(found)
        if iou(t, d) >= threshold
    ]
    candidates.sort()
    used_t: set[int] = set()
    used_d: set[int] = set()
    pairs = []
    for _, ti, di in candidates:
        if ti not in used_t and di not in used_d:
            used_t.add(ti)
            used_d.add(di)
            pairs.append((ti, di))
    false = [
        di
        for di, d in enumerate(found)
        if di not in used_d and not any(iou(g, d) >= threshold for g in ignore)
    ]
    misses = [ti for ti in range(len(truth)) if ti not in used_t]
    return Match(sorted(pairs), misses, false)


@dataclass(frozen=True)
class Scores:
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
        }


def scores(matches: Sequence[Match]) -> Scores:
    """Totals over images (micro-averaged: every face counts the same)."""
    tp = sum(m.tp for m in matches)
    return Scores(tp, sum(len(m.false) for m in matches), sum(len(m.misses) for m in matches))


def read_truth(path: Path) -> list[TruthImage]:
    """Our JSON or dlib imglab XML, chosen by content."""
    text = path.read_text(encoding="utf-8", errors="replace").lstrip()
    if text.startswith("<"):
        return _read_imglab(path)
    doc = json.loads(text)
    images = []
    for entry in doc["images"]:
        faces, ignore = [], []
        for f in entry.get("faces", []):
            box = (float(f["x"]), float(f["y"]), float(f["w"]), float(f["h"]))
            (ignore if f.get("ignore") else faces).append(box)
        images.append(TruthImage(entry["file"], faces, ignore))
    return images


def _read_imglab(path: Path) -> list[TruthImage]:
    root = ET.parse(path).getroot()
    images = []
    for image in root.iter("image"):
        faces, ignore = [], []
        for b in image.iter("box"):
            box = tuple(float(b.get(k, 0)) for k in ("left", "top", "width", "height"))
            (ignore if b.get("ignore") in ("1", "true") else faces).append(box)
        images.append(TruthImage(image.get("file", ""), faces, ignore))
    return images


def read_image(path: Path):
    """Upright BGR pixels, the way the job reads them."""
    from .imaging import decode

    return decode(path.read_bytes())[1]


def evaluate(images_dir: Path, truth: list[TruthImage], options: DetectOptions) -> dict[str, Any]:
    """Run the detector over the truth's images; scores, timing and per-image errors."""
    detector = make_detector(options)
    per_image = []
    matches: dict[float, list[Match]] = {t: [] for t in THRESHOLDS}
    total_ms = total_cpu_ms = 0.0
    for item in truth:
        image = read_image(images_dir / item.file)
        start, cpu_start = time.perf_counter(), time.process_time()
        faces: list[Face] = detector.detect(image)
        ms = (time.perf_counter() - start) * 1000
        cpu_ms = (time.process_time() - cpu_start) * 1000
        total_ms += ms
        total_cpu_ms += cpu_ms
        found = [(f.x, f.y, f.w, f.h) for f in faces]
        row: dict[str, Any] = {
            "file": item.file,
            "size": [int(image.shape[1]), int(image.shape[0])],
            "ms": round(ms, 1),
            "cpu_ms": round(cpu_ms, 1),
            "truth": len(item.faces),
            "found": [f.to_dict() for f in faces],
        }
        for t in THRESHOLDS:
            m = match(item.faces, found, t, item.ignore)
            matches[t].append(m)
            row[f"iou{t}"] = {
                "misses": [list(item.faces[i]) for i in m.misses],
                "false": [faces[i].to_dict() for i in m.false],
            }
        per_image.append(row)
    return {
        "detector": options.detector,
        "options": options.to_dict(),
        "images": len(truth),
        "faces": sum(len(i.faces) for i in truth),
        "mean_ms": round(total_ms / len(truth), 1) if truth else 0.0,
        # CPU time of this process: steadier than wall time on a shared machine (one thread).
        "mean_cpu_ms": round(total_cpu_ms / len(truth), 1) if truth else 0.0,
        "scores": {f"iou{t}": scores(matches[t]).to_dict() for t in THRESHOLDS},
        "per_image": per_image,
    }


def format_report(result: dict[str, Any]) -> str:
    lines = [
        f"detector {result['detector']}: {result['images']} images, {result['faces']} faces, "
        f"{result['mean_ms']} ms per image (detection only; CPU {result['mean_cpu_ms']} ms)",
        f"{'IoU':>5} {'TP':>5} {'FP':>5} {'FN':>5} {'precision':>9} {'recall':>7} {'F1':>6}",
    ]
    for t in THRESHOLDS:
        s = result["scores"][f"iou{t}"]
        lines.append(
            f"{t:>5} {s['tp']:>5} {s['fp']:>5} {s['fn']:>5} "
            f"{s['precision']:>9.3f} {s['recall']:>7.3f} {s['f1']:>6.3f}"
        )
    for row in result["per_image"]:
        errors = []
        for t in THRESHOLDS:
            e = row[f"iou{t}"]
            if e["misses"] or e["false"]:
                misses = [[round(v) for v in b] for b in e["misses"]]
                false = [[f["x"], f["y"], f["w"], f["h"]] for f in e["false"]]
                errors.append(f"  IoU {t}: misses {misses} false {false}")
        if errors:
            lines.append(f"{row['file']} ({row['truth']} faces, {len(row['found'])} found):")
            lines.extend(errors)
    return "\n".join(lines)


def register(subparsers: Any) -> None:
    """Add the `eval` command to the dataproc-faces parser."""
    p = subparsers.add_parser(
        "eval",
        help="precision, recall and speed of a detector on annotated images",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--images", type=Path, required=True, help="folder the truth's files are in")
    p.add_argument("--truth", type=Path, required=True, help="our JSON or dlib imglab XML")
    p.add_argument("--json", type=Path, help="also write the full result here")
    add_detector_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        truth = read_truth(args.truth)
    except (OSError, ValueError, KeyError, TypeError, ET.ParseError) as exc:
        print(f"error: cannot read truth {args.truth}: {exc}", file=sys.stderr)
        return 2
    options = detect_options_from_args(args)
    missing = [t.file for t in truth if not (args.images / t.file).is_file()]
    if missing:
        print(f"error: images listed in the truth are missing: {missing}", file=sys.stderr)
        return 2
    cv2.setNumThreads(1)  # time each image as the job runs it: one OpenCV thread per Spark task
    try:
        result = evaluate(args.images, truth, options)
    except DetectorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0
