"""A segment as a stream: decode, detect (every frame or on a stride), fill gaps from a short
memory of boxes, hide or outline with the photos' own functions, encode with the input's codec
family at its frame rate, resolution and frame times. Memory: `memory` + 1 decoded frames."""

from __future__ import annotations

import json
import os
import tempfile
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np

from dataproc_faces.detectors.base import Face
from dataproc_faces.imaging.codec import thumbnail
from dataproc_faces.imaging.metadata import KEPT
from dataproc_faces.imaging.render import REMOVE_IOU, iou
from dataproc_faces.video.probe import Source, VideoError, VideoInfo, opened, probe
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
# A frame's reasons for a person to look (results/review.py's, from the frame's detected faces);
# the video adds its own: "filled" (the memory hid a face the detector missed there) and "short"
# (a track seen in fewer than SHORT_TRACK frames: a find its neighbours do not confirm).
Look = Callable[[list[Face]], Iterable[str]]
SHORT_TRACK = 3
REVIEW_FRAMES = 20  # frame numbers kept per reason: where to start looking, not a full list


@dataclass(frozen=True)
class FrameBox:
    """A person's box (upright pixels) over frames `first`..`last` inclusive (None: to the end)."""

    x: int
    y: int
    w: int
    h: int
    first: int = 0
    last: int | None = None

    def covers(self, index: int) -> bool:
        return self.first <= index and (self.last is None or index <= self.last)

    def rect(self) -> tuple[int, int, int, int]:
        return self.x, self.y, self.w, self.h


@dataclass(frozen=True)
class Fixes:
    """A person's corrections of one video: boxes always hidden, and boxes whose detector finds
    (IoU >= REMOVE_IOU, in the frames named) are neither hidden nor tracked."""

    add: tuple[FrameBox, ...] = ()
    remove: tuple[FrameBox, ...] = ()

    def check(self, info: VideoInfo) -> None:
        """VideoError for a box outside the upright frame or frames past the video's end: a
        person's box is never dropped silently."""
        width, height = (info.height, info.width) if info.rotation in (90, 270) else (
            info.width, info.height)  # fmt: skip
        for name, boxes in (("add", self.add), ("remove", self.remove)):
            for i, b in enumerate(boxes):
                if b.first >= info.frames:
                    raise VideoError(
                        f"corrections: {name}[{i}].from_frame {b.first} is past the video's "
                        f"last frame {info.frames - 1}"
                    )
                if name == "add" and (
                    min(width, b.x + b.w) <= max(0, b.x) or min(height, b.y + b.h) <= max(0, b.y)
                ):
                    raise VideoError(
                        f"corrections: add[{i}] ({b.x}, {b.y}, {b.w}x{b.h}) lies outside the "
                        f"{width}x{height} video"
                    )

    def kept(self, index: int, found: list[Face]) -> list[Face]:
        """A frame's finds less those a remove box covering the frame takes out."""
        boxes = [b.rect() for b in self.remove if b.covers(index)]
        if not boxes:
            return found
        return [
            f for f in found if not any(iou((f.x, f.y, f.w, f.h), r) >= REMOVE_IOU for r in boxes)
        ]

    def added(self, index: int, width: int, height: int) -> list[tuple[int, Face]]:
        """(key, box) of the person's boxes in this frame, clipped; a key per box (negative, so
        never a track's), the same in every segment."""
        out = []
        for i, b in enumerate(self.add):
            if b.covers(index):
                x0, y0 = max(0, b.x), max(0, b.y)
                x1, y1 = min(width, b.x + b.w), min(height, b.y + b.h)
                out.append((-(i + 1), Face(x0, y0, x1 - x0, y1 - y0, by="person")))
        return out


