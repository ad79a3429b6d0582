"""`dataproc-faces eval`: how well and how fast a detector finds annotated faces.

Matching is greedy and one-to-one: every (truth, detection) pair whose IoU reaches the threshold is
a candidate; candidates are taken in order of decreasing IoU (ties: truth order, then detection
order), each truth and each detection at most once. Matched pairs are true positives, unmatched
detections false positives, unmatched truths misses. Truth boxes marked `ignore` (dlib's
`ignore='1'`) are neither to be found nor false when found. Precision is the share of detections
that are not false (a detection on an ignored face is a real face: it is not false); with no
detections it is 1, with no truth faces recall is 1; F1 is their harmonic mean.

`--min-face PX` ignores truth faces narrower than PX the same way: a detection on one is not
false, and missing one is not a miss (the size of a face is its width, as in WIDER FACE).
`--sweep` runs the detector once at the lowest threshold and scores every threshold from the same
boxes (exact: non-maximum suppression keeps a box or not by higher-scored boxes only).

Truth formats (chosen by content):
- our JSON: {"images": [{"file": "a.jpg", "faces": [{"x": 1, "y": 2, "w": 3, "h": 4}, ...]}]}
  (a face may carry "ignore": true); `file` is relative to --images.
- dlib imglab XML: <image file='a.jpg'><box top='2' left='1' width='3' height='4'/></image>.
- WIDER FACE's ground-truth text (wider_face_val_bbx_gt.txt): a file name, a count, then one line
  per face `x y w h blur expression illumination invalid occlusion pose`; invalid faces are
  ignored, as in the official evaluation.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2

from dataproc_faces.cli import add_detector_arguments, detect_options_from_args
from dataproc_faces.detectors.base import DetectOptions, DetectorError, Face, make_detector

Box = tuple[float, float, float, float]  # x, y, w, h
THRESHOLDS = (0.5, 0.3)
SIZE_EDGES = (0, 16, 24, 32, 48, 64, 128, 256)  # recall by face width: [16, 24), ..., [256, inf)
SWEEP = tuple(round(0.05 * i, 2) for i in range(2, 20))  # 0.10, 0.15, ..., 0.95


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
    ignored: list[int] = field(default_factory=list)  # detection indices on ignored faces

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
    unmatched = [di for di in range(len(found)) if di not in used_d]
    ignored = [di for di in unmatched if any(iou(g, found[di]) >= threshold for g in ignore)]
    false = [di for di in unmatched if di not in ignored]
    misses = [ti for ti in range(len(truth)) if ti not in used_t]
    return Match(sorted(pairs), misses, false, ignored)


@dataclass(frozen=True)
class Scores:
    tp: int
    fp: int
    fn: int
    ignored: int = 0  # detections on ignored faces: real faces, neither found nor false

    @property
    def precision(self) -> float:
        """The share of detections that are not false (those on ignored faces are not)."""
        detections = self.tp + self.ignored + self.fp
        return (self.tp + self.ignored) / detections if detections else 1.0

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
            "ignored": self.ignored,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
        }


def scores(matches: Sequence[Match]) -> Scores:
    """Totals over images (micro-averaged: every face counts the same)."""
    return Scores(
        sum(m.tp for m in matches),
        sum(len(m.false) for m in matches),
        sum(len(m.misses) for m in matches),
        sum(len(m.ignored) for m in matches),
    )


def read_truth(path: Path) -> list[TruthImage]:
    """Our JSON, dlib imglab XML or WIDER FACE's text, chosen by content."""
    text = path.read_text(encoding="utf-8", errors="replace").lstrip()
    if text.startswith("<"):
        return _read_imglab(path)
    if not text.startswith("{"):
        return _read_wider(text)
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


def _read_wider(text: str) -> list[TruthImage]:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    images, i = [], 0
    while i < len(lines):
        file, count = lines[i], int(lines[i + 1])
        faces, ignore = [], []
        rows = lines[i + 2 : i + 2 + max(count, 1)]  # a count of 0 is followed by one zero row
        if len(rows) < max(count, 1):
            raise ValueError(f"{file}: {count} faces announced, {len(rows)} lines follow")
        for row in rows[:count]:
            values = [float(v) for v in row.split()]
            if len(values) < 8:
                raise ValueError(f"{file}: a face line needs x y w h and 6 flags: {row!r}")
            box = (values[0], values[1], values[2], values[3])
            (ignore if values[7] else faces).append(box)  # the 8th value is `invalid`
        images.append(TruthImage(file, faces, ignore))
        i += 2 + max(count, 1)
    return images


def at_least(item: TruthImage, min_face: float) -> TruthImage:
    """`item` with faces narrower than `min_face` moved to its ignored boxes."""
    small = [f for f in item.faces if f[2] < min_face]
    if not small:
        return item
    return TruthImage(item.file, [f for f in item.faces if f[2] >= min_face], item.ignore + small)


def size_bucket(width: float) -> str:
    """The SIZE_EDGES bucket a face width falls in, as its label ("32-48", "256+")."""
    lo = max(e for e in SIZE_EDGES if e <= width)
    higher = [e for e in SIZE_EDGES if e > width]
    return f"{lo}-{higher[0]}" if higher else f"{lo}+"


def read_image(path: Path):
    """Upright BGR pixels, the way the job reads them."""
    from dataproc_faces.imaging.codec import decode

    return decode(path.read_bytes())[1]


