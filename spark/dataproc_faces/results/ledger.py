"""What a results folder already holds: per-task manifest parts, their state, resume and compaction,
kept per input folder with a digest of each folder's listing.

Layout under DST (the folder key is `folders.folder_of`: the top-level folder below the input, or
one of 256 `_top/xx` shards for photos at the top; `<folder>` is its encoding, `folder_name`):
- `manifest/part-<folder>~<id>.json`: the rows one Spark task produced for one input folder (JSON
  Lines; the manifest stays one flat folder, so `spark.read.json(DST/manifest)` still reads it).
  `<id>` is the run's id (nanoseconds since the epoch, zero-padded, so ids sort by age) and a hash
  of the sources the task processed: a retried or speculative attempt writes the same names.
- `_state/<folder>/part-<id>.json`: one line per row of that part: the input, its version when
  processed (Cloud Storage generation, or size and mtime locally) and a hash of the options (with
  the photo's corrections). Written after the part, so a state line always has its row. A local
  input is named by its path below the input folder (layout.py's `shown`), as in the rows.
- `_state/_digests/<xx>.json`: 256 shard files mapping a folder key to the digest of its listing
  (every input's name, version and the options it is expected to be done with: `seal_listing`,
  or summed line hashes for the top level's shards), written only after that folder's work is
  recorded and compacted, and only by a run that listed the whole input (never by an
  `--input-list` run); forgotten before the first task of a run that redoes a photo there at the
  version it was done at (below).
- `_state/_totals/<xx>.json`: 256 shard files of each manifest part's totals, keyed by the part's
  id and version (totals.py), so a run counts only the parts it wrote or rewrote.
- `manifest/part-<id>.json` with `_state/part-<id>.json`: the flat layout of earlier versions,
  still read; `compact` splits such parts into per-folder parts (`migrate`).

A run compares each listed folder's digest with the recorded one: a folder that matches has nothing
pending and its states are not read; only the others' states are read (each folder's in one task,
with its listing) and only they are compacted. A run stopped anywhere before the digests are
written leaves the old digest, so the next run reads those folders again (never skips one wrongly).
Compaction removes rows that a newer part supersedes (rewriting the part first and its state
second, so a kill between the two leaves a state that the next compaction cleans; line i of a state
is for line i of its part, so the rewrite finds the lines to drop by their states and copies the
others without parsing them, and parses every row only when the two files disagree) and deletes
parts that have no state (a task killed between its two writes; its inputs had no state, so a run
processed them again). Each step is idempotent: a run killed anywhere finishes when started again.
Inputs deleted from the source keep their rows (the folder's digest changes; it is read once).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import string
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from dataproc_faces.results.folders import folder_of
from dataproc_faces.results.layout import FOLDER_SEP as SEP
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
    store.write(results.part(pid), ndjson(rows), "application/x-ndjson")
    store.write(results.state_part(pid), ndjson(states), "application/x-ndjson")


def ndjson(items: Iterable[dict[str, Any]]) -> bytes:
    """JSON Lines as every part and state file is written: keys sorted, one object a line."""
    return "".join(json.dumps(i, sort_keys=True) + "\n" for i in items).encode()


def write_folder_parts(
    store: Store,
    results: Results,
    pid: str,
    done: Iterable[tuple[str, dict[str, Any], dict[str, Any]]],
) -> list[str]:
    """A task's (relative, row, state) triples as one part per input folder (`folder_pid`),
    each part before its state; returns the part ids written."""
    by_folder: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}
    for relative, row, state in done:
        rows, states = by_folder.setdefault(folder_of(relative), ([], []))
        rows.append(row)
        states.append(state)
    written = []
    for key, (rows, states) in sorted(by_folder.items()):
        written.append(folder_pid(key, pid))
        write_part(store, results, written[-1], rows, states)
    return written


def part_ids(store: Store, folder: str) -> set[str]:
    """Ids of the part files directly in one folder: one name per Spark task (and input folder)
    ever run, not per input. One level only: `_state`'s per-folder sub-folders are not walked."""
    return set(part_versions(store, folder))


