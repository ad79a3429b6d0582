"""Block-local JPEG output: a JPEG input's output changes only the MCUs (the 8x8 blocks of each
component, with the photo's own subsampling and quantisation tables) whose pixels the hiding or
the outlines changed; every other block's DCT coefficients are copied untouched.

Why: a full re-encode loses quality everywhere and costs an encode of the whole image for a few
faces. Here pixels outside the changed MCUs decode to exactly the original's pixels (save the
one-pixel ring that libjpeg's smooth chroma upsampling draws from a changed neighbour when the
chroma is subsampled), the file stays about the input's size, and what is encoded is only the
changed MCUs' coefficients.

How: libjpeg-turbo's lossless transform (`tjTransform`, the engine of `jpegtran`) reads the
coefficients, lets a filter callback replace the changed blocks, and writes the entropy-coded
file again without any DCT. libturbojpeg is a system library (Debian: `libturbojpeg0`); where it
is missing, `write` says so and the caller encodes the whole image as before.

EXIF-rotated photos are written in the orientation the file stores (the upright pixels turned
back, `to_stored`); the output then needs the orientation tag (`Written.orientation`), which the
caller adds. Inputs it does not take (the caller encodes in full and the row says why): CMYK/YCCK
and RGB-coded JPEGs, 12-bit JPEGs, grey JPEGs whose changes are coloured (outlines), changes so
large that a full encode is cheaper, and scans libjpeg warns about.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import re
import struct
from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np

# Reasons a JPEG took the full encode, as rows and the bench say them.
BLOCKS = "blocks"
FULL = "full"
# Past this share of MCUs rewritten, the full encode: measured (bench.codec) the block path
# costs about the full encode at 2% of MCUs and twice it near 15%.
MAX_CHANGED_SHARE = 0.15

_TJXOPT_PROGRESSIVE = 32
_TJXOPT_COPYNONE = 64
# JPEG's zigzag order: entry i of a DQT table is natural-order coefficient _ZIGZAG[i].
_ZIGZAG = np.array(
    [
        *(0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41),
        *(34, 27, 20, 13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30),
        *(37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63),
    ]
)
_SOF_BASELINE_OR_PROGRESSIVE = {0xC0: False, 0xC1: False, 0xC2: True}
_SOF_OTHER = {0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _dct_matrix() -> np.ndarray:
    """The orthonormal 8-point DCT-II: M @ block @ M.T is JPEG's forward DCT."""
    u, x = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    m = np.cos((2 * x + 1) * u * np.pi / 16) * np.sqrt(2 / 8)
    m[0] /= np.sqrt(2)
    return m


_DCT = _dct_matrix()


@dataclass(frozen=True)
class Component:
    h: int  # sampling factors
    v: int
    table: int  # quantisation table id


@dataclass(frozen=True)
class Frame:
    """What the headers say: enough to know whether and how to write blocks."""

    width: int
    height: int
    precision: int
    progressive: bool
    components: tuple[Component, ...]
    tables: dict[int, np.ndarray] = field(default_factory=dict)  # id -> 64 steps, natural order
    adobe_transform: int | None = None  # APP14's colour transform, None without APP14
    ids: bytes = b""
    orientation: int = 1  # EXIF's, 1 without EXIF

    @property
    def mcu(self) -> tuple[int, int]:
        """MCU height and width in pixels."""
        return 8 * max(c.v for c in self.components), 8 * max(c.h for c in self.components)


class HeaderError(ValueError):
    """A JPEG's markers cannot be read here (the full encode then decides what it is)."""


