"""The detection core alone: no Spark, no storage."""

from __future__ import annotations

import cv2
import pytest

from dataproc_faces.detect import DetectOptions, DetectorError, Face, bounded_copy, make_detector
from dataproc_faces.imaging import decode
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
    assert make_detector(DetectOptions(detector="haar", min_size=150)).detect(img) == []
    assert make_detector(DetectOptions(detector="haar", max_size=60)).detect(img) == []


def test_unknown_detector_is_a_startup_error():
    with pytest.raises(DetectorError, match="unknown detector 'nope'"):
        make_detector(DetectOptions(detector="nope"))


def test_face_dict_has_score_only_when_scored():
    assert Face(1, 2, 3, 4).to_dict() == {"x": 1, "y": 2, "w": 3, "h": 4}
    assert Face(1, 2, 3, 4, 0.91234).to_dict()["score"] == 0.9123
