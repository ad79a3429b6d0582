"""A corpus of real annotated photos scaled to camera sizes, for `make bench-real`.

    python -m bench.real --from ../shared/data/wider-dev --out bench/corpus/real-wider
        [--megapixels-range 4 10] [--seed 0] [--count N]

Each photo of the annotated set (`images/` + `truth.json`, or any truth file `dataproc-faces
eval` reads) is scaled up (cubic) to a size drawn from the range and written as a JPEG at
quality 92 with its face boxes scaled alike, in the layout `bench.run --corpus` takes. Real
crowds, masks and small faces keep what they are: only their pixel count changes, so the lab's
method and the job meet photos as large as a camera's. The photos stay on this machine (the
data sets are for measuring, not for shipping): the corpus is written under bench/corpus/,
which git ignores.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "spark"))


def _truth_file(source: Path) -> Path:
    for name in ("truth.json", "faces.xml"):
        if (source / name).exists():
            return source / name
    raise SystemExit(f"{source}: no truth.json or faces.xml (an annotated set is needed)")


def _images_dir(source: Path) -> Path:
    return source / "images" if (source / "images").is_dir() else source


def _box(b: tuple[float, ...], k: float, ignore: bool = False) -> dict:
    """A truth box scaled by `k`, in truth.json's form."""
    scaled = {
        "x": round(b[0] * k),
        "y": round(b[1] * k),
        "w": round(b[2] * k),
        "h": round(b[3] * k),
    }
    return {**scaled, "ignore": True} if ignore else scaled


def scaled_corpus(
    source: Path, out: Path, mp_range: tuple[float, float], seed: int, count: int | None
) -> dict:
    """Writes OUT/images/*.jpg and OUT/truth.json; returns the corpus description."""
    from dataproc_faces.evaluate import read_truth

    truth = read_truth(_truth_file(source))[:count]
    rng = random.Random(seed)
    (out / "images").mkdir(parents=True, exist_ok=True)
    entries, total_mp, sides = [], 0.0, []
    for item in truth:
        photo = cv2.imread(str(_images_dir(source) / item.file), cv2.IMREAD_COLOR)
        if photo is None:
            raise SystemExit(f"{item.file}: cannot read")
        h, w = photo.shape[:2]
        k = math.sqrt(rng.uniform(*mp_range) * 1e6 / (w * h))
        big = cv2.resize(photo, (round(w * k), round(h * k)), interpolation=cv2.INTER_CUBIC)
        name = Path(item.file).with_suffix(".jpg").name
        cv2.imwrite(str(out / "images" / name), big, [cv2.IMWRITE_JPEG_QUALITY, 92])

        faces = [_box(b, k) for b in item.faces] + [_box(b, k, True) for b in item.ignore]
        sides += [f["w"] for f in faces if not f.get("ignore")]
        entries.append(
            {"file": name, "width": big.shape[1], "height": big.shape[0], "faces": faces}
        )
        total_mp += big.shape[0] * big.shape[1] / 1e6
    (out / "truth.json").write_text(json.dumps({"images": entries}, indent=1) + "\n")
    description = {
        "name": out.name,
        "from": source.name,
        "seed": seed,
        "count": len(entries),
        "megapixels_range": list(mp_range),
        "mean_megapixels": round(total_mp / max(1, len(entries)), 2),
        "faces": len(sides),
        "face_side_px": {"min": min(sides, default=0), "max": max(sides, default=0)},
    }
    (out / "corpus.json").write_text(json.dumps(description, indent=2) + "\n")
    return description


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.real", description=__doc__.split("\n")[0])
    p.add_argument("--from", dest="source", type=Path, required=True, help="an annotated set")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--megapixels-range", type=float, nargs=2, default=(4.0, 10.0))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--count", type=int, help="the first N photos only")
    args = p.parse_args(argv)
    if not args.source.is_dir():
        raise SystemExit(f"{args.source}: no such folder (give an annotated set with --from)")
    desc = scaled_corpus(args.source, args.out, tuple(args.megapixels_range), args.seed, args.count)
    print(json.dumps(desc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
