"""Test inputs made on the fly: every format and every way an input can be broken."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def astronaut() -> np.ndarray:
    return cv2.imread(str(SAMPLES / "astronaut.png"), cv2.IMREAD_COLOR)


def encode(image: np.ndarray, ext: str) -> bytes:
    ok, buf = cv2.imencode(ext, image)
    assert ok, ext
    return buf.tobytes()


def pil_bytes(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kwargs)
    return buf.getvalue()


def exif_rotated_jpeg(image: np.ndarray) -> bytes:
    """The image stored sideways with EXIF orientation 6, so a correct reader shows it upright."""
    stored = cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE)
    pil = Image.fromarray(cv2.cvtColor(stored, cv2.COLOR_BGR2RGB))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    return pil_bytes(pil, "JPEG", quality=95, exif=exif)


def gif(image: np.ndarray) -> bytes:
    pil = Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    return pil_bytes(pil.convert("P", palette=Image.Palette.ADAPTIVE), "GIF")


def heic(image: np.ndarray, exif: bytes | None = None) -> bytes:
    """An iPhone-style HEIC (HEVC in HEIF), made with pillow-heif's encoder."""
    pil = Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    return pil_bytes(pil, "HEIF", quality=90, **({"exif": exif} if exif else {}))


def cmyk_jpeg(image: np.ndarray) -> bytes:
    pil = Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)).convert("CMYK")
    return pil_bytes(pil, "JPEG", quality=95)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a huge size but holds a few bytes: decoding it would exhaust memory."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16))


def good_inputs() -> dict[str, bytes]:
    """Relative path -> bytes of inputs that must come out ok, in every accepted format."""
    img = astronaut()
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    rgba = cv2.cvtColor(img, cv2.COLOR_BGR2BGRA)
    deep = img.astype(np.uint16) * 257
    return {
        "astronaut.png": (SAMPLES / "astronaut.png").read_bytes(),
        "_DSC0001.JPG": encode(img, ".jpg"),  # Nikon and Sony name photos so: a photo
        "nested/deeper/astronaut.jpg": encode(img, ".jpg"),
        "png-named.jpg": encode(img, ".png"),
        "rotated.jpg": exif_rotated_jpeg(img),
        "gray.png": encode(gray, ".png"),
        "alpha.png": encode(rgba, ".png"),
        "deep16.png": encode(deep, ".png"),
        "cmyk.jpg": cmyk_jpeg(img),
        "photo.webp": encode(img, ".webp"),
        "scan.tiff": encode(img, ".tiff"),
        "old.bmp": encode(img, ".bmp"),
        "anim.gif": gif(img),
    }


def broken_inputs() -> dict[str, str | bytes]:
    """Relative path -> bytes of inputs that must become error rows."""
    jpeg = encode(astronaut(), ".jpg")
    png = (SAMPLES / "astronaut.png").read_bytes()
    return {
        "empty.jpg": b"",
        "notes.txt": b"these are not the pixels you are looking for\n",
        "truncated.jpg": jpeg[: len(jpeg) // 2],
        "truncated.png": png[: len(png) // 3],
        "garbage.png": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
        "bomb.png": png_header_only(60_000, 60_000),
    }


def ignored_inputs() -> dict[str, bytes]:
    """Names a listing leaves out (and counts): hidden, Spark's markers, a results folder."""
    png = (SAMPLES / "astronaut.png").read_bytes()
    return {
        ".hidden.png": png,
        ".cache/a.png": png,
        "_SUCCESS": b"",
        "_temporary/0/astronaut.png": png,
        "old-run/_dataproc_faces.json": b"{}",
        "old-run/images/astronaut.png": png,
    }


# what ignored_inputs() leaves out, by reason (storage.SKIP_REASONS)
IGNORED_COUNTS = {"hidden": 2, "spark-marker": 2, "results-folder": 1}


def write_tree(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
