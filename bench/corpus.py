"""A deterministic benchmark corpus that looks like a photo collection, with known face boxes.

Real face crops (the astronaut from samples/astronaut.png, tight or with the whole head) are scaled,
slightly rotated, re-lit and sometimes mirrored, then blended with a feathered alpha onto real
backgrounds (crops of the other samples scaled up) mixed with smooth procedural texture and sensor
grain, so that JPEG sizes and decode costs resemble camera photos. Shot types mimic a collection:
no face, portraits, groups, crowds (faces from 24 px to 40% of the short side).

Truth boxes use the detectors' convention: the box the Haar cascade draws around the astronaut at
512 px (x=177, y=66, w=h=95, forehead to chin), mapped through the same scale and placement.

    python -m bench.corpus --out bench/corpus/NAME --count N --seed S [--megapixels-range 1 12]
    python -m bench.corpus --out bench/corpus/big24 --count 6 --seed 1 --megapixels 24

writes NAME/images/*.jpg|png, NAME/truth.json ({"images": [{"file", "width", "height",
"faces": [{"x", "y", "w", "h"}]}]}, the format `dataproc-faces eval --truth` reads) and
NAME/corpus.json (how it was made and what it holds).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
FACE_BOX = (177, 66, 95, 95)  # Haar's box around the astronaut's face at 512x512
# Faceless backgrounds only: camera.png's cameraman is a real face the truth would not list.
BACKGROUNDS = ("coffee.png", "chelsea.png")
ASPECTS = ((4, 3), (3, 2), (16, 9), (1, 1))
# (shot type, probability, faces (lo, hi), face side as a fraction of the short side (lo, hi))
SHOTS: tuple[tuple[str, float, tuple[int, int], tuple[float, float]], ...] = (
    ("none", 0.12, (0, 0), (0.0, 0.0)),
    ("portrait", 0.28, (1, 1), (0.15, 0.40)),
    ("group", 0.35, (2, 6), (0.06, 0.15)),
    ("crowd", 0.25, (6, 15), (0.015, 0.06)),
)
MIN_FACE = 24  # px: the Haar cascade's window; nothing smaller is a fair target
PNG_SHARE = 0.07
PNG_MAX_MP = 4.0  # PNGs in photo collections are screenshots and scans, rarely camera-sized


@dataclass(frozen=True)
class Sprite:
    """A face crop centred on the face box, with its feathered alpha; face side in crop px."""

    pixels: np.ndarray  # float32 BGR
    alpha: np.ndarray  # float32 0..1
    face: float


def _sprites(astronaut: np.ndarray) -> list[Sprite]:
    """Two crops of the same face: tight (forehead to chin plus a little) and the whole head."""
    x, y, w, h = FACE_BOX
    cx, cy = x + w / 2, y + h / 2
    out = []
    for margin, feather in ((1.35, 0.06), (1.8, 0.10)):
        half = round(w * margin / 2)
        x0, y0 = round(cx) - half, round(cy) - half
        crop = astronaut[max(0, y0) : y0 + 2 * half, max(0, x0) : x0 + 2 * half].astype(np.float32)
        side = crop.shape[0]
        alpha = np.zeros((side, side), np.float32)
        axes = (round(side * 0.46), round(side * 0.49))
        cv2.ellipse(alpha, (side // 2, side // 2), axes, 0, 0, 360, 1.0, -1)
        k = max(3, round(side * feather) | 1)
        alpha = cv2.GaussianBlur(alpha, (k, k), 0)
        out.append(Sprite(crop, alpha, float(w)))
    return out


def _size(rng: np.random.Generator, megapixels: float) -> tuple[int, int]:
    a, b = ASPECTS[rng.integers(len(ASPECTS))]
    if rng.random() < 0.25:
        a, b = b, a  # portrait orientation
    width = math.sqrt(megapixels * 1e6 * a / b)
    return int(width) // 8 * 8, int(width * b / a) // 8 * 8


def _smooth_field(rng: np.random.Generator, width: int, height: int, cells: int) -> np.ndarray:
    """Low-frequency colour variation: a few random values upscaled smoothly."""
    small = rng.random((cells, max(2, cells * width // height), 3), dtype=np.float32)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)


def background(rng: np.random.Generator, sources: list[np.ndarray], width: int, height: int):
    """A real photo crop scaled up, or a procedural scene, mixed with texture and grain."""
    if rng.random() < 0.8:
        src = sources[rng.integers(len(sources))]
        sh, sw = src.shape[:2]
        cw = int(sw * rng.uniform(0.45, 1.0))
        ch = min(sh, max(16, round(cw * height / width)))
        cw = min(sw, round(ch * width / height))
        x0, y0 = rng.integers(0, sw - cw + 1), rng.integers(0, sh - ch + 1)
        crop = src[y0 : y0 + ch, x0 : x0 + cw]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        image = cv2.resize(crop, (width, height), interpolation=cv2.INTER_CUBIC).astype(np.float32)
        mix = rng.uniform(0.0, 0.35)
    else:
        image = np.zeros((height, width, 3), np.float32)
        mix = 1.0
    texture = _smooth_field(rng, width, height, int(rng.integers(3, 9))) * 255
    detail = _smooth_field(rng, width, height, int(rng.integers(20, 60))) * 30 - 15
    image = image * (1 - mix) + texture * mix + detail * rng.uniform(0.2, 1.0)
    return image


def _paste(
    rng: np.random.Generator, image: np.ndarray, sprite: Sprite, side: float, cx: float, cy: float
) -> None:
    """Blend one transformed face so that its face box is `side` px, centred at (cx, cy)."""
    scale = side / sprite.face
    crop_side = sprite.pixels.shape[0]
    out = max(8, math.ceil(crop_side * scale * 1.1))  # room for the rotation's corners
    angle = rng.uniform(-8, 8)
    matrix = cv2.getRotationMatrix2D((crop_side / 2, crop_side / 2), angle, scale)
    matrix[:, 2] += out / 2 - crop_side / 2
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    pix = cv2.warpAffine(sprite.pixels, matrix, (out, out), flags=interp)
    alpha = cv2.warpAffine(sprite.alpha, matrix, (out, out), flags=cv2.INTER_LINEAR)
    if rng.random() < 0.5:
        pix, alpha = pix[:, ::-1], alpha[:, ::-1]
    gain = rng.uniform(0.75, 1.2) * rng.uniform(0.92, 1.08, size=3).astype(np.float32)
    pix = pix * gain + rng.uniform(-20, 20)
    x0, y0 = round(cx - out / 2), round(cy - out / 2)
    h, w = image.shape[:2]
    sx0, sy0 = max(0, -x0), max(0, -y0)
    sx1, sy1 = min(out, w - x0), min(out, h - y0)
    region = image[y0 + sy0 : y0 + sy1, x0 + sx0 : x0 + sx1]
    a = alpha[sy0:sy1, sx0:sx1, None]
    region[:] = region * (1 - a) + pix[sy0:sy1, sx0:sx1] * a


def _overlaps(box: tuple[float, float, float, float], taken: list[tuple[float, ...]]) -> bool:
    x, y, s, _ = box
    return any(x < tx + ts and tx < x + s and y < ty + ts and ty < y + s for tx, ty, ts, _ in taken)


def _faces(rng: np.random.Generator, width: int, height: int) -> tuple[str, list[float]]:
    """The shot type and the face sides to place, by the shares in SHOTS."""
    r, acc = rng.random(), 0.0
    for name, share, (lo, hi), (flo, fhi) in SHOTS:
        acc += share
        if r < acc or name == SHOTS[-1][0]:
            short = min(width, height)
            n = int(rng.integers(lo, hi + 1))
            smin, smax = max(MIN_FACE, flo * short), max(MIN_FACE + 1, fhi * short)
            base = math.exp(rng.uniform(math.log(smin), math.log(smax)))
            # faces in one photo have similar sizes (same distance), within +-25%
            sides = [min(smax, max(smin, base * rng.uniform(0.8, 1.25))) for _ in range(n)]
            return name, sides
    raise AssertionError("unreachable")


def make_image(
    rng: np.random.Generator,
    sources: list[np.ndarray],
    sprites: list[Sprite],
    width: int,
    height: int,
) -> tuple[np.ndarray, str, list[dict[str, int]]]:
    """One photo and its truth boxes (faces that could not be placed are left out)."""
    image = background(rng, sources, width, height)
    shot, sides = _faces(rng, width, height)
    taken: list[tuple[float, ...]] = []
    boxes = []
    for side in sides:
        sprite = sprites[int(rng.integers(len(sprites)))]
        reach = side * sprite.pixels.shape[0] / sprite.face * 0.6  # half the pasted head
        if 2 * reach >= min(width, height):
            continue
        for _ in range(60):
            cx = rng.uniform(reach, width - reach)
            cy = rng.uniform(reach, height - reach)
            head = (cx - reach, cy - reach, 2 * reach, 2 * reach)
            if not _overlaps(head, taken):
                break
        else:
            continue
        taken.append(head)
        _paste(rng, image, sprite, side, cx, cy)
        x, y = round(cx - side / 2), round(cy - side / 2)
        boxes.append({"x": x, "y": y, "w": round(side), "h": round(side)})
    grain = rng.uniform(1.5, 5.0)
    noise = rng.standard_normal((height, width), dtype=np.float32) * grain
    image += noise[:, :, None]
    pixels = np.clip(image, 0, 255).astype(np.uint8)
    if rng.random() < 0.1:  # some black-and-white photos
        pixels = cv2.cvtColor(cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    boxes.sort(key=lambda b: (b["y"], b["x"]))
    return pixels, shot, boxes


def generate(
    out: Path,
    count: int,
    seed: int,
    megapixels_range: tuple[float, float] = (1.0, 12.0),
    megapixels: float | None = None,
) -> dict[str, Any]:
    """Write the corpus under `out`; the same arguments always give the same bytes."""
    images_dir = out / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    for old in images_dir.iterdir():
        old.unlink()
    astronaut = cv2.imread(str(SAMPLES / "astronaut.png"), cv2.IMREAD_COLOR)
    sources = [cv2.imread(str(SAMPLES / name), cv2.IMREAD_COLOR) for name in BACKGROUNDS]
    sprites = _sprites(astronaut)
    entries = []
    shots: dict[str, int] = {}
    formats: dict[str, int] = {}
    total_bytes = 0
    total_mp = 0.0
    for i in range(count):
        rng = np.random.default_rng([seed, i])
        mp = megapixels or float(rng.uniform(*megapixels_range))
        width, height = (6000, 4000) if megapixels == 24 else _size(rng, mp)
        pixels, shot, boxes = make_image(rng, sources, sprites, width, height)
        png = mp <= PNG_MAX_MP and rng.random() < PNG_SHARE
        name = f"img_{i:05d}." + ("png" if png else "jpg")
        params = [] if png else [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(82, 96))]
        ok, buf = cv2.imencode(".png" if png else ".jpg", pixels, params)
        if not ok:
            raise RuntimeError(f"cannot encode {name}")
        (images_dir / name).write_bytes(buf.tobytes())
        total_bytes += len(buf)
        total_mp += width * height / 1e6
        shots[shot] = shots.get(shot, 0) + 1
        formats["png" if png else "jpeg"] = formats.get("png" if png else "jpeg", 0) + 1
        entries.append({"file": name, "width": width, "height": height, "faces": boxes})
    truth = {"images": entries}
    (out / "truth.json").write_text(json.dumps(truth, indent=1) + "\n", encoding="utf-8")
    sides = [f["w"] for e in entries for f in e["faces"]]
    description = {
        "name": out.name,
        "seed": seed,
        "count": count,
        "megapixels": megapixels,
        "megapixels_range": None if megapixels else list(megapixels_range),
        "total_megapixels": round(total_mp, 1),
        "mean_megapixels": round(total_mp / count, 2) if count else 0,
        "total_mib": round(total_bytes / 2**20, 1),
        "formats": formats,
        "shots": shots,
        "faces": len(sides),
        "face_side_px": {
            "min": min(sides, default=0),
            "median": int(np.median(sides)) if sides else 0,
            "max": max(sides, default=0),
        },
    }
    (out / "corpus.json").write_text(json.dumps(description, indent=2) + "\n", encoding="utf-8")
    return description


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.corpus", description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, required=True, help="folder to (re)write")
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--megapixels-range", type=float, nargs=2, default=(1.0, 12.0), metavar=("LO", "HI")
    )
    p.add_argument("--megapixels", type=float, help="every image this size (24: 6000x4000)")
    args = p.parse_args(argv)
    desc = generate(args.out, args.count, args.seed, tuple(args.megapixels_range), args.megapixels)
    print(json.dumps(desc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
