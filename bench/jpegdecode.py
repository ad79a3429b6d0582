"""Decoding only part of a JPEG: at a reduced scale (libjpeg's DCT scaling) or only a region (a
lossless crop of whole MCUs, then a decode of the crop), through libturbojpeg's TurboJPEG 2 API
(Debian's `libturbojpeg0` 2.1, the library jpegblocks.py uses).

Why: a look at a large photo that needs a 1,024-px copy, or the pixels of a few blocks, need not
pay for decoding every pixel. Pixels are in the stored orientation (EXIF orientation is the
caller's) and BGR; a region's pixels next to its crop's edge can differ from the full decode's in
the chroma's smooth upsampling, so callers crop one MCU wider than they use (`decode_region`).
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from dataproc_faces.imaging import jpegblocks

_TJPF_BGR = 1
_TJXOP_NONE = 0
_TJXOPT_CROP = 4
# MCU width and height in pixels by TurboJPEG's subsampling code (444, 422, 420, GRAY, 440, 411)
_MCU_W = (8, 16, 16, 8, 8, 32)
_MCU_H = (8, 8, 16, 8, 16, 8)


@lru_cache(maxsize=1)
def _library() -> ctypes.CDLL | None:
    lib = jpegblocks._library()
    if lib is None:
        return None
    lib.tjInitDecompress.restype = ctypes.c_void_p
    lib.tjDecompressHeader3.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_ulong,
        *(ctypes.POINTER(ctypes.c_int),) * 4,
    ]
    lib.tjDecompress2.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_ulong,
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_int,
    ]
    return lib


def available() -> bool:
    return _library() is not None


@dataclass(frozen=True)
class Info:
    width: int
    height: int
    mcu: tuple[int, int]  # MCU height, width in pixels


def _error(lib: ctypes.CDLL, handle: int) -> str:
    return (lib.tjGetErrorStr2(handle) or b"").decode(errors="replace")


def info(data: bytes) -> Info:
    """Stored size and MCU size from the headers; ValueError when libturbojpeg cannot read them."""
    lib = _library()
    if lib is None:
        raise OSError("libturbojpeg is not installed")
    handle = lib.tjInitDecompress()
    try:
        w, h, sub, cs = (ctypes.c_int() for _ in range(4))
        args = (ctypes.byref(w), ctypes.byref(h), ctypes.byref(sub), ctypes.byref(cs))
        if lib.tjDecompressHeader3(handle, data, len(data), *args) != 0:
            raise ValueError(_error(lib, handle))
        s = sub.value if 0 <= sub.value < len(_MCU_W) else 0
        return Info(w.value, h.value, (_MCU_H[s], _MCU_W[s]))
    finally:
        lib.tjDestroy(handle)


def decode(data: bytes, reduce: int = 1) -> np.ndarray:
    """BGR pixels in the stored orientation at 1/`reduce` scale (1, 2, 4 or 8), each side
    ceil(side / reduce) as libjpeg's DCT scaling gives."""
    if reduce not in (1, 2, 4, 8):
        raise ValueError(f"reduce must be 1, 2, 4 or 8, got {reduce}")
    lib = _library()
    if lib is None:
        raise OSError("libturbojpeg is not installed")
    head = info(data)
    w, h = -(-head.width // reduce), -(-head.height // reduce)
    out = np.empty((h, w, 3), np.uint8)
    handle = lib.tjInitDecompress()
    try:
        rc = lib.tjDecompress2(handle, data, len(data), out.ctypes.data, w, w * 3, h, _TJPF_BGR, 0)
        if rc != 0:
            raise ValueError(_error(lib, handle))
    finally:
        lib.tjDestroy(handle)
    return out


def crop(data: bytes, x0: int, y0: int, x1: int, y1: int) -> tuple[bytes, int, int]:
    """The JPEG of the whole MCUs covering stored pixels x0:x1, y0:y1 (a lossless transform: no
    DCT), and the stored position of its top-left pixel."""
    lib = _library()
    if lib is None:
        raise OSError("libturbojpeg is not installed")
    head = info(data)
    mh, mw = head.mcu
    ax, ay = max(0, x0) // mw * mw, max(0, y0) // mh * mh
    bx, by = min(head.width, x1), min(head.height, y1)
    transform = jpegblocks._Transform()
    transform.r = jpegblocks._Region(ax, ay, bx - ax, by - ay)
    transform.op = _TJXOP_NONE
    transform.options = _TJXOPT_CROP | jpegblocks._TJXOPT_COPYNONE
    handle = lib.tjInitTransform()
    buf = ctypes.POINTER(ctypes.c_ubyte)()
    size = ctypes.c_ulong(0)
    try:
        rc = lib.tjTransform(
            handle, data, len(data), 1, ctypes.byref(buf), ctypes.byref(size), transform, 0
        )
        if rc != 0:
            raise ValueError(_error(lib, handle))
        return ctypes.string_at(buf, size.value), ax, ay
    finally:
        if buf:
            lib.tjFree(buf)
        lib.tjDestroy(handle)


def decode_region(data: bytes, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    """Stored pixels x0:x1, y0:y1 (clipped to the image), decoded from a crop one MCU wider on
    every side, so the smooth chroma upsampling at the crop's edge does not reach them."""
    head = info(data)
    mh, mw = head.mcu
    x0, y0 = max(0, x0), max(0, y0)
    x1, y1 = min(head.width, x1), min(head.height, y1)
    part, ox, oy = crop(data, x0 - mw, y0 - mh, x1 + mw, y1 + mh)
    pixels = decode(part)
    return pixels[y0 - oy : y1 - oy, x0 - ox : x1 - ox]


def decode_regions(data: bytes, rects: list[tuple[int, int, int, int]]) -> list[np.ndarray]:
    """Stored pixels of each rectangle (x0, y0, x1, y1), as decode_region gives them, from one
    lossless transform that reads the coefficients once and writes one crop per rectangle."""
    if not rects:
        return []
    lib = _library()
    if lib is None:
        raise OSError("libturbojpeg is not installed")
    head = info(data)
    mh, mw = head.mcu
    n = len(rects)
    transforms = (jpegblocks._Transform * n)()
    clipped, origins = [], []
    for t, (x0, y0, x1, y1) in zip(transforms, rects, strict=True):
        x0, y0 = max(0, x0), max(0, y0)
        x1, y1 = min(head.width, x1), min(head.height, y1)
        ax, ay = max(0, x0 - mw) // mw * mw, max(0, y0 - mh) // mh * mh
        bx, by = min(head.width, x1 + mw), min(head.height, y1 + mh)
        t.r = jpegblocks._Region(ax, ay, bx - ax, by - ay)
        t.op = _TJXOP_NONE
        t.options = _TJXOPT_CROP | jpegblocks._TJXOPT_COPYNONE
        clipped.append((x0, y0, x1, y1))
        origins.append((ax, ay))
    bufs = (ctypes.POINTER(ctypes.c_ubyte) * n)()
    sizes = (ctypes.c_ulong * n)()
    handle = lib.tjInitTransform()
    try:
        rc = lib.tjTransform(handle, data, len(data), n, bufs, sizes, transforms, 0)
        if rc != 0:
            raise ValueError(_error(lib, handle))
        crops = [ctypes.string_at(bufs[i], sizes[i]) for i in range(n)]
    finally:
        for i in range(n):
            if bufs[i]:
                lib.tjFree(bufs[i])
        lib.tjDestroy(handle)
    out = []
    for part, (ox, oy), (x0, y0, x1, y1) in zip(crops, origins, clipped, strict=True):
        out.append(decode(part)[y0 - oy : y1 - oy, x0 - ox : x1 - ox])
    return out
