"""CenterFace (Xu et al., 2019) on OpenVINO: faces as peaks of a centre heatmap.

The network is fully convolutional: it takes any input whose sides are multiples of 32 and
predicts, on a grid of stride 4, a face-centre heatmap, the box size (log scale) and a sub-cell
offset. It finds faces from about 20 px (the Haar-style box) to the whole frame in one pass.

Two looks per photo, so the cost stays bounded for large photos:
- the bounded copy (`detect_max_side`, 1024 by default) whole: every face there;
- when the photo is larger than that copy, a copy FINE_FACTOR times larger (at most full
  resolution), in overlapping tiles, for the faces too small for the first look to be sure of
  (below OWN_PX there). A face cut by a tile edge is left to the neighbour, which sees it whole.

Cost (one core, OpenVINO bf16 on this project's machine): about 65 ms per megapixel of network
input, about 1.1-2x the default RetinaFace's per megapixel of photo at 2-12 MP (the finer look is
most of it); it is for faces of 20-32 px, which RetinaFace is not sure of. On OpenCV's dnn, where
it ran before, the same network cost about 300 ms per megapixel.

Pure numpy + OpenVINO: no Spark, no storage, no network.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dataproc_faces.detectors import weights
from dataproc_faces.detectors.base import (
    DetectOptions,
    DetectorError,
    Face,
    bounded_copy,
    nms,
    shrink,
    to_faces,
)
from dataproc_faces.detectors.openvino_cpu import compile_on_cpu, first_line
from dataproc_faces.detectors.tiles import ALIGN, look_in_tiles, on_canvas

OUTPUTS = 4  # heatmap, log box size, centre offset, landmarks
STRIDE = 4
# The default score threshold (detect.DEFAULT_SCORES) is 0.3: recall / precision at IoU 0.3 on
# a 40-image generated corpus (seed 5, 181 faces) by threshold: 0.3: 0.989 / 1.000,
# 0.4: 0.967 / 1.000, 0.5: 0.923 / 1.000.
NMS_IOU = 0.3
# Faces whose box in the bounded copy is below this many px are searched for again in the finer
# look. Measured faces found by box side in the network input (score 0.3, generated faces):
# 12-14 px 0 of 15, 15-17 px 4 of 32, 18-20 px 7 of 25, 21-23 px 27 of 28; the first look still
# drops some faces of 30-35 px (shadowed, turned), so the finer look covers faces up to 40 px.
OWN_PX = 40.0
FINE_FACTOR = 2.0
# Tiles of the finer look: at most this side, overlapping by more than the faces they own; they
# keep a worker's memory bounded on 24-MP photos.
TILE = 640


def decode(outputs: list[np.ndarray], threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Network outputs -> (N, 4) boxes x0, y0, x1, y1 in input pixels and their scores."""
    heat, size, offset = outputs[0][0, 0], outputs[1][0], outputs[2][0]
    ys, xs = np.nonzero(heat > threshold)
    h = np.exp(size[0, ys, xs]) * STRIDE
    w = np.exp(size[1, ys, xs]) * STRIDE
    cy = (ys + offset[0, ys, xs] + 0.5) * STRIDE
    cx = (xs + offset[1, ys, xs] + 0.5) * STRIDE
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    return boxes.astype(np.float32), heat[ys, xs].astype(np.float32)


class CenterFaceDetector:
    """CenterFace on OpenVINO; build once per worker, call per image."""

    name = "centerface"

    def __init__(
        self,
        options: DetectOptions,
        model_path: str | Path | None = None,
        fine_factor: float = FINE_FACTOR,
    ) -> None:
        model = weights.load(weights.CENTERFACE, model_path)
        # The file fixes batch 10 and a 32 x 32 input: one image, any size (multiples of 32).
        self._compiled, self.runtime = compile_on_cpu(model, "CenterFace", [1, 3, -1, -1])
        self._request = self._compiled.create_infer_request()
        try:
            outs = self._forward(np.zeros((ALIGN, ALIGN, 3), np.uint8))
        except Exception as exc:  # OpenVINO raises RuntimeError subclasses of its own
            raise DetectorError(
                f"OpenVINO cannot run the CenterFace model: {first_line(exc)}"
            ) from exc
        if [o.shape[1] for o in outs] != [1, 2, 2, 10]:
            raise DetectorError(f"unexpected CenterFace outputs {[o.shape for o in outs]}")
        self._options = options
        self._threshold = options.score()
        self._fine_factor = fine_factor  # 1: the bounded copy's look only (no tiles)
        self.runs = 0  # network runs so far: the cost metric for benchmarks

    def _forward(self, canvas: np.ndarray) -> list[np.ndarray]:
        """The network's maps for a BGR canvas (it was trained on RGB, 0-255, no mean)."""
        blob = np.ascontiguousarray(canvas[..., ::-1].transpose(2, 0, 1), np.float32)[np.newaxis]
        out = self._request.infer({0: blob})
        return [out[self._compiled.output(i)] for i in range(OUTPUTS)]

    def _look(
        self, image: np.ndarray, shape: tuple[int, int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Boxes and scores of one pass over `image` placed top-left on a black canvas of `shape`
        (tiles) or of its sides rounded up to multiples of 32."""
        self.runs += 1
        return on_canvas(
            image, shape, lambda canvas: decode(self._forward(canvas), self._threshold)
        )

    def _fine(self, image: np.ndarray, scale: float, own: float) -> tuple[np.ndarray, np.ndarray]:
        """Faces below `own` px in a copy at `scale` (<= 1), from its tiles; full-res boxes."""
        height, width = image.shape[:2]
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        fine = image if scale >= 1 else shrink(image, size)
        boxes, scores = look_in_tiles(fine, own, TILE, self._look)
        return boxes / scale, scores

    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces in a BGR uint8 image, boxes in its own (full-resolution) pixels."""
        o = self._options
        height, width = image.shape[:2]
        small, scale = bounded_copy(image, o.detect_max_side)
        boxes, scores = self._look(small)
        boxes /= scale
        fine_scale = min(1.0, scale * self._fine_factor)
        # The finer look only when it sees more and someone asked for faces that small.
        # Both looks' boxes go to one NMS: a face both report is kept once, at its best score.
        if fine_scale > scale and o.min_size < OWN_PX / scale:
            own = OWN_PX * fine_scale / scale
            fine_boxes, fine_scores = self._fine(image, fine_scale, own)
            boxes = np.concatenate([boxes, fine_boxes])
            scores = np.concatenate([scores, fine_scores])
        keep = nms(boxes, scores, NMS_IOU)
        return to_faces(boxes[keep], scores[keep], 1.0, width, height, o)
