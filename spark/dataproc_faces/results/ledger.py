"""What a results folder already holds: per-task manifest parts, their state, resume and compaction.

Layout under DST:
- `manifest/part-<id>.json`: the rows one Spark task produced (JSON Lines). `<id>` is the run's
  id (nanoseconds since the epoch, zero-padded, so ids sort by age) and a hash of the sources the
  task processed: a retried or speculative attempt writes the same name and replaces the file.
- `_state/part-<id>.json`: one line per row of that part: the input, its version when processed
  (Cloud Storage generation, or size and mtime locally) and a hash of the detector and render
  options. Written after the part, so a state line always has its row. A local input is named
  by its path below the input folder (layout.py's `shown`), as in the rows: the folder names no
  local folder; reading turns it back into the input's path (`source_of`), so resume and
  compaction work on the same keys as before, and an older folder's absolute names still match.

A later run skips every input whose newest state has the same version and options. After the
tasks end, `compact` removes rows that a newer part supersedes (rewriting the part first and its
state second, so a kill between the two leaves a state that the next compaction cleans) and
deletes parts that have no state (a task killed between its two writes; its inputs had no state,
so this run processed them again). Each step is idempotent: a run killed anywhere finishes when
started again. Inputs deleted from the source keep their rows.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from dataproc_faces.results.layout import PART_PREFIX as PREFIX
from dataproc_faces.results.layout import PART_SUFFIX as SUFFIX
from dataproc_faces.results.layout import Results
from dataproc_faces.storage import store_for
from dataproc_faces.storage.base import Store


def new_run_id() -> str:
    """Sorts by start time, so the newest part of an input wins in `compact`."""
    return f"{time.time_ns():020d}"


def part_id(run_id: str, sources: Iterable[str]) -> str:
    """Derived from what the task processed: a retried attempt of it gets the same id."""
    digest = hashlib.sha256("\n".join(sources).encode()).hexdigest()[:16]
    return f"{run_id}-{digest}"


def options_key(detect: dict[str, Any], render: dict[str, Any]) -> str:
    """Everything that changes a row or an output image; a change reprocesses every input."""
    text = json.dumps({"detect": detect, "render": render}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def photo_options(options: str, correction: str | None) -> str:
    """One photo's resume key: the run's options, and the digest of its corrections entry when a
    person corrected it, so a new or changed entry redoes exactly that photo."""
    if not correction:
        return options
    return hashlib.sha256(f"{options}+{correction}".encode()).hexdigest()[:16]


def write_part(
    store: Store,
    results: Results,
    pid: str,
    rows: list[dict[str, Any]],
    states: list[dict[str, Any]],
) -> None:
    """The rows first, then their state: a state line never points at a missing row."""
    body = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows)
    store.write(results.part(pid), body.encode(), "application/x-ndjson")
    body = "".join(json.dumps(s, sort_keys=True) + "\n" for s in states)
    store.write(results.state_part(pid), body.encode(), "application/x-ndjson")


def part_ids(store: Store, folder: str) -> set[str]:
    """Ids of the part files in one folder: one name per Spark task ever run, not per input."""
    if not store.exists(folder):
        return set()
    return {
        n[len(PREFIX) : -len(SUFFIX)]
        for n in store.list_files(folder)
        if n.startswith(PREFIX) and n.endswith(SUFFIX) and "/" not in n
    }


def _lines(uri: str) -> Iterator[dict[str, Any]]:
    text = store_for(uri).read(uri).decode("utf-8")
    return (json.loads(line) for line in text.splitlines() if line.strip())


def read_states(
    results: Results, pids: Iterable[str]
) -> Iterator[tuple[str, tuple[str, str, str]]]:
    """(path, (part id, version, options)) for every state line of the given parts."""
    for pid in pids:
        for s in _lines(results.state_part(pid)):
            yield results.source_of(s["path"]), (pid, s["version"], s["options"])


def read_rows(results: Results, pids: Iterable[str]) -> Iterator[dict[str, Any]]:
    for pid in pids:
        yield from _lines(results.part(pid))


T = TypeVar("T")


def capped(items: Iterable[T], limit: int) -> list[T] | None:
    """All of `items` if there are at most `limit`, else None: the driver reads a small
    collection itself and leaves a large one to Spark, so what it holds never grows with it."""
    head = list(itertools.islice(items, limit + 1))
    return head if len(head) <= limit else None


def newest_states(results: Results, limit: int) -> dict[str, tuple[str, str, str]] | None:
    """`states_rdd` on the driver, for at most `limit` state lines (None beyond)."""
    lines = capped(read_states(results, sorted(part_ids(results.store(), results.state))), limit)
    if lines is None:
        return None
    newest: dict[str, tuple[str, str, str]] = {}
    for path, state in lines:
        if path not in newest or state[0] >= newest[path][0]:
            newest[path] = state
    return newest


def _slices(sc: Any, count: int) -> int:
    return max(1, min(count, sc.defaultParallelism * 4))


def states_rdd(sc: Any, results: Results, pids: set[str]) -> Any:
    """RDD of (path, (part id, version, options)), the newest state of each processed input."""
    ordered = sorted(pids)
    if not ordered:
        return sc.emptyRDD()
    return (
        sc.parallelize(ordered, _slices(sc, len(ordered)))
        .mapPartitions(lambda part: read_states(results, part))
        .reduceByKey(lambda a, b: a if a[0] >= b[0] else b)
    )


def _drop(results: Results, pid: str, paths: Iterable[str]) -> int:
    """Rewrite one part and its state without `paths`: the part first (see the module doc)."""
    store, gone = results.store(), set(paths)
    rows = [r for r in read_rows(results, [pid]) if results.source_of(r["path"]) not in gone]
    states = [
        s for s in _lines(results.state_part(pid)) if results.source_of(s["path"]) not in gone
    ]
    if rows:
        write_part(store, results, pid, rows, states)
    else:
        store.delete(results.part(pid))
        store.delete(results.state_part(pid))
    return len(gone)


def compact(sc: Any, results: Results, limit: int = 0) -> dict[str, int]:
    """Leave every input in exactly one part: drop superseded rows and parts without state.
    Up to `limit` state lines (0: none) are compacted on the driver, without a Spark job."""
    store = results.store()
    parts = part_ids(store, results.manifest)
    states = part_ids(store, results.state)
    for pid in sorted(parts - states):  # killed between its two writes, or an older layout
        store.delete(results.part(pid))
    for pid in sorted(states - parts):  # emptied by a compaction killed before this delete
        store.delete(results.state_part(pid))
    live = sorted(parts & states)
    dropped = 0
    small = capped(read_states(results, live), limit) if live and limit else None
    if small is not None:  # a small collection: no Spark job
        by_path: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
        for path, state in small:
            by_path[path].append(state)
        losers: dict[str, list[str]] = defaultdict(list)
        for path, entries in by_path.items():
            for pid, lost in _losers(path, entries):
                losers[pid].append(lost)
        dropped = sum(_drop(results, pid, paths) for pid, paths in sorted(losers.items()))
    elif live:
        dropped = (
            sc.parallelize(live, _slices(sc, len(live)))
            .mapPartitions(lambda part: read_states(results, part))
            .groupByKey()
            .flatMap(lambda kv: _losers(kv[0], list(kv[1])))
            .groupByKey()
            .map(lambda kv: _drop(results, kv[0], kv[1]))
            .sum()
        )
    return {"orphans": len(parts - states), "superseded": int(dropped)}


def _losers(path: str, entries: list[tuple[str, str, str]]) -> list[tuple[str, str]]:
    newest = max(e[0] for e in entries)
    return [(e[0], path) for e in entries if e[0] != newest]
