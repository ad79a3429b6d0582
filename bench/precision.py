"""Precision of the hiding detectors on large photos: how many regions a person would see blurred
that are not faces, and what the ensemble's rule for tiny weak finds costs in recall.

Two kinds of large photo, both with known faces:
- the bench corpus (bench/corpus.py, fixed seed): 2-12 MP, and 24 MP, generated sharp;
- mosaics of real photos at their own resolution (no upscaling, so as sharp as the data sets):
  grids of wider-dev crowds (about 12 and 17 MP) and of masks-dev street photos (about 11 MP);
  their faces are small for the photo's size, as in a large crowd shot;
- wider-dev photos upscaled to 24 MP (soft, large faces: what an upscaler hands over).
Each member looks once per photo at the lowest threshold (finds cached under bench/precision-cache/,
CPU seconds too); each route keeps or merges those finds as the job would (detectors/ensemble.py
merge, its tiny-find share varied). A find is true when it matches an annotated face at IoU 0.3;
recall counts faces at least 24 px wide (smaller ones are neither missed nor false when found).
Crowds hold unannotated heads: some "false" finds there are faces.

    python -m bench.precision --data ../shared/data [--out bench/precision.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bench import corpus
from dataproc_faces.detectors.base import PRIVACY_SCORES, DetectOptions, Face
from dataproc_faces.detectors.centerface import CenterFaceDetector
from dataproc_faces.detectors.ensemble import MEMBERS as ENSEMBLE_MEMBERS
from dataproc_faces.detectors.ensemble import TINY_SHARE, make_member, merge, network
from dataproc_faces.evaluate import match, read_truth

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / "precision-cache"
LOWEST = 0.1
IOU = 0.3
MIN_FACE = 24
# looks cached per photo (detectors/ensemble.py make_member); "centerface-fine1.5" is CenterFace
# with its finer look at 1.5x the bounded copy instead of 2x
MEMBERS = (
    "retinaface",
    "centerface",
    "retinaface-coarse",
    "centerface-coarse",
    "centerface-fine1.5",
    "retinaface-coarse@0.05",  # "@S": at score S (the agreeing route's members)
    "centerface@0.05",
)
ROUTES = {  # ensemble routes: name -> members merged
    "ensemble": ENSEMBLE_MEMBERS,  # the default: RetinaFace's bounded copy, CenterFace's two looks
    "ensemble, both tiled": ("retinaface", "centerface"),  # the default before
    "ensemble, both coarse": ("retinaface-coarse", "centerface-coarse"),
    "ensemble, centerface fine 1.5": ("retinaface-coarse", "centerface-fine1.5"),
    # the default's rule: finds down to half the threshold kept where both networks agree
    "ensemble, agreeing down to 0.05": ("retinaface-coarse@0.05", "centerface@0.05"),
}
AGREE = {"ensemble, agreeing down to 0.05": 0.05}
UPSCALED = 6  # wider-dev photos upscaled to 24 MP
TINY = (0.0, 0.005, 0.0075, 0.01, 0.015, 0.02)


def mosaic(folder: Path, truth: Path, grid: tuple[int, int], start: int, seed: int):
    """Photos of one data set side by side at their own size (rows padded to the widest),
    truth boxes moved with them; the photos are picked by a fixed seed."""
    items = read_truth(truth)
    rng = np.random.default_rng(seed)
    picked = rng.permutation(len(items))[start : start + grid[0] * grid[1]]
    rows, boxes, y = [], [], 0
    for r in range(grid[1]):
        row, x = [], 0
        for c in range(grid[0]):
            item = items[picked[r * grid[0] + c]]
            image = cv2.imread(str(folder / item.file), cv2.IMREAD_COLOR)
            row.append(image)
            boxes += [(bx + x, by + y, bw, bh) for bx, by, bw, bh in item.faces]
            x += image.shape[1]
        height = max(im.shape[0] for im in row)
        row = [
            cv2.copyMakeBorder(im, 0, height - im.shape[0], 0, 0, cv2.BORDER_REPLICATE)
            for im in row
        ]
        rows.append(np.hstack(row))
        y += height
    width = max(r.shape[1] for r in rows)
    rows = [cv2.copyMakeBorder(r, 0, 0, 0, width - r.shape[1], cv2.BORDER_REPLICATE) for r in rows]
    return np.vstack(rows), boxes


def photos(data: Path) -> list[tuple[str, Path | np.ndarray, list[tuple[float, ...]]]]:
    """(name, image or path, truth boxes) for every large photo measured."""
    out: list[tuple[str, Any, list[tuple[float, ...]]]] = []
    for name, kw in (
        ("corpus-2-12mp", {"count": 16, "seed": 11, "megapixels_range": (2.0, 12.0)}),
        ("corpus-24mp", {"count": 4, "seed": 12, "megapixels": 24.0}),
    ):
        folder = ROOT / "bench" / "corpus" / name
        if not (folder / "truth.json").exists():
            corpus.generate(folder, **kw)
        for item in read_truth(folder / "truth.json"):
            out.append((f"{name}/{item.file}", folder / "images" / item.file, list(item.faces)))
    wider, masks = data / "wider-dev", data / "masks-dev"
    for i in range(3):
        image, boxes = mosaic(wider / "images", wider / "truth.json", (4, 4), 16 * i, 1)
        out.append((f"wider-mosaic-4x4-{i}", image, boxes))
    for i in range(2):
        image, boxes = mosaic(wider / "images", wider / "truth.json", (6, 4), 48 + 24 * i, 2)
        out.append((f"wider-mosaic-6x4-{i}", image, boxes))
    for i in range(3):
        image, boxes = mosaic(
            masks / "images", masks / "truth.json", (10, 10), 100 * i % 200, 3 + i
        )
        out.append((f"masks-mosaic-10x10-{i}", image, boxes))
    for i, item in enumerate(read_truth(wider / "truth.json")[:: 100 // UPSCALED][:UPSCALED]):
        image = cv2.imread(str(wider / "images" / item.file), cv2.IMREAD_COLOR)
        k = 6000 / max(image.shape[:2])  # to about 24 MP, soft: what an upscaler hands over
        image = cv2.resize(image, None, fx=k, fy=k, interpolation=cv2.INTER_CUBIC)
        boxes = [tuple(v * k for v in b) for b in item.faces]
        out.append((f"upscaled-24mp-{i}", image, boxes))
    return out


def finds(photo: list, detectors: dict[str, Any]) -> dict[str, Any]:
    name, source, _ = photo
    key = CACHE / (name.replace("/", "_") + ".json")
    out: dict[str, Any] = json.loads(key.read_text()) if key.exists() else {"cpu": {}, "faces": {}}
    missing = {m: d for m, d in detectors.items() if m not in out["faces"]}
    if not missing:
        return out
    image = cv2.imread(str(source), cv2.IMREAD_COLOR) if isinstance(source, Path) else source
    out["size"] = [image.shape[1], image.shape[0]]
    for m, d in missing.items():
        t = time.process_time()
        faces = d.detect(image)
        out["cpu"][m] = time.process_time() - t
        out["faces"][m] = [[f.x, f.y, f.w, f.h, f.score] for f in faces]
    CACHE.mkdir(parents=True, exist_ok=True)
    key.write_text(json.dumps(out))
    return out


def route_faces(found: dict[str, Any], route: str, threshold: float, tiny: float) -> list[Face]:
    if route in MEMBERS:
        faces = [Face(*map(int, r[:4]), r[4]) for r in found["faces"][route]]
        return [f for f in faces if f.score >= threshold]
    finds: dict[str, list[Face]] = {}
    for m in ROUTES[route]:
        finds.setdefault(network(m), []).extend(
            Face(*map(int, r[:4]), r[4]) for r in found["faces"][m]
        )
    return merge(
        finds, *found["size"], threshold=threshold, tiny_share=tiny, agree=AGREE.get(route)
    )


def score(
    rows: list[tuple[list, dict]], route: str, threshold: float, tiny: float = TINY_SHARE
) -> dict[str, Any]:
    tp = n = false = kept_n = faces24 = found24 = 0
    mp = cpu = 0.0
    for (_, _, truth), found in rows:
        kept = [(f.x, f.y, f.w, f.h) for f in route_faces(found, route, threshold, tiny)]
        m = match(truth, kept, IOU)
        gone = set(m.misses)
        big = [j for j, b in enumerate(truth) if b[2] >= MIN_FACE]
        faces24 += len(big)
        found24 += sum(j not in gone for j in big)
        tp += m.tp
        kept_n += len(kept)
        false += len(kept) - m.tp
        n += 1
        w, h = found["size"]
        mp += w * h / 1e6
        members = ROUTES.get(route, (route,))
        cpu += sum(found["cpu"][k] for k in members)
    return {
        "photos": n,
        "finds": kept_n,
        "false": false,
        "precision": round(1 - false / max(1, kept_n), 3),
        "recall_24": round(found24 / max(1, faces24), 3),
        "faces_24": faces24,
        "cpu_ms_per_mp": round(1000 * cpu / mp, 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.precision", description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "precision.json")
    args = p.parse_args(argv)
    cv2.setNumThreads(1)
    options = DetectOptions(score_threshold=LOWEST)
    detectors: dict[str, Any] = {
        m: make_member(m.partition("@")[0], options)
        for m in MEMBERS
        if m != "centerface-fine1.5" and "@" not in m
    }
    for m in (m for m in MEMBERS if "@" in m):
        look, _, at = m.partition("@")
        detectors[m] = make_member(look, DetectOptions(score_threshold=float(at)))
    detectors["centerface-fine1.5"] = CenterFaceDetector(
        DetectOptions(detector="centerface", score_threshold=LOWEST), fine_factor=1.5
    )
    rows = []
    for photo in photos(args.data):
        rows.append((photo, finds(photo, detectors)))
        print(photo[0], file=sys.stderr, flush=True)
    groups = {
        "bench corpus 2-12 MP": [r for r in rows if r[0][0].startswith("corpus-2")],
        "bench corpus 24 MP": [r for r in rows if r[0][0].startswith("corpus-24")],
        "wider-dev mosaics 12-17 MP": [r for r in rows if r[0][0].startswith("wider")],
        "masks-dev mosaics 11 MP": [r for r in rows if r[0][0].startswith("masks")],
        "wider-dev upscaled to 24 MP": [r for r in rows if r[0][0].startswith("upscaled")],
    }
    default = PRIVACY_SCORES["ensemble"]
    routes = [
        ("retinaface @0.1 (the hiding default before)", "retinaface", 0.1, 0.0),
        ("centerface @0.2", "centerface", 0.2, 0.0),
        ("centerface @0.1", "centerface", 0.1, 0.0),
        ("ensemble @0.2", "ensemble", 0.2, 0.0),
        ("ensemble @0.3", "ensemble", 0.3, 0.0),
        *((f"{r} @{default}", r, default, 0.0) for r in ROUTES if r != "ensemble"),
    ]
    routes += [(f"ensemble @{default}, tiny {t}", "ensemble", default, t) for t in TINY]
    result = {
        g: {label: score(rs, route, thr, t) for label, route, thr, t in routes}
        for g, rs in groups.items()
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print("| route | " + " | ".join(f"{g}: precision / recall >=24 / finds" for g in groups) + " |")
    print("|---|" + "---:|" * len(groups))
    for label, *_ in routes:
        cells = [
            f"{result[g][label]['precision']:.3f} / {result[g][label]['recall_24']:.3f} / "
            f"{result[g][label]['finds']}"
            for g in groups
        ]
        print(f"| {label} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
