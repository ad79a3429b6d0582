"""The collection's totals (summary.json) at the cost of what a run changed, not of the collection.

`_state/_totals/<xx>.json` (256 shards, by the part's input folder, as ledger.py shards the
digests) maps each manifest part id to its version when counted (a Cloud Storage generation, or
size and mtime locally) and its totals: (inputs, ok, faces, runtimes, privacy counts). A run
lists the manifest parts with their versions, reads the shards, counts only the parts that are
new or whose version changed (compaction, migration and `forget` rewrite a part under the same
id, so an id alone says nothing), writes back the shards it changed (dropping parts that are
gone) and sums.

A cache entry is trusted only for the exact version it was counted at, so a stale cache costs
a recount, never a wrong total: a run killed before writing the shards, or between two shard
writes, leaves entries that either still match their part or are recounted. A shard that cannot
be read as the expected JSON counts as empty. The version is listed before the part is read: a
part rewritten in between is recorded under its older version and counted again next time.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from dataproc_faces.results import review
from dataproc_faces.results.layout import FOLDER_SEP, Results
from dataproc_faces.results.ledger import (
    _record_read,
    digest_shard,
    part_versions,
    read_rows,
    read_shard_json,
)
from dataproc_faces.results.manifest import summary_json
from dataproc_faces.storage.base import Store

TOTALS_READS_ENV = "DATAPROC_FACES_TOTALS_READS"  # tests: a file that records each part counted
THREADS = 16  # shard files read and written at once: 256 reads on gs:// are not serial

Totals = tuple  # (inputs, ok, faces, frozenset of runtimes, privacy counts)
# (part ids) -> {part id: Totals}: counts parts elsewhere (Spark's executors)
Counter = Callable[[list[str]], dict[str, Totals]]


def count_rows(rows: Iterable[dict[str, Any]]) -> Iterator[Totals]:
    """(inputs, ok, faces, runtimes, privacy counts) of some rows; one tuple per partition."""
    n = ok = faces = 0
    runtimes: set[str] = set()
    held: list[dict[str, Any]] = []
    privacy: dict[str, int] = {}
    for r in rows:
        n += 1
        ok += r["status"] == "ok"
        faces += len(r["faces"])
        if r.get("runtime"):
            runtimes.add(r["runtime"])
        held.append(r)
        if len(held) >= 1000:  # counted a thousand rows at a time: a partition is not held
            privacy = review.add(privacy, review.counts(held))
            held = []
    yield n, ok, faces, frozenset(runtimes), review.add(privacy, review.counts(held))


def add(a: Totals, b: Totals) -> Totals:
    return a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] | b[3], review.add(a[4], b[4])


NONE: Totals = (0, 0, 0, frozenset(), review.counts([]))


def shard_of(pid: str) -> str:
    """The shard keeping a part's entry: by its input folder (a run touches few of them)."""
    return digest_shard(pid.rpartition(FOLDER_SEP)[0])


def count_parts(results: Results, pids: Iterable[str]) -> Iterator[tuple[str, Totals]]:
    """(part id, its totals), one part read at a time (on the driver or in a Spark task)."""
    for pid in pids:
        _record_read(results.part(pid), TOTALS_READS_ENV)
        yield pid, next(count_rows(read_rows(results, [pid])))


def _entry(value: Any) -> tuple[str, Totals] | None:
    """A stored entry as (version, totals), or None for anything not of the written shape."""
    try:
        version, (n, ok, faces, runtimes, privacy) = value["v"], value["t"]
        fields = (n, ok, faces, *privacy.values())
        if not isinstance(version, str) or not all(type(x) is int for x in fields):
            return None
        if not all(isinstance(r, str) for r in runtimes):
            return None
        return version, (n, ok, faces, frozenset(runtimes), dict(privacy))
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _stored(version: str, totals: Totals) -> dict[str, Any]:
    n, ok, faces, runtimes, privacy = totals
    return {"v": version, "t": [n, ok, faces, sorted(runtimes), privacy]}


