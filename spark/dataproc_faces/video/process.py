"""A segment as a stream: decode, detect (every frame or on a stride), fill gaps from a short
memory of boxes, hide or outline with the photos' own functions, encode with the input's codec
family at its frame rate, resolution and frame times. Memory: `memory` + 1 decoded frames."""

from __future__ import annotations

import json
import os
import tempfile
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np

from dataproc_faces.detectors.base import Face
from dataproc_faces.imaging.codec import thumbnail
from dataproc_faces.imaging.metadata import KEPT
from dataproc_faces.video.probe import VideoError, VideoInfo, probe
from dataproc_faces.video.segments import Segment, join, kept_metadata, plan
from dataproc_faces.video.track import GapFiller

# The input's codec -> the encoder the wheel carries for that family, and its options. No
# B-frames: every packet's decode time equals its presentation time, so segments encoded apart
# join with rising timestamps.
ENCODERS: dict[str, tuple[str, dict[str, str]]] = {
    "h264": ("libx264", {"crf": "18", "preset": "veryfast", "bf": "0"}),
    "hevc": (
        "libx265",
        {"crf": "22", "preset": "fast", "x265-params": "bframes=0:log-level=error"},
    ),
    "vp9": ("libvpx-vp9", {"crf": "30", "b": "0", "deadline": "realtime", "cpu-used": "8"}),
    "vp8": ("libvpx", {"crf": "10", "b": "2M", "deadline": "realtime", "cpu-used": "8"}),
    "av1": ("libsvtav1", {"crf": "35", "preset": "10"}),
    "mpeg4": ("mpeg4", {"qscale": "3", "bf": "0"}),
    "mjpeg": ("mjpeg", {"qscale": "3"}),
}
# A codec we can decode but not write back: the container's usual one.
FALLBACK = {"webm": "vp9"}
SEGMENT_FORMAT = "nut"  # keeps the stream's own time base: no rounding of frame times

Detect = Callable[[np.ndarray], list[Face]]
Draw = Callable[[np.ndarray, list[Face]], None]


@dataclass(frozen=True)
class VideoOptions:
    stride: int = 1  # detect on every n-th frame; the memory of boxes covers the others
    memory: int = 2  # frames a face may be missed and still be hidden (>= stride - 1)
    segment_seconds: float = 10.0
    keep_metadata: bool = False


@dataclass
class SegmentResult:
    frames: int = 0
    faces: int = 0  # boxes over all frames
    filled: int = 0  # frames where the memory added a box
    tracks: set[int] = field(default_factory=set)
    poster: bytes = b""
    poster_faces: int = -1
    representative: dict[int, Face] = field(default_factory=dict)  # the largest box per track
    stopped: str | None = None  # where decoding stopped early, for a truncated input


def encoder_for(info: VideoInfo) -> tuple[str, dict[str, str]]:
    codec = info.codec if info.codec in ENCODERS else FALLBACK.get(info.container, "h264")
    return ENCODERS[codec]


def _frames(path: str, info: VideoInfo, seg: Segment, result: SegmentResult) -> Iterator[Any]:
    """(index, frame) from the segment's seek keyframe to its tail; a decode error mid-stream
    ends the segment early and is told in `result.stopped`."""
    import av

    end, index = seg.last + seg.tail, seg.first - seg.lead - 1
    with av.open(path) as c:
        vs = c.streams.video[0]
        vs.thread_type = "AUTO"
        if seg.seek > 0:
            c.seek(info.pts[seg.seek], stream=vs, backward=True, any_frame=False)
        try:
            for frame in c.decode(vs):
                if frame.pts is None:
                    continue
                index = bisect_left(info.pts, frame.pts)
                if index >= end:
                    return
                if index < seg.first - seg.lead or index >= len(info.pts):
                    continue
                if info.pts[index] != frame.pts:
                    continue  # a frame the demuxer did not count: not ours to write
                yield index, frame
        except Exception as exc:  # damaged data: keep what decoded
            result.stopped = f"decoding stopped after frame {index + 1} of {info.frames}: {exc}"


def process_segment(
    source: str,
    target: str,
    info: VideoInfo,
    seg: Segment,
    detect: Detect,
    draw: Draw,
    options: VideoOptions,
    boxes: IO[str] | None = None,
) -> SegmentResult:
    """Frames [seg.first, seg.last) hidden or outlined into `target` (a video-only file)."""
    import av

    result = SegmentResult()
    name, codec_options = encoder_for(info)
    filler = GapFiller(max(options.memory, options.stride - 1))
    with av.open(target, "w", format=SEGMENT_FORMAT) as out:
        stream = out.add_stream(name, rate=info.fps, options=dict(codec_options))
        stream.width, stream.height = info.width, info.height
        stream.pix_fmt = "yuvj420p" if name == "mjpeg" else "yuv420p"
        stream.time_base = info.time_base
        stream.codec_context.time_base = info.time_base

        continuing: set[int] = set()  # tracks seen in the lead: the previous segment's

        def emit(filled: Any) -> None:
            if filled.index < seg.first:
                continuing.update(filled.tracks)
            if not seg.first <= filled.index < seg.last:
                return  # the overlap: looked at for the memory, written by the neighbour
            image = filled.payload
            faces = filled.faces
            draw(image, faces)  # upright, as detected
            stored = np.ascontiguousarray(np.rot90(image, -turns)) if turns else image
            frame = av.VideoFrame.from_ndarray(stored, format="bgr24")
            frame.pts, frame.time_base = info.pts[filled.index], info.time_base
            for packet in stream.encode(frame.reformat(format=stream.pix_fmt)):
                out.mux(packet)
            _count(result, filled, image, boxes, info, continuing)

        turns = info.rotation // 90  # detect and hide upright; store as the source stores
        for index, frame in _frames(source, info, seg, result):
            image = frame.to_ndarray(format="bgr24")
            if turns:
                image = np.ascontiguousarray(np.rot90(image, turns))
            look = index % options.stride == 0
            found = detect(image) if look else None
            for filled in filler.push(index, found, image):
                emit(filled)
        for filled in filler.finish():
            emit(filled)
        for packet in stream.encode(None):
            out.mux(packet)
    return result


