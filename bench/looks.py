"""Decoding only what a look needs, and skipping the tiles the coarse look settles: measured.

    python -m bench.looks --corpus bench/corpus/real-wider [--count N] [--repeat 3]
        [--settle 0.01 0.02 0.05 0.1] [--out bench/results-looks.json]

Per photo of a corpus (`images/` + `truth.json`), one thread, the best of --repeat runs of each
decode, as ms per megapixel of the photo:
- full: the job's decode (OpenCV, every pixel); look_resize: full decode + the bounded copy
  (`shrink` to 1,024 px), as the detector makes its coarse look today; look_reduced: a DCT-scaled
  decode at 1/2, 1/4 or 1/8 (the largest still >= 1,024 px) + the same shrink;
- tiles_cropped: every finer tile of RetinaFace's plan decoded on its own (a lossless crop of its
  MCUs, then a decode; jpegdecode.decode_region), summed; faces_cropped: only the rectangles the
  annotated faces' hiding would change (render.reach), the pixels block-local writing needs.
Then RetinaFace's looks as the job runs them (default options), with its coarse look's candidates
kept down to 0.01: for each --settle S, the tiles in which the coarse look has no candidate scoring
at least S are skipped (not decoded, not looked at), and the photo's faces are what the remaining
looks find (the job's merge: large-box rule, NMS). Reported: the share of tiles looked at, the
detector's CPU ms per megapixel (coarse look + tiles looked at) and recall by face width at IoU 0.5
and 0.3 against the route that looks at every tile.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "spark"))

from bench import jpegdecode  # noqa: E402
from bench.codec import best_ms  # noqa: E402
from dataproc_faces.detectors import retinaface as rf  # noqa: E402
from dataproc_faces.detectors.base import (  # noqa: E402
    DetectOptions,
    Face,
    bounded_copy,
    nms,
    shrink,
    to_faces,
)
from dataproc_faces.detectors.tiles import EDGE_MARGIN, owned, plan_tiles  # noqa: E402
from dataproc_faces.evaluate import match, read_truth, size_bucket  # noqa: E402
from dataproc_faces.imaging.codec import decode  # noqa: E402
from dataproc_faces.imaging.render import RenderOptions, reach  # noqa: E402

HINT_FLOOR = 0.01  # the coarse look's candidates kept as hints down to this score
IOUS = (0.5, 0.3)


def reduction(width: int, height: int, side: int = 1024) -> int:
    """The largest DCT-scaling reduction whose decode is still at least `side` on its long side."""
    return max((k for k in (1, 2, 4, 8) if max(width, height) / k >= side), default=1)


def tile_plan(width: int, height: int, options: DetectOptions) -> tuple[float, list, float]:
    """(scale of the coarse copy, tiles (x, y, w, h) of the finer look in full pixels, own px),
    as RetinaFaceDetector.detect plans them; no tiles for photos it sees whole."""
    if max(width, height) <= rf.TILE:
        return 1.0, [], 0.0
    scale = min(options.detect_max_side or rf.TILE, rf.TILE) / max(width, height)
    fine = rf.fine_scale(options.min_size)
    if not (fine > scale and options.min_size < rf.OWN_PX / scale):
        return scale, [], 0.0
    own = rf.OWN_PX / scale * fine
    overlap = math.ceil(own * 1.25 + 2 * EDGE_MARGIN)
    sw, sh = round(width * fine), round(height * fine)
    tw, th, xs, ys = plan_tiles(sw, sh, overlap, rf.TILE)
    tiles = [(x / fine, y / fine, tw / fine, th / fine) for y in ys for x in xs]
    return scale, tiles, own


def decode_times(data: bytes, faces: list[Face], repeat: int) -> dict[str, float]:
    """ms of each way of getting the pixels a look or the writer needs."""
    full_ms, (_, image) = best_ms(lambda: decode(data), repeat)
    height, width = image.shape[:2]
    _, tiles, _ = tile_plan(width, height, DetectOptions())
    k_look = min(1.0, 1024 / max(width, height))
    size = (round(width * k_look), round(height * k_look))
    k = reduction(width, height)
    resize_ms, _ = best_ms(lambda: shrink(image, size), repeat)
    reduced_ms, _ = best_ms(lambda: shrink(jpegdecode.decode(data, k), size), repeat)

    def regions(rects: list[tuple[int, int, int, int]]) -> None:
        for x0, y0, x1, y1 in rects:
            jpegdecode.decode_region(data, x0, y0, x1, y1)

    tile_rects = [(int(x), int(y), int(x + w), int(y + h)) for x, y, w, h in tiles]
    tiles_ms, _ = best_ms(lambda: regions(tile_rects), repeat) if tiles else (0.0, None)
    face_rects = reach(faces, image, RenderOptions(mode="blur"))
    faces_ms, _ = best_ms(lambda: regions(face_rects), repeat)
    tiles_once_ms, _ = (
        best_ms(lambda: jpegdecode.decode_regions(data, tile_rects), repeat) if tiles else (0.0, 0)
    )
    faces_once_ms, _ = best_ms(lambda: jpegdecode.decode_regions(data, face_rects), repeat)
    return {
        "full": full_ms,
        "look_resize": full_ms + resize_ms,
        "look_reduced": reduced_ms,
        "reduction": k,
        "tiles": len(tiles),
        "tiles_cropped": tiles_ms,
        "tiles_cropped_once": tiles_once_ms,
        "faces_cropped": faces_ms,
        "faces_cropped_once": faces_once_ms,
    }


def looks(det: rf.RetinaFaceDetector, image: np.ndarray) -> dict[str, Any]:
    """The coarse look (candidates down to HINT_FLOOR) and each tile's owned finds, full pixels,
    with the CPU ms of each look."""
    o = det._options
    height, width = image.shape[:2]
    scale, tiles, own = tile_plan(width, height, o)
    threshold = det._threshold
    started = time.process_time()
    if not tiles and max(height, width) <= rf.TILE:
        boxes, scores = det._look(image)
        return {"coarse": (boxes, scores), "coarse_ms": (time.process_time() - started) * 1000,
                "tiles": []}  # fmt: skip
    saved = rf.CANDIDATES
    rf.CANDIDATES, det._threshold = HINT_FLOOR, HINT_FLOOR
    try:
        small, scale = bounded_copy(image, min(o.detect_max_side or rf.TILE, rf.TILE))
        boxes, scores = det._look(small)
    finally:
        rf.CANDIDATES, det._threshold = saved, threshold
    coarse_ms = (time.process_time() - started) * 1000
    out = []
    fine = rf.fine_scale(o.min_size)
    source = image if fine >= 1 else shrink(image, (round(width * fine), round(height * fine)))
    sh, sw = source.shape[:2]
    levels = det.tile_levels(own)
    for x, y, w, h in tiles:
        sx, sy, tw, th = round(x * fine), round(y * fine), round(w * fine), round(h * fine)
        started = time.process_time()
        b, s = det._look(source[sy : sy + th, sx : sx + tw], (th, tw), levels=levels)
        keep = owned(b, sx, sy, tw, th, sw, sh, own)
        ms = (time.process_time() - started) * 1000
        found = (b[keep] + np.float32([sx, sy, sx, sy])) / fine
        out.append({"rect": (x, y, w, h), "boxes": found, "scores": s[keep], "ms": ms})
    return {"coarse": (boxes / scale, scores), "coarse_ms": coarse_ms, "tiles": out}


def merged(seen: dict[str, Any], settle: float | None, options: DetectOptions, w: int, h: int):
    """The photo's faces from the coarse look and the tiles not skipped at `settle`, as the
    detector merges them; and (tiles looked at, their CPU ms)."""
    threshold = options.score()
    cb, cs = seen["coarse"]
    parts_b, parts_s = [cb[cs >= threshold]], [cs[cs >= threshold]]
    looked, ms = 0, seen["coarse_ms"]
    centres = np.stack([(cb[:, 0] + cb[:, 2]) / 2, (cb[:, 1] + cb[:, 3]) / 2], axis=1)
    for tile in seen["tiles"]:
        x, y, tw, th = tile["rect"]
        if settle is not None:
            hinted = (cs >= settle) & (centres[:, 0] >= x) & (centres[:, 0] < x + tw)
            hinted &= (centres[:, 1] >= y) & (centres[:, 1] < y + th)
            if not hinted.any():
                continue
        looked += 1
        ms += tile["ms"]
        b, s = tile["boxes"], tile["scores"]
        parts_b.append(b[s >= threshold])
        parts_s.append(s[s >= threshold])
    boxes, scores = np.concatenate(parts_b), np.concatenate(parts_s)
    side = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    sure = (side < rf.BIG_SHARE * max(h, w)) | (scores >= max(rf.BIG_SCORE, threshold))
    boxes, scores = boxes[sure], scores[sure]
    keep = nms(boxes, scores, rf.NMS_IOU)
    return to_faces(boxes[keep], scores[keep], 1.0, w, h, options), looked, ms


def _width(kv: tuple[str, Any]) -> float:
    """A width bucket's lower edge, to sort "16-24" before "256+"."""
    return float(kv[0].split("-")[0].rstrip("+"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", type=Path, required=True)
    p.add_argument("--count", type=int)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--settle", type=float, nargs="*", default=[0.01, 0.02, 0.05, 0.1])
    p.add_argument("--no-decode", action="store_true", help="skip the decode timings")
    p.add_argument("--decode-only", action="store_true", help="skip the detector's looks")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    cv2.setNumThreads(1)
    options = DetectOptions()
    det = rf.RetinaFaceDetector(options)
    truth = read_truth(args.corpus / "truth.json")[: args.count]
    routes: list[float | None] = [None, *args.settle]
    per_route = {str(r): {"looked": 0, "ms": 0.0, "found": {}, "matches": {}} for r in routes}
    decodes, megapixels, tiles_total = [], 0.0, 0
    for item in truth:
        data = (args.corpus / "images" / item.file).read_bytes()
        _, image = decode(data)
        h, w = image.shape[:2]
        mp = w * h / 1e6
        megapixels += mp
        faces = [Face(round(x), round(y), round(fw), round(fh)) for x, y, fw, fh in item.faces]
        if not args.no_decode:
            times = decode_times(data, faces, args.repeat)
            decodes.append({k: (v / mp if k not in ("reduction", "tiles") else v)
                            for k, v in times.items()})  # fmt: skip
        if args.decode_only:
            print(item.file, f"{mp:.1f} MP", json.dumps(decodes[-1]), flush=True)
            continue
        seen = looks(det, image)
        tiles_total += len(seen["tiles"])
        for r in routes:
            found, looked, ms = merged(seen, r, options, w, h)
            entry = per_route[str(r)]
            entry["looked"] += looked
            entry["ms"] += ms
            boxes = [(f.x, f.y, f.w, f.h) for f in found]
            for iou in IOUS:
                m = match(item.faces, boxes, iou, item.ignore)
                buckets = entry["matches"].setdefault(str(iou), {})
                missed = set(m.misses)
                for i, face in enumerate(item.faces):
                    b = buckets.setdefault(size_bucket(face[2]), [0, 0])
                    b[0] += i not in missed
                    b[1] += 1
                entry["found"].setdefault(str(iou), [0, 0])
                entry["found"][str(iou)][0] += len(m.pairs)
                entry["found"][str(iou)][1] += len(m.false)
        print(item.file, f"{mp:.1f} MP", len(seen["tiles"]), "tiles", flush=True)
    report: dict[str, Any] = {"corpus": str(args.corpus), "photos": len(truth),
                              "megapixels": round(megapixels, 1), "tiles": tiles_total}  # fmt: skip
    if decodes:
        keys = [k for k in decodes[0] if k not in ("reduction", "tiles")]
        report["decode_median_ms_per_mp"] = {
            k: round(statistics.median(d[k] for d in decodes), 2) for k in keys
        }
    faces_total = sum(len(t.faces) for t in truth)
    table = {}
    for r in [] if args.decode_only else routes:
        e = per_route[str(r)]
        row = {
            "tiles_looked_share": round(e["looked"] / tiles_total, 3) if tiles_total else None,
            "detect_cpu_ms_per_mp": round(e["ms"] / megapixels, 2),
        }
        for iou in IOUS:
            tp, fp = e["found"][str(iou)]
            row[f"recall@{iou}"] = round(tp / faces_total, 4) if faces_total else 1.0
            row[f"precision@{iou}"] = round(tp / (tp + fp), 4) if tp + fp else 1.0
            row[f"by_width@{iou}"] = dict(sorted(e["matches"][str(iou)].items(), key=_width))
        table["every tile" if r is None else f"settle {r}"] = row
    report["routes"] = table
    print(json.dumps({k: v for k, v in report.items() if k != "routes"}))
    for name, row in table.items():
        print(name, json.dumps(row))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
