"""One image, bytes in and bytes out: decode, detect, hide or outline, encode. No I/O, no Spark."""

from __future__ import annotations

import time
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from PIL import Image

from dataproc_faces.detectors.base import (
    HIDING_DETECTOR,
    PRIVACY_SCORES,
    DetectOptions,
    Detector,
    Face,
)
from dataproc_faces.imaging import jpegblocks
from dataproc_faces.imaging.anonymise import (
    DEFAULT_BLUR_STRENGTH,
    DEFAULT_FILL_COLOR,
    DEFAULT_MASK_SCALE,
    DEFAULT_PIXELATE_BLOCKS,
    Anonymise,
    anonymise_faces,
)
from dataproc_faces.imaging.codec import (
    DEFAULT_MAX_PIXELS,
    ImageError,
    decode,
    draw_outlines,
    encode,
    line_width,
    native_extension,
    thumbnail,
)
from dataproc_faces.imaging.metadata import KEPT, ORIGINAL, STRIPPED, Metadata, attach, read

MODES = ("outline", "blur", "pixelate", "solid", "both")
# What a photo with no face becomes: a copy under images/, or a link to the original (no write).
FACELESS = ("copy", "link")
# The fill each anonymising mode hides faces with; `both` blurs and then outlines.
FILL_OF_MODE = {"blur": "blur", "pixelate": "pixelate", "solid": "solid", "both": "blur"}


@dataclass(frozen=True)
class RenderOptions:
    """How found faces are marked on the output image, and what else the output keeps."""

    mode: str = "outline"
    color: tuple[int, int, int] = (0, 255, 0)
    max_pixels: int = DEFAULT_MAX_PIXELS
    mask: str = "ellipse"
    mask_scale: float = DEFAULT_MASK_SCALE
    blur_strength: float = DEFAULT_BLUR_STRENGTH
    pixelate_blocks: int = DEFAULT_PIXELATE_BLOCKS
    fill_color: tuple[int, int, int] = DEFAULT_FILL_COLOR
    keep_metadata: bool = False
    thumbnails: bool = True  # False: no thumbs/ object per photo; the gallery scales the output
    faceless: str = "copy"
    allow_weak: bool = False  # a hiding setting below its floor was asked for (options.py)

    def __post_init__(self) -> None:
        if self.faceless not in FACELESS:
            raise ValueError(f"faceless must be one of {', '.join(FACELESS)}, got {self.faceless}")
        if self.faceless == "link" and self.mode != "outline":
            # an anonymised set is shared as a whole: every photo must be the stripped copy
            raise ValueError(
                "--faceless link needs --mode outline: with faces hidden, every photo is "
                "written, so none is shared with its original metadata"
            )

    def anonymiser(self) -> Anonymise | None:
        """How faces are hidden, or None when the mode only outlines them."""
        if self.mode not in FILL_OF_MODE:
            return None
        return Anonymise(
            fill=FILL_OF_MODE[self.mode],
            mask=self.mask,
            mask_scale=self.mask_scale,
            blur_strength=self.blur_strength,
            pixelate_blocks=self.pixelate_blocks,
            fill_color=self.fill_color,
        )

    def hidden(self) -> dict[str, Any] | None:
        """The anonymising options in force (a manifest row's `hidden`), None for outline."""
        a = self.anonymiser()
        return a.to_dict() if a else None

    def metadata(self) -> str:
        return KEPT if self.keep_metadata else STRIPPED

    def summary(self) -> dict[str, Any]:
        """What a summary and the gallery show: the options in force, none that do not apply."""
        return {
            "mode": self.mode,
            "max_pixels": self.max_pixels,
            **(self.hidden() or {}),
            "metadata": self.metadata(),
            **self._writes(),
        }

    def _writes(self) -> dict[str, Any]:
        """The write-saving options, only when not at their defaults."""
        writes: dict[str, Any] = {}
        if not self.thumbnails:
            writes["thumbnails"] = False
        if self.faceless != "copy":
            writes["faceless"] = self.faceless
        return writes

    def key(self) -> dict[str, Any]:
        """Options that change an output, for the resume key. Today's outline key is unchanged:
        new options enter it only where they apply or differ from the default."""
        key: dict[str, Any] = {
            "mode": self.mode,
            "max_pixels": self.max_pixels,
            "color": list(self.color),
        }
        key.update(self.hidden() or {})
        if self.keep_metadata:
            key["keep_metadata"] = True
        key.update(self._writes())
        return key


def detector_for(mode: str, named: str | None = None) -> str:
    """The detector named, else the mode's default: the ensemble when faces are hidden (a missed
    face stays recognisable), the single default detector to outline."""
    if named:
        return named
    return HIDING_DETECTOR if mode in FILL_OF_MODE else DetectOptions().detector


def privacy_detect(detect: DetectOptions, mode: str) -> DetectOptions:
    """Anonymising modes without a threshold of their own use the detector's privacy one."""
    if mode in FILL_OF_MODE and detect.score_threshold is None:
        return replace(detect, score_threshold=PRIVACY_SCORES.get(detect.detector))
    return detect


@dataclass
class Outlined:
    format: str
    width: int
    height: int
    faces: list[Face] = field(default_factory=list)
    data: bytes = b""
    new_suffix: str = ""  # set when the input's format cannot be written back (GIF -> .png)
    thumbnail: bytes = b""
    metadata: str = STRIPPED  # or KEPT, or NONE when the input had nothing to keep
    linked: bool = False  # no face and `faceless="link"`: nothing encoded, the original stands
    written: str = ""  # JPEG inputs: "blocks" (only changed MCUs rewritten) or "full: <why>"


