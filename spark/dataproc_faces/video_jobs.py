"""Videos as Spark work: each video's segments are tasks of their own, so one long video uses
the whole cluster. Three Spark jobs: probe (a task per video: frame times, keyframes, the plan),
segments (a task per segment: decode, detect, hide, encode, its boxes), join (a task per video:
the segments' packets and the source's audio into one file, its row and state). Finished
segments stay under `_work/videos/<key>/` until their video is joined: a killed run redoes only
the segments it had not finished. Videos are told apart on the driver by name (VIDEO_SUFFIXES);
a video under another name is found by content in its task and processed there whole."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from dataproc_faces.detectors.base import DetectOptions, Detector, Face, make_detector
from dataproc_faces.imaging.metadata import KEPT
from dataproc_faces.results.folders import folder_of
from dataproc_faces.results.ledger import folder_pid, part_id, write_part
from dataproc_faces.results.manifest import error_row, ok_row
from dataproc_faces.storage import store_for
from dataproc_faces.storage.base import is_remote
from dataproc_faces.video.probe import EXTENSIONS, MUXERS, VideoError, VideoInfo, probe
from dataproc_faces.video.process import SegmentResult, VideoOptions, drawer, process_segment
from dataproc_faces.video.segments import Segment, join, kept_metadata, plan
from dataproc_faces.video_task import DEFAULT_VIDEO, VIDEO_SUFFIXES

SEGMENT_SECONDS_ENV = "DATAPROC_FACES_SEGMENT_SECONDS"  # another segment length (tests)

Entry = tuple[str, tuple[str, str]]  # (source, (relative, version)), as the planner lists


_DETECTORS: dict[DetectOptions, Detector] = {}


def _detector(options: DetectOptions) -> Detector:
    """One detector per Python worker process, as pipeline._detector (not imported: a circle)."""
    if options not in _DETECTORS:
        _DETECTORS[options] = make_detector(options)
    return _DETECTORS[options]


def split_named(pending: list[Entry]) -> tuple[list[Entry], list[Entry]]:
    """(photos and the rest, videos by name): the rest is sniffed in its task as before."""
    photos, videos = [], []
    for entry in pending:
        suffix = os.path.splitext(entry[1][0])[1].lower()
        (videos if suffix in VIDEO_SUFFIXES else photos).append(entry)
    return photos, videos


@dataclass(frozen=True)
class Planned:
    source: str
    relative: str
    version: str
    key: str  # the video's version and the run's options: its segments' folder
    info: VideoInfo | None
    segments: list[Segment]
    error: str | None = None


def _key(source: str, version: str, options: str, seconds: float) -> str:
    text = json.dumps([source, version, options, seconds])
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _local(source: str, work: str) -> str:
    """A local path to read the video from: the input itself, or a copy of a gs:// object."""
    if not is_remote(source):
        return source
    path = os.path.join(work, "source")
    with open(path, "wb") as f:
        f.write(store_for(source).read(source))
    return path


def probe_entry(entry: Entry, options: str, seconds: float, video: VideoOptions) -> Planned:
    source, (relative, version) = entry
    key = _key(source, version, options, seconds)
    try:
        with tempfile.TemporaryDirectory(prefix="video-probe-") as work:
            info = probe(_local(source, work))
    except (VideoError, OSError) as exc:
        return Planned(source, relative, version, key, None, [], str(exc))
    memory = max(video.memory, video.stride - 1)
    return Planned(source, relative, version, key, info, plan(info, seconds, memory))


def _segment_name(seg: Segment, what: str) -> str:
    return f"{seg.number:06d}.{what}"


def run_segment(spec: Any, planned: Planned, seg: Segment, video: VideoOptions) -> SegmentResult:
    """One segment task: skipped when a killed run already finished it (its result is there)."""
    import cv2

    cv2.setNumThreads(1)
    results, store = spec.results, spec.results.store()
    done = results.video_work(planned.key, _segment_name(seg, "result"))
    if store_for(done).version(done) is not None:
        return pickle.loads(store.read(done))
    assert planned.info is not None
    detector = _detector(spec.detect)
    with tempfile.TemporaryDirectory(prefix="video-segment-") as work:
        source = _local(planned.source, work)
        part, boxes = os.path.join(work, "part.nut"), os.path.join(work, "boxes.jsonl")
        with open(boxes, "w") as f:
            result = process_segment(
                source, part, planned.info, seg, detector.detect, drawer(spec.render), video, f
            )
        for path, what in ((part, "nut"), (boxes, "jsonl")):
            with open(path, "rb") as f:
                store.write(results.video_work(planned.key, _segment_name(seg, what)), f.read())
    store.write(done, pickle.dumps(result))  # last: the segment counts as done once this exists
    return result


def join_video(
    spec: Any,
    run_id: str,
    options: str,
    planned: Planned,
    parts: list[tuple[Segment, SegmentResult]],
    seconds: float,
) -> dict[str, Any]:
    """One join task: the output, its boxes, its poster, its row and state; then the segments
    are deleted. Returns the task summary pipeline.process_chunk returns for photos."""
    started = time.perf_counter()
    results, store = spec.results, spec.results.store()
    pid = folder_pid(folder_of(planned.relative), part_id(run_id, [planned.source]))
    written = results.part(pid)
    if store_for(written).version(written) is not None:  # a retried join: done, segments gone
        row = json.loads(store.read(written).decode().splitlines()[0])
        return _summary(row, planned)
    try:
        if planned.error:
            raise VideoError(planned.error)
        row = _joined_row(spec, planned, parts, started, seconds)
    except (VideoError, OSError) as exc:
        message = results.scrub(str(exc))  # an OS error names a local path
        row = error_row(
            results.shown(planned.source), message, (time.perf_counter() - started) * 1000
        )
    state = {"path": results.shown(planned.source), "version": planned.version, "options": options}
    write_part(store, results, pid, [row], [state])
    for seg in planned.segments:
        for what in ("nut", "jsonl", "result"):
            uri = results.video_work(planned.key, _segment_name(seg, what))
            if store_for(uri).version(uri) is not None:
                store.delete(uri)
    return _summary(row, planned)


