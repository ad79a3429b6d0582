"""Where a photo's time goes after detection, before and after block-local JPEG output.

    python -m bench.codec --corpus bench/corpus/real-wider [--count N] [--repeat 3]
        [--detector retinaface|none] [--mode blur] [--out bench/results-codec.json]

Per photo of a corpus (`images/` + `truth.json`, as bench.real writes), one thread, the best of
--repeat runs of each step (which removes most of the other processes' interference), as ms per
megapixel of the photo:
- decode: the full decode the job does today; look: the detector's 1,024-px look made by decode +
  resize against a reduced-scale decode (libjpeg's DCT scaling at 1/2, 1/4 or 1/8);
- detect: the default detector on the full decode (`--detector none` skips it);
- mask: hiding (or outlining) the annotated faces, so every photo has its real faces to hide;
- encode: `before` the full re-encode at quality 92, `after` the block-local write (the full
  encode where it refuses), with output size against the input's and the share of MCUs rewritten;
  encode_faceless: the same photo had it no face, `before` the lossless transform of every block,
  `after` the copy of its own scans without metadata (jpegblocks.stripped);
- thumbnail: `before` resizing the full image, `after` a reduced-scale decode of the output;
- write: the output bytes to a local file.
Both routes run on the same photo in the same process, one after the other, so load affects
both alike; the totals are medians over photos.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "spark"))

from dataproc_faces.detectors.base import shrink  # noqa: E402
from dataproc_faces.imaging.codec import THUMBNAIL_SIDE  # noqa: E402

STEPS = ("decode", "detect", "mask", "encode", "thumbnail", "write")


def best_ms(step: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """The fastest of `repeat` runs of `step`, in ms, and its last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = step()
        best = min(best, time.perf_counter() - started)
    return best * 1000, result


def look_flag(width: int, height: int, side: int = 1024) -> tuple[int, int]:
    """The largest DCT-scaling reduction whose decode is still at least `side` on its long side."""
    k = max((k for k in (1, 2, 4, 8) if max(width, height) / k >= side), default=1)
    flags = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4}
    return k, flags.get(k, cv2.IMREAD_REDUCED_COLOR_8)


def thumbnail_from_jpeg(
    encoded: bytes, width: int, height: int, side: int = THUMBNAIL_SIDE
) -> bytes:
    """The route the job does not take (measured slower than resizing the decoded image): a
    JPEG output's thumbnail decoded at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling), then
    resized to the size `thumbnail` gives."""
    reduce = max((k for k in (1, 2, 4, 8) if max(width, height) / k >= side), default=1)
    flag = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4}
    small = cv2.imdecode(
        np.frombuffer(encoded, dtype=np.uint8), flag.get(reduce, cv2.IMREAD_REDUCED_COLOR_8)
    )
    if small is None:
        raise ValueError("cannot decode the written JPEG for its thumbnail")
    scale = min(1.0, side / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if small.shape[1] != size[0] or small.shape[0] != size[1]:
        small = shrink(small, size)
    ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 80])
    if not ok:
        raise ValueError("OpenCV could not encode the thumbnail")
    return buf.tobytes()


