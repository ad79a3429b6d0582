"""CenterFace: finds real faces, its finer tiles map boxes back (bad weights: test_weights.py)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from dataproc_faces.detectors.base import DetectOptions, Face, make_detector
from dataproc_faces.detectors.centerface import TILE, CenterFaceDetector, decode
from dataproc_faces.detectors.tiles import ALIGN, plan_tiles
from dataproc_faces.detectors.weights import CENTERFACE
from dataproc_faces.evaluate import iou
from tests.unit.facegen import ASTRONAUT_FACE, assert_found, box, canvas_with_faces, read_sample
from tests.unit.test_weights import packaged


@pytest.fixture(scope="module")
def weights() -> None:
    packaged(CENTERFACE)  # fetched by `make models`; their absence is a failure, not a skip


@pytest.fixture(scope="module")
def detector(weights: None) -> CenterFaceDetector:
    return CenterFaceDetector(DetectOptions(detector="centerface"))


def test_centerface_finds_the_astronaut(weights: None) -> None:
    # Measured: (182, 58, 88, 120), score 0.93: CenterFace's box runs from the forehead to the
    # chin (WIDER FACE style), taller than Haar's square; IoU 0.74 with it.
    faces = make_detector(DetectOptions(detector="centerface")).detect(read_sample("astronaut.png"))
    assert len(faces) == 1, faces
    (face,) = faces
    assert iou(box(face), ASTRONAUT_FACE) >= 0.5
    hx, hy, hw, _ = ASTRONAUT_FACE
    assert abs(face.x + face.w / 2 - (hx + hw / 2)) <= 10
    assert abs(face.y + face.h / 2 - (hy + hw / 2)) <= 15
    assert face.score is not None and face.score >= 0.8


def test_no_faces_in_a_cat_or_a_cup(detector) -> None:
    assert detector.detect(read_sample("chelsea.png")) == []
    assert detector.detect(read_sample("coffee.png")) == []


def test_a_face_filling_the_frame_is_found(detector) -> None:
    image = read_sample("astronaut.png")
    x, y, w, h = ASTRONAUT_FACE
    found = detector.detect(image[y - 20 : y + h + 20, x - 20 : x + w + 20])
    assert len(found) == 1
    assert iou(box(found[0]), (20, 20, w, h)) >= 0.5


def test_small_faces_in_a_12mp_photo_come_from_the_finer_tiles(detector) -> None:
    """4000x3000: 48-60 px faces are 12-15 px in the 1024-px copy, too small for the first look;
    the finer look (a 2048-px copy in tiles) finds them, and boxes land at full resolution.
    One face sits in the overlap of two tiles, one across the first tile's right edge (cut
    there, whole in the next tile): each must be reported once, whole."""
    tw, _th, xs, _ = plan_tiles(2048, 1536, 104, TILE)
    to_full = 4000 / 2048
    seam = round((xs[0] + tw + xs[1]) / 2 * to_full)  # middle of the first overlap
    edge = round((xs[0] + tw) * to_full)  # the first tile's right edge
    faces = [(600, 500, 56), (seam - 28, 1300, 56), (edge - 24, 2000, 48)]
    faces += [(3300, 2500, 60), (2000, 400, 900)]
    image, truth = canvas_with_faces(4000, 3000, faces, seed=4)
    detector.runs = 0
    assert_found(detector.detect(image), truth)
    assert detector.runs == 1 + len(xs) * len(plan_tiles(2048, 1536, 104, TILE)[3])

    only_first = CenterFaceDetector(DetectOptions(detector="centerface", min_size=200))
    only_first.runs = 0
    assert_found(only_first.detect(image), truth[-1:])  # big faces only: no finer look needed
    assert only_first.runs == 1


def test_a_net_per_input_shape_keeps_results_stable(detector) -> None:
    """OpenCV's dnn gives wrong maps when one net is reused at another input shape."""
    big, _ = canvas_with_faces(1600, 1200, [(400, 300, 80)], seed=5)
    small = read_sample("astronaut.png")
    first = detector.detect(big)
    for _ in range(2):
        assert len(detector.detect(small)) == 1
        assert detector.detect(big) == first


def test_min_and_max_size_filter_in_full_resolution_pixels(weights) -> None:
    faces = [(100, 100, 60), (600, 300, 300)]
    image, truth = canvas_with_faces(1200, 900, faces, seed=3)
    small_only = CenterFaceDetector(DetectOptions(detector="centerface", max_size=150))
    large_only = CenterFaceDetector(DetectOptions(detector="centerface", min_size=150))
    assert_found(small_only.detect(image), truth[:1], min_iou=0.4)
    assert_found(large_only.detect(image), truth[1:], min_iou=0.4)


@pytest.mark.parametrize(("width", "height", "overlap"), [(2048, 1536, 104), (700, 5000, 60)])
def test_tiles_cover_the_image_with_the_overlap_asked(width, height, overlap) -> None:
    tw, th, xs, ys = plan_tiles(width, height, overlap, TILE)
    assert tw % ALIGN == 0 and th % ALIGN == 0
    assert tw <= max(TILE, ALIGN) and th <= max(TILE, ALIGN)
    for starts, side, length in ((xs, tw, width), (ys, th, height)):
        assert starts[0] == 0 and starts[-1] + side >= length
        assert all(a + side - b >= overlap for a, b in itertools.pairwise(starts))


def test_a_small_image_is_one_tile() -> None:
    assert plan_tiles(500, 375, 100, TILE) == (512, 384, [0], [0])


def test_decode_places_a_box_at_its_cell_plus_offset() -> None:
    heat = np.zeros((1, 1, 8, 8), np.float32)
    size = np.zeros((1, 2, 8, 8), np.float32)
    offset = np.zeros((1, 2, 8, 8), np.float32)
    heat[0, 0, 2, 5] = 0.9  # row 2, column 5
    size[0, :, 2, 5] = [np.log(10.0), np.log(5.0)]  # height 40, width 20 (x stride 4)
    offset[0, :, 2, 5] = [0.25, -0.5]  # y, x in cells
    boxes, scores = decode([heat, size, offset, np.zeros((1, 10, 8, 8))], 0.5)
    cx, cy = (5 - 0.5 + 0.5) * 4, (2 + 0.25 + 0.5) * 4
    np.testing.assert_allclose(boxes, [[cx - 10, cy - 20, cx + 10, cy + 20]], rtol=1e-5)
    np.testing.assert_allclose(scores, [0.9])
    assert len(decode([heat, size, offset, None], 0.95)[1]) == 0


def test_scores_are_kept_and_the_default_threshold_is_the_detectors(detector) -> None:
    faces = detector.detect(read_sample("astronaut.png"))
    assert all(isinstance(f, Face) and f.score is not None for f in faces)
    strict = CenterFaceDetector(DetectOptions(detector="centerface", score_threshold=0.99))
    assert strict.detect(read_sample("astronaut.png")) == []
    assert DetectOptions(detector="centerface").to_dict()["score_threshold"] == 0.3
    assert DetectOptions(detector="retinaface").to_dict()["score_threshold"] == 0.4
