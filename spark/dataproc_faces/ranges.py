"""A flat prefix listed in slices of names, side by side on the executors.

A bucket with millions of objects at its top level was listed by the driver alone, page by page:
100 million objects are 100,000 list requests, hours one after the other. An object store's
listing takes name offsets (`Store.top_range`), so a run cuts the top level's names into slices
[low, high) and the executors list them side by side, a few slices a task. The cuts are the
marks the run before recorded in `_state/_ranges.json`: every RANGE_ENTRIES-th top-level file
name of its listing. Cuts only balance the work: the slices always cover every name (the first
starts nowhere, the last ends nowhere), so marks that are stale, lost or unreadable cost time,
never an object.

Each slice's task writes its files to listing shards, as the driver does, and sends back its
folders, its left-out names by reason, how many files it listed and where its own marks fall;
the driver then records marks that cut the new listing about every RANGE_ENTRIES files again
(`next_marks`). A prefix nothing has marked yet is listed by the driver until its first
RANGE_ENTRIES files; when it goes on, the driver stops, drops what it listed and cuts the names
after the last one it saw at every character that could come next (`probe_marks`), and the
executors list those slices, the first from nowhere. A local folder is read in one stream: only
object stores list in slices.
"""

from __future__ import annotations

import json
import os
import string
from collections.abc import Iterable, Iterator
from typing import Any

from dataproc_faces.results.layout import Results
from dataproc_faces.results.ledger import _record_read
from dataproc_faces.storage import store_for

RANGE_ENTRIES = 50_000  # top-level files per slice, as recorded by the run before
RANGE_ENTRIES_ENV = "DATAPROC_FACES_RANGE_ENTRIES"  # tests: another number of files per slice
RANGE_READS_ENV = "DATAPROC_FACES_RANGE_READS"  # tests: a file that records each slice listed
PROBE_MARKS = 1_000  # cuts of a first listing that ran past RANGE_ENTRIES files (probe_marks)

Slice = tuple[int, str | None, str | None]  # (number, low or None, high or None)
# What one slice listed: (files, the first file's name or None, its own marks in order)
Counted = tuple[int, str | None, list[str]]


def range_entries() -> int:
    return int(os.environ.get(RANGE_ENTRIES_ENV) or RANGE_ENTRIES)


def read_marks(results: Results) -> list[str]:
    """The recorded marks, sorted; [] when there are none or they cannot be read."""
    store, uri = results.store(), results.top_ranges
    try:
        data = store.version(uri) and store.read(uri)
        marks = json.loads(data) if data else []
    except ValueError:
        return []
    if not isinstance(marks, list) or not all(isinstance(m, str) and m for m in marks):
        return []
    return sorted(set(marks))


def write_marks(results: Results, marks: list[str], recorded: list[str]) -> None:
    """Record `marks` when they differ from what is recorded (an empty list too, so a prefix
    that shrank goes back to the driver's listing)."""
    if marks != recorded:
        body = json.dumps(marks, ensure_ascii=False).encode()
        results.store().write(results.top_ranges, body, "application/json")


def slices(marks: list[str]) -> list[Slice]:
    edges: list[str | None] = [None, *marks, None]
    return [(i, edges[i], edges[i + 1]) for i in range(len(edges) - 1)]


def probe_marks(first: str, last: str, cap: int = PROBE_MARKS) -> list[str]:
    """Cuts for a prefix nothing has marked yet, whose listing went on past its first
    RANGE_ENTRIES files (`first` to `last`): after `last`, every name that could come next one
    character later, from the position where those names start to differ back to the first
    character (`IMG_00049999.jpg`: `IMG_0005`..., `IMG_001`..., `IMG_01`..., `IMG_1`...), so
    each digit that runs past the probe gets a slice at every level. Where `last` has a digit
    followed by another, each later digit is cut once more by the ten that can follow it
    (`IMG_1` into `IMG_10`...`IMG_19`; `202` into `2020`...`2029` after a probe that saw only
    2015): counters and dates are how photos are named. At most `cap`, deepest first; most of
    them hold nothing and cost one list request."""
    pairs = enumerate(zip(first, last, strict=False))
    shared = next((i for i, (a, b) in pairs if a != b), min(len(first), len(last)))
    depth = min(shared, len(last) - 1)
    marks: list[str] = []
    for d in range(depth, -1, -1):
        counted = last[d : d + 2].isdigit() and d + 1 < len(last)  # a digit, then a digit
        for c in range(ord(last[d]) + 1, 127):
            cut = last[:d] + chr(c)
            for mark in [cut, *(cut + x for x in string.digits if counted and chr(c).isdigit())]:
                if len(marks) == cap:
                    return sorted(marks)
                marks.append(mark)
    return sorted(marks)


def next_marks(counted: list[Counted], every: int) -> list[str]:
    """Marks for the next run from this run's slices in name order: a slice's first name or one
    of its own marks becomes a mark when at least `every` files lie since the last one, so
    a slice that grew is cut again and slices that shrank are joined."""
    marks: list[str] = []
    since_mark = at = 0  # files listed before the last mark, before this slice
    for n, first, inner in counted:
        candidates = [(at, first)] if first is not None else []
        candidates += [(at + (j + 1) * every, m) for j, m in enumerate(inner)]
        for position, name in candidates:
            if position - since_mark >= every:
                marks.append(name)
                since_mark = position
        at += n
    return marks


def list_slices(
    root: str, results: Results, run_id: str, every: int, per_shard: int, cut: Iterable[Slice]
) -> Iterator[tuple[str, Any, Any]]:
    """One Spark task: each slice's top-level entries. Files go to listing shards of
    `per_shard` lines; yields ("folder", name, None), ("shard", (slice, n), uri),
    ("slice", number, Counted) and ("skipped", reason, count)."""
    store, out = store_for(root), results.store()
    left_out: dict[str, int] = {}

    def skipped(_: str, why: str) -> None:
        left_out[why] = left_out.get(why, 0) + 1

    for i, low, high in cut:
        _record_read(f"{low or ''}..{high or ''}", RANGE_READS_ENV)
        files = 0
        first: str | None = None
        inner: list[str] = []
        lines: list[str] = []
        shards = 0
        for rel, version in store.top_range(root, low, high, skipped):
            if version is None:
                yield "folder", rel, None
                continue
            if files == 0:
                first = rel
            elif files % every == 0:
                inner.append(rel)
            files += 1
            lines.append(f"{rel}\t{version}")
            if len(lines) >= per_shard:
                yield "shard", (i, shards), _shard(out, results, run_id, i, shards, lines)
                shards, lines = shards + 1, []
        if lines:
            yield "shard", (i, shards), _shard(out, results, run_id, i, shards, lines)
        yield "slice", i, (files, first, inner)
    for why, n in sorted(left_out.items()):
        yield "skipped", why, n


def _shard(out: Any, results: Results, run_id: str, i: int, n: int, lines: list[str]) -> str:
    uri = results.shard(run_id, n, i)
    out.write_lines(uri, lines)
    return uri
