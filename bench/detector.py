"""Detection cost per megapixel and recall by network precision and tile plan.

    python -m bench.detector --data ../shared/data [--routes int8,bf16,fp32] [--isa NAME]

Each route is the default detector (RetinaFace) built one way: `before` (as it was before these
routes: numpy preprocessing, OpenVINO's own precision), `auto` (as the job builds it now),
`int8` (the shipped quantised network), `bf16` / `fp32` (the ONNX file at that precision),
optionally with `+full` (full-resolution tiles whatever the minimum face size: the plan before
retinaface.fine_scale), `+tile32` (finer tiles with every level, stride 32 too: before
retinaface.TILE_LEVELS) and `+tile=PX` (photos up to PX seen whole, larger ones in tiles of about
PX: retinaface.TILE). For each route:
- CPU ms per megapixel of the input photo, one thread, detection only, on a generated corpus of
  2-12 MP photos (bench/corpus.py, fixed seed; the best of --repeat runs per photo, which removes
  other processes' interference), with recall / precision at IoU 0.5 there;
- recall / precision at IoU 0.3 and ms/MP on the measuring sets under --data: wider-dev and
  masks-dev (faces at least 32 px wide count; smaller ones are neither missed nor false when
  found) and faces-dev (every face). These are photos of at most 1,024 px, seen whole.

`--isa NAME` restarts the process with ONEDNN_MAX_CPU_ISA=NAME, so OpenVINO's kernels use only
that instruction set (AVX512_CORE_VNNI: the n2 workers' Cascade Lake / Ice Lake, no bf16), and
runs every network not asked for bf16 at fp32, as OpenVINO does by itself on such CPUs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "spark"))

ISA_VAR = "ONEDNN_MAX_CPU_ISA"
SETS = (("wider-dev", "truth.json", 32), ("masks-dev", "truth.json", 32), ("faces-dev", "", 0))
TIMING = {"count": 48, "seed": 7, "megapixels_range": (2.0, 12.0)}
SHIPPED: dict[str, int] = {}  # retinaface.TILE as shipped, kept before a `+tile=PX` route


def build(route: str, options: Any) -> tuple[Any, int]:
    """The detector a route names (precision[+full][+tile32][+tile=PX]) and the tile side it runs
    with."""
    from dataproc_faces.detectors import retinaface

    precision, *plans = route.split("+")
    shipped = SHIPPED.setdefault("tile", retinaface.TILE)
    sides = [int(p.split("=")[1]) for p in plans if p.startswith("tile=")]
    if precision == "before":
        return before(options), shipped
    chosen = None if precision == "auto" else precision
    detector = retinaface.RetinaFaceDetector(
        options,
        precision=chosen,
        min_size_plan="full" not in plans,
        tile_levels="tile32" not in plans,
    )
    return detector, sides[0] if sides else shipped


def before(options: Any) -> Any:
    """The default detector as it was before this benchmark's routes: the ONNX file at OpenVINO's
    own precision, float conversion and mean in numpy, full-resolution tiles."""
    import numpy as np

    from dataproc_faces.detectors import openvino_cpu, retinaface, weights

    class NumpyPixels(retinaface.RetinaFaceDetector):
        raw = False  # the start-up check runs on the pixels-in network it replaces

        def __init__(self) -> None:
            super().__init__(options, precision="fp32", min_size_plan=False, tile_levels=False)
            self.raw = True
            model = weights.load(weights.RETINAFACE)
            compiled, self.runtime = openvino_cpu.compile_on_cpu(model, "RetinaFace")
            self._raw = compiled.create_infer_request(), *map(compiled.output, ("loc", "conf"))

        def _forward(
            self, canvas: np.ndarray, levels: tuple[int, ...] = retinaface.LEVELS
        ) -> tuple[np.ndarray, np.ndarray]:
            if not self.raw:
                return super()._forward(canvas, levels)
            request, loc, conf = self._raw
            blob = (canvas.astype(np.float32) - retinaface.MEAN_BGR).transpose(2, 0, 1)
            out = request.infer({0: blob[np.newaxis]})
            return out[loc][0], out[conf][0]

    return NumpyPixels()


def detect(built: tuple[Any, int], image: Any) -> list[Any]:
    """One route's faces: its tile side is the module's while it runs."""
    from dataproc_faces.detectors import retinaface

    detector, retinaface.TILE = built
    try:
        return detector.detect(image)
    finally:
        retinaface.TILE = SHIPPED["tile"]


def timing_corpus(folder: Path) -> Path:
    """The generated 2-12 MP photos, made once (the same seed gives the same bytes)."""
    from bench.corpus import generate

    if not (folder / "truth.json").is_file():
        generate(folder, TIMING["count"], TIMING["seed"], TIMING["megapixels_range"], None)
    return folder


def on_large_photos(
    routes: list[str], corpus: Path, repeat: int, min_size: int
) -> dict[str, dict[str, Any]]:
    """ms/MP and IoU-0.5 scores on the generated corpus, per route. The routes take turns on
    each photo (best of `repeat` each), so other processes' load weighs on all of them alike."""
    import cv2

    from dataproc_faces.detectors.base import DetectOptions
    from dataproc_faces.evaluate import match, read_truth, scores

    built = {route: build(route, DetectOptions(min_size=min_size)) for route in routes}
    cpu = dict.fromkeys(routes, 0.0)
    matches: dict[str, list[Any]] = {route: [] for route in routes}
    megapixels = 0.0
    for item in read_truth(corpus / "truth.json"):
        image = cv2.imread(str(corpus / "images" / item.file))
        megapixels += image.shape[0] * image.shape[1] / 1e6
        truth = [f for f in item.faces if f[2] >= min_size]
        ignore = item.ignore + [f for f in item.faces if f[2] < min_size]
        best = dict.fromkeys(routes, float("inf"))
        faces = {}
        for _ in range(repeat):
            for route in routes:
                start = time.thread_time()
                faces[route] = detect(built[route], image)
                best[route] = min(best[route], time.thread_time() - start)
        for route in routes:
            cpu[route] += best[route]
            found = [(f.x, f.y, f.w, f.h) for f in faces[route]]
            matches[route].append(match(truth, found, 0.5, ignore))
    results = {}
    for route in routes:
        s = scores(matches[route])
        results[route] = {
            "ms_per_mp": round(cpu[route] * 1000 / megapixels, 1),
            "recall": round(s.recall, 4),
            "precision": round(s.precision, 4),
            "runtime": built[route][0].runtime,
            "megapixels": round(megapixels, 1),
        }
    return results


