"""An input's metadata carried to its output on request (`--keep-metadata`): EXIF, the ICC
profile and XMP, but never a location. By default outputs carry none (OpenCV writes none).

EXIF keeps the camera, date and so on; its GPS block is dropped, and so are XMP's `exif:GPS*`
properties. Orientation is set to 1: the output's pixels are already upright.
"""

from __future__ import annotations

import io
import re
import struct
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, PngImagePlugin

GPS_IFD = 0x8825
ORIENTATION = 0x0112
STRIPPED, KEPT, NONE = "stripped", "kept (no GPS)", "none in the input"
ORIGINAL = "the original's (not copied)"  # a faceless photo linked, not written (--faceless link)
_SEGMENT_MAX = 65533  # a JPEG segment's payload, after its two length bytes
_XMP_ID = b"http://ns.adobe.com/xap/1.0/\x00"
_ICC_ID = b"ICC_PROFILE\x00"
_ICC_CHUNK = _SEGMENT_MAX - len(_ICC_ID) - 2
# exif:GPSLatitude="..." as an attribute, or <exif:GPSLatitude>...</exif:GPSLatitude> as an element
_XMP_GPS = re.compile(
    rb"""\s(?:exif|exifEX):GPS\w*\s*=\s*("[^"]*"|'[^']*')"""
    rb"|<((?:exif|exifEX):GPS\w*)\b[^>]*/>"
    rb"|<((?:exif|exifEX):GPS\w*)\b[^>]*>.*?</\3\s*>",
    re.S,
)


@dataclass(frozen=True)
class Metadata:
    exif: bytes = b""  # TIFF-structured EXIF, without the "Exif\0\0" header
    icc: bytes = b""
    xmp: bytes = b""

    def __bool__(self) -> bool:
        return bool(self.exif or self.icc or self.xmp)


def read(data: bytes) -> Metadata:
    """The input's EXIF (GPS removed, orientation reset), ICC profile and XMP (GPS removed)."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            exif = im.getexif()
            icc = im.info.get("icc_profile") or b""
            xmp = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp") or b""
    except Exception:  # Pillow raises many types; the pixels decoded, so keep nothing
        return Metadata()
    if GPS_IFD in exif:
        del exif[GPS_IFD]
    if ORIENTATION in exif:
        exif[ORIENTATION] = 1
    raw = exif.tobytes() if len(exif) else b""
    if raw.startswith(b"Exif\x00\x00"):
        raw = raw[6:]
    if isinstance(xmp, str):
        xmp = xmp.encode()
    return Metadata(raw, bytes(icc), strip_gps(bytes(xmp)))


def strip_gps(xmp: bytes) -> bytes:
    return _XMP_GPS.sub(b"", xmp)


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def _jpeg(encoded: bytes, meta: Metadata) -> bytes:
    """OpenCV's JPEG with the metadata segments spliced in after SOI and JFIF: the compressed
    pixels stay byte for byte what a stripped output holds. Parts too big for one segment are
    left out (EXIF over 64 KB is rare; extended XMP is not written)."""
    segments = b""
    exif = b"Exif\x00\x00" + meta.exif
    if meta.exif and len(exif) <= _SEGMENT_MAX:
        segments += _segment(0xE1, exif)
    if meta.xmp and len(_XMP_ID + meta.xmp) <= _SEGMENT_MAX:
        segments += _segment(0xE1, _XMP_ID + meta.xmp)
    if meta.icc:
        chunks = [meta.icc[i : i + _ICC_CHUNK] for i in range(0, len(meta.icc), _ICC_CHUNK)]
        if len(chunks) <= 255:
            for n, chunk in enumerate(chunks, 1):
                segments += _segment(0xE2, _ICC_ID + bytes([n, len(chunks)]) + chunk)
    at = 2
    if encoded[2:4] == b"\xff\xe0":  # JFIF APP0 stays first
        at = 4 + struct.unpack(">H", encoded[4:6])[0]
    return encoded[:at] + segments + encoded[at:]


def attach(encoded: bytes, ext: str, image: np.ndarray, meta: Metadata) -> tuple[bytes, str]:
    """`encoded` (OpenCV's output for `image`) with `meta` added, and what the row says.

    JPEG: segments spliced in. PNG and TIFF: Pillow writes the same pixels again (lossless).
    WebP: Pillow encodes the pixels once, at the job's quality. Other formats hold no metadata.
    """
    if not meta:
        return encoded, NONE
    if ext == ".jpg":
        return _jpeg(encoded, meta), KEPT
    if ext not in (".png", ".tiff", ".webp"):
        return encoded, STRIPPED
    pil = Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    out = io.BytesIO()
    options: dict = {}
    if meta.exif:
        options["exif"] = b"Exif\x00\x00" + meta.exif
    if meta.icc:
        options["icc_profile"] = meta.icc
    if ext == ".png":
        if meta.xmp:
            info = PngImagePlugin.PngInfo()
            info.add_itxt("XML:com.adobe.xmp", meta.xmp.decode("utf-8", "replace"))
            options["pnginfo"] = info
        pil.save(out, "PNG", **options)
    elif ext == ".tiff":
        if meta.xmp:
            options["xmp"] = meta.xmp
        pil.save(out, "TIFF", **options)
    else:
        if meta.xmp:
            options["xmp"] = meta.xmp
        pil.save(out, "WEBP", quality=90, **options)
    return out.getvalue(), KEPT
