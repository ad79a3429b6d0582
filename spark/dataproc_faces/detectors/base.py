"""Face detectors: upright pixels in, full-resolution boxes out; no Spark, no storage."""

from __future__ import annotations

import importlib
from dataclasses import asdict, dataclass, replace
from typing import Any, Protocol

import cv2
import numpy as np

HAAR_CASCADE = "haarcascade_frontalface_default.xml"


class DetectorError(Exception):
    """A detector cannot start (missing or corrupt weights): fail the run, not each image."""


@dataclass(frozen=True)
class Face:
    """One face as a box in the full-resolution image; `score` only where the detector has one.

    `by` says who placed it: a detector, or a person (a correction, always hidden). `weak` marks
    a face hidden on weak evidence (one look of several found it, or it scored under the
    detector's own threshold): what a person should look at first."""

    x: int
    y: int
    w: int
    h: int
    score: float | None = None
    by: str = "detector"
    weak: bool = False

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"x": self.x, "y": self.y, "w": self.w, "h": self.h}
        if self.score is not None:
            d["score"] = round(float(self.score), 4)
        d["by"] = self.by
        if self.weak:
            d["weak"] = True
        return d


# A scoring detector's own threshold, in force when none is given: each chosen from a
# precision/recall sweep (RetinaFace on wider-dev, CenterFace on a generated corpus; see
# retinaface.py and centerface.py).
DEFAULT_SCORES: dict[str, float] = {"retinaface": 0.4, "centerface": 0.3, "ensemble": 0.4}
# The threshold anonymising modes use when none is given: a missed face stays recognisable, a
# false one only hides some background, so these favour recall. RetinaFace's is picked by `make
# bench-privacy` (0.1: fewest faces left identifiable, 1 point more of the photo changed than
# 0.2); CenterFace's is not measured there, only lowered from its own 0.3.
# The ensemble's applies to each of its members: 0.1 leaves the fewest faces identified (faces
# >= 40 px, masks-dev / wider-dev: 0.8% / 1.7%, against 1.7% / 4.2% at 0.2; bench/privacy.json).
PRIVACY_SCORES: dict[str, float] = {"retinaface": 0.1, "centerface": 0.2, "ensemble": 0.1}
# The detector when none is named: one look to outline, every look we have when hiding.
HIDING_DETECTOR = "ensemble"


@dataclass(frozen=True)
class DetectOptions:
    """Everything that changes which faces are found; serialisable so Spark can ship it."""

    detector: str = "retinaface"
    scale_factor: float = 1.1
    min_neighbors: int = 5
    min_size: int = 20
    max_size: int | None = None
    detect_max_side: int = 1024
    score_threshold: float | None = None  # None: the detector's own, DEFAULT_SCORES

    def score(self) -> float:
        """The score threshold in force: the one given, else the detector's own."""
        if self.score_threshold is not None:
            return self.score_threshold
        return DEFAULT_SCORES.get(self.detector, 0.5)

    def to_dict(self) -> dict[str, Any]:
        """The options in force (a manifest or gallery shows what was used, not "default")."""
        return {**asdict(self), "score_threshold": self.score()}


def mark_weak(faces: list[Face], options: DetectOptions, hiding: bool) -> list[Face]:
    """Hiding with a threshold below the detector's own (the privacy threshold): a find scored
    between the two was hidden on weak evidence, and the row says so. A detector that marks its
    own (an ensemble) keeps its marks; a person's boxes are never weak."""
    own = DEFAULT_SCORES.get(options.detector)
    if not hiding or own is None or options.score() >= own:
        return faces
    return [
        replace(f, weak=True) if f.by == "detector" and f.score is not None and f.score < own else f
        for f in faces
    ]


class Detector(Protocol):
    name: str
    runtime: str  # what runs it and at which precision, for manifests and summaries

    def detect(self, image: np.ndarray) -> list[Face]:
        """Boxes for a BGR uint8 image, in that image's own pixel coordinates."""
        ...


