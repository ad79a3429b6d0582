"""RetinaFace-MobileNet0.25 (Deng et al., 2019) on OpenVINO: the default detector.

A single-shot detector with anchors of 16-512 px on strides 8, 16 and 32, trained on WIDER FACE:
it finds faces in groups and crowds, turned and partly hidden, from about 32-40 px, at about
20-35 ms per megapixel on one core. OpenCV's dnn cannot load this ONNX file (a dynamic Shape
node), so OpenVINO runs it: bf16 where the CPU has it, else the shipped int8 network (see
load_network), with the pixels' conversion inside the network.

A photo whose long side is at most TILE is seen whole at full resolution. A larger one is seen
twice, so memory stays bounded (one look costs about 30 bytes per input pixel): its bounded copy
(`detect_max_side`, at most TILE) whole, for the large faces, and a finer copy in overlapping
tiles, for the faces too small for the first (below OWN_PX there); a face cut by a tile edge is
left to the neighbour that sees it whole. The finer copy is full resolution unless the minimum
face size lets it be smaller (fine_scale), and its tiles run the network without the level of
its largest anchors when they answer for nothing that large (TILE_LEVELS). One NMS over both
looks. (Skipping the tiles where the
copy's look has no candidate, `settle`, was measured and lost small sharp faces: see SETTLE.)
Pure numpy + OpenVINO: no Spark, no storage.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from dataproc_faces.detectors import openvino_cpu, weights
from dataproc_faces.detectors.base import (
    DetectOptions,
    DetectorError,
    Face,
    bounded_copy,
    nms,
    shrink,
    to_faces,
)
from dataproc_faces.detectors.openvino_cpu import (
    compile_on_cpu,
    first_line,
    pixels_input,
    takes_pixels,
)
from dataproc_faces.detectors.tiles import EDGE_MARGIN, look_in_tiles, on_canvas, plan_tiles

MEAN_BGR = np.array([104.0, 117.0, 123.0], np.float32)  # the training's mean, BGR order
OUTPUTS = ("loc", "conf")  # the network's landmarks output is cut off: nothing reads it
STRIDES = (8, 16, 32)
ANCHOR_SIZES = ((16, 32), (64, 128), (256, 512))
LEVELS = (0, 1, 2)  # the network's output levels, by stride
# A finer tile answers only for faces below its `own` px, and a face below TILE_LEVELS_BELOW px
# has a 128-px anchor of the stride-16 level that training paired it with (from IoU 0.35:
# (128 / 216)^2 is 0.35). While `own` is below it (photos up to about 4,200 px on their long
# side) the tiles run without the stride-32 level's context module and heads, which nothing they
# answer for needs (bench/detector.py `+tile32` measures both): 4% less detection time on the
# best of two passes, 3% with two processes side by side, within the noise of whole runs; the same
# faces. Its cost is memory: the cut network keeps working buffers of its own, so one process's
# peak over 40 photos of 1-12 MP grew by 73-111 MiB (to 485-501; the largest Spark worker's on
# the bench corpus from 455-478 to 532-544 MiB; P4's 24-MP photos, whose tiles keep every level,
# 391). Releasing those buffers after each photo kept 25 MiB of it for 1.4% of detection time.
# Measured and not taken: the copy without the stride-8 level (anchors of 16 and 32 px, which
# cost about 40% of the network per pixel) when tiles follow. It cut 5% too, but the copy's
# small finds are faces the tiles miss on upscaled photos: recall at IoU 0.5 fell 0.596 -> 0.559.
TILE_LEVELS = (0, 1)
TILE_LEVELS_BELOW = 200.0
VARIANCE = (0.1, 0.2)  # centre and log-size variances of the box encoding
NMS_IOU = 0.4
CANDIDATES = 0.05  # scores below this are dropped before decoding (far below any threshold)
# Photos up to TILE px on their long side run in one pass; larger ones in tiles about this size.
TILE = 1536
# Faces whose box in the bounded copy is at least this many px are the copy's; smaller ones are
# the tiles'. Measured on wider-dev (IoU 0.3, score 0.5): 32-48 px 76% found, 48-64 px 92%.
OWN_PX = 48.0
# A box at least BIG_SHARE of the photo's long side must score BIG_SCORE: the largest anchors
# fire on textures (an animal's face, a crowd seen as one pattern) at 0.5-0.95, where large real
# faces score above 0.98. Chosen on the bench corpus (precision at IoU 0.3 0.902 -> 0.996, recall
# 0.989 unchanged) and checked on wider-dev (recall >= 32 and >= 64 px unchanged, precision
# 0.913 -> 0.919).
BIG_SHARE = 0.2
BIG_SCORE = 0.95
# The default score threshold (detect.DEFAULT_SCORES) is 0.4, the point a person blurring faces
# for privacy would pick from the sweep on wider-dev (recall of faces >= 32 / >= 64 px wide and
# precision, IoU 0.3): 0.3: 0.871 / 0.952 / 0.814; 0.4: 0.866 / 0.952 / 0.877; 0.5: 0.852 / 0.944
# / 0.919; 0.7: 0.815 / 0.921 / 0.962. About half the "false" faces at 0.4 are, by eye, heads
# and faces nobody annotated. On the bench corpus 0.4 gives 0.989 / 0.992 (IoU 0.5).
# The finer look's scale for a minimum face size: a face of `min_size` px is seen at least
# FINE_PX px there, where the network is reliable (wider-dev recall 0.80 at 24-32 px, 0.89 from
# 32 px), so faces below the minimum are not paid for: at --min-size 64 it looks at half size.
FINE_PX = 32.0
# Measured and not taken (off by default; `settle=SETTLE` turns it on): a finer tile looked at
# only where the bounded copy's look has a candidate scoring at least SETTLE (any size, centred in
# the tile). bench/looks.py, RetinaFace's default plan, every route from the same looks: on WIDER
# crowds scaled to 4-10 MP (soft: no detail beyond the 1-MP originals) 82% of the tiles looked
# at, detection 34.0 -> 29.1 CPU ms per MP, recall identical in every width bucket; but on the
# sharp bench corpus (160 photos, 1-12 MP) recall at IoU 0.5 fell 0.989 -> 0.944 (faces of
# 32-48 px: 117 -> 100 found; at 0.02: 0.975), for 36.2 -> 30.3 ms per MP: the copy does not see
# the small sharp faces the tiles are there for; real crowds at their own resolution (mosaics of
# wider-dev and masks-dev, 15-33 MP) put a candidate in every tile, so nothing is saved there.
SETTLE = 0.05
PRECISIONS = ("int8", "bf16", "fp32")
SHAPES_KEPT = 8  # anchor grids cached per input shape (a collection has few photo sizes)


def anchors(height: int, width: int, levels: tuple[int, ...] = LEVELS) -> np.ndarray:
    """(N, 4) anchor centres and sizes (cx, cy, w, h in px) of `levels`, in the network's output
    order."""
    grids = []
    for level in levels:
        stride, sizes = STRIDES[level], ANCHOR_SIZES[level]
        ny, nx = math.ceil(height / stride), math.ceil(width / stride)
        yy, xx = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
        centres = (np.stack([xx.ravel(), yy.ravel()], axis=1) + 0.5) * stride
        centres = np.repeat(centres, len(sizes), axis=0)
        wh = np.tile(np.repeat(np.asarray(sizes, np.float32), 2).reshape(-1, 2), (nx * ny, 1))
        grids.append(np.concatenate([centres, wh], axis=1))
    return np.concatenate(grids).astype(np.float32)


def decode(
    loc: np.ndarray, conf: np.ndarray, priors: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Network outputs (N, 4) offsets and (N, 2) class scores -> boxes x0, y0, x1, y1 in input
    pixels and their face scores, for scores at least `threshold`."""
    scores = conf[:, 1]
    keep = scores >= threshold
    loc, scores, priors = loc[keep], scores[keep], priors[keep]
    centre = priors[:, :2] + loc[:, :2] * VARIANCE[0] * priors[:, 2:]
    size = priors[:, 2:] * np.exp(loc[:, 2:] * VARIANCE[1])
    boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
    return boxes.astype(np.float32), scores.astype(np.float32)


