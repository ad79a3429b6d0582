"""tests/unit/fakespark.py agrees with real local Spark on every call pipeline.py, ledger.py and
gallery.py make, so the fast tests that run the driver on it test what Spark would do."""

from __future__ import annotations

import json
from bisect import bisect_right
from pathlib import Path

import pytest

from dataproc_faces.detectors.base import DetectOptions
from dataproc_faces.pipeline import JobSpec, _counted, run
from dataproc_faces.results.folders import folder_of
from dataproc_faces.results.manifest import read_manifest
from dataproc_faces.storage.local import LocalStore
from tests.images import astronaut, encode
from tests.unit.fakespark import FakeContext, FakeSession

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .config("spark.ui.enabled", "false")
        .config("spark.default.parallelism", "2")
        .getOrCreate()
    )
    yield session
    session.stop()


def both(spark) -> list:
    return [spark.sparkContext, FakeContext(parallelism=2)]


def glom(rdd) -> list[list]:
    return rdd.glom().collect() if hasattr(rdd, "glom") else rdd.partitions()


def test_slicing_union_and_empty_rdds(spark) -> None:
    real, fake = both(spark)
    for data, slices in (([], 1), (list(range(10)), 3), (list(range(3)), 5), (["a"], 1)):
        assert glom(real.parallelize(data, slices)) == glom(fake.parallelize(data, slices))
    for sc in (real, fake):
        union = sc.union([sc.parallelize([1, 2], 2), sc.parallelize([3], 1)])
        assert (union.getNumPartitions(), union.collect()) == (3, [1, 2, 3])
        assert (sc.emptyRDD().collect(), sc.emptyRDD().isEmpty()) == ([], True)
        assert sc.parallelize([0], 1).isEmpty() is False


def test_sort_index_and_partition_by_bounds(spark) -> None:
    real, fake = both(spark)
    pairs = [(f"k{i}", i) for i in (5, 3, 9, 1, 7, 0, 8)]
    bounds = [0, 2, 3, 7]
    results = []
    for sc in (real, fake):
        indexed = (
            sc.parallelize(pairs, 3)
            .sortByKey(numPartitions=2)
            .zipWithIndex()
            .map(lambda kv: (kv[1], kv[0]))
        )
        chunks = indexed.partitionBy(3, lambda i: bisect_right(bounds, i) - 1)
        results.append(([sorted(p) for p in glom(chunks)], indexed.count()))
    assert results[0] == results[1]
    assert [len(p) for p in results[0][0]] == [2, 1, 4]


def test_sort_by_indexed_partitions_union_and_default_persist(spark) -> None:
    """The calls write_gallery makes."""
    real, fake = both(spark)
    results = []
    for sc in (real, fake):
        rows = sc.parallelize([{"n": n} for n in (4, 1, 3, 0, 2)], 2).persist()
        by_n = rows.sortBy(lambda r: r["n"])
        down = rows.sortBy(lambda r: r["n"], ascending=False, numPartitions=3)
        tagged = sc.parallelize(["a", "b", "c"], 2).mapPartitionsWithIndex(
            lambda i, p: ((i, x) for x in p)
        )
        both_ways = by_n.union(down)
        results.append(
            (
                by_n.getNumPartitions(),
                by_n.collect(),
                down.getNumPartitions(),
                down.collect(),
                glom(tagged),
                both_ways.getNumPartitions(),
                both_ways.collect(),
                rows.getStorageLevel() if hasattr(rows, "getStorageLevel") else rows.storage_level,
            )
        )
    assert results[0] == results[1]
    assert results[0][1] == [{"n": n} for n in range(5)]


def test_joins_groups_and_distinct(spark) -> None:
    real, fake = both(spark)
    results = []
    for sc in (real, fake):
        left = sc.parallelize([("a", 1), ("b", 2), ("c", 3), ("a", 4)], 2)
        right = sc.parallelize([("a", "x"), ("c", "y"), ("c", "z"), ("d", "w")], 2)
        joined = left.leftOuterJoin(right, 3)
        results.append(
            (
                joined.getNumPartitions(),
                sorted(joined.collect(), key=repr),
                sorted(joined.mapValues(lambda v: v[0]).collect()),
                sorted((k, sorted(v)) for k, v in left.groupByKey().collect()),
                sorted(left.reduceByKey(lambda a, b: a + b).collect()),
                sorted(sc.parallelize([3, 1, 3, 2, 1], 2).distinct(4).collect()),
                sc.parallelize([3, 1, 3, 2, 1], 2).distinct(4).getNumPartitions(),
                sorted(sc.parallelize(["a b", "c"], 1).flatMap(str.split).collect()),
                sc.parallelize([1, 2, 3, 4], 2).filter(lambda x: x % 2).collect(),
                sc.parallelize([1, 2, 3, 4], 2).sum(),
                sc.parallelize([1, 2, 3, 4], 2).take(3),
            )
        )
    assert results[0] == results[1]


def test_reduce_folds_each_partition_then_the_partial_results(spark) -> None:
    real, fake = both(spark)
    for data, slices in (([1, 2, 3, 4, 5], 2), ([1, 2, 3], 5), ([7], 3)):
        got = [
            sc.parallelize([str(x) for x in data], slices).reduce(lambda a, b: f"({a},{b})")
            for sc in (real, fake)
        ]
        assert got[0] == got[1]
    for sc in (real, fake):
        with pytest.raises(ValueError, match="empty"):
            sc.parallelize([], 2).reduce(lambda a, b: a)


