"""Overlapping tiles over a photo, so a network sees it at full resolution in bounded memory."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

ALIGN = 32  # input sides must be multiples of the backbones' total stride
EDGE_MARGIN = 2.0  # px: a box this close to an edge shared with another tile is cut by it


def aligned(n: float, align: int = ALIGN) -> int:
    """`n` rounded up to a multiple of `align` (at least `align`)."""
    return max(align, math.ceil(n / align) * align)


def tile_starts(length: int, count: int, side: int) -> list[int]:
    """`count` evenly spaced starts of windows of `side` px covering [0, length)."""
    if count <= 1 or side >= length:
        return [0]
    return [round(i * (length - side) / (count - 1)) for i in range(count)]


def plan_tiles(
    width: int, height: int, overlap: int, tile: int
) -> tuple[int, int, list[int], list[int]]:
    """One tile shape (w, h; multiples of ALIGN, at most about `tile`) and the starts covering
    the image with at least `overlap` px shared between neighbours."""

    def axis(length: int) -> tuple[int, list[int]]:
        if length <= tile:
            return aligned(length), [0]
        count = math.ceil((length - overlap) / (tile - overlap))
        side = min(aligned((length + (count - 1) * overlap) / count), aligned(length))
        return side, tile_starts(length, count, side)

    tw, xs = axis(width)
    th, ys = axis(height)
    return tw, th, xs, ys


def owned(
    boxes: np.ndarray, x: int, y: int, tw: int, th: int, width: int, height: int, own: float
) -> np.ndarray:
    """Which boxes (x0, y0, x1, y1 in the tile) this tile answers for: faces below `own` px
    that no edge shared with a neighbour cuts (that neighbour sees them whole)."""
    side = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    keep = side < own
    keep &= (x == 0) | (boxes[:, 0] > EDGE_MARGIN)
    keep &= (y == 0) | (boxes[:, 1] > EDGE_MARGIN)
    keep &= (x + tw >= width) | (boxes[:, 2] < tw - EDGE_MARGIN)
    keep &= (y + th >= height) | (boxes[:, 3] < th - EDGE_MARGIN)
    return keep


def on_canvas(
    image: np.ndarray,
    shape: tuple[int, int] | None,
    run: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray]:
    """`run` over `image` placed top-left on a black canvas of `shape` (default: its sides
    rounded up to ALIGN), keeping the boxes (x0, y0, x1, y1) whose centre lies on the image."""
    h, w = image.shape[:2]
    canvas = np.zeros((*(shape or (aligned(h), aligned(w))), 3), np.uint8)
    canvas[:h, :w] = image
    boxes, scores = run(canvas)
    inside = ((boxes[:, 0] + boxes[:, 2]) / 2 < w) & ((boxes[:, 1] + boxes[:, 3]) / 2 < h)
    return boxes[inside], scores[inside]


# look(tile pixels, (height, width) to pad them to) -> boxes x0, y0, x1, y1 and scores, in the tile
Look = Callable[[np.ndarray, tuple[int, int]], tuple[np.ndarray, np.ndarray]]


def hinted(points: np.ndarray, x: int, y: int, tw: int, th: int) -> bool:
    """Whether any of the (N, 2) points (x, y) lies in the tile at x, y of tw x th px."""
    px, py = points[:, 0], points[:, 1]
    return bool(np.any((px >= x) & (px < x + tw) & (py >= y) & (py < y + th)))


def look_in_tiles(
    image: np.ndarray, own: float, tile: int, look: Look, hints: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Faces below `own` px that `look` finds in overlapping tiles of about `tile` px (one shape,
    edge tiles padded), in the image's own pixels; each face once, from a tile seeing it whole.
    `hints`: (N, 2) points in the image's pixels; given, a tile holding none is not looked at."""
    height, width = image.shape[:2]
    overlap = math.ceil(own * 1.25 + 2 * EDGE_MARGIN)
    tw, th, xs, ys = plan_tiles(width, height, overlap, tile)
    found_boxes, found_scores = [np.zeros((0, 4), np.float32)], [np.zeros(0, np.float32)]
    for y in ys:
        for x in xs:
            if hints is not None and not hinted(hints, x, y, tw, th):
                continue
            boxes, scores = look(image[y : y + th, x : x + tw], (th, tw))
            keep = owned(boxes, x, y, tw, th, width, height, own)
            found_boxes.append(boxes[keep] + np.float32([x, y, x, y]))
            found_scores.append(scores[keep])
    return np.concatenate(found_boxes), np.concatenate(found_scores)
