"""Manifest files and the summary's arithmetic."""

from __future__ import annotations

import json
from pathlib import Path

from dataproc_faces import manifest
from dataproc_faces.detect import Face
from dataproc_faces.manifest import Summary, error_row, ok_row, read_manifest, write_manifest
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


def test_manifest_is_json_lines_sorted_by_path_and_replaces_older_parts(tmp_path, monkeypatch):
    store, out = LocalStore(), str(tmp_path)
    monkeypatch.setattr(manifest, "ROWS_PER_FILE", 2)
    assert len(write_manifest(store, out, rows())) == 2
    monkeypatch.setattr(manifest, "ROWS_PER_FILE", 10)
    written = write_manifest(store, out, rows())
    assert [Path(p).name for p in written] == ["part-00000.json"]
    assert sorted(p.name for p in (tmp_path / "manifest").iterdir()) == ["part-00000.json"]
    lines = Path(written[0]).read_text().splitlines()
    assert [json.loads(line)["path"] for line in lines] == ["in/a.jpg", "in/b.jpg", "in/c.png"]
    assert read_manifest(store, out) == sorted(rows(), key=lambda r: r["path"])


def test_an_empty_run_still_writes_an_empty_manifest(tmp_path):
    write_manifest(LocalStore(), str(tmp_path), [])
    assert (tmp_path / "manifest" / "part-00000.json").read_text() == ""


def test_summary_counts_and_rate():
    s = Summary.of(rows(), wall_seconds=1.5, output="x")
    assert (s.inputs, s.ok, s.errors, s.faces) == (3, 2, 1, 3)
    assert s.images_per_second == 2.0
    assert s.line() == "3 inputs: 2 ok, 1 errors, 3 faces in 1.5 s (2.00 images/s)"
    assert json.loads(s.to_json())["faces"] == 3