Rect = tuple[int, int, int, int]  # x, y, w, h in the original's upright pixels
Rect4 = tuple[int, int, int, int]  # x0, y0, x1, y1
REMOVE_IOU = 0.5  # a person's remove box takes out the finds it overlaps this much


def iou(a: Rect, b: Rect) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def corrected(
    faces: list[Face], add: Sequence[Rect], remove: Sequence[Rect], width: int, height: int
) -> list[Face]:
    """A person's corrections applied to a detector's finds: finds matching a remove box (IoU >=
    REMOVE_IOU) dropped, added boxes (clipped to the image) in, placed `by` a person. An added
    box wholly outside the image is an ImageError: a person's box is never dropped silently."""
    kept = [f for f in faces if not any(iou((f.x, f.y, f.w, f.h), r) >= REMOVE_IOU for r in remove)]
    for i, (x, y, w, h) in enumerate(add):
        x0, y0, x1, y1 = max(0, x), max(0, y), min(width, x + w), min(height, y + h)
        if x1 <= x0 or y1 <= y0:
            raise ImageError(
                f"corrections: add[{i}] ({x}, {y}, {w}x{h}) lies outside the {width}x{height} image"
            )
        kept.append(Face(x0, y0, x1 - x0, y1 - y0, by="person"))
    return kept


# The stages of one photo's work, in order, as `outline` times them (the bench's breakdown).
STAGES = ("decode", "detect", "mask", "encode", "thumbnail")


class _Laps:
    """Adds the time since the last lap to a stage's total in `into` (nothing when None)."""

    def __init__(self, into: MutableMapping[str, float] | None) -> None:
        self.into, self.last = into, time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        if self.into is not None:
            self.into[stage] = self.into.get(stage, 0.0) + (now - self.last) * 1000
        self.last = now


def outline(
    data: bytes,
    detector: Detector,
    render: RenderOptions,
    add: Sequence[Rect] = (),
    remove: Sequence[Rect] = (),
    timings: MutableMapping[str, float] | None = None,
) -> Outlined:
    """Raises imaging.ImageError for inputs that cannot be processed. `add`/`remove`: a person's
    corrections (`corrected`); hiding is then the same function of pixels, boxes and options.
    `timings`: each of STAGES' milliseconds is added to it (where the time goes, for benches)."""
    laps = _Laps(timings)
    header, image = decode(data, render.max_pixels)
    laps.lap("decode")
    faces = detector.detect(image)
    laps.lap("detect")
    height, width = image.shape[:2]
    if add or remove:
        faces = corrected(faces, add, remove, width, height)
    if not faces and render.faceless == "link":
        thumb = thumbnail(image) if render.thumbnails else b""
        laps.lap("thumbnail")
        return Outlined(
            header.format, width, height, thumbnail=thumb, metadata=ORIGINAL, linked=True
        )
    hide = render.anonymiser()
    regions = (
        jpegblocks.snapshot(image, reach(faces, image, render)) if header.format == "jpeg" else []
    )
    if hide is not None:
        anonymise_faces(image, faces, hide)
    if render.mode in ("outline", "both"):
        draw_outlines(image, faces, render.color)
    laps.lap("mask")
    encoded, ext, written, orientation = _encode(data, header.format, image, regions)
    metadata = STRIPPED
    if render.keep_metadata:
        encoded, metadata = attach(encoded, ext, image, _turned(read(data), orientation))
    elif orientation != 1:  # a block-local output stored sideways: only its orientation tag
        encoded, _ = attach(encoded, ext, image, Metadata(jpegblocks.orientation_exif(orientation)))
    new_suffix = "" if native_extension(header.format) == ext else ext
    laps.lap("encode")
    thumb = thumbnail(image) if render.thumbnails else b""
    laps.lap("thumbnail")
    return Outlined(
        header.format, width, height, faces, encoded, new_suffix, thumb, metadata, written=written
    )


def reach(faces: Sequence[Face], image: Any, render: RenderOptions) -> list[Rect4]:
    """Rectangles (x0, y0, x1, y1) holding every pixel hiding or outlining `faces` may change:
    the box grown by the mask scale about its centre, plus the outline's width and a margin."""
    pad = line_width(image) + 4
    grow = max(1.0, render.mask_scale if render.anonymiser() else 1.0)
    rects = []
    for f in faces:
        cx, cy, hw, hh = f.x + f.w / 2, f.y + f.h / 2, f.w * grow / 2, f.h * grow / 2
        rects.append(
            (int(cx - hw) - pad, int(cy - hh) - pad, int(cx + hw) + pad + 1, int(cy + hh) + pad + 1)
        )
    return rects


def _encode(
    data: bytes, fmt: str, image: Any, regions: list[jpegblocks.Region]
) -> tuple[bytes, str, str, int]:
    """A JPEG input's output written block-locally where it can be, else the full encode; and
    the EXIF orientation the output's pixels are stored in (1: upright)."""
    if fmt != "jpeg":
        encoded, ext = encode(image, fmt)
        return encoded, ext, "", 1
    written = jpegblocks.write(data, image, regions)
    if written.data:
        return written.data, ".jpg", written.how, written.orientation
    encoded, ext = encode(image, fmt)
    return encoded, ext, written.how, 1


def _turned(meta: Metadata, orientation: int) -> Metadata:
    """`meta` (orientation reset to 1, as metadata.read gives it) for an output whose pixels
    are stored turned: its orientation tag set back to the input's."""
    if orientation == 1:
        return meta
    exif = Image.Exif()
    if meta.exif:
        exif.load(b"Exif\x00\x00" + meta.exif)
    exif[0x0112] = orientation
    raw = exif.tobytes()
    return replace(meta, exif=raw[6:] if raw.startswith(b"Exif\x00\x00") else raw)
