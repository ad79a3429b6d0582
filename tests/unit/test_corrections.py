"""results/corrections.py: the corrections file's format, its one-line refusals, merging, the
digest that decides what a run redoes, and keeping the files with the results."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from dataproc_faces.results import corrections as fixes
from dataproc_faces.results.corrections import Box, CorrectionsError, Entry, parse
from dataproc_faces.results.layout import Results

GOOD = {
    "version": 1,
    "photos": {
        "trip/a.jpg": {
            "add": [{"x": 10, "y": 20, "w": 40, "h": 41, "note": "behind the glass"}],
            "remove": [{"x": 300, "y": 12, "w": 35, "h": 35}],
            "by": "ana@example.com",
            "at": "2026-12-06T18:00:00Z",
            "reviewed": True,
        },
        "b.png": {"add": [{"x": 0, "y": 0, "w": 1, "h": 1}]},
    },
}


def text(data: object) -> str:
    return json.dumps(data)


def test_a_good_file_reads_every_field() -> None:
    got = parse(text(GOOD))
    assert got == {
        "trip/a.jpg": Entry(
            add=(Box(10, 20, 40, 41, "behind the glass"),),
            remove=(Box(300, 12, 35, 35),),
            by="ana@example.com",
            at="2026-12-06T18:00:00Z",
            reviewed=True,
        ),
        "b.png": Entry(add=(Box(0, 0, 1, 1),)),  # by "local", no time, not reviewed
    }
    assert parse(fixes.to_json(got)) == got  # what the results keep reads back the same
    assert parse(text({"version": 1, "photos": {}})) == {}


def photo(entry: object, key: str = "a.jpg") -> str:
    return text({"version": 1, "photos": {key: entry}})


A = "photo 'a.jpg': "  # the start of every message about a photo's entry
BOX = {"x": 1, "y": 2, "w": 3, "h": 4}
WHOLE = "must be a whole number of pixels, got"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "not JSON: Expecting property name enclosed in double quotes at line 1 column 2"),
        (b"\xff\xfe", "not UTF-8 text"),
        ("[]", 'not a JSON object with "version" and "photos"'),
        (text({"photos": {}}), "version: must be 1, got None"),
        (text({"version": 2, "photos": {}}), "version: must be 1, got 2"),
        (
            text({"version": 1, "photos": {}, "extra": 1}),
            "unknown field 'extra' (known: version, photos)",
        ),
        (
            text({"version": 1, "photos": []}),
            "photos: must be an object of photo path -> corrections",
        ),
        (
            photo({}, "/etc/a.jpg"),
            "photo '/etc/a.jpg': not a path relative to the input (absolute name '/etc/a.jpg')",
        ),
        (
            photo({}, "a/../b.jpg"),
            "photo 'a/../b.jpg': not a path relative to the input "
            "('..' segment in name 'a/../b.jpg')",
        ),
        (photo([]), A + "must be an object with add, remove, by, at"),
        (photo({"ad": []}), A + "unknown field 'ad' (known: add, remove, by, at, reviewed)"),
        (photo({"add": {}}), A + "add: must be a list of boxes"),
        (photo({"add": [[1, 2, 3, 4]]}), A + "add[0]: must be an object with x, y, w, h"),
        (photo({"add": [{"x": 1, "y": 2, "w": 3}]}), A + "add[0].h: missing"),
        (photo({"remove": [BOX, {**BOX, "x": 1.5}]}), A + f"remove[1].x: {WHOLE} 1.5"),
        (photo({"add": [{**BOX, "x": "1"}]}), A + f"add[0].x: {WHOLE} '1'"),
        (photo({"add": [{**BOX, "y": True}]}), A + f"add[0].y: {WHOLE} True"),
        (photo({"add": [{**BOX, "x": -1}]}), A + "add[0].x: must be at least 0, got -1"),
        (photo({"add": [{**BOX, "w": 0}]}), A + "add[0].w: must be at least 1, got 0"),
        (
            photo({"add": [{**BOX, "colour": 1}]}),
            A + "add[0]: unknown field 'colour' (known: x, y, w, h, note, from_frame, to_frame)",
        ),
        (photo({"add": [{**BOX, "note": 7}]}), A + "add[0].note: must be a string, got 7"),
        (
            photo({"add": [{**BOX, "from_frame": -1}]}),
            A + "add[0].from_frame: must be a frame number (0 or more), got -1",
        ),
        (
            photo({"remove": [{**BOX, "to_frame": 2.0}]}),
            A + "remove[0].to_frame: must be a frame number (0 or more), got 2.0",
        ),
        (
            photo({"add": [{**BOX, "from_frame": 9, "to_frame": 3}]}),
            A + "add[0].to_frame: must be at least from_frame (9), got 3",
        ),
        (photo({"by": ""}), A + "by: must be a non-empty string, got ''"),
        (photo({"at": "yesterday"}), A + "at: must be a UTC time like 2026-12-06T18:00:00Z"),
        (photo({"reviewed": "yes"}), A + "reviewed: must be true or false, got 'yes'"),
    ],
)
def test_a_bad_file_is_one_line_naming_the_photo_and_the_field(content, message) -> None:
    with pytest.raises(CorrectionsError) as caught:
        parse(content)
    assert str(caught.value) == message
    assert "\n" not in str(caught.value)


def test_too_many_photos_or_boxes_are_refused(monkeypatch) -> None:
    monkeypatch.setattr(fixes, "MAX_PHOTOS", 2)
    three = {f"{i}.jpg": {} for i in range(3)}
    with pytest.raises(CorrectionsError, match=r"^photos: 3 photos, at most 2 in one file$"):
        parse(text({"version": 1, "photos": three}))
    two = parse(text({"version": 1, "photos": {"0.jpg": {}, "1.jpg": {}}}))
    with pytest.raises(CorrectionsError, match="3 photos corrected in this results folder"):
        fixes.merge(two, {"2.jpg": Entry()})
    monkeypatch.setattr(fixes, "MAX_BOXES", 1)
    box = {"x": 1, "y": 1, "w": 1, "h": 1}
    with pytest.raises(CorrectionsError, match=r"^photo 'a.jpg': add: 2 boxes, at most 1$"):
        parse(photo({"add": [box, box]}))


def test_merge_takes_the_newer_entry_of_a_photo_and_keeps_the_others() -> None:
    old = {"a.jpg": Entry(add=(Box(1, 1, 5, 5),)), "b.jpg": Entry(remove=(Box(2, 2, 5, 5),))}
    new = {"b.jpg": Entry(add=(Box(9, 9, 5, 5),)), "c.jpg": Entry(reviewed=True)}
    merged = fixes.merge(old, new)
    assert merged == {"a.jpg": old["a.jpg"], "b.jpg": new["b.jpg"], "c.jpg": new["c.jpg"]}
    assert list(merged) == ["a.jpg", "b.jpg", "c.jpg"]


def test_the_digest_follows_boxes_and_reviewed_not_notes_people_or_times() -> None:
    base = Entry(add=(Box(1, 2, 3, 4),), remove=(Box(5, 6, 7, 8),))
    same = Entry(add=(Box(1, 2, 3, 4, "a note"),), remove=(Box(5, 6, 7, 8),), by="x", at="2026")
    assert base.digest() == same.digest()
    assert len({
        base.digest(),
        Entry(add=(Box(1, 2, 3, 5),), remove=(Box(5, 6, 7, 8),)).digest(),
        Entry(add=(Box(1, 2, 3, 4),)).digest(),
        Entry(add=(Box(1, 2, 3, 4),), remove=(Box(5, 6, 7, 8),), reviewed=True).digest(),
        Entry(add=(Box(5, 6, 7, 8),), remove=(Box(1, 2, 3, 4),)).digest(),
    }) == 5  # fmt: skip
    assert fixes.digests({"a": base}) == {"a": base.digest()}


def test_a_videos_frames_are_read_kept_and_digested_and_a_photo_refuses_them() -> None:
    framed = {"x": 1, "y": 2, "w": 3, "h": 4, "from_frame": 5, "to_frame": 9}
    (entry,) = parse(photo({"add": [framed, {**framed, "to_frame": None}]}, "v.mp4")).values()
    assert entry.add == (Box(1, 2, 3, 4, from_frame=5, to_frame=9), Box(1, 2, 3, 4, from_frame=5))
    assert parse(fixes.to_json({"v.mp4": entry})) == {"v.mp4": entry}  # kept as given
    plain = Entry(add=(Box(1, 2, 3, 4),))
    assert plain.digest() == "5dc4052c1f6d54b3"  # as before videos: no photo is redone
    assert len({
        plain.digest(),
        Entry(add=(Box(1, 2, 3, 4, from_frame=0),)).digest(),
        Entry(add=(Box(1, 2, 3, 4, from_frame=0, to_frame=3),)).digest(),
        Entry(add=(Box(1, 2, 3, 4, to_frame=3),)).digest(),
    }) == 4  # fmt: skip
    assert fixes.photo_boxes(plain) == ([(1, 2, 3, 4)], [])
    with pytest.raises(CorrectionsError, match=r"^corrections: add\[0\]: from_frame/to_frame "
                       "apply to videos only$"):  # fmt: skip
        fixes.photo_boxes(entry)


def test_kept_with_the_results_once_per_file_and_merged(tmp_path: Path, monkeypatch) -> None:
    import itertools
    import types

    seconds = itertools.count()  # each file applied a second after the one before
    stamp = lambda fmt, t: f"20261206T1800{next(seconds):02d}Z"  # noqa: E731
    monkeypatch.setattr(fixes, "time", types.SimpleNamespace(strftime=stamp, gmtime=lambda: 0))
    results = Results(str(tmp_path / "out"))
    assert fixes.load(results) == {}
    first = text(GOOD).encode()
    merged = fixes.keep(results, first, parse(first))
    assert merged == parse(first) == fixes.load(results)
    fixes.keep(results, first, parse(first))  # the same file again: kept once
    history = sorted((tmp_path / "out/_corrections/history").iterdir())
    assert len(history) == 1 and history[0].read_bytes() == first
    digest = hashlib.sha256(first).hexdigest()[:16]
    assert history[0].name == f"20261206T180000Z-{digest}.json"
    second = photo({"add": [{"x": 3, "y": 3, "w": 9, "h": 9}]}, "c.jpg").encode()
    merged = fixes.keep(results, second, parse(second))
    assert sorted(merged) == ["b.png", "c.jpg", "trip/a.jpg"]
    assert fixes.load(results) == merged
    assert len(list((tmp_path / "out/_corrections/history").iterdir())) == 2
    current = tmp_path / "out/_corrections/current.json"
    assert current.read_text() == fixes.to_json(merged)


def test_a_damaged_current_file_names_itself(tmp_path: Path) -> None:
    results = Results(str(tmp_path))
    (tmp_path / "_corrections").mkdir()
    (tmp_path / "_corrections/current.json").write_text('{"version": 1, "photos": {"a": 1}}')
    with pytest.raises(CorrectionsError) as caught:
        fixes.load(results)
    assert str(caught.value) == (
        f"{tmp_path}/_corrections/current.json: photo 'a': must be an object with add, "
        "remove, by, at"
    )
