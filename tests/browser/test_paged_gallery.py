"""A 20,000-row gallery in real headless Chromium, opened from disk: pages load on demand, and
filters and sorts work across every page and every folder from precomputed views; a folder
chosen in the folder list shows its own rows in every view.

The rows are generated (no thumbnails), written as manifest parts the way tasks write them, and
the page files are built by `write_gallery` on real local Spark.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dataproc_faces.results.gallery import FILE_ROWS, PAGE_SIZE, TOP_ROWS, folder_dir, write_gallery
from dataproc_faces.results.layout import Results
from dataproc_faces.results.ledger import part_ids, write_part
from dataproc_faces.results.manifest import Summary, error_row
from dataproc_faces.storage.local import LocalStore
from tests.browser.cdp import Browser, open_browser
from tests.conftest import ROOT, SAMPLES

pytestmark = pytest.mark.spark

ROWS = 20_000
SRC = "/data/in"


def row(i: int) -> dict[str, Any]:
    """Every 97th input failed; the others have i % 7 faces: all filters select something."""
    path = f"{SRC}/d{i % 10}/img-{i:05d}.jpg"
    if i % 97 == 0:
        return error_row(path, f"broken {i}", 1.0)
    return {
        "path": path,
        "status": "ok",
        "error": None,
        "width": 64,
        "height": 48,
        "format": "jpeg",
        "faces": [{"x": 1, "y": 1, "w": 8, "h": 8}] * (i % 7),
        "output": None,
        "thumbnail": None,
        "millis": 3.0,
        "runtime": "test",
        "review": (["small", "many"] if i % 13 == 0 else []) + ([HOSTILE] if i == 130 else []),
    }


HOSTILE = "<img src=x onerror=document.title='run'>"  # a tampered manifest's reason: text only
ALL = [row(i) for i in range(ROWS)]
UNTHUMBED = "d0/img-00010.jpg"  # the second card of the first page
NAMES = sorted(r["path"][len(SRC) + 1 :] for r in ALL)
ERRORS = sorted(r["path"][len(SRC) + 1 :] for r in ALL if r["status"] == "error")
LOOK = sorted(r["path"][len(SRC) + 1 :] for r in ALL if r["review"])  # errors too


@pytest.fixture(scope="module")
def gallery(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from dataproc_faces import sparkenv

    dst = tmp_path_factory.mktemp("paged") / "out"
    store = LocalStore(root=str(dst))
    # one card with its output image and no thumbnail, as --no-thumbnails writes it
    (dst / "images" / "d0").mkdir(parents=True)
    (dst / "images" / UNTHUMBED).write_bytes((SAMPLES / "camera.png").read_bytes())
    rows = [
        {**r, "output": f"{dst}/images/{UNTHUMBED}"} if r["path"].endswith(UNTHUMBED) else r
        for r in ALL
    ]
    for n, start in enumerate(range(0, ROWS, 2_000)):
        chunk = rows[start : start + 2_000]
        states = [{"path": r["path"], "version": "1", "options": "x"} for r in chunk]
        write_part(store, Results(str(dst)), f"{n:020d}-test", chunk, states)
    summary = Summary.of(ALL, 1.0, input=SRC, output=str(dst), detector={"detector": "haar"})
    spark = sparkenv.session("local[2]")
    try:
        pids = sorted(part_ids(store, str(dst / Results.MANIFEST)))
        write_gallery(spark, Results(str(dst)), pids, summary)
    finally:
        spark.stop()
    return dst


@pytest.fixture(scope="module")
def page(gallery: Path) -> Iterator[Browser]:
    with open_browser(ROOT / "test-artifacts" / "chromium-paged.log") as browser:
        browser.navigate((gallery / Results.INDEX).as_uri())
        browser.wait_for("document.body.dataset.ready === '1'")
        yield browser


def names(page: Browser) -> list[str]:
    return page.evaluate("[...document.querySelectorAll('#cards .card')].map(c => c.dataset.name)")


def faces(page: Browser) -> list[int]:
    return page.evaluate(
        "[...document.querySelectorAll('#cards .card')].map(c => +c.dataset.faces)"
    )


def show(page: Browser, status: str = "all", faces: str = "any", sort: str = "name") -> None:
    """Choose filters and sort as a person would, and wait for the page to be drawn."""
    page.evaluate(
        "(() => { for (const [k, v] of Object.entries("
        f"{{status: '{status}', faces: '{faces}', sort: '{sort}'}})) {{"
        "const s = document.getElementById('f-' + k); s.value = v; "
        "s.dispatchEvent(new Event('change')); } })()"
    )
    page.wait_for("document.body.dataset.ready === '1'")


def go_to(page: Browser, n: int) -> None:
    """The hash of page `n` with every other choice kept (filters, sort, folder)."""
    page.evaluate(
        "(() => { const p = new URLSearchParams(location.hash.slice(1)); "
        f"p.set('page', '{n}'); location.hash = p.toString(); }})()"
    )
    page.wait_for(f"document.body.dataset.ready === '1' && document.body.dataset.page === '{n}'")


def scripts(page: Browser) -> list[str]:
    return page.evaluate(
        "[...document.scripts].filter(s => s.src).map(s => s.src.split('/gallery/')[1])"
    )


D0 = f"folders/{folder_dir('d0')}"


def test_the_first_view_loads_the_small_index_the_folder_list_and_one_page_file(
    gallery: Path, page: Browser
) -> None:
    assert (gallery / Results.INDEX).stat().st_size < 40_000  # no rows in it
    assert scripts(page) == ["list/1.js", f"{D0}/name/1.js"]
    assert names(page) == NAMES[:PAGE_SIZE]
    assert f"page 1 of {ROWS // PAGE_SIZE}" in page.evaluate(
        "document.querySelector('#gallery .pager').innerText"
    )
    assert page.evaluate("document.getElementById('shown').textContent") == "20000 images"
    assert page.problems() == []


def test_any_page_loads_only_the_file_that_holds_it(page: Browser) -> None:
    go_to(page, 137)  # rows 13,600-13,699: folder d6's rows 1,600-1,699, in its page file 4
    assert names(page) == NAMES[13_600:13_700]
    assert scripts(page)[-1] == f"folders/{folder_dir('d6')}/name/{1_600 // FILE_ROWS + 1}.js"
    go_to(page, 21)  # rows 2,000-2,099: the first of folder d1
    assert names(page) == NAMES[2_000:2_100]
    go_to(page, ROWS // PAGE_SIZE)
    assert names(page) == NAMES[-PAGE_SIZE:]
    assert page.problems() == []


def test_the_error_filter_spans_every_page(page: Browser) -> None:
    show(page, status="error")
    assert names(page) == ERRORS[:PAGE_SIZE]
    pages = int(page.evaluate("document.body.dataset.pages"))
    assert pages == -(-len(ERRORS) // PAGE_SIZE) == 3
    go_to(page, 3)
    assert names(page) == ERRORS[2 * PAGE_SIZE :]
    show(page)


def test_most_faces_first_across_pages_and_face_filters(page: Browser) -> None:
    counts = sorted((len(r["faces"]) for r in ALL), reverse=True)
    show(page, sort="faces-desc")
    assert faces(page) == counts[:PAGE_SIZE] == [6] * PAGE_SIZE
    # over every folder, the merged list of the TOP_ROWS rows with most faces
    last = TOP_ROWS // PAGE_SIZE
    assert page.evaluate("document.body.dataset.pages") == str(last)
    assert page.evaluate("document.getElementById('shown').textContent") == (
        f"{TOP_ROWS} of 20000 images (the {TOP_ROWS} with most faces of 20000)"
    )
    go_to(page, last)
    assert faces(page) == counts[TOP_ROWS - PAGE_SIZE : TOP_ROWS]
    show(page, faces="five", sort="faces-desc")
    five = sum(c >= 5 for c in counts)
    assert five > TOP_ROWS
    assert page.evaluate("document.getElementById('shown').textContent") == (
        f"{TOP_ROWS} of 20000 images (the {TOP_ROWS} with most faces of {five})"
    )
    assert all(f >= 5 for f in faces(page))
    show(page, faces="none")
    expected = [
        n
        for n, r in sorted((r["path"][9:], r) for r in ALL)
        if r["status"] == "ok" and not r["faces"]
    ]
    assert names(page) == expected[:PAGE_SIZE]
    show(page)


def test_errors_first_runs_from_the_error_view_into_the_ok_view(page: Browser) -> None:
    show(page, sort="status")
    boundary = len(ERRORS) // PAGE_SIZE + 1  # the page where errors end and ok rows begin
    go_to(page, boundary)
    shown = names(page)
    tail = ERRORS[(boundary - 1) * PAGE_SIZE :]
    oks = [n for n in NAMES if n not in set(ERRORS)]
    assert shown == tail + oks[: PAGE_SIZE - len(tail)]
    assert page.problems() == []
    show(page)


def test_a_card_without_a_thumbnail_shows_the_output_image(page: Browser) -> None:
    show(page)
    go_to(page, 1)
    found = page.evaluate(
        "[...document.querySelectorAll('#cards .card')].slice(0, 2).map(c => "
        "[c.dataset.name, c.querySelector('img') && c.querySelector('img').getAttribute('src')])"
    )
    assert found == [["d0/img-00000.jpg", None], [UNTHUMBED, f"images/{UNTHUMBED}"]]
    assert page.problems() == []


def test_needs_a_look_spans_every_page_and_says_why(page: Browser) -> None:
    show(page, status="review")
    assert names(page) == LOOK[:PAGE_SIZE]
    pages = int(page.evaluate("document.body.dataset.pages"))
    assert pages == -(-len(LOOK) // PAGE_SIZE) > 1
    assert page.evaluate("document.getElementById('shown').textContent") == (
        f"{len(LOOK)} of 20000 images"
    )
    disabled = "['f-faces', 'f-sort'].map(k => document.getElementById(k).disabled)"
    assert page.evaluate(disabled) == [True, True]  # the view is by name, of every face count
    go_to(page, pages)
    assert names(page) == LOOK[(pages - 1) * PAGE_SIZE :]
    go_to(page, 1)
    looks = page.evaluate(
        "[...document.querySelectorAll('#cards .card')].map(c => "
        "[c.dataset.name, c.querySelector('.look') && c.querySelector('.look').textContent])"
    )
    reasons = {r["path"][len(SRC) + 1 :]: r["review"] for r in ALL}
    assert looks == [[n, "look: " + ", ".join(reasons[n])] for n in LOOK[:PAGE_SIZE]]
    assert "look: small, many, " + HOSTILE in [t for _, t in looks]
    assert page.evaluate("document.title") != "run" and page.problems() == []
    show(page)
    assert page.evaluate("document.getElementById('f-faces').disabled") is False


def choose_folder(page: Browser, key: str) -> None:
    """Click the folder's link in the folder list, as a person would."""
    page.evaluate(
        "[...document.querySelectorAll('#folders tbody a')]"
        f".find(a => a.textContent === '{key}').click()"
    )
    page.wait_for(
        f"document.body.dataset.ready === '1' && document.body.dataset.folder === '{key}'"
    )


