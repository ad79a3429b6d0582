"""One image through process.outline: every render mode, non-square and EXIF-rotated inputs."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from dataproc_faces.detect import DetectOptions, Face, make_detector
from dataproc_faces.imaging import ImageError, decode
from dataproc_faces.process import MODES, RenderOptions, outline
from tests.conftest import ASTRONAUT_FACE, iou
from tests.images import astronaut, encode, exif_rotated_jpeg, gif
from tests.unit.stand_ins import FixedDetector

WIDTH, HEIGHT = 640, 400  # wider than tall, so a width/height mix-up shows
FACE = Face(200, 100, 120, 90, 0.9)
RED = (0, 0, 255)


def noise(width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """Detailed pixels (a blur lowers their spread) without any pure red."""
    rng = np.random.default_rng(7)
    image = rng.integers(0, 200, (height, width, 3), dtype=np.uint8)
    image[..., 2] = 100  # no pixel is (0, 0, 255): outline pixels are recognisable
    return image


def run(image: np.ndarray, mode: str, faces: list[Face] | None = None):
    detector = FixedDetector([FACE] if faces is None else faces)
    result = outline(encode(image, ".png"), detector, RenderOptions(mode=mode, color=RED))
    _, pixels = decode(result.data)
    return result, pixels, detector


def face_region(image: np.ndarray, f: Face = FACE, inset: int = 0) -> np.ndarray:
    return image[f.y + inset : f.y + f.h - inset, f.x + inset : f.x + f.w - inset]


def outside_unchanged(before: np.ndarray, after: np.ndarray, margin: int = 0) -> bool:
    """Nothing changed outside the face box grown by `margin` (a 2-px line is centred on it)."""
    f, m = FACE, margin
    mask = np.ones(before.shape[:2], bool)
    mask[f.y - m : f.y + f.h + m, f.x - m : f.x + f.w + m] = False
    return np.array_equal(before[mask], after[mask])


def test_the_render_modes_are_outline_blur_and_both():
    assert MODES == ("outline", "blur", "both")
    assert RenderOptions() == RenderOptions(mode="outline", color=(0, 255, 0))


def test_outline_draws_the_box_in_colour_and_leaves_the_face_and_the_rest_alone():
    before = noise()
    result, after, detector = run(before, "outline")
    assert detector.shapes == [(HEIGHT, WIDTH, 3)]
    assert (result.format, result.width, result.height) == ("png", WIDTH, HEIGHT)
    assert result.faces == [FACE] and result.new_suffix == ""
    assert after.shape == (HEIGHT, WIDTH, 3)
    assert tuple(after[FACE.y, FACE.x + 50]) == RED  # top edge
    assert tuple(after[FACE.y + FACE.h - 1, FACE.x + 50]) == RED  # bottom edge
    assert tuple(after[FACE.y + 40, FACE.x]) == RED  # left edge
    inner = face_region(before, inset=5)
    assert np.array_equal(face_region(after, inset=5), inner)  # not blurred
    assert outside_unchanged(before, after, margin=1)


def test_blur_blurs_the_face_strongly_draws_no_box_and_leaves_the_rest_alone():
    before = noise()
    result, after, _ = run(before, "blur")
    assert (result.width, result.height) == (WIDTH, HEIGHT) and result.faces == [FACE]
    assert not np.any(np.all(after == RED, axis=-1))  # no outline anywhere
    blurred = face_region(after).astype(float)
    assert blurred.std() < face_region(before).astype(float).std() / 5
    assert outside_unchanged(before, after)


def test_both_blurs_the_face_and_outlines_it():
    before = noise()
    _, after, _ = run(before, "both")
    assert tuple(after[FACE.y, FACE.x + 50]) == RED
    assert face_region(after, inset=5).std() < face_region(before, inset=5).std() / 5
    assert outside_unchanged(before, after, margin=1)


@pytest.mark.parametrize("mode", MODES)
def test_no_faces_means_the_image_comes_back_unchanged(mode: str):
    before = noise()
    result, after, _ = run(before, mode, faces=[])
    assert result.faces == [] and np.array_equal(after, before)


def test_an_exif_rotated_photo_is_detected_and_reported_upright():
    upright = noise(WIDTH, HEIGHT)
    detector = FixedDetector([FACE])
    result = outline(exif_rotated_jpeg(upright), detector, RenderOptions(color=RED))
    assert detector.shapes == [(HEIGHT, WIDTH, 3)]  # stored 400x640, shown 640x400
    assert (result.format, result.width, result.height) == ("jpeg", WIDTH, HEIGHT)
    assert result.new_suffix == ""
    _, pixels = decode(result.data)
    assert pixels.shape == (HEIGHT, WIDTH, 3)
    assert np.abs(pixels[FACE.y, FACE.x + 50].astype(int) - RED).max() < 60  # JPEG loss


def test_a_gif_comes_back_as_png_with_its_new_suffix():
    result = outline(gif(noise(64, 48)), FixedDetector([]), RenderOptions())
    assert (result.format, result.width, result.height) == ("gif", 64, 48)
    assert result.new_suffix == ".png"
    assert result.data.startswith(b"\x89PNG")


def test_the_thumbnail_keeps_the_aspect_ratio():
    result, _, _ = run(noise(), "outline")
    _, thumb = decode(result.thumbnail)
    assert thumb.shape == (200, 320, 3)


def test_the_pixel_budget_is_the_render_options_own():
    data = encode(noise(), ".png")
    with pytest.raises(ImageError, match="over the pixel budget"):
        outline(data, FixedDetector([]), RenderOptions(max_pixels=WIDTH * HEIGHT - 1))
    assert outline(data, FixedDetector([]), RenderOptions(max_pixels=WIDTH * HEIGHT)).width == WIDTH


def test_a_real_detector_outlines_the_astronaut_on_a_non_square_canvas():
    canvas = np.full((512, 900, 3), 128, np.uint8)
    canvas[:, 300:812] = astronaut()
    result = outline(
        encode(canvas, ".png"),
        make_detector(DetectOptions(detector="haar")),
        RenderOptions(mode="both"),
    )
    assert (result.width, result.height) == (900, 512)
    assert len(result.faces) == 1
    x, y, w, h = ASTRONAUT_FACE
    got = result.faces[0]
    assert iou((got.x, got.y, got.w, got.h), (x + 300, y, w, h)) > 0.8, result.faces
    _, pixels = decode(result.data)
    assert tuple(pixels[got.y, got.x + got.w // 2]) == (0, 255, 0)  # default green outline
    assert cv2.Laplacian(face_region(pixels, got, 8), cv2.CV_64F).var() < 50  # blurred
