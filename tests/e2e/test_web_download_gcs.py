"""A run's zip from gs:// through the page, against the storage emulator: every entry arrives
whole, and the server's Python heap stays bounded (tracemalloc's peak) while the archive is many
times larger than that bound."""

from __future__ import annotations

import os
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from dataproc_faces.web import create_app
from dataproc_faces.web.download import CHUNK
from dataproc_faces.web.runs import Run
from dataproc_faces.web.settings import Cloud, Settings
from tests.e2e.conftest import upload

pytestmark = pytest.mark.e2e

SMALL = 400  # files: a listing of many names
SMALL_BYTES = 4096
BIG = 40 * 1024 * 1024  # one object far larger than the bound: never read whole
PEAK_BOUND = 10 * 1024 * 1024  # a few chunks, the listing and the client's buffers


def test_a_zip_of_many_gs_objects_streams_with_a_bounded_peak(bucket: str, tmp_path: Path) -> None:
    results = f"gs://{bucket}/results"
    run_id = "web-20260101-000000-cafe"
    prefix = f"results/{run_id}"
    objects = {f"{prefix}/images/{i:05d}.jpg": os.urandom(SMALL_BYTES) for i in range(SMALL)}
    big = os.urandom(1024 * 1024) * (BIG // (1024 * 1024))
    objects[f"{prefix}/images/big.png"] = big
    objects[f"{prefix}/manifest/part-0.jsonl"] = b'{"path": "x"}\n'
    objects[f"{prefix}/summary.json"] = b"{}\n"
    objects[f"{prefix}/_state/part-0.json"] = b"{}"
    objects[f"{prefix}/thumbs/x.jpg"] = b"t"
    upload(bucket, objects)
    expected = {k.removeprefix(prefix + "/"): len(v) for k, v in objects.items()}
    del objects, big

    cloud = Cloud(input_root=f"gs://{bucket}/input", results_root=results)
    app = create_app(Settings(data=tmp_path / "data", cloud=cloud))
    book = app.extensions["faces_runs"]
    book.save(Run(run_id, "cloud", cloud.input_root, f"{results}/{run_id}", "haar", "blur", "DONE"))
    client = app.test_client()

    target = tmp_path / "run.zip"
    tracemalloc.start()
    try:
        response = client.get(f"/runs/{run_id}/download.zip", buffered=False)
        assert response.status_code == 200
        pieces = 0
        with target.open("wb") as out:
            for piece in response.response:
                out.write(piece)
                pieces += 1
        response.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    size = target.stat().st_size
    print(f"zip {size / 2**20:.1f} MiB in {pieces} pieces, peak {peak / 2**20:.2f} MiB")
    assert size > 3 * PEAK_BOUND
    assert peak < PEAK_BOUND, f"peak {peak} bytes while streaming {size} bytes"
    assert pieces > size // (4 * CHUNK)  # sent as it was made, not in one piece
    with zipfile.ZipFile(target) as archive:
        got = {i.filename.removeprefix(run_id + "/"): i.file_size for i in archive.infolist()}
        assert got == {k: v for k, v in expected.items() if k.startswith(("images/", "manifest/"))
                       or k == "summary.json"}  # fmt: skip
        with archive.open(f"{run_id}/images/big.png") as f:
            assert f.read(1024 * 1024) == f.read(1024 * 1024)  # the repeated MiB, intact
        assert archive.read(f"{run_id}/summary.json") == b"{}\n"


def test_a_gs_batch_is_deleted_and_nothing_beside_it(bucket: str) -> None:
    from dataproc_faces.web.delete import NotDeleted, delete_tree
    from tests.e2e.conftest import names

    upload(bucket, {
        "input/b1/a.jpg": b"a", "input/b1/trip/.hidden": b"h", "input/b1/_DSC1.JPG": b"c",
        "input/b10/keep.jpg": b"k", "input/b1.jpg": b"k", "elsewhere/b1/keep.jpg": b"k",
    })  # fmt: skip
    root = f"gs://{bucket}/input"
    assert delete_tree(root, f"{root}/b1") == 3
    assert names(bucket, "input/") == ["input/b1.jpg", "input/b10/keep.jpg"]
    for outside in (f"gs://{bucket}/elsewhere/b1", root, f"gs://{bucket}/inputs/x"):
        with pytest.raises(NotDeleted):
            delete_tree(root, outside)
    assert "elsewhere/b1/keep.jpg" in names(bucket)
