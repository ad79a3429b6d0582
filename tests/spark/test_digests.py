"""Folder digests on real local Spark: a run reads the states of changed input folders only,
processes only what changed there, and never skips a folder whose work was not recorded."""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from dataproc_faces.pipeline import LISTING_READS_ENV, SMALL_RUN_ENV
from dataproc_faces.results.layout import Results
from dataproc_faces.results.ledger import STATE_READS_ENV, STOP_AT_ENV, folder_name, migrate
from tests.spark.test_resume import command, env, image, paths, run_job

pytestmark = pytest.mark.spark

# 0: every run planned by Spark; 4: listed by Spark (5 and more inputs), and a few changed
# folders (at most 4 inputs and state lines) planned on the driver
PLANNERS = {"driver": {}, "spark": {SMALL_RUN_ENV: "0"}, "narrow": {SMALL_RUN_ENV: "4"}}


def put(src: Path, relative: str, seed: int) -> None:
    (src / relative).parent.mkdir(parents=True, exist_ok=True)
    (src / relative).write_bytes(image(seed))


def reads(log: Path, dst: Path) -> Counter[str]:
    """The input folders (by `_state` sub-folder; "flat" for legacy parts) whose state files a
    run read, from the ledger's record of every state file opened."""
    found: Counter[str] = Counter()
    if log.exists():
        for line in log.read_text().splitlines():
            rel = Path(line).relative_to(dst / "_state")
            found[rel.parts[0] if len(rel.parts) > 1 else "flat"] += 1
        log.unlink()
    return found


def listings(log: Path) -> list[str]:
    """The folders' listing files (`_work/<run>/folder-<name>.txt`) a run's executors read
    back, by folder name, from the pipeline's record of each one opened."""
    names = log.read_text().splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return sorted(Path(n).name[len("folder-") : -len(".txt")] for n in names)


def counted(src: Path, dst: Path, log: Path, planner: str, **extra: str) -> dict:
    listed = {LISTING_READS_ENV: str(log.with_suffix(".listings"))}
    return run_job(src, dst, **PLANNERS[planner], **{STATE_READS_ENV: str(log)}, **listed, **extra)


def stopped(src: Path, dst: Path, planner: str, step: str) -> None:
    """A run that stops at `step`, as a run killed there would."""
    proc = subprocess.run(
        command(src, dst),
        capture_output=True,
        text=True,
        timeout=300,
        env=env(**PLANNERS[planner], **{STOP_AT_ENV: step}),
    )
    assert proc.returncode != 0 and f"stopped before {step}" in proc.stderr, proc.stderr[-2000:]


A, B, C = (folder_name(k) for k in ("A", "B", "C"))


