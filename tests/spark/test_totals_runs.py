"""The summary's totals on real local Spark, through the totals cache (results/totals.py): after
each kind of run they equal a full recount of the manifest, and a run counts only the parts it
wrote or rewrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dataproc_faces.results.manifest import read_manifest
from dataproc_faces.results.totals import TOTALS_READS_ENV, count_rows
from dataproc_faces.storage.local import LocalStore
from tests.spark.test_digests import PLANNERS, put, stopped
from tests.spark.test_resume import run_job

pytestmark = pytest.mark.spark

# Listed by Spark (more than 4 inputs), so totals come from the cache; a run's changed parts
# are counted on the driver up to 4 rows and by Spark's tasks past that (the first run: both).
PLANNER = "narrow"


def recount(dst: Path) -> dict:
    """The summary's totals from every manifest row, as the pipeline counted them before."""
    n, ok, faces, runtimes, privacy = next(count_rows(read_manifest(LocalStore(), str(dst))))
    return {
        "inputs": n,
        "ok": ok,
        "errors": n - ok,
        "faces": faces,
        "runtime": sorted(runtimes),
        "privacy": privacy,
    }


def shown(summary: dict) -> dict:
    return {k: summary[k] for k in ("inputs", "ok", "errors", "faces", "runtime", "privacy")}


def counted(log: Path) -> list[str]:
    """The input folders (by part name) whose manifest parts a run counted, one per part."""
    names = log.read_text().splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return sorted(Path(n).name[len("part-") :].split("~")[0] for n in names)


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("totals")
    src, dst, log = base / "in", base / "out", base / "totals.log"
    for i, rel in enumerate(("A/a0.png", "A/a1.png", "B/b0.png", "B/b1.png", "C/c0.png")):
        put(src, rel, i)
    found: dict = {}

    def step(name: str, planner: str = PLANNER) -> None:
        summary = run_job(
            src, dst, "--partitions", "1", **PLANNERS[planner], **{TOTALS_READS_ENV: str(log)}
        )  # one task: one part per input folder
        found[name] = (shown(summary), recount(dst), counted(log))
        found[name + "_parts"] = len(list((dst / "manifest").glob("part-*.json")))

    step("first")
    step("nothing")
    put(src, "D/d0.png", 5)  # an added folder
    put(src, "D/d1.png", 6)
    step("added")
    put(src, "B/b0.png", 7)  # a changed photo: compaction rewrites B's first part, same id
    step("changed")
    put(src, "C/c1.png", 8)
    stopped(src, dst, PLANNER, "compaction")  # the tasks' parts written, not compacted
    put(src, "A/a0.png", 9)
    stopped(src, dst, PLANNER, "digests")  # compacted, the cache not written
    found["stopped_reads"] = counted(log)
    step("resumed")
    for shard in (dst / "_state" / "_totals").iterdir():
        shard.write_text('{"half-writ')
    step("corrupt", "spark")  # every part counted again, in Spark's tasks (no rows here)
    step("settled")
    return found


def test_a_first_run_counts_every_part(story: dict) -> None:
    summary, full, reads = story["first"]
    assert summary == full and summary["inputs"] == 5
    assert reads == ["A", "B", "C"] and story["first_parts"] == 3


def test_an_unchanged_collection_counts_no_part(story: dict) -> None:
    summary, full, reads = story["nothing"]
    assert summary == full and summary["inputs"] == 5
    assert reads == []


def test_an_added_folder_counts_only_its_part(story: dict) -> None:
    summary, full, reads = story["added"]
    assert summary == full and summary["inputs"] == 7
    assert reads == ["D"]


def test_a_changed_photo_counts_its_new_part_and_the_rewritten_one(story: dict) -> None:
    """The older part of B lost b0's row under the same id: its cached count is not trusted."""
    summary, full, reads = story["changed"]
    assert summary == full and summary["inputs"] == 7
    assert reads == ["B", "B"] and story["changed_parts"] == 5


def test_runs_stopped_before_compaction_and_digests_leave_totals_the_next_run_gets_right(
    story: dict,
) -> None:
    summary, full, reads = story["resumed"]
    assert story["stopped_reads"] == []  # stopped before the totals
    assert summary == full and summary["inputs"] == 8
    assert reads == ["A", "A", "C"]  # A's older part compaction rewrote, too; not B's or D's


def test_corrupt_shards_are_recounted_and_then_trusted_again(story: dict) -> None:
    summary, full, reads = story["corrupt"]
    assert summary == full and summary["inputs"] == 8
    assert sorted(set(reads)) == ["A", "B", "C", "D"] and len(reads) == story["corrupt_parts"]
    summary, full, reads = story["settled"]
    assert summary == full and reads == []
    assert json.dumps(summary["privacy"], sort_keys=True) == json.dumps(
        full["privacy"], sort_keys=True
    )
