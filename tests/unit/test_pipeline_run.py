"""pipeline.py's Spark driver code on an in-process stand-in for Spark (tests/unit/fakespark.py):
listing on executors, input lists, what is pending, the task plan and whole runs into one results
folder (first, unchanged, changed, other options, --force), with exact summaries."""

from __future__ import annotations

import json
import shutil
import types
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dataproc_faces import pipeline
from dataproc_faces.detectors.base import DetectOptions, Face
from dataproc_faces.imaging.codec import DEFAULT_MAX_PIXELS
from dataproc_faces.imaging.render import RenderOptions
from dataproc_faces.pipeline import (
    JobSpec,
    _listed_inputs,
    _pending,
    list_root,
    list_sources,
    listing,
    outside_root,
    run,
)
from dataproc_faces.results import ledger
from dataproc_faces.results.folders import folder_of
from dataproc_faces.results.ledger import (
    folder_name,
    folder_pid,
    options_key,
    part_id,
    read_rows,
)
from dataproc_faces.results.manifest import read_manifest
from dataproc_faces.storage.local import LocalStore
from tests.images import encode
from tests.unit.fakespark import FakeContext, FakeSession
from tests.unit.stand_ins import Clock, FixedDetector

FIXED = DetectOptions(detector="haar", min_size=22)
FACE = Face(10, 8, 20, 16, 0.75)
RED = (0, 0, 255)


@pytest.fixture(autouse=True)
def fixed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(pipeline._DETECTORS, FIXED, FixedDetector([FACE], runtime="fixed 2.0"))


@pytest.fixture(autouse=True)
def planned_by_spark(monkeypatch: pytest.MonkeyPatch) -> None:
    """These runs are small: without this, the driver would plan them (the `driver_` tests),
    or take the few inputs the executors planned to cut their tasks (the `few_` test)."""
    monkeypatch.setattr(pipeline, "SMALL_RUN", 0)


def use_clock(monkeypatch: pytest.MonkeyPatch, step: float) -> None:
    fake = Clock(step)
    monkeypatch.setattr(pipeline, "time", types.SimpleNamespace(perf_counter=fake.perf_counter))


