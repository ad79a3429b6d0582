"""Masks and fills on hand-made images: exactly which pixels change, and nothing else."""

from __future__ import annotations

import numpy as np
import pytest

from dataproc_faces.detectors.base import Face
from dataproc_faces.imaging.anonymise import Anonymise, anonymise_faces, mask_for

PINK = (203, 192, 255)  # BGR; never drawn by noise() below


def noise(height: int = 100, width: int = 120, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 200, (height, width, 3), dtype=np.uint8)
    image[..., 0] = 10  # no pixel is PINK
    return image


def solid(mask: str, scale: float) -> Anonymise:
    return Anonymise(fill="solid", mask=mask, mask_scale=scale, fill_color=PINK)


def changed(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    return np.any(before != after, axis=-1)


def pattern(rows: list[str]) -> np.ndarray:
    return np.array([[c == "X" for c in row] for row in rows])


def test_a_box_mask_at_scale_1_covers_exactly_the_detectors_box():
    before = noise()
    after = before.copy()
    anonymise_faces(after, [Face(30, 20, 25, 15)], solid("box", 1.0))
    expected = np.zeros(before.shape[:2], bool)
    expected[20:35, 30:55] = True
    assert np.array_equal(changed(before, after), expected)
    assert np.all(after[expected] == PINK)


def test_a_box_mask_grows_about_the_centre():
    before = noise()
    after = before.copy()
    # centre (50, 55), grown sides 30 x 15: pixel centres within 35..65 and 47.5..62.5
    anonymise_faces(after, [Face(40, 50, 20, 10)], solid("box", 1.5))
    expected = np.zeros(before.shape[:2], bool)
    expected[47:63, 35:65] = True
    assert np.array_equal(changed(before, after), expected)


def test_an_ellipse_keeps_the_corners_of_its_box():
    before = noise()
    after = before.copy()
    anonymise_faces(after, [Face(10, 20, 6, 4)], solid("ellipse", 1.0))
    expected = np.zeros(before.shape[:2], bool)
    expected[20:24, 10:16] = pattern([".XXXX.", "XXXXXX", "XXXXXX", ".XXXX."])
    assert np.array_equal(changed(before, after), expected)


def test_a_grown_ellipse_has_exactly_the_pixels_whose_centres_lie_inside():
    before = noise()
    after = before.copy()
    face = Face(40, 30, 20, 30)
    anonymise_faces(after, [face], solid("ellipse", 1.3))
    ys, xs = np.mgrid[0:100, 0:120] + 0.5
    inside = ((xs - 50) / 13) ** 2 + ((ys - 45) / 19.5) ** 2 <= 1
    assert np.array_equal(changed(before, after), inside)
    assert changed(before, after)[45, 37] and not changed(before, after)[45, 36]  # left tip
    assert changed(before, after)[26, 50] and not changed(before, after)[25, 50]  # top tip


def test_a_mask_at_the_image_edge_is_clipped_and_the_rest_of_it_still_filled():
    before = noise()
    after = before.copy()
    face = Face(100, 0, 20, 20)  # touching the right and top edges
    anonymise_faces(after, [face], solid("ellipse", 1.5))
    ys, xs = np.mgrid[0:100, 0:120] + 0.5
    inside = ((xs - 110) / 15) ** 2 + ((ys - 10) / 15) ** 2 <= 1
    assert np.array_equal(changed(before, after), inside)
    assert changed(before, after)[0, 119] and changed(before, after)[0, 110]
    m = mask_for(face, (120, 100), "ellipse", 1.5)
    assert (m.x0, m.y0, m.x1, m.y1) == (95, 0, 120, 25)
    assert (m.width, m.height) == (30.0, 30.0)  # strengths scale with the unclipped mask


@pytest.mark.parametrize(
    "face", [Face(5, 5, 0, 20), Face(5, 5, 20, 0), Face(500, 500, 10, 10), Face(-40, 3, 10, 10)]
)
def test_empty_and_off_image_faces_change_nothing(face: Face):
    before = noise()
    after = before.copy()
    anonymise_faces(after, [face], solid("box", 1.3))
    assert np.array_equal(after, before)
    assert mask_for(face, (120, 100), "box", 1.3) is None


def test_blur_is_a_box_filter_of_the_mask_side_times_the_strength_inside_the_mask_only():
    before = noise(seed=3)
    after = before.copy()
    face = Face(40, 30, 40, 40)  # scale 1: a 40x40 mask, strength 0.25: a 10x10 box filter
    anonymise_faces(after, [face], Anonymise(mask="ellipse", mask_scale=1.0, blur_strength=0.25))
    ys, xs = np.mgrid[0:100, 0:120] + 0.5
    inside = ((xs - 60) / 20) ** 2 + ((ys - 50) / 20) ** 2 <= 1
    assert not changed(before, after)[~inside].any()
    # the centre pixel (50, 60): the mean of rows 45..54 and columns 55..64, rounded
    window = before[45:55, 55:65].reshape(-1, 3).astype(float)
    assert np.abs(after[50, 60].astype(float) - window.mean(axis=0)).max() <= 0.5 + 1e-9
    assert changed(before, after)[inside].mean() > 0.95


def test_a_stronger_blur_leaves_less_detail():
    spread = []
    for strength in (0.1, 0.25, 0.5):
        image = noise(seed=4)
        anonymise_faces(image, [Face(40, 30, 40, 40)], Anonymise(blur_strength=strength))
        spread.append(image[45:55, 55:65, 1].astype(float).std())
    assert spread[0] > spread[1] > spread[2]


def test_pixelate_fills_each_cell_with_its_mean_and_keeps_the_outside():
    before = noise(seed=5)
    after = before.copy()
    options = Anonymise(fill="pixelate", mask="box", mask_scale=1.0, pixelate_blocks=4)
    anonymise_faces(after, [Face(20, 30, 40, 40)], options)  # cells of 10 x 10
    assert np.array_equal(after[:30], before[:30]) and np.array_equal(after[70:], before[70:])
    assert np.array_equal(after[:, :20], before[:, :20])
    assert np.array_equal(after[:, 60:], before[:, 60:])
    for cy in range(4):
        for cx in range(4):
            y, x = 30 + 10 * cy, 20 + 10 * cx
            cell = after[y : y + 10, x : x + 10].reshape(-1, 3)
            assert (cell == cell[0]).all()  # one colour per cell
            mean = before[y : y + 10, x : x + 10].reshape(-1, 3).astype(float).mean(axis=0)
            assert np.abs(cell[0] - mean).max() <= 0.5 + 1e-9


def test_a_later_face_is_hidden_even_when_an_earlier_one_is_empty():
    before = noise()
    after = before.copy()
    anonymise_faces(after, [Face(5, 5, 0, 0), Face(30, 20, 4, 4)], solid("box", 1.0))
    expected = np.zeros(before.shape[:2], bool)
    expected[20:24, 30:34] = True
    assert np.array_equal(changed(before, after), expected)


def test_the_options_say_only_what_applies_to_their_fill():
    assert Anonymise().to_dict() == {
        "fill": "blur",
        "mask": "ellipse",
        "mask_scale": Anonymise().mask_scale,
        "blur_strength": Anonymise().blur_strength,
    }
    assert Anonymise(fill="pixelate", pixelate_blocks=6).to_dict()["pixelate_blocks"] == 6
    assert Anonymise(fill="solid", fill_color=(0, 128, 255)).to_dict()["fill_color"] == "#ff8000"
    with pytest.raises(ValueError, match="mask must be one of ellipse, box"):
        Anonymise(mask="circle")
    with pytest.raises(ValueError, match="positive"):
        Anonymise(mask_scale=0)


def test_a_wide_mask_blurs_with_a_wide_kernel():
    before = noise(seed=6)
    after = before.copy()
    face = Face(40, 40, 40, 20)  # scale 1, strength 0.25: a 10 wide, 5 high box filter
    anonymise_faces(after, [face], Anonymise(mask="box", mask_scale=1.0, blur_strength=0.25))
    window = before[48:53, 55:65].reshape(-1, 3).astype(float)  # rows 50 +-2, columns 60 -5..+4
    assert np.abs(after[50, 60].astype(float) - window.mean(axis=0)).max() <= 0.5 + 1e-9
