"""The whole job on real local Spark over a folder mixing good, broken and ignored inputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dataproc_faces.imaging.codec import decode
from dataproc_faces.pipeline import SMALL_RUN_ENV
from tests.conftest import ASTRONAUT_FACE, iou
from tests.images import (
    IGNORED_COUNTS,
    broken_inputs,
    good_inputs,
    ignored_inputs,
    write_tree,
)

pytestmark = pytest.mark.spark

GOOD, BROKEN = good_inputs(), broken_inputs()


def run_job(
    src: Path, dst: Path, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "dataproc_faces", "run", "--input", str(src), "--output", str(dst)]
    return subprocess.run(
        [*cmd, "--master", "local[2]", *extra],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYSPARK_PYTHON": sys.executable, **(env or {})},
    )


def manifest_rows(dst: Path) -> dict[str, dict]:
    rows = [
        json.loads(line)
        for part in sorted((dst / "manifest").glob("*.json"))
        for line in part.read_text().splitlines()
    ]
    by_path = {r["path"]: r for r in rows}  # each input by its path below the input folder
    assert not any(Path(p).is_absolute() for p in by_path)
    assert len(by_path) == len(rows), "one row per input"
    return by_path


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path, list[subprocess.CompletedProcess]]:
    base = tmp_path_factory.mktemp("job")
    src, dst = base / "in", base / "out"
    write_tree(src, {**GOOD, **BROKEN, **ignored_inputs()})
    # The first run is planned by Spark's executors, as a large one is; the second, small, by
    # the driver (pipeline.SMALL_RUN): the tests below check both.
    first = run_job(src, dst, env={SMALL_RUN_ENV: "0"})
    first_rows = manifest_rows(dst)
    first_parts = sorted(p.name for p in (dst / "manifest").iterdir())
    second = run_job(src, dst)
    return src, dst, [first, second], (first_rows, first_parts)


def test_the_job_exits_zero_whatever_the_per_image_errors(runs):
    _, _, procs, _ = runs
    for proc in procs:
        assert proc.returncode == 0, proc.stderr[-3000:]
    expected = (
        f"dataproc-faces: {len(GOOD) + len(BROKEN)} inputs: {len(GOOD)} ok, "
        f"{len(BROKEN)} errors, {len(GOOD)} faces in "
    )
    assert [line for line in procs[0].stdout.splitlines() if line.startswith(expected)], procs[
        0
    ].stdout


def test_one_row_per_input_ok_for_the_good_error_for_the_broken(runs):
    _, dst, _, _ = runs
    rows = manifest_rows(dst)
    assert set(rows) == set(GOOD) | set(BROKEN)  # ignored names never show up
    for name in GOOD:
        row = rows[name]
        assert row["status"] == "ok" and row["error"] is None, row
        assert (row["width"], row["height"]) == (512, 512)
        assert len(row["faces"]) == 1, row
        face = row["faces"][0]
        assert iou((face["x"], face["y"], face["w"], face["h"]), ASTRONAUT_FACE) > 0.7, row
    for name in BROKEN:
        assert rows[name]["status"] == "error" and rows[name]["error"], rows[name]
        assert rows[name]["output"] is None and rows[name]["faces"] == []


def test_every_name_left_out_is_counted_with_its_reason_in_summary_lines_and_gallery(runs):
    _, dst, procs, _ = runs
    summary = json.loads((dst / "summary.json").read_text())
    assert summary["ignored"] == IGNORED_COUNTS
    n = sum(IGNORED_COUNTS.values())
    lines = [x for x in procs[0].stdout.splitlines() if "not read" in x]
    assert lines == [
        f"dataproc-faces: {n} names under the input not read: 2 hidden (a name starting with "
        "'.'); 2 written by Spark or Hadoop (_SUCCESS, _temporary, _started_*, ...); "
        "1 a results folder of this job"
    ]
    assert f'data-ignored="{n}"' in (dst / "index.html").read_text()


def test_outlined_images_mirror_the_input_tree_in_the_input_format(runs):
    _, dst, _, _ = runs
    rows = manifest_rows(dst)
    expected = {name: name + (".png" if name.endswith(".gif") else "") for name in GOOD}
    for name in GOOD:
        assert rows[name]["output"] == f"images/{expected[name]}"  # below the results folder
        out = dst / rows[name]["output"]  # GIF, which OpenCV cannot write, as PNG
        header, image = decode(out.read_bytes())
        assert header.format == ("png" if name.endswith(".gif") else rows[name]["format"])
        assert image.shape == (512, 512, 3)
    produced = {p.relative_to(dst / "images").as_posix() for p in (dst / "images").rglob("*")}
    assert {p for p in produced if "." in Path(p).name} == set(expected.values())


def test_summary_file_matches_the_manifest(runs):
    _, dst, _, _ = runs
    summary = json.loads((dst / "summary.json").read_text())
    assert (summary["inputs"], summary["ok"], summary["errors"], summary["faces"]) == (
        len(GOOD) + len(BROKEN),
        len(GOOD),
        len(BROKEN),
        len(GOOD),
    )
    # the second run found every input done with the same options: it processed none
    assert (summary["processed"], summary["skipped"]) == (0, len(GOOD) + len(BROKEN))
    assert summary["wall_seconds"] > 0 and summary["images_per_second"] == 0


def test_the_first_run_reports_its_rate_and_what_it_processed(runs):
    _, _, procs, _ = runs
    rate = float(procs[0].stdout.split(" images/s)")[0].rsplit("(", 1)[1])
    assert rate > 0
    n = len(GOOD) + len(BROKEN)
    assert f"this run processed {n} inputs and skipped 0 " in procs[0].stdout
    assert f"this run processed 0 inputs and skipped {n} " in procs[1].stdout


def test_a_second_run_into_the_same_output_keeps_the_first_results(runs):
    _, dst, _, (first_rows, first_parts) = runs
    assert manifest_rows(dst) == first_rows  # not reprocessed: even the timings are the same
    assert sorted(p.name for p in (dst / "manifest").iterdir()) == first_parts
    assert all(p.startswith("part-") and p.endswith(".json") for p in first_parts)
    leftovers = [p for p in dst.rglob(".*")]
    assert leftovers == [], "no temporary files left behind"


def test_the_manifest_is_readable_by_spark(runs):
    from pyspark.sql import SparkSession

    _, dst, _, _ = runs
    spark = (
        SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false").getOrCreate()
    )
    try:
        df = spark.read.json(str(dst / "manifest"))
        counts = {r["status"]: r["count"] for r in df.groupBy("status").count().collect()}
    finally:
        spark.stop()
    assert counts == {"ok": len(GOOD), "error": len(BROKEN)}


@pytest.mark.parametrize("detector", ["centerface", "haar"])
def test_every_detector_runs_in_the_job(tmp_path, detector):
    """The weights and cascades load in Spark's Python workers; options in force are recorded."""
    src, dst = tmp_path / "in", tmp_path / "out"
    names = ["astronaut.png", "rotated.jpg"]
    write_tree(src, {name: GOOD[name] for name in names})
    proc = run_job(src, dst, "--detector", detector)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = manifest_rows(dst)
    for name in names:
        (face,) = rows[name]["faces"]
        assert iou((face["x"], face["y"], face["w"], face["h"]), ASTRONAUT_FACE) > 0.5, rows[name]
        assert ("score" in face) == (detector != "haar")
    summary = json.loads((dst / "summary.json").read_text())
    options = summary["detector"]
    assert options["detector"] == detector
    assert options["score_threshold"] == (0.3 if detector == "centerface" else 0.5)
    import cv2

    runtime = {
        "centerface": expected_openvino_runtime(),
        "haar": f"opencv {cv2.__version__} cascade",
    }
    assert summary["runtime"] == [runtime[detector]]
    assert {rows[name]["runtime"] for name in names} == {runtime[detector]}