def _count(
    result: SegmentResult,
    filled: Any,
    image: np.ndarray,
    boxes: IO[str] | None,
    info: VideoInfo,
    continuing: set[int],
) -> None:
    result.frames += 1
    result.faces += len(filled.faces)
    result.filled += filled.added > 0
    for track, face in zip(filled.tracks, filled.faces, strict=True):
        if track in continuing:
            continue  # counted, and its largest box kept, by the segment before
        result.tracks.add(track)
        best = result.representative.get(track)
        if best is None or face.w * face.h > best.w * best.h:
            result.representative[track] = face
    if len(filled.faces) > result.poster_faces:  # the first frame showing the most faces
        result.poster, result.poster_faces = thumbnail(image), len(filled.faces)
    if boxes is not None and filled.faces:
        line = {
            "frame": filled.index,
            "time": round(info.seconds(info.pts[filled.index] - info.pts[0]), 6),
            "faces": [
                {**f.to_dict(), "track": t}
                for f, t in zip(filled.faces, filled.tracks, strict=True)
            ],
        }
        boxes.write(json.dumps(line, separators=(",", ":")) + "\n")


@dataclass
class VideoResult:
    info: VideoInfo
    frames: int
    faces: list[Face]  # the largest box of each track
    boxes: int  # boxes over all frames (a face in 100 frames is 100)
    tracks: int
    filled: int
    segments: int
    audio: str
    metadata: str
    poster: bytes
    seconds: float
    warning: str | None = None


def process_video(
    source: str,
    target: str,
    boxes_path: str,
    detect: Detect,
    draw: Draw,
    options: VideoOptions = VideoOptions(),
    container: str | None = None,
) -> VideoResult:
    """The whole video in this process, segment after segment (each a stream), then joined.
    Raises VideoError for an input that cannot be read at all."""
    started = time.perf_counter()
    info = probe(source, container)
    if info.width <= 0 or info.height <= 0:
        raise VideoError(f"{info.container} with a {info.width}x{info.height} video stream")
    memory = max(options.memory, options.stride - 1)
    segments = plan(info, options.segment_seconds, memory)
    total = SegmentResult()
    track_offset = 0
    faces: list[Face] = []
    with tempfile.TemporaryDirectory(prefix="video-") as work, open(boxes_path, "w") as boxes:
        parts = []
        for seg in segments:
            part = os.path.join(work, f"{seg.number:06d}.nut")
            try:
                r = process_segment(source, part, info, seg, detect, draw, options, boxes)
            except VideoError:
                raise
            except Exception as exc:
                raise VideoError(
                    f"segment {seg.number} failed: {type(exc).__name__}: {exc}"
                ) from None
            if r.frames:
                parts.append(part)
            total.frames += r.frames
            total.faces += r.faces
            total.filled += r.filled
            track_offset += len(r.tracks)
            faces.extend(r.representative.values())
            if r.poster_faces > total.poster_faces:
                total.poster, total.poster_faces = r.poster, r.poster_faces
            if r.stopped:
                total.stopped = f"segment {seg.number}: {r.stopped}"
                break
        if not parts:
            raise VideoError(f"{info.container}: no frame could be decoded")
        tags = kept_metadata(source) if options.keep_metadata else {}
        audio = join(parts, source, target, info.container, tags, info.rotation)
    return VideoResult(
        info,
        total.frames,
        faces,
        total.faces,
        track_offset,
        total.filled,
        len(segments),
        audio,
        KEPT if options.keep_metadata else "stripped",
        total.poster,
        time.perf_counter() - started,
        total.stopped or info.truncated(),
    )


def drawer(render: Any) -> Draw:
    """The photos' own hiding and outlining (imaging.render.RenderOptions) as a frame function:
    one function of pixels, boxes and options, whoever placed the boxes."""
    from dataproc_faces.imaging.anonymise import anonymise_faces
    from dataproc_faces.imaging.codec import draw_outlines

    hide = render.anonymiser()

    def draw(image: np.ndarray, faces: list[Face]) -> None:
        if hide is not None:
            anonymise_faces(image, faces, hide)
        if render.mode in ("outline", "both"):
            draw_outlines(image, faces, render.color)

    return draw
