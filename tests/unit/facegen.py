"""Generated test photos: real face crops blended onto real backgrounds at known boxes.

Deterministic from a seed. Used by the detector tests (geometry of tiled detection) and to
measure detectors on more than the four faces-dev photos.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
# The astronaut's face as the Haar cascade boxes it in samples/astronaut.png (x, y, w, h).
ASTRONAUT_FACE = (177, 66, 95, 95)
# camera.png is left out: its cameraman is a face the truth would not list.
BACKGROUNDS = ("coffee.png", "chelsea.png")


@dataclass(frozen=True)
class FaceSource:
    """A photo and one face box in it; the crop pasted is the box grown by `margin`."""

    image: np.ndarray
    box: tuple[int, int, int, int]
    margin: float = 0.6


def read_sample(name: str) -> np.ndarray:
    image = cv2.imread(str(SAMPLES / name), cv2.IMREAD_COLOR)
    assert image is not None, f"missing sample {name}"
    return image


def astronaut_source() -> FaceSource:
    return FaceSource(read_sample("astronaut.png"), ASTRONAUT_FACE)


def background(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A sample photo stretched, flipped and mildly noised to `width` x `height`."""
    image = read_sample(BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))])
    if rng.random() < 0.5:
        image = image[:, ::-1]
    out = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
    noise = rng.normal(0, 4, (height // 8 + 1, width // 8 + 1)).astype(np.float32)
    noise = cv2.resize(noise, (width, height), interpolation=cv2.INTER_NEAREST)
    return cv2.add(out, cv2.merge([noise] * 3), dtype=cv2.CV_8U)


def paste_face(canvas: np.ndarray, source: FaceSource, x: int, y: int, side: int) -> tuple:
    """Blend the source face so that its box lands at (x, y, side, side); returns that box.

    The crop around the box (hair, neck) is feathered into the background with an elliptical
    mask, so the face has context but no hard square edge for a detector to key on.
    """
    sx, sy, sw, sh = source.box
    m = source.margin
    h, w = source.image.shape[:2]
    cx0, cy0 = max(0, round(sx - m * sw)), max(0, round(sy - m * sh))
    cx1, cy1 = min(w, round(sx + sw + m * sw)), min(h, round(sy + sh + m * sh))
    k = side / sw
    crop = cv2.resize(
        source.image[cy0:cy1, cx0:cx1],
        (max(1, round((cx1 - cx0) * k)), max(1, round((cy1 - cy0) * k))),
        interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_CUBIC,
    )
    ox, oy = x - round((sx - cx0) * k), y - round((sy - cy0) * k)
    ch, cw = crop.shape[:2]
    # The feathered ellipse is drawn at most 256 px wide and scaled up: blurring a mask the
    # size of a 2000 px face directly takes seconds.
    f = min(1.0, 256 / max(cw, ch))
    mw, mh = max(8, round(cw * f)), max(8, round(ch * f))
    mask = np.zeros((mh, mw), np.float32)
    cv2.ellipse(mask, (mw // 2, mh // 2), (mw // 2, mh // 2), 0, 0, 360, 1.0, -1)
    blur = max(3, (min(mw, mh) // 8) | 1)
    mask = cv2.GaussianBlur(mask, (blur, blur), 0)
    mask = cv2.resize(mask, (cw, ch), interpolation=cv2.INTER_LINEAR)[..., None]
    H, W = canvas.shape[:2]
    # clip the crop to the canvas
    a0, b0 = max(0, -ox), max(0, -oy)
    a1, b1 = min(cw, W - ox), min(ch, H - oy)
    if a1 <= a0 or b1 <= b0:
        return (x, y, side, side)
    region = canvas[oy + b0 : oy + b1, ox + a0 : ox + a1].astype(np.float32)
    mk = mask[b0:b1, a0:a1]
    blended = crop[b0:b1, a0:a1].astype(np.float32) * mk + region * (1 - mk)
    canvas[oy + b0 : oy + b1, ox + a0 : ox + a1] = blended.astype(np.uint8)
    return (x, y, side, side)


def _overlaps(box: tuple, boxes: list[tuple], pad: float) -> bool:
    x, y, w, h = box
    for bx, by, bw, bh in boxes:
        p = pad * max(w, bw)
        if x < bx + bw + p and bx < x + w + p and y < by + bh + p and by < y + h + p:
            return True
    return False


def make_photo(
    width: int,
    height: int,
    sides: list[int],
    sources: list[FaceSource],
    rng: np.random.Generator,
) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """A `width` x `height` photo with one face per entry of `sides`, none overlapping."""
    canvas = background(width, height, rng)
    boxes: list[tuple[int, int, int, int]] = []
    for side in sorted(sides, reverse=True):
        for _ in range(200):
            x = int(rng.integers(0, max(1, width - side)))
            y = int(rng.integers(0, max(1, height - side)))
            if not _overlaps((x, y, side, side), boxes, 0.8):
                # Real photos of big faces are sharp: upscale a crop at most 4x where possible.
                sharp = [s for s in sources if s.box[2] * 4 >= side]
                pool = sharp or [max(sources, key=lambda s: s.box[2])]
                source = pool[int(rng.integers(len(pool)))]
                boxes.append(paste_face(canvas, source, x, y, side))
                break
    return canvas, boxes


def box(face) -> tuple[int, int, int, int]:
    """A detector's Face as an (x, y, w, h) tuple, for IoU with truth boxes."""
    return (face.x, face.y, face.w, face.h)


def canvas_with_faces(
    width: int, height: int, faces: list[tuple[int, int, int]], seed: int
) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """A `width` x `height` photo with the astronaut's face pasted at each (x, y, side); the
    background is small and scaled up: cheap at 24 MP, and geometry is what is tested."""
    rng = np.random.default_rng(seed)
    small = background(max(1, width // 8), max(1, height // 8), rng)
    canvas = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
    source = astronaut_source()
    truth = [paste_face(canvas, source, x, y, side) for x, y, side in faces]
    return canvas, truth


def assert_found(found: list, truth: list[tuple], min_iou: float = 0.5) -> None:
    """Exactly one detection per truth box, each at IoU >= min_iou with its box."""
    from dataproc_faces.evaluate import iou

    assert len(found) == len(truth), (found, truth)
    for t in truth:
        best = max(iou(box(f), t) for f in found)
        assert best >= min_iou, (t, found)
