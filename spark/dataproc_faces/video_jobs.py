"""Videos as Spark work: each video's segments are tasks of their own, so one long video uses
the whole cluster, in runs planned on the driver and on the executors alike. Three Spark jobs:
probe (a task per video, or a few videos per task: frame times, keyframes, the plan, stored
under `_work/videos/<key>/plan`), segments (a task per segment: decode, detect, hide, encode,
its boxes), join (a task per video: the segments' packets and the source's audio into one file,
its row and state). What travels through Spark is (key, segment count) per video and (key,
segment number) per segment: the driver holds no plan, and counts only. Finished segments stay
under `_work/videos/<key>/` until their video is joined: a killed run redoes only the segments
it had not finished. Videos are told apart by name (VIDEO_SUFFIXES); a video under another name
is found by content in its task and processed there whole."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from dataproc_faces.detectors.base import (
    DetectOptions,
    Detector,
    Face,
    make_detector,
    mark_weak,
)
from dataproc_faces.imaging.metadata import KEPT
from dataproc_faces.results import corrections as fixes_file
from dataproc_faces.results import review
from dataproc_faces.results.folders import folder_of
from dataproc_faces.results.ledger import folder_pid, part_id, photo_options, write_part
from dataproc_faces.results.manifest import error_row, ok_row
from dataproc_faces.storage import store_for
from dataproc_faces.storage.base import is_remote
from dataproc_faces.video.probe import (
    EXTENSIONS,
    MUXERS,
    Source,
    VideoError,
    VideoInfo,
    probe,
)
from dataproc_faces.video.process import (
    Fixes,
    FrameBox,
    Look,
    SegmentResult,
    VideoOptions,
    drawer,
    merged_review,
    process_segment,
)
from dataproc_faces.video.segments import Segment, join, kept_metadata, plan
from dataproc_faces.video_task import DEFAULT_VIDEO, VIDEO_SUFFIXES

SEGMENT_SECONDS_ENV = "DATAPROC_FACES_SEGMENT_SECONDS"  # another segment length (tests)
# A task per segment up to this many segments in one run; past it, segments share tasks (the
# driver holds one number per task, never a segment).
MAX_SEGMENT_TASKS = 10_000

Entry = tuple[str, tuple[str, str]]  # (source, (relative, version)), as the planner lists


_DETECTORS: dict[DetectOptions, Detector] = {}


def _detector(options: DetectOptions) -> Detector:
    """One detector per Python worker process, as pipeline._detector (not imported: a circle)."""
    if options not in _DETECTORS:
        _DETECTORS[options] = make_detector(options)
    return _DETECTORS[options]


def is_named_video(entry: Entry) -> bool:
    return os.path.splitext(entry[1][0])[1].lower() in VIDEO_SUFFIXES


def split_named(pending: list[Entry]) -> tuple[list[Entry], list[Entry]]:
    """(photos and the rest, videos by name): the rest is sniffed in its task as before."""
    photos, videos = [], []
    for entry in pending:
        (videos if is_named_video(entry) else photos).append(entry)
    return photos, videos


@dataclass(frozen=True)
class Planned:
    source: str
    relative: str
    version: str
    key: str  # the video's version, the run's options, its corrections: its segments' folder
    info: VideoInfo | None
    segments: list[Segment]
    error: str | None = None
    fixes: Fixes = field(default_factory=Fixes)
    corrected: bool = False  # a person added or removed boxes
    reviewed: bool = False  # a person marked the video reviewed
    state: str = ""  # the resume options written with its row (the corrections' digest in it)


def _key(source: str, version: str, options: str, seconds: float) -> str:
    text = json.dumps([source, version, options, seconds])
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def source_of(uri: str) -> Source:
    """A local path as it is; a stored object as an opener of ranged readers (never whole)."""
    if not is_remote(uri):
        return uri
    store = store_for(uri)
    return lambda: store.open_read(uri)


def video_fixes(entry: fixes_file.Entry | None) -> Fixes:
    """A corrections entry as the video room's boxes over frames."""
    if entry is None:
        return Fixes()

    def boxes(found: Iterable[fixes_file.Box]) -> tuple[FrameBox, ...]:
        return tuple(FrameBox(*b.rect(), b.from_frame or 0, b.to_frame) for b in found)

    return Fixes(boxes(entry.add), boxes(entry.remove))


