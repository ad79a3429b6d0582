"""Spark wiring: list inputs once, spread them over tasks, collect one manifest row per input."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from .detect import DetectOptions, Detector, make_detector
from .manifest import Summary, error_row, ok_row, write_manifest
from .names import UnsafeName, safe_relative
from .process import RenderOptions, outline
from .scheduling import equal_chunks, guided_chunks
from .storage import is_remote, is_within, join, normalise, store_for

IMAGES_DIR = "images"
THUMBS_DIR = "thumbs"


@dataclass(frozen=True)
class JobSpec:
    """Everything a run needs; plain data so Spark can ship it to executors."""

    input: str
    output: str
    detect: DetectOptions = field(default_factory=DetectOptions)
    render: RenderOptions = field(default_factory=RenderOptions)
    partitions: int | None = None
    input_list: str | None = None  # a file of URIs that replaces listing `input`


@dataclass(frozen=True)
class Task:
    source: str
    relative: str


def output_path(spec: JobSpec, relative: str, new_suffix: str = "") -> str:
    """DST/images/<relative path>; a suffix is appended only when the format had to change."""
    return join(join(spec.output, IMAGES_DIR), relative + new_suffix)


_DETECTORS: dict[DetectOptions, Detector] = {}


def _detector(options: DetectOptions) -> Detector:
    """One detector per Python worker process: workers are reused across tasks."""
    if options not in _DETECTORS:
        _DETECTORS[options] = make_detector(options)
    return _DETECTORS[options]


def process_partition(spec: JobSpec, tasks: Iterable[Task]) -> Iterator[dict[str, Any]]:
    """Runs in an executor: every failure of one image becomes that image's error row."""
    import cv2

    cv2.setNumThreads(1)  # Spark already runs one task per core
    detector = _detector(spec.detect)
    store_in, store_out = store_for(spec.input), store_for(spec.output)
    for task in tasks:
        started = time.perf_counter()
        try:
            relative = safe_relative(task.relative)  # before reading: a refused name is not read
            data = store_in.read(task.source)
            result = outline(data, detector, spec.render)
            target = output_path(spec, relative, result.new_suffix)
            store_out.write(target, result.data)
            thumb = join(join(spec.output, THUMBS_DIR), relative + ".jpg")
            store_out.write(thumb, result.thumbnail, "image/jpeg")
        except Exception as exc:
            yield error_row(task.source, _message(exc), _ms(started))
            continue
        yield ok_row(
            task.source,
            target,
            result.width,
            result.height,
            result.format,
            result.faces,
            _ms(started),
            thumbnail=thumb,
            runtime=detector.runtime,
        )


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _message(exc: Exception) -> str:
    from .imaging import ImageError

    if isinstance(exc, (ImageError, UnsafeName)):
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
    """URIs or paths one per line; blank lines and `#` comments skipped, duplicates dropped."""
    text = store_for(uri).read(uri).decode("utf-8")
    seen: dict[str, None] = {}
    for line in text.splitlines():
        entry = line.strip()  # `#` only starts a comment at the start: URIs may contain it
        if entry and not entry.startswith("#"):
            seen.setdefault(normalise(entry), None)
    return list(seen)


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
            root = root.rsplit("/", 1)[0]
    return root or "/"


def relative_to(source: str, root: str) -> str:
    """Where `source` goes under the output: its path below `root` (which must hold it)."""
    if not is_within(source, root) or source == root:
        raise ValueError(f"{source} is not inside {root}")
    return source[len(root.rstrip("/")) + 1 :]


# progress(total, read_done) -> a context manager around the Spark action
Progress = Callable[[int, Callable[[], int]], AbstractContextManager[Any]]


def _flat(chunks: Iterable[list[Task]]) -> Iterator[Task]:
    for chunk in chunks:
        yield from chunk


def _counted(rows: Iterator[dict[str, Any]], done: Any) -> Iterator[dict[str, Any]]:
    """Counts rows into an accumulator: the driver reads it for progress as each task ends."""
    for row in rows:
        done.add(1)
        yield row


def run(
    spark: Any,
    spec: JobSpec,
    progress: Progress | None = None,
    tasks: list[Task] | None = None,
) -> tuple[Summary, list[dict[str, Any]]]:
    """Run the whole job; writes images, manifest and summary under spec.output.

    `progress(total, read_done)` wraps the Spark action (see progress.watch); `tasks`, when the
    caller has listed them already, spares a second listing. The caller checks that the detector
    starts (cli.cmd_run does, before Spark); executors fail the run if it cannot.
    """
    started = time.perf_counter()
    if tasks is None:
        tasks = list_tasks(spec)
    sc = spark.sparkContext
    rows: list[dict[str, Any]] = []
    if tasks:
        # one chunk per Spark task, large chunks first: see scheduling.py
        if spec.partitions:
            chunks = equal_chunks(tasks, spec.partitions)
        else:
            chunks = guided_chunks(tasks, sc.defaultParallelism)
        done = sc.accumulator(0)
        rdd = sc.parallelize(chunks, len(chunks)).mapPartitions(
            lambda part: _counted(process_partition(spec, _flat(part)), done)
        )
        with progress(len(tasks), lambda: done.value) if progress else nullcontext():
            rows = rdd.collect()
    store_out = store_for(spec.output)
    write_manifest(store_out, spec.output, rows)
    summary = Summary.of(
        rows,
        time.perf_counter() - started,
        input=spec.input,
        output=spec.output,
        master=sc.master,
        detector=spec.detect.to_dict(),
        render={"mode": spec.render.mode, "max_pixels": spec.render.max_pixels},
    )
    summary.write(store_out)
    return summary, rows