def expected_openvino_runtime() -> str:
    """What RetinaFace should run here: bf16 where the CPU reports it can, else its int8 network."""
    import openvino as ov

    capable = "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    return f"openvino {ov.__version__.split('-')[0]} {'bf16' if capable else 'int8'}"


def test_the_default_detector_records_its_runtime_and_precision(runs):
    _, dst, _, _ = runs
    summary = json.loads((dst / "summary.json").read_text())
    assert summary["detector"]["detector"] == "retinaface"
    assert summary["runtime"] == [expected_openvino_runtime()]
    rows = manifest_rows(dst)
    assert {r["runtime"] for r in rows.values() if r["status"] == "ok"} == set(summary["runtime"])
    assert {r["runtime"] for r in rows.values() if r["status"] == "error"} == {None}
    index = (dst / "index.html").read_text()
    assert expected_openvino_runtime() in index


def test_anonymising_options_reach_the_images_the_manifest_the_summary_and_the_gallery(tmp_path):
    from dataproc_faces.detectors.base import PRIVACY_SCORES, Face
    from dataproc_faces.imaging.anonymise import mask_for

    src, dst = tmp_path / "in", tmp_path / "out"
    write_tree(src, {"astronaut.png": GOOD["astronaut.png"]})
    flags = ["--mode", "pixelate", "--mask", "box", "--mask-scale", "1.6", "--pixelate-blocks", "5"]
    proc = run_job(src, dst, *flags)
    assert proc.returncode == 0, proc.stderr[-3000:]
    hidden = {"fill": "pixelate", "mask": "box", "mask_scale": 1.6, "pixelate_blocks": 5}
    row = manifest_rows(dst)["astronaut.png"]
    assert (row["hidden"], row["metadata"]) == (hidden, "stripped")
    summary = json.loads((dst / "summary.json").read_text())
    assert summary["render"] == {
        "mode": "pixelate",
        "max_pixels": 100_000_000,
        **hidden,
        "metadata": "stripped",
    }
    assert summary["detector"]["detector"] == "ensemble"  # every look, when faces are hidden
    assert summary["detector"]["score_threshold"] == PRIVACY_SCORES["ensemble"]
    index = (dst / "index.html").read_text()
    assert "<dt>pixelate blocks</dt><dd>5</dd>" in index and "<dt>mask</dt><dd>box</dd>" in index
    # the written image: exactly the grown box changed
    _, before = decode(GOOD["astronaut.png"])
    _, after = decode((dst / "images" / "astronaut.png").read_bytes())
    (f,) = row["faces"]
    m = mask_for(Face(f["x"], f["y"], f["w"], f["h"]), (512, 512), "box", 1.6)
    inside = np.zeros((512, 512), bool)
    inside[m.y0 : m.y1, m.x0 : m.x1] = True
    assert (before[~inside] == after[~inside]).all()
    assert (before[inside] != after[inside]).any(axis=-1).mean() > 0.8


