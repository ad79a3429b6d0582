"""Folders in real headless Chromium: a gallery of 120 folders, some with hostile names, opened
from disk. The folder table pages through the list files, a chosen folder's name is text, and
the all-rows view runs folder after folder. Built on the driver (no Spark: milliseconds)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dataproc_faces.results.gallery import (
    FOLDERS_LISTED,
    PAGE_SIZE,
    folder_dir,
    folder_label,
    gallery_folder,
    write_gallery,
)
from dataproc_faces.results.layout import Results
from dataproc_faces.results.ledger import part_ids, write_part
from dataproc_faces.results.manifest import Summary
from dataproc_faces.storage.local import LocalStore
from tests.browser.cdp import Browser, open_browser
from tests.conftest import ROOT

SRC = "/data/in"
HOSTILE = [
    "<img src=x onerror=\"document.title='run'\">",
    "<script>document.title='run'",
    "\"quoted\" & 'single'",
    "caf\u00e9 \u65e5\u672c \U0001f600",
    "long-" + "x" * 400,
]
FOLDERS = [f"g{i:03d}" for i in range(115)] + HOSTILE
TOP = ["top-a.jpg", "top-b.jpg"]  # photos at the top: hashed shards, labelled as such


def row(folder: str, i: int) -> dict[str, Any]:
    return {
        "path": f"{SRC}/{folder}/p{i}.jpg", "status": "ok", "error": None, "width": 64,
        "height": 48, "format": "jpeg", "faces": [{"x": 1, "y": 1, "w": 8, "h": 8}] * (i % 3),
        "output": None, "thumbnail": None, "millis": 1.0, "runtime": "test",
    }  # fmt: skip


ALL = [row(f, i) for n, f in enumerate(FOLDERS) for i in range(1 + n % 4)]
ALL += [{**row("x", 0), "path": f"{SRC}/{name}"} for name in TOP]
ORDER = [  # folder by folder (by key), by name within each: the all-rows view's order
    r["path"][len(SRC) + 1 :]
    for r in sorted(ALL, key=lambda r: (gallery_folder(r["path"][9:], False), r["path"][9:]))
]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dst = tmp_path_factory.mktemp("folders") / "out"
    store = LocalStore(root=str(dst))
    states = [{"path": r["path"], "version": "1", "options": "x"} for r in ALL]
    write_part(store, Results(str(dst)), f"{1:020d}-t", ALL, states)
    summary = Summary.of(ALL, 1.0, input=SRC, output=str(dst), detector={"detector": "haar"})
    pids = sorted(part_ids(store, str(dst / Results.MANIFEST)))
    write_gallery(None, Results(str(dst)), pids, summary, rows=ALL)
    return dst


@pytest.fixture(scope="module")
def page(built: Path) -> Iterator[Browser]:
    dst = built
    with open_browser(ROOT / "test-artifacts" / "chromium-folders.log") as browser:
        browser.navigate((dst / Results.INDEX).as_uri())
        browser.wait_for("document.body.dataset.ready === '1'")
        yield browser


def table(page: Browser) -> list[list[str]]:
    return page.evaluate(
        "[...document.querySelectorAll('#folders tbody tr')].map(tr => "
        "[...tr.children].map(td => td.textContent))"
    )


def names(page: Browser) -> list[str]:
    return page.evaluate("[...document.querySelectorAll('#cards .card')].map(c => c.dataset.name)")


def test_the_folder_table_pages_through_every_folder_names_as_text(page: Browser) -> None:
    keys = sorted([*FOLDERS, *{gallery_folder(n, False) for n in TOP}])
    count = {
        f: sum(gallery_folder(r["path"][len(SRC) + 1 :], False) == f for r in ALL) for f in keys
    }
    assert [folder_label(k) for k in keys if "/" in k] == ["top level"]  # one folder, this small
    first = [[folder_label(k), str(count[k])] for k in keys[:FOLDERS_LISTED]]
    assert [r[:2] for r in table(page)] == first
    seen = [r[0] for r in table(page)]
    for n in (2, 3):
        page.evaluate("document.querySelectorAll('#folder-pager button')[1].click()")
        page.wait_for(f"document.body.dataset.folderPage === '{n}'")
        page.wait_for(f"document.querySelector('#folders tbody tr').textContent !== '{seen[-1]}'")
        seen += [r[0] for r in table(page)]
    assert seen == [folder_label(k) for k in keys]  # hostile names among them, as text
    assert page.evaluate("document.title") != "run" and page.problems() == []
    assert page.evaluate("document.querySelectorAll('#folders img, #folders script').length") == 0
    page.evaluate("document.querySelectorAll('#folder-pager button')[0].click()")
    page.wait_for("document.body.dataset.folderPage === '2'")
    shown = table(page)
    assert [r[0] for r in shown] == keys[FOLDERS_LISTED : 2 * FOLDERS_LISTED]  # no shards here
    # choosing cards (a new hash) leaves the folder table where the person put it
    page.evaluate("location.hash = 'page=3'")
    page.wait_for("document.body.dataset.ready === '1' && document.body.dataset.page === '3'")
    assert table(page) == shown and page.evaluate("document.body.dataset.folderPage") == "2"


@pytest.mark.parametrize("folder", HOSTILE)
def test_a_hostile_folder_chosen_shows_its_rows_and_its_name_as_text(
    page: Browser, folder: str
) -> None:
    page.evaluate(f"location.hash = 'folder={folder_dir(folder)}'")
    chosen = f"document.body.dataset.folder === {json.dumps(folder)}"
    page.wait_for(f"document.body.dataset.ready === '1' && {chosen}")
    assert page.evaluate("document.querySelector('#folder-chosen strong').textContent") == folder
    mine = sorted(
        r["path"][len(SRC) + 1 :] for r in ALL if r["path"].startswith(f"{SRC}/{folder}/")
    )
    assert names(page) == mine
    assert page.evaluate("document.title") != "run" and page.problems() == []


def test_a_folder_directory_that_is_not_plain_is_refused(page: Browser) -> None:
    page.evaluate("location.hash = 'folder=..%2F..%2Fx'")
    page.wait_for("document.body.dataset.ready === '1' && document.body.dataset.folder === ''")
    assert names(page) == ORDER[:PAGE_SIZE]


def test_the_all_rows_view_runs_folder_after_folder(page: Browser) -> None:
    page.evaluate("location.hash = 'page=2'")
    page.wait_for("document.body.dataset.ready === '1' && document.body.dataset.page === '2'")
    assert names(page) == ORDER[PAGE_SIZE : 2 * PAGE_SIZE]
    folders = {gallery_folder(n, False) for n in names(page)}
    assert len(folders) > 30  # one page spans many folders' page files
    assert page.problems() == []


def test_a_tampered_folder_entry_is_refused_not_followed(page: Browser, built: Path) -> None:
    """A list file whose entry names `../..` as a folder's directory: the page loads nothing
    from there and says the page could not be loaded."""
    listing = built / "gallery" / "list" / "1.js"
    kept = listing.read_text()
    first = folder_dir(sorted(FOLDERS)[0])
    try:
        listing.write_text(kept.replace(f'"d":"{first}"', '"d":"../../x"', 1))
        # a new document (the query makes it one): the list files are loaded again
        page.navigate((built / Results.INDEX).as_uri() + "?tampered")
        page.wait_for("document.body.dataset.ready === '1'")
        text = page.evaluate("document.getElementById('cards').textContent")
        assert text == "This page could not be loaded: a folder entry names no folder"
        sources = page.evaluate("[...document.scripts].filter(s => s.src).map(s => s.src)")
        assert sources and not any("/x/" in s or ".." in s for s in sources)
    finally:
        listing.write_text(kept)