def read_shard(results: Results, shard: str) -> dict[str, tuple[str, Totals]] | None:
    """One shard's entries of the written shape; None for a file that cannot be read as such
    (half-written, foreign, unreadable): its parts are counted again, never trusted."""
    try:
        found = read_shard_json(results.totals(shard))
    except Exception:  # any failure costs a recount, never a wrong total
        return None
    if not isinstance(found, dict):
        return None
    entries = {pid: _entry(value) for pid, value in found.items()}
    return {pid: e for pid, e in entries.items() if e is not None}


def _shards(store: Store, results: Results) -> list[str]:
    folder = results.totals_folder
    if not store.exists(folder):
        return []
    return sorted(
        n[: -len(".json")]
        for n, version in store.top_level(folder)
        if version is not None and n.endswith(".json")
    )


def collection_totals(
    results: Results,
    versions: dict[str, str],
    budget: int,
    elsewhere: Counter | None = None,
) -> Totals | None:
    """The totals of the parts `versions` ({part id: version}, as listed): cached entries of
    the same version, the other parts counted (here for up to `budget` rows, the rest by
    `elsewhere`) and written back. None when parts are left and there is no `elsewhere`."""
    store = results.store()
    names = _shards(store, results)
    with ThreadPoolExecutor(THREADS) as pool:
        read = dict(zip(names, pool.map(lambda s: read_shard(results, s), names), strict=True))
    cached = {pid: e for entries in read.values() if entries for pid, e in entries.items()}
    kept = {pid: e for pid, e in cached.items() if versions.get(pid) == e[0]}
    missing = sorted(pid for pid in versions if pid not in kept)
    counted: dict[str, Totals] = {}
    used = 0  # rows counted here
    with ThreadPoolExecutor(THREADS) as pool:  # THREADS parts at a time: each at most a task's
        while len(counted) < len(missing) and used < budget:
            batch = missing[len(counted) : len(counted) + THREADS]
            for pid, t in pool.map(lambda p: next(count_parts(results, [p])), batch):
                counted[pid], used = t, used + t[0]
    left = missing[len(counted) :]
    if left:
        if elsewhere is None:
            return None
        counted.update(elsewhere(left))
    entries = {**kept, **{pid: (versions[pid], t) for pid, t in counted.items()}}
    _write_changed(results, read, entries)
    total = NONE
    for _, t in entries.values():
        total = add(total, t)
    return total


def _write_changed(
    results: Results,
    read: dict[str, dict[str, tuple[str, Totals]] | None],
    entries: dict[str, tuple[str, Totals]],
) -> None:
    """Rewrite the shards whose entries differ from what was read (new, recounted or gone
    parts; files not valid); delete those left with none."""
    wanted: dict[str, dict[str, Any]] = {}
    for pid, (version, totals) in entries.items():
        wanted.setdefault(shard_of(pid), {})[pid] = _stored(version, totals)

    def was(shard: str) -> dict[str, Any] | None:
        found = read.get(shard, {})
        return None if found is None else {p: _stored(*e) for p, e in found.items()}

    shards = sorted(set(read) | set(wanted))
    changed = [s for s in shards if read.get(s, {}) is None or was(s) != wanted.get(s)]
    store = results.store()

    def write(shard: str) -> None:
        uri = results.totals(shard)
        if shard not in wanted:
            store.delete(uri)
            return
        body = json.dumps(wanted[shard], sort_keys=True, separators=(",", ":")).encode()
        store.write(uri, body, "application/json")

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(write, changed))


DRIVER_ROWS = 100_000  # rows `refresh_summary` counts itself at most (pipeline.SMALL_RUN's bound)


def refresh_summary(results: Results, budget: int = DRIVER_ROWS) -> bool:
    """summary.json's totals recounted after `forget` removed rows without a run (follow.py):
    the cache makes that cost the rewritten parts. The run's own fields (wall time, processed,
    phases) stay the last run's. False, with the summary left as it was, when there is none or
    more than `budget` rows would need counting here (the next run counts them with Spark)."""
    store = results.store()
    if store.version(results.summary) is None:
        return False
    counted = collection_totals(results, part_versions(store, results.manifest), budget)
    if counted is None:
        return False
    n, ok, faces, runtimes, privacy = counted
    summary = json.loads(store.read(results.summary))
    summary.update(
        inputs=n, ok=ok, errors=n - ok, faces=faces, runtime=sorted(runtimes), privacy=privacy
    )
    store.write(results.summary, summary_json(summary).encode(), "application/json")
    return True