def part_versions(store: Store, folder: str) -> dict[str, str]:
    """`part_ids` with each part file's version (from the same listing): a part rewritten under
    its id (compaction, `migrate`, forget.py) has a new one."""
    if not store.exists(folder):
        return {}
    return {
        n[len(PREFIX) : -len(SUFFIX)]: version
        for n, version in store.top_level(folder)
        if version is not None and n.startswith(PREFIX) and n.endswith(SUFFIX)
    }


_SAFE = frozenset(string.ascii_letters + string.digits + "-._")
_LONGEST = 120  # encoded names longer than this are hashed: a path segment has 255 bytes


def folder_name(key: str) -> str:
    """An input folder's key (folders.folder_of) as one safe path segment and part-name prefix:
    bytes outside [A-Za-z0-9._-] as %XX, a leading '.' or '_' too (hidden and Spark's names are
    left out of listings), so '_top/3f' is '%5Ftop%2F3f'; a long name by its hash ('%%...',
    which no encoding produces). Never holds SEP."""
    raw = key.encode("utf-8")
    out = "".join(
        chr(b) if chr(b) in _SAFE and not (i == 0 and chr(b) in "._") else f"%{b:02X}"
        for i, b in enumerate(raw)
    )
    if len(out) > _LONGEST or not out:
        return "%%" + hashlib.sha256(raw).hexdigest()[:40]
    return out


def folder_pid(key: str, pid: str) -> str:
    """The id of a task's part for one input folder: `<folder name>~<run id>-<hash>`."""
    return f"{folder_name(key)}{SEP}{pid}"


def age(pid: str) -> tuple[str, bool]:
    """What orders parts: the run id first; at a tie, a folder's copy of a legacy part (made by
    `migrate`) wins over the part it was copied from."""
    return pid.rpartition(SEP)[2], SEP in pid


def folder_part_ids(store: Store, results: Results, key: str) -> set[str]:
    """The ids of one input folder's state parts (`folder_pid`), from its `_state` sub-folder."""
    name = folder_name(key)
    return {f"{name}{SEP}{own}" for own in part_ids(store, results.folder_state(name))}


def _lines(uri: str) -> list[Any]:
    text = store_for(uri).read(uri).decode("utf-8")
    return json_values([line for line in text.splitlines() if line.strip()])


def json_values(lines: list[str]) -> list[Any]:
    """The values of JSON lines, parsed in one call (10,000 lines of a part in half the time of
    a call per line); a line that is not one value fails as it does alone."""
    values = json.loads(f"[{','.join(lines)}]") if lines else []
    if len(values) != len(lines):  # a damaged line that reads as two values
        return [json.loads(line) for line in lines]  # raises at it
    return values


STATE_READS_ENV = "DATAPROC_FACES_STATE_READS"  # tests: a file that records each state read


def _record_read(uri: str, env: str = STATE_READS_ENV) -> None:
    log = os.environ.get(env)
    if log:
        with open(log, "a", encoding="utf-8") as f:  # one short append: whole lines, any process
            f.write(uri + "\n")


def read_states(
    results: Results, pids: Iterable[str], stored: bool = False
) -> Iterator[tuple[str, tuple[str, str, str]]]:
    """(path, (part id, version, options)) for every state line of the given parts; `stored`:
    the path as a run now stores it (`Results.as_stored`), not the input it means."""
    for pid in pids:
        _record_read(results.state_part(pid))
        states = _lines(results.state_part(pid))
        named = [s["path"] for s in states]
        paths = [results.as_stored(p) for p in named] if stored else results.sources_of(named)
        for s, path in zip(states, paths, strict=True):
            yield path, (pid, s["version"], s["options"])


def read_rows(results: Results, pids: Iterable[str]) -> Iterator[dict[str, Any]]:
    for pid in pids:
        yield from _lines(results.part(pid))


T = TypeVar("T")


def capped(items: Iterable[T], limit: int) -> list[T] | None:
    """All of `items` if there are at most `limit`, else None: the driver reads a small
    collection itself and leaves a large one to Spark, so what it holds never grows with it."""
    head = list(itertools.islice(items, limit + 1))
    return head if len(head) <= limit else None


