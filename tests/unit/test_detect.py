"""The detection core alone: no Spark, no storage."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from dataproc_faces.detectors import base as detect
from dataproc_faces.detectors.base import (
    DetectOptions,
    DetectorError,
    Face,
    bounded_copy,
    make_detector,
    nms,
    scale_back,
    shrink,
    to_faces,
)
from dataproc_faces.imaging.codec import decode
from tests.conftest import ASTRONAUT_FACE, iou
from tests.images import astronaut, exif_rotated_jpeg

HAAR = DetectOptions(detector="haar")


def box(face: Face) -> tuple[int, int, int, int]:
    return (face.x, face.y, face.w, face.h)


def test_haar_finds_the_astronaut_at_the_known_place():
    faces = make_detector(HAAR).detect(astronaut())
    assert len(faces) == 1
    assert iou(box(faces[0]), ASTRONAUT_FACE) > 0.8, faces


def test_boxes_come_back_in_full_resolution_when_detecting_on_a_reduced_copy():
    big = cv2.resize(astronaut(), (2048, 2048), interpolation=cv2.INTER_CUBIC)
    options = DetectOptions(detector="haar", detect_max_side=512)
    small, scale = bounded_copy(big, options.detect_max_side)
    assert small.shape[:2] == (512, 512) and scale == pytest.approx(0.25)
    faces = make_detector(options).detect(big)
    assert len(faces) == 1
    expected = tuple(4 * v for v in ASTRONAUT_FACE)
    assert iou(box(faces[0]), expected) > 0.8, (faces, expected)


def test_an_exif_rotated_copy_gives_the_same_face():
    _, upright = decode(exif_rotated_jpeg(astronaut()))
    assert upright.shape[:2] == (512, 512)
    faces = make_detector(HAAR).detect(upright)
    assert len(faces) == 1
    assert iou(box(faces[0]), ASTRONAUT_FACE) > 0.8, faces


def test_min_and_max_size_filter_faces():
    img = astronaut()
    # The same detector finds the ~95-px face when the range admits it, so an empty result
    # below is the filter at work, not a detector that finds nothing.
    assert len(make_detector(DetectOptions(detector="haar", min_size=80)).detect(img)) == 1
    assert make_detector(DetectOptions(detector="haar", min_size=150)).detect(img) == []
    assert len(make_detector(DetectOptions(detector="haar", max_size=130)).detect(img)) == 1
    assert make_detector(DetectOptions(detector="haar", max_size=60)).detect(img) == []


def test_size_filters_apply_in_full_resolution_pixels_when_detecting_on_a_copy():
    big = cv2.resize(astronaut(), (1024, 1024), interpolation=cv2.INTER_CUBIC)  # face ~190 px
    for min_size, found in ((150, 1), (260, 0)):
        options = DetectOptions(detector="haar", detect_max_side=512, min_size=min_size)
        assert len(make_detector(options).detect(big)) == found, min_size
    for max_size, found in ((260, 1), (120, 0)):
        options = DetectOptions(detector="haar", detect_max_side=512, max_size=max_size)
        assert len(make_detector(options).detect(big)) == found, max_size


def test_unknown_detector_is_a_startup_error():
    with pytest.raises(DetectorError, match="unknown detector 'nope'"):
        make_detector(DetectOptions(detector="nope"))


def test_face_dict_has_score_only_when_scored():
    assert Face(1, 2, 3, 4).to_dict() == {"x": 1, "y": 2, "w": 3, "h": 4, "by": "detector"}
    assert Face(1, 2, 3, 4, 0.91234).to_dict()["score"] == 0.9123


def test_bounded_copy_keeps_images_within_the_bound_and_shrinks_the_rest_keeping_aspect():
    wide = np.zeros((500, 1000, 3), np.uint8)
    same, scale = bounded_copy(wide, 1000)  # longest side exactly at the bound
    assert same is wide and scale == 1.0
    same, scale = bounded_copy(wide, 0)  # 0: no bound
    assert same is wide and scale == 1.0
    small, scale = bounded_copy(wide, 400)
    assert small.shape == (200, 400, 3) and scale == pytest.approx(0.4)
    tall, scale = bounded_copy(np.zeros((1000, 10, 3), np.uint8), 50)
    assert tall.shape == (50, 1, 3) and scale == pytest.approx(0.05)  # never 0 px wide


def test_shrink_averages_to_the_exact_size_asked():
    image = np.zeros((300, 601, 3), np.uint8)
    image[:, 300:] = 200  # right half bright
    small = shrink(image, (100, 50))
    assert small.shape == (50, 100, 3)
    assert small[:, :49].max() == 0 and small[:, 51:].min() == 200
    assert shrink(image, (400, 200)).shape == (200, 400, 3)  # factor under 2: one resize


def test_scale_back_maps_to_full_resolution_and_clips_to_a_non_square_image():
    assert scale_back((10, 20, 30, 40), 0.5, 1000, 800) == (20, 40, 60, 80)
    assert scale_back((10.4, 20.6, 30, 40), 1.0, 1000, 800) == (10, 21, 30, 40)
    assert scale_back((-5, -8, 20, 20), 1.0, 10, 30) == (0, 0, 10, 12)  # clipped at 0 and width
    assert scale_back((5, 25, 20, 20), 1.0, 100, 30) == (5, 25, 20, 5)  # clipped at height
    assert scale_back((50, 50, 10, 10), 1.0, 40, 40) == (50, 50, 0, 0)  # outside: empty


def test_to_faces_keeps_sizes_within_the_range_inclusive_and_sorts_top_to_bottom():
    options = DetectOptions(min_size=20, max_size=40)
    boxes = np.array(
        [
            [100, 50, 120, 69],  # 20x19: side 20, kept (min edge)
            [10, 50, 29, 69],  # 19x19: dropped
            [0, 10, 40, 30],  # 40x20: side 40, kept (max edge), topmost
            [0, 200, 41, 220],  # 41 wide: dropped
            [60, 50, 80, 70],  # same row as the first, further left
            [5, 5, 5, 30],  # zero width: dropped
        ],
        float,
    )
    scores = np.array([0.912345, 0.9, 0.5, 0.9, 0.7, 0.9])
    faces = to_faces(boxes, scores, 1.0, 1000, 1000, options)
    assert faces == [
        Face(0, 10, 40, 20, 0.5),
        Face(60, 50, 20, 20, 0.7),
        Face(100, 50, 20, 19, 0.9123),
    ]
    halved = to_faces(np.array([[10, 20, 30, 30]], float), np.array([0.8]), 0.5, 1000, 600, options)
    assert halved == [Face(20, 40, 40, 20, 0.8)]  # boxes from a half-size copy, doubled
    assert to_faces(boxes[:1], scores[:1], 1.0, 1000, 1000, DetectOptions(min_size=21)) == []
    unbounded = DetectOptions(min_size=1, max_size=None)
    assert len(to_faces(boxes, scores, 1.0, 1000, 1000, unbounded)) == 5


def test_nms_merges_boxes_above_the_overlap_and_keeps_the_best_first():
    boxes = np.array([[0, 0, 100, 100], [0, 50, 100, 150], [300, 300, 350, 350]], float)
    scores = np.array([0.6, 0.9, 0.8])
    # The first two overlap with IoU exactly 1/3.
    assert nms(boxes, scores, 0.30).tolist() == [1, 2]
    assert nms(boxes, scores, 0.35).tolist() == [1, 2, 0]
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5).tolist() == []


def test_score_threshold_in_force_is_the_given_one_else_the_detectors_own():
    assert DetectOptions(detector="retinaface").score() == 0.4
    assert DetectOptions(detector="centerface").score() == 0.3
    assert DetectOptions(detector="haar").score() == 0.5
    assert DetectOptions(detector="centerface", score_threshold=0.0).score() == 0.0
    assert DetectOptions(detector="centerface", score_threshold=0.75).score() == 0.75
    assert DetectOptions(detector="centerface").to_dict() == {
        "detector": "centerface",
        "scale_factor": 1.1,
        "min_neighbors": 5,
        "min_size": 20,
        "max_size": None,
        "detect_max_side": 1024,
        "score_threshold": 0.3,
    }


def test_a_detector_whose_module_is_missing_is_a_startup_error(monkeypatch):
    monkeypatch.setitem(detect.DETECTORS, "ghost", "dataproc_faces.no_such_module:Ghost")
    monkeypatch.setitem(detect.DETECTORS, "noclass", "dataproc_faces.detectors.base:NoSuchClass")
    with pytest.raises(DetectorError, match="detector 'ghost' is not available"):
        make_detector(DetectOptions(detector="ghost"))
    with pytest.raises(DetectorError, match="detector 'noclass' is not available"):
        make_detector(DetectOptions(detector="noclass"))
    with pytest.raises(DetectorError, match="choose one of haar, centerface, retinaface"):
        make_detector(DetectOptions(detector="nope"))


def test_haar_reports_its_name_and_runtime():
    detector = make_detector(HAAR)
    assert detector.name == "haar" and detector.runtime == f"opencv {cv2.__version__} cascade"


def test_two_people_are_both_found_top_to_bottom():
    canvas = np.full((700, 1100, 3), 128, np.uint8)
    canvas[150:662, 0:512] = astronaut()  # lower left
    canvas[0:512, 560:1072] = astronaut()  # upper right
    faces = make_detector(HAAR).detect(canvas)
    x, y, w, h = ASTRONAUT_FACE
    assert len(faces) == 2, faces
    assert iou(box(faces[0]), (x + 560, y, w, h)) > 0.8, faces
    assert iou(box(faces[1]), (x, y + 150, w, h)) > 0.8, faces


def test_haar_votes_and_pyramid_step_are_the_options_own():
    img = astronaut()
    # Fewer votes let weaker candidates through; the default finds only the face.
    assert len(make_detector(DetectOptions(detector="haar", min_neighbors=1)).detect(img)) == 3
    # A coarse pyramid step skips the face's scale; the default 1.1 finds it (test above).
    assert make_detector(DetectOptions(detector="haar", scale_factor=1.5)).detect(img) == []


def test_a_missing_cascade_is_a_startup_error(monkeypatch):
    monkeypatch.setattr(detect, "HAAR_CASCADE", "no_such_cascade.xml")
    with pytest.raises(
        DetectorError, match=r"^cannot load the Haar cascade .*no_such_cascade\.xml"
    ):
        make_detector(HAAR)


def test_bounds_of_one_pixel_and_one_pixel_high_copies():
    wide = np.zeros((500, 1000, 3), np.uint8)
    tiny, scale = bounded_copy(wide, 1)
    assert tiny.shape == (1, 1, 3) and scale == pytest.approx(0.001)
    flat, _ = bounded_copy(np.zeros((10, 1000, 3), np.uint8), 50)
    assert flat.shape == (1, 50, 3)  # never 0 px high


def test_shrink_drops_only_the_edge_remainder_and_averages_whole_blocks():
    rng = np.random.default_rng(3)
    tall = rng.integers(0, 255, (1000, 500, 3), dtype=np.uint8)
    expected = cv2.resize(tall, (50, 100), interpolation=cv2.INTER_AREA)  # factor 10 exactly
    assert np.array_equal(shrink(tall, (50, 100)), expected)
    odd = rng.integers(0, 255, (507, 1003, 3), dtype=np.uint8)
    expected = cv2.resize(odd[:500, :1000], (100, 50), interpolation=cv2.INTER_AREA)
    assert np.array_equal(shrink(odd, (100, 50)), expected)
    halved = rng.integers(0, 255, (101, 201, 3), dtype=np.uint8)  # factor 2: the fast step too
    expected = cv2.resize(halved[:100, :200], (100, 50), interpolation=cv2.INTER_AREA)
    assert np.array_equal(shrink(halved, (100, 50)), expected)


def test_to_faces_needs_one_score_per_box_and_drops_only_empty_boxes():
    with pytest.raises(ValueError):
        to_faces(np.zeros((2, 4)), np.zeros(1), 1.0, 100, 100, DetectOptions())
    options = DetectOptions(min_size=20)
    boxes = np.array([[10, 10, 11, 40], [10, 50, 40, 51], [10, 60, 40, 60]], float)
    faces = to_faces(boxes, np.array([0.5, 0.6, 0.7]), 1.0, 100, 100, options)
    assert faces == [Face(10, 10, 1, 30, 0.5), Face(10, 50, 30, 1, 0.6)]  # 30x0 dropped


def test_nms_measures_overlap_on_boxes_away_from_the_origin():
    boxes = np.array([[100, 100, 200, 200], [150, 100, 250, 200]], float)  # IoU 1/3
    scores = np.array([0.9, 0.6])
    assert nms(boxes, scores, 0.30).tolist() == [0]
    assert nms(boxes, scores, 0.35).tolist() == [0, 1]