def probe_entry(
    entry: Entry,
    options: str,
    seconds: float,
    video: VideoOptions,
    corrections: fixes_file.Corrections | None = None,
) -> Planned:
    source, (relative, version) = entry
    fix = corrections.get(relative) if corrections else None
    state = photo_options(options, fix.digest() if fix else None)
    key = _key(source, version, state, seconds)
    found = video_fixes(fix)
    corrected = bool(fix and (fix.add or fix.remove))
    reviewed = bool(fix and fix.reviewed)
    try:
        info = probe(source_of(source))
        found.check(info)
    except Exception as exc:  # FFmpeg's, storage's: the row says why, the run goes on
        why = str(exc) if isinstance(exc, (VideoError, OSError)) else f"{type(exc).__name__}: {exc}"
        return Planned(
            source, relative, version, key, None, [], why, found, corrected, reviewed, state
        )
    memory = max(video.memory, video.stride - 1)
    segments = plan(info, seconds, memory)
    return Planned(
        source, relative, version, key, info, segments, None, found, corrected, reviewed, state
    )


def _segment_name(seg: Segment, what: str) -> str:
    return f"{seg.number:06d}.{what}"


PLAN = "plan"
# (key, segments, source, its input folder's key): what Spark carries of a video
Ticket = tuple[str, int, str, str]
_PLANS: dict[str, Planned] = {}  # the last plans this worker process read (a few)


def plan_video(
    spec: Any,
    entry: Entry,
    options: str,
    seconds: float,
    video: VideoOptions,
    corrections: fixes_file.Corrections | None = None,
) -> Ticket:
    """The probe task: the video's plan stored with its segments' files; its ticket."""
    planned = probe_entry(entry, options, seconds, video, corrections)
    results = spec.results
    results.store().write(results.video_work(planned.key, PLAN), pickle.dumps(planned))
    return planned.key, len(planned.segments), planned.source, folder_of(planned.relative)


def video_pid(run_id: str, source: str, folder: str) -> str:
    """The joined video's manifest part: in its input folder, named by the run and the video."""
    return folder_pid(folder, part_id(run_id, [source]))


def load_plan(spec: Any, key: str) -> Planned:
    """A stored plan (every frame's time: an hour of video is about 1 MB), read once per worker
    process for the segments it runs."""
    if key not in _PLANS:
        if len(_PLANS) >= 4:
            _PLANS.pop(next(iter(_PLANS)))
        results = spec.results
        _PLANS[key] = pickle.loads(results.store().read(results.video_work(key, PLAN)))
    return _PLANS[key]


def _look(spec: Any, info: VideoInfo) -> Look | None:
    """A frame's review reasons (results/review.py's, for the frame's size), for runs that
    hide faces; None for outline runs, which compute no reasons (as for photos)."""
    if spec.render.anonymiser() is None:
        return None
    width, height = (info.height, info.width) if info.rotation in (90, 270) else (
        info.width, info.height)  # fmt: skip

    def look(faces: list[Face]) -> list[str]:
        return review.reasons([f.to_dict() for f in faces], width, height, False, False)

    return look


def detect_for(spec: Any) -> Any:
    """The run's detector, its finds under the detector's own threshold marked weak (as for
    photos: detectors.base.mark_weak)."""
    detector = _detector(spec.detect)
    hiding = spec.render.anonymiser() is not None

    def detect(image: Any) -> list[Face]:
        return mark_weak(detector.detect(image), spec.detect, hiding)

    return detect


def run_segment(spec: Any, planned: Planned, seg: Segment, video: VideoOptions) -> SegmentResult:
    """One segment task: skipped when a killed run already finished it (its result is there).
    A failure is the segment's result (its video's row says so), never a failed job."""
    import cv2

    cv2.setNumThreads(1)
    results, store = spec.results, spec.results.store()
    done = results.video_work(planned.key, _segment_name(seg, "result"))
    if store_for(done).version(done) is not None:
        return pickle.loads(store.read(done))
    assert planned.info is not None
    with tempfile.TemporaryDirectory(prefix="video-segment-") as work:
        part, boxes = os.path.join(work, "part.nut"), os.path.join(work, "boxes.jsonl")
        try:
            with open(boxes, "w") as f:
                result = process_segment(
                    source_of(planned.source), part, planned.info, seg, detect_for(spec),
                    drawer(spec.render), video, f, planned.fixes, _look(spec, planned.info),
                )  # fmt: skip
        except Exception as exc:
            result = SegmentResult(failed=f"segment {seg.number}: {type(exc).__name__}: {exc}")
        else:
            for path, what in ((part, "nut"), (boxes, "jsonl")):
                store.write_file(results.video_work(planned.key, _segment_name(seg, what)), path)
    store.write(done, pickle.dumps(result))  # last: the segment counts as done once this exists
    return result


