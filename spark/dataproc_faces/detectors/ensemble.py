"""Several detectors looking at the same photo: the default when faces are hidden.

A face any member finds is hidden: each network misses faces the other finds (RetinaFace misses
masked and downward-looking faces CenterFace finds; CenterFace misses some turned and partly
hidden ones RetinaFace finds), and a missed face stays recognisable. Finds that overlap (IoU at
least MERGE_IOU, or the smaller box mostly inside the other) become one box covering both, with
the best score; a face only one member found, or that no member scored at its own threshold
(DEFAULT_SCORES), is marked weak: what a person should look at first.

Large photos: each member looks at tiles of them for small faces, and each tile adds false finds
(hands, flags, signs). No rule measured (bench/precision.py, bench/privacy.py) took them out
without leaving faces recognisable: a floor of 0.3 for RetinaFace's finds let the recogniser
identify more faces on wider-dev (faces >= 40 px: 1.7% -> 2.1%); `tiny_share`, a minimum size
for weak finds relative to the long side, lost recall on sharp crowds (12-17 MP mosaics of real
photos, whose faces are 0.5-1.5% of the long side: 0.5% already lost up to 1.6 points of recall
of faces >= 24 px), so it is off. On soft 24 MP upscales the ensemble at 0.1 hides 578 regions
where RetinaFace at 0.1 hid 491 (precision 0.14 against 0.15) and 0.68 of the faces >= 24 px
against 0.62; its weak finds are marked for a person to review.

One tiled look, not two: RetinaFace looks at the bounded copy only ("retinaface-coarse"), and
CenterFace's finer, tiled look finds the small faces for both. Large photos (bench/precision.py,
detection CPU ms per megapixel / recall of faces >= 24 px): the bench corpus at 2-12 MP 66 / 0.985
with both networks tiling -> 35 / 0.985 (RetinaFace alone: 34 / 1.000), at 24 MP 48 / 1.000 -> 15
/ 1.000, wider-dev mosaics 55 / 0.908 -> 22 / 0.917, masks-dev mosaics 65 / 0.962 -> 35 / 0.972,
wider-dev upscaled to 24 MP 53 / 0.675 -> 18 / 0.735. Photos up to RetinaFace's tile (1,536 px)
get the same finds either way (bench/privacy.py's three sets: identical, so identical privacy).
Dropping CenterFace's finer look too lost recall (2-12 MP 0.838, wider-dev mosaics 0.649).

Pure: pixels in, faces out; the members are built once, like any detector (once per worker).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np

from dataproc_faces.detectors.base import (
    DEFAULT_SCORES,
    DetectOptions,
    Detector,
    DetectorError,
    Face,
    bounded_copy,
    make_detector,
)

MEMBERS = ("retinaface-coarse", "centerface")
# A member is a network and how it looks: "NET" its default looks; "-coarse" the bounded copy
# only (no finer, tiled look for small faces); "-flip" the photo mirrored left to right;
# "-sideN" the photo shrunk to at most N px first (a cheaper look, for larger faces). Finds of
# one network's looks count as that network's (see merge).
SUFFIXES = ("coarse", "flip", "side")
# Finds down to this share of the threshold are kept where both networks found the face (see
# merge's `agree`). At the default 0.1 (finds 0.05-0.1 both agree on), bench/privacy.py: wider-dev
# identified >= 40 / >= 24 px 1.7% / 3.2% -> 1.4% / 2.5%, masks-dev 0.8% / 0.8% and faces-dev
# (nothing identified, recall 1.000) unchanged, the same network runs; 1.5 points more of the
# photo hidden on wider-dev (10.5% -> 12.0%). Measured at 0.1 only.
AGREE_SHARE = 0.5
MERGE_IOU = 0.3
INSIDE = 0.7  # the share of the smaller box inside the larger one that makes them one face
TINY_SHARE = 0.0  # weak finds under this share of the long side are dropped: off (see above)


def _iou_inside(a: Face, b: Face) -> tuple[float, float]:
    """IoU of two boxes, and the share of the smaller one inside the other."""
    ix = max(0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    inter = ix * iy
    area_a, area_b = a.w * a.h, b.w * b.h
    union = area_a + area_b - inter
    smaller = min(area_a, area_b)
    return (inter / union if union else 0.0), (inter / smaller if smaller else 0.0)


def same_face(a: Face, b: Face) -> bool:
    """Two finds of one face: they overlap enough, or one lies mostly inside the other."""
    iou, inside = _iou_inside(a, b)
    return iou >= MERGE_IOU or inside >= INSIDE


def merge(
    finds: Mapping[str, Sequence[Face]],
    width: int,
    height: int,
    threshold: float = 0.0,
    own: Mapping[str, float] | None = None,
    tiny_share: float = TINY_SHARE,
    agree: float | None = None,
) -> list[Face]:
    """Each member's finds (scored at least `threshold`) -> one face per group
    of overlapping finds, its box covering them all, its score the best. Weak when one member
    alone found it, or when no find in it scored at its member's own threshold (`own`,
    DEFAULT_SCORES); weak finds under `tiny_share` of the long side are dropped (0: none).
    `agree` (below `threshold`): a group scored under `threshold` but at least `agree` is kept
    when every member found it (two networks agreeing on a faint face)."""
    own = DEFAULT_SCORES if own is None else own
    floor = threshold if agree is None else min(agree, threshold)
    scored = [
        (f.score if f.score is not None else 1.0, name, f)
        for name, faces in finds.items()
        for f in faces
        if f.score is None or f.score >= floor
    ]
    scored.sort(key=lambda t: -t[0])
    groups: list[list[tuple[float, str, Face]]] = []
    for item in scored:
        for group in groups:
            if same_face(group[0][2], item[2]):  # against the group's best find
                group.append(item)
                break
        else:
            groups.append([item])
    tiny = tiny_share * max(width, height)
    faces = []
    for group in groups:
        # the box covers the finds at the threshold; faint ones only when none is
        # (a faint find vouches for a face, it does not widen its mask)
        box = [f for score, _, f in group if score >= threshold] or [f for _, _, f in group]
        x0 = min(f.x for f in box)
        y0 = min(f.y for f in box)
        x1 = max(f.x + f.w for f in box)
        y1 = max(f.y + f.h for f in box)
        members = {name for _, name, _ in group}
        if group[0][0] < threshold and len(members) < len(finds):
            continue  # a faint find only one member made
        sure = any(score >= own.get(name, 0.0) for score, name, _ in group)
        weak = len(members) < len(finds) or not sure
        if weak and max(x1 - x0, y1 - y0) < tiny:
            continue
        best = group[0][2].score
        faces.append(Face(x0, y0, x1 - x0, y1 - y0, best, weak=weak))
    return sorted(faces, key=lambda f: (f.y, f.x))


class Flipped:
    """A mirrored look: the detector on the photo flipped left to right, boxes flipped back
    (the networks miss some turned faces in one direction and find them in the other)."""

    def __init__(self, detector: Detector) -> None:
        self._detector = detector
        self.name, self.runtime = detector.name, detector.runtime

    def detect(self, image: np.ndarray) -> list[Face]:
        width = image.shape[1]
        return [
            Face(width - f.x - f.w, f.y, f.w, f.h, f.score)
            for f in self._detector.detect(np.ascontiguousarray(image[:, ::-1]))
        ]


class Shrunk:
    """A look at a copy at most `side` px on its long side, boxes mapped back to the photo."""

    def __init__(self, detector: Detector, side: int) -> None:
        self._detector, self._side = detector, side
        self.name, self.runtime = detector.name, detector.runtime

    def detect(self, image: np.ndarray) -> list[Face]:
        small, scale = bounded_copy(image, self._side)
        if scale == 1.0:
            return self._detector.detect(image)
        height, width = image.shape[:2]
        faces = []
        for f in self._detector.detect(small):
            x, y = min(width - 1, round(f.x / scale)), min(height - 1, round(f.y / scale))
            w = max(1, min(width - x, round(f.w / scale)))
            h = max(1, min(height - y, round(f.h / scale)))
            faces.append(Face(x, y, w, h, f.score))
        return faces


def network(member: str) -> str:
    """The network a member's looks belong to: "retinaface-coarse" -> "retinaface"."""
    return member.split("-")[0]