def parse(data: bytes) -> Frame:
    """The frame header, quantisation tables and Adobe marker, walking the markers to the
    first scan."""
    if data[:2] != b"\xff\xd8":
        raise HeaderError("no SOI")
    at, tables, adobe, sof, orientation = 2, {}, None, None, 1
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            raise HeaderError(f"no marker at byte {at}")
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker == 0xDA:
            break
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        body = data[at + 4 : at + 2 + length]
        if marker == 0xDB:
            i = 0
            while i < len(body):
                precision, tid = body[i] >> 4, body[i] & 15
                size = 128 if precision else 64
                raw = body[i + 1 : i + 1 + size]
                steps = np.frombuffer(raw, ">u2" if precision else "u1").astype(np.float64)
                natural = np.empty(64)
                natural[_ZIGZAG] = steps
                tables[tid] = natural
                i += 1 + size
        elif marker == 0xE1 and body[:6] == b"Exif\x00\x00":
            orientation = _orientation(body[6:])
        elif marker == 0xEE and body[:5] == b"Adobe" and len(body) >= 12:
            adobe = body[11]
        elif marker in _SOF_BASELINE_OR_PROGRESSIVE or marker in _SOF_OTHER:
            if marker in _SOF_OTHER:
                raise HeaderError(f"SOF{marker - 0xC0} (lossless, hierarchical or arithmetic)")
            precision, height, width, n = struct.unpack(">BHHB", body[:6])
            comps, ids = [], b""
            for k in range(n):
                cid, hv, tq = body[6 + 3 * k : 9 + 3 * k]
                comps.append(Component(hv >> 4, hv & 15, tq))
                ids += bytes([cid])
            sof = (width, height, precision, _SOF_BASELINE_OR_PROGRESSIVE[marker], comps, ids)
        at += 2 + length
    if sof is None:
        raise HeaderError("no frame header before the first scan")
    width, height, precision, progressive, comps, ids = sof
    return Frame(
        width, height, precision, progressive, tuple(comps), tables, adobe, ids, orientation
    )


def _orientation(tiff: bytes) -> int:
    """EXIF's orientation tag from IFD0 of a TIFF structure; 1 when absent or unreadable."""
    try:
        order = {b"II": "<", b"MM": ">"}[tiff[:2]]
        (ifd,) = struct.unpack(order + "I", tiff[4:8])
        (count,) = struct.unpack(order + "H", tiff[ifd : ifd + 2])
        for k in range(count):
            entry = tiff[ifd + 2 + 12 * k : ifd + 14 + 12 * k]
            tag, kind = struct.unpack(order + "HH", entry[:4])
            if tag == 0x0112 and kind == 3:
                return struct.unpack(order + "H", entry[8:10])[0]
    except (KeyError, struct.error):
        pass
    return 1


def refusal(frame: Frame) -> str | None:
    """Why this JPEG takes the full encode, or None when blocks can be written."""
    n = len(frame.components)
    if frame.orientation not in range(9):
        return f"EXIF orientation {frame.orientation}"
    if frame.precision != 8:
        return f"{frame.precision}-bit"
    if n == 4:
        return "CMYK"
    if n not in (1, 3):
        return f"{n} components"
    if n == 3 and (frame.adobe_transform == 0 or frame.ids == b"RGB"):
        return "RGB-coded"
    if any(c.table not in frame.tables for c in frame.components):
        return "missing quantisation table"
    if any(c.h not in (1, 2, 4) or c.v not in (1, 2, 4) for c in frame.components):
        return "unusual subsampling"
    hmax, vmax = max(c.h for c in frame.components), max(c.v for c in frame.components)
    if any(hmax % c.h or vmax % c.v for c in frame.components):
        return "unusual subsampling"
    return None


@dataclass(frozen=True)
class Region:
    """A rectangle of the upright image (x0:x1, y0:y1) and its pixels before any change."""

    x0: int
    y0: int
    x1: int
    y1: int
    before: np.ndarray


def snapshot(image: np.ndarray, rects: list[tuple[int, int, int, int]]) -> list[Region]:
    """Copies of the rectangles (x0, y0, x1, y1) that hiding or outlines may change, taken
    before they do; clipped to the image."""
    h, w = image.shape[:2]
    out = []
    for x0, y0, x1, y1 in rects:
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
        if x1 > x0 and y1 > y0:
            out.append(Region(x0, y0, x1, y1, image[y0:y1, x0:x1].copy()))
    return out


class ReachError(ValueError):
    """A change reached a snapshot's edge: pixels beyond it may have changed unseen."""