def on_dev_set(route: str, folder: Path, truth_name: str, min_face: int) -> dict[str, Any]:
    """IoU-0.3 recall / precision and ms/MP from `dataproc-faces eval`'s own scoring."""
    from dataproc_faces import evaluate
    from dataproc_faces.detectors.base import DetectOptions

    images = folder / "images" if (folder / "images").is_dir() else folder
    truth_file = folder / truth_name if truth_name else next(folder.glob("*.xml"))
    options = DetectOptions()
    made = evaluate.make_detector
    built = build(route, options)
    if built[1] != SHIPPED["tile"]:
        raise SystemExit(
            f"{route}: +tile routes are for the generated corpus (dev photos <= 1,024 px)"
        )
    evaluate.make_detector = lambda _o: built[0]  # the route's network, eval's scoring
    try:
        result = evaluate.evaluate(images, evaluate.read_truth(truth_file), options, min_face)
    finally:
        evaluate.make_detector = made
    s = result["scores"]["iou0.3"]
    return {
        "recall": s["recall"],
        "precision": s["precision"],
        "ms_per_mp": result["cpu_ms_per_megapixel"],
    }


def measure(routes: list[str], args: argparse.Namespace) -> list[dict[str, Any]]:
    """One row per route: the generated corpus at each minimum size, then the measuring sets."""
    rows = [{"route": r, "isa": os.environ.get(ISA_VAR, "native")} for r in routes]
    corpus = timing_corpus(args.corpus)
    for min_size in args.min_sizes:
        found = on_large_photos(routes, corpus, args.repeat, min_size)
        for row in rows:
            row[f"large_min{min_size}"] = found[row["route"]]
    for row in rows:
        for name, truth, min_face in SETS if args.data else ():
            if (args.data / name).is_dir():
                row[name] = on_dev_set(row["route"], args.data / name, truth, min_face)
    return rows


def fmt(row: dict[str, Any]) -> str:
    cells = [row["route"], row["isa"]]
    for key, value in row.items():
        if isinstance(value, dict):
            ms, r, p = value["ms_per_mp"], value["recall"], value["precision"]
            cells.append(f"{key}: {ms} ms/MP R {r} P {p}")
    return " | ".join(cells)


def force_fp32() -> None:
    """Networks not asked for a precision run fp32, as OpenVINO picks on CPUs without bf16."""
    from dataproc_faces.detectors import openvino_cpu

    openvino_cpu.CONFIG["INFERENCE_PRECISION_HINT"] = "f32"
    openvino_cpu.cpu_has_bf16 = lambda: False


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.detector", description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, help="folder holding wider-dev, masks-dev, faces-dev")
    p.add_argument("--routes", default="int8,bf16,fp32")
    p.add_argument("--isa", help=f"restart with {ISA_VAR} set to this (e.g. AVX512_CORE_VNNI)")
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--min-sizes", type=int, nargs="+", default=[20], help="DetectOptions.min_size")
    p.add_argument("--corpus", type=Path, default=ROOT / "bench" / "corpus" / "detector-timing")
    p.add_argument("--json", type=Path, help="append one JSON line per route here")
    args = p.parse_args(argv)
    if args.isa and os.environ.get(ISA_VAR) != args.isa:
        os.environ[ISA_VAR] = args.isa  # read once, when OpenVINO's CPU plugin loads
        os.execv(sys.executable, [sys.executable, "-m", "bench.detector", *sys.argv[1:]])
    if args.isa:
        force_fp32()
    import cv2

    cv2.setNumThreads(1)  # as in the job's workers
    for row in measure(args.routes.split(","), args):
        print(fmt(row), flush=True)
        if args.json:
            with args.json.open("a") as out:
                out.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