def make_member(member: str, options: DetectOptions) -> Detector:
    """One member (see SUFFIXES) with `options`; DetectorError for an unknown suffix."""
    net, *parts = member.split("-")
    for part in parts:
        if not part.startswith(SUFFIXES) or (part.startswith("side") and not part[4:].isdigit()):
            raise DetectorError(f"unknown ensemble member look {part!r} in {member!r}")
    opts = replace(options, detector=net)
    side = next((int(p[4:]) for p in parts if p.startswith("side")), None)
    if "coarse" in parts and net == "retinaface":
        from dataproc_faces.detectors.retinaface import RetinaFaceDetector

        detector: Detector = RetinaFaceDetector(opts, tiles=False)
    elif "coarse" in parts and net == "centerface":
        from dataproc_faces.detectors.centerface import CenterFaceDetector

        detector = CenterFaceDetector(opts, fine_factor=1.0)
    else:
        detector = make_detector(opts)
    if side is not None:
        detector = Shrunk(detector, side)
    return Flipped(detector) if "flip" in parts else detector


class EnsembleDetector:
    """RetinaFace and CenterFace on the same photo, their finds merged (see merge)."""

    name = "ensemble"

    def __init__(
        self,
        options: DetectOptions,
        members: Sequence[str] = MEMBERS,
        agree: float | None = None,  # None: AGREE_SHARE of the threshold; the threshold: off
    ) -> None:
        # each member down to `agree` (AGREE_SHARE of the ensemble's threshold unless given; see
        # merge); a member's own threshold decides only what is weak
        threshold = options.score()
        agree = threshold * AGREE_SHARE if agree is None else agree
        low = min(agree, threshold)
        self._members = [
            (m, make_member(m, replace(options, score_threshold=low))) for m in members
        ]
        self._threshold, self._agree = threshold, agree
        self.runtime = " + ".join(f"{m} ({d.runtime})" for m, d in self._members)

    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces any member finds in a BGR uint8 image, merged, in its own pixels."""
        height, width = image.shape[:2]
        finds: dict[str, list[Face]] = {}
        for member, detector in self._members:
            finds.setdefault(network(member), []).extend(detector.detect(image))
        return merge(finds, width, height, self._threshold, agree=self._agree)