def segment_task(spec: Any, key: str, number: int, video: VideoOptions) -> None:
    planned = load_plan(spec, key)
    run_segment(spec, planned, planned.segments[number], video)


def join_video(spec: Any, run_id: str, planned: Planned, seconds: float) -> dict[str, Any]:
    """One join task: the output, its boxes, its poster, its row and state, from the segments'
    stored results; then the segments and the plan are deleted. Returns the task summary
    pipeline.process_chunk returns for photos."""
    started = time.perf_counter()
    results, store = spec.results, spec.results.store()
    pid = video_pid(run_id, planned.source, folder_of(planned.relative))
    written = results.part(pid)
    if store_for(written).version(written) is not None:  # a retried join: done, segments gone
        return _summary(_first_row(store, written), len(planned.segments))
    try:
        if planned.error:
            raise VideoError(planned.error)
        parts = []
        for seg in planned.segments:
            uri = results.video_work(planned.key, _segment_name(seg, "result"))
            if store_for(uri).version(uri) is None:
                raise VideoError(f"segment {seg.number} was not processed")
            parts.append((seg, pickle.loads(store.read(uri))))
        row = _joined_row(spec, planned, parts, started, seconds)
    except Exception as exc:
        message = results.scrub(str(exc) if isinstance(exc, (VideoError, OSError)) else
                                f"{type(exc).__name__}: {exc}")  # fmt: skip
        row = error_row(
            results.shown(planned.source), message, (time.perf_counter() - started) * 1000
        )
        if spec.render.anonymiser() is not None:
            row["review"] = ["error"]
    state = {"path": results.shown(planned.source), "version": planned.version}
    write_part(store, results, pid, [row], [{**state, "options": planned.state}])
    for seg in planned.segments:
        for what in ("nut", "jsonl", "result"):
            uri = results.video_work(planned.key, _segment_name(seg, what))
            if store_for(uri).version(uri) is not None:
                store.delete(uri)
    store.delete(results.video_work(planned.key, PLAN))  # last: a retried join reads its part
    return _summary(row, len(planned.segments))


def _first_row(store: Any, uri: str) -> dict[str, Any]:
    return json.loads(store.read(uri).decode().splitlines()[0])


def _summary(row: dict[str, Any], segments: int) -> dict[str, Any]:
    return {
        "inputs": 1,
        "ok": int(row["status"] == "ok"),
        "faces": len(row["faces"]),
        "runtime": [row["runtime"]] if row.get("runtime") else [],
        "review": int(review.needs_look(row)),
        "video_segments": segments,
    }


def _copy_into(store: Any, uri: str, out: Any) -> None:
    with store.open_read(uri) as f:
        shutil.copyfileobj(f, out, 1 << 20)


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
    failed = next((r.failed for _, r in parts if r.failed), None)
    if failed:
        raise VideoError(failed)
    kept = []
    for seg, r in parts:  # a segment cut short by damaged data ends the video there
        kept.append((seg, r))
        if r.stopped:
            break
    kind = info.container
    with tempfile.TemporaryDirectory(prefix="video-join-") as work:
        files: list[Source] = []
        lines = os.path.join(work, "boxes.jsonl")
        with open(lines, "wb") as boxes:
            for seg, r in kept:
                if not r.frames:
                    continue
                files.append(source_of(results.video_work(planned.key, _segment_name(seg, "nut"))))
                _copy_into(
                    store, results.video_work(planned.key, _segment_name(seg, "jsonl")), boxes
                )
        if not files:
            raise VideoError(f"{kind}: no frame could be decoded")
        source = source_of(planned.source)
        tags = kept_metadata(source) if render.keep_metadata else {}
        out = os.path.join(work, "output" + EXTENSIONS[kind])
        audio = join(files, source, out, kind, tags, info.rotation)
        known = os.path.splitext(planned.relative)[1].lower() in VIDEO_SUFFIXES
        target = results.image(planned.relative, "" if known else EXTENSIONS[kind])
        store.write_file(target, out, f"video/{MUXERS[kind]}")
        frames_uri = results.frames(planned.relative)
        store.write_file(frames_uri, lines, "application/x-ndjson")
    best = max((r for _, r in kept), key=lambda r: r.poster_faces)
    poster = None
    if render.thumbnails and best.poster:
        poster = results.thumbnail(planned.relative)
        store.write(poster, best.poster, "image/jpeg")
    faces: list[Face] = [f for _, r in kept for f in r.representative.values()]
    counts, at = merged_review(r for _, r in kept)
    hiding = render.hidden() is not None
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
        review=review.video_reasons(counts, planned.corrected, planned.reviewed)
        if hiding
        else None,
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
    if hiding:
        row["video"]["review_frames"], row["video"]["review_at"] = counts, at
    stopped = next((r.stopped for _, r in kept if r.stopped), None) or info.truncated()
    if stopped:
        row["warning"] = stopped
    return row