@dataclass(frozen=True)
class VideoOptions:
    stride: int = 1  # detect on every n-th frame; the memory of boxes covers the others
    memory: int = 2  # frames a face may be missed and still be hidden (>= stride - 1)
    segment_seconds: float = 10.0
    keep_metadata: bool = False
    # Threads of FFmpeg's decoder and encoder: 0 lets FFmpeg use every core (a process alone on
    # a machine); a Spark task is one core (video_task.DEFAULT_VIDEO: 1), as OpenCV's and the
    # detectors' one thread: more would take the next task's core.
    codec_threads: int = 0


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
    failed: str | None = None  # why the segment could not be processed (its video's error)
    review: dict[str, int] = field(default_factory=dict)  # frames per reason to look
    review_at: dict[str, list[int]] = field(default_factory=dict)  # the first REVIEW_FRAMES

    def flag(self, reason: str, index: int) -> None:
        self.review[reason] = self.review.get(reason, 0) + 1
        at = self.review_at.setdefault(reason, [])
        if len(at) < REVIEW_FRAMES:
            at.append(index)


def merged_review(results: Iterable[SegmentResult]) -> tuple[dict[str, int], dict[str, list[int]]]:
    """Frames per reason over a video's segments, and the first frames of each."""
    counts: dict[str, int] = {}
    at: dict[str, list[int]] = {}
    for r in results:
        for reason, n in r.review.items():
            counts[reason] = counts.get(reason, 0) + n
        for reason, frames in r.review_at.items():
            at[reason] = sorted(at.get(reason, []) + frames)[:REVIEW_FRAMES]
    return dict(sorted(counts.items())), dict(sorted(at.items()))


def encoder_for(info: VideoInfo) -> tuple[str, dict[str, str]]:
    codec = info.codec if info.codec in ENCODERS else FALLBACK.get(info.container, "h264")
    return ENCODERS[codec]


def _frames(
    path: Source, info: VideoInfo, seg: Segment, result: SegmentResult, threads: int = 0
) -> Iterator[Any]:
    """(index, frame) from the segment's seek keyframe to its tail; a decode error mid-stream
    ends the segment early and is told in `result.stopped`."""
    end, index = seg.last + seg.tail, seg.first - seg.lead - 1
    with opened(path) as c:
        vs = c.streams.video[0]
        vs.thread_type = "AUTO"
        if threads:
            vs.codec_context.thread_count = threads
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
    source: Source,
    target: str,
    info: VideoInfo,
    seg: Segment,
    detect: Detect,
    draw: Draw,
    options: VideoOptions,
    boxes: IO[str] | None = None,
    fixes: Fixes = Fixes(),
    look: Look | None = None,
) -> SegmentResult:
    """Frames [seg.first, seg.last) hidden or outlined into `target` (a video-only file).
    `fixes`: a person's corrections; `look`: a frame's reasons to review (none when None)."""
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
        if options.codec_threads:
            stream.codec_context.thread_count = options.codec_threads

        continuing: set[int] = set()  # tracks seen in the lead: the previous segment's
        lengths: dict[int, list[int]] = {}  # a track of this segment: [first frame, frames]
        still: set[int] = set()  # tracks in the last frame looked at, when the video goes on
        end = seg.last + seg.tail

        def emit(filled: Any) -> None:
            image = filled.payload
            faces, tracks = list(filled.faces), list(filled.tracks)
            for key, face in fixes.added(filled.index, image.shape[1], image.shape[0]):
                faces.append(face)
                tracks.append(key)
            if filled.index < seg.first:
                continuing.update(tracks)
            if filled.index >= seg.last:  # the tail: how long this segment's tracks last
                for t in tracks:
                    if t in lengths:
                        lengths[t][1] += 1
                if filled.index == end - 1 and end < info.frames:
                    still.update(tracks)
            if not seg.first <= filled.index < seg.last:
                return  # the overlap: looked at for the memory, written by the neighbour
            for t in tracks:
                if t >= 0 and t not in continuing:
                    lengths.setdefault(t, [filled.index, 0])[1] += 1
            if seg.last == end and filled.index == seg.last - 1 and end < info.frames:
                still.update(tracks)  # no tail (no memory): a track may go on
            draw(image, faces)  # upright, as detected
            stored = np.ascontiguousarray(np.rot90(image, -turns)) if turns else image
            frame = av.VideoFrame.from_ndarray(stored, format="bgr24")
            frame.pts, frame.time_base = info.pts[filled.index], info.time_base
            for packet in stream.encode(frame.reformat(format=stream.pix_fmt)):
                out.mux(packet)
            _count(result, filled, faces, tracks, image, boxes, info, continuing)
            if look is not None:
                for reason in look([f for f in faces if f.by != "person"]):
                    result.flag(reason, filled.index)
            if filled.added:
                result.flag("filled", filled.index)

        turns = info.rotation // 90  # detect and hide upright; store as the source stores
        for index, frame in _frames(source, info, seg, result, options.codec_threads):
            image = frame.to_ndarray(format="bgr24")
            if turns:
                image = np.ascontiguousarray(np.rot90(image, turns))
            found = detect(image) if index % options.stride == 0 else None
            if found:
                found = fixes.kept(index, found)
            for filled in filler.push(index, found, image):
                emit(filled)
        for filled in filler.finish():
            emit(filled)
        for packet in stream.encode(None):
            out.mux(packet)
    if look is not None:
        for t, (first, n) in sorted(lengths.items(), key=lambda kv: kv[1][0]):
            if n < SHORT_TRACK and t not in still:
                result.flag("short", first)
    return result


