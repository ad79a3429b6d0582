"""Manifest files and the summary's arithmetic."""

from __future__ import annotations

import json

import pytest

from dataproc_faces.detectors.base import Face
from dataproc_faces.results import layout
from dataproc_faces.results.manifest import Summary, error_row, ok_row, read_manifest
from dataproc_faces.storage.local import LocalStore


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


# -- every value of a row, in its field (a width/height swap or a renamed key fails here)


def test_an_ok_row_holds_each_value_in_its_field() -> None:
    row = ok_row(
        "in/a.jpg",
        "out/images/a.jpg",
        640,
        480,
        "jpeg",
        [Face(1, 2, 3, 4), Face(5, 6, 7, 8, 0.87654)],
        12.3456,
        thumbnail="out/thumbs/a.jpg.jpg",
        runtime="openvino 2026.4.1 bf16",
    )
    assert row == {
        "path": "in/a.jpg",
        "status": "ok",
        "error": None,
        "width": 640,
        "height": 480,
        "format": "jpeg",
        "faces": [
            {"x": 1, "y": 2, "w": 3, "h": 4, "by": "detector"},
            {"x": 5, "y": 6, "w": 7, "h": 8, "score": 0.8765, "by": "detector"},
        ],
        "output": "out/images/a.jpg",
        "thumbnail": "out/thumbs/a.jpg.jpg",
        "millis": 12.3,
        "runtime": "openvino 2026.4.1 bf16",
        "hidden": None,
        "metadata": "stripped",
        "review": [],
        "written": None,
    }
    assert list(row) == [
        "path", "status", "error", "width", "height", "format",
        "faces", "output", "thumbnail", "millis", "runtime", "hidden", "metadata", "review",
        "written",
    ]  # fmt: skip
    looked = ok_row("in/a.jpg", "o", 9, 9, "png", [], 1.0, review=["weak", "many"])
    assert looked["review"] == ["weak", "many"]


def test_an_ok_row_says_how_faces_were_hidden_and_whether_metadata_was_kept() -> None:
    hidden = {"fill": "pixelate", "mask": "box", "mask_scale": 1.5, "pixelate_blocks": 6}
    row = ok_row("in/a.png", "o", 3, 2, "png", [], 1.0, hidden=hidden, metadata="kept (no GPS)")
    assert (row["hidden"], row["metadata"]) == (hidden, "kept (no GPS)")


def test_an_ok_row_without_thumbnail_or_runtime_says_none() -> None:
    row = ok_row("in/a.png", "out/images/a.png", 3, 2, "png", [], 0.05)
    assert (row["thumbnail"], row["runtime"], row["faces"], row["millis"]) == (None, None, [], 0.1)


def test_an_error_row_holds_the_message_and_nothing_else() -> None:
    row = error_row("in/bad.jpg", "cannot identify image file", 7.2549)
    assert row == {
        "path": "in/bad.jpg",
        "status": "error",
        "error": "cannot identify image file",
        "width": None,
        "height": None,
        "format": None,
        "faces": [],
        "output": None,
        "thumbnail": None,
        "millis": 7.3,
        "runtime": None,
        "hidden": None,
        "metadata": None,
        "review": ["error"],  # a photo that failed is one to look at
        "written": None,
    }
    assert list(row) == list(ok_row("p", "o", 1, 1, "png", [], 1.0))  # one schema for both


@pytest.mark.parametrize(("ms", "millis"), [(0.04, 0.0), (0.06, 0.1), (1234.5678, 1234.6)])
def test_millis_are_rounded_to_a_tenth(ms: float, millis: float) -> None:
    assert ok_row("p", "o", 1, 1, "png", [], ms)["millis"] == millis
    assert error_row("p", "e", ms)["millis"] == millis


# -- the summary


def test_summary_rounds_the_wall_time_and_the_rate_to_two_places() -> None:
    s = Summary.of(rows(), wall_seconds=0.7)  # 3 / 0.7 = 4.2857...
    assert (s.wall_seconds, s.images_per_second) == (0.7, 4.29)
    s = Summary.of(rows(), wall_seconds=1.23456)  # 3 / 1.23456 = 2.43001...
    assert (s.wall_seconds, s.images_per_second) == (1.23, 2.43)


