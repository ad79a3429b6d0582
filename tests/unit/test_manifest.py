"""Manifest files and the summary's arithmetic."""

from __future__ import annotations

import json

from dataproc_faces.detect import Face
from dataproc_faces.manifest import Summary, error_row, ok_row, read_manifest
from dataproc_faces.storage import LocalStore


def rows() -> list[dict]:
    return [
        ok_row("in/b.jpg", "out/images/b.jpg", 10, 20, "jpeg", [Face(1, 2, 3, 4)], 5.0),
        error_row("in/a.jpg", "empty file", 1.0),
        ok_row("in/c.png", "out/images/c.png", 10, 20, "png", [Face(1, 2, 3, 4, 0.9)] * 2, 5.0),
    ]


def test_rows_have_the_documented_fields():
    for row in rows():
        assert {"path", "status", "error", "width", "height", "faces", "output"} <= row.keys()
    assert rows()[1]["status"] == "error" and rows()[1]["output"] is None


def test_read_manifest_reads_every_part_line_by_line(tmp_path):
    folder = tmp_path / "manifest"
    folder.mkdir()
    a, b, c = rows()
    (folder / "part-1.json").write_text(json.dumps(a) + "\n" + json.dumps(b) + "\n\n")
    (folder / "part-2.json").write_text(json.dumps(c) + "\n")
    (folder / "notes.txt").write_text("not a part")
    got = read_manifest(LocalStore(), str(tmp_path))
    assert sorted(got, key=lambda r: r["path"]) == sorted(rows(), key=lambda r: r["path"])


def test_summary_counts_and_rate():
    s = Summary.of(rows(), wall_seconds=1.5, output="x")
    assert (s.inputs, s.ok, s.errors, s.faces) == (3, 2, 1, 3)
    assert s.images_per_second == 2.0
    assert s.line() == "3 inputs: 2 ok, 1 errors, 3 faces in 1.5 s (2.00 images/s)"
    s.processed, s.skipped = 0, 3  # a rerun with everything done
    assert s.line() == "3 inputs: 2 ok, 1 errors, 3 faces in 1.5 s (nothing new to process)"
    s.processed = 1
    assert s.line().endswith("(2.00 images/s)")
    assert json.loads(s.to_json())["faces"] == 3