def measure_photo(
    data: bytes, faces: list, detector: Any, mode: str, repeat: int, out_dir: Path
) -> dict[str, Any]:
    from dataproc_faces.imaging import jpegblocks
    from dataproc_faces.imaging.anonymise import anonymise_faces
    from dataproc_faces.imaging.codec import (
        decode,
        draw_outlines,
        encode,
        thumbnail,
    )
    from dataproc_faces.imaging.render import RenderOptions, reach

    render = RenderOptions(mode=mode)
    decode_ms, (header, image) = best_ms(lambda: decode(data), repeat)
    height, width = image.shape[:2]
    mp = width * height / 1e6
    k, flag = look_flag(width, height)
    scale = 1024 / max(width, height)
    size = (round(width * scale), round(height * scale))
    look_resize_ms, _ = best_ms(
        lambda: shrink(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), size),
        repeat,
    )
    look_reduced_ms, _ = best_ms(
        lambda: shrink(cv2.imdecode(np.frombuffer(data, np.uint8), flag), size), repeat
    )
    detect_ms = 0.0
    if detector is not None:
        detect_ms, _ = best_ms(lambda: detector.detect(image), 1)

    def mask() -> tuple[np.ndarray, list]:
        work = image.copy()
        regions = jpegblocks.snapshot(work, reach(faces, work, render))
        hide = render.anonymiser()
        if hide is not None:
            anonymise_faces(work, faces, hide)
        if mode in ("outline", "both"):
            draw_outlines(work, faces, render.color)
        return work, regions

    copy_ms, _ = best_ms(image.copy, repeat)
    mask_ms, (hidden, regions) = best_ms(mask, repeat)
    mask_ms = max(0.0, mask_ms - copy_ms)  # the copy is the bench's, not the job's
    before_ms, (before, _) = best_ms(lambda: encode(hidden, header.format), repeat)
    after_ms, written = best_ms(lambda: jpegblocks.write(data, hidden, regions), repeat)
    after = written.data or before
    # the same photo had it no face: the lossless transform of every block (before) against
    # the copy of its own scans without metadata (after)
    frame = jpegblocks.parse(data)
    faceless_before_ms, _ = best_ms(
        lambda: jpegblocks.transcode(data, {}, frame.progressive), repeat
    )
    faceless_after_ms, _ = best_ms(lambda: jpegblocks.stripped(data), repeat)
    thumb_before_ms, _ = best_ms(lambda: thumbnail(hidden), repeat)
    thumb_after_ms, _ = best_ms(lambda: thumbnail_from_jpeg(after, width, height), repeat)
    target = out_dir / "out.jpg"
    write_ms, _ = best_ms(lambda: target.write_bytes(after), repeat)
    per = {
        "decode": decode_ms / mp,
        "look_decode_resize": look_resize_ms / mp,
        "look_reduced_decode": look_reduced_ms / mp,
        "look_reduction": k,
        "detect": detect_ms / mp,
        "mask": mask_ms / mp,
        "encode_before": before_ms / mp,
        "encode_after": after_ms / mp,
        "encode_faceless_before": faceless_before_ms / mp,
        "encode_faceless_after": faceless_after_ms / mp,
        "thumbnail_before": thumb_before_ms / mp,
        "thumbnail_after": thumb_after_ms / mp,
        "write": write_ms / mp,
    }
    return {
        "megapixels": round(mp, 2),
        "faces": len(faces),
        "written": written.how,
        "mcus_rewritten_share": round(written.blocks / written.mcus, 4) if written.mcus else None,
        "size_before_vs_input": round(len(before) / len(data), 3),
        "size_after_vs_input": round(len(after) / len(data), 3),
        "ms_per_mp": {key: round(v, 2) if isinstance(v, float) else v for key, v in per.items()},
    }


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over photos, and the steps after detection added up both ways."""
    keys = [k for k in rows[0]["ms_per_mp"] if k != "look_reduction"]
    med = {k: round(statistics.median(r["ms_per_mp"][k] for r in rows), 2) for k in keys}
    tail = ("mask", "write")
    before = med["decode"] + sum(med[k] for k in tail) + med["encode_before"]
    before += med["thumbnail_before"]
    after = med["decode"] + sum(med[k] for k in tail) + med["encode_after"]
    after += med["thumbnail_after"]
    written: dict[str, int] = {}
    for r in rows:
        written[r["written"]] = written.get(r["written"], 0) + 1
    return {
        "photos": len(rows),
        "median_ms_per_mp": med,
        "codec_and_hiding_ms_per_mp": {"before": round(before, 2), "after": round(after, 2)},
        "median_size_vs_input": {
            "before": statistics.median(r["size_before_vs_input"] for r in rows),
            "after": statistics.median(r["size_after_vs_input"] for r in rows),
        },
        "median_mcus_rewritten_share": statistics.median(
            r["mcus_rewritten_share"] or 0 for r in rows
        ),
        "written": written,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--count", type=int)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--detector", default="retinaface", help="a detector name, or none")
    parser.add_argument("--mode", default="blur")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    from dataproc_faces.detectors.base import DetectOptions, Face, make_detector
    from dataproc_faces.evaluate import read_truth

    detector = None
    if args.detector != "none":
        detector = make_detector(DetectOptions(detector=args.detector))
    truth = read_truth(args.corpus / "truth.json")[: args.count]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for entry in truth:
            data = (args.corpus / "images" / entry.file).read_bytes()
            faces = [
                Face(round(x), round(y), round(w), round(h), 1.0) for x, y, w, h in entry.faces
            ]
            row = measure_photo(data, faces, detector, args.mode, args.repeat, Path(tmp))
            rows.append({"file": entry.file, **row})
            print(json.dumps(rows[-1]), flush=True)
    report = {
        "corpus": str(args.corpus),
        "mode": args.mode,
        **summarise(rows),
        "photos_detail": rows,
    }
    print(json.dumps({k: v for k, v in report.items() if k != "photos_detail"}, indent=1))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
