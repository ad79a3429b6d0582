"""Write the int8 RetinaFace network (OpenVINO IR) that the package ships, from the pinned ONNX.

Post-training quantisation with NNCF, calibrated on the generated bench corpus (bench/corpus.py,
a fixed seed: pasted faces on procedural backgrounds from samples/), never on measuring data. The
network it writes takes BGR uint8 canvases (the mean and layout inside, as the detector runs it).
NNCF is needed only here, not by the job: `pip install -r requirements-quantize.txt -c
constraints.txt`. The result is committed with its hashes pinned in detectors/weights.py; rerun
this only when the source weights, the calibration or OpenVINO change, then update the pins.

Usage: python scripts/quantize_retinaface.py [--dest DIR] [--count 48] [--seed 24]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "spark"))
sys.path.insert(0, str(ROOT))

from dataproc_faces.detectors import retinaface, weights  # noqa: E402
from dataproc_faces.detectors.base import bounded_copy  # noqa: E402
from dataproc_faces.detectors.tiles import aligned  # noqa: E402

DEFAULT_DEST = ROOT / "spark" / "dataproc_faces" / "models"


def calibration_canvases(count: int, seed: int) -> list:
    """What the network sees in the job: each generated photo at most a tile, padded to ALIGN."""
    import cv2
    import numpy as np

    from bench.corpus import generate

    canvases = []
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp), count, seed, (0.5, 3.0), None)
        for path in sorted(Path(tmp, "images").iterdir()):
            image, _ = bounded_copy(cv2.imread(str(path)), retinaface.TILE)
            h, w = image.shape[:2]
            canvas = np.zeros((aligned(h), aligned(w), 3), np.uint8)
            canvas[:h, :w] = image
            canvases.append(canvas[np.newaxis])
    return canvases


def quantise(count: int, seed: int, preset: str = "mixed", keep_float: tuple[str, ...] = ()):
    """The int8 model (an openvino.Model) of the pinned RetinaFace weights; `keep_float`: regular
    expressions of layer names left in floating point."""
    import nncf
    import numpy as np
    import openvino as ov

    model = ov.Core().read_model(weights.load(weights.RETINAFACE), ov.Tensor(np.empty(0, np.uint8)))
    model = retinaface._pixels_in(model)
    data = calibration_canvases(count, seed)
    return nncf.quantize(
        model,
        nncf.Dataset(data),
        preset=nncf.QuantizationPreset(preset),
        subset_size=len(data),
        ignored_scope=nncf.IgnoredScope(patterns=list(keep_float)) if keep_float else None,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST)
    parser.add_argument("--count", type=int, default=48, help="calibration photos")
    parser.add_argument("--seed", type=int, default=24, help="the bench corpus's seed")
    parser.add_argument("--preset", choices=("performance", "mixed"), default="mixed")
    parser.add_argument("--keep-float", nargs="*", default=[], help="layer-name regexes")
    args = parser.parse_args(argv)
    import openvino as ov

    q = weights.RETINAFACE_INT8
    args.dest.mkdir(parents=True, exist_ok=True)
    model = quantise(args.count, args.seed, args.preset, tuple(args.keep_float))
    ov.save_model(model, args.dest / q.xml, compress_to_fp16=False)
    for name, pinned in ((q.xml, q.xml_sha256), (q.bin, q.bin_sha256)):
        digest = hashlib.sha256((args.dest / name).read_bytes()).hexdigest()
        print(f"{args.dest / name}: sha256 {digest} ({'pinned' if digest == pinned else 'NEW'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
