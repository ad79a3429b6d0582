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
from dataproc_faces.results.folders import folder_of
from dataproc_faces.results.gallery import (
    LIST_ROWS,
    TOP_ROWS,
    VIEWS,
    faces_key,
    folder_counts,
    folder_dir,
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
# Three folders and two photos at the top (a flat bucket's shards).
PARTS = [
    [row("p/z.jpg", 6), row("m.jpg", 0), error_row(f"{SRC}/p/y.jpg", "broken y", 1.0)],
    [row("a/a.jpg", 1), row("p/q.jpg", 2)],
    [error_row(f"{SRC}/a/c.jpg", "broken c", 1.0), row("k.jpg", 5)],
    [row("a/b.jpg", 0), row("p/r.jpg", 3)],
    [row("d/d.jpg", 2), error_row(f"{SRC}/d/e.jpg", "broken e", 1.0), row("d/f.jpg", 1)],
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
    """Every page file under gallery/, by (its key as the script loads it, number)."""
    found = {}
    for path in sorted((dst / "gallery").rglob("*.js")):
        text = path.read_text()
        key, number = path.parent.relative_to(dst / "gallery").as_posix(), int(path.stem)
        prefix = f'galleryPage("{key}",{number},'
        assert text.startswith(prefix) and text.endswith(");\n"), path
        found[key, number] = json.loads(text[len(prefix) : -3])
    return found


def expected_files(
    rows: list[dict[str, Any]], dst: Path, file_rows: int
) -> dict[tuple[str, int], list[dict[str, Any]]]:
    """Each folder's views by name (and `faces` by most faces), the merged most-faces list and
    the folder list: what a build from scratch must write."""
    cards = sorted((page_row(r, SRC, str(dst)) for r in rows), key=lambda r: r["n"])
    out: dict[tuple[str, int], list[dict[str, Any]]] = {}
    from dataproc_faces.results import gallery

    def folder(name: str) -> str:  # top-level photos: one folder until the collection is large
        flat = "/" not in name and len(rows) <= gallery.TOP_LEVEL_ROWS
        return "_top/all" if flat else folder_of(name)

    keys = sorted({folder(c["n"]) for c in cards})
    for key in keys:
        mine = [c for c in cards if folder(c["n"]) == key]
        views = {view: [r for r in mine if keep(r)] for view, keep in VIEWS.items()}
        views["faces"] = sorted(mine, key=faces_key)
        for view, held in views.items():
            for i in range(0, len(held), file_rows):
                out[f"folders/{folder_dir(key)}/{view}", i // file_rows + 1] = held[
                    i : i + file_rows
                ]
    top = sorted(cards, key=faces_key)[:TOP_ROWS]
    for i in range(0, len(top), file_rows):
        out["top/faces", i // file_rows + 1] = top[i : i + file_rows]
    entries = [
        {
            "k": k,
            "d": folder_dir(k),
            "c": folder_counts([c for c in cards if folder(c["n"]) == k]),
        }
        for k in keys
    ]
    for i in range(0, len(entries), LIST_ROWS):
        out["list", i // LIST_ROWS + 1] = entries[i : i + LIST_ROWS]
    return out


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


def test_every_folder_gets_every_view_in_page_files_of_file_rows_rows(
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
    a = f"folders/{folder_dir('a')}"
    assert files[f"{a}/name", 1][0] == {
        "n": "a/a.jpg", "s": "ok", "f": 1, "t": "thumbs/a/a.jpg.jpg", "o": "images/a/a.jpg",
        "e": None, "w": 64, "h": 48, "ms": 3.0,
    }  # fmt: skip
    assert [r["n"] for r in files[f"{a}/name", 1]] == ["a/a.jpg", "a/b.jpg"]
    assert [r["n"] for r in files[f"{a}/name", 2]] == ["a/c.jpg"]
    p = f"folders/{folder_dir('p')}"
    assert [r["n"] for r in files[f"{p}/faces", 1]] == ["p/z.jpg", "p/r.jpg"]
    assert [r["n"] for r in files["top/faces", 1]] == ["p/z.jpg", "k.jpg"]
    assert [e["k"] for e in files["list", 1]] == sorted(
        ["a", "d", "p", "_top/all"]  # the top level's photos: one folder in a small collection
    )

    page, data = index_data(dst)
    counts = {
        "name": 12, "ok": 9, "error": 3, "none": 2, "some": 7,
        "two": 5, "five": 2, "review": 3, "faces": 12, "found": 20,
    }  # fmt: skip
    assert data["counts"] == counts
    assert (data["pageSize"], data["fileRows"], data["dir"]) == (3, 2, "gallery")
    assert (data["folders"], data["top"], data["starts"]) == (4, 12, [dict.fromkeys(counts, 0)])
    assert (
        '<ul class="errors">'
        '<li><code class="path">a/c.jpg</code><span class="msg">broken c</span></li>'
        '<li><code class="path">d/e.jpg</code><span class="msg">broken e</span></li>'
        '<li><code class="path">p/y.jpg</code><span class="msg">broken y</span></li></ul>'
    ) in page
    assert "<title>Faces: 20 in 12 images</title>" in page
    assert (
        f'<tr data-folder="{folder_dir("a")}"><td><a href="#folder={folder_dir("a")}&amp;fi=1">'
        "a</a></td><td>3</td><td>1</td><td>1</td><td>1</td></tr>"
    ) in page  # after the top level's one folder
    assert ">top level</a></td><td>2</td>" in page

    js = [(u, t) for u, t in writes if u.endswith(".js")]
    assert sorted(u for u, _ in js) == sorted(
        str(dst / "gallery" / key / f"{n}.js") for key, n in files
    )
    assert {t for _, t in js} == {"text/javascript"}
    assert (uri, "text/html; charset=utf-8") in writes
    assert writes[-1][0] == str(dst / "gallery" / "folded.json")  # last: what is done

    ctx = spark.sparkContext
    # the part ids in name order, over min(parts, 4 x cores) tasks; one shuffle by folder
    assert ctx.parallelized == [(sorted(pids), 4)]
    assert [s for s in ctx.shuffles if s[0] == "groupByKey"] == [("groupByKey", 4)]
    assert not [s for s in ctx.shuffles if s[0].startswith("sort")]


def test_an_empty_run_writes_the_index_and_no_page_file(
    tmp_path: Path, writes: list[tuple[str, str | None]]
) -> None:
    dst = tmp_path / "out"
    dst.mkdir()
    spark = FakeSession(parallelism=2)
    write_gallery(spark, Results(str(dst)), [], summary(dst, []))
    assert page_files(dst) == {}
    assert spark.sparkContext.parallelized == []
    _, data = index_data(dst)
    assert data["counts"] == dict.fromkeys([*VIEWS, "faces", "found"], 0)
    assert [u for u, _ in writes if not u.endswith(".json")] == [str(dst / Results.INDEX)]


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