@pytest.mark.parametrize(("wall", "rate"), [(0.0, 0.0), (-1.0, 0.0), (0.5, 6.0), (1.0, 3.0)])
def test_summary_rate_is_zero_without_a_positive_wall_time(wall: float, rate: float) -> None:
    s = Summary.of(rows(), wall_seconds=wall)
    assert s.images_per_second == rate
    assert isinstance(s.images_per_second, float)


def test_summary_of_no_rows() -> None:
    s = Summary.of([], wall_seconds=2.0)
    assert (s.inputs, s.ok, s.errors, s.faces, s.images_per_second) == (0, 0, 0, 0, 0.0)
    assert s.runtime == []
    assert s.line() == "0 inputs: 0 ok, 0 errors, 0 faces in 2.0 s (0.00 images/s)"


def test_summary_lists_every_runtime_once_sorted_and_skips_rows_without_one() -> None:
    faces = [Face(1, 2, 3, 4)]
    rows_ = [
        ok_row("a", "o/a", 1, 1, "png", faces, 1.0, runtime="openvino fp32"),
        ok_row("b", "o/b", 1, 1, "png", faces, 1.0, runtime="haar"),
        ok_row("c", "o/c", 1, 1, "png", faces, 1.0, runtime="openvino fp32"),
        ok_row("d", "o/d", 1, 1, "png", faces, 1.0, runtime=""),
        ok_row("e", "o/e", 1, 1, "png", faces, 1.0),
        error_row("f", "bad", 1.0),
        {k: v for k, v in ok_row("g", "o/g", 1, 1, "png", faces, 1.0).items() if k != "runtime"},
    ]
    assert Summary.of(rows_, 1.0).runtime == ["haar", "openvino fp32"]


def test_summary_keeps_the_extra_fields_given() -> None:
    s = Summary.of(rows(), 1.0, input="/in", output="/out", master="yarn", processed=2)
    assert (s.input, s.output, s.master, s.processed, s.skipped) == ("/in", "/out", "yarn", 2, None)


def test_summary_json_is_sorted_indented_and_ends_with_a_newline() -> None:
    s = Summary(inputs=2, ok=1, errors=1, faces=3, wall_seconds=1.5, images_per_second=1.33)
    s.runtime = ["haar"]
    assert s.to_json() == (
        "{\n"
        '  "compaction": null,\n'
        '  "corrected": null,\n'
        '  "detector": {},\n'
        '  "errors": 1,\n'
        '  "faces": 3,\n'
        '  "ignored": null,\n'
        '  "images_per_second": 1.33,\n'
        '  "input": "",\n'
        '  "inputs": 2,\n'
        '  "master": "",\n'
        '  "ok": 1,\n'
        '  "output": "",\n'
        '  "phases": null,\n'
        '  "privacy": null,\n'
        '  "processed": null,\n'
        '  "render": {},\n'
        '  "runtime": [\n'
        '    "haar"\n'
        "  ],\n"
        '  "skipped": null,\n'
        '  "wall_seconds": 1.5\n'
        "}\n"
    )


class RecordingStore(LocalStore):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[str, str | None]] = []

    def write(self, uri: str, data: bytes, content_type: str | None = None) -> None:
        self.writes.append((uri, content_type))
        super().write(uri, data, content_type)


def test_summary_write_puts_the_json_in_the_output_folder(tmp_path, monkeypatch) -> None:
    s = Summary.of(rows(), 1.5, output=str(tmp_path))
    store = RecordingStore()
    monkeypatch.setattr(layout, "store_for", lambda uri, protect=(): store)
    uri = s.write(layout.Results(str(tmp_path)))
    assert uri == str(tmp_path / "summary.json")
    assert store.writes == [(uri, "application/json")]
    assert (tmp_path / "summary.json").read_text() == s.to_json()
