"""The job on local Spark reading and writing gs:// in gcp-storage-emulator, real client."""

from __future__ import annotations

import json

import pytest

from dataproc_faces.imaging.codec import decode
from dataproc_faces.pipeline import SMALL_RUN_ENV
from dataproc_faces.storage import gcs
from tests.conftest import ASTRONAUT_FACE, SAMPLES, iou
from tests.e2e.conftest import names, run_cli, upload

pytestmark = [pytest.mark.e2e, pytest.mark.spark]

ASTRONAUT = (SAMPLES / "astronaut.png").read_bytes()
INPUTS = {
    "in/astronaut.png": ASTRONAUT,
    "in/nested/deeper/astronaut copy.png": ASTRONAUT,  # a space in the name too
    "in/broken.jpg": b"\xff\xd8\xff\xe0 this is not a JPEG",
}
IGNORED = {"in/_temporary/0/astronaut.png": ASTRONAUT, "in/.part": b"x", "in/folder/": b""}


def manifest(bucket: str, out: str) -> dict[str, dict]:
    store = gcs.GcsStore()
    rows = [
        json.loads(line)
        for name in store.list_files(f"gs://{bucket}/{out}/manifest")
        for line in store.read(f"gs://{bucket}/{out}/manifest/{name}").decode().splitlines()
    ]
    by_path = {r["path"]: r for r in rows}
    assert len(by_path) == len(rows), "one row per input"
    return by_path


@pytest.fixture(scope="module")
def job(bucket, gcs_env):
    upload(bucket, {**INPUTS, **IGNORED})
    src, dst = f"gs://{bucket}/in", f"gs://{bucket}/out"
    # planned by Spark's executors, as a large run is; the rerun test's runs, small, by the driver
    env = {**gcs_env, SMALL_RUN_ENV: "0"}
    proc = run_cli(env, "run", "--input", src, "--output", dst, "--master", "local[2]")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_every_input_has_one_row_ok_or_error_and_ignored_names_none(job, bucket):
    rows = manifest(bucket, "out")
    assert set(rows) == {f"gs://{bucket}/{name}" for name in INPUTS}
    for name in ("in/astronaut.png", "in/nested/deeper/astronaut copy.png"):
        row = rows[f"gs://{bucket}/{name}"]
        assert row["status"] == "ok", row
        assert len(row["faces"]) == 1
        face = row["faces"][0]
        assert iou((face["x"], face["y"], face["w"], face["h"]), ASTRONAUT_FACE) > 0.7
    broken = rows[f"gs://{bucket}/in/broken.jpg"]
    assert broken["status"] == "error" and broken["error"] and broken["output"] is None


def test_outlined_images_are_mirrored_under_images_in_the_bucket(job, bucket):
    rows = manifest(bucket, "out")
    images = names(bucket, "out/images/")
    assert images == ["out/images/astronaut.png", "out/images/nested/deeper/astronaut copy.png"]
    for name in images:
        assert rows[f"gs://{bucket}/in/{name.removeprefix('out/images/')}"]["output"] == (
            f"gs://{bucket}/{name}"
        )
        header, image = decode(gcs.GcsStore().read(f"gs://{bucket}/{name}"))
        assert header.format == "png" and image.shape == (512, 512, 3)
    assert "out/summary.json" in names(bucket, "out/")


def test_summary_in_the_bucket_matches(job, bucket):
    summary = json.loads(gcs.GcsStore().read(f"gs://{bucket}/out/summary.json"))
    assert (summary["inputs"], summary["ok"], summary["errors"], summary["faces"]) == (3, 2, 1, 2)
    assert summary["input"] == f"gs://{bucket}/in"
    assert summary["ignored"] == {"hidden": 1, "spark-marker": 1}  # placeholders are no names
    assert "3 inputs: 2 ok, 1 errors, 2 faces" in job.stdout