def evaluate(
    images_dir: Path,
    truth: list[TruthImage],
    options: DetectOptions,
    min_face: float = 0.0,
    sweep: Sequence[float] = (),
) -> dict[str, Any]:
    """Run the detector over the truth's images; scores, recall by size, timing, per-image errors,
    and with `sweep` the scores at each of those thresholds (from one run at the lowest)."""
    if sweep:
        options = replace(options, score_threshold=min(sweep))
    detector = make_detector(options)
    truth = [at_least(t, min_face) for t in truth] if min_face else truth
    per_image = []
    matches: dict[float, list[Match]] = {t: [] for t in THRESHOLDS}
    found_by_image: list[list[Face]] = []
    total_ms = total_cpu_ms = megapixels = 0.0
    for item in truth:
        image = read_image(images_dir / item.file)
        start, cpu_start = time.perf_counter(), time.process_time()
        faces: list[Face] = detector.detect(image)
        ms = (time.perf_counter() - start) * 1000
        cpu_ms = (time.process_time() - cpu_start) * 1000
        total_ms += ms
        total_cpu_ms += cpu_ms
        megapixels += image.shape[0] * image.shape[1] / 1e6
        found_by_image.append(faces)
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
    result = {
        "detector": options.detector,
        "runtime": getattr(detector, "runtime", None),
        "options": options.to_dict(),
        "min_face": min_face,
        "images": len(truth),
        "faces": sum(len(i.faces) for i in truth),
        "mean_ms": round(total_ms / len(truth), 1) if truth else 0.0,
        # CPU time of this process: steadier than wall time on a shared machine (one thread).
        "mean_cpu_ms": round(total_cpu_ms / len(truth), 1) if truth else 0.0,
        "cpu_ms_per_megapixel": round(total_cpu_ms / megapixels, 1) if megapixels else 0.0,
        "scores": {f"iou{t}": scores(matches[t]).to_dict() for t in THRESHOLDS},
        "recall_by_size": {f"iou{t}": recall_by_size(truth, matches[t]) for t in THRESHOLDS},
        "per_image": per_image,
    }
    if sweep:
        result["sweep"] = [
            {"threshold": s, **sweep_point(truth, found_by_image, s)} for s in sorted(sweep)
        ]
    return result


def recall_by_size(truth: list[TruthImage], matches: list[Match]) -> dict[str, list[int]]:
    """bucket -> [found, annotated] for the faces that count (not ignored)."""
    buckets: dict[str, list[int]] = {}
    for item, m in zip(truth, matches, strict=True):
        missed = set(m.misses)
        for i, face in enumerate(item.faces):
            entry = buckets.setdefault(size_bucket(face[2]), [0, 0])
            entry[0] += i not in missed
            entry[1] += 1
    return dict(sorted(buckets.items(), key=lambda kv: float(kv[0].split("-")[0].rstrip("+"))))


def sweep_point(
    truth: list[TruthImage], found_by_image: list[list[Face]], threshold: float
) -> dict[str, Any]:
    """Scores at IoU 0.5 and 0.3 of the detections scoring at least `threshold`."""
    point: dict[str, Any] = {}
    for t in THRESHOLDS:
        ms = []
        for item, faces in zip(truth, found_by_image, strict=True):
            kept = [(f.x, f.y, f.w, f.h) for f in faces if (f.score or 0.0) >= threshold]
            ms.append(match(item.faces, kept, t, item.ignore))
        point[f"iou{t}"] = scores(ms).to_dict()
    return point


def format_report(result: dict[str, Any]) -> str:
    runtime = f" on {result['runtime']}" if result.get("runtime") else ""
    at_least = f" at least {result['min_face']:g} px wide" if result.get("min_face") else ""
    lines = [
        f"detector {result['detector']}{runtime}: {result['images']} images, "
        f"{result['faces']} faces{at_least}, {result['mean_ms']} ms per image (detection only; "
        f"CPU {result['mean_cpu_ms']} ms, {result['cpu_ms_per_megapixel']} ms per megapixel)",
        f"{'IoU':>5} {'TP':>5} {'FP':>5} {'FN':>5} {'precision':>9} {'recall':>7} {'F1':>6}",
    ]
    for t in THRESHOLDS:
        s = result["scores"][f"iou{t}"]
        lines.append(
            f"{t:>5} {s['tp']:>5} {s['fp']:>5} {s['fn']:>5} "
            f"{s['precision']:>9.3f} {s['recall']:>7.3f} {s['f1']:>6.3f}"
        )
    for t in THRESHOLDS:
        cells = [
            f"{bucket} {found}/{total}"
            for bucket, (found, total) in result["recall_by_size"][f"iou{t}"].items()
        ]
        lines.append(f"recall by width, IoU {t}: " + ", ".join(cells))
    if result.get("sweep"):
        lines.append("sweep: threshold  P@0.5  R@0.5  P@0.3  R@0.3")
        for point in result["sweep"]:
            a, b = point["iou0.5"], point["iou0.3"]
            lines.append(
                f"{point['threshold']:>16.2f} {a['precision']:>6.3f} {a['recall']:>6.3f} "
                f"{b['precision']:>6.3f} {b['recall']:>6.3f}"
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
    p.add_argument(
        "--truth", type=Path, required=True, help="our JSON, dlib imglab XML or WIDER FACE text"
    )
    p.add_argument("--json", type=Path, help="also write the full result here")
    p.add_argument(
        "--min-face",
        type=float,
        default=0.0,
        metavar="PX",
        help="ignore annotated faces narrower than PX (neither missed nor false when found)",
    )
    p.add_argument(
        "--sweep",
        action="store_true",
        help=f"also score every threshold {SWEEP[0]}-{SWEEP[-1]} (scoring detectors)",
    )
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
    if args.sweep and options.detector == "haar":
        print("error: --sweep needs a detector with scores; haar has none", file=sys.stderr)
        return 2
    cv2.setNumThreads(1)  # time each image as the job runs it: one OpenCV thread per Spark task
    try:
        result = evaluate(args.images, truth, options, args.min_face, SWEEP if args.sweep else ())
    except DetectorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0
