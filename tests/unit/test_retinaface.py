"""RetinaFace: decoding, real faces, tiles mapping boxes back (bad weights: test_weights.py)."""

from __future__ import annotations

import numpy as np
import pytest

from dataproc_faces.detectors import retinaface, tiles
from dataproc_faces.detectors.base import DetectOptions, make_detector
from dataproc_faces.detectors.retinaface import (
    BIG_SCORE,
    BIG_SHARE,
    TILE,
    RetinaFaceDetector,
    anchors,
    decode,
)
from dataproc_faces.detectors.weights import RETINAFACE
from dataproc_faces.evaluate import iou
from tests.unit.facegen import ASTRONAUT_FACE, assert_found, box, canvas_with_faces, read_sample
from tests.unit.test_weights import packaged


@pytest.fixture(scope="module")
def weights() -> None:
    packaged(RETINAFACE)  # fetched by `make models`; their absence is a failure, not a skip


@pytest.fixture(scope="module")
def detector(weights: None) -> RetinaFaceDetector:
    return RetinaFaceDetector(DetectOptions(detector="retinaface"))


def test_the_default_detector_is_retinaface(weights: None) -> None:
    assert DetectOptions().detector == "retinaface"
    assert isinstance(make_detector(DetectOptions()), RetinaFaceDetector)


def test_retinaface_finds_the_astronaut(detector) -> None:
    # Measured: (178, 57, 95, 120), score 0.9995: RetinaFace's box runs from the brow to below
    # the chin (WIDER FACE style), taller than Haar's square; IoU 0.79 with it.
    faces = detector.detect(read_sample("astronaut.png"))
    assert len(faces) == 1, faces
    (face,) = faces
    assert iou(box(face), ASTRONAUT_FACE) >= 0.6
    hx, hy, hw, _ = ASTRONAUT_FACE
    assert abs(face.x + face.w / 2 - (hx + hw / 2)) <= 8
    assert abs(face.y + face.h / 2 - (hy + hw / 2)) <= 15
    assert 85 <= face.w <= 110 and face.score is not None and face.score >= 0.99


def test_no_faces_in_a_cat_or_a_cup_but_the_cameraman_is_one(detector) -> None:
    assert detector.detect(read_sample("chelsea.png")) == []
    assert detector.detect(read_sample("coffee.png")) == []
    (cameraman,) = detector.detect(read_sample("camera.png"))  # the test that finds nothing
    assert iou(box(cameraman), (195, 114, 62, 81)) >= 0.6  # must also find what is there


def test_anchors_follow_the_network_output_order() -> None:
    grid = anchors(64, 96)
    # stride 8: 8 x 12 cells x 2 sizes; stride 16: 4 x 6 x 2; stride 32: 2 x 3 x 2
    assert grid.shape == (8 * 12 * 2 + 4 * 6 * 2 + 2 * 3 * 2, 4)
    assert grid[:3].tolist() == [[4, 4, 16, 16], [4, 4, 32, 32], [12, 4, 16, 16]]
    assert grid[8 * 12 * 2 - 1].tolist() == [92, 60, 32, 32]  # last cell of stride 8
    assert grid[8 * 12 * 2].tolist() == [8, 8, 64, 64]  # first cell of stride 16
    assert grid[-1].tolist() == [80, 48, 512, 512]


@pytest.mark.parametrize("levels", [(0,), (1,), (2,), (0, 1), (1, 2), (0, 2)])
def test_anchors_of_some_levels_are_their_rows_of_the_whole_grid(levels: tuple[int, ...]) -> None:
    """64 x 96: a cut network's anchors are the rows of the whole grid that it keeps."""
    whole = anchors(64, 96)
    rows = level_rows(64, 96, levels)
    assert whole[rows].tolist() == anchors(64, 96, levels).tolist()
    sizes = {0: {16, 32}, 1: {64, 128}, 2: {256, 512}}
    assert set(whole[rows][:, 2].tolist()) == set().union(*(sizes[lv] for lv in levels))
    cells = {0: 8 * 12, 1: 4 * 6, 2: 2 * 3}
    assert len(rows) == sum(cells[lv] * 2 for lv in levels)


