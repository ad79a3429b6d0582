"""One image, bytes in and bytes out: decode, detect, draw or blur, encode. No I/O, no Spark."""

from __future__ import annotations

from dataclasses import dataclass, field

from .detect import Detector, Face
from .imaging import (
    DEFAULT_MAX_PIXELS,
    blur_faces,
    decode,
    draw_outlines,
    encode,
    native_extension,
    thumbnail,
)

MODES = ("outline", "blur", "both")


@dataclass(frozen=True)
class RenderOptions:
    """How found faces are marked on the output image."""

    mode: str = "outline"
    color: tuple[int, int, int] = (0, 255, 0)
    max_pixels: int = DEFAULT_MAX_PIXELS


@dataclass
class Outlined:
    format: str
    width: int
    height: int
    faces: list[Face] = field(default_factory=list)
    data: bytes = b""
    new_suffix: str = ""  # set when the input's format cannot be written back (GIF -> .png)
    thumbnail: bytes = b""


def outline(data: bytes, detector: Detector, render: RenderOptions) -> Outlined:
    """Raises imaging.ImageError for inputs that cannot be processed."""
    header, image = decode(data, render.max_pixels)
    faces = detector.detect(image)
    if render.mode in ("blur", "both"):
        blur_faces(image, faces)
    if render.mode in ("outline", "both"):
        draw_outlines(image, faces, render.color)
    encoded, ext = encode(image, header.format)
    new_suffix = "" if native_extension(header.format) == ext else ext
    height, width = image.shape[:2]
    return Outlined(header.format, width, height, faces, encoded, new_suffix, thumbnail(image))