def test_count_by_value_counts_each_value(spark) -> None:
    data = ["", "a", "", "b", "", "a"]
    got = [dict(sc.parallelize(data, 3).countByValue()) for sc in both(spark)]
    assert got[0] == got[1] == {"": 3, "a": 2, "b": 1}


def test_an_accumulator_counts_rows_as_tasks_yield_them(spark) -> None:
    for sc in both(spark):
        done = sc.accumulator(0)
        rows = sc.parallelize(range(5), 2).mapPartitions(lambda p, d=done: _counted(iter(p), d))
        assert (rows.collect(), done.value) == ([0, 1, 2, 3, 4], 5)


@pytest.mark.parametrize("top", [True, False])
def test_the_folder_plan_places_and_numbers_the_same_on_both(
    spark, tmp_path: Path, monkeypatch, top: bool
) -> None:
    """`_pending_by_folder`: slices of folder groups, or top-level entries placed by key with
    `partitionBy`, then numbered partition by partition (`mapPartitionsWithIndex`)."""
    from dataproc_faces import pipeline
    from dataproc_faces.results.ledger import options_key

    monkeypatch.setattr(pipeline, "PLAN_ENTRIES", 2)
    src = tmp_path / "in"
    names = [f"{d}/{n}.png" for d in ("m", "b", "x") for n in ("z", "a")]
    names += [f"t{n}.png" for n in range(5)] if top else []
    for name in names:
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(b"x")
    found = []
    for sc, name in ((spark.sparkContext, "real"), (FakeContext(parallelism=2), "fake")):
        spec = JobSpec(str(src), str(tmp_path / name), DetectOptions(detector="haar"))
        plan = pipeline._plan_with_spark(sc, spec, "r1", options_key({}, {}), False)
        found.append([sorted(p) for p in glom(plan.work)])
        for rdd in plan.held:
            rdd.unpersist()
    assert found[0] == found[1]
    numbered = sorted(e for part in found[0] for e in part)
    assert [i for i, _ in numbered] == list(range(len(names)))
    assert [e[1][0] for _, e in numbered] == sorted(names, key=lambda r: (folder_of(r), r))


def test_a_whole_run_gives_the_same_results_on_both(spark, tmp_path: Path) -> None:
    import cv2

    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    small = cv2.resize(astronaut(), (256, 256))
    for name in ("a.png", "sub/b.png", "sub/c.jpg"):
        (src / name).write_bytes(encode(small, Path(name).suffix))
    (src / "broken.jpg").write_bytes(b"broken")
    found = []
    for session, name in ((spark, "real"), (FakeSession(parallelism=2), "fake")):
        out = tmp_path / name
        spec = JobSpec(str(src), str(out), DetectOptions(detector="haar"), partitions=3)
        result = run(session, spec)
        again = run(session, spec)
        rows = sorted(read_manifest(LocalStore(str(out)), str(out)), key=lambda r: r["path"])
        for row in rows:
            row.pop("millis")
            for key in ("output", "thumbnail"):
                row[key] = row[key] and row[key].replace(str(out), "OUT")
        summary = json.loads((out / "summary.json").read_text())
        found.append(
            (
                result.tasks,
                (result.processed, result.skipped, result.listed, len(result.pids)),
                (again.processed, again.skipped, again.tasks),
                rows,
                {k: summary[k] for k in ("inputs", "ok", "errors", "faces", "runtime")},
            )
        )
    assert found[0] == found[1]
    assert found[0][1] == (4, 0, 4, 4)  # 3 tasks; one of them spans two folders: 4 parts


def test_corrections_reach_the_plan_and_the_tasks_the_same_on_both(
    spark, tmp_path: Path, monkeypatch
) -> None:
    """The broadcast corrections, read by the planning join's filter and by the tasks."""
    from dataclasses import replace

    from dataproc_faces.imaging.render import RenderOptions
    from dataproc_faces.pipeline import SMALL_RUN_ENV

    monkeypatch.setenv(SMALL_RUN_ENV, "0")  # plan with Spark: the join reads the broadcast
    src = tmp_path / "in"
    src.mkdir()
    small = astronaut()[:96, :128]
    for name in ("a.png", "b.png", "c.png"):
        (src / name).write_bytes(encode(small, ".png"))
    fix = tmp_path / "fix.json"
    box = {"x": 5, "y": 6, "w": 30, "h": 30}
    fix.write_text(json.dumps({"version": 1, "photos": {"b.png": {"add": [box]}}}))
    found = []
    for session, name in ((spark, "real"), (FakeSession(parallelism=2), "fake")):
        out = tmp_path / name
        spec = JobSpec(
            str(src), str(out), DetectOptions(detector="haar"), RenderOptions(mode="blur")
        )
        run(session, spec)
        fixed = run(session, replace(spec, corrections=str(fix)))
        again = run(session, spec)
        rows = {Path(r["path"]).name: r for r in read_manifest(LocalStore(str(out)), str(out))}
        found.append(
            (
                (fixed.processed, fixed.skipped, again.processed, again.skipped),
                rows["b.png"]["faces"],
                rows["b.png"]["review"],
                fixed.summary.privacy,
            )
        )
    assert found[0] == found[1]
    assert found[0][0] == (1, 2, 0, 3)
    assert found[0][1] == [{**box, "by": "person"}] and found[0][2] == ["corrected"]
