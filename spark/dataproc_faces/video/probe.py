"""What a video file is, from its content: container, streams, frames, rate, duration, keyframes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from typing import IO, Any

# Containers we recognise by their first bytes, and the FFmpeg muxer that writes each back.
MUXERS = {"mp4": "mp4", "mov": "mov", "matroska": "matroska", "webm": "webm", "avi": "avi"}
EXTENSIONS = {"mp4": ".mp4", "mov": ".mov", "matroska": ".mkv", "webm": ".webm", "avi": ".avi"}
HEAD_BYTES = 64  # enough for every signature below


class VideoError(Exception):
    """This input cannot become a processed video; the message goes into its manifest row."""


# A video to read: a local path, or a function opening a fresh seekable reader of it (a stored
# object read in ranges: storage.Store.open_read). Each opening gets its own reader, since the
# join reads the source's audio while another demuxer holds its first segment.
Source = str | Callable[[], IO[bytes]]


@contextmanager
def opened(source: Source) -> Iterator[Any]:
    """An FFmpeg input container on `source`, closed with its reader."""
    import av

    if isinstance(source, str):
        with av.open(source) as c:
            yield c
        return
    with source() as f, av.open(f) as c:
        yield c


def sniff(head: bytes) -> str | None:
    """The container a file's first bytes name (MUXERS' keys), or None when not a video.

    MP4/MOV: an ISO box `ftyp` (QuickTime's brand `qt  ` is MOV) or a bare `moov`/`mdat`/`wide`
    box; Matroska/WebM: the EBML magic, the DocType telling them apart; AVI: `RIFF....AVI `.
    """
    if len(head) >= 12 and head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand.startswith((b"avif", b"avis", b"heic", b"heix", b"mif1", b"msf1", b"hevc")):
            return None  # still images in an ISO box (HEIC/AVIF): photos, not videos
        return "mov" if brand == b"qt  " else "mp4"
    if len(head) >= 8 and head[4:8] in (b"moov", b"mdat", b"wide", b"free"):
        return "mov"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "webm" if b"webm" in head[:HEAD_BYTES] else "matroska"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    return None


def sniff_file(source: Source) -> str | None:
    with open(source, "rb") if isinstance(source, str) else source() as f:
        return sniff(f.read(HEAD_BYTES))


@dataclass(frozen=True)
class VideoInfo:
    container: str  # MUXERS' key
    codec: str  # the video stream's codec (FFmpeg's name: h264, hevc, vp9, av1, mpeg4, ...)
    width: int
    height: int
    fps: Fraction  # the stream's average frame rate
    time_base: Fraction
    frames: int  # video packets counted by demuxing (no decode)
    duration: float  # seconds, from the first frame's time to the last frame's end
    audio: str | None  # the first audio stream's codec, or None
    pts: list[int] = field(repr=False, default_factory=list)  # every frame's time, sorted
    keyframes: list[int] = field(repr=False, default_factory=list)  # indexes into `pts`
    declared: float | None = None  # seconds the container's header says it lasts
    rotation: int = 0  # degrees counter-clockwise a player turns the frames (phones' portrait)

    def seconds(self, pts: int) -> float:
        return float(pts * self.time_base)

    def truncated(self) -> str | None:
        """Where a file cut short stops, when its header declared more (a warning, not an
        error: the frames that are there are processed)."""
        if self.declared is None or self.declared - self.duration <= 2 / float(self.fps):
            return None
        return (
            f"truncated: frames end at {self.duration:.2f} s of the {self.declared:.2f} s "
            f"the header declares ({self.frames} frames processed)"
        )


def probe(path: Source, container: str | None = None) -> VideoInfo:
    """Demux once (no decoding): a frame count and keyframe list that do not trust headers."""
    container = container or sniff_file(path)
    if container is None:
        raise VideoError("not a video (unrecognised content)")
    try:
        with opened(path) as c:
            if not c.streams.video:
                raise VideoError(f"{container} file without a video stream")
            vs = c.streams.video[0]
            audio = c.streams.audio[0].codec_context.name if c.streams.audio else None
            codec, width, height = vs.codec_context.name, vs.width, vs.height
            fps = vs.average_rate or vs.guessed_rate or Fraction(25)
            time_base = vs.time_base
            declared = c.duration / 1_000_000 if c.duration else None  # AV_TIME_BASE units
            times: list[tuple[int, bool]] = []
            for packet in c.demux(vs):
                if packet.size and packet.pts is not None:
                    times.append((packet.pts, bool(packet.is_keyframe)))
            rotation = _rotation(c, vs) if times else 0
    except VideoError:
        raise
    except Exception as exc:  # FFmpeg's errors have many types; all mean "cannot read"
        why = getattr(exc, "strerror", None) or str(exc)  # FFmpeg's sentence, not our temp path
        raise VideoError(f"unreadable {container}: {why}") from None
    if not times:
        raise VideoError(f"{container} file with no video frames")
    times.sort()
    pts = [t for t, _ in times]
    keys = [i for i, (_, key) in enumerate(times) if key] or [0]
    if keys[0] != 0:
        keys.insert(0, 0)  # an open GOP start: decoding from the first packet is the only way in
    last = pts[-1] - pts[0] + (pts[-1] - pts[-2] if len(pts) > 1 else 1 / fps / time_base)
    return VideoInfo(
        container,
        codec,
        width,
        height,
        Fraction(fps),
        Fraction(time_base),
        len(pts),
        float(last * time_base),
        audio,
        pts,
        keys,
        declared,
        rotation,
    )


def _rotation(c: object, vs: object) -> int:
    """The display rotation the first frame carries, in quarter turns' degrees (0 when none)."""
    try:
        c.seek(0, stream=vs)  # type: ignore[attr-defined]
        frame = next(iter(c.decode(vs)))  # type: ignore[attr-defined]
    except Exception:  # no decodable first frame: processing says so, frame by frame
        return 0
    return round(float(getattr(frame, "rotation", 0) or 0) / 90) * 90 % 360
