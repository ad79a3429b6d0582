"""The gallery page in a real headless Chromium, over a real local-Spark run of the job.

One run per module: good samples, a corrupt file, and valid images under hostile names
(`<script>alert(1)</script>.png`, an `<img onerror>` name, a name with `#`, `?`, `%`, quotes).
Chromium is required: when it is missing these tests fail and say how to install it.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dataproc_faces.results.gallery import gallery_folder, write_gallery
from dataproc_faces.results.layout import Results
from dataproc_faces.results.ledger import part_ids
from dataproc_faces.results.manifest import Summary, read_manifest
from dataproc_faces.storage.local import LocalStore
from tests.browser.cdp import Browser, open_browser
from tests.conftest import ROOT, SAMPLES

ARTIFACTS = ROOT / "test-artifacts"
SCRIPT_NAME = "<script>alert(1)</script>.png"  # a folder `<script>alert(1)<` and `script>.png`
IMG_NAME = "<img src=x onerror=alert(2)>.png"
ODD_NAME = "a #1 & 'b' \"c\" 50% ?.png"
BROKEN = "broken.jpg"

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def run_output(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The real CLI over a folder of good, corrupt and hostile-named inputs; (DST, stdout)."""
    src = tmp_path_factory.mktemp("gallery-in")
    for name in ("astronaut.png", "chelsea.png", "coffee.png"):
        shutil.copy(SAMPLES / name, src / name)
    (src / BROKEN).write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
    hostile = src / SCRIPT_NAME
    hostile.parent.mkdir(parents=True)
    shutil.copy(SAMPLES / "camera.png", hostile)
    shutil.copy(SAMPLES / "astronaut.png", src / IMG_NAME)
    shutil.copy(SAMPLES / "coffee.png", src / ODD_NAME)
    dst = tmp_path_factory.mktemp("gallery-out") / "out"
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    # a subprocess: the CLI stops its Spark session, which must not be a session other tests use
    command = [sys.executable, "-m", "dataproc_faces", "run", "--input", str(src)]
    done = subprocess.run(
        [*command, "--output", str(dst), "--master", "local[2]"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dst, done.stdout


@pytest.fixture(scope="module")
def manifest(run_output: tuple[Path, str]) -> list[dict[str, Any]]:
    return read_manifest(LocalStore(), str(run_output[0]))


@pytest.fixture(scope="module")
def summary(run_output: tuple[Path, str]) -> Summary:
    return Summary(**json.loads((run_output[0] / "summary.json").read_text()))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with open_browser(ARTIFACTS / "chromium.log") as b:
        yield b


@pytest.fixture(scope="module")
def page(browser: Browser, run_output: tuple[Path, str]) -> Browser:
    """The gallery loaded, rendered, and every thumbnail on the first page decoded."""
    browser.navigate((run_output[0] / Results.INDEX).as_uri())
    browser.wait_for("document.body.dataset.ready === '1'")
    browser.evaluate(
        "Promise.all([...document.images].map(i => i.complete ? 0 : new Promise(r => "
        "{ i.addEventListener('load', r); i.addEventListener('error', r); })))"
    )
    return browser


def cards(page: Browser) -> list[dict[str, Any]]:
    return page.evaluate(
        "[...document.querySelectorAll('#cards .card')].map(c => ({name: c.dataset.name, "
        "status: c.dataset.status, faces: +c.dataset.faces, text: c.innerText, "
        "visible: c.getBoundingClientRect().height > 0}))"
    )


def display(row: dict[str, Any], src_root: str) -> str:
    """The card's name: the row's path below the input (rows name local inputs so already)."""
    if "/" not in src_root:  # summary.json names a local input by its folder's name only
        return row["path"]
    return row["path"][len(src_root.rstrip("/")) + 1 :]


def test_cli_ends_with_the_gallery_path(run_output: tuple[Path, str]) -> None:
    dst, stdout = run_output
    index = dst / Results.INDEX
    assert index.is_file()
    assert stdout.strip().splitlines()[-1] == (
        f"dataproc-faces: gallery: {index} ({index.as_uri()})"
    )


def test_loads_without_console_errors(page: Browser) -> None:
    assert page.problems() == []
    assert page.dialogs == []


def test_one_card_per_input(page: Browser, manifest: list[dict[str, Any]], summary: Summary):
    found = cards(page)
    assert len(manifest) == summary.inputs == 7
    assert len(found) == len(manifest)
    assert sorted(c["name"] for c in found) == sorted(display(r, summary.input) for r in manifest)
    assert all(c["visible"] for c in found)


def test_counts_match_the_manifest(
    page: Browser, manifest: list[dict[str, Any]], summary: Summary
) -> None:
    by_name = {c["name"]: c for c in cards(page)}
    for row in manifest:
        card = by_name[display(row, summary.input)]
        assert card["status"] == row["status"]
        assert card["faces"] == len(row["faces"])
    stats = page.evaluate(
        "Object.fromEntries([...document.querySelectorAll('.stat')]"
        ".map(s => [s.dataset.stat, s.querySelector('dd').textContent]))"
    )
    faces = sum(len(r["faces"]) for r in manifest)
    errors = sum(r["status"] != "ok" for r in manifest)
    assert faces >= 2  # the astronaut twice: the counts below compare something
    assert stats["inputs"] == str(len(manifest))
    assert stats["faces"] == str(faces) == str(summary.faces)
    assert stats["errors"] == str(errors) == "1"
    assert (
        page.evaluate("document.getElementById('shown').textContent") == f"{len(manifest)} images"
    )


def test_error_row_is_visible_with_its_message(
    page: Browser, manifest: list[dict[str, Any]]
) -> None:
    (error,) = [r for r in manifest if r["status"] == "error"]
    assert error["path"].endswith(BROKEN) and error["error"]
    listed = page.evaluate(
        "[...document.querySelectorAll('#errors li')].map(li => ({text: li.innerText, "
        "visible: li.getBoundingClientRect().height > 0}))"
    )
    assert len(listed) == 1 and listed[0]["visible"]
    assert BROKEN in listed[0]["text"] and error["error"] in listed[0]["text"]
    (card,) = [c for c in cards(page) if c["status"] == "error"]
    assert card["visible"] and error["error"] in card["text"]


def test_hostile_file_names_are_shown_not_run(page: Browser) -> None:
    assert page.dialogs == []  # no alert(1) or alert(2) ever opened
    names = {c["name"] for c in cards(page)}
    assert {SCRIPT_NAME, IMG_NAME, ODD_NAME} <= names
    # only the page's own two inline scripts plus page files, and no markup from a file name
    assert page.evaluate("[...document.scripts].filter(s => !s.src).length") == 2
    sources = page.evaluate("[...document.scripts].filter(s => s.src).map(s => s.src)")
    base = page.evaluate("location.href.split('#')[0]").rsplit("/", 1)[0] + "/gallery/"
    assert sources[0] == base + "list/1.js" and len(sources) > 1
    assert all(  # the folder list, then the first page file of each folder the page shows
        re.fullmatch(re.escape(base) + r"folders/[A-Za-z0-9_-]+/name/1\.js", s) for s in sources[1:]
    )
    assert page.evaluate("document.querySelectorAll('#cards script, [onerror]').length") == 0
    text = page.evaluate("document.body.innerText")
    assert SCRIPT_NAME in text and IMG_NAME in text


def test_thumbnails_and_links_resolve(page: Browser, run_output: tuple[Path, str]) -> None:
    """Relative, percent-encoded links: `#`, `?`, `%` and `<` in names still find their files."""
    images = page.evaluate(
        "[...document.querySelectorAll('#cards img')].map(i => ({src: i.src, "
        "ok: i.complete && i.naturalWidth > 0, lazy: i.loading, "
        "href: i.closest('a').href}))"
    )
    assert len(images) == 6
    assert all(i["ok"] and i["lazy"] == "lazy" for i in images), images
    dst = run_output[0].as_uri()
    for i in images:
        assert i["src"].startswith(dst + "/thumbs/")
        assert i["href"].startswith(dst + "/images/")
    hrefs_ok = page.evaluate(
        "Promise.all([...document.querySelectorAll('#cards a.thumb')].map(a => new Promise(r => "
        "{ const im = new Image(); im.onload = () => r(im.naturalWidth > 0); "
        "im.onerror = () => r(false); im.src = a.href; })))"
    )
    assert hrefs_ok == [True] * 6


def test_filter_and_sort(page: Browser, manifest: list[dict[str, Any]]) -> None:
    def choose(select: str, value: str) -> None:
        page.evaluate(
            f"(() => {{ const s = document.getElementById('f-{select}'); s.value = '{value}'; "
            "s.dispatchEvent(new Event('change')); })()"
        )
        page.wait_for("document.body.dataset.ready === '1'")

    try:
        choose("status", "error")
        assert [c["status"] for c in cards(page)] == ["error"]
        choose("status", "all")
        choose("faces", "some")
        with_faces = sum(bool(r["faces"]) for r in manifest)
        assert len(cards(page)) == with_faces and all(c["faces"] for c in cards(page))
        choose("faces", "any")
        choose("sort", "faces-desc")
        counts = [c["faces"] for c in cards(page)]
        assert counts == sorted(counts, reverse=True)
        assert "sort=faces-desc" in page.evaluate("location.hash")
    finally:
        choose("sort", "name")
        choose("faces", "any")
        choose("status", "all")
    assert page.problems() == []


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from dataproc_faces import sparkenv

    session = sparkenv.session("local[2]")
    try:
        yield session
    finally:
        session.stop()


def test_pages_of_cards(
    browser: Browser,
    page: Browser,
    spark: Any,
    run_output: tuple[Path, str],
    manifest: list[dict[str, Any]],
    summary: Summary,
    tmp_path: Path,
) -> None:
    """The same rows at 3 cards a page from files of 2 rows: pages span page files."""
    dst = run_output[0]
    copy = tmp_path / "out"
    shutil.copytree(dst, copy)
    pids = sorted(part_ids(LocalStore(), str(copy / Results.MANIFEST)))
    moved = Summary(**{**summary.__dict__, "output": str(copy)})
    write_gallery(spark, Results(str(copy)), pids, moved, page_size=3, file_rows=2)
    browser.navigate((copy / Results.INDEX).as_uri())
    browser.wait_for("document.body.dataset.ready === '1'")
    pages = math.ceil(len(manifest) / 3)
    seen: list[str] = []
    for n in range(1, pages + 1):
        assert browser.evaluate("document.body.dataset.page") == str(n)
        assert f"page {n} of {pages}" in browser.evaluate(
            "document.querySelector('#gallery .pager').innerText"
        )
        seen += [c["name"] for c in cards(browser)]
        if n < pages:
            browser.evaluate("document.querySelectorAll('#gallery .pager button')[1].click()")
            browser.wait_for(
                f"document.body.dataset.ready === '1' && document.body.dataset.page === '{n + 1}'"
            )
    assert len(seen) == len(manifest) == len(set(seen))
    assert seen == sorted(seen, key=lambda n: (gallery_folder(n, False), n))  # folder, then name
    assert browser.problems() == []


def test_screenshot_is_saved(page: Browser, run_output: tuple[Path, str]) -> None:
    page.navigate((run_output[0] / Results.INDEX).as_uri())
    page.wait_for("document.body.dataset.ready === '1'")
    page.evaluate(
        "Promise.all([...document.images].map(i => i.complete ? 0 : new Promise(r => "
        "{ i.addEventListener('load', r); i.addEventListener('error', r); })))"
    )
    shot = ARTIFACTS / "gallery.png"
    shot.unlink(missing_ok=True)
    page.screenshot(shot)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    assert page.problems() == []