def _count(
    result: SegmentResult,
    filled: Any,
    faces: list[Face],
    tracks: list[int],
    image: np.ndarray,
    boxes: IO[str] | None,
    info: VideoInfo,
    continuing: set[int],
) -> None:
    result.frames += 1
    result.faces += len(faces)
    result.filled += filled.added > 0
    for track, face in zip(tracks, faces, strict=True):
        if track in continuing:
            continue  # counted, and its largest box kept, by the segment before
        if track >= 0:  # a person's box (negative key) is listed, not a track
            result.tracks.add(track)
        best = result.representative.get(track)
        if best is None or face.w * face.h > best.w * best.h:
            result.representative[track] = face
    if len(faces) > result.poster_faces:  # the first frame showing the most faces
        result.poster, result.poster_faces = thumbnail(image), len(faces)
    if boxes is not None and faces:
        line = {
            "frame": filled.index,
            "time": round(info.seconds(info.pts[filled.index] - info.pts[0]), 6),
            "faces": [
                {**f.to_dict(), "track": t if t >= 0 else None}
                for f, t in zip(faces, tracks, strict=True)
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
    review: dict[str, int] = field(default_factory=dict)  # frames per reason to look
    review_at: dict[str, list[int]] = field(default_factory=dict)


def process_video(
    source: Source,
    target: str,
    boxes_path: str,
    detect: Detect,
    draw: Draw,
    options: VideoOptions = VideoOptions(),
    container: str | None = None,
    fixes: Fixes = Fixes(),
    look: Look | None = None,
) -> VideoResult:
    """The whole video in this process, segment after segment (each a stream), then joined.
    Raises VideoError for an input that cannot be read at all (or corrections that do not fit
    it)."""
    started = time.perf_counter()
    info = probe(source, container)
    fixes.check(info)
    if info.width <= 0 or info.height <= 0:
        raise VideoError(f"{info.container} with a {info.width}x{info.height} video stream")
    memory = max(options.memory, options.stride - 1)
    segments = plan(info, options.segment_seconds, memory)
    total = SegmentResult()
    track_offset = 0
    faces: list[Face] = []
    done: list[SegmentResult] = []
    with tempfile.TemporaryDirectory(prefix="video-") as work, open(boxes_path, "w") as boxes:
        parts = []
        for seg in segments:
            part = os.path.join(work, f"{seg.number:06d}.nut")
            try:
                r = process_segment(
                    source, part, info, seg, detect, draw, options, boxes, fixes, look
                )
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
            done.append(r)
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
        *merged_review(done),
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