def test_a_run_with_corrections_reports_privacy_and_keeps_them(tmp_path):
    """The command line end to end: the privacy report's last lines, a person's box in the row
    and the gallery, and a later run without the file that keeps them and redoes nothing."""
    src, dst = tmp_path / "in", tmp_path / "out"
    write_tree(src, {"astronaut.png": GOOD["astronaut.png"], "sub/b.png": GOOD["astronaut.png"]})
    fix = tmp_path / "fix.json"
    box = {"x": 400, "y": 400, "w": 40, "h": 40}
    fix.write_text(json.dumps({"version": 1, "photos": {"sub/b.png": {"add": [box]}}}))
    proc = run_job(src, dst, "--mode", "blur", "--corrections", str(fix))
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[-4] == (
        "dataproc-faces: privacy: 3 faces hidden, 0 of them on weak evidence, 1 placed by a "
        'person; 1 photo needs a look (1 corrected): the gallery\'s Status "needs a look" lists '
        "them"
    )
    assert lines[-3] == (
        f"dataproc-faces: corrections: 1 photo corrected by a person, kept in {dst}/_corrections"
        " and applied by every later run"
    )
    assert lines[-1].startswith("dataproc-faces: gallery: ")
    rows = manifest_rows(dst)
    assert rows["sub/b.png"]["faces"][-1] == {**box, "by": "person"}
    assert rows["sub/b.png"]["review"] == ["corrected"] and rows["astronaut.png"]["review"] == []
    summary = json.loads((dst / "summary.json").read_text())
    assert summary["privacy"]["faces_by_person"] == 1 and summary["corrected"] == 1
    assert 'data-review="1"' in (dst / "index.html").read_text()
    again = run_job(src, dst, "--mode", "blur")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "this run processed 0 inputs and skipped 2" in again.stdout
    assert manifest_rows(dst)["sub/b.png"]["faces"][-1] == {**box, "by": "person"}
