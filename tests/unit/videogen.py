"""Generated test videos: the astronaut's face pasted moving across a background, with an
optional AAC (or Opus) tone, in a chosen container and codec. Small and fast: the tests make
their own."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from tests.unit.facegen import astronaut_source, background, paste_face

AUDIO_FOR = {"mp4": "aac", "mov": "aac", "matroska": "aac", "webm": "libopus", "avi": "mp3"}
FORMAT = {"matroska": "matroska", "webm": "webm", "mp4": "mp4", "mov": "mov", "avi": "avi"}


@dataclass(frozen=True)
class Clip:
    path: Path
    frames: int
    fps: int
    boxes: list[tuple[int, int, int, int]]  # the face's box in each frame


def face_track(frames: int, width: int, height: int, side: int) -> list[tuple[int, int, int, int]]:
    """A face moving left to right across the frame, one box per frame."""
    y = (height - side) // 2
    span = max(1, width - side - 4)
    return [(2 + round(span * i / max(1, frames - 1)), y, side, side) for i in range(frames)]


def make_clip(
    path: Path,
    container: str = "mp4",
    codec: str = "libx264",
    size: tuple[int, int] = (160, 120),
    frames: int = 24,
    fps: int = 12,
    side: int = 56,
    audio: bool = True,
    metadata: dict[str, str] | None = None,
    rotation: int = 0,
) -> Clip:
    """`rotation` (90 or 270): frames stored turned, with a display rotation that turns them
    back upright, as phones store portrait videos; `boxes` are where a viewer sees the face."""
    width, height = size
    rng = np.random.default_rng(7)
    base = background(width, height, rng)
    boxes = face_track(frames, width, height, side)
    source = astronaut_source()
    with av.open(str(path), "w", format=FORMAT[container]) as out:
        for k, v in (metadata or {}).items():
            out.metadata[k] = v
        vs = out.add_stream(codec, rate=fps)
        vs.width, vs.height = (height, width) if rotation in (90, 270) else (width, height)
        if rotation:
            vs.set_display_rotation(rotation)
        vs.pix_fmt = "yuv420p"
        if codec == "libx264":
            vs.options = {"g": "6", "preset": "ultrafast"}  # keyframes every half second
        elif codec == "libvpx-vp9":
            vs.options = {"g": "6", "deadline": "realtime", "cpu-used": "8"}
        else:
            vs.options = {"g": "6"}
        au = None
        if audio:
            au = out.add_stream(AUDIO_FOR[container], rate=48000)
            au.layout = "mono"
        for i, (x, y, w, _) in enumerate(boxes):
            canvas = base.copy()
            paste_face(canvas, source, x, y, w)
            stored = np.ascontiguousarray(np.rot90(canvas, -rotation // 90)) if rotation else canvas
            frame = av.VideoFrame.from_ndarray(stored, format="bgr24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            for packet in vs.encode(frame):
                out.mux(packet)
        for packet in vs.encode(None):
            out.mux(packet)
        if au is not None:
            _tone(out, au, frames / fps)
    return Clip(path, frames, fps, boxes)


def _tone(
    out: av.container.OutputContainer, stream: av.audio.stream.AudioStream, seconds: float
) -> None:
    """A 440 Hz tone as long as the video."""
    rate = 48000
    samples = np.sin(2 * np.pi * 440 * np.arange(round(rate * seconds)) / rate).astype(np.float32)
    chunk = 1024
    for start in range(0, len(samples), chunk):
        piece = samples[start : start + chunk][None, :]
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(piece), format="fltp", layout="mono"
        )
        frame.sample_rate, frame.pts = rate, start
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode(None):
        out.mux(packet)


def decoded_times(path: Path) -> list[float]:
    """Every decoded frame's presentation time in seconds."""
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        return [float(f.pts * vs.time_base) for f in c.decode(vs)]


def audio_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as c:
        if not c.streams.audio:
            return []
        return [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]