def fine_scale(min_size: float) -> float:
    """The scale (at most 1, full resolution) of the tiled look for faces too small for the copy;
    one at most the copy's own scale means the copy already resolves the minimum size."""
    return min(1.0, FINE_PX / max(min_size, 1.0))


def cut_levels(model: Any, levels: tuple[int, ...]) -> Any:
    """`model` whose outputs hold only `levels`: each output's concatenation of the levels keeps
    those inputs, so OpenVINO never builds the layers that fed the others."""
    import openvino.opset13 as ops

    for result in model.get_results():
        node = result.input_value(0).get_node()
        while node.get_type_name() != "Concat":  # conf: a softmax over the concatenation
            node = node.input_value(0).get_node()
        kept = ops.concat([node.input_value(i) for i in levels], node.get_attributes()["axis"])
        node.output(0).replace(kept.output(0))
    model.validate_nodes_and_infer_types()
    return model


def load_network(
    model_path: str | Path | None, precision: str | None, levels: tuple[int, ...] = LEVELS
) -> tuple[Any, str]:
    """The compiled network and its runtime description, taking BGR uint8 canvases and giving
    the outputs of `levels`.

    `precision` None: bf16 where the CPU has it (OpenVINO's own choice), else the int8 network
    when the package carries it (twice as fast as fp32 there, recall within 0.003), else fp32.
    "int8" insists on the int8 network; "bf16" or "fp32" run the ONNX file so (for measuring).
    `model_path`: that ONNX file instead, at OpenVINO's own precision."""
    if precision not in (None, *PRECISIONS):
        raise DetectorError(f"unknown precision {precision!r}; choose one of {PRECISIONS}")
    by_cpu = precision is None and not openvino_cpu.cpu_has_bf16()

    def prepare(model: Any) -> Any:
        if not takes_pixels(model):
            model = pixels_input(model, tuple(MEAN_BGR), OUTPUTS)
        return model if levels == LEVELS else cut_levels(model, levels)

    if model_path is None and (precision == "int8" or by_cpu):
        found = weights.load_quantised(weights.RETINAFACE_INT8, required=precision == "int8")
        if found is not None:
            xml, bin_ = found
            return compile_on_cpu(xml, "RetinaFace", weights_bin=bin_, prepare=prepare)
    model = weights.load(weights.RETINAFACE, model_path)
    hint = {"bf16": "bf16", "fp32": "f32"}.get(precision or "")
    return compile_on_cpu(model, "RetinaFace", hint=hint, prepare=prepare)


