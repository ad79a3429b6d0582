"""Image bytes to upright pixels and back: format sniffing, pixel budget, drawing outlines."""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError
from pillow_heif import register_heif_opener

from dataproc_faces.detectors.base import Face, shrink

# Our own pixel budget replaces Pillow's bomb check; Pillow only reads headers here.
Image.MAX_IMAGE_PIXELS = None
register_heif_opener()  # HEIC/HEIF (phones' default): Pillow reads them through libheif

# Pillow's format name -> (our format name, the extension OpenCV encodes it with or None).
FORMATS: dict[str, tuple[str, str | None]] = {
    "JPEG": ("jpeg", ".jpg"),
    "MPO": ("jpeg", ".jpg"),  # camera JPEGs with extra frames; OpenCV reads the first
    "PNG": ("png", ".png"),
    "WEBP": ("webp", ".webp"),
    "TIFF": ("tiff", ".tiff"),
    "BMP": ("bmp", ".bmp"),
    "GIF": ("gif", None),
    "PPM": ("pnm", ".ppm"),
    "HEIF": ("heif", None),
}
# Formats OpenCV cannot write, and what their outputs become: GIF loses nothing as PNG; a HEIC
# photo is a photo, and JPEG is what every viewer opens.
WRITTEN_AS: dict[str, str] = {"gif": ".png", "heif": ".jpg"}
ENCODE_PARAMS: dict[str, list[int]] = {
    ".jpg": [cv2.IMWRITE_JPEG_QUALITY, 92],
    ".webp": [cv2.IMWRITE_WEBP_QUALITY, 90],
}
# Formats the opencv-python-headless wheel does not decode: Pillow reads their pixels instead.
PILLOW_DECODES = frozenset({"gif", "heif"})
DEFAULT_MAX_PIXELS = 100_000_000
THUMBNAIL_SIDE = 320

NAMED_COLORS: dict[str, tuple[int, int, int]] = {
    "green": (0, 255, 0),
    "red": (0, 0, 255),
    "blue": (255, 0, 0),
    "yellow": (0, 255, 255),
    "magenta": (255, 0, 255),
    "cyan": (255, 255, 0),
    "white": (255, 255, 255),
    "black": (0, 0, 0),
}


class ImageError(Exception):
    """This input cannot become an outlined image; the message goes into its manifest row."""


@dataclass(frozen=True)
class Header:
    format: str
    width: int
    height: int


def read_header(data: bytes) -> Header:
    """Format and size from the header alone, so oversized inputs are refused before decoding."""
    if not data:
        raise ImageError("empty file")
    try:
        with Image.open(io.BytesIO(data)) as im:
            pil_format, (width, height) = im.format or "", im.size
    except UnidentifiedImageError:
        raise ImageError("not an image (unrecognised content)") from None
    except Exception as exc:  # Pillow raises many types for damaged headers
        raise ImageError(f"unreadable image header: {exc}") from None
    if pil_format not in FORMATS:
        raise ImageError(f"unsupported image format {pil_format or 'unknown'}")
    return Header(FORMATS[pil_format][0], width, height)


def check_budget(header: Header, max_pixels: int) -> None:
    pixels = header.width * header.height
    if pixels > max_pixels:
        raise ImageError(
            f"{header.width}x{header.height} image ({pixels / 1e6:.1f} MP) is over the pixel "
            f"budget of {max_pixels / 1e6:.1f} MP (--max-pixels)"
        )


def _jpeg_complete(data: bytes) -> bool:
    """A JPEG whose scan data ends in an EOI marker; libjpeg pads truncated files silently."""
    last_scan = data.rfind(b"\xff\xda")
    return last_scan >= 0 and data.find(b"\xff\xd9", last_scan) >= 0


def decode(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[Header, np.ndarray]:
    """Upright 8-bit BGR pixels: EXIF orientation applied, grey/alpha/16-bit/CMYK normalised."""
    header = read_header(data)
    check_budget(header, max_pixels)
    if header.format == "jpeg" and not _jpeg_complete(data):
        raise ImageError("truncated JPEG (no end-of-image marker after the last scan)")
    if header.format in PILLOW_DECODES:
        image = _decode_with_pillow(data)
    else:
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ImageError(f"cannot decode {header.format} data (truncated or corrupt)")
    return header, image


def native_extension(fmt: str) -> str | None:
    """The extension OpenCV writes `fmt` with, or None when it cannot write that format."""
    return next((e for f, e in FORMATS.values() if f == fmt and e), None)


def _decode_with_pillow(data: bytes) -> np.ndarray | None:
    """First frame of a format OpenCV's wheel cannot read (GIF; HEIF, whose rotation libheif
    applies), as BGR; None when corrupt."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            rgb = np.asarray(im.convert("RGB"))
    except Exception:  # Pillow raises many types for damaged data
        return None
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def encode(image: np.ndarray, fmt: str) -> tuple[bytes, str]:
    """Encode in the input's format where OpenCV can, else as WRITTEN_AS says (PNG when it
    does not say); returns bytes and extension."""
    ext = native_extension(fmt) or WRITTEN_AS.get(fmt, ".png")
    ok, buf = cv2.imencode(ext, image, ENCODE_PARAMS.get(ext, []))
    if not ok:
        raise ImageError(f"OpenCV could not encode the image as {ext}")
    return buf.tobytes(), ext


def thumbnail(image: np.ndarray, side: int = THUMBNAIL_SIDE) -> bytes:
    """A small JPEG for galleries, so a page of thousands of images stays light."""
    h, w = image.shape[:2]
    scale = min(1.0, side / max(h, w))
    small = shrink(image, (max(1, round(w * scale)), max(1, round(h * scale))))
    ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 80])
    if not ok:
        raise ImageError("OpenCV could not encode the thumbnail")
    return buf.tobytes()


def parse_color(text: str) -> tuple[int, int, int]:
    """A colour name or #rrggbb, as OpenCV's BGR tuple."""
    value = text.strip().lower()
    if value in NAMED_COLORS:
        return NAMED_COLORS[value]
    if re.fullmatch(r"#?[0-9a-f]{6}", value):
        v = value.lstrip("#")
        r, g, b = (int(v[i : i + 2], 16) for i in (0, 2, 4))
        return (b, g, r)
    raise ValueError(f"colour must be #rrggbb or one of {', '.join(NAMED_COLORS)}: {text!r}")


def line_width(image: np.ndarray) -> int:
    """Outlines stay visible at any size: about 1/300 of the longest side, at least 2 px."""
    return max(2, round(max(image.shape[:2]) / 300))


def draw_outlines(image: np.ndarray, faces: Iterable[Face], color: tuple[int, int, int]) -> None:
    thickness = line_width(image)
    for f in faces:
        cv2.rectangle(image, (f.x, f.y), (f.x + f.w - 1, f.y + f.h - 1), color, thickness)