def test_the_folder_list_shows_each_folders_counts(page: Browser) -> None:
    table = page.evaluate(
        "[...document.querySelectorAll('#folders tbody tr')].map(tr => "
        "[...tr.children].map(td => td.textContent))"
    )
    expected = []
    for d in range(10):
        mine = [r for r in ALL if r["path"].startswith(f"{SRC}/d{d}/")]
        expected.append([
            f"d{d}", str(len(mine)), str(sum(len(r["faces"]) for r in mine)),
            str(sum(r["status"] != "ok" for r in mine)), str(sum(bool(r["review"]) for r in mine)),
        ])  # fmt: skip
    assert table == expected
    assert sum(int(row[1]) for row in table) == ROWS


def test_a_chosen_folder_shows_its_own_rows_in_every_view(page: Browser) -> None:
    show(page)
    choose_folder(page, "d3")
    mine = [r for r in ALL if r["path"].startswith(f"{SRC}/d3/")]
    mine_names = sorted(r["path"][len(SRC) + 1 :] for r in mine)
    assert names(page) == mine_names[:PAGE_SIZE]
    assert page.evaluate("document.getElementById('shown').textContent") == (
        f"{len(mine)} images in this folder"
    )
    assert page.evaluate("location.hash").startswith(f"#folder={folder_dir('d3')}&fi=3")
    # most faces in one folder: all of its rows, not a merged top
    show(page, sort="faces-desc")
    pages = int(page.evaluate("document.body.dataset.pages"))
    assert pages == -(-len(mine) // PAGE_SIZE)
    go_to(page, pages)
    want = sorted((len(r["faces"]) for r in mine), reverse=True)
    assert faces(page) == want[(pages - 1) * PAGE_SIZE :]
    show(page, status="error")
    assert names(page) == sorted(r["path"][len(SRC) + 1 :] for r in mine if r["status"] == "error")
    # a bookmark with a stale position still finds the folder by its directory
    page.evaluate(f"location.hash = 'folder={folder_dir('d7')}&fi=0'")
    page.wait_for("document.body.dataset.ready === '1' && document.body.dataset.folder === 'd7'")
    assert names(page)[0].startswith("d7/")
    page.evaluate("document.getElementById('f-all').click()")
    page.wait_for("document.body.dataset.ready === '1' && document.body.dataset.folder === ''")
    assert names(page) == NAMES[:PAGE_SIZE] or names(page)[0] == ERRORS[0]
    show(page)
    assert names(page) == NAMES[:PAGE_SIZE] and page.problems() == []
