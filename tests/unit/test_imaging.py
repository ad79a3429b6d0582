"""Bytes to upright pixels: every accepted format, every refused input, drawing and encoding."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from dataproc_faces.detectors.base import Face
from dataproc_faces.imaging.codec import (
    ImageError,
    decode,
    draw_outlines,
    encode,
    line_width,
    parse_color,
    read_header,
    thumbnail,
)
from tests.images import SAMPLES, broken_inputs, good_inputs, png_header_only

GOOD = good_inputs()
BROKEN = broken_inputs()
EXPECTED_FORMAT = {
    "astronaut.png": "png",
    "_DSC0001.JPG": "jpeg",
    "nested/deeper/astronaut.jpg": "jpeg",
    "png-named.jpg": "png",
    "rotated.jpg": "jpeg",
    "gray.png": "png",
    "alpha.png": "png",
    "deep16.png": "png",
    "cmyk.jpg": "jpeg",
    "photo.webp": "webp",
    "scan.tiff": "tiff",
    "old.bmp": "bmp",
    "anim.gif": "gif",
}


@pytest.mark.parametrize("name", sorted(GOOD))
def test_every_accepted_input_decodes_to_upright_8bit_bgr(name: str):
    header, image = decode(GOOD[name])
    assert header.format == EXPECTED_FORMAT[name]  # by content, not by extension
    assert image.shape == (512, 512, 3) and image.dtype == np.uint8


def test_gif_is_read_through_pillow_and_a_broken_gif_is_an_error():
    from PIL import Image

    from tests.images import pil_bytes

    rgb = Image.open(SAMPLES / "astronaut.png").convert("RGB")
    header, image = decode(pil_bytes(rgb.convert("P", palette=Image.Palette.ADAPTIVE), "GIF"))
    assert header.format == "gif" and image.shape == (512, 512, 3)
    _, reference = decode((SAMPLES / "astronaut.png").read_bytes())
    assert np.abs(image.astype(int) - reference.astype(int)).mean() < 12  # palette loss only
    gif = pil_bytes(rgb.convert("P", palette=Image.Palette.ADAPTIVE), "GIF")
    with pytest.raises(ImageError, match="cannot decode gif"):
        decode(gif[: len(gif) // 2])


def test_cmyk_and_16bit_keep_their_colours():
    _, reference = decode(GOOD["astronaut.png"])
    for name in ("cmyk.jpg", "deep16.png"):
        _, image = decode(GOOD[name])
        diff = np.abs(image.astype(int) - reference.astype(int)).mean()
        assert diff < 8, (name, diff)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("empty.jpg", "empty file"),
        ("notes.txt", "not an image"),
        ("truncated.jpg", "truncated JPEG"),
        ("truncated.png", "cannot decode png"),
        ("garbage.png", "not an image"),
        ("bomb.png", "over the pixel budget"),
    ],
)
def test_broken_inputs_raise_image_error_with_a_clear_message(name: str, message: str):
    with pytest.raises(ImageError, match=message):
        decode(BROKEN[name])


def test_a_huge_header_is_refused_before_any_pixel_is_decoded():
    header = read_header(png_header_only(60_000, 60_000))
    assert (header.width, header.height) == (60_000, 60_000)
    with pytest.raises(ImageError, match=r"60000x60000 image \(3600\.0 MP\)"):
        decode(png_header_only(60_000, 60_000), max_pixels=50_000_000)


def test_pixel_budget_is_configurable():
    with pytest.raises(ImageError, match="over the pixel budget"):
        decode(GOOD["astronaut.png"], max_pixels=512 * 511)
    decode(GOOD["astronaut.png"], max_pixels=512 * 512)


@pytest.mark.parametrize(
    ("fmt", "ext"),
    [("jpeg", ".jpg"), ("png", ".png"), ("webp", ".webp"), ("tiff", ".tiff"), ("gif", ".png")],
)
def test_encode_keeps_the_input_format_where_opencv_can(fmt: str, ext: str):
    data, got = encode(np.zeros((8, 8, 3), np.uint8), fmt)
    assert got == ext
    assert decode(data)[1].shape == (8, 8, 3)


def test_outlines_are_drawn_in_the_colour_asked_with_a_width_proportional_to_size():
    image = np.zeros((600, 900, 3), np.uint8)
    assert line_width(image) == 3
    assert line_width(np.zeros((6000, 4000, 3), np.uint8)) == 20
    draw_outlines(image, [Face(100, 100, 50, 50)], parse_color("#ff0000"))
    assert tuple(image[100, 120]) == (0, 0, 255)  # top edge, BGR red
    assert tuple(image[125, 125]) == (0, 0, 0)  # inside untouched


def test_parse_color_accepts_names_and_hex_and_refuses_the_rest():
    assert parse_color("green") == (0, 255, 0)
    assert parse_color("#102030") == (0x30, 0x20, 0x10)
    with pytest.raises(ValueError, match="#rrggbb"):
        parse_color("chartreuse-ish")


def test_thumbnail_is_small():
    _, image = decode(GOOD["astronaut.png"])
    _, thumb = decode(thumbnail(image))
    assert max(thumb.shape[:2]) == 320


def test_outline_edges_lie_on_the_box_with_the_expected_thickness():
    image = np.zeros((600, 900, 3), np.uint8)  # line width 3
    draw_outlines(image, [Face(100, 100, 50, 50)], (0, 0, 255))
    edges = [*range(98, 103), *range(147, 152)]  # centred on x and on x + w - 1
    assert np.nonzero(image[125, :, 2])[0].tolist() == edges
    assert np.nonzero(image[:, 125, 2])[0].tolist() == edges


def test_line_width_edges():
    assert line_width(np.zeros((100, 100, 3), np.uint8)) == 2  # the floor
    assert line_width(np.zeros((1050, 10, 3), np.uint8)) == 4  # 3.5 rounds up
    assert line_width(np.zeros((10, 1050, 3), np.uint8)) == 4  # the longest side, either one


def test_jpeg_and_webp_are_encoded_at_the_chosen_quality():
    image = cv2.imread(str(SAMPLES / "astronaut.png"))
    jpeg, _ = encode(image, "jpeg")
    assert jpeg == cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()
    webp, _ = encode(image, "webp")
    assert webp == cv2.imencode(".webp", image, [cv2.IMWRITE_WEBP_QUALITY, 90])[1].tobytes()


def test_encoder_failures_are_image_errors(monkeypatch):
    monkeypatch.setattr(cv2, "imencode", lambda *args: (False, None))
    image = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ImageError, match=r"^OpenCV could not encode the image as \.png$"):
        encode(image, "png")
    with pytest.raises(ImageError, match=r"^OpenCV could not encode the thumbnail$"):
        thumbnail(image)


def test_a_jpeg_whose_last_scan_is_truncated_is_refused_even_after_an_earlier_end_marker():
    # A comment segment holding scan and end markers' bytes comes before the real scan: only
    # the last scan's end counts.
    data = (SAMPLES / "astronaut.png").read_bytes()
    jpeg = cv2.imencode(".jpg", decode(data)[1])[1].tobytes()
    body = b"\xff\xda\x00\x00\xff\xd9"
    comment = b"\xff\xfe" + (len(body) + 2).to_bytes(2, "big") + body
    with_comment = jpeg[:2] + comment + jpeg[2:]
    assert decode(with_comment)[1].shape == (512, 512, 3)
    with pytest.raises(ImageError, match="truncated JPEG"):
        decode(with_comment[: len(with_comment) * 2 // 3])


def test_thumbnail_never_upscales_and_keeps_one_pixel_sides():
    _, small = decode(thumbnail(np.full((50, 100, 3), 90, np.uint8)))
    assert small.shape == (50, 100, 3)
    _, strip = decode(thumbnail(np.full((3, 2000, 3), 90, np.uint8)))
    assert strip.shape == (1, 320, 3)
    _, column = decode(thumbnail(np.full((2000, 3, 3), 90, np.uint8)))
    assert column.shape == (320, 1, 3)


def test_thumbnail_is_a_quality_80_jpeg():
    image = cv2.imread(str(SAMPLES / "astronaut.png"))
    small = cv2.resize(image, (320, 320), interpolation=cv2.INTER_AREA)
    assert (
        thumbnail(image) == cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()
    )


def test_parse_color_hex_without_hash_any_case_and_the_error_lists_the_names():
    assert parse_color("102030") == (0x30, 0x20, 0x10)
    assert parse_color(" #FF8000 ") == (0x00, 0x80, 0xFF)
    assert parse_color("Red") == (0, 0, 255)
    with pytest.raises(ValueError, match="one of green, red, blue, yellow, magenta, cyan"):
        parse_color("#12345")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("empty.jpg", "empty file"),
        ("notes.txt", "not an image (unrecognised content)"),
        ("truncated.jpg", "truncated JPEG (no end-of-image marker after the last scan)"),
        ("truncated.png", "cannot decode png data (truncated or corrupt)"),
    ],
)
def test_broken_input_messages_are_exact(name: str, message: str):
    with pytest.raises(ImageError) as info:
        decode(BROKEN[name])
    assert str(info.value) == message


def test_unsupported_and_unreadable_headers_say_which():
    from PIL import Image

    from tests.images import pil_bytes

    with pytest.raises(ImageError) as info:
        read_header(pil_bytes(Image.new("RGB", (10, 10)), "PCX"))
    assert str(info.value) == "unsupported image format PCX"
    with pytest.raises(ImageError) as info:
        read_header(png_header_only(10, 10)[:20])
    assert str(info.value) == "unreadable image header: Truncated File Read"


def test_the_budget_message_gives_both_sizes_in_megapixels():
    with pytest.raises(ImageError) as info:
        decode(png_header_only(1050, 1000), max_pixels=450_000)
    assert str(info.value) == (
        "1050x1000 image (1.1 MP) is over the pixel budget of 0.5 MP (--max-pixels)"
    )


def test_a_transparent_gif_decodes_to_three_channels():
    from PIL import Image

    from tests.images import pil_bytes

    palette = Image.new("P", (40, 30), 1)
    palette.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    header, image = decode(pil_bytes(palette, "GIF", transparency=0))
    assert (header.format, image.shape) == ("gif", (30, 40, 3))
    assert tuple(image[0, 0]) == (255, 0, 0)  # palette entry 1, blue, as BGR