def newest_states(
    results: Results, limit: int, folders: Iterable[str] = ()
) -> dict[str, tuple[str, str, str]] | None:
    """`states_rdd` on the driver, for at most `limit` state lines (None beyond): the legacy
    flat parts and the parts of the given input folders, no others."""
    store = results.store()
    pids = sorted(part_ids(store, results.state))
    pids += [p for k in sorted(folders) for p in sorted(folder_part_ids(store, results, k))]
    lines = capped(read_states(results, pids), limit)
    return None if lines is None else newest(lines)


def newest_stored(results: Results, pids: Iterable[str]) -> dict[str, tuple[str, str, str]]:
    """`newest(read_states(results, pids, stored=True))` in one pass, for the thousands of lines
    of a changed folder: the parts are read in `age` order, so a later line replaces an earlier
    one, as `newest` keeps the later at a tie."""
    found: dict[str, tuple[str, str, str]] = {}
    for pid in sorted(pids, key=age):
        _record_read(results.state_part(pid))
        for s in _lines(results.state_part(pid)):
            found[results.as_stored(s["path"])] = (pid, s["version"], s["options"])
    return found


def newest(lines: Iterable[tuple[str, tuple[str, str, str]]]) -> dict[str, tuple[str, str, str]]:
    """The newest state of each path among `read_states` lines (`age`; at a tie, the later)."""
    found: dict[str, tuple[str, str, str]] = {}
    for path, state in lines:
        if path not in found or age(state[0]) >= age(found[path][0]):
            found[path] = state
    return found


def bookkeeping_slices(sc: Any, count: int, per_core: int = 2) -> int:
    """Tasks for a job over the results' own files, a folder or part at a time (planning changed
    folders, compaction, digests, a changed folder's gallery): two per core, for `count` items.
    That work is even across folders, so two balance, and a Python task costs about 0.14 s beyond
    its work here: four per core spent about a second of a run changing 100 folders of 1,000,000
    photos on tasks, not work (9.5 -> 8.6 s side by side)."""
    return max(1, min(count, sc.defaultParallelism * per_core))


def states_rdd(sc: Any, results: Results, pids: set[str], folders: Any = None) -> Any:
    """RDD of (path, (part id, version, options)), the newest state of each processed input:
    of the parts `pids` (the legacy flat ones) and of every input folder in the RDD `folders`,
    whose states the executors find and read themselves."""
    ordered = sorted(pids)
    parts = []
    if ordered:
        listed = sc.parallelize(ordered, bookkeeping_slices(sc, len(ordered)))
        parts.append(listed.mapPartitions(lambda part: read_states(results, part)))
    if folders is not None:
        parts.append(folders.flatMap(lambda key: _folder_states(results, key)))
    if not parts:
        return sc.emptyRDD()
    return sc.union(parts).reduceByKey(lambda a, b: a if age(a[0]) >= age(b[0]) else b)


def _folder_states(results: Results, key: str) -> Iterator[tuple[str, tuple[str, str, str]]]:
    return read_states(results, sorted(folder_part_ids(results.store(), results, key)))


STOP_AT_ENV = "DATAPROC_FACES_STOP_AT"


def stop_at(step: str) -> None:
    """Fault injection for tests: the run stops here, as a killed one would ("tasks": after
    planning; "compaction": after the tasks; "digests": before recording digests; "drop-state":
    in a compaction's rewrite, between the part and its state)."""
    if os.environ.get(STOP_AT_ENV) == step:
        raise SystemExit(f"stopped before {step} ({STOP_AT_ENV})")


