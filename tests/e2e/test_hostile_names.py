"""Object names that are not plain relative paths never become writes outside the destination.

A bucket on the storage emulator holds, beside ordinary images, names with an empty segment
(whose collapsed twin is also there), a `.` segment, a backslash, control characters and an
over-long segment, each one aimed at a folder outside the destination. `..` segments are
tested at the function only (tests/unit/test_names.py): the emulator drops the connection on them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dataproc_faces.storage import gcs
from tests.conftest import SAMPLES
from tests.e2e.conftest import names, run_cli, upload

pytestmark = [pytest.mark.e2e, pytest.mark.spark]

ASTRONAUT = (SAMPLES / "astronaut.png").read_bytes()


@pytest.fixture(scope="module")
def outside(tmp_path_factory) -> Path:
    """The folder every hostile name points at; it must stay empty."""
    return tmp_path_factory.mktemp("outside")


@pytest.fixture(scope="module")
def hostile(bucket, outside) -> dict[str, str]:
    """relative name -> the reason it must be refused (None for names that are fine)."""
    aim = outside.as_posix().lstrip("/")
    refused = {
        f"/{aim}/escaped.png": "absolute name",
        f"a//{aim}/double.png": "empty segment",
        "./dot.png": "'.' segment",
        "sub\\back.png": "backslash",
        "new\nline.png": "control character",
        "bell\x07.png": "control character",
        "l" * 300 + ".png": "segment longer",
    }
    fine = {"ok.png": None, f"{aim}/escaped.png": None}  # the collapsed twin: a plain name
    upload(bucket, {f"h/{rel}": ASTRONAUT for rel in {**refused, **fine}})
    return {**refused, **fine}


def files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_fetch_copies_plain_names_and_skips_each_hostile_one_with_a_warning(
    bucket, gcs_env, hostile, outside, tmp_path
):
    dst = tmp_path / "got"
    proc = run_cli(gcs_env, "fetch", f"gs://{bucket}/h", str(dst))
    assert proc.returncode == 0, proc.stderr
    aim = outside.as_posix().lstrip("/")
    assert files_under(dst) == sorted(["_dataproc_faces.json", "ok.png", f"{aim}/escaped.png"])
    assert (dst / "ok.png").read_bytes() == ASTRONAUT
    assert files_under(outside) == []
    refused = [rel for rel, why in hostile.items() if why]
    for rel in refused:
        assert f"skipped {f'gs://{bucket}/h/{rel}'!r}: " in proc.stderr, rel
    assert f"2 copied, 0 already there, {len(refused)} skipped, 0 failed" in proc.stderr


def test_fetch_does_not_follow_a_symlink_out_of_the_destination(
    bucket, gcs_env, hostile, outside, tmp_path
):
    dst = tmp_path / "got"
    dst.mkdir()
    (dst / "_dataproc_faces.json").write_text("{}")  # an earlier fetch's copy, then tampered
    (dst / "ok.png").symlink_to(outside / "victim.png")
    proc = run_cli(gcs_env, "fetch", f"gs://{bucket}/h", str(dst))
    assert proc.returncode == 1
    assert "not copied" in proc.stderr and "outside" in proc.stderr
    assert "1 copied" in proc.stderr and "1 failed" in proc.stderr
    assert files_under(outside) == []


def rows_of(text_by_part: list[str]) -> dict[str, dict]:
    rows = [json.loads(line) for text in text_by_part for line in text.splitlines()]
    by_path = {r["path"]: r for r in rows}
    assert len(by_path) == len(rows)
    return by_path


def check_rows(rows: dict[str, dict], bucket: str, hostile: dict[str, str | None]) -> None:
    assert set(rows) == {f"gs://{bucket}/h/{rel}" for rel in hostile}
    for rel, why in hostile.items():
        row = rows[f"gs://{bucket}/h/{rel}"]
        if why:
            assert row["status"] == "error" and why in row["error"], (rel, row)
            assert row["output"] is None and row["thumbnail"] is None
        else:
            assert row["status"] == "ok" and len(row["faces"]) == 1, (rel, row)


def test_the_job_to_a_local_folder_writes_only_inside_it(
    bucket, gcs_env, hostile, outside, tmp_path
):
    dst = tmp_path / "out"
    proc = run_cli(
        gcs_env, "run", "--input", f"gs://{bucket}/h", "--output", str(dst), "--master", "local[2]"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert files_under(outside) == []
    aim = outside.as_posix().lstrip("/")
    images = [n for n in files_under(dst) if n.startswith("images/")]
    assert images == sorted(["images/ok.png", f"images/{aim}/escaped.png"])
    parts = [p.read_text() for p in sorted((dst / "manifest").glob("*.json"))]
    check_rows(rows_of(parts), bucket, hostile)
    summary = json.loads((dst / "summary.json").read_text())
    assert (summary["ok"], summary["errors"]) == (2, len(hostile) - 2)


def test_the_job_to_gs_writes_only_plain_names(bucket, gcs_env, hostile):
    proc = run_cli(
        gcs_env,
        "run",
        "--input",
        f"gs://{bucket}/h",
        "--output",
        f"gs://{bucket}/hout",
        "--master",
        "local[2]",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    store = gcs.GcsStore()
    written = names(bucket, "hout/")
    images = [n for n in written if n.startswith(("hout/images/", "hout/thumbs/"))]
    aim = next(rel for rel, why in hostile.items() if why is None and rel != "ok.png")
    assert images == sorted(
        [
            "hout/images/ok.png",
            f"hout/images/{aim}",
            "hout/thumbs/ok.png.jpg",
            f"hout/thumbs/{aim}.jpg",
        ]
    )
    parts = [store.read(f"gs://{bucket}/{n}").decode() for n in written if "/manifest/" in n]
    check_rows(rows_of(parts), bucket, hostile)
