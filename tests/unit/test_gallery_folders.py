"""Per-folder gallery pages: an incremental run rewrites only the folders it touched, a
forgotten photo leaves its folder and the merged lists, the merged lists equal a full sort's
first rows, the folder counts add up to the totals, and folder names are data.

On the in-process Spark stand-in and on the driver path (milliseconds each).
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest

from dataproc_faces.results.forget import forget
from dataproc_faces.results.gallery import (
    ERRORS_LISTED,
    VIEWS,
    _folder_views,
    faces_key,
    folder_dir,
    folder_label,
    gallery_folder,
    page_row,
    update_folder,
)
from dataproc_faces.results.gallery import write_gallery as build
from dataproc_faces.results.layout import Results
from dataproc_faces.results.ledger import read_rows, write_part
from dataproc_faces.results.manifest import error_row
from dataproc_faces.storage.local import LocalStore
from tests.unit.fakespark import FakeSession
from tests.unit.test_gallery_write import (
    SRC,
    expected_files,
    index_data,
    page_files,
    row,
    summary,
)
from tests.unit.test_gallery_write import writes as writes  # a fixture


def add_part(dst: Path, pid: str, rows: list[dict[str, Any]]) -> None:
    states = [{"path": r["path"], "version": "1", "options": "k"} for r in rows]
    write_part(LocalStore(root=str(dst)), Results(str(dst), SRC), pid, rows, states)


def all_rows(dst: Path, pids: list[str]) -> list[dict[str, Any]]:
    there = [p for p in pids if (dst / "manifest" / f"part-{p}.json").exists()]  # forgotten
    return list(read_rows(Results(str(dst)), there))


def gallery(dst: Path, pids: list[str], driver: bool, **kw: Any) -> None:
    pids = [p for p in pids if (dst / "manifest" / f"part-{p}.json").exists()]  # forgotten
    rows = all_rows(dst, pids)
    given = rows if driver else None
    build(FakeSession(parallelism=2), Results(str(dst), SRC), pids, summary(dst, rows),
          file_rows=2, rows=given, **kw)  # fmt: skip


def snapshot(dst: Path) -> dict[str, bytes]:
    return {p.relative_to(dst).as_posix(): p.read_bytes() for p in dst.rglob("*") if p.is_file()}


FOLDERS = {"A": 5, "B": 4, "C": 3}


def collection(dst: Path) -> list[str]:
    pids = []
    for n, (folder, count) in enumerate(FOLDERS.items()):
        rows = [row(f"{folder}/{i}.jpg", (i * 3 + n) % 7) for i in range(count)]
        rows.append(error_row(f"{SRC}/{folder}/broken.jpg", f"bad {folder}", 1.0))
        pid = f"{n:020d}-base"
        add_part(dst, pid, rows)
        pids.append(pid)
    return pids


@pytest.mark.parametrize("driver", [True, False])
def test_adding_photos_to_one_folder_rewrites_only_its_pages_and_the_index(
    tmp_path: Path, writes: list[tuple[str, str | None]], driver: bool
) -> None:
    dst = tmp_path / "out"
    pids = collection(dst)
    gallery(dst, pids, driver)
    before = snapshot(dst)
    writes.clear()

    add_part(dst, f"{9:020d}-new", [row("C/new-1.jpg", 9), row("C/new-2.jpg", 0)])
    pids = [*pids, f"{9:020d}-new"]
    gallery(dst, pids, driver)

    c = f"gallery/folders/{folder_dir('C')}/"
    written = sorted({Path(u).relative_to(dst).as_posix() for u, _ in writes})
    outside = [w for w in written if not w.startswith(c) and not w.startswith("manifest/")]
    outside = [w for w in outside if not w.startswith("_state/")]
    # the folder list (C's counts), the merged most-faces list (a 9-face photo goes first,
    # so every file of it moves by one row), the state
    assert [w for w in outside if not w.startswith("gallery/top/faces/")] == [
        "gallery/folded.json", "gallery/folders.json", "gallery/list/1.js", "gallery/top.json",
        "index.html",
    ]  # fmt: skip
    assert "gallery/top/faces/1.js" in outside
    assert any(w.startswith(c + "name/") for w in written)
    after = snapshot(dst)
    for folder in ("A", "B"):
        mine = f"gallery/folders/{folder_dir(folder)}/"
        assert {k: v for k, v in after.items() if k.startswith(mine)} == {
            k: v for k, v in before.items() if k.startswith(mine)
        }
        assert any(k.startswith(mine) for k in before)
    # and what an incremental run wrote is what a build from scratch writes
    assert page_files(dst) == expected_files(all_rows(dst, pids), dst, 2)
    writes.clear()
    gallery(dst, pids, driver)  # nothing new: no page file is written again
    assert [u for u, _ in writes if u.endswith(".js")] == []


@pytest.mark.parametrize("driver", [True, False])
def test_photos_redone_in_place_show_their_new_cards_in_the_merged_lists_and_the_index(
    tmp_path: Path, writes: list[tuple[str, str | None]], driver: bool
) -> None:
    """Cards replaced without moving (same faces, status, review flag) are rewritten from the
    folder's index; the merged most-faces list and the index's errors take them in place."""
    dst = tmp_path / "out"
    pids = collection(dst)
    gallery(dst, pids, driver)
    writes.clear()
    redone = [
        {**row("B/2.jpg", (2 * 3 + 1) % 7), "millis": 99.0},
        error_row(f"{SRC}/B/broken.jpg", "still bad B", 1.0),
    ]
    add_part(dst, f"{9:020d}-again", redone)
    pids = [*pids, f"{9:020d}-again"]
    gallery(dst, pids, driver)
    b = f"gallery/folders/{folder_dir('B')}/"
    written = {Path(u).relative_to(dst).as_posix() for u, _ in writes}
    assert not any(w.startswith(b) and w.endswith("folder.json") for w in written)  # in place
    live = {r["path"]: r for r in all_rows(dst, pids)}  # the newer part's rows win
    assert page_files(dst) == expected_files(list(live.values()), dst, 2)
    page, _ = index_data(dst)
    assert "still bad B" in page and ">bad B<" not in page and "bad A" in page


@pytest.mark.parametrize("driver", [True, False])
def test_a_forgotten_photo_leaves_its_folder_and_the_merged_lists(
    tmp_path: Path, driver: bool
) -> None:
    dst = tmp_path / "out"
    pids = collection(dst)
    add_part(dst, f"{8:020d}-x", [row("B/most.jpg", 40)])
    pids.append(f"{8:020d}-x")
    gallery(dst, pids, driver)
    a_before = {k: v for k, v in snapshot(dst).items() if folder_dir("A") in k}
    assert page_files(dst)["top/faces", 1][0]["n"] == "B/most.jpg"

    results = Results(str(dst), SRC)
    assert forget(results, [f"{SRC}/B/most.jpg", f"{SRC}/B/broken.jpg"]) == 2
    gallery(dst, pids, driver)

    files = page_files(dst)
    shown = {r["n"] for rows in files.values() for r in rows if "n" in r}
    assert "B/most.jpg" not in shown and "B/broken.jpg" not in shown
    assert files == expected_files(all_rows(dst, pids), dst, 2)
    page, data = index_data(dst)
    assert data["counts"]["name"] == sum(FOLDERS.values()) + 3 - 1
    assert "bad B" not in page and "bad A" in page
    assert {k: v for k, v in snapshot(dst).items() if folder_dir("A") in k} == a_before
    assert not (dst / "gallery" / "forgotten").exists() or not any(
        (dst / "gallery" / "forgotten").iterdir()
    )


def test_a_folder_whose_photos_are_all_forgotten_is_gone(tmp_path: Path) -> None:
    dst = tmp_path / "out"
    pids = collection(dst)
    gallery(dst, pids, True)
    gone = [f"{SRC}/C/{i}.jpg" for i in range(FOLDERS["C"])] + [f"{SRC}/C/broken.jpg"]
    forget(Results(str(dst), SRC), gone)
    gallery(dst, pids, True)
    assert not list((dst / "gallery" / "folders" / folder_dir("C")).rglob("*.js"))
    _, data = index_data(dst)
    assert data["folders"] == 2
    assert [e["k"] for e in page_files(dst)["list", 1]] == ["A", "B"]


@pytest.mark.parametrize("seed", range(12))
def test_merged_lists_equal_a_full_sorts_first_rows_through_adds_and_forgets(
    tmp_path: Path, seed: int
) -> None:
    rnd = random.Random(seed)
    dst = tmp_path / "out"
    top = rnd.choice([1, 3, 7, 20])
    folders = [f"f{i}" for i in range(rnd.randint(1, 6))] + ["flat"]
    live: dict[str, dict[str, Any]] = {}
    pids: list[str] = []
    for step in range(6):
        batch = []
        for i in range(rnd.randint(0, 12)):
            where = rnd.choice(folders)
            name = f"{where}/s{step}-{i}.jpg" if where != "flat" else f"s{step}-{i}.jpg"
            if rnd.random() < 0.15:
                r = error_row(f"{SRC}/{name}", f"bad {name}", 1.0)
            else:
                r = row(name, rnd.choice([0, 0, 1, 2, 3, 5, 8]))
            batch.append(r)
        if live and rnd.random() < 0.5:  # an overwrite: a photo done before, a new result
            old = rnd.choice(sorted(live))
            batch.append(row(old[len(SRC) + 1 :], rnd.randint(0, 9)))
        if batch:
            pid = f"{step:020d}-{seed}"
            add_part(dst, pid, batch)
            pids.append(pid)
            live.update({r["path"]: r for r in batch})
        if live and rnd.random() < 0.6:  # the feed's deletes, the best rows as often as not
            ranked = sorted(live, key=lambda p: -len(live[p]["faces"]))
            gone = set(rnd.sample(ranked, min(len(ranked), rnd.randint(1, 4))))
            gone |= set(ranked[: rnd.randint(0, 2)])
            forget(Results(str(dst), SRC), sorted(gone))
            for p in gone:
                live.pop(p)
        # the ledger's compaction: a part keeps only rows no newer part has
        newest = {r["path"]: pid for pid in pids for r in all_rows(dst, [pid])}
        for pid in pids:
            rows = [r for r in all_rows(dst, [pid]) if newest[r["path"]] == pid]
            if rows:
                add_part(dst, pid, rows)
        pids = [p for p in pids if (dst / "manifest" / f"part-{p}.json").exists()]
        gallery(dst, pids, driver=rnd.random() < 0.5, top_rows=top)

        cards = [page_row(r, SRC, str(dst)) for r in live.values()]
        files = page_files(dst)
        merged = [r for n in range(1, 99) for r in files.get(("top/faces", n), [])]
        assert merged == sorted(cards, key=faces_key)[:top], (seed, step)
        errors = sorted(
            (c for c in cards if c["s"] != "ok"),
            key=lambda c: (gallery_folder(c["n"], False), c["n"]),
        )[:ERRORS_LISTED]
        page, data = index_data(dst)
        listed = re.findall(r'<code class="path">([^<]*)</code>', page)
        assert listed == [c["n"] for c in errors]
        # the folder counts add up to the collection's totals
        entries = [e for n in range(1, 99) for e in files.get(("list", n), [])]
        assert sum(e["c"]["name"] for e in entries) == len(live) == data["counts"]["name"]
        assert sum(e["c"]["found"] for e in entries) == sum(len(r["faces"]) for r in live.values())
        assert sum(e["c"]["error"] for e in entries) == sum(
            r["status"] != "ok" for r in live.values()
        )
        mine = {k: v for k, v in files.items() if k[0] != "top/faces"}
        want = expected_files(list(live.values()), dst, 2)
        assert mine == {k: v for k, v in want.items() if k[0] != "top/faces"}


HOSTILE = [
    "<script>alert(1)",  # a folder name has no '/': the script tag is never closed
    "<img src=x onerror=alert(2)>",
    "a\"b'c",
    "..",
    "%2e%2e",
    "caf\u00e9 \u65e5\u672c \U0001f600",
    "x" * 300,
    "&amp;",
    "_started_x",
]


def test_hostile_folder_names_are_plain_segments_and_escaped_text(tmp_path: Path) -> None:
    dst = tmp_path / "out"
    rows = [row(f"{name}/p.jpg", 1) for name in HOSTILE]
    add_part(dst, f"{1:020d}-h", rows)
    gallery(dst, [f"{1:020d}-h"], True)
    dirs = sorted(p.name for p in (dst / "gallery" / "folders").iterdir())
    assert len(dirs) == len(HOSTILE) == len(set(dirs))
    assert all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}-[0-9a-f]{12}", d) for d in dirs)
    assert all(len(d) <= 53 for d in dirs)
    assert {p.resolve().parent for p in (dst / "gallery" / "folders").iterdir()} == {
        (dst / "gallery" / "folders").resolve()
    }
    page, data = index_data(dst)
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)</a>" in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(2)&gt;" in page
    assert "a&quot;b&#x27;c" in page and "&amp;amp;" in page
    text = (dst / "gallery" / "list" / "1.js").read_text()
    assert "<" not in text and "\\u003cscript\\u003e" in text
    entries = page_files(dst)["list", 1]
    assert sorted(e["k"] for e in entries) == sorted(HOSTILE)
    assert data["folders"] == len(HOSTILE)
    for e in entries:
        files = page_files(dst)
        assert [r["n"] for r in files[f"folders/{e['d']}/name", 1]] == [e["k"] + "/p.jpg"]


def test_the_flat_top_of_a_large_bucket_spreads_over_shards(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("dataproc_faces.results.gallery.TOP_LEVEL_ROWS", 30)
    dst = tmp_path / "out"
    rows = [row(f"img-{i}.jpg", 0) for i in range(40)]
    add_part(dst, f"{1:020d}-f", rows)
    gallery(dst, [f"{1:020d}-f"], True)
    keys = [e["k"] for e in page_files(dst)["list", 1]]
    assert len(keys) > 20 and all(k.startswith("_top/") and k != "_top/all" for k in keys)
    assert json.loads((dst / "gallery" / "folders.json").read_text())["folders"].keys() == set(keys)


@pytest.mark.parametrize("driver", [True, False])
def test_a_small_top_level_is_one_folder_in_name_order_until_the_collection_grows(
    tmp_path: Path, monkeypatch, driver: bool
) -> None:
    monkeypatch.setattr("dataproc_faces.results.gallery.TOP_LEVEL_ROWS", 30)
    dst = tmp_path / "out"
    names = [f"img-{i:02d}.jpg" for i in range(25)]
    add_part(dst, f"{1:020d}-f", [row(n, 0) for n in reversed(names)])
    add_part(dst, f"{2:020d}-g", [row("A/a.jpg", 1)])
    gallery(dst, [f"{1:020d}-f", f"{2:020d}-g"], driver)
    (top,) = [e for e in page_files(dst)["list", 1] if e["k"] != "A"]
    assert (top["k"], folder_label(top["k"])) == ("_top/all", "top level")
    shown = [
        r["n"]
        for n in range(1, 14)
        for r in page_files(dst).get((f"folders/{top['d']}/name", n), [])
    ]
    assert shown == names  # the newcomer's flat folder: one folder, by name
    # past the bound the same photos move to the listing's shards: one full build, nothing left
    add_part(dst, f"{3:020d}-h", [row(f"more-{i}.jpg", 0) for i in range(10)])
    gallery(dst, [f"{1:020d}-f", f"{2:020d}-g", f"{3:020d}-h"], driver)
    keys = set(json.loads((dst / "gallery" / "folders.json").read_text())["folders"])
    assert "_top/all" not in keys and "A" in keys and len(keys) > 20
    left = dst / "gallery" / "folders" / top["d"]
    assert not [p for p in left.rglob("*") if p.is_file()]


def test_a_forget_without_a_run_refreshes_the_gallery_and_its_totals(tmp_path: Path) -> None:
    from dataproc_faces.results.gallery import refresh

    dst = tmp_path / "out"
    pids = collection(dst)
    rows = all_rows(dst, pids)
    results = Results(str(dst), SRC)
    assert refresh(results) is False  # no gallery yet: nothing to refresh, nothing written
    assert not (dst / "index.html").exists()
    summary(dst, rows).write(results)
    gallery(dst, pids, True)
    a_before = {k: v for k, v in snapshot(dst).items() if folder_dir("A") in k}
    forget(results, [f"{SRC}/B/0.jpg", f"{SRC}/B/broken.jpg"])
    assert refresh(results) is True
    shown = {r["n"] for rows in page_files(dst).values() for r in rows if "n" in r}
    assert "B/0.jpg" not in shown and "B/broken.jpg" not in shown and "B/1.jpg" in shown
    page, data = index_data(dst)
    left = all_rows(dst, pids)
    assert data["counts"]["name"] == len(left) == len(rows) - 2
    faces = sum(len(r["faces"]) for r in left)
    assert f"<title>Faces: {faces} in {len(left)} images</title>" in page
    assert {k: v for k, v in snapshot(dst).items() if folder_dir("A") in k} == a_before


def test_an_older_layouts_pages_are_replaced_and_a_damaged_state_rebuilds(tmp_path: Path) -> None:
    dst = tmp_path / "out"
    pids = collection(dst)
    for view, n in (("name", 1), ("name", 7), ("faces", 1), ("error", 2)):
        path = dst / "gallery" / view / f"{n}.js"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f'galleryPage("{view}",{n},[]);\n')
    gallery(dst, pids, False)
    want = expected_files(all_rows(dst, pids), dst, 2)
    assert page_files(dst) == want  # the old gallery/<view>/ files are gone
    (dst / "gallery" / "folders.json").write_text("{not json")
    (dst / "gallery" / "folders" / folder_dir("B") / "name" / "1.js").write_text("damaged")
    gallery(dst, pids, True)
    assert page_files(dst) == want


@pytest.mark.parametrize(("bound", "by_driver"), [(6, True), (5, False), (1, False), (0, False)])
def test_new_rows_whose_folders_fit_the_drivers_bound_are_placed_by_the_driver(
    tmp_path: Path, bound: int, by_driver: bool
) -> None:
    """Past the small-collection path (no rows given), two new rows into folder C (4 rows):
    the driver reads 6 rows, so it does the work itself from a bound of 6, and the files are
    exactly the Spark path's."""
    built: dict[str, Path] = {}
    for how, limit in (("spark", 0), ("bounded", bound)):
        dst = built.setdefault(how, tmp_path / how)
        pids = collection(dst)
        gallery(dst, pids, driver=False)
        add_part(dst, f"{9:020d}-new", [row("C/new-1.jpg", 9), row("C/new-2.jpg", 0)])
        pids = [*pids, f"{9:020d}-new"]
        spark = FakeSession(parallelism=2)
        rows = all_rows(dst, pids)
        build(spark, Results(str(dst), SRC), pids, summary(dst, rows), file_rows=2, bound=limit)
        if how == "bounded":
            assert (spark.sparkContext.parallelized == []) == by_driver
            # past the bound, the new rows the driver read are handed to the folders' tasks:
            # no second read of the parts, no shuffle
            shuffled = [op for op, _ in spark.sparkContext.shuffles]
            assert shuffled == ([] if by_driver or bound >= 2 else ["groupByKey"])
            if not by_driver and bound >= 2:
                ((groups, _),) = spark.sparkContext.parallelized
                assert [(k, [c["n"] for c in cards]) for k, cards in groups] == [
                    ("C", ["C/new-1.jpg", "C/new-2.jpg"])
                ]
        assert page_files(dst) == expected_files(rows, dst, 2)
    spark_index = (built["spark"] / Results.INDEX).read_text().replace(str(built["spark"]), "D")
    index = (built["bounded"] / Results.INDEX).read_text().replace(str(built["bounded"]), "D")
    assert index == spark_index
    assert page_files(built["bounded"]) == page_files(built["spark"])