def bounded_copy(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """A copy whose longest side is at most `max_side`, and the factor it was scaled by.

    Detecting on a bounded copy keeps the cost per image flat and cuts false faces that
    full-resolution texture produces; boxes are divided by the factor to map them back.
    """
    h, w = image.shape[:2]
    longest = max(h, w)
    if max_side <= 0 or longest <= max_side:  # 0: no bound
        return image, 1.0
    scale = max_side / longest
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return shrink(image, size), scale


def shrink(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """INTER_AREA down to `size` (w, h), with a whole-factor step first.

    OpenCV's INTER_AREA is 2-3x faster at an exact whole factor, so that step goes first,
    dropping at most k-1 edge columns/rows (under 0.1% of a photo, inside the boxes' rounding).
    """
    h, w = image.shape[:2]
    k = min(w // size[0], h // size[1])
    if k >= 2:
        w, h = w - w % k, h - h % k
        image = cv2.resize(image[:h, :w], (w // k, h // k), interpolation=cv2.INTER_AREA)
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def scale_back(box: tuple[float, float, float, float], scale: float, width: int, height: int):
    """Map a box from a copy scaled by `scale` back to the full image, clipped to its bounds."""
    x, y, w, h = (v / scale for v in box)
    x0, y0 = max(0, round(x)), max(0, round(y))
    x1, y1 = min(width, round(x + w)), min(height, round(y + h))
    return x0, y0, max(0, x1 - x0), max(0, y1 - y0)


def to_faces(
    boxes: np.ndarray, scores: np.ndarray, scale: float, width: int, height: int, o: DetectOptions
) -> list[Face]:
    """Scored boxes (x0, y0, x1, y1 in a copy scaled by `scale`) -> full-resolution faces whose
    side is within the options' size range, top to bottom."""
    faces = []
    for (x0, y0, x1, y1), score in zip(boxes, scores, strict=True):
        face = Face(*scale_back((x0, y0, x1 - x0, y1 - y0), scale, width, height))
        side = max(face.w, face.h)
        if face.w <= 0 or face.h <= 0 or side < o.min_size:
            continue
        if o.max_size and side > o.max_size:
            continue
        faces.append(Face(face.x, face.y, face.w, face.h, round(float(score), 4)))
    return sorted(faces, key=lambda f: (f.y, f.x))


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices of the (x0, y0, x1, y1) boxes kept by greedy non-maximum suppression, best first."""
    if not len(scores):
        return np.zeros(0, int)
    rects = [[float(x0), float(y0), float(x1 - x0), float(y1 - y0)] for x0, y0, x1, y1 in boxes]
    return np.asarray(cv2.dnn.NMSBoxes(rects, scores.tolist(), 0.0, iou), int).reshape(-1)


class HaarDetector:
    """OpenCV's frontal-face Haar cascade: the lab's detector, kept for parity."""

    name = "haar"

    def __init__(self, options: DetectOptions) -> None:
        path = cv2.data.haarcascades + HAAR_CASCADE
        self._cascade = cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise DetectorError(
                f"cannot load the Haar cascade {path}: is opencv-python-headless 4.x installed?"
            )
        self._options = options
        self.runtime = f"opencv {cv2.__version__} cascade"

    def detect(self, image: np.ndarray) -> list[Face]:
        o = self._options
        height, width = image.shape[:2]
        small, scale = bounded_copy(image, o.detect_max_side)
        gray = cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY))
        min_px = max(1, round(o.min_size * scale))
        max_px = round(o.max_size * scale) if o.max_size else 0
        rects = self._cascade.detectMultiScale(
            gray,
            scaleFactor=o.scale_factor,
            minNeighbors=o.min_neighbors,
            minSize=(min_px, min_px),
            maxSize=(max_px, max_px),
        )
        faces = [Face(*scale_back(tuple(r), scale, width, height)) for r in rects]
        return sorted(faces, key=lambda f: (f.y, f.x))


# Detectors by name: "module:class" so heavier ones import only when chosen.
DETECTORS: dict[str, str] = {
    "haar": "dataproc_faces.detectors.base:HaarDetector",
    "centerface": "dataproc_faces.detectors.centerface:CenterFaceDetector",
    "retinaface": "dataproc_faces.detectors.retinaface:RetinaFaceDetector",
    "ensemble": "dataproc_faces.detectors.ensemble:EnsembleDetector",
}


def make_detector(options: DetectOptions) -> Detector:
    """Build the detector named in the options; DetectorError when it cannot start."""
    try:
        target = DETECTORS[options.detector]
    except KeyError:
        raise DetectorError(
            f"unknown detector {options.detector!r}; choose one of {', '.join(DETECTORS)}"
        ) from None
    module_name, class_name = target.split(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise DetectorError(f"detector {options.detector!r} is not available: {exc}") from exc
    return cls(options)
