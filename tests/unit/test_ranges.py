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


def test_a_probe_cuts_after_its_last_name_at_every_character_that_could_come_next() -> None:
    """First `IMG_00000000.jpg`, last `IMG_00049999.jpg`: the names differ from position 7, so
    the cuts are `IMG_0005`...`IMG_000~` there, then `IMG_001`..., `IMG_01`..., `IMG_1`...,
    `IMG``..., `IMH`..., `IN`..., `J`...; each later digit of a digit run is cut again by the
    ten digits (`IMG_1` -> `IMG_10`...`IMG_19`). 74 + 5 x 10 at position 7, 78 + 9 x 10 at
    positions 6, 5 and 4, then 31 + 55 + 49 + 53: 816, all after the last name, so the slices
    after the first hold only names the probe did not reach."""
    last = "IMG_00049999.jpg"
    cuts = ranges.probe_marks("IMG_00000000.jpg", last)
    assert len(cuts) == 816 and cuts == sorted(set(cuts))
    assert all(c > last for c in cuts)
    for cut in ("IMG_0005", "IMG_00059", "IMG_001", "IMG_0019", "IMG_1", "IMG_10", "IMG_99", "J"):
        assert cut in cuts, cut
    assert "IMG_0004" not in cuts and "IMG_0" not in cuts  # the probe's own names
    assert "IMG_`0" not in cuts and "J0" not in cuts  # only digits after digits are cut again
    assert ranges.probe_marks("IMG_00000000.jpg", last, cap=3) == [
        "IMG_0005",
        "IMG_00050",
        "IMG_00051",
    ]  # deepest first
    # a phone's export seen only in 2015: the 2020s are cut by year
    dated = ranges.probe_marks("2015-01-01 00.00.00-0.jpg", "2015-12-28 23.59.59-49999.jpg")
    assert {"2016", "2019", "202", "2020", "2024", "203"} <= set(dated)
    # names that share nothing, or one name: cut at the first character, or the last
    assert ranges.probe_marks("apple", "zebra") == ["{", "|", "}", "~"]
    assert ranges.probe_marks("a", "a", cap=3) == ["b", "c", "d"]
    assert ranges.probe_marks("ab", "ab~", cap=2) == ["ac", "ad"]  # nothing follows "~" there
