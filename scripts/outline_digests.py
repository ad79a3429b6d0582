"""SHA-256 of each outlined sample as `run` (defaults, --mode outline) would write it.

Run it from two checkouts and compare the output: outline's images must not change when only the
hiding modes' detector does.

    PYTHONPATH=spark:. python scripts/outline_digests.py samples > digests.txt
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from dataproc_faces.cli import build_parser, detect_options_from_args
from dataproc_faces.detectors.base import make_detector
from dataproc_faces.imaging.render import RenderOptions, outline


def main(folder: str) -> int:
    args = build_parser().parse_args(["run", "--output", "unused", "--mode", "outline"])
    detect = detect_options_from_args(args)
    detector = make_detector(detect)
    print(f"# {detect.detector} {detect.score()}")
    for path in sorted(Path(folder).iterdir()):
        result = outline(path.read_bytes(), detector, RenderOptions(mode="outline"))
        faces = len(result.faces)
        print(f"{path.name} {faces} {hashlib.sha256(result.data).hexdigest()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
