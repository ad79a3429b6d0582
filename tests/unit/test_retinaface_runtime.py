"""RetinaFace's network as it is loaded: pixels in, the int8 network where the CPU lacks bf16,
fallbacks when it is absent or damaged, and the finer look's scale for a minimum face size."""

from __future__ import annotations

import importlib.resources
import shutil
from pathlib import Path

import numpy as np
import pytest

from dataproc_faces.detectors import openvino_cpu, retinaface, weights
from dataproc_faces.detectors.base import DetectOptions, DetectorError
from dataproc_faces.detectors.retinaface import RetinaFaceDetector, fine_scale
from tests.unit.facegen import assert_found, canvas_with_faces, read_sample
from tests.unit.test_retinaface import level_rows
from tests.unit.test_weights import packaged

MODELS = Path(str(importlib.resources.files("dataproc_faces").joinpath("models")))
INT8 = weights.RETINAFACE_INT8


@pytest.fixture(scope="module")
def fetched() -> None:
    packaged(weights.RETINAFACE)  # fetched by `make models`; absent is a failure, not a skip


def packaged_as(monkeypatch, folder: Path) -> None:
    """The package's models folder is `folder` (a copy with files left out or damaged)."""

    class Package:
        def joinpath(self, *parts: str):
            return folder.parent.joinpath(*parts)

    monkeypatch.setattr(importlib.resources, "files", lambda _pkg: Package())


def models_copy(tmp_path: Path, *names: str) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    for name in names:
        shutil.copy(MODELS / name, folder / name)
    return folder


def test_the_int8_network_is_committed_with_its_pinned_hashes() -> None:
    xml, bin_ = weights.load_quantised(INT8, required=True)
    assert xml.startswith(b"<?xml") and len(bin_) > 100_000


@pytest.mark.parametrize(("has_bf16", "expected"), [(True, "bf16"), (False, "int8")])
def test_int8_runs_only_where_openvino_would_run_fp32(
    fetched, monkeypatch, has_bf16: bool, expected: str
) -> None:
    if has_bf16 and not openvino_cpu.cpu_has_bf16():
        expected = "fp32"  # a CPU without bf16 cannot be made to have it
    monkeypatch.setattr(openvino_cpu, "cpu_has_bf16", lambda: has_bf16)
    detector = RetinaFaceDetector(DetectOptions())
    assert detector.runtime.split()[-1] == expected


def test_without_the_int8_network_the_onnx_file_runs_at_openvinos_choice(
    fetched, monkeypatch, tmp_path
) -> None:
    own_choice = "bf16" if openvino_cpu.cpu_has_bf16() else "fp32"  # this CPU's, not the stub's
    packaged_as(monkeypatch, models_copy(tmp_path, weights.RETINAFACE.file))
    monkeypatch.setattr(openvino_cpu, "cpu_has_bf16", lambda: False)
    assert RetinaFaceDetector(DetectOptions()).runtime.split()[-1] == own_choice
    with pytest.raises(DetectorError, match=r"RetinaFace int8 network not found .*quantize"):
        RetinaFaceDetector(DetectOptions(), precision="int8")


def test_a_damaged_int8_network_stops_the_start_with_one_line(
    fetched, monkeypatch, tmp_path
) -> None:
    folder = models_copy(tmp_path, weights.RETINAFACE.file, INT8.xml, INT8.bin)
    (folder / INT8.bin).write_bytes((folder / INT8.bin).read_bytes()[:-10])
    packaged_as(monkeypatch, folder)
    monkeypatch.setattr(openvino_cpu, "cpu_has_bf16", lambda: False)
    with pytest.raises(DetectorError, match=r"RetinaFace int8 file .*bin is corrupt") as caught:
        RetinaFaceDetector(DetectOptions())
    assert "\n" not in str(caught.value)


def test_an_unknown_precision_is_refused(fetched) -> None:
    with pytest.raises(DetectorError, match="unknown precision 'fp16'"):
        RetinaFaceDetector(DetectOptions(), precision="fp16")


def test_pixels_in_give_the_maps_numpy_preprocessing_gave(fetched) -> None:
    """The mean (B, G, R order), the float conversion and the layout inside the network give the
    same outputs as the numpy preprocessing did, at fp32."""
    image = read_sample("astronaut.png")[:256, :320]
    inside = RetinaFaceDetector(DetectOptions(), precision="fp32")
    loc, conf = inside._forward(image)
    compiled, _ = openvino_cpu.compile_on_cpu(
        weights.load(weights.RETINAFACE), "RetinaFace", hint="f32"
    )
    blob = (image.astype(np.float32) - retinaface.MEAN_BGR).transpose(2, 0, 1)[np.newaxis]
    out = compiled.create_infer_request().infer({0: blob})
    assert np.abs(loc - out[compiled.output("loc")][0]).max() < 1e-3
    assert np.abs(conf - out[compiled.output("conf")][0]).max() < 1e-4
    assert conf[:, 1].max() > 0.99  # the astronaut's face is in the crop


def test_pixels_input_refuses_outputs_the_model_lacks(fetched) -> None:
    import openvino as ov

    model = ov.Core().read_model(weights.load(weights.RETINAFACE), ov.Tensor(np.empty(0, np.uint8)))
    with pytest.raises(DetectorError, match="no outputs"):
        openvino_cpu.pixels_input(model, (0.0, 0.0, 0.0), ("loc", "scores"))