def test_decode_applies_the_variances_and_the_threshold() -> None:
    priors = np.float32([[100, 50, 16, 16], [40, 40, 64, 64], [8, 8, 32, 32]])
    loc = np.float32([[0, 0, 0, 0], [1.0, -2.0, np.log(2) / 0.2, 0], [5, 5, 5, 5]])
    conf = np.float32([[0.1, 0.9], [0.4, 0.6], [0.51, 0.49]])
    boxes, scores = decode(loc, conf, priors, 0.5)
    assert scores.tolist() == pytest.approx([0.9, 0.6])
    # anchor itself: centre (100, 50), 16 x 16
    assert boxes[0].tolist() == pytest.approx([92, 42, 108, 58])
    # centre moves by 0.1 * size per unit (6.4, -12.8); width doubles; height stays 64
    assert boxes[1].tolist() == pytest.approx([46.4 - 64, 27.2 - 32, 46.4 + 64, 27.2 + 32])


def level_rows(height: int, width: int, levels: tuple[int, ...]) -> np.ndarray:
    """Which rows of the whole network's outputs (every level) a network cut to `levels` keeps."""
    counts = [len(anchors(height, width, (level,))) for level in retinaface.LEVELS]
    starts = np.cumsum([0, *counts])
    return np.concatenate([np.arange(starts[lv], starts[lv + 1]) for lv in levels])


class HandMade(RetinaFaceDetector):
    """The real detector's post-processing over network outputs written by hand."""

    def __init__(
        self, options: DetectOptions, outputs: dict[tuple[int, int], tuple], **kwargs
    ) -> None:
        self.outputs = outputs
        self.levels_run: list[tuple[int, ...]] = []
        super().__init__(options, **kwargs)  # its start-up check runs a 32 x 32 canvas
        self.levels_run = []

    def _forward(self, canvas: np.ndarray, levels=retinaface.LEVELS):
        self.levels_run.append(levels)
        shape = canvas.shape[:2]
        loc, conf = self.outputs.get(shape) or _outputs(shape, {})
        rows = level_rows(*shape, levels)
        return loc[rows], conf[rows]


def _outputs(shape: tuple[int, int], hits: dict[int, tuple[float, list[float]]]):
    n = len(anchors(*shape))
    loc = np.zeros((n, 4), np.float32)
    conf = np.tile(np.float32([1.0, 0.0]), (n, 1))
    for index, (score, offsets) in hits.items():
        conf[index] = [1 - score, score]
        loc[index] = offsets
    return loc, conf


def test_a_large_box_must_be_sure_a_small_one_need_not(weights) -> None:
    """Photo 640 x 640: a 512-px anchor box (80% of the side) at 0.94 is dropped, at 0.96 kept;
    a 16-px box at 0.6 is kept (the threshold is 0.4)."""
    shape = (640, 640)
    grid = anchors(*shape)
    big = int(np.flatnonzero((grid[:, 2] == 512) & (grid[:, 0] == 304) & (grid[:, 1] == 304))[0])
    small = int(np.flatnonzero((grid[:, 2] == 16) & (grid[:, 0] == 36) & (grid[:, 1] == 36))[0])
    image = np.zeros((*shape, 3), np.uint8)
    assert BIG_SHARE * 640 <= 512 and BIG_SCORE == 0.95
    for score, kept in ((0.94, False), (0.96, True)):
        det = HandMade(
            DetectOptions(min_size=8),
            {shape: _outputs(shape, {big: (score, [0] * 4), small: (0.6, [0] * 4)})},
        )
        faces = det.detect(image)
        sides = sorted(f.w for f in faces)
        assert sides == ([16, 512] if kept else [16]), (score, faces)
        assert [f.x for f in faces if f.w == 16] == [28]


def test_overlapping_boxes_are_merged_and_separate_ones_kept(weights) -> None:
    shape = (320, 320)  # large enough that 32-px boxes are not 'large'
    grid = anchors(*shape)
    a = int(np.flatnonzero((grid[:, 2] == 32) & (grid[:, 0] == 20) & (grid[:, 1] == 20))[0])
    b = int(np.flatnonzero((grid[:, 2] == 32) & (grid[:, 0] == 28) & (grid[:, 1] == 20))[0])
    c = int(np.flatnonzero((grid[:, 2] == 16) & (grid[:, 0] == 52) & (grid[:, 1] == 52))[0])
    # a and b: IoU 24*32 / (2*1024 - 768) = 0.6 > 0.4, so b (lower) goes; c overlaps neither
    outputs = {shape: _outputs(shape, {a: (0.9, [0] * 4), b: (0.8, [0] * 4), c: (0.7, [0] * 4)})}
    faces = HandMade(DetectOptions(min_size=8), outputs).detect(np.zeros((*shape, 3), np.uint8))
    assert sorted((f.x, f.y, f.w, f.score) for f in faces) == [(4, 4, 32, 0.9), (44, 44, 16, 0.7)]