def drop_paths(
    results: Results, pid: str, paths: Iterable[str], sources: list[str] | None = None
) -> int:
    """Rewrite one part and its state without `paths`: the part first (see the module doc).
    The rows are not parsed and dumped again when the part and its state agree line by line
    (`_kept_lines`): only the lines to drop are parsed, the rest are copied as they are.
    `sources`: the input each state line names, in order, when the caller has read them."""
    store, gone = results.store(), set(paths)
    kept = _kept_lines(results, pid, gone, sources)
    if kept is None:  # the part and its state disagree (a rewrite killed midway): parse all
        rows = [r for r in read_rows(results, [pid]) if results.source_of(r["path"]) not in gone]
        states = [
            s for s in _lines(results.state_part(pid)) if results.source_of(s["path"]) not in gone
        ]
        kept = ndjson(rows), ndjson(states)
    if kept[0]:
        store.write(results.part(pid), kept[0], "application/x-ndjson")
        stop_at("drop-state")
        store.write(results.state_part(pid), kept[1], "application/x-ndjson")
    else:
        store.delete(results.part(pid))
        store.delete(results.state_part(pid))
    return len(gone)


def _kept_lines(
    results: Results, pid: str, gone: set[str], sources: list[str] | None
) -> tuple[bytes, bytes] | None:
    """The part's and its state's lines without those of `gone`, or None when the two files
    do not agree line by line. Every writer (`write_part`, `drop_paths`, `migrate`)
    writes line i of a state for line i of its part; a rewrite killed between its two writes
    leaves fewer rows than states, and any doubt (a dropped row that names another path, a
    kept row that does not hold its state's path) is None too: the caller parses every row."""
    store = results.store()
    rows = [r for r in store.read(results.part(pid)).decode("utf-8").splitlines() if r.strip()]
    text = store.read(results.state_part(pid)).decode("utf-8")
    states = [s for s in text.splitlines() if s.strip()]  # as `_lines` reads them
    if len(rows) != len(states) or (sources is not None and len(sources) != len(states)):
        return None
    kept_rows, kept_states = [], []
    parsed = json_values(states)
    for i, (row, line) in enumerate(zip(rows, states, strict=True)):
        stored = parsed[i]["path"]
        source = results.source_of(stored) if sources is None else sources[i]
        if source in gone:
            if json.loads(row).get("path") != stored:  # a row to drop is parsed: it must match
                return None
        elif _names(row, stored):  # its own row
            kept_rows.append(row)
            kept_states.append(line)
        else:
            return None
    return "".join(r + "\n" for r in kept_rows).encode(), "".join(
        s + "\n" for s in kept_states
    ).encode()


def _names(row: str, stored: str) -> bool:
    """Whether a row line, as `write_part` dumps it, holds `"path": <stored>`."""
    if stored.isascii() and stored.isprintable() and '"' not in stored and "\\" not in stored:
        return f'"path": "{stored}"' in row  # json.dumps writes such a name as it is
    return f'"path": {json.dumps(stored)}' in row


def migrate(results: Results, pid: str) -> list[str]:
    """Split one legacy flat part (and its state) into per-folder parts keeping its id, then
    delete it, state first. Killed midway, the copies tie with the original and win (`age`);
    running it again rewrites the same copies. Returns the input folders written."""
    store = results.store()
    rows = list(read_rows(results, [pid]))
    states = list(_lines(results.state_part(pid)))
    grouped: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}
    for row in rows:
        grouped.setdefault(folder_of(results.relative(row["path"])), ([], []))[0].append(row)
    for state in states:
        grouped.setdefault(folder_of(results.relative(state["path"])), ([], []))[1].append(state)
    for key, (kept_rows, kept_states) in sorted(grouped.items()):
        if kept_rows:
            write_part(store, results, folder_pid(key, pid), kept_rows, kept_states)
    store.delete(results.state_part(pid))
    store.delete(results.part(pid))
    return sorted(k for k, (r, _) in grouped.items() if r)


