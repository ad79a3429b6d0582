"""Spark wiring: list inputs on the executors, skip what is done, process the rest in tasks that
write their own manifest parts; the driver handles counts and file names, never rows, but for a
run small enough (SMALL_RUN) that planning and finishing it on the driver beats Spark's jobs."""

from __future__ import annotations

import io
import itertools
import json
import os
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from typing import Any

from dataproc_faces import ranges, video_jobs, video_task
from dataproc_faces.detectors.base import (
    DetectOptions,
    Detector,
    Face,
    make_detector,
    mark_weak,
)
from dataproc_faces.imaging.render import RenderOptions, outline
from dataproc_faces.results import corrections as fixes
from dataproc_faces.results import review
from dataproc_faces.results import totals as totals_cache
from dataproc_faces.results.folders import SHARDS, TOP, folder_of
from dataproc_faces.results.layout import Results
from dataproc_faces.results.ledger import (
    _record_read,
    add_hashes,
    bookkeeping_slices,
    capped,
    compact,
    folder_name,
    folder_part_ids,
    forget_digests,
    forget_digests_spread,
    line_hash,
    new_run_id,
    newest_states,
    newest_stored,
    options_key,
    part_id,
    part_ids,
    part_versions,
    photo_options,
    read_digests,
    read_rows,
    seal,
    seal_listing,
    states_rdd,
    stop_at,
    write_digests,
    write_digests_rdd,
    write_digests_spread,
    write_folder_parts,
)
from dataproc_faces.results.manifest import Summary, error_row, ok_row
from dataproc_faces.scheduling import equal_sizes, guided_sizes
from dataproc_faces.storage import store_for
from dataproc_faces.storage.base import is_remote, is_within, join, joiner, normalise
from dataproc_faces.storage.names import UnsafeName, safe_relative
from dataproc_faces.storage.skips import SKIP_REASONS


@dataclass(frozen=True)
class JobSpec:
    """Everything a run needs; plain data so Spark can ship it to executors."""

    input: str
    output: str
    detect: DetectOptions = field(default_factory=DetectOptions)
    render: RenderOptions = field(default_factory=RenderOptions)
    partitions: int | None = None
    input_list: str | None = None  # a file of URIs that replaces listing `input`
    corrections: str | None = None  # a corrections file to merge into the results' own

    @property
    def results(self) -> Results:
        """The output's layout; its store keeps writes out of the input: originals are never
        written, whatever path a caller builds."""
        return Results(self.output, protect=self.input)


@dataclass(frozen=True)
class Task:
    source: str
    relative: str


_DETECTORS: dict[DetectOptions, Detector] = {}


def _detector(options: DetectOptions) -> Detector:
    """One detector per Python worker process: workers are reused across tasks."""
    if options not in _DETECTORS:
        _DETECTORS[options] = make_detector(options)
    return _DETECTORS[options]


def process_partition(
    spec: JobSpec, tasks: Iterable[Task], corrections: fixes.Corrections | None = None
) -> Iterator[dict[str, Any]]:
    """Runs in an executor: every failure of one image becomes that image's error row.
    `corrections`: a person's boxes by relative path (results/corrections.py)."""
    import cv2

    cv2.setNumThreads(1)  # Spark already runs one task per core
    detector = _detector(spec.detect)
    results = spec.results
    store_in, store_out = store_for(spec.input), results.store()
    for task in tasks:
        started = time.perf_counter()
        try:
            relative = safe_relative(task.relative)  # before reading: a refused name is not read
            entry = corrections.get(relative) if corrections else None
            kind = video_task.local_kind(task.source)  # a local video is read in place
            data = None if kind else store_in.read(task.source)
            kind = kind or (video_task.sniff(data[: video_task.HEAD_BYTES]) if data else None)
            if kind:
                yield video_task.video_row(
                    task.source, relative, kind, data, detector, spec.render, results,
                    store_out, started, fix=entry, detect_options=spec.detect,
                )  # fmt: skip
                continue
            add, remove = fixes.photo_boxes(entry)
            result = outline(data, detector, spec.render, add, remove)
            target = task.source  # a linked photo's output is its original
            if not result.linked:
                target = results.image(relative, result.new_suffix)
                store_out.write(target, result.data)
            thumb = None
            if result.thumbnail:
                thumb = results.thumbnail(relative)
                store_out.write(thumb, result.thumbnail, "image/jpeg")
        except Exception as exc:
            message = results.scrub(_message(exc))  # an OS error names a local path
            yield error_row(results.shown(task.source), message, _ms(started))
            continue
        faces, hidden = _weak(result.faces, spec), spec.render.hidden()
        reasons = None
        if hidden is not None:  # the privacy report is for runs that hide faces
            touched = bool(entry and (entry.add or entry.remove))
            reviewed = bool(entry and entry.reviewed)
            dicts = [f.to_dict() for f in faces]
            reasons = review.reasons(dicts, result.width, result.height, touched, reviewed)
        yield ok_row(  # local paths below the input and results folders: a shareable row
            results.shown(task.source),
            results.shown_output(target),
            result.width,
            result.height,
            result.format,
            faces,
            _ms(started),
            thumbnail=results.shown_output(thumb),
            runtime=detector.runtime,
            hidden=hidden,
            metadata=result.metadata,
            review=reasons,
            written=result.written,
        )


