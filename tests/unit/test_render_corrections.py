"""imaging/render.py with a person's corrections: boxes added are hidden like any find and say
`person`, finds a remove box overlaps with IoU >= 0.5 are neither hidden nor listed."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from dataproc_faces.detectors.base import Face
from dataproc_faces.imaging.anonymise import mask_for
from dataproc_faces.imaging.codec import ImageError
from dataproc_faces.imaging.render import RenderOptions, corrected, iou, outline
from tests.images import encode
from tests.unit.stand_ins import FixedDetector

FOUND = Face(10, 10, 20, 20, 0.9)


def noise(seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (60, 80, 3), dtype=np.uint8)


def decoded(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def test_iou_of_boxes() -> None:
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (10, 0, 10, 10)) == 0.0
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == 50 / 150
    assert iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0


@pytest.mark.parametrize(
    ("remove", "kept"),
    [
        ([(10, 10, 20, 20)], []),
        ([(13, 10, 20, 20)], []),  # IoU 340/460 = 0.74
        ([(10, 10, 20, 10)], []),  # IoU exactly 0.5
        ([(10, 10, 20, 9)], [FOUND]),  # IoU 0.45: not this find
        ([(50, 40, 10, 10)], [FOUND]),  # matches nothing: ignored
    ],
)
def test_a_remove_box_takes_out_the_finds_it_overlaps_by_half(remove, kept) -> None:
    assert corrected([FOUND], [], remove, 80, 60) == kept


def test_added_boxes_are_placed_by_a_person_and_clipped_to_the_image() -> None:
    got = corrected([FOUND], [(40, 30, 15, 12), (70, 50, 30, 30)], [], 80, 60)
    assert got == [FOUND, Face(40, 30, 15, 12, by="person"), Face(70, 50, 10, 10, by="person")]
    with pytest.raises(ImageError, match=r"^corrections: add\[0\] \(80, 5, 4x4\) lies outside"):
        corrected([], [(80, 5, 4, 4)], [], 80, 60)


def test_an_added_box_is_hidden_and_changes_only_its_grown_mask() -> None:
    image = noise()
    data = encode(image, ".png")
    render = RenderOptions(mode="solid", mask="box", fill_color=(255, 0, 255))
    plain = outline(data, FixedDetector([FOUND]), render)
    fixed = outline(data, FixedDetector([FOUND]), render, add=[(45, 20, 16, 16)])
    assert fixed.faces == [FOUND, Face(45, 20, 16, 16, by="person")]
    before, after = decoded(plain.data), decoded(fixed.data)
    m = mask_for(fixed.faces[1], (80, 60), "box", render.mask_scale)
    inside = np.zeros((60, 80), bool)
    inside[m.y0 : m.y1, m.x0 : m.x1] = m.inside
    assert (after[~inside] == before[~inside]).all()
    assert (after[inside] == (255, 0, 255)).all()


def test_a_removed_find_leaves_the_original_pixels() -> None:
    image = noise()
    data = encode(image, ".png")
    render = RenderOptions(mode="blur")
    hidden = outline(data, FixedDetector([FOUND]), render)
    assert (decoded(hidden.data) != image).any()
    kept = outline(data, FixedDetector([FOUND]), render, remove=[(11, 10, 20, 20)])
    assert kept.faces == [] and (decoded(kept.data) == image).all()


def test_outline_mode_outlines_a_persons_box_too() -> None:
    data = encode(np.full((60, 80, 3), 90, np.uint8), ".png")
    got = outline(data, FixedDetector([]), RenderOptions(color=(0, 0, 255)), add=[(20, 20, 20, 20)])
    assert got.faces == [Face(20, 20, 20, 20, by="person")]
    out = decoded(got.data)
    assert tuple(out[20, 25]) == (0, 0, 255) and tuple(out[30, 30]) == (90, 90, 90)