def version(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


def png(seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    return encode(rng.integers(0, 200, (24, 32, 3), dtype=np.uint8), ".png")


def tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


INPUTS = {
    "a.png": png(1),
    "f.jpg": b"broken",
    "b/c.png": png(2),
    "b/d/e.png": png(3),
    ".x/y.png": png(4),  # hidden folder: left out, and counted
    ".z.png": png(5),  # hidden: left out, and counted
}


# -- listing


def test_listing_streams_top_level_files_and_walks_folders_on_executors(tmp_path: Path) -> None:
    src = tree(tmp_path / "in", {**INPUTS, "h/i.png": b"i", "t\tab.png": b"t"})
    spec = JobSpec(str(src), str(tmp_path / "out"))
    sc = FakeContext(parallelism=1)
    entries, shards, top_skipped = listing(sc, spec, "r1")
    assert shards == [] and top_skipped == {"hidden": 2}
    expected = ["a.png", "f.jpg", "t\tab.png", "b/c.png", "b/d/e.png", "h/i.png"]
    assert entries.collect() == [(str(src / r), (r, version(src / r))) for r in expected]
    loose = [(str(src / r), (r, version(src / r))) for r in ("a.png", "f.jpg", "t\tab.png")]
    assert sc.parallelized == [(loose, 1), ([["b"], ["h"]], 2)]
    assert entries.getNumPartitions() == 3
    assert not (tmp_path / "out").exists()  # no shard written


def test_top_level_files_go_to_shards_of_shard_entries(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(pipeline, "SHARD_ENTRIES", 2)
    src = tree(tmp_path / "in", {**INPUTS, "g.png": b"g"})
    out = tmp_path / "out"
    sc = FakeContext(parallelism=1)
    entries, shards, _ = listing(sc, JobSpec(str(src), str(out)), "r1")
    assert shards == [f"{out}/_work/r1/list-00000.txt", f"{out}/_work/r1/list-00001.txt"]
    v = {r: version(src / r) for r in ("a.png", "f.jpg", "g.png", "b/c.png", "b/d/e.png")}
    assert Path(shards[0]).read_text() == f"a.png\t{v['a.png']}\nf.jpg\t{v['f.jpg']}\n"
    assert Path(shards[1]).read_text() == f"g.png\t{v['g.png']}\n"
    expected = ["b/c.png", "b/d/e.png", "a.png", "f.jpg", "g.png"]
    assert entries.collect() == [(str(src / r), (r, v[r])) for r in expected]
    assert sc.parallelized == [([["b"]], 1), (shards, 2)]


def test_a_full_last_shard_leaves_nothing_loose(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(pipeline, "SHARD_ENTRIES", 2)
    src = tree(tmp_path / "in", {"a.png": b"a", "b.png": b"b"})
    out = tmp_path / "out"
    sc = FakeContext(parallelism=1)
    entries, shards, _ = listing(sc, JobSpec(str(src), str(out)), "r2")
    assert shards == [f"{out}/_work/r2/list-00000.txt"]
    assert [e[0] for e in entries.collect()] == [str(src / "a.png"), str(src / "b.png")]
    assert sc.parallelized == [(shards, 1)]


def test_folders_are_dealt_to_at_most_two_slices_per_core(tmp_path: Path) -> None:
    """Folder i goes to slice i mod n, so folders that sort together (and are often alike in
    size) land in different tasks."""
    src = tree(tmp_path / "in", {f"d{i}/x.png": b"x" for i in range(6)})
    sc = FakeContext(parallelism=1)
    entries, _, _ = listing(sc, JobSpec(str(src), str(tmp_path / "out")), "r")
    assert sc.parallelized == [([["d0", "d2", "d4"], ["d1", "d3", "d5"]], 2)]
    assert [[e[1][0] for e in p] for p in entries.partitions()] == [
        ["d0/x.png", "d2/x.png", "d4/x.png"],
        ["d1/x.png", "d3/x.png", "d5/x.png"],
    ]
    sc = FakeContext(parallelism=2)
    listing(sc, JobSpec(str(src), str(tmp_path / "out")), "r")
    assert sc.parallelized == [([["d0", "d4"], ["d1", "d5"], ["d2"], ["d3"]], 4)]
    sc = FakeContext(parallelism=4)
    listing(sc, JobSpec(str(src), str(tmp_path / "out")), "r")
    assert sc.parallelized[0][1] == 6


def test_loose_files_take_one_slice_per_thousand(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for i in range(2000):
        (src / f"{i:04d}.png").write_bytes(b"")
    sc = FakeContext(parallelism=1)
    entries, shards, _ = listing(sc, JobSpec(str(src), str(tmp_path / "out")), "r")
    assert shards == [] and entries.getNumPartitions() == 2
    assert [len(p) for p in entries.partitions()] == [1000, 1000]
    assert sc.parallelized[0][1] == 2


def test_an_empty_input_folder_lists_nothing(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    sc = FakeContext()
    entries, shards, _ = listing(sc, JobSpec(str(tmp_path / "in"), str(tmp_path / "out")), "r")
    assert (entries.collect(), entries.getNumPartitions(), shards) == ([], 0, [])


# -- input lists


def list_file(tmp_path: Path, lines: list[str]) -> str:
    path = tmp_path / "list.txt"
    path.write_text("".join(line + "\n" for line in lines))
    return str(path)


def test_list_sources_reads_the_list_in_one_task_and_drops_duplicates(tmp_path: Path) -> None:
    uri = list_file(tmp_path, ["gs://b/a.jpg", "# c", "gs://b/c.jpg", "gs://b/a.jpg/", ""])
    sc = FakeContext(parallelism=3)
    sources = list_sources(sc, uri)
    assert sorted(sources.collect()) == ["gs://b/a.jpg", "gs://b/c.jpg"]
    assert sc.parallelized == [([uri], 1)]
    assert sources.getNumPartitions() == 12


@pytest.mark.usefixtures("deadline")
@pytest.mark.parametrize(
    ("lines", "root"),
    [
        (["gs://b/a/x.jpg"], "gs://b/a"),
        (["gs://b/a/x.jpg", "gs://b/a/c/y.jpg", "gs://b/a/c/d/z.jpg"], "gs://b/a"),
        (["gs://b/a/c/x.jpg", "gs://b/a/d/y.jpg", "gs://b/a/c/z.jpg"], "gs://b/a"),
        (["gs://b/a/x.jpg", "gs://b/e/y.jpg"], "gs://b"),
    ],
)
def test_list_root_is_common_root_computed_on_executors(tmp_path, lines, root) -> None:
    assert list_root(FakeContext(), list_file(tmp_path, lines)) == root


@pytest.mark.usefixtures("deadline")
def test_list_root_of_local_paths(tmp_path: Path) -> None:
    uri = list_file(tmp_path, [str(tmp_path / "a/x.jpg"), str(tmp_path / "a/b/y.jpg")])
    assert list_root(FakeContext(), uri) == str(tmp_path / "a")


@pytest.mark.usefixtures("deadline")
@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["# nothing", ""], "the input list is empty"),
        (["gs://b/a/x.jpg", "/data/y.jpg"], "the input list mixes local paths and URIs"),
        (
            ["gs://b/x.jpg", "gs://c/y.jpg"],
            r"the input list spans buckets \(gs://[bc] and gs://[bc]\)",
        ),
        (
            ["gs://b/x.jpg", "gs://c/y.jpg", "gs://d/z.jpg", "gs://e/w.jpg"],
            r"the input list spans buckets \(gs://[b-e] and gs://[b-e]\)",
        ),
    ],
)
def test_list_root_refuses_lists_without_one(tmp_path: Path, lines, message) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        list_root(FakeContext(), list_file(tmp_path, lines))


@pytest.mark.usefixtures("deadline")
@pytest.mark.parametrize("parallelism", [1, 2, 3, 5])
def test_list_root_keeps_an_error_wherever_it_meets_it(tmp_path, parallelism) -> None:
    """Spread over partitions differently, an error meets folders and other errors both ways."""
    lines = ["gs://b/x.jpg", "gs://c/y.jpg", "gs://b/q/z.jpg", "gs://d/w.jpg", "gs://b/r/v.jpg"]
    with pytest.raises(ValueError, match=r"^the input list spans buckets \(gs://. and gs://.\)$"):
        list_root(FakeContext(parallelism), list_file(tmp_path, lines))


def test_outside_root_names_an_entry_not_below_the_root(tmp_path: Path) -> None:
    inside = ["gs://b/r/x.jpg", "gs://b/r/s/y.jpg"]
    assert outside_root(FakeContext(), list_file(tmp_path, inside), "gs://b/r") is None
    uri = list_file(tmp_path, [*inside, "gs://b/rx/z.jpg"])
    assert outside_root(FakeContext(), uri, "gs://b/r") == "gs://b/rx/z.jpg"
    uri = list_file(tmp_path, [*inside, "gs://b/r"])
    assert outside_root(FakeContext(), uri, "gs://b/r/") == "gs://b/r"  # the root itself
    uri = list_file(tmp_path, [*inside, "gs://c/a.jpg", "gs://d/a.jpg"])
    assert outside_root(FakeContext(1), uri, "gs://b/r") in {"gs://c/a.jpg", "gs://d/a.jpg"}


def test_listed_inputs_carry_their_relative_path_and_version(tmp_path: Path) -> None:
    src = tree(tmp_path / "in", {"a/x.png": b"xx", "y.png": b"y"})
    uri = list_file(tmp_path, [str(src / "a/x.png"), str(src / "gone.png"), str(src / "y.png")])
    spec = JobSpec(str(src), str(tmp_path / "out"), input_list=uri)
    got = sorted(_listed_inputs(FakeContext(), spec).collect())
    assert got == [
        (str(src / "a/x.png"), ("a/x.png", version(src / "a/x.png"))),
        (str(src / "gone.png"), ("gone.png", "")),
        (str(src / "y.png"), ("y.png", version(src / "y.png"))),
    ]
    sc = FakeContext()
    entries, shards, top_skipped = listing(sc, spec, "r")
    assert (sorted(entries.collect()), shards, top_skipped) == (got, [], {})


# -- what is pending


def test_pending_keeps_new_changed_and_other_option_inputs() -> None:
    sc = FakeContext()
    entries = sc.parallelize(
        [(s, (s[-5:], "v1")) for s in ("gs://b/new.j", "gs://b/same", "gs://b/chan", "gs://b/optn")]
    )
    states = sc.parallelize(
        [
            ("gs://b/same", ("p1", "v1", "o")),
            ("gs://b/chan", ("p1", "v0", "o")),
            ("gs://b/optn", ("p1", "v1", "other")),
            ("gs://b/gone", ("p1", "v1", "o")),
        ]
    )
    pending = _pending(entries, states, "o", False, 3)
    assert sorted(pending.collect()) == [
        ("gs://b/chan", ("/chan", "v1")),
        ("gs://b/new.j", ("new.j", "v1")),
        ("gs://b/optn", ("/optn", "v1")),
    ]
    assert sc.shuffles == [("leftOuterJoin", 3)] and pending.getNumPartitions() == 3
    assert _pending(entries, states, "o", True, 3) is entries  # --force: everything


# -- whole runs


def expected_options(render: RenderOptions | None = None) -> str:
    """The resume key as it was before masks existed; blur adds its mask and strength, and
    keeping metadata adds a flag (the tests here only blur)."""
    r = render or RenderOptions(color=RED)
    key = {"mode": r.mode, "max_pixels": r.max_pixels, "color": list(r.color)}
    if r.mode == "blur":
        key.update(fill="blur", mask=r.mask, mask_scale=r.mask_scale)
        key.update(blur_strength=r.blur_strength)
    if r.keep_metadata:
        key["keep_metadata"] = True
    return options_key(FIXED.to_dict(), key)


def spec_for(tmp_path: Path, mode: str = "outline", **kw) -> JobSpec:
    src, dst = tmp_path / "in", tmp_path / "out"
    return JobSpec(str(src), str(dst), FIXED, RenderOptions(mode=mode, color=RED), **kw)


def manifest(dst: str) -> dict[str, dict]:
    return {Path(r["path"]).name: r for r in read_manifest(LocalStore(dst), dst)}


def states(dst: Path) -> list[dict]:
    return [
        json.loads(line)
        for part in sorted((dst / "_state").glob("**/part-*.json"))  # flat and per folder
        for line in part.read_text().splitlines()
    ]


@contextmanager
def recording(calls: list, total: int, read_done):
    calls.append(("enter", total, read_done()))
    yield
    calls.append(("exit", total, read_done()))


def test_a_first_run_processes_everything_and_reports_exact_totals(
    tmp_path: Path, monkeypatch
) -> None:
    tree(tmp_path / "in", INPUTS)
    use_clock(monkeypatch, 0.1234567)
    spec = spec_for(tmp_path)
    spark, calls = FakeSession(parallelism=2, master="local[7]"), []
    result = run(spark, spec, progress=lambda t, r: recording(calls, t, r))
    sc = spark.sparkContext
    assert calls == [("enter", 4, 0), ("exit", 4, 4)]
    s = result.summary
    assert (s.inputs, s.ok, s.errors, s.faces) == (4, 3, 1, 3)
    # the clock moves 0.1234567 s per reading: start, planned, 2 per image, ran, end, finish
    assert (s.wall_seconds, s.images_per_second) == (1.36, 2.95)  # 11 steps; 4 / 11 steps
    assert s.phases == {"plan": 0.123, "tasks": 1.111, "finish": 0.247}  # 1, 9 and 2 steps
    assert (s.input, s.output, s.master) == ("in", "out", "local[7]")  # names, not paths
    assert s.detector == FIXED.to_dict()
    assert s.render == {
        "mode": "outline",
        "max_pixels": DEFAULT_MAX_PIXELS,
        "metadata": "stripped",
    }
    assert (s.runtime, s.processed, s.skipped) == (["fixed 2.0"], 4, 0)
    assert s.compaction == {"orphans": 0, "superseded": 0}
    assert (result.processed, result.skipped, result.listed) == (4, 0, 4)
    assert result.compaction == {"orphans": 0, "superseded": 0}
    # four inputs on two cores: guided chunks of one, in order of folder, then name
    task = {"inputs": 1, "ok": 1, "faces": 1, "runtime": ["fixed 2.0"], "review": 0}
    error = {"inputs": 1, "ok": 0, "faces": 0, "runtime": [], "review": 1}
    names = ("a.png", "b/c.png", "b/d/e.png", "f.jpg")
    order = sorted(names, key=lambda r: (folder_of(r), r))
    assert result.tasks == [error if r == "f.jpg" else task for r in order]
    dst = Path(spec.output)
    parts = sorted(p.name[len("part-") : -len(".json")] for p in (dst / "manifest").iterdir())
    assert result.pids == parts and len(parts) == 4
    run_id = parts[0].rpartition("~")[2].split("-")[0]
    sources = [str(Path(spec.input) / r) for r in names]
    assert parts == sorted(
        folder_pid(folder_of(r), part_id(run_id, [s])) for r, s in zip(names, sources, strict=True)
    )
    assert json.loads((dst / "summary.json").read_text()) == json.loads(s.to_json())
    rows = manifest(spec.output)
    assert set(rows) == {"a.png", "c.png", "e.png", "f.jpg"}
    assert rows["a.png"]["faces"] == [
        {"x": 10, "y": 8, "w": 20, "h": 16, "score": 0.75, "by": "detector"}
    ]
    assert (rows["a.png"]["width"], rows["a.png"]["height"]) == (32, 24)
    assert rows["c.png"]["output"] == "images/b/c.png"
    assert rows["f.jpg"]["status"] == "error" and rows["a.png"]["millis"] == 123.5
    src = Path(spec.input)
    assert sorted((st["path"], st["version"], st["options"]) for st in states(dst)) == sorted(
        (str(Path(s).relative_to(src)), version(Path(s)), expected_options()) for s in sources
    )  # the state names inputs below the input folder, as the rows do
    plan = [x for x in sc.shuffles if x[0] in ("leftOuterJoin", "sortByKey", "partitionBy")]
    assert plan == [  # each folder's digest is compared on the driver: one record per folder
        ("partitionBy", 1),  # top-level inputs to their folders' planning task: no join, no sort
        ("partitionBy", 4),  # compaction: each task handed its folders and their parts' names
    ]
    assert sc.parallelized[-1] == (parts, 4)  # the totals read every part, one per slice
    assert [r for r in sc.rdds if r.storage_level is not None] == []  # nothing left cached
    assert [p.name for p in dst.rglob(".*")] == [] and not (dst / "_work").exists()
    assert (src / "a.png").read_bytes() == INPUTS["a.png"]


@pytest.mark.parametrize("planner", ["spark", "driver"])
def test_an_older_folders_absolute_state_names_resume_and_compact(
    tmp_path: Path, monkeypatch, planner: str
) -> None:
    """A results folder an earlier version wrote names inputs absolutely and has no digests:
    nothing is done again, and a changed photo's old row is compacted away."""
    if planner == "driver":
        monkeypatch.setattr(pipeline, "SMALL_RUN", 2_000)
    tree(tmp_path / "in", INPUTS)
    spec = spec_for(tmp_path)
    run(FakeSession(), spec)
    dst, src = Path(spec.output), Path(spec.input)
    for part in [*(dst / "_state").glob("*/part-*.json"), *(dst / "manifest").glob("**/*.json")]:
        lines = [json.loads(line) for line in part.read_text().splitlines()]
        absolute = [{**x, "path": str(src / x["path"])} for x in lines]
        part.write_text("".join(json.dumps(x) + "\n" for x in absolute))
    shutil.rmtree(dst / "_state" / "_digests")
    again = run(FakeSession(), spec)
    assert (again.processed, again.skipped) == (0, 4)
    (src / "b/c.png").write_bytes(png(9))
    changed = run(FakeSession(), spec)
    assert (changed.processed, changed.compaction["superseded"]) == (1, 1)
    paths = sorted(r["path"] for r in read_manifest(LocalStore(spec.output), spec.output))
    assert paths == [str(src / "a.png"), str(src / "b/d/e.png"), str(src / "f.jpg"), "b/c.png"]


@pytest.mark.parametrize("planner", ["spark", "driver"])
def test_runs_into_the_same_folder_skip_what_is_done_and_redo_what_changed(
    tmp_path: Path, monkeypatch, planner: str
) -> None:
    if planner == "driver":
        monkeypatch.setattr(pipeline, "SMALL_RUN", 2_000)
    tree(tmp_path / "in", INPUTS)
    spec = spec_for(tmp_path)
    first = run(FakeSession(), spec)
    first_rows = manifest(spec.output)
    use_clock(monkeypatch, 0.5)
    spark, calls = FakeSession(), []
    again = run(spark, spec, progress=lambda t, r: recording(calls, t, r))
    assert (again.processed, again.skipped, again.listed, again.tasks) == (0, 4, 4, [])
    assert calls == []  # nothing to watch
    s = again.summary
    assert (s.inputs, s.ok, s.errors, s.faces, s.processed, s.skipped) == (4, 3, 1, 3, 0, 4)
    assert (s.images_per_second, s.wall_seconds) == (0.0, 1.5)
    assert s.phases == {"plan": 0.5, "tasks": 0.5, "finish": 1.0}
    assert manifest(spec.output) == first_rows and again.pids == first.pids
    assert not any(op == "partitionBy" for op, _ in spark.sparkContext.shuffles)

    (Path(spec.input) / "b/c.png").write_bytes(png(9))  # changed
    (Path(spec.input) / "n.png").write_bytes(png(8))  # new
    spark = FakeSession(parallelism=1)
    changed = run(spark, spec)
    assert (changed.processed, changed.skipped, changed.listed) == (2, 3, 5)
    if planner == "spark":  # the totals count only the run's 2 new parts (totals.py)
        assert spark.sparkContext.parallelized[-1] == (
            sorted(set(changed.pids) - set(again.pids)),
            2,
        )
    else:  # only the two inputs to process went to Spark
        assert [len(data) for data, _ in spark.sparkContext.parallelized] == [2]
    assert changed.summary.inputs == 5 and changed.compaction == {"orphans": 0, "superseded": 1}
    rows = manifest(spec.output)
    assert rows["a.png"] == first_rows["a.png"] and rows["c.png"] != first_rows["c.png"]
    assert len(changed.pids) == 5  # the old part of c.png was emptied and removed

    for other in (
        spec_for(tmp_path, mode="blur"),
        JobSpec(spec.input, spec.output, FIXED, RenderOptions(mode="blur", color=(1, 2, 3))),
        JobSpec(spec.input, spec.output, FIXED, RenderOptions("blur", (1, 2, 3), 10**7)),
        JobSpec(spec.input, spec.output, FIXED, RenderOptions("blur", mask_scale=1.9)),
        JobSpec(spec.input, spec.output, FIXED, RenderOptions("blur", mask="box")),
        JobSpec(spec.input, spec.output, FIXED, RenderOptions("blur", blur_strength=0.9)),
        JobSpec(spec.input, spec.output, FIXED, RenderOptions("blur", keep_metadata=True)),
    ):
        redone = run(FakeSession(), other)
        assert (redone.processed, redone.skipped, redone.summary.inputs) == (5, 0, 5)
        key = expected_options(other.render)
        assert {st["options"] for st in states(Path(spec.output))} == {key}
    forced = run(FakeSession(), other, force=True)
    assert (forced.processed, forced.skipped, forced.listed) == (5, 0, 5)
    assert forced.compaction == {"orphans": 0, "superseded": 5}
    assert len(manifest(spec.output)) == 5


def test_explicit_partitions_cut_the_sorted_inputs_into_equal_chunks(tmp_path: Path) -> None:
    tree(tmp_path / "in", INPUTS)
    spark = FakeSession(parallelism=2)
    result = run(spark, spec_for(tmp_path, partitions=3))
    # equal sizes 1, 2, 1 in folder order: top-level photos fall in `_top/xx` shards, which
    # sort before `b`: f.jpg | a.png, b/c.png | b/d/e.png
    assert sorted([folder_of("f.jpg"), folder_of("a.png"), "b"]) == [
        folder_of("f.jpg"),
        folder_of("a.png"),
        "b",
    ]
    assert [t["inputs"] for t in result.tasks] == [1, 2, 1]
    assert [t["ok"] for t in result.tasks] == [0, 2, 1]
    assert ("partitionBy", 3) in spark.sparkContext.shuffles


def planned(sc: FakeContext) -> list[list[str]]:
    """The folder keys of each planning task of a run whose changed folders are all below the
    top level (`_pending_by_folder`: one slice of (key, listing) pairs per task; the walk's
    slices hold (folder, recorded digest) pairs)."""
    groups = [g for g, _ in sc.parallelized if g and isinstance(g[0], list) and _listings(g)]
    assert len(groups) == 1
    return [[k for k, _ in g] for g in groups[0]]


def _listings(slices: list[list[Any]]) -> bool:
    return all(isinstance(u, tuple) and "/_work/" in str(u[1]) for g in slices for u in g)


def test_planning_slices_grow_with_the_listing(tmp_path: Path, monkeypatch) -> None:
    """Changed folders are planned in runs of about PLAN_ENTRIES inputs (by the digests'
    counts), at most two runs a core (ledger.bookkeeping_slices); a folder is never cut."""
    monkeypatch.setattr(pipeline, "PLAN_ENTRIES", 2)
    tree(tmp_path / "in", {f"d{i}/{j}.png": png(i) for i in range(5) for j in range(i + 1)})
    spark = FakeSession(parallelism=1)
    run(spark, spec_for(tmp_path))  # 1+2+3+4+5 inputs: runs of 15 / 2 -> 8 inputs
    sc = spark.sparkContext
    assert planned(sc) == [["d0", "d1", "d2"], ["d3"], ["d4"]]
    assert [x for x, _ in sc.shuffles if x in ("leftOuterJoin", "sortByKey", "reduceByKey")] == []
    assert pipeline._plan_groups({"a": ("", 3), "b": ("", 3), "c": ("", 1)}, 2) == [
        ["a"],
        ["b", "c"],
    ]
    monkeypatch.setattr(pipeline, "FOLDER_PLAN_MAX", 2)  # a run holds at most this many
    assert pipeline._plan_groups({"a": ("", 1), "b": ("", 1), "c": ("", 1)}, 1) == [
        ["a", "b"],
        ["c"],
    ]


def test_shards_are_deleted_after_the_run(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(pipeline, "SHARD_ENTRIES", 1)
    tree(tmp_path / "in", INPUTS)
    spec = spec_for(tmp_path)
    result = run(FakeSession(), spec)
    assert (result.processed, result.summary.inputs) == (4, 4)
    assert list((Path(spec.output) / "_work").rglob("*.txt")) == []


def test_a_run_from_an_input_list(tmp_path: Path, monkeypatch) -> None:
    src = tree(tmp_path / "in", INPUTS)
    uri = list_file(tmp_path, [str(src / "b/c.png"), str(src / "gone.png"), str(src / "a.png")])
    spec = spec_for(tmp_path, input_list=uri, partitions=1)
    use_clock(monkeypatch, 0.0123456)
    spark = FakeSession()
    result = run(spark, spec)
    assert (result.processed, result.listed, result.summary.ok) == (3, 3, 2)
    # under a second: 9 clock steps of 0.0123456 s for 3 inputs
    assert (result.summary.wall_seconds, result.summary.images_per_second) == (0.11, 27.0)
    assert result.tasks == [
        {"inputs": 3, "ok": 2, "faces": 2, "runtime": ["fixed 2.0"], "review": 1}
    ]
    assert len(result.pids) == 3  # one task, one part per input folder it touched
    assert spark.sparkContext.parallelized[-1] == (result.pids, 3)
    # a list is not a folder's whole listing: no folder's digest is recorded from it
    assert not (Path(spec.output) / "_state" / "_digests").exists()
    rows = manifest(spec.output)
    assert rows["gone.png"]["status"] == "error"
    assert rows["c.png"]["output"] == "images/b/c.png"


@pytest.mark.parametrize("bound", [3, 2])
def test_a_short_input_list_is_planned_by_the_driver(
    tmp_path: Path, monkeypatch, bound: int
) -> None:
    """What `follow` starts: a list of a few photos into a results folder. Within the driver's
    bound (3 entries, 3 state lines) the driver reads the list, the listed folders' states and
    plans: the only Spark job is the tasks'; no digest is recorded. Past it (2) Spark plans."""
    src = tree(tmp_path / "in", INPUTS)
    monkeypatch.setattr(pipeline, "SMALL_RUN", 3)
    spec = spec_for(tmp_path)
    assert run(FakeSession(), spec).processed == 4  # b/ holds two state lines, a.png one
    digests = sorted((Path(spec.output) / "_state" / "_digests").glob("*.json"))
    recorded = {p.name: p.read_bytes() for p in digests}
    tree(src, {"b/new.png": png(7)})
    (src / "a.png").write_bytes(png(8))  # changed since
    listed = [str(src / "b/new.png"), str(src / "a.png"), str(src / "b/c.png")]
    spec = spec_for(tmp_path, input_list=list_file(tmp_path, [*listed, listed[0]]))
    monkeypatch.setattr(pipeline, "SMALL_RUN", bound)
    rows_read: list[str] = []

    def counted(results, pids):  # type: ignore[no-untyped-def]
        for r in ledger.read_rows(results, pids):
            rows_read.append(r["path"])
            yield r

    monkeypatch.setattr(pipeline, "read_rows", counted)
    spark = FakeSession()
    result = run(spark, spec)
    assert (result.processed, result.listed, result.summary.inputs) == (2, 3, 5)
    # the driver does not try to hold the collection's 5 rows (past 3): totals from the cache
    assert rows_read == []
    assert names_of_last_run(spec.output) == ["a.png", "new.png"]
    actions = spark.sparkContext.actions
    if bound == 3:
        # the tasks' collect only; the totals are the cache's and the new parts' rows
        assert (actions, result.rows) == (["collect"], None)
    else:  # the list itself is past the bound: Spark reads, checks and plans it
        assert "count" in actions and result.rows is None
    after = sorted((Path(spec.output) / "_state" / "_digests").glob("*.json"))
    # a list records no digest; it forgets none here: it redid no photo at its old version
    assert {p.name: p.read_bytes() for p in after} == recorded
    assert run(FakeSession(), spec).processed == 0  # done: nothing pending from the list again


def names_of_last_run(dst: str) -> list[str]:
    """The photos whose rows the newest run wrote (part names carry the run id)."""
    parts = {p: p.stem.rpartition("~")[2].split("-")[0] for p in Path(dst, "manifest").glob("*")}
    newest = max(parts.values())
    lines = [line for p, r in parts.items() if r == newest for line in p.read_text().splitlines()]
    return sorted(Path(json.loads(line)["path"]).name for line in lines)


@pytest.mark.parametrize("planner", ["spark", "driver"])
def test_a_run_over_nothing_writes_an_empty_summary(
    tmp_path: Path, monkeypatch, planner: str
) -> None:
    if planner == "driver":
        monkeypatch.setattr(pipeline, "SMALL_RUN", 2_000)
    (tmp_path / "in").mkdir()
    use_clock(monkeypatch, 0.0)  # a clock that does not move: no division by zero
    spec = spec_for(tmp_path)
    result = run(FakeSession(), spec)
    s = result.summary
    assert (s.inputs, s.ok, s.errors, s.faces, s.runtime) == (0, 0, 0, 0, [])
    assert (s.wall_seconds, s.images_per_second, result.pids, result.tasks) == (0.0, 0.0, [], [])
    assert json.loads((Path(spec.output) / "summary.json").read_text())["inputs"] == 0


# -- small runs: planned and finished on the driver, Spark only for the tasks


def test_a_small_run_is_planned_and_finished_without_spark_jobs(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(pipeline, "SMALL_RUN", 4)  # exactly the four inputs: still small
    tree(tmp_path / "in", INPUTS)
    spec = spec_for(tmp_path)
    spark, calls = FakeSession(parallelism=2), []
    result = run(spark, spec, progress=lambda t, r: recording(calls, t, r))
    sc = spark.sparkContext
    assert calls == [("enter", 4, 0), ("exit", 4, 4)]
    s = result.summary
    assert (s.inputs, s.ok, s.errors, s.faces, s.processed, s.skipped) == (4, 3, 1, 3, 4, 0)
    assert s.ignored == {"hidden": 2}  # .x/ and .z.png, counted on the driver
    assert sc.shuffles == []  # no join, sort, numbering, compaction or totals job
    # one Spark job: four chunks of one input each (guided sizes on two cores), in folder order
    ((chunks, slices),) = sc.parallelized
    src = spec.input
    names = sorted(["a.png", "b/c.png", "b/d/e.png", "f.jpg"], key=lambda r: (folder_of(r), r))
    assert slices == 4
    assert [[(i, e[0]) for i, e in chunk] for chunk in chunks] == [
        [(i, f"{src}/{n}")] for i, n in enumerate(names)
    ]
    assert sorted(r["path"] for r in result.rows or []) == sorted(names)
    assert [r.storage_level for r in sc.rdds if r.storage_level is not None] == []
    again = run(FakeSession(), spec)
    assert (again.processed, again.skipped, again.summary.inputs) == (0, 4, 4)
    assert again.summary.faces == 3


def test_a_run_past_the_small_limit_goes_to_spark_by_input_or_by_results(
    tmp_path: Path, monkeypatch
) -> None:
    tree(tmp_path / "in", INPUTS)
    spec = spec_for(tmp_path)
    monkeypatch.setattr(pipeline, "SMALL_RUN", 3)  # four inputs: too many
    spark = FakeSession()
    first = run(spark, spec)
    assert first.rows is None and ("partitionBy", 1) in spark.sparkContext.shuffles
    (Path(spec.input) / "a.png").unlink()
    (Path(spec.input) / "b" / "d" / "e.png").unlink()
    spark = FakeSession()  # two inputs now, but the last run listed four
    second = run(spark, spec)
    assert (second.processed, second.skipped, second.summary.inputs) == (0, 2, 4)
    # Spark lists and digests the folders, then the top level's shards (the driver does not
    # walk an input last seen past its bound); the driver reads the changed folder's listing
    # file and plans it (no Spark job, join or sort); the totals over four rows are the cache's
    # (totals.py): no part changed, no Spark job for them
    assert second.rows is None
    assert spark.sparkContext.actions == ["collect", "collect"]
    (Path(spec.input) / "b" / "c.png").unlink()
    (Path(spec.input) / "b" / "x").mkdir()
    for name in ("1.png", "2.png", "3.png"):
        (Path(spec.input) / "b" / "x" / name).write_bytes(INPUTS["a.png"])
    spark = FakeSession()  # b's four state lines (three new) with f.jpg's: past the bound
    assert run(spark, spec).processed == 3
    spark = FakeSession()
    (Path(spec.input) / "b" / "x" / "1.png").unlink()
    again = run(spark, spec)  # b changed again: its 4 state lines are more than 3
    assert (again.processed, again.rows) == (0, None)
    assert planned(spark.sparkContext) == [["b"]]  # by Spark, in one task, no join
    monkeypatch.setattr(pipeline, "SMALL_RUN", 4)
    spark = FakeSession()
    third = run(spark, spec)
    assert (third.processed, third.skipped, third.summary.inputs) == (0, 3, 7)
    # 7 rows, past the bound of 4: Spark lists (the top level's shards summed by one
    # reduceByKey); nothing changed, so no join or sort, and the rows are not the driver's
    assert spark.sparkContext.shuffles == [("reduceByKey", 2)] and third.rows is None


def test_a_few_changed_folders_of_a_large_listing_are_planned_on_the_driver(
    tmp_path: Path, monkeypatch
) -> None:
    """Past the bound the executors list and digest; when the changed folders hold few inputs
    and states, only those come to the driver, which plans them: no join or sort job."""
    monkeypatch.setattr(pipeline, "SMALL_RUN", 3)  # four inputs: listed by Spark
    src = tree(tmp_path / "in", INPUTS)
    spec = spec_for(tmp_path)
    assert run(FakeSession(), spec).processed == 4
    (src / "n").mkdir()
    (src / "n" / "x.png").write_bytes(INPUTS["a.png"])
    spark = FakeSession()
    result = run(spark, spec)
    assert (result.processed, result.skipped, result.summary.inputs) == (1, 4, 5)
    sc = spark.sparkContext
    assert not [x for x in sc.shuffles if x[0] in ("leftOuterJoin", "sortByKey", "partitionBy")][1:]
    assert ("sortByKey", 1) not in sc.shuffles and result.rows is None  # totals: Spark's
    assert [r.storage_level for r in sc.rdds if r.storage_level is not None] == []
    assert set(manifest(spec.output)) == {"a.png", "c.png", "e.png", "f.jpg", "x.png"}
    # the walk, the top level's shards, the totals: the new folder's listing file is read by
    # the driver, no job
    assert sc.actions == ["collect", "collect", "collect"]
    again = FakeSession()
    assert run(again, spec).processed == 0
    (src / "t.png").write_bytes(INPUTS["a.png"])  # a top-level shard changed: its entries
    spark = FakeSession()  # are an RDD's, collected by a job
    assert run(spark, spec).processed == 1
    assert spark.sparkContext.actions == ["collect", "collect", "collect", "collect"]
    assert set(manifest(spec.output)) == {"a.png", "c.png", "e.png", "f.jpg", "x.png", "t.png"}
    (src / "n" / "y.png").write_bytes(INPUTS["a.png"])  # both at once: by the job
    (src / "u.png").write_bytes(INPUTS["a.png"])
    assert run(FakeSession(), spec).processed == 2
    assert {"y.png", "u.png"} < set(manifest(spec.output))


def test_folders_with_odd_names_keep_their_own_states(tmp_path: Path) -> None:
    odd = ["a b/1.png", "x~y/2.png", "%41/3.png", "_top/4.png", "été/5.png", "_digests/7.png"]
    odd.append("top.png")
    src = tree(tmp_path / "in", {n: INPUTS["a.png"] for n in odd})
    spec = spec_for(tmp_path)
    assert run(FakeSession(), spec).processed == 7
    (src / "x~y" / "6.png").write_bytes(INPUTS["a.png"])
    again = run(FakeSession(), spec)
    assert (again.processed, again.skipped, again.summary.inputs) == (1, 7, 8)
    dst = Path(spec.output)
    kept = [p.name for p in (dst / "_state").iterdir() if p.name not in ("_digests", "_totals")]
    assert sorted(kept) == sorted({folder_name(folder_of(n)) for n in odd})
    assert len(list((dst / "_state" / "x%7Ey").iterdir())) == 2  # one part per run there
    assert run(FakeSession(), spec).processed == 0


# -- changed folders planned one task each (`_pending_by_folder`): no join, no sort

SPREAD = {f"{d}/{i}.png": png(10 * n + i) for n, d in enumerate("ABCD") for i in range(3)}
SPREAD |= {"t0.png": png(50), "t1.png": png(51)}  # top level: `_top/xx` shards


def state_reads(log: Path, dst: Path) -> set[str]:
    """The `_state` sub-folders whose parts a run read ("flat" for legacy parts)."""
    found = set()
    for line in log.read_text().splitlines() if log.exists() else []:
        rel = Path(line).relative_to(dst / "_state")
        found.add(rel.parts[0] if len(rel.parts) > 1 else "flat")
    log.unlink(missing_ok=True)
    return found


def by_path(dst: str) -> dict[str, dict]:
    """Every row by its stored path; a photo with two rows fails here."""
    rows: dict[str, dict] = {}
    for r in read_manifest(LocalStore(dst), dst):
        assert r["path"] not in rows, r["path"]
        rows[r["path"]] = r
    return rows


def test_one_changed_photo_in_each_of_several_folders_is_redone_once_and_alone(
    tmp_path: Path, monkeypatch
) -> None:
    src, log = tree(tmp_path / "in", SPREAD), tmp_path / "reads.log"
    spec, dst = spec_for(tmp_path), tmp_path / "out"
    first = run(FakeSession(), spec)
    assert first.processed == 14
    before = by_path(spec.output)
    changed = ["A/1.png", "B/2.png", "C/0.png", "t1.png"]
    for n, rel in enumerate(changed):
        (src / rel).write_bytes(png(90 + n))
    monkeypatch.setenv("DATAPROC_FACES_STATE_READS", str(log))
    spark = FakeSession(parallelism=2)
    result = run(spark, spec)
    assert (result.processed, result.skipped, result.summary.inputs) == (4, 10, 14)
    assert result.compaction == {"orphans": 0, "superseded": 4}
    # the changed folders' states only, each read by its own planning task and by compaction
    assert state_reads(log, dst) == {"A", "B", "C", folder_name(folder_of("t1.png"))}
    rows = by_path(spec.output)
    assert sorted(rows) == sorted(SPREAD)  # each photo exactly once
    new = sorted(set(result.pids) - set(first.pids))  # the parts this run wrote
    assert sorted(r["path"] for r in read_rows(spec.results, new)) == sorted(changed)
    assert all(rows[p] == before[p] for p in SPREAD if p not in changed)  # kept as they were
    for rel in SPREAD:
        mine = [st for st in states(dst) if st["path"] == rel]
        assert len(mine) == 1 and mine[0]["version"] == version(src / rel)
    assert [op for op, _ in spark.sparkContext.shuffles] == [
        "reduceByKey",  # the listing: top-level photos' hashes summed per `_top/xx` shard
        "partitionBy",  # the changed shards' entries to their planning task: no state moves
        "partitionBy",  # the work, in chunks; compaction and digests: no shuffle
    ]
    # the work in folder order, as the tasks want it (2 cores: chunks of one)
    assert [t["inputs"] for t in result.tasks] == [1, 1, 1, 1]
    again = run(FakeSession(), spec)
    assert (again.processed, again.skipped) == (0, 14)


def test_the_driver_and_the_executors_digest_a_folder_alike(tmp_path: Path, monkeypatch) -> None:
    """Digests one planner recorded match what the other finds: a run planned by the executors
    after one planned by the driver (and back) does nothing and reads no folder's states."""
    src, log = tree(tmp_path / "in", SPREAD), tmp_path / "reads.log"
    spec, dst = spec_for(tmp_path), tmp_path / "out"
    monkeypatch.setattr(pipeline, "SMALL_RUN", 2_000)  # the driver plans the first run
    assert run(FakeSession(), spec).processed == 14
    monkeypatch.setenv("DATAPROC_FACES_STATE_READS", str(log))
    for n, small in enumerate((0, 2_000, 0, 2_000)):  # executors, driver, executors, driver
        monkeypatch.setattr(pipeline, "SMALL_RUN", small)
        again = run(FakeSession(parallelism=2), spec)  # the other planner recorded the digests
        assert (again.processed, again.skipped, state_reads(log, dst)) == (0, 14, set()), n
        (src / "A/1.png").write_bytes(png(90 + n))
        assert run(FakeSession(parallelism=2), spec).processed == 1  # this one records A's
        state_reads(log, dst)


@pytest.mark.parametrize("top", [True, False])
def test_the_plan_numbers_pending_entries_in_folder_order(
    tmp_path: Path, monkeypatch, top: bool
) -> None:
    """Each planning task yields its folders in key order, each folder by source; partition
    after partition that is the whole order, numbered 0.. without a sort."""
    monkeypatch.setattr(pipeline, "PLAN_ENTRIES", 3)
    files = {f"{d}/{n}.png": png(1) for d in ("m", "b", "x", "c") for n in ("z", "a", "k")}
    if top:
        files |= {f"t{n}.png": png(2) for n in range(6)}
    src = tree(tmp_path / "in", files)
    spec = spec_for(tmp_path, partitions=3)
    sc = FakeContext(parallelism=2)
    plan = pipeline._plan_with_spark(sc, spec, "r1", expected_options(), False)
    numbered = sorted(plan.work.collect())
    assert [i for i, _ in numbered] == list(range(len(files)))
    order = sorted(files, key=lambda r: (folder_of(r), r))
    assert [e[1][0] for _, e in numbered] == order
    assert all(e[0] == str(src / e[1][0]) for _, e in numbered)
    chunks = [sorted(i for i, _ in part) for part in plan.work.partitions()]
    assert [len(c) for c in chunks] == [
        len(c) for c in (range(a, b) for a, b in _bounds(len(files)))
    ]
    assert all(c == list(range(c[0], c[-1] + 1)) for c in chunks)  # each task: a run of indices


def _bounds(total: int) -> list[tuple[int, int]]:
    b = pipeline._chunk_bounds(total, 2, 3)
    return [(b[i], b[i + 1]) for i in range(len(b) - 1)]


def test_few_inputs_planned_by_the_executors_are_cut_into_tasks_by_the_driver(
    tmp_path: Path, monkeypatch
) -> None:
    """At most FEW_PENDING inputs to process: the executors' plan comes to the driver in
    order, and the driver cuts the tasks as for a small run (no shuffle of the work); the
    compaction and digests stay the executors'."""
    src, spec = tree(tmp_path / "in", SPREAD), spec_for(tmp_path)
    first = run(FakeSession(), spec)
    changed = ["A/1.png", "B/2.png", "C/0.png", "t1.png"]
    for n, rel in enumerate(changed):
        (src / rel).write_bytes(png(90 + n))
    monkeypatch.setattr(pipeline, "FEW_PENDING", 4)
    monkeypatch.setattr(pipeline, "SMALL_RUN", 4)  # 0 would leave every step to the executors
    spark = FakeSession(parallelism=2)
    result = run(spark, spec)
    sc = spark.sparkContext
    assert (result.processed, result.skipped, result.compaction["superseded"]) == (4, 10, 4)
    assert [op for op, _ in sc.shuffles] == ["reduceByKey", "partitionBy"]  # listing, plan
    ((chunks, slices),) = [(d, n) for d, n in sc.parallelized if d and isinstance(d[0], list)
                           and d[0] and isinstance(d[0][0][0], int)]  # fmt: skip
    order = sorted(changed, key=lambda r: (folder_of(r), r))
    assert [[(i, e[1][0]) for i, e in chunk] for chunk in chunks] == [
        [(i, r)] for i, r in enumerate(order)
    ]
    assert slices == 4 and result.rows is None  # the totals: still the executors'
    new = sorted(set(result.pids) - set(first.pids))
    assert sorted(r["path"] for r in read_rows(spec.results, new)) == sorted(changed)
    assert sorted(by_path(spec.output)) == sorted(SPREAD)
    assert [r.storage_level for r in sc.rdds if r.storage_level is not None] == []
    again = run(FakeSession(), spec)
    assert (again.processed, again.skipped) == (0, 14)
    (src / "D/0.png").write_bytes(png(99))
    spark = FakeSession()
    monkeypatch.setattr(pipeline, "FEW_PENDING", 0)  # one more than that: the executors' work
    monkeypatch.setattr(pipeline, "SMALL_RUN", 0)
    assert run(spark, spec).processed == 1
    assert ("partitionBy", 1) in spark.sparkContext.shuffles[1:]


def test_the_newest_of_two_states_of_a_photo_decides(tmp_path: Path, monkeypatch) -> None:
    """A run stopped before compaction leaves two parts (and states) for a changed photo: the
    next run plans with the newer one (nothing to do), and compaction keeps only it."""
    src = tree(tmp_path / "in", SPREAD)
    spec, dst = spec_for(tmp_path), tmp_path / "out"
    run(FakeSession(), spec)
    (src / "B/1.png").write_bytes(png(77))
    monkeypatch.setenv(ledger.STOP_AT_ENV, "compaction")
    with pytest.raises(SystemExit, match="stopped before compaction"):
        run(FakeSession(), spec)
    monkeypatch.delenv(ledger.STOP_AT_ENV)
    held = [st for st in states(dst) if st["path"] == "B/1.png"]
    assert len(held) == 2 and held[0]["version"] != held[1]["version"]
    again = run(FakeSession(), spec)
    assert (again.processed, again.skipped) == (0, 14)
    assert again.compaction == {"orphans": 0, "superseded": 1}
    (only,) = [st for st in states(dst) if st["path"] == "B/1.png"]
    assert only["version"] == version(src / "B/1.png")


def test_legacy_flat_states_and_a_huge_folder_are_planned_by_the_join(
    tmp_path: Path, monkeypatch
) -> None:
    from tests.spark.test_digests import to_legacy

    src = tree(tmp_path / "in", SPREAD)
    spec, dst = spec_for(tmp_path), tmp_path / "out"
    run(FakeSession(), spec)
    to_legacy(dst)
    (src / "A/0.png").write_bytes(png(60))
    spark = FakeSession()
    result = run(spark, spec)  # every folder changed (no digests): joined with flat states
    assert (result.processed, result.skipped) == (1, 13)
    assert ("reduceByKey", 2) in spark.sparkContext.shuffles  # the states, by path
    assert not list((dst / "_state").glob("part-*.json"))  # moved to folders
    assert sorted(by_path(spec.output)) == sorted(SPREAD)
    monkeypatch.setattr(pipeline, "FOLDER_PLAN_MAX", 2)  # C's 3 inputs: too many for a task
    (src / "C/2.png").write_bytes(png(61))
    spark = FakeSession()
    assert run(spark, spec).processed == 1
    assert {("leftOuterJoin", 1), ("sortByKey", 1)} <= set(spark.sparkContext.shuffles)
    assert sorted(by_path(spec.output)) == sorted(SPREAD)


# -- corrections: a person's boxes, kept with the results


def photo(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    return encode(rng.integers(0, 255, (60, 80, 3), dtype=np.uint8), ".png")


def pixels(path: Path) -> np.ndarray:
    import cv2

    return cv2.imdecode(np.frombuffer(path.read_bytes(), np.uint8), cv2.IMREAD_COLOR)


def corrections_file(path: Path, photos: dict) -> str:
    path.write_text(json.dumps({"version": 1, "photos": photos}))
    return str(path)


ADDED = {"x": 44, "y": 30, "w": 16, "h": 16, "note": "a face in the window"}


@pytest.mark.parametrize("planner", ["spark", "driver"])
def test_corrections_redo_exactly_the_photos_named_and_stay_with_the_results(
    tmp_path: Path, monkeypatch, planner: str
) -> None:
    from dataclasses import replace

    from dataproc_faces.imaging.anonymise import mask_for

    if planner == "driver":
        monkeypatch.setattr(pipeline, "SMALL_RUN", 2_000)
    src = tree(tmp_path / "in", {"a.png": photo(1), "b/c.png": photo(2), "d.png": photo(3)})
    dst = tmp_path / "out"
    spec = JobSpec(str(src), str(dst), FIXED, RenderOptions(mode="blur"))
    first = run(FakeSession(), spec)
    assert first.processed == 3 and first.summary.corrected == 0
    assert (dst / "_state" / "_digests").is_dir()  # unchanged folders from here on
    before = {n: (dst / "images" / n).read_bytes() for n in ("a.png", "b/c.png", "d.png")}
    rows_before = manifest(spec.output)
    assert rows_before["a.png"]["review"] == ["small"]  # FACE is 20x16 px

    fix = corrections_file(
        tmp_path / "fix.json",
        {
            "a.png": {"add": [ADDED], "by": "ana", "at": "2026-12-06T18:00:00Z"},
            "b/c.png": {"remove": [{"x": 11, "y": 8, "w": 20, "h": 16}]},  # the false find
        },
    )
    corrected = replace(spec, corrections=fix)
    spark = FakeSession()
    second = run(spark, corrected)
    assert (second.processed, second.skipped) == (2, 1)
    if planner == "spark":
        assert [b.released for b in spark.sparkContext.broadcasts] == [True]
    rows = manifest(spec.output)
    person = {"x": 44, "y": 30, "w": 16, "h": 16, "by": "person"}
    assert rows["a.png"]["faces"] == [*rows_before["a.png"]["faces"], person]
    assert rows["a.png"]["review"] == ["small", "corrected"]
    # the added box changed exactly its grown mask: elsewhere, the run without it
    mask = mask_for(Face(44, 30, 16, 16), (80, 60), "ellipse", spec.render.mask_scale)
    inside = np.zeros((60, 80), bool)
    inside[mask.y0 : mask.y1, mask.x0 : mask.x1] = mask.inside
    (tmp_path / "a-before.png").write_bytes(before["a.png"])
    now, then = pixels(dst / "images/a.png"), pixels(tmp_path / "a-before.png")
    assert (now[~inside] == then[~inside]).all() and (now[inside] != then[inside]).any()
    # the removed false find is the original's pixels again, and not listed
    assert rows["c.png"]["faces"] == [] and rows["c.png"]["review"] == ["corrected"]
    assert (pixels(dst / "images/b/c.png") == pixels(src / "b/c.png")).all()
    assert rows["d.png"] == rows_before["d.png"]
    assert (dst / "images/d.png").read_bytes() == before["d.png"]
    s = second.summary
    assert s.corrected == 2
    assert s.privacy == {
        "faces_hidden": 3,  # a.png: the find and the person's box; d.png: the find
        "faces_weak": 0,
        "faces_by_person": 1,
        "photos_to_review": 3,
        "review_corrected": 2,
        "review_small": 2,  # a.png's and d.png's finds
    }
    assert json.loads((dst / "summary.json").read_text())["privacy"] == s.privacy

    again = run(FakeSession(), corrected)  # the same corrections again: nothing to do
    assert (again.processed, again.skipped) == (0, 3)
    later = run(FakeSession(), spec)  # no --corrections: the kept ones still hold
    assert (later.processed, later.skipped, later.summary.corrected) == (0, 3, 2)
    forced = run(FakeSession(), spec, force=True)  # redone from scratch: still corrected
    assert forced.processed == 3
    rows = manifest(spec.output)
    assert rows["a.png"]["faces"][-1] == person and rows["c.png"]["faces"] == []
    history = sorted((dst / "_corrections/history").iterdir())
    assert len(history) == 1 and history[0].read_text() == Path(fix).read_text()

    more = corrections_file(tmp_path / "more.json", {"d.png": {"reviewed": True}})
    third = run(FakeSession(), replace(spec, corrections=more))
    assert (third.processed, third.skipped, third.summary.corrected) == (1, 2, 3)
    rows = manifest(spec.output)
    assert rows["d.png"]["review"] == [] and rows["a.png"]["faces"][-1] == person
    current = json.loads((dst / "_corrections/current.json").read_text())
    assert sorted(current["photos"]) == ["a.png", "b/c.png", "d.png"]
    assert current["photos"]["a.png"]["add"] == [ADDED]
    assert len(list((dst / "_corrections/history").iterdir())) == 2


def test_a_blur_run_marks_finds_under_the_detectors_own_threshold_weak(tmp_path: Path) -> None:
    from dataproc_faces.pipeline import Task, process_partition

    detect = DetectOptions(detector="retinaface", score_threshold=0.1)  # its own is 0.4
    faces = [Face(5, 5, 30, 30, 0.9), Face(40, 5, 30, 30, 0.2), Face(5, 40, 10, 10, 0.5)]
    pipeline._DETECTORS[detect] = FixedDetector(faces)
    try:
        src = tree(tmp_path / "in", {"a.png": photo(1)})
        blur = JobSpec(str(src), str(tmp_path / "out"), detect, RenderOptions(mode="blur"))
        (row,) = process_partition(blur, [Task(str(src / "a.png"), "a.png")])
        assert [f.get("weak", False) for f in row["faces"]] == [False, True, False]
        assert row["review"] == ["weak", "small"]
        outlined = replace_render(blur, RenderOptions())
        (row,) = process_partition(outlined, [Task(str(src / "a.png"), "a.png")])
        assert [f.get("weak", False) for f in row["faces"]] == [False, False, False]
        assert row["review"] == []  # outline runs compute no privacy report
    finally:
        del pipeline._DETECTORS[detect]


def replace_render(spec: JobSpec, render: RenderOptions) -> JobSpec:
    from dataclasses import replace

    return replace(spec, render=render)


# -- a recorded digest never vouches for work another run wrote over it


def options_of(dst: Path) -> set[str]:
    return {st["options"] for st in states(dst)}


@pytest.mark.parametrize("planner", ["driver", "spark", "join", "force"])
def test_work_of_a_run_killed_before_its_digests_is_undone_by_the_next_run(
    tmp_path: Path, monkeypatch, planner: str
) -> None:
    """Outlined in red and recorded; then a green run writes every photo again and is killed
    before recording its digests; a red run again must redo every photo: the red digests still
    match the listing, but the green run forgot them before its first task. Planned by the
    driver, by the executors folder by folder, by the join (folders too large for a task), and
    a green `--force` run (states unread: every folder it writes into is forgotten)."""
    monkeypatch.setattr(pipeline, "SMALL_RUN", 100 if planner == "driver" else 0)
    if planner == "join":
        monkeypatch.setattr(pipeline, "FOLDER_PLAN_MAX", 2)
    tree(tmp_path / "in", SPREAD)
    red, dst = spec_for(tmp_path), tmp_path / "out"
    green = JobSpec(red.input, red.output, FIXED, RenderOptions(color=(0, 255, 0)))
    assert run(FakeSession(parallelism=2), red).processed == 14
    first = options_of(dst)
    monkeypatch.setenv(ledger.STOP_AT_ENV, "digests")
    with pytest.raises(SystemExit):
        run(FakeSession(parallelism=2), green, force=planner == "force")
    monkeypatch.delenv(ledger.STOP_AT_ENV)
    assert options_of(dst) != first  # the green run's work is recorded, its digests are not
    again = run(FakeSession(parallelism=2), red)
    assert (again.processed, again.skipped) == (14, 0)
    assert options_of(dst) == first
    assert run(FakeSession(parallelism=2), red).processed == 0  # and recorded again


@pytest.mark.parametrize("planner", ["driver", "spark"])
def test_a_list_run_with_other_options_leaves_its_folders_to_be_planned_again(
    tmp_path: Path, monkeypatch, planner: str
) -> None:
    """A run over an input list records no digest: it forgets those of the folders it wrote
    into, so the next full run plans them from their states and redoes what the list changed.
    (spark: the executors read the list, find its folders and join their states.)"""
    monkeypatch.setattr(pipeline, "SMALL_RUN", 100 if planner == "driver" else 0)
    src = tree(tmp_path / "in", SPREAD)
    red, dst = spec_for(tmp_path), tmp_path / "out"
    assert run(FakeSession(), red).processed == 14
    listed = [str(src / "A/1.png"), str(src / "t0.png")]
    green = JobSpec(
        red.input, red.output, FIXED, RenderOptions(color=(0, 255, 0)),
        input_list=list_file(tmp_path, listed),
    )  # fmt: skip
    assert run(FakeSession(), green).processed == 2
    again = run(FakeSession(), red)
    assert (again.processed, again.skipped) == (2, 12)
    assert sorted(names_of_last_run(str(dst))) == ["1.png", "t0.png"]