def test_small_faces_in_a_12mp_photo_come_from_full_resolution_tiles(detector) -> None:
    """4000x3000: 56-64 px faces are 14-16 px in the 1024-px copy, too small for it; the tiles
    see them at full resolution. One face sits across the first column of tiles' right edge:
    that tile drops it (cut) and its neighbour reports it whole, once."""
    tw, _th, xs, _ys = tiles.plan_tiles(4000, 3000, 240, TILE)
    edge = xs[0] + tw
    faces = [(400, 500, 60), (edge - 30, 1300, 64), (3500, 2600, 56), (2100, 300, 600)]
    image, truth = canvas_with_faces(4000, 3000, faces, seed=4)
    detector.runs = 0
    assert_found(detector.detect(image), truth, min_iou=0.4)
    assert detector.runs == 1 + len(xs) * len(_ys)


def test_tiles_without_the_stride_32_level_find_the_same_faces(detector) -> None:
    """3000 x 2000: the tiles answer for faces below 141 px, the copy for the rest; the 130-px
    face sits across a tile edge, so the tile that sees it whole must find it."""
    tw, _th, xs, _ys = tiles.plan_tiles(3000, 2000, 181, TILE)
    faces = [(300, 400, 32), (1020, 700, 40), (1800, 1200, 90), (xs[0] + tw - 70, 300, 130)]
    image, truth = canvas_with_faces(3000, 2000, [*faces, (600, 1300, 400)], seed=4)
    whole = RetinaFaceDetector(DetectOptions(detector="retinaface"), tile_levels=False)
    found, before = detector.detect(image), whole.detect(image)
    assert_found(found, truth, min_iou=0.4)
    assert [(f.x, f.y, f.w, f.h) for f in found] == [(f.x, f.y, f.w, f.h) for f in before]
    assert [f.score for f in found] == pytest.approx([f.score for f in before], abs=1e-3)


def test_a_photo_up_to_a_tile_is_seen_once_whole(detector) -> None:
    image, truth = canvas_with_faces(TILE, 1000, [(100, 100, 40), (900, 300, 500)], seed=5)
    detector.runs = 0
    assert_found(detector.detect(image), truth, min_iou=0.4)
    assert detector.runs == 1


def test_min_and_max_size_filter_in_full_resolution_pixels(weights) -> None:
    # seed 3's background holds a cat's face RetinaFace scores 0.90: seed 4's has none
    image, truth = canvas_with_faces(1200, 900, [(100, 100, 60), (600, 300, 300)], seed=4)
    small_only = RetinaFaceDetector(DetectOptions(max_size=150))
    large_only = RetinaFaceDetector(DetectOptions(min_size=150))
    assert_found(small_only.detect(image), truth[:1], min_iou=0.4)
    assert_found(large_only.detect(image), truth[1:], min_iou=0.4)


def test_the_runtime_names_openvino_and_a_precision(detector) -> None:
    import openvino as ov

    name, version, precision = detector.runtime.split()
    assert (name, version) == ("openvino", ov.__version__.split("-")[0])
    capable = "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    assert precision == ("bf16" if capable else "int8")  # int8: the shipped network, not fp32


def test_a_face_cut_by_an_edge_shared_with_a_neighbour_is_left_to_it(weights) -> None:
    """Every tile of a 3000 x 1400 photo reports one 16-px box straddling its right edge: only
    the tiles of the last column, whose right edge is the photo's, may keep it."""
    width, height = 3000, 1400
    own = retinaface.OWN_PX / (1024 / width)
    overlap = int(np.ceil(own * 1.25 + 2 * tiles.EDGE_MARGIN))
    tw, th, xs, ys = tiles.plan_tiles(width, height, overlap, TILE)
    assert len(xs) >= 2 and tw % 8 == 0
    grid = anchors(th, tw)
    cut = int(np.flatnonzero((grid[:, 2] == 16) & (grid[:, 0] == tw - 4) & (grid[:, 1] == 100))[0])
    outputs = {(th, tw): _outputs((th, tw), {cut: (0.9, [0] * 4)})}
    det = HandMade(DetectOptions(min_size=8), outputs)  # the copy finds nothing
    faces = det.detect(np.zeros((height, width, 3), np.uint8))
    # the last column's box is clipped to the photo: x0 = start + tw - 12, right edge at 3000
    assert sorted((f.x, f.y) for f in faces) == [(xs[-1] + tw - 12, y + 92) for y in ys]


