"""ranges.py without Spark or a bucket: where the next run cuts a flat prefix; the marks file."""

from __future__ import annotations

from pathlib import Path

from dataproc_faces import ranges
from dataproc_faces.results.layout import Results


def test_slices_cover_every_name_from_nowhere_to_nowhere() -> None:
    assert ranges.slices([]) == [(0, None, None)]
    assert ranges.slices(["b", "m"]) == [(0, None, "b"), (1, "b", "m"), (2, "m", None)]


def test_one_slice_keeps_its_own_marks_every_so_many_files() -> None:
    assert ranges.next_marks([(10, "f0", ["f3", "f6", "f9"])], 3) == ["f3", "f6", "f9"]
    assert ranges.next_marks([(2, "f0", [])], 3) == []
    assert ranges.next_marks([], 3) == []


def test_a_slice_that_grew_is_cut_again_and_slices_that_shrank_are_joined() -> None:
    """Positions: a0 0, a3 3, b0 4, (an empty slice), c0 5, c3 8, c6 11; every 3 files."""
    counted: list[ranges.Counted] = [
        (4, "a0", ["a3"]),
        (1, "b0", []),
        (0, None, []),
        (7, "c0", ["c3", "c6"]),
    ]
    assert ranges.next_marks(counted, 3) == ["a3", "c3", "c6"]
    # slices of a file each, as after deletions: one mark every three of them
    assert ranges.next_marks([(1, x, []) for x in "abcdefg"], 3) == ["d", "g"]


def test_marks_are_written_when_they_change_and_read_back_sorted(tmp_path: Path) -> None:
    results = Results(str(tmp_path / "out"))
    uri = Path(results.top_ranges)
    assert ranges.read_marks(results) == []
    ranges.write_marks(results, [], [])
    assert not uri.exists()  # nothing recorded, nothing to say
    ranges.write_marks(results, ["m", "b", "b"], [])
    assert ranges.read_marks(results) == ["b", "m"]
    before = uri.stat().st_mtime_ns
    ranges.write_marks(results, ["m", "b", "b"], ["m", "b", "b"])
    assert uri.stat().st_mtime_ns == before  # the same marks: not written again
    ranges.write_marks(results, [], ["b", "m"])  # the prefix shrank: back to the driver
    assert ranges.read_marks(results) == []
    assert uri.exists()


def test_unreadable_marks_are_no_marks(tmp_path: Path) -> None:
    """A damaged or foreign file costs the slices, never a name: the driver lists alone."""
    results = Results(str(tmp_path / "out"))
    uri = Path(results.top_ranges)
    uri.parent.mkdir(parents=True)
    for body in (b"{not json", b'{"a": 1}', b'["a", 2]', b'["a", ""]', b"\xff\xfe"):
        uri.write_bytes(body)
        assert ranges.read_marks(results) == [], body
    uri.write_text('["é", "a"]', encoding="utf-8")
    assert ranges.read_marks(results) == ["a", "é"]