def compact_folder(results: Results, key: str, parts: Iterable[str]) -> tuple[int, int]:
    """`compact` for one input folder, given the ids of its manifest parts: reads that folder's
    states only. Returns (orphans, superseded)."""
    store = results.store()
    parts, states = set(parts), folder_part_ids(store, results, key)
    for pid in sorted(parts - states):  # killed between its two writes
        store.delete(results.part(pid))
    for pid in sorted(states - parts):  # emptied by a compaction killed before this delete
        store.delete(results.state_part(pid))
    first: dict[str, tuple[str, str, str]] = {}  # path as stored -> its first state
    again: dict[str, list[tuple[str, str, str]]] = {}  # path -> every state, if more than one
    order: dict[str, list[str]] = defaultdict(list)  # each part's paths, line by line
    for path, state in read_states(results, sorted(parts & states), stored=True):
        if path in first:
            again.setdefault(path, [first[path]]).append(state)
        else:
            first[path] = state
        order[state[0]].append(path)
    losers: dict[str, list[str]] = defaultdict(list)
    for path, entries in again.items():
        for pid, lost in _losers(path, entries):
            losers[pid].append(lost)
    dropped = sum(  # inputs named as sources only in the few parts that lose a line
        drop_paths(results, pid, results.sources_of(paths), results.sources_of(order[pid]))
        for pid, paths in sorted(losers.items())
    )
    return len(parts - states), dropped


def _by_folder(parts: Iterable[str]) -> dict[str, list[str]]:
    """Manifest part ids of input folders, by folder name (the part names say it)."""
    found: dict[str, list[str]] = defaultdict(list)
    for pid in parts:
        name, sep, _ = pid.rpartition(SEP)
        if sep:
            found[name].append(pid)
    return found


def compact(sc: Any, results: Results, folders: Any = (), on_driver: bool = True) -> dict[str, int]:
    """Leave every input in exactly one part: drop superseded rows and parts without state.

    Legacy flat parts (an earlier version's) are split into per-folder parts first; then only
    the input folders in `folders` (this run's changed ones, plus those a migration wrote)
    are compacted, each reading its own states. On the driver `folders` is a collection;
    else the work is Spark's, and `folders` a list (each task is handed its folders with their
    part names: no shuffle) or an RDD (joined with the part names). The driver holds the
    manifest's part names, as before (one per task and folder)."""
    store = results.store()
    parts = part_ids(store, results.manifest)
    flat, states = {p for p in parts if SEP not in p}, part_ids(store, results.state)
    for pid in sorted(flat - states):  # killed between its two writes, or an older layout
        store.delete(results.part(pid))
    for pid in sorted(states - flat):  # emptied by a compaction killed before this delete
        store.delete(results.state_part(pid))
    live = sorted(flat & states)
    named = _by_folder(parts - flat)
    orphans = len(flat - states)
    if on_driver:
        keys = set(folders) | {k for pid in live for k in migrate(results, pid)}
        if live:
            named = _by_folder(part_ids(store, results.manifest))
        done = [compact_folder(results, k, named.get(folder_name(k), ())) for k in sorted(keys)]
        orphans += sum(d[0] for d in done)
        dropped = sum(d[1] for d in done)
        return {"orphans": orphans, "superseded": dropped}
    keys = folders if folders is not None else sc.emptyRDD()
    if live:  # migrated now, not lazily: the part names listed next must hold the copies
        moved = sc.parallelize(live, bookkeeping_slices(sc, len(live))).flatMap(
            lambda p: migrate(results, p)
        )
        written = sorted(set(moved.collect()))  # input folder keys: one per folder
        if isinstance(keys, list):
            keys = sorted({*keys, *written})
        else:
            keys = keys.union(sc.parallelize(written, bookkeeping_slices(sc, max(1, len(written)))))
            keys = keys.distinct()
        named = _by_folder(part_ids(store, results.manifest))
    if isinstance(keys, list):  # the keys are on the driver: each task gets its part names
        pairs = [(k, named.get(folder_name(k), [])) for k in keys]
        done = (
            sc.parallelize(pairs, bookkeeping_slices(sc, max(1, len(pairs))))
            .map(lambda kv: compact_folder(results, kv[0], kv[1]))
            .fold((0, 0), lambda a, b: (a[0] + b[0], a[1] + b[1]))
        )
        return {"orphans": orphans + done[0], "superseded": int(done[1])}
    names = sc.parallelize(sorted(named.items()), bookkeeping_slices(sc, max(1, len(named))))
    done = (
        keys.map(lambda k: (folder_name(k), k))
        .leftOuterJoin(names)
        .map(lambda kv: compact_folder(results, kv[1][0], kv[1][1] or ()))
        .fold((0, 0), lambda a, b: (a[0] + b[0], a[1] + b[1]))
    )
    return {"orphans": orphans + done[0], "superseded": int(done[1])}