def _escaped(changed: np.ndarray, r: Region, regions: list[Region], size: tuple[int, int]) -> bool:
    """Whether a changed pixel lies on the region's edge (other than the image's own edge) and
    inside no other region: then the change may go on past the snapshot."""
    h, w = size
    edge = np.zeros(changed.shape, bool)
    if r.y0 > 0:
        edge[0] = True
    if r.y1 < h:
        edge[-1] = True
    if r.x0 > 0:
        edge[:, 0] = True
    if r.x1 < w:
        edge[:, -1] = True
    ys, xs = np.nonzero(edge & (changed > 0))
    for y, x in zip(ys + r.y0, xs + r.x0, strict=True):
        if not any(o.y0 < y < o.y1 - 1 and o.x0 < x < o.x1 - 1 for o in regions if o is not r):
            return True
    return False


def changed_mcus(image: np.ndarray, regions: list[Region], mcu: tuple[int, int]) -> np.ndarray:
    """(row, column) of every MCU holding a pixel that differs from its snapshot, row-major.
    ReachError when a change reaches a snapshot's edge: it may go on where no snapshot saw it."""
    h, w = image.shape[:2]
    mh, mw = mcu
    grid = np.zeros(((h + mh - 1) // mh, (w + mw - 1) // mw), bool)
    for r in regions:
        channels = cv2.split(cv2.absdiff(image[r.y0 : r.y1, r.x0 : r.x1], r.before))
        changed = channels[0]
        for c in channels[1:]:
            changed = cv2.max(changed, c)
        if _escaped(changed, r, regions, (h, w)):
            raise ReachError(f"a change reached the edge of its snapshot at x={r.x0}, y={r.y0}")
        # on the image's MCU grid: pad the region out to whole MCUs, then one max per MCU
        gy0, gx0 = r.y0 // mh, r.x0 // mw
        gy1, gx1 = (r.y1 + mh - 1) // mh, (r.x1 + mw - 1) // mw
        aligned = np.zeros(((gy1 - gy0) * mh, (gx1 - gx0) * mw), np.uint8)
        oy, ox = r.y0 - gy0 * mh, r.x0 - gx0 * mw
        aligned[oy : oy + changed.shape[0], ox : ox + changed.shape[1]] = changed
        cells = aligned.reshape(gy1 - gy0, mh, gx1 - gx0, mw).max(axis=3).max(axis=1) > 0
        grid[gy0:gy1, gx0:gx1] |= cells
    return np.argwhere(grid)


def _planes(tiles: np.ndarray, grey: bool) -> list[np.ndarray]:
    """BGR tiles (n, mh, mw, 3) as JPEG's 8-bit Y, Cb, Cr samples (float32), converted as
    libjpeg converts them before its DCT."""
    n, mh, mw, _ = tiles.shape
    flat = tiles.reshape(n * mh, mw, 3)
    if grey:
        return [cv2.cvtColor(flat, cv2.COLOR_BGR2GRAY).reshape(n, mh, mw).astype(np.float32)]
    ycc = cv2.cvtColor(flat, cv2.COLOR_BGR2YCrCb).reshape(n, mh, mw, 3).astype(np.float32)
    return [np.ascontiguousarray(ycc[..., k]) for k in (0, 2, 1)]


def _tiles(image: np.ndarray, mcus: np.ndarray, mcu: tuple[int, int]) -> np.ndarray:
    """The pixels of the given MCUs, (n, mh, mw, 3); MCUs past the image's ragged edge padded
    by repeating the last column and row, as libjpeg does."""
    mh, mw = mcu
    h, w = image.shape[:2]
    rows, cols = h // mh, w // mw
    tiles = np.empty((len(mcus), mh, mw, image.shape[2]), image.dtype)
    my, mx = mcus[:, 0], mcus[:, 1]
    inner = (my < rows) & (mx < cols)
    if inner.any():
        grid = image[: rows * mh, : cols * mw].reshape(rows, mh, cols, mw, image.shape[2])
        tiles[inner] = grid[my[inner], :, mx[inner]]
    for k in np.nonzero(~inner)[0]:  # the few along the right and bottom edges
        y0, x0 = int(my[k]) * mh, int(mx[k]) * mw
        tile = image[y0 : y0 + mh, x0 : x0 + mw]
        pad = ((0, mh - tile.shape[0]), (0, mw - tile.shape[1]), (0, 0))
        tiles[k] = np.pad(tile, pad, mode="edge")
    return tiles


def _quantised(blocks: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """JPEG's forward DCT of (n, 8, 8) level-shifted blocks, divided by the quantisation steps
    and rounded: one (n, 64) x (64, 64) matrix product for all blocks."""
    kernel = (np.kron(_DCT, _DCT).T / steps[None, :]).astype(np.float32)
    q = np.rint(blocks.reshape(-1, 64) @ kernel)
    return np.clip(q, -32767, 32767).astype(np.int16)


def block_coefficients(
    image: np.ndarray, frame: Frame, mcus: np.ndarray
) -> dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]:
    """New quantised coefficients for every block of the given MCUs, per (component, block
    row): (block columns, int16 coefficients (n, 64) in natural order)."""
    mh, mw = frame.mcu
    vmax, hmax = mh // 8, mw // 8
    planes = _planes(_tiles(image, mcus, frame.mcu), len(frame.components) == 1)
    n = len(mcus)
    out: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
    for ci, comp in enumerate(frame.components):
        plane = planes[ci]
        fy, fx = vmax // comp.v, hmax // comp.h
        if fy > 1 or fx > 1:  # box-average downsampling, as libjpeg's default
            size = (mw // fx, n * mh // fy)  # whole factors: INTER_AREA is the box mean
            flat = cv2.resize(plane.reshape(n * mh, mw), size, interpolation=cv2.INTER_AREA)
            plane = flat.reshape(n, mh // fy, mw // fx)
        blocks = plane.reshape(n, comp.v, 8, comp.h, 8).transpose(0, 1, 3, 2, 4) - 128.0
        q = _quantised(blocks, frame.tables[comp.table])  # (n * v * h, 64)
        j, i = np.meshgrid(np.arange(comp.v), np.arange(comp.h), indexing="ij")
        rows = (mcus[:, 0, None] * comp.v + j.ravel()[None, :]).ravel()
        cols = (mcus[:, 1, None] * comp.h + i.ravel()[None, :]).ravel()
        wb = (frame.width * comp.h + mw - 1) // mw  # the component's width and height in blocks
        hb = (frame.height * comp.v + mh - 1) // mh
        keep = (rows < hb) & (cols < wb)
        rows, cols, q = rows[keep], cols[keep], q[keep]
        order = np.argsort(rows, kind="stable")
        rows, cols, q = rows[order], cols[order], q[order]
        starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        for a, b in zip(starts, np.r_[starts[1:], len(rows)], strict=True):
            out[(ci, int(rows[a]))] = (cols[a:b], q[a:b])
    return out


# ---- libturbojpeg through ctypes -------------------------------------------------------------


class _Region(ctypes.Structure):
    _fields_ = [("x", ctypes.c_int), ("y", ctypes.c_int), ("w", ctypes.c_int), ("h", ctypes.c_int)]


class _Transform(ctypes.Structure):
    pass


_FILTER = ctypes.CFUNCTYPE(
    ctypes.c_int,
    ctypes.POINTER(ctypes.c_short),
    _Region,
    _Region,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.POINTER(_Transform),
)
_Transform._fields_ = [
    ("r", _Region),
    ("op", ctypes.c_int),
    ("options", ctypes.c_int),
    ("data", ctypes.c_void_p),
    ("customFilter", _FILTER),
]


@lru_cache(maxsize=1)
def _library() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("turbojpeg") or "libturbojpeg.so.0"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return None
    lib.tjInitTransform.restype = ctypes.c_void_p
    lib.tjDestroy.argtypes = [ctypes.c_void_p]
    lib.tjTransform.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_ulong,
        ctypes.c_int,
        ctypes.POINTER(ctypes.POINTER(ctypes.c_ubyte)),
        ctypes.POINTER(ctypes.c_ulong),
        ctypes.POINTER(_Transform),
        ctypes.c_int,
    ]
    lib.tjFree.argtypes = [ctypes.c_void_p]
    lib.tjGetErrorStr2.argtypes = [ctypes.c_void_p]
    lib.tjGetErrorStr2.restype = ctypes.c_char_p
    return lib


def available() -> bool:
    """Whether libturbojpeg can be loaded here (else every JPEG takes the full encode)."""
    return _library() is not None


def transcode(
    data: bytes, updates: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]], progressive: bool
) -> bytes:
    """The JPEG again with the given blocks replaced and no metadata segment: every other
    coefficient copied, the entropy coding redone (Huffman, standard tables)."""
    lib = _library()
    if lib is None:
        raise OSError("libturbojpeg is not installed")
    failed: list[BaseException] = []

    def replace_blocks(coeffs, array_region, _plane, ci, _ti, _t) -> int:
        try:
            update = updates.get((ci, array_region.y // 8))
            if update is not None:
                cols, vals = update
                row = np.ctypeslib.as_array(coeffs, shape=(array_region.w // 8, 64))
                row[cols] = vals
            return 0
        except BaseException as exc:  # an exception cannot cross the C frames
            failed.append(exc)
            return -1

    callback = _FILTER(replace_blocks)
    transform = _Transform()
    transform.options = _TJXOPT_COPYNONE | (_TJXOPT_PROGRESSIVE if progressive else 0)
    transform.customFilter = callback
    # A handle per call: one that has failed (a corrupt scan) can spoil the next file it writes.
    handle = lib.tjInitTransform()
    if not handle:
        raise ValueError("libturbojpeg could not start a transform")
    buf = ctypes.POINTER(ctypes.c_ubyte)()
    size = ctypes.c_ulong(0)
    rc = lib.tjTransform(
        handle, data, len(data), 1, ctypes.byref(buf), ctypes.byref(size), transform, 0
    )
    try:
        if failed:
            raise failed[0]
        if rc != 0:
            raise ValueError((lib.tjGetErrorStr2(handle) or b"").decode(errors="replace"))
        return ctypes.string_at(buf, size.value)
    finally:
        if buf:
            lib.tjFree(buf)
        lib.tjDestroy(handle)


@dataclass(frozen=True)
class Written:
    """A block-local output, or why there is none (`data` empty: encode the whole image)."""

    data: bytes
    how: str  # BLOCKS, or FULL + ": " + the reason
    blocks: int = 0  # MCUs rewritten
    mcus: int = 0  # MCUs in the image
    orientation: int = 1  # the input's EXIF orientation, which the output must carry too


def to_stored(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Upright pixels turned back the way the file stores them (EXIF orientation 1-8): the
    inverse of what the decoder applied. A view, not a copy."""
    if orientation == 2:
        return pixels[:, ::-1]
    if orientation == 3:
        return pixels[::-1, ::-1]
    if orientation == 4:
        return pixels[::-1]
    if orientation == 5:
        return pixels.swapaxes(0, 1)
    if orientation == 6:
        return np.rot90(pixels, 1)
    if orientation == 7:
        return pixels[::-1, ::-1].swapaxes(0, 1)
    if orientation == 8:
        return np.rot90(pixels, -1)
    return pixels


def _stored_rect(r: Region, width: int, height: int, orientation: int) -> tuple[int, ...]:
    """(x0, y0, x1, y1) of an upright rectangle in the stored image; width, height upright."""
    xs = {2: (width - r.x1, width - r.x0), 3: (width - r.x1, width - r.x0)}.get(
        orientation, (r.x0, r.x1)
    )
    ys = {3: (height - r.y1, height - r.y0), 4: (height - r.y1, height - r.y0)}.get(
        orientation, (r.y0, r.y1)
    )
    if orientation in (5, 6, 7, 8):  # sideways: stored columns are upright rows
        flip_x = orientation in (7, 8)  # stored x runs against upright y
        flip_y = orientation in (6, 7)  # stored y runs against upright x
        xs = (height - r.y1, height - r.y0) if flip_x else (r.y0, r.y1)
        ys = (width - r.x1, width - r.x0) if flip_y else (r.x0, r.x1)
    return (xs[0], ys[0], xs[1], ys[1])


def write(data: bytes, image: np.ndarray, regions: list[Region]) -> Written:
    """The input JPEG `data` with the MCUs that changed in `image` (upright pixels; `regions`
    hold what they were) written from `image`, every other block copied. An EXIF-rotated photo
    is written in its stored orientation: `orientation` says which tag the output needs."""
    try:
        frame = parse(data)
    except (HeaderError, struct.error, IndexError) as exc:
        return Written(b"", f"{FULL}: {exc}")
    reason = refusal(frame)
    orientation = frame.orientation if frame.orientation in range(2, 9) else 1
    if orientation != 1:
        height, width = image.shape[:2]
        image = np.ascontiguousarray(to_stored(image, orientation))
        regions = [
            Region(
                *_stored_rect(r, width, height, orientation),
                np.ascontiguousarray(to_stored(r.before, orientation)),
            )
            for r in regions
        ]
    if reason is None and image.shape[:2] != (frame.height, frame.width):
        reason = "decoded size differs from the frame header"
    if reason is None and not available():
        reason = "libturbojpeg not installed"
    if reason:
        return Written(b"", f"{FULL}: {reason}")
    mh, mw = frame.mcu
    total = ((frame.height + mh - 1) // mh) * ((frame.width + mw - 1) // mw)
    try:
        mcus = changed_mcus(image, regions, frame.mcu)
    except ReachError as exc:
        return Written(b"", f"{FULL}: {exc}")
    if len(frame.components) == 1 and len(mcus):
        for my, mx in mcus:
            tile = image[my * mh : (my + 1) * mh, mx * mw : (mx + 1) * mw]
            if np.any(tile[..., 0] != tile[..., 1]) or np.any(tile[..., 1] != tile[..., 2]):
                return Written(b"", f"{FULL}: colour marks on a grey photo")
    if len(mcus) > MAX_CHANGED_SHARE * total:
        return Written(b"", f"{FULL}: {len(mcus)} of {total} MCUs changed")
    if not len(mcus):  # nothing changed: the input's own scans, without its metadata
        try:
            return Written(stripped(data), BLOCKS, 0, total, orientation)
        except HeaderError as exc:
            return Written(b"", f"{FULL}: {exc}")
    updates = block_coefficients(image, frame, mcus)
    try:
        out = transcode(data, updates, frame.progressive)
    except ValueError as exc:
        return Written(b"", f"{FULL}: {exc}")
    return Written(out, BLOCKS, len(mcus), total, orientation)


# A marker inside or after a scan: 0xFF followed by neither a stuffed zero, a restart marker
# (RST0-7, part of the scan) nor a fill byte.
_MARKER_IN_SCAN = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_KEPT_APP0 = b"JFIF\x00"


def stripped(data: bytes) -> bytes:
    """The JPEG's own segments and scans up to its first image's EOI, without metadata (APPn and
    COM segments other than JFIF's APP0) or anything after the EOI (an MPO's other frames):
    what the lossless transform writes when no block changes, at the cost of a copy (the
    transform decodes and encodes every block's entropy coding again). HeaderError on a
    structure it cannot walk."""
    if data[:2] != b"\xff\xd8":
        raise HeaderError("no SOI")
    out, at, n = [b"\xff\xd8"], 2, len(data)
    while True:
        if at + 2 > n or data[at] != 0xFF:
            raise HeaderError(f"no marker at byte {at}")
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker == 0xD9:
            out.append(b"\xff\xd9")
            return b"".join(out)
        if at + 4 > n:
            raise HeaderError(f"segment cut short at byte {at}")
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        end = at + 2 + length
        if length < 2 or end > n:
            raise HeaderError(f"segment length {length} at byte {at}")
        metadata = 0xE0 <= marker <= 0xEF or marker == 0xFE
        if not metadata:
            out.append(data[at:end])
        elif marker == 0xE0 and data[at + 4 : at + 9] == _KEPT_APP0 and length >= 16:
            # JFIF's header without the thumbnail it may carry: version, units and density
            out.append(b"\xff\xe0\x00\x10" + data[at + 4 : at + 16] + b"\x00\x00")
        if marker == 0xDA:  # the scan's entropy-coded data runs to the next marker
            found = _MARKER_IN_SCAN.search(data, end)
            if found is None:
                raise HeaderError("no marker after the scan (truncated)")
            out.append(data[end : found.start()])
            end = found.start()
        at = end


def orientation_exif(orientation: int) -> bytes:
    """A TIFF structure holding only EXIF's orientation tag: all an output without metadata
    needs so that viewers turn its stored pixels upright."""
    entry = struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0)
    return b"MM\x00\x2a" + struct.pack(">IH", 8, 1) + entry + struct.pack(">I", 0)
