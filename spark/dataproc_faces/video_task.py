"""One video as one input of the job: read it (a local path in place, a gs:// object through a
temporary file), process it with the video room, write the output, its poster and its per-frame
boxes, and build its manifest row. Called by pipeline.process_partition for inputs whose content
is a video; the whole video runs in this task, segment after segment, in bounded memory."""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any

from dataproc_faces.detectors.base import DetectOptions, mark_weak
from dataproc_faces.results import review
from dataproc_faces.results.corrections import Entry
from dataproc_faces.results.layout import Results
from dataproc_faces.results.manifest import ok_row
from dataproc_faces.storage.base import Store, is_remote
from dataproc_faces.video.probe import EXTENSIONS, HEAD_BYTES, sniff
from dataproc_faces.video.process import Fixes, FrameBox, VideoOptions, drawer, process_video

# Detect on every frame: measured on a generated clip (README, "Video"), a stride of 2 or 3
# saves a third to a half of the detector's time but leaves faces that enter the frame or
# turn between two looks unhidden for a frame; the memory of boxes covers two missed frames.
# A task is one core: FFmpeg's decoder and encoder on one thread each (measured: with FFmpeg's
# own threads, `local[1]` borrowed the second core and 1 -> 2 executors gained less).
DEFAULT_VIDEO = VideoOptions(stride=1, memory=2, segment_seconds=10.0, codec_threads=1)


VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".qt", ".mkv", ".webm", ".avi"})


def local_kind(source: str) -> str | None:
    """The container of a local input from its first bytes (without reading the rest)."""
    if is_remote(source):
        return None
    try:
        with open(source, "rb") as f:
            return sniff(f.read(HEAD_BYTES))
    except OSError:
        return None


def video_row(
    source: str,
    relative: str,
    kind: str,
    data: bytes | None,
    detector: Any,
    render: Any,
    results: Results,
    store_out: Store,
    started: float,
    options: VideoOptions = DEFAULT_VIDEO,
    fix: Entry | None = None,
    detect_options: DetectOptions | None = None,
) -> dict[str, Any]:
    """Process one video and write its outputs; raises VideoError for the row's message.
    `data`: the bytes already read (a remote input), or None to read the local path in place.
    `fix`: a person's corrections of it; `detect_options`: to mark finds weak as for photos."""
    from dataclasses import replace

    options = replace(options, keep_metadata=render.keep_metadata)
    suffix = EXTENSIONS[kind]
    hiding = render.anonymiser() is not None
    fixes = Fixes()
    if fix is not None:
        fixes = Fixes(
            tuple(FrameBox(*b.rect(), b.from_frame or 0, b.to_frame) for b in fix.add),
            tuple(FrameBox(*b.rect(), b.from_frame or 0, b.to_frame) for b in fix.remove),
        )
    detect = detector.detect
    if detect_options is not None:

        def detect(image: Any) -> list[Any]:
            return mark_weak(detector.detect(image), detect_options, hiding)

    size: list[int] = []

    def look(faces: list[Any]) -> list[str]:
        return review.reasons([f.to_dict() for f in faces], size[0], size[1], False, False)

    with tempfile.TemporaryDirectory(prefix="video-task-") as work:
        path = source
        if data is not None:
            path = os.path.join(work, "input" + suffix)
            with open(path, "wb") as f:
                f.write(data)
            del data
        out = os.path.join(work, "output" + suffix)
        boxes = os.path.join(work, "boxes.jsonl")

        def sized(image: Any) -> list[Any]:  # the upright frame's size, for the reasons
            if not size:
                size.extend((image.shape[1], image.shape[0]))
            return detect(image)

        result = process_video(
            path, out, boxes, sized, drawer(render), options, kind, fixes,
            look if hiding else None,
        )  # fmt: skip
        known = os.path.splitext(relative)[1].lower() in VIDEO_SUFFIXES
        new_suffix = "" if known else suffix  # a video named otherwise gets its container's
        target = results.image(relative, new_suffix)
        store_out.write_file(target, out, f"video/{'x-matroska' if kind == 'matroska' else kind}")
        frames_uri = results.frames(relative)
        store_out.write_file(frames_uri, boxes, "application/x-ndjson")
    poster = None
    if render.thumbnails and result.poster:
        poster = results.thumbnail(relative)
        store_out.write(poster, result.poster, "image/jpeg")
    info = result.info
    row = ok_row(  # local paths below the input and results folders, as for photos
        results.shown(source),
        results.shown_output(target),
        info.width,
        info.height,
        kind,
        result.faces,
        (time.perf_counter() - started) * 1000,
        thumbnail=results.shown_output(poster),
        runtime=detector.runtime,
        hidden=render.hidden(),
        metadata=result.metadata,
        review=review.video_reasons(
            result.review, bool(fix and (fix.add or fix.remove)), bool(fix and fix.reviewed)
        )
        if hiding
        else None,
    )
    row["video"] = {
        "codec": info.codec,
        "rotation": info.rotation,
        "frames": result.frames,
        "fps": round(float(info.fps), 3),
        "duration": round(info.duration, 3),
        "boxes_total": result.boxes,
        "tracks": result.tracks,
        "filled_frames": result.filled,
        "segments": result.segments,
        "audio": result.audio,
        "boxes": results.shown_output(frames_uri),
        "seconds": round(result.seconds, 3),
    }
    if hiding:
        row["video"]["review_frames"], row["video"]["review_at"] = result.review, result.review_at
    if result.warning:
        row["warning"] = result.warning
    return row