def _losers(path: str, entries: list[tuple[str, str, str]]) -> list[tuple[str, str]]:
    newest = max((e[0] for e in entries), key=age)
    return [(e[0], path) for e in entries if e[0] != newest]


# Listing digests: a folder whose listing (names, versions and the options each photo is
# expected to have been done with) matches the digest recorded after its last complete run
# has nothing pending, and its states are not read. A walked folder's digest is one hash of its
# lines in the walk's order (`seal_listing`); the top level's `_top/xx` shards, whose files Spark
# spreads over partitions, sum per-line hashes (order-free: `line_hash`, `add_hashes`, `seal`).
_MOD = 1 << 256
DIGEST_SHARDS = 256
SHARD_THREADS = 16  # digest shard files the driver reads or rewrites at once


def seal_listing(
    lines: list[str], options: str, expected: Callable[[str], str] | None = None
) -> str:
    """A walked folder's digest: one hash of its listing lines (`relative<TAB>version`, in the
    order the store walks them, the same for every planner) and of the options each photo is
    expected to have been done with: the run's, and after a line a photo's own where a correction
    makes it differ (`expected`: relative name -> its options, given corrections). One hash per
    folder, not one per line: a fifth of a local walk's time. (Digests of earlier versions summed
    a hash per line: their folders are planned from their states once, nothing redone.)"""
    digest = hashlib.sha256(f"{options}\n".encode())
    if expected is None:
        digest.update("".join(f"{line}\n" for line in lines).encode())
    else:
        for line in lines:
            own = expected(line.rpartition("\t")[0])
            digest.update((f"{line}\t{own}\n" if own != options else f"{line}\n").encode())
    return digest.hexdigest()[:32]


def line_hash(relative: str, version: str, expected: str) -> tuple[int, int]:
    """One listed input's share of its `_top/xx` shard's digest: (1, its hash)."""
    text = f"{relative}\t{version}\t{expected}".encode()
    return 1, int.from_bytes(hashlib.sha256(text).digest(), "big")