def _size(width: int, height: int, scale: float) -> tuple[int, int]:
    return max(1, round(width * scale)), max(1, round(height * scale))


def _tile_count(image: np.ndarray, own: float) -> int:
    """How many finer tiles look_in_tiles plans over `image`."""
    height, width = image.shape[:2]
    _, _, xs, ys = plan_tiles(width, height, math.ceil(own * 1.25 + 2 * EDGE_MARGIN), TILE)
    return len(xs) * len(ys)


class RetinaFaceDetector:
    """RetinaFace on OpenVINO; build once per worker, call per image."""

    name = "retinaface"

    def __init__(
        self,
        options: DetectOptions,
        model_path: str | Path | None = None,
        precision: str | None = None,
        min_size_plan: bool = True,
        tiles: bool = True,
        settle: float | None = None,
        tile_levels: bool = True,
    ) -> None:
        networks = {LEVELS: load_network(model_path, precision)}
        if tiles and tile_levels:  # False: tiles with every level (measuring)
            networks[TILE_LEVELS] = load_network(model_path, precision, TILE_LEVELS)
        self.runtime = networks[LEVELS][1]
        self._nets = {
            levels: (net.create_infer_request(), net.output("loc"), net.output("conf"))
            for levels, (net, _) in networks.items()
        }
        try:
            for levels in self._nets:
                self._forward(np.zeros((32, 32, 3), np.uint8), levels)
        except Exception as exc:  # OpenVINO raises RuntimeError subclasses of its own
            raise DetectorError(
                f"OpenVINO cannot run the RetinaFace model: {first_line(exc)}"
            ) from exc
        self._options = options
        self._threshold = options.score()
        self._priors: dict[tuple[int, int, tuple[int, ...]], np.ndarray] = {}
        self._min_size_plan = min_size_plan  # False: the full-resolution tiles always (measuring)
        self._tiles = tiles  # False: the bounded copy's look only, for photos above TILE
        self._settle = settle  # None (default): every finer tile is looked at
        self.tiles_seen = self.tiles_settled = 0  # finer tiles looked at and skipped so far
        self.runs = 0  # network runs so far: the cost metric for benchmarks

    def _forward(
        self, canvas: np.ndarray, levels: tuple[int, ...] = LEVELS
    ) -> tuple[np.ndarray, np.ndarray]:
        """Box offsets and class scores of `levels` for a BGR uint8 canvas (the network
        converts it)."""
        request, loc, conf = self._nets[levels]
        out = request.infer({0: canvas[np.newaxis]})
        return out[loc][0], out[conf][0]

    def _look(
        self,
        image: np.ndarray,
        shape: tuple[int, int] | None = None,
        floor: float | None = None,
        levels: tuple[int, ...] = LEVELS,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Boxes and scores of one pass over `image`, padded at its right and bottom to `shape`
        (tiles) or to multiples of 32 (padding keeps the shapes a collection produces few);
        scores down to `floor` (default: the threshold); anchors of `levels` only."""
        self.runs += 1
        low = max(CANDIDATES, self._threshold) if floor is None else floor
        return on_canvas(image, shape, lambda canvas: self._boxes(canvas, low, levels))

    def _boxes(
        self, canvas: np.ndarray, low: float, levels: tuple[int, ...]
    ) -> tuple[np.ndarray, np.ndarray]:
        key = (*canvas.shape[:2], levels)
        priors = self._priors.get(key)
        if priors is None:
            if len(self._priors) >= SHAPES_KEPT:
                self._priors.pop(next(iter(self._priors)))
            priors = self._priors[key] = anchors(*canvas.shape[:2], levels)
        loc, conf = self._forward(canvas, levels)
        return decode(loc, conf, priors, low)

    def tile_levels(self, own: float) -> tuple[int, ...]:
        """The levels a finer tile runs when it answers for faces below `own` of its px."""
        cut = own < TILE_LEVELS_BELOW and TILE_LEVELS in self._nets
        return TILE_LEVELS if cut else LEVELS

    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces in a BGR uint8 image, boxes in its own (full-resolution) pixels."""
        o = self._options
        height, width = image.shape[:2]
        if max(height, width) <= TILE:
            boxes, scores = self._look(image)
        else:
            # the copy is seen whole: never larger than a tile, whatever detect_max_side says
            small, scale = bounded_copy(image, min(o.detect_max_side or TILE, TILE))
            threshold = max(CANDIDATES, self._threshold)
            floor = threshold if self._settle is None else min(self._settle, threshold)
            boxes, scores = self._look(small, floor=floor)
            boxes /= scale
            candidates = boxes[scores >= (self._settle or 0.0)]
            boxes, scores = boxes[scores >= threshold], scores[scores >= threshold]
            fine = fine_scale(o.min_size) if self._min_size_plan else 1.0
            if self._tiles and fine > scale and o.min_size < OWN_PX / scale:  # copy: no promise
                own = OWN_PX / scale * fine  # in the finer look's pixels
                source = image if fine >= 1 else shrink(image, _size(width, height, fine))
                hints = None
                if self._settle is not None:  # candidates' centres, in the finer look's pixels
                    hints = (candidates[:, :2] + candidates[:, 2:]) / 2 * fine
                runs = self.runs
                levels = self.tile_levels(own)

                def look(tile: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
                    return self._look(tile, shape, levels=levels)

                tile_boxes, tile_scores = look_in_tiles(source, own, TILE, look, hints)
                self.tiles_seen += self.runs - runs
                self.tiles_settled += _tile_count(source, own) - (self.runs - runs)
                boxes = np.concatenate([boxes, tile_boxes / fine])
                scores = np.concatenate([scores, tile_scores])
        side = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        sure = (side < BIG_SHARE * max(height, width)) | (scores >= max(BIG_SCORE, self._threshold))
        boxes, scores = boxes[sure], scores[sure]
        keep = nms(boxes, scores, NMS_IOU)
        return to_faces(boxes[keep], scores[keep], 1.0, width, height, o)