def _summary(row: dict[str, Any], planned: Planned) -> dict[str, Any]:
    return {
        "inputs": 1,
        "ok": int(row["status"] == "ok"),
        "faces": len(row["faces"]),
        "runtime": [row["runtime"]] if row.get("runtime") else [],
        "review": 0,
        "video_segments": len(planned.segments),
    }


def _joined_row(
    spec: Any,
    planned: Planned,
    parts: list[tuple[Segment, SegmentResult]],
    started: float,
    seconds: float,
) -> dict[str, Any]:
    info, results, store = planned.info, spec.results, spec.results.store()
    assert info is not None
    render = spec.render
    parts = sorted(parts, key=lambda p: p[0].number)
    kept = []
    for seg, r in parts:  # a segment cut short by damaged data ends the video there
        kept.append((seg, r))
        if r.stopped:
            break
    kind = info.container
    with tempfile.TemporaryDirectory(prefix="video-join-") as work:
        files, lines = [], []
        for seg, r in kept:
            if not r.frames:
                continue
            local = os.path.join(work, _segment_name(seg, "nut"))
            with open(local, "wb") as f:
                f.write(store.read(results.video_work(planned.key, _segment_name(seg, "nut"))))
            files.append(local)
            lines.append(store.read(results.video_work(planned.key, _segment_name(seg, "jsonl"))))
        if not files:
            raise VideoError(f"{kind}: no frame could be decoded")
        source = _local(planned.source, work)
        tags = kept_metadata(source) if render.keep_metadata else {}
        out = os.path.join(work, "output" + EXTENSIONS[kind])
        audio = join(files, source, out, kind, tags, info.rotation)
        known = os.path.splitext(planned.relative)[1].lower() in VIDEO_SUFFIXES
        target = results.image(planned.relative, "" if known else EXTENSIONS[kind])
        with open(out, "rb") as f:
            store.write(target, f.read(), f"video/{MUXERS[kind]}")
    frames_uri = results.frames(planned.relative)
    store.write(frames_uri, b"".join(lines), "application/x-ndjson")
    best = max((r for _, r in kept), key=lambda r: r.poster_faces)
    poster = None
    if render.thumbnails and best.poster:
        poster = results.thumbnail(planned.relative)
        store.write(poster, best.poster, "image/jpeg")
    faces: list[Face] = [f for _, r in kept for f in r.representative.values()]
    row = ok_row(  # local paths below the input and results folders, as for photos
        results.shown(planned.source),
        results.shown_output(target),
        info.width,
        info.height,
        kind,
        faces,
        (time.perf_counter() - started) * 1000,
        thumbnail=results.shown_output(poster),
        runtime=_detector(spec.detect).runtime,
        hidden=render.hidden(),
        metadata=KEPT if render.keep_metadata else "stripped",
    )
    row["video"] = {
        "codec": info.codec,
        "rotation": info.rotation,
        "frames": sum(r.frames for _, r in kept),
        "fps": round(float(info.fps), 3),
        "duration": round(info.duration, 3),
        "boxes_total": sum(r.faces for _, r in kept),
        "tracks": sum(len(r.tracks) for _, r in kept),
        "filled_frames": sum(r.filled for _, r in kept),
        "segments": len(planned.segments),
        "segment_seconds": seconds,
        "audio": audio,
        "boxes": results.shown_output(frames_uri),
        "seconds": round(time.perf_counter() - started, 3),
    }
    stopped = next((r.stopped for _, r in kept if r.stopped), None) or info.truncated()
    if stopped:
        row["warning"] = stopped
    return row


def run_segmented(
    sc: Any, spec: Any, run_id: str, options: str, videos: Iterable[Entry], done: Any
) -> list[dict[str, Any]]:
    """The three Spark jobs for `videos`; one task summary per video."""
    videos = list(videos)
    if not videos:
        return []
    seconds = float(os.environ.get(SEGMENT_SECONDS_ENV, DEFAULT_VIDEO.segment_seconds))
    video = replace(DEFAULT_VIDEO, segment_seconds=seconds)
    plans = (
        sc.parallelize(videos, len(videos))
        .map(lambda e: probe_entry(e, options, seconds, video))
        .collect()
    )
    shared = sc.broadcast(plans)  # every frame time of every video: one copy per executor
    jobs = [(i, seg) for i, p in enumerate(plans) for seg in p.segments]
    finished: list[tuple[int, Segment, SegmentResult]] = []
    if jobs:
        finished = (
            sc.parallelize(jobs, len(jobs))
            .map(lambda j: (j[0], j[1], run_segment(spec, shared.value[j[0]], j[1], video)))
            .collect()
        )
    shared.unpersist()
    by_video: dict[int, list[tuple[Segment, SegmentResult]]] = {i: [] for i in range(len(plans))}
    for i, seg, r in finished:
        by_video[i].append((seg, r))
    work = [(p, by_video[i]) for i, p in enumerate(plans)]

    def joined(item: tuple[Planned, list]) -> dict[str, Any]:
        summary = join_video(spec, run_id, options, item[0], item[1], seconds)
        done.add(1)
        return summary

    return sc.parallelize(work, len(work)).map(joined).collect()