@pytest.mark.parametrize(
    ("min_size", "scale"), [(1, 1.0), (20, 1.0), (32, 1.0), (48, 2 / 3), (64, 0.5), (128, 0.25)]
)
def test_the_finer_look_sees_a_minimum_size_face_at_32_px(min_size: int, scale: float) -> None:
    assert fine_scale(min_size) == pytest.approx(scale)


class NoNetwork:
    """Stands in for the compiled network: the plan is under test, not the weights."""

    def create_infer_request(self) -> None:
        return None

    def output(self, name: str) -> str:
        return name


class Counting(RetinaFaceDetector):
    """The real plan over a network that finds nothing: records the size of every look."""

    def __init__(self, monkeypatch, options: DetectOptions, **kwargs) -> None:
        self.seen: list[tuple[int, int]] = []
        self.levels: list[tuple[int, ...]] = []
        monkeypatch.setattr(retinaface, "load_network", lambda *_: (NoNetwork(), "none"))
        super().__init__(options, **kwargs)
        self.seen, self.levels = [], []  # not the start-up check's

    def _forward(self, canvas: np.ndarray, levels=retinaface.LEVELS):
        self.seen.append(canvas.shape[:2])
        self.levels.append(levels)
        n = len(retinaface.anchors(*canvas.shape[:2], levels))
        return np.zeros((n, 4), np.float32), np.tile(np.float32([1.0, 0.0]), (n, 1))


@pytest.mark.parametrize(("min_size", "tiles"), [(20, 9), (32, 9), (64, 2), (200, 0)])
def test_a_12mp_photo_is_searched_at_the_scale_its_minimum_size_needs(
    monkeypatch, min_size: int, tiles: int
) -> None:
    """4000 x 3000: full resolution (nine tiles) while faces below 32 px count; at half size
    (two tiles) from --min-size 64; the 1,024-px copy alone when it resolves the minimum."""
    photo = np.zeros((3000, 4000, 3), np.uint8)
    planned = Counting(monkeypatch, DetectOptions(min_size=min_size))
    planned.detect(photo)
    assert planned.seen[0] == (768, 1024) and len(planned.seen) == 1 + tiles
    pixels = sum(h * w for h, w in planned.seen[1:])
    assert pixels >= (4000 * 3000 if min_size <= 32 else 2000 * 1500 if tiles else 0)
    assert pixels < (4000 * 3000 * 1.5 if min_size <= 32 else 2000 * 1500 * 1.5 if tiles else 1)
    full = Counting(monkeypatch, DetectOptions(min_size=min_size), min_size_plan=False)
    full.detect(photo)
    assert len(full.seen) == 1 + (9 if min_size < 48 * 4000 / 1024 else 0)


@pytest.mark.parametrize(
    ("width", "height", "cut"), [(3000, 2000, True), (4000, 3000, True), (6000, 4000, False)]
)
def test_tiles_skip_the_stride_32_level_while_they_answer_for_faces_below_200_px(
    monkeypatch, width: int, height: int, cut: bool
) -> None:
    """The tiles own faces below OWN_PX in the 1,024-px copy: 141, 188 and 281 px at full
    resolution for these widths. The copy and a photo seen whole run every level."""
    assert (retinaface.OWN_PX * width / 1024 < retinaface.TILE_LEVELS_BELOW) == cut
    photo = np.zeros((height, width, 3), np.uint8)
    planned = Counting(monkeypatch, DetectOptions())
    planned.detect(photo)
    tiled = retinaface.TILE_LEVELS if cut else retinaface.LEVELS
    assert planned.levels == [retinaface.LEVELS] + [tiled] * (len(planned.seen) - 1)
    assert len(planned.seen) >= 5
    whole = Counting(monkeypatch, DetectOptions(), tile_levels=False)
    whole.detect(photo)
    assert whole.seen == planned.seen and set(whole.levels) == {retinaface.LEVELS}
    once = Counting(monkeypatch, DetectOptions())
    once.detect(np.zeros((1000, retinaface.TILE, 3), np.uint8))
    assert once.levels == [retinaface.LEVELS]


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_a_network_cut_to_two_levels_gives_the_whole_networks_rows_of_them(
    fetched, precision: str
) -> None:
    image = read_sample("astronaut.png")[:256, :320]

    def run(levels: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        net, _ = retinaface.load_network(None, precision, levels)
        out = net.create_infer_request().infer({0: image[np.newaxis]})
        return out[net.output("loc")][0], out[net.output("conf")][0]

    (loc, conf), (cut_loc, cut_conf) = run(retinaface.LEVELS), run(retinaface.TILE_LEVELS)
    rows = level_rows(256, 320, retinaface.TILE_LEVELS)
    assert cut_loc.shape == (len(rows), 4) and cut_conf.shape == (len(rows), 2)
    assert np.abs(cut_loc - loc[rows]).max() < 1e-4
    assert np.abs(cut_conf - conf[rows]).max() < 1e-5
    assert cut_conf[:, 1].max() > 0.99  # the astronaut's face is in the kept levels


def test_at_min_size_64_the_half_size_look_finds_faces_the_copy_cannot(fetched) -> None:
    """70-90 px faces are 18-23 px in the 1,024-px copy of a 4000 x 3000 photo, too small for
    it; the look at half size sees them at 35-45 px and maps them back to full resolution."""
    image, truth = canvas_with_faces(4000, 3000, [(500, 600, 70), (2900, 2100, 90)], seed=4)
    detector = RetinaFaceDetector(DetectOptions(min_size=64))
    assert_found(detector.detect(image), truth, min_iou=0.4)
    assert detector.runs == 1 + 2
