"""DNN detectors: absent or damaged weights, or no runtime, fail at start-up with one line."""

from __future__ import annotations

import importlib.resources

import pytest

from dataproc_faces.detectors.base import DetectOptions, DetectorError, make_detector
from dataproc_faces.detectors.centerface import CenterFaceDetector
from dataproc_faces.detectors.retinaface import RetinaFaceDetector
from dataproc_faces.detectors.weights import CENTERFACE, RETINAFACE, Weights

DETECTORS = [(RETINAFACE, RetinaFaceDetector), (CENTERFACE, CenterFaceDetector)]
IDS = [pinned.detector for pinned, _ in DETECTORS]


def packaged(pinned: Weights) -> bytes:
    """The fetched file; its absence is a failure (run `make models`), not a skip."""
    resource = importlib.resources.files("dataproc_faces").joinpath("models", pinned.file)
    if not resource.is_file():
        pytest.fail(f"{pinned.model} weights missing ({resource}): run make models")
    return resource.read_bytes()


@pytest.mark.parametrize(("pinned", "cls"), DETECTORS, ids=IDS)
def test_missing_weights_fail_at_construction(tmp_path, pinned, cls) -> None:
    with pytest.raises(DetectorError, match=f"cannot read {pinned.model} weights"):
        cls(DetectOptions(detector=pinned.detector), model_path=tmp_path / "none")


@pytest.mark.parametrize(("pinned", "cls"), DETECTORS, ids=IDS)
def test_packaged_weights_missing_says_run_make_models(monkeypatch, tmp_path, pinned, cls) -> None:
    class Nowhere:
        def joinpath(self, *parts: str):
            return tmp_path.joinpath(*parts)

    monkeypatch.setattr(importlib.resources, "files", lambda _pkg: Nowhere())
    with pytest.raises(DetectorError, match="make models"):
        make_detector(DetectOptions(detector=pinned.detector))


@pytest.mark.parametrize(("pinned", "cls"), DETECTORS, ids=IDS)
@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_corrupt_weights_fail_at_construction(tmp_path, pinned, cls, damage: str) -> None:
    data = packaged(pinned)
    bad = {"truncated": data[: len(data) // 2], "garbage": b"\x00" * 4096, "empty": b""}[damage]
    path = tmp_path / pinned.file
    path.write_bytes(bad)
    with pytest.raises(DetectorError, match="corrupt"):
        cls(DetectOptions(detector=pinned.detector), model_path=path)


@pytest.mark.parametrize(("pinned", "cls"), DETECTORS, ids=IDS)
def test_a_missing_runtime_fails_at_construction_with_one_line(monkeypatch, pinned, cls) -> None:
    import builtins

    real_import = builtins.__import__

    def no_openvino(name: str, *args, **kwargs):
        if name == "openvino" or name.startswith("openvino."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_openvino)
    with pytest.raises(
        DetectorError, match=f"the {pinned.model} detector needs OpenVINO"
    ) as caught:
        make_detector(DetectOptions(detector=pinned.detector))
    assert "\n" not in str(caught.value)