@pytest.mark.parametrize(("hint", "looked"), [(0.06, True), (0.04, False), (None, False)])
def test_settling_skips_a_tile_without_a_candidate_in_the_copys_look(weights, hint, looked) -> None:
    """The measured route (off by default). 3000 x 2000: every tile would find a 16-px face at
    its (100, 100); the bounded copy's look has only a candidate far below the threshold, centred
    in the first tile alone. At SETTLE or
    above it sends that tile (and no other) to be looked at; below SETTLE, or without it, every
    tile is settled by the copy and nothing is found. The candidate itself is never a face."""
    width, height = 3000, 2000
    scale = 1024 / width
    own = retinaface.OWN_PX / scale
    overlap = int(np.ceil(own * 1.25 + 2 * tiles.EDGE_MARGIN))
    tw, th, xs, ys = tiles.plan_tiles(width, height, overlap, TILE)
    assert len(xs) * len(ys) >= 4 and min(xs[1], ys[1]) > 40 / scale
    grid = anchors(th, tw)
    face = int(np.flatnonzero((grid[:, 2] == 16) & (grid[:, 0] == 100) & (grid[:, 1] == 100))[0])
    copy_shape = (704, 1024)  # the bounded copy (1024 x 683) padded to multiples of 32
    copy_grid = anchors(*copy_shape)
    point = (copy_grid[:, 2] == 16) & (copy_grid[:, 0] == 44) & (copy_grid[:, 1] == 44)
    candidate = int(np.flatnonzero(point)[0])
    outputs = {(th, tw): _outputs((th, tw), {face: (0.9, [0] * 4)})}
    if hint is not None:
        outputs[copy_shape] = _outputs(copy_shape, {candidate: (hint, [0] * 4)})
    assert retinaface.SETTLE == 0.05
    det = HandMade(DetectOptions(min_size=8), outputs, settle=retinaface.SETTLE)
    faces = det.detect(np.zeros((height, width, 3), np.uint8))
    assert [(f.x, f.y, f.w, f.h) for f in faces] == ([(92, 92, 16, 16)] if looked else [])
    assert (det.tiles_seen, det.tiles_settled) == (int(looked), len(xs) * len(ys) - looked)
    assert det.runs == 1 + looked  # the copy's look, and the tile's


@pytest.mark.parametrize(("score", "kept"), [(0.39, False), (0.41, True)])
def test_the_default_threshold_is_a_sharp_edge(weights, score: float, kept: bool) -> None:
    shape = (320, 320)
    grid = anchors(*shape)
    hit = int(np.flatnonzero((grid[:, 2] == 32) & (grid[:, 0] == 100) & (grid[:, 1] == 100))[0])
    det = HandMade(DetectOptions(), {shape: _outputs(shape, {hit: (score, [0] * 4)})})
    assert DetectOptions().score() == 0.4
    faces = det.detect(np.zeros((*shape, 3), np.uint8))
    assert [(f.x, f.y, f.w, f.h) for f in faces] == ([(84, 84, 32, 32)] if kept else [])


def test_a_hint_counts_for_the_tiles_it_lies_in_edges_half_open() -> None:
    edge = np.float32([[100, 50]])
    assert not tiles.hinted(edge, 0, 0, 100, 100)  # x = 100 is past [0, 100)
    assert tiles.hinted(edge, 100, 0, 100, 100)  # it is the next tile's
    assert tiles.hinted(edge, 100, 50, 100, 100) and not tiles.hinted(edge, 100, 51, 100, 100)
    assert not tiles.hinted(edge, 1, 0, 99, 100) and not tiles.hinted(edge, 101, 0, 100, 100)
    assert tiles.hinted(np.float32([[7, 7], [99.5, 99.5]]), 50, 50, 50, 50)
    assert not tiles.hinted(edge, 100, 0, 100, 40) and tiles.hinted(edge, 100, 0, 40, 100)
    assert not tiles.hinted(np.zeros((0, 2), np.float32), 0, 0, 100, 100)


def test_by_default_every_tile_is_looked_at(weights) -> None:
    """The copy's look finds nothing in a 3000 x 2000 photo: still every tile is looked at."""
    det = HandMade(DetectOptions(min_size=8), {})
    det.detect(np.zeros((2000, 3000, 3), np.uint8))
    assert det.tiles_settled == 0 and det.tiles_seen == det.runs - 1 >= 4
