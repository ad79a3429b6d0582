"""Decoding part of a JPEG through libturbojpeg: reduced scales and regions give exactly the
pixels OpenCV's full decode gives there (the measured routes of bench/looks.py)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from bench import jpegdecode
from tests.unit.test_jpegblocks import SAMPLING, jpeg, photo

pytestmark = pytest.mark.skipif(not jpegdecode.available(), reason="libturbojpeg is not installed")

FLAGS = {
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}
# Rectangles on MCU borders, inside MCUs, at the image's corners and past its ragged edges.
RECTS = [
    (0, 0, 16, 16),
    (37, 21, 98, 74),
    (128, 80, 176, 128),
    (214, 150, 300, 200),
    (5, 170, 9, 183),
]


def cv_decode(data: bytes, flag: int = cv2.IMREAD_COLOR) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), flag)


@pytest.mark.parametrize("sampling", list(SAMPLING))
@pytest.mark.parametrize("restart", [0, 2])
def test_full_and_reduced_decodes_are_opencvs_pixels(sampling, restart):
    data = jpeg(photo(251, 183), sampling, restart)
    assert np.array_equal(jpegdecode.decode(data), cv_decode(data))
    for k, flag in FLAGS.items():
        small = jpegdecode.decode(data, k)
        assert small.shape == (-(-183 // k), -(-251 // k), 3)
        assert np.array_equal(small, cv_decode(data, flag))


@pytest.mark.parametrize("sampling", list(SAMPLING))
def test_regions_are_the_full_decodes_pixels_alone_and_together(sampling):
    data = jpeg(photo(251, 183), sampling)
    full = cv_decode(data)
    together = jpegdecode.decode_regions(data, RECTS)
    for (x0, y0, x1, y1), one in zip(RECTS, together, strict=True):
        expected = full[y0 : min(y1, 183), x0 : min(x1, 251)]
        assert np.array_equal(jpegdecode.decode_region(data, x0, y0, x1, y1), expected)
        assert np.array_equal(one, expected)
    assert jpegdecode.decode_regions(data, []) == []


def test_the_headers_size_and_mcu():
    assert jpegdecode.info(jpeg(photo(251, 183), "4:2:0")) == jpegdecode.Info(251, 183, (16, 16))
    assert jpegdecode.info(jpeg(photo(251, 183), "4:2:2")).mcu == (8, 16)
    assert jpegdecode.info(jpeg(photo(251, 183), "4:4:4")).mcu == (8, 8)


def test_bad_input_is_one_readable_error():
    with pytest.raises(ValueError, match="reduce must be 1, 2, 4 or 8, got 3"):
        jpegdecode.decode(jpeg(photo()), 3)
    with pytest.raises(ValueError):
        jpegdecode.info(b"not a jpeg")