def add_hashes(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    return a[0] + b[0], (a[1] + b[1]) % _MOD


def seal(summed: tuple[int, int]) -> str:
    """A folder's digest from its summed line hashes."""
    return hashlib.sha256(f"{summed[0]}:{summed[1]:064x}".encode()).hexdigest()[:32]


def digest_shard(key: str) -> str:
    """Which of DIGEST_SHARDS files keeps an input folder's digest."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:2]


def _by_shard(keys: Iterable[str]) -> list[tuple[str, list[str]]]:
    """Input folder keys by the digest shard file that keeps them, shards and keys in order."""
    grouped: dict[str, set[str]] = defaultdict(set)
    for key in keys:
        grouped[digest_shard(key)].add(key)
    return [(shard, sorted(some)) for shard, some in sorted(grouped.items())]


def read_shard_json(uri: str) -> Any:
    """One shard file's JSON (the digests', totals.py's); {} when there is none."""
    data = store_for(uri).version(uri) and store_for(uri).read(uri)
    return json.loads(data) if data else {}


def _read_shard(results: Results, shard: str) -> dict[str, str]:
    return read_shard_json(results.digests(shard))


def read_digests(results: Results, keys: Iterable[str]) -> dict[str, str]:
    """The recorded digests of the given input folders, read on the driver SHARD_THREADS shard
    files at a time: every run reads them, and 256 reads one after the other on gs:// are
    seconds before the listing starts."""

    def wanted(item: tuple[str, list[str]]) -> list[tuple[str, str]]:
        shard, some = item
        keep = set(some)
        return [(k, d) for k, d in _read_shard(results, shard).items() if k in keep]

    return dict(kv for found in _on_shards(wanted, _by_shard(keys)) for kv in found)


def _on_shards(work: Callable[[Any], T], items: list[Any]) -> list[T]:
    """`work` of each item (one digest shard file each), SHARD_THREADS at a time when there are
    several: on gs:// each is a round trip or two, and a first run touches all 256."""
    if len(items) <= 1:
        return [work(item) for item in items]
    with ThreadPoolExecutor(min(SHARD_THREADS, len(items))) as pool:
        return list(pool.map(work, items))


def write_digests(results: Results, digests: Iterable[tuple[str, str]]) -> int:
    """Record digests of input folders whose work is all recorded (call only then: a digest
    written early would skip a folder with work left). One rewrite per shard touched."""
    recorded = dict(digests)
    _on_shards(
        lambda item: _update_shard(results, item[0], [(k, recorded[k]) for k in item[1]]),
        _by_shard(recorded),
    )
    return len(recorded)


def _update_shard(
    results: Results, shard: str, items: Iterable[tuple[str, str]], gone: Iterable[str] = ()
) -> int:
    recorded = _read_shard(results, shard)
    before = dict(recorded)
    for key in gone:
        recorded.pop(key, None)
    recorded.update(items)
    if recorded == before:  # nothing to add or forget: not written again
        return 0
    body = json.dumps(recorded, sort_keys=True, separators=(",", ":")).encode()
    results.store().write(results.digests(shard), body, "application/json")
    return 1


# Forgetting digests before the work: a recorded digest says "every photo listed so, with these
# options, is done". A run that writes other work into such a folder and does not record its own
# digest (killed before it, or a run over an input list, which never records) would leave that
# promise standing over outputs it no longer describes: a later run with the first options would
# find the digest matching and skip the folder, keeping the other run's outputs (faces blurred
# from --min-size 40 where 20 was asked for). So before its first task a run forgets the digests
# of the folders where it redoes a photo at the version it was done at (pipeline._redone; all it
# writes into under --force); a run that finishes records them again. New and changed photos
# need nothing forgotten: versions never come back, so the old digest cannot match again.


def forget_digests(results: Results, keys: Iterable[str]) -> int:
    """Remove the recorded digests of these input folders (the driver: a few shards)."""
    return sum(
        _on_shards(lambda item: _update_shard(results, item[0], (), item[1]), _by_shard(keys))
    )


def forget_digests_spread(sc: Any, results: Results, keys: Any) -> int:
    """`forget_digests` on the executors, one task per few shard files, for keys the driver
    holds (a list) or an RDD of keys (an input list's folders)."""
    if isinstance(keys, list):
        return _update_spread(sc, results, [(s, [], some) for s, some in _by_shard(keys)])
    pairs = keys.map(lambda k: (digest_shard(k), k)).groupByKey()
    return pairs.map(lambda kv: _update_shard(results, kv[0], (), kv[1])).sum()


def write_digests_spread(sc: Any, results: Results, digests: dict[str, str]) -> int:
    """`write_digests` for digests the driver holds (one per folder), one task per few shard
    files: grouped on the driver, so no shuffle."""
    updates = [(s, [(k, digests[k]) for k in some], []) for s, some in _by_shard(digests)]
    return _update_spread(sc, results, updates)


def _update_spread(
    sc: Any, results: Results, updates: list[tuple[str, list[tuple[str, str]], list[str]]]
) -> int:
    """`_update_shard` of each (shard, digests to record, keys to forget), a few shard files a
    Spark task, grouped on the driver: no shuffle."""
    if not updates:
        return 0
    return (
        sc.parallelize(updates, bookkeeping_slices(sc, len(updates)))
        .map(lambda u: _update_shard(results, *u))
        .sum()
    )


def write_digests_rdd(results: Results, digests: Any) -> int:
    """`write_digests` on the executors, for an RDD of (folder key, digest)."""
    return (
        digests.map(lambda kv: (digest_shard(kv[0]), kv))
        .groupByKey()
        .map(lambda kv: _update_shard(results, kv[0], kv[1]))
        .sum()
    )
