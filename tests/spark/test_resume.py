"""Resumable and incremental runs on real local Spark: retries, kills, new, changed and deleted
inputs, changed options and --force; every input in the manifest exactly once after each run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from dataproc_faces.pipeline import CRASH_ONCE_ENV
from dataproc_faces.results.folders import folder_of
from tests.images import astronaut, encode

pytestmark = pytest.mark.spark

SMALL = cv2.resize(astronaut(), (160, 160))


def image(seed: int) -> bytes:
    """A small distinct PNG per seed (a shifted tint), so changed content has new bytes."""
    tinted = np.clip(SMALL.astype(np.int16) + (seed % 50), 0, 255).astype(np.uint8)
    return encode(tinted, ".png")


def command(src: Path, dst: Path, *extra: str, master: str = "local[2]") -> list[str]:
    return [
        *(sys.executable, "-m", "dataproc_faces", "run", "--input", str(src)),
        *("--output", str(dst), "--master", master, "--detector", "haar", *extra),
    ]


def env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYSPARK_PYTHON": sys.executable, **extra}


def run_job(src: Path, dst: Path, *extra: str, master: str = "local[2]", **environ: str) -> dict:
    proc = subprocess.run(
        command(src, dst, *extra, master=master),
        capture_output=True,
        text=True,
        timeout=300,
        env=env(**environ),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((dst / "summary.json").read_text())


def paths(dst: Path) -> Counter[str]:
    """How often each input appears across the manifest's part files."""
    return Counter(
        Path(json.loads(line)["path"]).name
        for part in (dst / "manifest").glob("*.json")
        for line in part.read_text().splitlines()
    )


def rows(dst: Path) -> dict[str, dict]:
    found = {}
    for part in (dst / "manifest").glob("*.json"):
        for line in part.read_text().splitlines():
            row = json.loads(line)
            found[Path(row["path"]).name] = row
    return found


def write(src: Path, names: range | list[int]) -> None:
    src.mkdir(parents=True, exist_ok=True)
    for i in names:
        (src / f"img-{i:03d}.png").write_bytes(image(i))


def test_a_retried_task_replaces_its_part_and_writes_no_duplicate_rows(tmp_path: Path) -> None:
    """The first task to finish kills its Python worker after writing its part: Spark retries
    the task (local[2,4] allows 4 attempts), which writes the same part name again."""
    src, dst, marker = tmp_path / "in", tmp_path / "out", tmp_path / "crashed"
    write(src, range(12))
    summary = run_job(
        src, dst, "--partitions", "4", master="local[2,4]", **{CRASH_ONCE_ENV: str(marker)}
    )
    assert marker.exists(), "the worker crash was injected"
    assert paths(dst) == Counter({f"img-{i:03d}.png": 1 for i in range(12)})
    # one part per task and input folder (top-level photos fall in `_top/xx` shards), no extras
    order = sorted((f"img-{i:03d}.png" for i in range(12)), key=lambda r: (folder_of(r), r))
    folders = sum(len({folder_of(r) for r in order[i : i + 3]}) for i in range(0, 12, 3))
    assert len(list((dst / "manifest").glob("*.json"))) == folders
    assert (summary["inputs"], summary["processed"]) == (12, 12)
    # the retry wrote the very same part name: nothing had to be cleaned up afterwards
    assert summary["compaction"] == {"orphans": 0, "superseded": 0}


def test_a_run_killed_midway_finishes_when_started_again(tmp_path: Path) -> None:
    """Kill the driver (and its JVM and workers) once the first task's part is written."""
    src, dst = tmp_path / "in", tmp_path / "out"
    write(src, range(60))
    proc = subprocess.Popen(
        command(src, dst, "--partitions", "30", master="local[1]"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env(),
        start_new_session=True,
    )
    try:
        state = dst / "_state"
        while not list(state.rglob("part-*.json")) if state.exists() else True:
            assert proc.poll() is None, "the run ended before any part was written"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not (dst / "summary.json").exists(), "killed before the end"
    done_before = sum(paths(dst).values())
    assert 0 < done_before < 60
    summary = run_job(src, dst)
    assert paths(dst) == Counter({f"img-{i:03d}.png": 1 for i in range(60)})
    assert summary["processed"] == 60 - done_before and summary["skipped"] == done_before
    assert (summary["inputs"], summary["ok"]) == (60, 60)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Four runs into one output: the first, after changes to the inputs, with another option,
    and with --force."""
    base = tmp_path_factory.mktemp("incremental")
    src, dst = base / "in", base / "out"
    write(src, range(6))
    found = {"first": run_job(src, dst)}
    found["first_rows"] = rows(dst)
    write(src, [6, 7])  # two new
    (src / "img-002.png").write_bytes(image(40))  # one changed
    (src / "img-005.png").unlink()  # one deleted
    found["changed"] = run_job(src, dst)
    found["changed_rows"] = rows(dst)
    found["changed_counts"] = paths(dst)
    found["blur"] = run_job(src, dst, "--mode", "blur")
    found["blur_counts"] = paths(dst)
    found["force"] = run_job(src, dst, "--mode", "blur", "--force")
    found["force_counts"] = paths(dst)
    found["again"] = run_job(src, dst, "--mode", "blur")
    return found


def test_only_new_and_changed_inputs_are_processed(history: dict) -> None:
    assert (history["first"]["processed"], history["first"]["skipped"]) == (6, 0)
    assert (history["changed"]["processed"], history["changed"]["skipped"]) == (3, 4)
    first, changed = history["first_rows"], history["changed_rows"]
    for name in ("img-000.png", "img-001.png", "img-003.png", "img-004.png"):
        assert changed[name] == first[name]  # untouched: the very same row, timing included


def test_the_summary_covers_the_whole_collection_and_deleted_inputs_keep_their_rows(
    history: dict,
) -> None:
    expected = Counter({f"img-{i:03d}.png": 1 for i in range(8)})  # 005 deleted, still there
    assert history["changed_counts"] == expected
    assert history["changed"]["inputs"] == 8 and history["changed"]["ok"] == 8
    assert history["changed_rows"]["img-005.png"] == history["first_rows"]["img-005.png"]


def test_a_changed_option_reprocesses_everything_listed(history: dict) -> None:
    assert (history["blur"]["processed"], history["blur"]["skipped"]) == (7, 0)
    assert history["blur_counts"] == history["changed_counts"]  # replaced, not added
    assert history["blur"]["render"]["mode"] == "blur"


def test_force_redoes_everything_and_then_nothing_is_left_to_do(history: dict) -> None:
    assert (history["force"]["processed"], history["force"]["skipped"]) == (7, 0)
    assert history["force_counts"] == history["changed_counts"]
    assert (history["again"]["processed"], history["again"]["skipped"]) == (0, 7)
    assert history["again"]["inputs"] == 8
