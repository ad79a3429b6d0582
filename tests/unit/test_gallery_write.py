"""write_gallery's driver and executor code on the in-process stand-in for Spark: which page files
it writes with which rows, the index page beside them, and how it spreads the work.

The browser tests run the same function on real local Spark (seconds per run); here it takes
milliseconds, so every planted bug in the driver is checked against every page file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from dataproc_faces import storage
from dataproc_faces.results import layout
from dataproc_faces.results.gallery import (
    VIEWS,
    _write_page,
    faces_key,
    page_row,
    write_gallery,
)
from dataproc_faces.results.layout import Results
from dataproc_faces.results.ledger import write_part
from dataproc_faces.results.manifest import Summary, error_row
from dataproc_faces.storage.local import LocalStore
from tests.unit.fakespark import FakeSession

SRC = "/data/in"


def row(name: str, faces: int) -> dict[str, Any]:
    return {
        "path": f"{SRC}/{name}",
        "status": "ok",
        "error": None,
        "width": 64,
        "height": 48,
        "format": "jpeg",
        "faces": [{"x": 1, "y": 1, "w": 8, "h": 8}] * faces,
        "output": None,
        "thumbnail": None,
        "millis": 3.0,
        "runtime": "test",
    }


# Parts deliberately not in name order: the gallery sorts, the parts do not.
PARTS = [
    [row("z.jpg", 6), row("m.jpg", 0), error_row(f"{SRC}/y.jpg", "broken y", 1.0)],
    [row("a.jpg", 1), row("q.jpg", 2)],
    [error_row(f"{SRC}/c.jpg", "broken c", 1.0), row("k.jpg", 5)],
    [row("b.jpg", 0), row("r.jpg", 3)],
    [row("d.jpg", 2), error_row(f"{SRC}/e.jpg", "broken e", 1.0), row("f.jpg", 1)],
]
ALL = [r for part in PARTS for r in part]


class RecordingStore(LocalStore):
    def __init__(
        self, root: str, writes: list[tuple[str, str | None]], protect: Iterable[str] = ()
    ) -> None:
        super().__init__(root=root, protect=protect)
        self.writes = writes

    def write(self, uri: str, data: bytes, content_type: str | None = None) -> None:
        self.writes.append((uri, content_type))
        super().write(uri, data, content_type)


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str | None]]:
    found: list[tuple[str, str | None]] = []
    real = storage.store_for

    def store_for(uri: str, protect: Iterable[str] = ()) -> RecordingStore:
        assert isinstance(real(uri), LocalStore)  # refuses what the real one refuses
        return RecordingStore(uri, found, protect)

    monkeypatch.setattr(layout, "store_for", store_for)
    return found


def manifest(dst: Path, parts: list[list[dict[str, Any]]]) -> list[str]:
    store = LocalStore(root=str(dst))
    pids = [f"{n:020d}-test" for n in range(len(parts))]
    for pid, rows in zip(pids, parts, strict=True):
        write_part(store, Results(str(dst)), pid, rows, [])
    return pids


def summary(dst: Path, rows: list[dict[str, Any]]) -> Summary:
    return Summary.of(rows, 2.0, input=SRC, output=str(dst), detector={"detector": "haar"})


def page_files(dst: Path) -> dict[tuple[str, int], list[dict[str, Any]]]:
    found = {}
    for path in sorted((dst / "gallery").glob("*/*.js")):
        text = path.read_text()
        view, number = path.parent.name, int(path.stem)
        prefix = f'galleryPage("{view}",{number},'
        assert text.startswith(prefix) and text.endswith(");\n"), path
        found[view, number] = json.loads(text[len(prefix) : -3])
    return found


def expected_files(
    rows: list[dict[str, Any]], dst: Path, file_rows: int
) -> dict[tuple[str, int], list[dict[str, Any]]]:
    cards = sorted((page_row(r, SRC, str(dst)) for r in rows), key=lambda r: r["n"])
    views = {view: [r for r in cards if keep(r)] for view, keep in VIEWS.items()}
    views["faces"] = sorted(cards, key=faces_key)
    return {
        (view, i // file_rows + 1): held[i : i + file_rows]
        for view, held in views.items()
        for i in range(0, len(held), file_rows)
    }


def index_data(dst: Path) -> tuple[str, dict[str, Any]]:
    page = (dst / Results.INDEX).read_text()
    match = re.search(r'<script type="application/json" id="gallery-data">(.*?)</script>', page)
    assert match
    return page, json.loads(match.group(1))


def linked(r: dict[str, Any], dst: Path) -> dict[str, Any]:
    """`r` with its outlined copy and thumbnail under `dst`, as the job writes them."""
    if r["status"] != "ok":
        return r
    rel = r["path"][len(SRC) + 1 :]
    return {**r, "output": f"{dst}/images/{rel}", "thumbnail": f"{dst}/thumbs/{rel}.jpg"}


def test_every_view_is_written_in_page_files_of_file_rows_rows(
    tmp_path: Path, writes: list[tuple[str, str | None]]
) -> None:
    dst = tmp_path / "out"
    parts = [[linked(r, dst) for r in part] for part in PARTS]
    rows = [r for part in parts for r in part]
    pids = manifest(dst, parts)
    spark = FakeSession(parallelism=1)
    uri = write_gallery(
        spark, Results(str(dst)), pids, summary(dst, rows), page_size=3, file_rows=2
    )

    assert uri == str(dst / Results.INDEX)
    files = page_files(dst)
    assert files == expected_files(rows, dst, 2)
    # spot checks of the expectation itself
    assert files["name", 1][0] == {
        "n": "a.jpg", "s": "ok", "f": 1, "t": "thumbs/a.jpg.jpg", "o": "images/a.jpg",
        "e": None, "w": 64, "h": 48, "ms": 3.0,
    }  # fmt: skip
    assert [r["n"] for r in files["name", 1]] == ["a.jpg", "b.jpg"]
    assert [r["n"] for r in files["faces", 1]] == ["z.jpg", "k.jpg"]
    assert [r["n"] for r in files["error", 2]] == ["y.jpg"]
    assert ("five", 2) not in files and [r["n"] for r in files["five", 1]] == ["k.jpg", "z.jpg"]

    page, data = index_data(dst)
    assert data == {
        "pageSize": 3,
        "fileRows": 2,
        "counts": {
            "name": 12, "ok": 9, "error": 3, "none": 2, "some": 7,
            "two": 5, "five": 2, "review": 3, "faces": 12,
        },
        "dir": "gallery",
    }  # fmt: skip
    assert (
        '<ul class="errors">'
        '<li><code class="path">c.jpg</code><span class="msg">broken c</span></li>'
        '<li><code class="path">e.jpg</code><span class="msg">broken e</span></li>'
        '<li><code class="path">y.jpg</code><span class="msg">broken y</span></li></ul>'
    ) in page
    assert "<title>Faces: 20 in 12 images</title>" in page

    js = [(u, t) for u, t in writes if u.endswith(".js")]
    assert sorted(u for u, _ in js) == sorted(
        str(dst / "gallery" / view / f"{n}.js") for view, n in files
    )
    assert {t for _, t in js} == {"text/javascript"}
    assert writes[-1] == (uri, "text/html; charset=utf-8")

    ctx = spark.sparkContext
    # the part ids in name order, over min(parts, 4 x cores) tasks
    assert ctx.parallelized == [(sorted(pids), 4)]
    # page files grouped into at most 4 tasks per slice (52 rows // 2 + 8 views = 34 files > 16)
    assert [s for s in ctx.shuffles if s[0] == "groupByKey"] == [("groupByKey", 16)]


def test_few_page_files_are_written_by_as_many_tasks(
    tmp_path: Path, writes: list[tuple[str, str | None]]
) -> None:
    dst = tmp_path / "out"
    pids = manifest(dst, PARTS)
    spark = FakeSession(parallelism=1)
    write_gallery(spark, Results(str(dst)), pids, summary(dst, ALL))
    files = page_files(dst)
    assert files == expected_files(ALL, dst, 500)
    assert sorted(files) == [(v, 1) for v in sorted([*VIEWS, "faces"])]
    _, data = index_data(dst)
    assert (data["pageSize"], data["fileRows"]) == (100, 500)
    # 52 rows over the 8 views fill no file of 500: one file per view, 8 tasks
    groups = [s for s in spark.sparkContext.shuffles if s[0] == "groupByKey"]
    assert groups == [("groupByKey", 9)]


def test_one_part_is_one_slice(tmp_path: Path, writes: list[tuple[str, str | None]]) -> None:
    dst = tmp_path / "out"
    pids = manifest(dst, PARTS[:1])
    spark = FakeSession(parallelism=2)
    write_gallery(spark, Results(str(dst)), pids, summary(dst, PARTS[0]), file_rows=2)
    assert page_files(dst) == expected_files(PARTS[0], dst, 2)
    assert spark.sparkContext.parallelized == [(pids, 1)]
    groups = [s for s in spark.sparkContext.shuffles if s[0] == "groupByKey"]
    assert groups == [("groupByKey", 4)]


def test_more_parts_than_four_per_core_share_the_slices(
    tmp_path: Path, writes: list[tuple[str, str | None]]
) -> None:
    dst = tmp_path / "out"
    parts = [[row(f"{i:02d}.jpg", i % 3)] for i in range(9)]
    pids = manifest(dst, parts)
    spark = FakeSession(parallelism=2)
    rows = [r for p in parts for r in p]
    write_gallery(spark, Results(str(dst)), pids, summary(dst, rows), file_rows=2)
    assert page_files(dst) == expected_files(rows, dst, 2)
    assert spark.sparkContext.parallelized == [(pids, 8)]


def test_an_empty_run_writes_the_index_and_no_page_file(
    tmp_path: Path, writes: list[tuple[str, str | None]]
) -> None:
    dst = tmp_path / "out"
    dst.mkdir()
    spark = FakeSession(parallelism=2)
    write_gallery(spark, Results(str(dst)), [], summary(dst, []))
    assert page_files(dst) == {}
    assert spark.sparkContext.parallelized == [([], 1)]
    _, data = index_data(dst)
    assert data["counts"] == dict.fromkeys([*VIEWS, "faces"], 0)
    assert writes == [(str(dst / Results.INDEX), "text/html; charset=utf-8")]


def test_a_page_file_holds_its_rows_in_position_order_whatever_order_they_arrive_in(
    tmp_path: Path, writes: list[tuple[str, str | None]]
) -> None:
    rows = [(7, {"n": "c"}), (5, {"n": "a"}), (6, {"n": "b"})]
    assert _write_page(Results(str(tmp_path), SRC), ("two", 3), rows) == 1
    path = tmp_path / "gallery" / "two" / "3.js"
    assert path.read_text() == 'galleryPage("two",3,[{"n":"a"},{"n":"b"},{"n":"c"}]);\n'
    assert writes == [(str(path), "text/javascript")]


@pytest.mark.parametrize("file_rows", [2, 500])
def test_a_small_collection_gets_the_same_files_from_the_driver_alone(
    tmp_path: Path, writes: list[tuple[str, str | None]], file_rows: int
) -> None:
    from dataproc_faces.results.ledger import read_rows

    by_spark, by_driver = tmp_path / "spark", tmp_path / "driver"
    for dst in (by_spark, by_driver):
        parts = [[linked(r, dst) for r in part] for part in PARTS]
        rows = [r for part in parts for r in part]
        pids = manifest(dst, parts)
        spark = FakeSession(parallelism=1)
        given = list(read_rows(Results(str(dst)), pids)) if dst == by_driver else None
        write_gallery(spark, Results(str(dst)), pids, summary(dst, rows), 3, file_rows, rows=given)
        if dst == by_driver:
            assert spark.sparkContext.parallelized == spark.sparkContext.shuffles == []
    assert page_files(by_driver) == page_files(by_spark)
    assert page_files(by_driver) == expected_files(rows, by_driver, file_rows)
    spark_index = (by_spark / Results.INDEX).read_text().replace(str(by_spark), "DST")
    assert (by_driver / Results.INDEX).read_text().replace(str(by_driver), "DST") == spark_index