def _weak(faces: list[Face], spec: JobSpec) -> list[Face]:
    """Finds scored under the detector's own threshold marked weak (detectors.base.mark_weak)."""
    return mark_weak(faces, spec.detect, spec.render.anonymiser() is not None)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _message(exc: Exception) -> str:
    from dataproc_faces.imaging.codec import ImageError
    from dataproc_faces.video.probe import VideoError

    if isinstance(exc, (ImageError, UnsafeName, VideoError, fixes.CorrectionsError)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def list_tasks(spec: JobSpec) -> list[Task]:
    """Listed once, on the driver; with an input list, its entries relative to spec.input."""
    if spec.input_list:
        return tasks_from_list(read_input_list(spec.input_list), spec.input)
    store = store_for(spec.input)
    return [Task(join(spec.input, rel), rel) for rel in store.list_files(spec.input)]


def tasks_from_list(sources: list[str], root: str) -> list[Task]:
    """One task per listed source, its output path below `root` (ValueError if outside)."""
    return [Task(src, relative_to(src, root)) for src in sources]


def read_input_list(uri: str) -> list[str]:
    """URIs or paths one per line, in order; blank lines and `#` comments skipped, duplicates
    dropped. For one process (benchmarks); the job reads lists with Spark (`list_sources`)."""
    return list(dict.fromkeys(_list_entries(uri)))


def common_root(sources: list[str]) -> str:
    """The deepest folder holding every source: the default root for an input list."""
    if not sources:
        raise ValueError("the input list is empty")
    if len({is_remote(s) for s in sources}) > 1:
        raise ValueError("the input list mixes local paths and URIs")
    folders = [s.rsplit("/", 1)[0] for s in sources]
    root = folders[0]
    for folder in folders[1:]:
        while not is_within(folder, root):
            if is_remote(root) and "/" not in root.split("://", 1)[1]:
                raise ValueError(f"the input list spans buckets ({root} and {folder})")
            parent = root.rsplit("/", 1)[0]
            if parent == root:  # relative names with no folder in common: climbing ends here
                raise ValueError(f"the input list has no folder in common ({root} and {folder})")
            root = parent
    return root or "/"


def outside(source: str, root: str) -> bool:
    """Whether an input list's entry does not lie below `root` (the root itself included)."""
    return not is_within(source, root) or source == root


def relative_to(source: str, root: str) -> str:
    """Where `source` goes under the output: its path below `root` (which must hold it)."""
    if outside(source, root):
        raise ValueError(f"{source} is not inside {root}")
    return source[len(root.rstrip("/")) + 1 :]


# progress(total, read_done) -> a context manager around the Spark action
Progress = Callable[[int, Callable[[], int]], AbstractContextManager[Any]]

SHARD_ENTRIES = 50_000  # top-level files the driver holds before writing them to a shard
MAX_CHUNK = 2_000  # inputs per Spark task at most: what a killed run can lose, per core
PLAN_ENTRIES = 5_000  # inputs per partition while planning (join with states, sort, number)


# A listed entry is (source, (relative, version)); a name left out of the inputs travels as
# ("", (relative, SKIPPED + reason)), so one Spark job counts inputs and skipped names together.
SKIPPED = "skipped:"


def _walk(root: str, folders: Iterable[str]) -> Iterator[tuple[str, tuple[str, str]]]:
    store = store_for(root)
    left_out: list[tuple[str, str]] = []
    for folder in folders:
        for rel, version in store.walk(root, folder, lambda r, why: left_out.append((r, why))):
            yield from _drain(left_out)
            yield join(root, rel), (rel, version)
        yield from _drain(left_out)


def _drain(left_out: list[tuple[str, str]]) -> Iterator[tuple[str, tuple[str, str]]]:
    for rel, why in left_out:
        yield "", (rel, SKIPPED + why)
    left_out.clear()


def _kind(entry: tuple[str, tuple[str, str]]) -> str:
    """The reason an entry was left out, or "" for an input."""
    version = entry[1][1]
    return version[len(SKIPPED) :] if version.startswith(SKIPPED) else ""


def _read_shards(
    root: str, uris: Iterable[str], logged: str = ""
) -> Iterator[tuple[str, tuple[str, str]]]:
    below = joiner(root)
    for uri in uris:
        for rel, version in _listed_pairs(uri, logged):
            yield below(rel), (rel, version)


def _listed_pairs(uri: str, logged: str = "") -> Iterator[tuple[str, str]]:
    """(relative, version) of each line of a listing file."""
    if logged:
        _record_read(uri, logged)
    for line in store_for(uri).read(uri).decode("utf-8").splitlines():
        rel, _, version = line.rpartition("\t")
        yield rel, version


def listing(sc: Any, spec: JobSpec, run_id: str) -> tuple[Any, list[str], dict[str, int]]:
    """RDD of (source, (relative, version)); the driver lists one level only (see storage.py).

    Files at the top level stream into shard files of SHARD_ENTRIES under DST/_work, which
    executors read; the second value lists those shards, for the caller to delete. The RDD also
    carries the names left out below the top level (`_kind`); the third value counts, by
    reason, those left out at the top level.
    """
    if spec.input_list:
        return _listed_inputs(sc, spec), [], {}
    parts, folders, shards, top_skipped = _top_listing(sc, spec, run_id)
    if folders:
        root = spec.input
        parts.append(_dealt(sc, folders).mapPartitions(lambda f: _walk(root, f)))
    parts += _shard_reads(sc, spec.input, shards)
    return (sc.union(parts) if parts else sc.emptyRDD()), shards, top_skipped


def _dealt(sc: Any, items: list[Any], per_core: int = 2) -> Any:
    """RDD of `items` (the top-level folders to walk, or a flat prefix's slices of names)
    dealt to `per_core` tasks a core like cards (task i gets items i, i + n, i + 2n...): items
    whose names sort together are often alike in size (a year's folders, a camera's digits),
    and contiguous slices put the large ones in the same tasks. Dealt, two a core balance the
    walk as well as four did, and each task fewer saves its start: walking 1,000,000 photos in
    185 folders, 1.9-2.1 s against 2.2-2.3 s."""
    slices = bookkeeping_slices(sc, len(items), per_core)
    hands = sc.parallelize([items[i::slices] for i in range(slices)], slices)
    return hands.flatMap(lambda hand: hand)  # pipelined into the caller's task: no extra step


def _top_listing(
    sc: Any, spec: JobSpec, run_id: str
) -> tuple[list[Any], list[str], list[str], dict[str, int]]:
    """The top level of the input: an RDD of its loose files if they are few, the names of its
    folders (one level: their files are the executors' to walk), the shard files holding its
    files when they are many (`_shard_reads`) and the names left out there, by reason. An
    object store's top level of more than RANGE_ENTRIES files is listed in slices by the
    executors (`_top_in_slices`), cut where the run before marked it or, the first time, by a
    probe of the driver's first RANGE_ENTRIES files (ranges.py)."""
    store, out = store_for(spec.input), spec.results.store()
    recorded = ranges.read_marks(spec.results) if store.lists_ranges else []
    if recorded:
        return _top_in_slices(sc, spec, run_id, recorded, recorded)
    probe = ranges.range_entries() if store.lists_ranges else -1  # files listed before slicing
    files = 0
    first = last = ""
    top_skipped: dict[str, int] = {}

    def skipped(_: str, why: str) -> None:
        top_skipped[why] = top_skipped.get(why, 0) + 1

    folders: list[str] = []
    buffer: list[str] = []
    shards: list[str] = []
    loose: list[tuple[str, tuple[str, str]]] = []
    for rel, version in store.top_level(spec.input, skipped):
        if version is None:
            folders.append(rel)
            continue
        if files == probe:  # more than a slice: dropped, and listed again in slices
            for uri in shards:
                out.delete(uri)
            return _top_in_slices(sc, spec, run_id, ranges.probe_marks(first, last), [])
        first, last = first or rel, rel
        files += 1
        buffer.append(f"{rel}\t{version}")
        if len(buffer) >= SHARD_ENTRIES:
            shards.append(_write_shard(out, spec.results, run_id, len(shards), buffer))
            buffer = []
    if shards and buffer:
        shards.append(_write_shard(out, spec.results, run_id, len(shards), buffer))
    elif buffer:
        loose = [(join(spec.input, r), (r, v)) for r, _, v in (b.rpartition("\t") for b in buffer)]
    slices = sc.defaultParallelism * 4
    parts = [sc.parallelize(loose, max(1, min(len(loose) // 1000, slices)))] if loose else []
    return parts, folders, shards, top_skipped


def _top_in_slices(
    sc: Any, spec: JobSpec, run_id: str, cuts: list[str], recorded: list[str]
) -> tuple[list[Any], list[str], list[str], dict[str, int]]:
    """`_top_listing` by the executors, a task per few slices of names between `cuts` (the
    recorded marks, or a probe's: ranges.py), dealt so neighbours go to different tasks: the
    driver holds the folders' names, one shard name per SHARD_ENTRIES files and one count per
    slice, as when it lists page by page."""
    root, results, every = spec.input, spec.results, ranges.range_entries()
    cut = ranges.slices(cuts)
    folders: set[str] = set()
    shards: list[tuple[Any, str]] = []
    counted: dict[int, ranges.Counted] = {}
    top_skipped: dict[str, int] = {}
    for kind, key, value in (
        _dealt(sc, cut, 4)
        .mapPartitions(lambda s: ranges.list_slices(root, results, run_id, every, SHARD_ENTRIES, s))
        .collect()
    ):
        if kind == "folder":
            folders.add(key)
        elif kind == "shard":
            shards.append((key, value))
        elif kind == "slice":
            counted[key] = value
        else:
            top_skipped[key] = top_skipped.get(key, 0) + value
    marks = ranges.next_marks([counted[i] for i in sorted(counted)], every)
    ranges.write_marks(results, marks, recorded)
    return [], sorted(folders), [uri for _, uri in sorted(shards)], top_skipped


def _shard_reads(sc: Any, root: str, shards: list[str]) -> list[Any]:
    if not shards:
        return []
    return [sc.parallelize(shards, len(shards)).mapPartitions(lambda u: _read_shards(root, u))]


LISTING_READS_ENV = "DATAPROC_FACES_LISTING_READS"  # tests: a file that records each shard read


def _digest_folders(
    spec: JobSpec,
    run_id: str,
    options: str,
    force: bool,
    shared: Any,
    items: Iterable[tuple[str, str | None]],
) -> Iterator[tuple[str, str, str, int, str]]:
    """One Spark task of the listing: walk each (folder, recorded digest), sum its digest there
    and write its listing to a file only when the digest differs (or `force`), so an unchanged
    folder sends nothing but ("folder", key, digest, count, "") and is never read again. Names
    left out come as ("skipped", reason, "", count, "")."""
    root, results = spec.input, spec.results
    store, out = store_for(root), results.store()
    fixed = shared.value if shared else None
    left_out: dict[str, int] = {}

    def skipped(_: str, why: str) -> None:
        left_out[why] = left_out.get(why, 0) + 1

    own = _expected(options, fixed)
    for folder, recorded in items:
        lines: dict[str, list[str]] = {}
        head = folder.rstrip("/")
        one = head and not head.startswith("/")  # every file below is one key: this folder's
        mine: list[str] = []
        for rel, version in store.walk(root, folder, skipped):
            if one:  # the plain case, once per file of the collection: no key lookups
                mine.append(f"{rel}\t{version}")
                continue
            lines.setdefault(folder_of(rel), []).append(f"{rel}\t{version}")
        if mine:
            lines[head] = mine
        for key, listed in sorted(lines.items()):
            digest, uri = seal_listing(listed, options, own), ""
            if force or digest != recorded:
                uri = results.folder_listing(run_id, folder_name(key))
                out.write_lines(uri, listed)
            yield "folder", key, digest, len(listed), uri
    for why, n in sorted(left_out.items()):
        yield "skipped", why, "", n, ""


@dataclass
class _Listed:
    """A full listing, digested: counts and the changed folders on the driver (one small
    record per folder), the entries of the changed folders only as an RDD."""

    listed: int
    ignored: dict[str, int]
    shards: list[str]  # files under _work to delete after the run
    changed: dict[str, tuple[str, int]]  # folder key -> (digest, inputs listed there)
    entries: Any  # RDD of (source, (relative, version)) of the changed folders
    held: Any  # the persisted top-level entries, or None
    listings: dict[str, str] = field(default_factory=dict)  # changed folder key -> its listing
    top: Any = None  # RDD of the entries of changed `_top/xx` shards, or None


def _listed_by_folder(
    sc: Any, spec: JobSpec, run_id: str, options: str, force: bool, shared: Any
) -> _Listed:
    """One Spark job walks and digests every folder (`_digest_folders`); top-level files are
    summed per `_top` shard. Only changed folders' listings are read back, by the executors."""
    from pyspark import StorageLevel

    results = spec.results
    parts, folders, shards, ignored = _top_listing(sc, spec, run_id)
    parts += _shard_reads(sc, spec.input, shards)
    named = {f: folder_of(f.rstrip("/") + "/x") for f in folders}  # a folder's own key
    keys = list(named.values()) + ([f"{TOP}/{i:02x}" for i in range(SHARDS)] if parts else [])
    recorded = {} if force else read_digests(results, keys)
    changed: dict[str, tuple[str, int]] = {}
    read: list[str] = []  # the changed folders' listings
    listings: dict[str, str] = {}
    listed = 0
    if folders:
        walk = _dealt(sc, [(f, recorded.get(named[f])) for f in folders])
        for kind, key, digest, n, uri in walk.mapPartitions(
            lambda items: _digest_folders(spec, run_id, options, force, shared, items)
        ).collect():
            if kind == "skipped":
                ignored[key] = ignored.get(key, 0) + n
                continue
            listed += n
            if uri:
                changed[key] = (digest, n)
                read.append(uri)
                listings[key] = uri
    shards += read
    root = spec.input
    entries = []
    if read:
        back = sc.parallelize(read, min(len(read), sc.defaultParallelism * 4))
        entries.append(back.mapPartitions(lambda u: _read_shards(root, u, LISTING_READS_ENV)))
    top = loose = None
    if parts:
        top = sc.union(parts).persist(StorageLevel.MEMORY_AND_DISK)

        def share(e: Any) -> tuple[str, tuple[int, int]]:
            rel, version = e[1]
            fixed = shared.value if shared else None
            return folder_of(rel), line_hash(rel, version, _photo_options(options, fixed, rel))

        for key, summed in top.map(share).reduceByKey(add_hashes).collect():
            listed += summed[0]
            if force or seal(summed) != recorded.get(key):
                changed[key] = (seal(summed), summed[0])
        wanted = frozenset(k for k in changed if k.startswith(TOP + "/"))  # at most SHARDS
        entries.append(top.filter(lambda e: folder_of(e[1][0]) in wanted))
        loose = entries[-1] if wanted else None
    rdd = sc.union(entries) if entries else sc.emptyRDD()
    return _Listed(listed, ignored, shards, changed, rdd, top, listings, loose)


def _prune(folders: Iterable[str]) -> None:
    """Remove a run's emptied local `_work/<run id>` folders, and `_work` if that empties it
    (an object store has no folders to remove)."""
    for folder in sorted(folders):
        for empty in (folder, folder.rpartition("/")[0]):
            if is_remote(empty):
                break
            try:
                os.rmdir(empty)
            except OSError:  # not empty (another run's, or a video's segments), or gone
                break


def _write_shard(store: Any, results: Results, run_id: str, n: int, lines: list[str]) -> str:
    uri = results.shard(run_id, n)
    store.write_lines(uri, lines)
    return uri


def _list_entries(uri: str) -> Iterator[str]:
    """The list file's entries; blank lines and `#` comments skipped. Streamed: a reader that
    stops early (`small_list`) reads no further than it needs."""
    with store_for(uri).open_read(uri) as f:
        for line in io.TextIOWrapper(f, encoding="utf-8", newline=None):
            entry = line.strip()  # `#` only starts a comment at the start: URIs may contain it
            if entry and not entry.startswith("#"):
                yield normalise(entry)


def small_list(uri: str, limit: int) -> list[str] | None:
    """An input list's distinct entries in their order, read by the driver when there are at
    most `limit` (a drain of the change feed); None past that: Spark reads it."""

    def distinct() -> Iterator[str]:
        seen: set[str] = set()
        for entry in _list_entries(uri):
            if entry not in seen:
                seen.add(entry)
                yield entry

    return capped(distinct(), limit) if limit > 0 else None


def list_sources(sc: Any, uri: str) -> Any:
    """RDD of the distinct entries of an --input-list: Spark reads it, not the driver."""
    entries = sc.parallelize([uri], 1).flatMap(_list_entries)
    return entries.distinct(max(1, sc.defaultParallelism * 4))


def list_root(sc: Any, uri: str) -> str:
    """`common_root` of an input list, reduced on the executors; ValueError as common_root."""

    def root(source: str) -> Any:
        return source.rsplit("/", 1)[0] if "/" in source else source

    def merge(a: Any, b: Any) -> Any:
        if isinstance(a, tuple) or isinstance(b, tuple):
            return a if isinstance(a, tuple) else b
        try:
            return common_root([a + "/x", b + "/x"])
        except ValueError as exc:
            return ("error", str(exc))

    sources = list_sources(sc, uri)
    if sources.isEmpty():
        raise ValueError("the input list is empty")
    found = sources.map(root).distinct().reduce(merge)
    if isinstance(found, tuple):
        raise ValueError(found[1])
    return found


def outside_root(sc: Any, uri: str, root: str) -> str | None:
    """The first entry of an input list that does not lie below `root`, if any."""
    bad = list_sources(sc, uri).filter(lambda s: outside(s, root)).take(1)
    return bad[0] if bad else None


def _versions(root: str, sources: Iterable[str]) -> Iterator[tuple[str, tuple[str, str]]]:
    store = None
    for source in sources:
        store = store or store_for(source)
        yield source, (relative_to(source, root), store.version(source) or "")


def _listed_inputs(sc: Any, spec: JobSpec) -> Any:
    """An input list's entries with their versions (a missing one gets "" and an error row)."""
    root = spec.input
    return list_sources(sc, spec.input_list).mapPartitions(lambda s: _versions(root, s))


# A run whose input and results hold at most this many entries is planned and finished on the
# driver, and only its tasks go to Spark: each Spark job costs 0.3-1 s, and at 50,000 rows the
# gallery took 54 s as Spark jobs against 3 s on the driver (`make bench-scale`). The driver then
# holds at most this many entries (224 MiB peak at 50,000); past it, executors do it all.
SMALL_RUN = 100_000
SMALL_RUN_ENV = "DATAPROC_FACES_SMALL_RUN"  # another limit; 0 plans every run with Spark


@dataclass(frozen=True)
class DriverPlan:
    """What `_plan_with_spark` finds, found by the driver alone for a small run."""

    pending: list[tuple[str, tuple[str, str]]]  # (source, (relative, version)), sorted
    listed: int
    ignored: dict[str, int]
    changed: dict[str, str] = field(default_factory=dict)  # folder key -> its listing's digest
    shards: list[str] = field(default_factory=list)  # listing shards to delete after the run
    listed_only: bool = False  # an input list's plan: its folders' digests are not recorded
    redone: set[str] = field(default_factory=set)  # `_redone`: digests to forget before tasks


def driver_bound() -> int:
    """How many entries (inputs, state lines, rows) the driver may hold at once."""
    return int(os.environ.get(SMALL_RUN_ENV, SMALL_RUN))


def plan_on_driver(
    spec: JobSpec,
    options: str,
    force: bool,
    limit: int = SMALL_RUN,
    corrections: fixes.Corrections | None = None,
    last: dict[str, Any] | None = None,
) -> DriverPlan | None:
    """`listing` + `_pending` without Spark, or None when the input or the results hold more
    than `limit` entries (an input list: when it holds more, `_plan_list_on_driver`). `last`:
    the results' last summary when the caller has read it (`_last_summary`)."""
    if limit <= 0:
        return None
    if spec.input_list:
        return _plan_list_on_driver(spec, options, force, limit, corrections)
    if _known_size(_last_summary(spec.results) if last is None else last) > limit:
        return None
    store, ignored = store_for(spec.input), {}

    def skipped(_: str, why: str) -> None:
        ignored[why] = ignored.get(why, 0) + 1

    def entries() -> Iterator[tuple[str, tuple[str, str]]]:
        for rel, version in store.top_level(spec.input, skipped):
            below = store.walk(spec.input, rel, skipped) if version is None else None
            for r, v in below or [(rel, version)]:
                yield join(spec.input, r), (r, v)

    listed = capped(entries(), limit)
    if listed is None:
        return None
    sums: dict[str, tuple[int, int]] = {}  # the top level's shards: summed, as Spark does
    walked: dict[str, list[str]] = {}  # a folder's lines in the walk's order (`seal_listing`)
    for _, (rel, version) in listed:
        key = folder_of(rel)
        if key.startswith(f"{TOP}/"):
            share = line_hash(rel, version, _photo_options(options, corrections, rel))
            sums[key] = add_hashes(sums[key], share) if key in sums else share
        else:
            walked.setdefault(key, []).append(f"{rel}\t{version}")
    own = _expected(options, corrections)
    digests = {k: seal(v) for k, v in sums.items()}
    digests.update({k: seal_listing(v, options, own) for k, v in walked.items()})
    recorded = {} if force else read_digests(spec.results, digests)
    changed = {k: d for k, d in digests.items() if recorded.get(k) != d}
    states = None if force else newest_states(spec.results, limit, changed)
    if states is None and not force:
        return None

    pending = _stale(listed, changed, states, options, corrections, force)
    kept = {w: ignored[w] for w in SKIP_REASONS if w in ignored}
    return DriverPlan(pending, len(listed), kept, changed, redone=_redone(pending, states))


def _plan_list_on_driver(
    spec: JobSpec,
    options: str,
    force: bool,
    limit: int,
    corrections: fixes.Corrections | None,
) -> DriverPlan | None:
    """An input list of at most `limit` entries whose folders hold at most `limit` state lines
    (what `follow` starts): planned here, every listed folder's states read and none of its
    digests recorded (a list is not a folder's whole listing). None: Spark plans it."""
    sources = small_list(spec.input_list or "", limit)
    if sources is None:
        return None
    listed = list(_versions_here(spec.input, sources))
    folders = {folder_of(rel): "" for _, (rel, _) in listed}
    states = None if force else newest_states(spec.results, limit, folders)
    if states is None and not force:
        return None
    pending = _stale(listed, folders, states, options, corrections, force)
    redone = _redone(pending, states)
    return DriverPlan(pending, len(listed), {}, folders, listed_only=True, redone=redone)


def _versions_here(root: str, sources: list[str]) -> Iterator[tuple[str, tuple[str, str]]]:
    """`_versions` on the driver; a bucket's objects are asked for a few at a time."""
    if not is_remote(root) or len(sources) < 2:
        return _versions(root, sources)
    store = store_for(root)
    with ThreadPoolExecutor(max_workers=16) as pool:
        versions = list(pool.map(store.version, sources))
    return iter(
        [(s, (relative_to(s, root), v or "")) for s, v in zip(sources, versions, strict=True)]
    )


def _last_summary(results: Results) -> dict[str, Any]:
    """The results' last summary, or {} when there is none (or it is damaged: as if none)."""
    store = results.store()
    try:
        data = store.version(results.summary) and json.loads(store.read(results.summary))
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _counted_in(summary: dict[str, Any], *keys: str) -> int:
    try:
        return sum(int(summary.get(k, 0)) for k in keys)
    except (TypeError, ValueError):
        return 0


def _known_size(summary: dict[str, Any]) -> int:
    """How large the results' last summary says the collection is (0 when none says): the
    inputs its run listed, or its rows when more (a run of the change feed lists only its
    photos). An input known to be past the driver's bound is not walked here only to find that
    out again (at 200,000 photos that walk cost seconds before Spark's own listing began). An
    input that shrank since is planned by Spark once: slower, never wrong."""
    return max(_counted_in(summary, "processed", "skipped"), _counted_in(summary, "inputs"))


def _stale(
    listed: Iterable[tuple[str, tuple[str, str]]],
    changed: Any,
    states: dict[str, tuple[str, str, str]] | None,
    options: str,
    corrections: fixes.Corrections | None,
    force: bool,
) -> list[tuple[str, tuple[str, str]]]:
    """The entries of changed folders never processed, changed since, or processed with other
    options, in folder order (on the driver)."""

    def stale(entry: tuple[str, tuple[str, str]]) -> bool:
        state = (states or {}).get(entry[0])
        expected = _photo_options(options, corrections, entry[1][0])
        return force or _is_stale(state, entry[1][1], expected)

    return sorted(
        (e for e in listed if folder_of(e[1][0]) in changed and stale(e)), key=_folder_order
    )


def _is_stale(state: tuple[str, str, str] | None, version: str, expected: str) -> bool:
    """Never processed, changed since, or processed with other options."""
    return state is None or state[1] != version or state[2] != expected


def _done_at(state: tuple[str, str, str] | None, version: str) -> bool:
    """Processed before at the version it has now: redoing it replaces that work (`_redone`)."""
    return state is not None and state[1] == version


def _stale_in_folder(
    pairs: Iterable[tuple[str, str]],
    states: dict[str, tuple[str, str, str]],
    options: str,
    corrections: fixes.Corrections | None,
    shown: Callable[[str], str],
) -> tuple[list[tuple[str, str]], bool]:
    """`_stale` and `_redone` of one changed folder's (relative, version) pairs, against its
    states keyed as stored (`shown`: Results.shown_of): its pending pairs, and whether one of
    them was done before at the version it has now. A folder's 10,000 names are not made into
    paths, and without corrections the expected options are the run's."""
    pending, again, own = [], False, _expected(options, corrections)
    for rel, version in pairs:
        state = states.get(shown(rel))
        if _is_stale(state, version, own(rel) if own else options):
            pending.append((rel, version))
            again = again or _done_at(state, version)
    return pending, again


def _redone(
    pending: Iterable[tuple[str, tuple[str, str]]], states: dict[str, tuple[str, str, str]] | None
) -> set[str]:
    """The folders of pending entries done before at the version they have now (other options,
    a correction): the only work a recorded digest can still seem to vouch for afterwards."""
    found = states or {}
    return {folder_of(e[1][0]) for e in pending if _done_at(found.get(e[0]), e[1][1])}


class _Keys:
    """An accumulator of folder keys (PySpark's AccumulatorParam protocol): lists joined; a
    retried task's keys may come twice."""

    def zero(self, value: list[str]) -> list[str]:
        return []

    def addInPlace(self, a: list[str], b: list[str]) -> list[str]:
        return a + b


def _folder_order(entry: tuple[str, tuple[str, str]]) -> tuple[str, str]:
    """Work in folder order: a task's inputs then span few folders, so it writes few parts."""
    return folder_of(entry[1][0]), entry[0]


def _expected(options: str, corrections: fixes.Corrections | None) -> Callable[[str], str] | None:
    """Each photo's resume key by its relative name, or None when it is the run's for all."""
    if not corrections:
        return None
    return lambda relative: _photo_options(options, corrections, relative)


def _photo_options(options: str, corrections: fixes.Corrections | None, relative: str) -> str:
    """The resume key of one photo: with a person's corrections, their digest is in it."""
    entry = corrections.get(relative) if corrections else None
    return photo_options(options, entry.digest() if entry else None)


def _pending(
    entries: Any,
    states: Any,
    options: str,
    force: bool,
    slices: int,
    shared: Any = None,
    redone: Any = None,
) -> Any:
    """Entries never processed, changed since, or processed with other options (or other
    corrections: `shared` is the broadcast of the results' corrections, or None). `redone`:
    an accumulator of the folders of those done before at their version (`_redone`)."""
    if force:
        return entries

    def stale(kv: Any) -> bool:
        (relative, version), state = kv[1]
        expected = _photo_options(options, shared.value if shared else None, relative)
        if not _is_stale(state, version, expected):
            return False
        if redone is not None and _done_at(state, version):
            redone.add([folder_of(relative)])
        return True

    return entries.leftOuterJoin(states, slices).filter(stale).mapValues(lambda v: v[0])


def _chunk_bounds(total: int, cores: int, partitions: int | None) -> list[int]:
    """Start index of each Spark task over `total` sorted inputs (scheduling.py), then `total`.

    Sizes only, never the inputs: the driver holds one number per task.
    """
    if partitions:
        sizes = equal_sizes(total, partitions)
    else:
        sizes = [min(MAX_CHUNK, s) for s in guided_sizes(total, cores, cap=MAX_CHUNK)]
    bounds = [0]
    for size in sizes:
        bounds.append(bounds[-1] + size)
    return bounds


def _counted(rows: Iterator[dict[str, Any]], done: Any) -> Iterator[dict[str, Any]]:
    """Counts rows into an accumulator: the driver reads it for progress as each task ends."""
    for row in rows:
        done.add(1)
        yield row


CRASH_ONCE_ENV = "DATAPROC_FACES_CRASH_ONCE"


def _crash_once() -> None:
    """Fault injection for tests: the first task to get here kills its Python worker process,
    after its part is written and before Spark hears of it (as a lost worker would)."""
    import os

    marker = os.environ.get(CRASH_ONCE_ENV)
    if marker:
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.close(fd)
        os._exit(17)


def process_chunk(
    spec: JobSpec, run_id: str, options: str, items: Iterable[Any], done: Any, shared: Any = None
) -> Iterator[dict[str, Any]]:
    """One Spark task: process its inputs, write its part and state, return one small summary.
    `shared`: the broadcast of the results' corrections, or None."""
    ordered = sorted(items)  # (index, (source, (relative, version))): a chunk is small
    if not ordered:
        return
    entries = [(src, rel, version) for _, (src, (rel, version)) in ordered]
    tasks = [Task(src, rel) for src, rel, _ in entries]
    corrections = shared.value if shared else None
    rows = list(_counted(process_partition(spec, tasks, corrections), done))
    pid = part_id(run_id, (src for src, _, _ in entries))
    shown = spec.results.shown
    states = [
        {"path": shown(s), "version": v, "options": _photo_options(options, corrections, r)}
        for s, r, v in entries
    ]
    done_rows = zip((r for _, r, _ in entries), rows, states, strict=True)
    write_folder_parts(spec.results.store(), spec.results, pid, done_rows)
    _crash_once()
    yield {
        "inputs": len(rows),
        "ok": sum(r["status"] == "ok" for r in rows),
        "faces": sum(len(r["faces"]) for r in rows),
        "runtime": sorted({r["runtime"] for r in rows if r.get("runtime")}),
        "review": sum(review.needs_look(r) for r in rows),
    }


def _work_from_plan(sc: Any, spec: JobSpec, pending: list[Any]) -> Any:
    """A driver plan's inputs as an RDD of (index, entry), one partition per task."""
    bounds = _chunk_bounds(len(pending), sc.defaultParallelism, spec.partitions)
    numbered = list(enumerate(pending))
    chunks = [numbered[a:b] for a, b in itertools.pairwise(bounds)]
    return sc.parallelize(chunks, max(1, len(chunks))).flatMap(lambda chunk: chunk)


@dataclass
class SparkPlan:
    """What `_plan_with_spark` finds: counts on the driver, the rest as RDDs."""

    listed: int
    ignored: dict[str, int]
    shards: list[str]
    total: int
    work: Any
    held: list[Any]  # persisted RDDs to release once the run is over
    folders: Any  # RDD of the input folders whose states this run read (to compact)
    digests: Any  # RDD of (folder key, digest) to record after the work, or None (an input list)
    videos: Any = None  # RDD of the entries named like videos (their segments: tasks of their own)
    # a full listing's changed folders, key -> digest (one per folder, as the listing sent
    # them): compacted and recorded by tasks the driver hands out, no join or shuffle
    changed: dict[str, str] | None = None
    redone: Any = None  # accumulator of `_redone` folders, complete once the plan was counted
    # at most FEW_PENDING inputs to process, in order: the driver cuts their tasks (`work` and
    # `videos` unused), as for a small run; None: the executors' `work` and `videos`
    pending: list[tuple[str, tuple[str, str]]] | None = None


def _plan_with_spark(
    sc: Any,
    spec: JobSpec,
    run_id: str,
    options: str,
    force: bool,
    shared: Any = None,
    bound: int = 0,
) -> SparkPlan | DriverPlan:
    """Listing, digests, skipping and numbering on the executors. Only input folders whose
    listing digest differs from the recorded one are planned: each in one task that reads its
    listing and its own states (`_pending_by_folder`: no join, no sort), or, while legacy flat
    states remain or a folder is huge, joined with their states. With an input list (not a
    full listing) every listed folder is joined, and no digest is recorded.

    When the changed folders hold at most `bound` inputs and state lines (a few new photos in a
    large collection), their entries come to the driver and it plans them (a DriverPlan): one
    Spark job lists and digests, no join or sort of the collection."""
    from pyspark import StorageLevel

    results = spec.results
    digests = None
    redone = sc.accumulator([], _Keys())
    everything = found = legacy = None
    changed_digests: dict[str, str] | None = None  # a full listing's: key -> digest, to record
    if spec.input_list:
        everything, shards, ignored = listing(sc, spec, run_id)
        everything = everything.persist(StorageLevel.MEMORY_AND_DISK)
        kinds = dict(everything.map(_kind).countByValue())  # one job: inputs and names left out
        listed = kinds.pop("", 0)
        for why, n in kinds.items():
            ignored[why] = ignored.get(why, 0) + n
        entries = everything.filter(lambda e: not _kind(e))
        slices = max(1, min(listed // PLAN_ENTRIES + 1, sc.defaultParallelism * 4))
        folders = entries.map(lambda e: folder_of(e[1][0])).distinct(slices)
    else:
        found = _listed_by_folder(sc, spec, run_id, options, force, shared)
        listed, ignored, shards = found.listed, found.ignored, found.shards
        everything, entries = found.held, found.entries
        # A collection of a few thousand plans in one partition: no sampling job for the sort
        # and no extra job to number the inputs.
        slices = max(1, min(listed // PLAN_ENTRIES + 1, sc.defaultParallelism * 4))
        # (folder key, (digest, inputs listed there)) of the changed folders: one per folder
        counted = sc.parallelize(
            sorted(found.changed.items()), max(1, min(len(found.changed), slices))
        )
        digests = counted.mapValues(lambda v: v[0])
        folders = counted.keys()
        changed_digests = {k: d for k, (d, _) in found.changed.items()}
        if len(found.changed) <= bound:
            narrow = None
            if sum(n for _, n in found.changed.values()) <= bound:
                narrow = _narrow(sc, spec, entries, found, options, force, shared, bound)
            if narrow is not None:
                if everything is not None:
                    everything.unpersist()
                return replace(narrow, listed=listed, ignored=ignored, shards=shards)
        legacy = part_ids(results.store(), results.state)
        if not legacy and all(n <= FOLDER_PLAN_MAX for _, n in found.changed.values()):
            pending = _pending_by_folder(sc, spec, found, options, force, shared, redone)
            counts = (listed, ignored, shards)
            few = min(FEW_PENDING, bound)  # SMALL_RUN 0: every step the executors'
            plan = _numbered(sc, spec, counts, pending, everything, folders, digests, few)
            return replace(plan, changed=changed_digests, redone=redone)
    folders = folders.persist(StorageLevel.MEMORY_AND_DISK)
    changed = folders.count()
    held = [folders]
    if changed <= SMALL_RUN:  # the changed folders' keys fit on the driver: no shuffle
        keys = sc.broadcast(set(folders.collect()))
        entries = entries.filter(lambda e: folder_of(e[1][0]) in keys.value)
    else:
        entries = (
            entries.map(lambda e: (folder_of(e[1][0]), e))
            .join(folders.map(lambda k: (k, None)), slices)
            .map(lambda kv: kv[1][0])
        )
    if legacy is None:  # an older layout's states: joined
        legacy = part_ids(results.store(), results.state)
    known = states_rdd(sc, results, legacy, folders)
    pending = _pending(entries, known, options, force, slices, shared, redone)
    indexed = (
        pending.map(lambda e: ((folder_of(e[1][0]), e[0]), e[1]))
        .sortByKey(numPartitions=slices)
        .map(lambda kv: (kv[0][1], kv[1]))
        .zipWithIndex()
        .map(lambda kv: (kv[1], kv[0]))
    )
    indexed = indexed.persist(StorageLevel.MEMORY_AND_DISK)
    held.append(indexed)
    total = indexed.count()
    if everything is not None:
        everything.unpersist()
    plan = _chunked(sc, spec, (listed, ignored, shards), total, indexed, held, folders, digests)
    return replace(plan, changed=changed_digests, redone=redone)


def _chunked(
    sc: Any,
    spec: JobSpec,
    counts: tuple[int, dict[str, int], list[str]],
    total: int,
    indexed: Any,
    held: list[Any],
    folders: Any,
    digests: Any,
) -> SparkPlan:
    """The plan from the numbered pending entries, (index, entry) in folder order: photos in
    tasks of `_chunk_bounds`, videos apart. `counts`: (listed, ignored, shards)."""
    listed, ignored, shards = counts
    if not total:
        return SparkPlan(listed, ignored, shards, 0, indexed, held, folders, digests, indexed)
    bounds = _chunk_bounds(total, sc.defaultParallelism, spec.partitions)
    # Videos by name leave the photos' tasks: their segments are tasks of their own, found and
    # counted on the executors (the driver learns how many, never which).
    photos = indexed.filter(lambda kv: not video_jobs.is_named_video(kv[1]))
    videos = indexed.filter(lambda kv: video_jobs.is_named_video(kv[1])).map(lambda kv: kv[1])
    work = photos.partitionBy(len(bounds) - 1, lambda i: bisect_right(bounds, i) - 1)
    return SparkPlan(listed, ignored, shards, total, work, held, folders, digests, videos)


# Inputs to process, found by the executors' plan, that the driver takes to cut their tasks
# itself (as it does for a small run): a few new or changed photos in a large collection.
FEW_PENDING = 2_000

# A changed folder holding more inputs than this is planned by joining with its states (Spark
# spills a shuffle); at most this many, in one task that holds its listing and newest states.
FOLDER_PLAN_MAX = 200_000


def _plan_groups(changed: dict[str, tuple[str, int]], slices: int) -> list[list[str]]:
    """The changed folders' keys, sorted, cut into runs of about equal inputs: one planning
    task each (at most `slices` of them, unless a run would pass FOLDER_PLAN_MAX inputs)."""
    total = sum(n for _, n in changed.values())
    target = min(FOLDER_PLAN_MAX, max(PLAN_ENTRIES, -(-total // max(1, slices))))
    groups: list[list[str]] = [[]]
    size = 0
    for key in sorted(changed):
        n = changed[key][1]
        if groups[-1] and size + n > target:
            groups.append([])
            size = 0
        groups[-1].append(key)
        size += n
    return groups


def _pending_by_folder(
    sc: Any,
    spec: JobSpec,
    found: _Listed,
    options: str,
    force: bool,
    shared: Any,
    redone: Any = None,
) -> Any:
    """RDD of the changed folders' pending entries in folder order (`_folder_order`), each
    folder planned in one task from its listing file and its own states: no join, no shuffle
    of states. Top-level entries (`_top/xx` shards) come from an RDD, so when some changed,
    they and the folders' listing names are placed by key (`partitionBy`: only they move)."""
    groups = _plan_groups(found.changed, bookkeeping_slices(sc, len(found.changed)))
    named = [[(k, found.listings[k]) for k in g if k in found.listings] for g in groups]

    def plan(units: Iterable[tuple[str, Any]]) -> Iterator[tuple[str, tuple[str, str]]]:
        return _plan_folders(spec, options, force, shared, units, redone)

    if found.top is None:  # one partition per group, in order: numbered as they come
        slices = sc.parallelize(named, len(named))
        return slices.flatMap(lambda group: group).mapPartitions(plan)
    starts = [g[0] for g in groups]
    units = sc.union(
        [
            sc.parallelize([u for g in named for u in g], len(groups)),
            found.top.map(lambda e: (folder_of(e[1][0]), e)),
        ]
    )
    return units.partitionBy(len(groups), lambda k: bisect_right(starts, k) - 1).mapPartitions(plan)


def _plan_folders(
    spec: JobSpec,
    options: str,
    force: bool,
    shared: Any,
    units: Iterable[tuple[str, Any]],
    redone: Any = None,
) -> Iterator[tuple[str, tuple[str, str]]]:
    """One planning task: its folders' pending entries, folder by folder in key order. A unit
    is (key, listing file URI) for a folder, or (key, entry) for a top-level input. `redone`:
    an accumulator of the folders `_redone` finds."""
    results, root = spec.results, spec.input
    fixed = shared.value if shared else None
    listings: dict[str, str] = {}
    loose: dict[str, list[tuple[str, tuple[str, str]]]] = {}
    for key, value in units:
        if isinstance(value, str):
            listings[key] = value
        else:
            loose.setdefault(key, []).append(value)
    store, below, shown = results.store(), joiner(root), results.shown_of(root)
    for key in sorted({*listings, *loose}):
        if key in listings:
            pairs = list(_listed_pairs(listings[key], LISTING_READS_ENV))
        else:
            pairs = [entry[1] for entry in loose.pop(key)]
        if force:
            pending, again = pairs, False
        else:
            states = newest_stored(results, sorted(folder_part_ids(store, results, key)))
            pending, again = _stale_in_folder(pairs, states, options, fixed, shown)
        if redone is not None and again:
            redone.add([key])
        yield from sorted(((below(rel), (rel, v)) for rel, v in pending), key=_folder_order)


def _numbered(
    sc: Any,
    spec: JobSpec,
    counts: tuple[int, dict[str, int], list[str]],
    pending: Any,
    release: Any,
    folders: Any,
    digests: Any,
    few: int = 0,
) -> SparkPlan:
    """`pending` (in folder order, partition after partition) numbered without a sort: one
    job counts each partition (and keeps the entries), the offsets number them; at most `few`
    of them come to the driver instead (`SparkPlan.pending`). `release`: a persisted RDD the
    count makes useless (the top-level entries), or None."""
    from pyspark import StorageLevel

    pending = pending.persist(StorageLevel.MEMORY_AND_DISK)
    sizes = pending.mapPartitions(lambda part: [sum(1 for _ in part)]).collect()
    if release is not None:
        release.unpersist()
    starts = list(itertools.accumulate(sizes, initial=0))
    if starts[-1] <= few:  # a few changed photos: their tasks need no shuffle
        few = pending.collect()
        pending.unpersist()
        listed, ignored, shards = counts
        return SparkPlan(listed, ignored, shards, len(few), None, [], folders, digests, None,
                         pending=few)  # fmt: skip

    def number(i: int, part: Iterable[Any]) -> Iterator[tuple[int, Any]]:
        return enumerate(part, starts[i])

    indexed = pending.mapPartitionsWithIndex(number)
    return _chunked(sc, spec, counts, starts[-1], indexed, [pending], folders, digests)


def _narrow(
    sc: Any,
    spec: JobSpec,
    entries: Any,
    listed: _Listed,
    options: str,
    force: bool,
    shared: Any,
    bound: int,
) -> DriverPlan | None:
    """The driver's plan for a few changed folders of a large listing (None: their states
    are more than `bound` lines): their entries and states only come to the driver. Folders'
    listing files it reads itself; entries of changed top-level shards come by a Spark job."""
    found = listed.changed
    if all(k in listed.listings for k in found):
        uris = [listed.listings[k] for k in sorted(found)]
        picked = list(_read_shards(spec.input, uris, LISTING_READS_ENV))
    else:
        keys = sc.broadcast(frozenset(found))
        picked = entries.filter(lambda e: folder_of(e[1][0]) in keys.value).collect()
        keys.unpersist()
    states = None if force else newest_states(spec.results, bound, found)
    if states is None and not force:
        return None
    fixed = shared.value if shared else None
    changed = {k: d for k, (d, _) in found.items()}
    pending = _stale(picked, changed, states, options, fixed, force)
    return DriverPlan(pending, 0, {}, changed, redone=_redone(pending, states))


def _forget_touched(sc: Any, results: Results, plan: DriverPlan | SparkPlan, force: bool) -> None:
    """Forget the recorded digests that this run's tasks could leave vouching for work they
    replace (ledger.py says why): of the folders holding a photo to redo at the version it was
    done at (`_redone`: other options or corrections), known once the plan is made; with
    `force` (states unread) of every folder the tasks write into."""
    keys: Any
    if not force:
        keys = sorted(plan.redone if isinstance(plan, DriverPlan) else set(plan.redone.value))
    elif plan.pending is not None:
        keys = sorted({folder_of(e[1][0]) for e in plan.pending})
    elif isinstance(plan, SparkPlan) and plan.changed is not None:
        keys = sorted(plan.changed)
    else:  # a long input list: its folders, found by the executors
        assert isinstance(plan, SparkPlan)
        keys = plan.folders
    if isinstance(keys, list) and len(keys) <= FORGET_ON_DRIVER:
        forget_digests(results, keys)
    else:
        forget_digests_spread(sc, results, keys)


# At most this many folders' digests are forgotten by the driver itself (a shard file each at
# most); more by Spark tasks.
FORGET_ON_DRIVER = 16


def _corrections(spec: JobSpec) -> fixes.Corrections:
    """The results' corrections, with the run's file (if any) merged in and kept first: a run
    killed after this still applies them when started again, with or without the file."""
    results = spec.results
    if not spec.corrections:
        return fixes.load(results)
    data = store_for(spec.corrections).read(spec.corrections)
    return fixes.keep(results, data, fixes.parse(data))


def _count_with_spark(sc: Any, results: Results) -> totals_cache.Counter:
    """Counts manifest parts in Spark's tasks, one (part id, totals) back per part."""

    def count(pids: list[str]) -> dict[str, tuple]:
        read = sc.parallelize(pids, max(1, min(len(pids), sc.defaultParallelism * 4)))
        return dict(read.mapPartitions(lambda p: totals_cache.count_parts(results, p)).collect())

    return count


@dataclass
class RunResult:
    summary: Summary
    processed: int
    skipped: int
    listed: int
    compaction: dict[str, int]
    pids: list[str]
    tasks: list[dict[str, Any]]  # one small summary per Spark task of this run
    rows: list[dict[str, Any]] | None = None  # every manifest row, for a small collection only


def run(
    spark: Any,
    spec: JobSpec,
    progress: Progress | None = None,
    force: bool = False,
) -> RunResult:
    """Process what is new or changed under spec.input; manifest and summary cover everything.

    Executors list, process and write their manifest parts (ledger.py); the driver sees counts,
    one small summary per task and the names of part files. `force` reprocesses every input.
    A small run (SMALL_RUN) is planned and finished on the driver: only its tasks are Spark's.
    """
    started = time.perf_counter()
    sc = spark.sparkContext
    run_id = new_run_id()
    options = options_key(spec.detect.to_dict(), spec.render.key())
    results = spec.results
    corrections = _corrections(spec)
    shared = sc.broadcast(corrections) if corrections else None  # bound: fixes.MAX_PHOTOS
    bound = driver_bound()
    last = _last_summary(results)  # read once: the driver's plan and the rows' bound use it
    small = plan_on_driver(spec, options, force, bound, corrections, last)
    large: SparkPlan | None = None
    limit = bound
    if small is None:
        planned_by_spark = _plan_with_spark(sc, spec, run_id, options, force, shared, bound)
        if isinstance(planned_by_spark, DriverPlan):  # a few changed folders of a large one
            small, limit = planned_by_spark, 0  # finished by Spark: the collection is large
        else:
            large, limit = planned_by_spark, 0
    if small is not None:
        if limit and _counted_in(last, "inputs") + len(small.pending) > limit:
            limit = 0  # a few photos into a large collection: its rows are not the driver's
        listed, ignored, shards = small.listed, dict(small.ignored), small.shards
        photos, videos = video_jobs.split_named(small.pending)  # a video's segments: tasks
        total, work = len(small.pending), _work_from_plan(sc, spec, photos)
    else:
        assert large is not None
        listed, ignored, shards, total, work = (
            large.listed, large.ignored, large.shards, large.total, large.work
        )  # fmt: skip
        videos, photos = large.videos, None
        if large.pending is not None:  # few: the driver hands out the tasks, no shuffle
            photos, videos = video_jobs.split_named(large.pending)
            work = _work_from_plan(sc, spec, photos)
    per_task: list[dict[str, Any]] = []
    video_phases: dict[str, float] = {}  # seconds of the video jobs, when there are videos
    planned = time.perf_counter()
    stop_at("tasks")
    if total:
        _forget_touched(sc, results, small or large, force)
        done = sc.accumulator(0)
        chunks = work.mapPartitions(
            lambda part: process_chunk(spec, run_id, options, part, done, shared)
        )
        with progress(total, lambda: done.value) if progress else nullcontext():
            if photos is None or photos:  # a planned run of videos only: no empty photos' job
                per_task = chunks.collect()
            per_task += video_jobs.run_segmented(
                sc, spec, run_id, options, videos, done, shared, video_phases
            )
    ran = time.perf_counter()
    if shared is not None:
        shared.unpersist()
    store_out = results.store()
    for uri in shards:
        store_out.delete(uri)
    _prune({uri.rpartition("/")[0] for uri in shards})
    stop_at("compaction")
    if large is None:
        compaction = compact(sc, results, small.changed if small else ())
        stop_at("digests")
        recorded = small is not None and not small.listed_only
        write_digests(results, sorted(small.changed.items()) if recorded else ())
    elif large.changed is not None:  # a full listing: its changed folders are on the driver
        compaction = compact(sc, results, sorted(large.changed), on_driver=False)
        stop_at("digests")
        write_digests_spread(sc, results, large.changed)
        for rdd in large.held:
            rdd.unpersist()
    else:
        compaction = compact(sc, results, large.folders, on_driver=False)
        stop_at("digests")
        if large.digests is not None:  # only a full listing: an input list is not a folder's
            write_digests_rdd(results, large.digests)
        for rdd in large.held:
            rdd.unpersist()
    versions = part_versions(store_out, results.manifest)
    pids = sorted(versions)
    rows = capped(read_rows(results, pids), limit) if limit else None
    if rows is not None:  # read anyway (the gallery's): counted as they are
        n, ok, faces, runtimes, privacy = next(totals_cache.count_rows(rows))
    else:  # the cached totals of parts this run left alone; the others counted
        counted = totals_cache.collection_totals(
            results, versions, bound, _count_with_spark(sc, results)
        )
        assert counted is not None  # Spark counts what the driver's bound leaves
        n, ok, faces, runtimes, privacy = counted
    wall = time.perf_counter() - started
    summary = Summary(
        inputs=n,
        ok=ok,
        errors=n - ok,
        faces=faces,
        wall_seconds=round(wall, 2),
        images_per_second=round(total / wall, 2) if wall > 0 else 0.0,
        input=results.label(spec.input),  # a local folder by its own name: shareable
        output=results.label(spec.output),
        master=sc.master,
        detector=spec.detect.to_dict(),
        render=spec.render.summary(),
        runtime=sorted(runtimes),
        processed=total,
        skipped=listed - total,
        ignored={why: ignored[why] for why in SKIP_REASONS if why in ignored},
        compaction=compaction,
        privacy=privacy,
        corrected=len(corrections),
        phases={
            "plan": round(planned - started, 3),
            "tasks": round(ran - planned, 3),
            "finish": round(time.perf_counter() - ran, 3),
            **video_phases,
        },
    )
    summary.write(results)
    return RunResult(summary, total, listed - total, listed, compaction, pids, per_task, rows)