def join_task(spec: Any, run_id: str, ticket: Ticket, seconds: float, done: Any) -> dict[str, Any]:
    """One join task; retried after it finished (its worker lost before Spark heard), it finds
    the plan gone and its row written, and returns that row's summary."""
    key, segments, source, folder = ticket
    results = spec.results
    plan_uri = results.video_work(key, PLAN)
    if store_for(plan_uri).version(plan_uri) is None:
        written = results.part(video_pid(run_id, source, folder))
        summary = _summary(_first_row(results.store(), written), segments)
    else:
        summary = join_video(spec, run_id, load_plan(spec, key), seconds)
    _PLANS.pop(key, None)
    done.add(1)
    return summary


def _summed(summaries: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """One summary per join partition (a run planned on the executors may hold millions of
    videos: the driver collects one small record per task, as for photos)."""
    total: dict[str, Any] = {}
    for s in summaries:
        for k, v in s.items():
            if k == "runtime":
                total[k] = sorted(set(total.get(k, [])) | set(v))
            else:
                total[k] = total.get(k, 0) + v
    if total:
        yield total


def _counted(tickets: Iterator[Ticket]) -> Iterator[tuple[int, int]]:
    """(videos, segments) of one partition of the probe job."""
    videos = segments = 0
    for _, n, _, _ in tickets:
        videos += 1
        segments += n
    yield videos, segments


def run_segmented(
    sc: Any,
    spec: Any,
    run_id: str,
    options: str,
    videos: list[Entry] | Any,
    done: Any,
    shared: Any = None,
    phases: dict[str, float] | None = None,
) -> list[dict[str, Any]]:
    """The three Spark jobs for `videos`: a list the driver planned (a task per video) or an
    RDD of entries from a run planned on the executors. `shared`: the broadcast of the results'
    corrections, or None. One task summary per join task. `phases` gets each job's seconds
    (`video_probe`, `video_segments`, `video_join`): where a video's serial time is."""
    from pyspark import StorageLevel

    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        if phases is not None:
            phases[name] = round(now - clock, 3)
        clock = now

    if isinstance(videos, list):
        if not videos:
            return []
        videos = sc.parallelize(videos, len(videos))
    seconds = float(os.environ.get(SEGMENT_SECONDS_ENV, DEFAULT_VIDEO.segment_seconds))
    video = replace(DEFAULT_VIDEO, segment_seconds=seconds)

    def planned(entry: Entry) -> Ticket:
        corrections = shared.value if shared is not None else None
        return plan_video(spec, entry, options, seconds, video, corrections)

    tickets = videos.map(planned).persist(StorageLevel.MEMORY_AND_DISK)
    counts = tickets.mapPartitions(_counted).collect()  # the probe job: counts reach the driver
    if not sum(n for n, _ in counts):  # a run planned on the executors found no video
        tickets.unpersist()
        return []
    total = sum(s for _, s in counts)
    lap("video_probe")
    if total:
        n = min(total, MAX_SEGMENT_TASKS)
        items = tickets.flatMap(lambda t: ((t[0], k) for k in range(t[1])))
        spread = items.zipWithIndex().map(lambda x: (x[1], x[0]))
        spread.partitionBy(n, lambda i: i % n).map(
            lambda x: segment_task(spec, x[1][0], x[1][1], video)
        ).count()
    lap("video_segments")
    summaries = (
        tickets.map(lambda t: join_task(spec, run_id, t, seconds, done))
        .mapPartitions(_summed)
        .collect()
    )
    lap("video_join")
    tickets.unpersist()
    return summaries