def folder_files(dst: Path, key: str) -> dict[str, bytes]:
    mine = dst / "gallery" / "folders" / folder_dir(key)
    return {p.relative_to(mine).as_posix(): p.read_bytes() for p in mine.rglob("*") if p.is_file()}


def twelve(dst: Path) -> list[dict[str, Any]]:
    """A/00..A/11, i % 3 faces each, as cards: A/05 has 2 faces."""
    return [page_row(row(f"A/{i:02d}.jpg", i % 3), SRC, str(dst)) for i in range(12)]


def test_a_changed_photo_rewrites_only_the_page_files_that_show_it(
    tmp_path: Path, writes: list[tuple[str, str | None]]
) -> None:
    dst, again = tmp_path / "out", tmp_path / "again"
    cards = twelve(dst)
    update_folder(Results(str(dst), SRC), "A", cards, [], True, 2)
    writes.clear()

    changed = {**cards[5], "ms": 99.0}  # same views, another card
    update_folder(Results(str(dst), SRC), "A", [changed], [], False, 2)

    mine = dst / "gallery" / "folders" / folder_dir("A")
    pages = sorted(Path(u).relative_to(mine).as_posix() for u, _ in writes if u.endswith(".js"))
    # two rows a file: A/05 is 6th by name (all ok), 4th with faces, 2nd with two or more faces
    # and 2nd by most faces (A/02, A/05, A/08, A/11 have two)
    assert pages == ["faces/1.js", "name/3.js", "ok/3.js", "some/2.js", "two/1.js"]
    final = [changed if c["n"] == "A/05.jpg" else c for c in cards]
    update_folder(Results(str(again), SRC), "A", final, [], True, 2)
    assert folder_files(dst, "A") == folder_files(again, "A")  # as a build from scratch

    writes.clear()
    update_folder(Results(str(dst), SRC), "A", [changed], [], False, 2)
    assert [u for u, _ in writes if u.endswith(".js")] == []