@pytest.fixture(scope="module", params=sorted(PLANNERS))
def story(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One collection in folders A, B and C through a series of runs, each run's summary and
    the folders whose states it read."""
    planner = request.param
    base = tmp_path_factory.mktemp(f"digests-{planner}")
    src, dst, log = base / "in", base / "out", base / "reads.log"
    for i, rel in enumerate(("A/a0.png", "A/a1.png", "B/b0.png", "B/b1.png", "C/c0.png")):
        put(src, rel, i)
    found: dict = {"planner": planner}

    def step(name: str) -> None:
        found[name] = counted(src, dst, log, planner)
        found[name + "_reads"] = reads(log, dst)
        found[name + "_listings"] = listings(log.with_suffix(".listings"))
        found[name + "_paths"] = paths(dst)

    step("first")
    step("nothing")
    put(src, "C/c1.png", 10)  # a new photo in C
    step("added")
    put(src, "B/b0.png", 11)  # a changed photo in B
    step("changed")
    (src / "A/a1.png").unlink()  # a deleted photo in A
    step("deleted")
    step("after_delete")
    # planned, then stopped before any task: nothing of C's new photo is recorded
    put(src, "C/c2.png", 12)
    stopped(src, dst, planner, "tasks")
    step("after_stop_at_tasks")
    # stopped after the tasks and after compaction: the work is recorded, the digest is not
    put(src, "C/c3.png", 13)
    stopped(src, dst, planner, "digests")
    found["stopped_paths"] = paths(dst)
    step("after_stop_at_digests")
    step("settled")
    return found


def test_an_unchanged_collection_reads_no_state(story: dict) -> None:
    assert (story["first"]["processed"], story["first"]["inputs"]) == (5, 5)
    assert set(story["first_reads"]) == {A, B, C}  # compaction reads what the tasks wrote
    assert (story["nothing"]["processed"], story["nothing"]["skipped"]) == (0, 5)
    assert story["nothing_reads"] == Counter()  # every folder's digest matched


def test_a_new_photo_reads_only_its_folders_states(story: dict) -> None:
    assert (story["added"]["processed"], story["added"]["skipped"]) == (1, 5)
    assert set(story["added_reads"]) == {C}
    assert story["added_paths"]["c1.png"] == 1 and story["added"]["inputs"] == 6


def test_only_changed_folders_listings_are_read_back(story: dict) -> None:
    """Past the bound each folder's digest is summed where it is walked; the listing of an
    unchanged folder is never written or read again (the driver lists a small run itself)."""
    spark = story["planner"] != "driver"
    assert story["first_listings"] == ([A, B, C] if spark else [])
    assert story["nothing_listings"] == []
    assert story["added_listings"] == ([C] if spark else [])
    assert story["changed_listings"] == ([B] if spark else [])
    assert story["settled_listings"] == []


def test_a_changed_photo_is_redone_reading_only_its_folder(story: dict) -> None:
    assert (story["changed"]["processed"], story["changed"]["skipped"]) == (1, 5)
    assert set(story["changed_reads"]) == {B}
    assert story["changed_paths"]["b0.png"] == 1  # compacted: the old row is gone


def test_a_deleted_photo_changes_its_folders_digest(story: dict) -> None:
    assert (story["deleted"]["processed"], story["deleted"]["skipped"]) == (0, 5)
    assert set(story["deleted_reads"]) == {A}  # re-read: nothing pending there
    assert story["deleted_paths"]["a1.png"] == 1  # the rows of deleted inputs stay
    assert story["after_delete_reads"] == Counter()  # A's new digest is recorded


def test_a_run_stopped_before_its_work_is_recorded_skips_nothing_next_time(story: dict) -> None:
    after = story["after_stop_at_tasks"]
    assert (after["processed"], after["skipped"]) == (1, 5)  # c2.png, not skipped
    assert set(story["after_stop_at_tasks_reads"]) == {C}
    assert story["after_stop_at_tasks_paths"]["c2.png"] == 1


def test_a_run_stopped_before_its_digests_rereads_the_folder(story: dict) -> None:
    assert story["stopped_paths"]["c3.png"] == 1  # the work was recorded
    after = story["after_stop_at_digests"]
    assert (after["processed"], after["skipped"]) == (0, 7)
    assert set(story["after_stop_at_digests_reads"]) == {C}  # re-read, found done
    assert story["settled_reads"] == Counter() and story["settled"]["processed"] == 0
    assert set(story["settled_paths"].values()) == {1} and story["settled"]["inputs"] == 8


def to_legacy(dst: Path) -> None:
    """Rewrite a results folder into the flat layout an earlier version wrote: parts and
    states directly in `manifest/` and `_state/`, no digests."""
    for n, part in enumerate(sorted((dst / "manifest").glob("part-*~*.json"))):
        name, _, own = part.name[len("part-") : -len(".json")].partition("~")
        legacy = f"{own}{n:03d}"
        part.rename(dst / "manifest" / f"part-{legacy}.json")
        (dst / "_state" / name / f"part-{own}.json").rename(dst / "_state" / f"part-{legacy}.json")
    for folder in (dst / "_state").iterdir():
        if folder.is_dir():
            shutil.rmtree(folder)


def test_legacy_flat_state_resumes_and_moves_to_folders(tmp_path: Path) -> None:
    src, dst, log = tmp_path / "in", tmp_path / "out", tmp_path / "reads.log"
    for i, rel in enumerate(("A/a0.png", "B/b0.png", "C/c0.png", "top.png")):
        put(src, rel, i)
    run_job(src, dst)
    to_legacy(dst)
    assert not list((dst / "_state").glob("*/")) and len(list((dst / "_state").iterdir())) == 4
    put(src, "C/c1.png", 9)
    resumed = counted(src, dst, log, "driver")
    assert (resumed["processed"], resumed["skipped"], resumed["inputs"]) == (1, 4, 5)
    assert reads(log, dst)["flat"] == 4  # the legacy states, read as before
    assert not list((dst / "_state").glob("part-*.json"))  # split into per-folder parts
    assert not [p for p in (dst / "manifest").glob("part-*.json") if "~" not in p.name]
    assert set(paths(dst).values()) == {1} and len(paths(dst)) == 5
    put(src, "B/b1.png", 8)
    later = counted(src, dst, log, "spark")
    assert (later["processed"], later["skipped"]) == (1, 5)
    assert set(reads(log, dst)) == {B}  # legacy no more: one folder's states


def test_a_legacy_part_moved_midway_keeps_one_row_per_photo(tmp_path: Path) -> None:
    """A migration killed after writing a legacy part's per-folder copies and before deleting
    it: the copies tie with the original and win; the next run leaves one row per photo."""
    src, dst = tmp_path / "in", tmp_path / "out"
    for i, rel in enumerate(("A/a0.png", "A/a1.png", "B/b0.png")):
        put(src, rel, i)
    run_job(src, dst, "--partitions", "1")
    to_legacy(dst)
    legacy = {p: p.read_bytes() for p in [*dst.glob("manifest/*.json"), *dst.glob("_state/*.json")]}
    results = Results(str(dst), protect=str(src))
    for part in dst.glob("manifest/part-*.json"):
        migrate(results, part.name[len("part-") : -len(".json")])
    for path, data in legacy.items():  # killed before the deletes: the originals are back
        path.write_bytes(data)
    assert Counter(paths(dst).values()) == Counter({2: 3})  # every photo twice
    again = run_job(src, dst)
    assert (again["processed"], again["inputs"], again["ok"]) == (0, 3, 3)
    assert set(paths(dst).values()) == {1}
    assert not list((dst / "_state").glob("part-*.json"))


def test_a_killed_run_with_other_options_does_not_leave_the_first_digests_standing(
    tmp_path: Path,
) -> None:
    """Real Spark, planned by the executors (their accumulator brings the folders to forget to
    the driver): a red outline run, a green one stopped before its digests, red again redoes
    every photo (it skipped them all while the red digests stood)."""
    src, dst = tmp_path / "in", tmp_path / "out"
    for i, rel in enumerate(("A/a0.png", "A/a1.png", "B/b0.png", "top.png")):
        put(src, rel, i)
    spark = PLANNERS["spark"]
    assert run_job(src, dst, "--color", "#ff0000", **spark)["processed"] == 4
    green = subprocess.run(
        command(src, dst, "--color", "#00ff00"),
        capture_output=True,
        text=True,
        timeout=300,
        env=env(**spark, **{STOP_AT_ENV: "digests"}),
    )
    assert green.returncode != 0 and "stopped before digests" in green.stderr, green.stderr[-2000:]
    again = run_job(src, dst, "--color", "#ff0000", **spark)
    assert (again["processed"], again["skipped"]) == (4, 0)
    assert run_job(src, dst, "--color", "#ff0000", **spark)["processed"] == 0