def test_an_input_list_replaces_listing_and_keeps_paths_below_the_common_folder(
    job, bucket, gcs_env
):
    missing = f"gs://{bucket}/in/nested/gone.png"
    listing = "\n".join(
        [
            "# two real images, one missing, one repeated",
            f"gs://{bucket}/in/astronaut.png",
            f"gs://{bucket}/in/nested/deeper/astronaut copy.png",
            missing,
            f"gs://{bucket}/in/astronaut.png",
            "",
        ]
    )
    upload(bucket, {"lists/run1.txt": listing.encode()})
    proc = run_cli(
        gcs_env,
        "run",
        "--input-list",
        f"gs://{bucket}/lists/run1.txt",
        "--output",
        f"gs://{bucket}/from-list",
        "--master",
        "local[2]",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = manifest(bucket, "from-list")
    assert len(rows) == 3
    assert rows[missing]["status"] == "error" and "NotFound" in rows[missing]["error"]
    # The common folder of the entries is gs://BUCKET/in: outputs mirror paths below it.
    assert names(bucket, "from-list/images/") == [
        "from-list/images/astronaut.png",
        "from-list/images/nested/deeper/astronaut copy.png",
    ]


def test_usage_errors_before_spark_starts(bucket, gcs_env):
    proc = run_cli(gcs_env, "run", "--input", f"gs://{bucket}/nothing", "--output", "/tmp/x")
    assert proc.returncode == 2
    assert "does not exist" in proc.stderr
    upload(bucket, {"lists/outside.txt": f"gs://{bucket}/elsewhere/a.png\n".encode()})
    proc = run_cli(
        gcs_env,
        "run",
        "--input",
        f"gs://{bucket}/in",
        "--input-list",
        f"gs://{bucket}/lists/outside.txt",
        "--output",
        f"gs://{bucket}/o",
    )
    assert proc.returncode == 2
    assert "is not inside" in proc.stderr


def test_a_rerun_skips_what_is_done_and_new_uploads_are_the_only_work(job, bucket, gcs_env):
    """Object generations decide: nothing new, nothing done; one upload, one input processed."""
    src, dst = f"gs://{bucket}/in", f"gs://{bucket}/out"
    before = {n: gcs.GcsStore().read(f"gs://{bucket}/{n}") for n in names(bucket, "out/manifest/")}
    proc = run_cli(gcs_env, "run", "--input", src, "--output", dst, "--master", "local[2]")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "this run processed 0 inputs and skipped 3 " in proc.stdout
    after = {n: gcs.GcsStore().read(f"gs://{bucket}/{n}") for n in names(bucket, "out/manifest/")}
    assert after == before  # not one part rewritten
    upload(
        bucket, {"in/later/new.png": ASTRONAUT, "in/astronaut.png": ASTRONAUT}
    )  # new + rewritten
    proc = run_cli(gcs_env, "run", "--input", src, "--output", dst, "--master", "local[2]")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "this run processed 2 inputs and skipped 2 " in proc.stdout
    rows = manifest(bucket, "out")  # asserts one row per input
    assert len(rows) == 4 and rows[f"gs://{bucket}/in/later/new.png"]["status"] == "ok"
    summary = json.loads(gcs.GcsStore().read(f"gs://{bucket}/out/summary.json"))
    assert (summary["inputs"], summary["ok"], summary["processed"]) == (4, 3, 2)
    pages = [  # each folder's "all rows" view (a flat bucket's photos in hashed shards)
        gcs.GcsStore().read(f"gs://{bucket}/{n}").decode()
        for n in names(bucket, "out/gallery/folders/")
        if "/name/" in n
    ]
    assert all(p.startswith('galleryPage("folders/') for p in pages)
    assert sum(p.count('"s":"ok"') for p in pages) == 3
    assert "out/index.html" in names(bucket, "out/")


def test_a_flat_prefix_is_listed_in_slices_cut_by_a_probe_then_where_the_run_before_marked_it(
    bucket, gcs_env, tmp_path
):
    """A top level of more than RANGE_ENTRIES files (2 here) is listed by the executors, a few
    slices of names a task (ranges.py): the first time cut after the driver's first 2 files at
    every character that could come next (its probe), then where the run before marked every
    2nd file. New names before, between and after the marks, and an overwrite, are each found
    once; the folder beside the files is still walked; a rerun finds nothing to do."""
    import cv2
    import numpy as np

    from dataproc_faces.ranges import RANGE_ENTRIES_ENV, RANGE_READS_ENV, probe_marks, slices

    photo = cv2.imencode(".png", np.full((48, 64, 3), 120, np.uint8))[1].tobytes()
    first = {f"flat/p{i:02d}.png": photo for i in range(0, 14, 2)}  # p00, p02 ... p12
    upload(bucket, {**first, "flat/sub/x.png": photo, "flat/.hidden": b"h"})
    log = tmp_path / "slices.log"
    env = {**gcs_env, SMALL_RUN_ENV: "0", RANGE_ENTRIES_ENV: "2", RANGE_READS_ENV: str(log)}
    src, dst = f"gs://{bucket}/flat", f"gs://{bucket}/flat-out"
    marks = "flat-out/_state/_ranges.json"

    def run() -> str:
        proc = run_cli(env, "run", "--input", src, "--output", dst, "--master", "local[2]")
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc.stdout

    def listed() -> list[str]:
        found = sorted(log.read_text().split())
        log.unlink()
        return found

    assert "this run processed 8 inputs and skipped 0 " in run()
    cuts = probe_marks("p00.png", "p02.png")  # p03 ... p0~, p1 ... p~, q ... ~
    assert cuts[:3] == ["p03", "p04", "p05"] and "p1" in cuts and cuts[-1] == "~"
    assert listed() == sorted(f"{low or ''}..{high or ''}" for _, low, high in slices(cuts))
    # marked from the slices' counts: p00 p02 | p04 p06 | p08 p10 | p12 (p10 and p12 in the
    # slices [p10, p11) and [p12, p13): "0" then "2" is a run of digits, cut again by ten)
    assert "p10" in cuts and "p12" in cuts
    assert json.loads(gcs.GcsStore().read(f"gs://{bucket}/{marks}")) == [
        "p04.png",
        "p08.png",
        "p12.png",
    ]
    upload(bucket, {"flat/a.png": photo, "flat/p05.png": photo, "flat/p08.png": photo})
    assert "this run processed 3 inputs and skipped 7 " in run()
    assert listed() == ["..p04.png", "p04.png..p08.png", "p08.png..p12.png", "p12.png.."]
    # cut again: a.png p00 | p02 p04 p05 | p06 p08 p10 | p12, from each slice's own marks
    assert json.loads(gcs.GcsStore().read(f"gs://{bucket}/{marks}")) == [
        "p02.png",
        "p06.png",
        "p12.png",
    ]
    rows = manifest(bucket, "flat-out")  # asserts one row per input
    expected = {*first, "flat/a.png", "flat/p05.png", "flat/sub/x.png"}
    assert set(rows) == {f"gs://{bucket}/{n}" for n in expected}
    assert all(r["status"] == "ok" for r in rows.values())
    assert "this run processed 0 inputs and skipped 10 " in run()
    assert listed() == ["..p02.png", "p02.png..p06.png", "p06.png..p12.png", "p12.png.."]
    assert names(bucket, "flat-out/_work/") == []  # the slices' shards are deleted
