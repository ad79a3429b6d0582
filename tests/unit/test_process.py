"""One image through process.outline: every render mode, non-square and EXIF-rotated inputs."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from dataproc_faces.detectors.base import (
    DEFAULT_SCORES,
    PRIVACY_SCORES,
    DetectOptions,
    Face,
    make_detector,
)
from dataproc_faces.imaging.codec import ImageError, decode
from dataproc_faces.imaging.render import MODES, RenderOptions, outline, privacy_detect
from tests.conftest import ASTRONAUT_FACE, iou
from tests.images import astronaut, encode, exif_rotated_jpeg, gif, heic
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


def test_the_render_modes_are_outline_the_three_fills_and_both():
    assert MODES == ("outline", "blur", "pixelate", "solid", "both")
    assert RenderOptions() == RenderOptions(mode="outline", color=(0, 255, 0))
    assert RenderOptions().anonymiser() is None
    assert [RenderOptions(mode=m).anonymiser().fill for m in MODES[1:]] == [
        "blur",
        "pixelate",
        "solid",
        "blur",
    ]


def grown_ellipse(face: Face = FACE, scale: float | None = None) -> np.ndarray:
    """The default mask: an ellipse grown about the box's centre, by pixel centres."""
    scale = RenderOptions().mask_scale if scale is None else scale
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH] + 0.5
    cx, cy = face.x + face.w / 2, face.y + face.h / 2
    ax, ay = face.w * scale / 2, face.h * scale / 2
    return ((xs - cx) / ax) ** 2 + ((ys - cy) / ay) ** 2 <= 1


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
    blurred = face_region(after, inset=10).astype(float)
    assert blurred.std() < face_region(before, inset=10).astype(float).std() / 5
    mask = grown_ellipse()
    assert np.array_equal(before[~mask], after[~mask])  # PNG: lossless, exact
    assert np.any(before[mask] != after[mask], axis=-1).mean() > 0.95


def test_both_blurs_the_face_and_outlines_it():
    before = noise()
    _, after, _ = run(before, "both")
    assert tuple(after[FACE.y, FACE.x + 50]) == RED
    assert face_region(after, inset=10).std() < face_region(before, inset=10).std() / 5
    mask = grown_ellipse()
    mask[FACE.y - 1 : FACE.y + FACE.h + 1, FACE.x - 1 : FACE.x + FACE.w + 1] = True  # the lines
    assert np.array_equal(before[~mask], after[~mask])


@pytest.mark.parametrize(("mask", "scale"), [("ellipse", 1.0), ("ellipse", 1.6), ("box", 1.3)])
def test_pixelate_and_solid_change_exactly_the_grown_mask(mask: str, scale: float):
    before = noise()
    for mode in ("pixelate", "solid"):
        render = RenderOptions(mode=mode, mask=mask, mask_scale=scale, fill_color=(255, 0, 255))
        result = outline(encode(before, ".png"), FixedDetector([FACE]), render)
        _, after = decode(result.data)
        if mask == "ellipse":
            inside = grown_ellipse(scale=scale)
        else:
            inside = np.zeros((HEIGHT, WIDTH), bool)
            inside[86:204, 182:338] = True  # 156 x 117 about the centre (260, 145)
        assert np.array_equal(before[~inside], after[~inside]), mode
        if mode == "solid":
            assert np.all(after[inside] == (255, 0, 255))
        else:
            assert np.any(before[inside] != after[inside], axis=-1).mean() > 0.9


def test_anonymising_options_do_not_touch_an_outline_run():
    data = encode(noise(), ".png")
    plain = outline(data, FixedDetector([FACE]), RenderOptions(color=RED))
    other = RenderOptions(
        color=RED, mask="box", mask_scale=2.0, blur_strength=1.0, pixelate_blocks=3
    )
    assert outline(data, FixedDetector([FACE]), other).data == plain.data


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


def test_a_heic_photo_is_read_hidden_and_written_as_jpeg():
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH]  # smooth, so HEVC and JPEG keep it close
    before = np.dstack([xs * 255 // WIDTH, ys * 255 // HEIGHT, np.full_like(xs, 160)])
    before = before.astype(np.uint8)
    result = outline(heic(before), FixedDetector([FACE]), RenderOptions(mode="solid"))
    assert (result.format, result.width, result.height) == ("heif", WIDTH, HEIGHT)
    assert result.new_suffix == ".jpg"
    header, after = decode(result.data)
    assert header.format == "jpeg" and after.shape == (HEIGHT, WIDTH, 3)
    assert np.abs(after[FACE.y + FACE.h // 2, FACE.x + FACE.w // 2].astype(int)).max() < 8  # black
    far = (slice(0, 60), slice(0, 120))  # HEVC and JPEG are lossy: close to the input there
    assert np.abs(after[far].astype(int) - before[far].astype(int)).mean() < 4


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


def test_anonymising_modes_take_the_privacy_threshold_unless_one_is_given():
    base = DetectOptions()
    assert privacy_detect(base, "outline").score() == DEFAULT_SCORES["retinaface"]
    for mode in MODES[1:]:
        assert privacy_detect(base, mode).score() == PRIVACY_SCORES["retinaface"]
    given = DetectOptions(score_threshold=0.7)
    assert privacy_detect(given, "blur") == given
    assert privacy_detect(DetectOptions(detector="haar"), "blur").score_threshold is None