def test_after_an_update_killed_among_its_pages_every_page_is_written_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dst, again = tmp_path / "out", tmp_path / "again"
    cards = twelve(dst)
    update_folder(Results(str(dst), SRC), "A", cards, [], True, 2)
    real = LocalStore.write
    pages: list[str] = []

    def killed(self: LocalStore, uri: str, data: bytes, content_type: str | None = None) -> None:
        if uri.endswith(".js"):
            pages.append(uri)
            if len(pages) == 2:
                raise KeyboardInterrupt  # the run is killed after one page of five
        real(self, uri, data, content_type)

    monkeypatch.setattr(LocalStore, "write", killed)
    with pytest.raises(KeyboardInterrupt):
        update_folder(Results(str(dst), SRC), "A", [{**cards[5], "ms": 99.0}], [], False, 2)
    monkeypatch.setattr(LocalStore, "write", real)
    assert b"99.0" in Path(pages[0]).read_bytes()  # a page shows the change, the rows do not

    # the next run puts the photo back as it was: the rows file is unchanged by that, yet the
    # page the killed run wrote must be written again
    update_folder(Results(str(dst), SRC), "A", [cards[5]], [], False, 2)
    update_folder(Results(str(again), SRC), "A", cards, [], True, 2)
    assert folder_files(dst, "A") == folder_files(again, "A")


def test_a_folders_views_in_one_pass_equal_a_filter_per_view_and_a_sort_by_faces() -> None:
    """Cards alike in status and faces but not in the review flag go to different views."""
    rng = random.Random(7)
    cards = [
        {
            "n": f"p{i:03d}.jpg",
            "s": rng.choice(["ok", "ok", "error"]),
            "f": rng.choice([0, 1, 2, 5, 6]),
        }
        | ({"r": ["weak"]} if rng.random() < 0.3 else {})
        for i in range(300)
    ]
    views = _folder_views(cards)
    assert {v: views[v] for v in VIEWS} == {
        v: [c for c in cards if keep(c)] for v, keep in VIEWS.items()
    }
    assert views["faces"] == sorted(cards, key=faces_key)
    assert 0 < len(views["review"]) < len([c for c in cards if c["s"] == "ok"])
