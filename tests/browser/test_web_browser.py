"""The web page in a real headless Chromium, served by `dataproc-faces serve` (waitress): photos
chosen in the file input, checked before sending, uploaded, blurred on local Spark while the run
page follows its progress and phases, the zip downloaded and checked, the gallery shown, the batch
deleted. Screenshots go to test-artifacts/; `make screenshots` writes the README's
docs/images/web-*.png."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from dataproc_faces.detectors.base import PRIVACY_SCORES
from dataproc_faces.progress import PHASES
from tests.browser.cdp import Browser, CDPError, open_browser
from tests.conftest import ROOT, SAMPLES
from tests.e2e.conftest import free_port, wait_for_port

ARTIFACTS = ROOT / "test-artifacts"
# `make screenshots` points this at docs/images: the README's pictures of the page come from here.
PRIVACY = str(PRIVACY_SCORES["ensemble"])  # what choosing blur fills in for the default detector
SHOTS = Path(os.environ.get("DATAPROC_FACES_SCREENSHOTS") or ARTIFACTS)

pytestmark = pytest.mark.spark


@dataclass(frozen=True)
class Served:
    url: str
    data: Path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The real command on a free loopback port; stopped by its PID."""
    port = free_port()
    data = tmp_path_factory.mktemp("web-data")
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    log = (tmp_path_factory.mktemp("web-log") / "serve.log").open("wb")
    command = [sys.executable, "-m", "dataproc_faces", "serve", "--port", str(port)]
    proc = subprocess.Popen(
        [*command, "--data", str(data), "--master", "local[2]"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        wait_for_port(port, proc, timeout=60)
        yield Served(f"http://127.0.0.1:{port}", data)
    finally:
        proc.terminate()  # waitress stops; the server stops its runs' children
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with open_browser(ARTIFACTS / "chromium-web.log") as b:
        yield b


def _submit(browser: Browser, button: str) -> None:
    """Click a form's button and wait for the page it leads to."""
    start = len(browser.events)
    browser.evaluate(f"document.querySelector({button!r}).click()")
    browser.wait_event("Page.loadEventFired", start, timeout=60)


def _settled(browser: Browser, expression: str, timeout: float = 600) -> object:
    """Like wait_for, across the run page's own reloads (a reload can interrupt an evaluation)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = browser.evaluate(expression)
        except CDPError:
            value = None
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"{expression!r} stayed false for {timeout} s")


def _choose_files(browser: Browser, paths: list[Path]) -> None:
    root = browser.call("DOM.getDocument")["root"]["nodeId"]
    node = browser.call("DOM.querySelector", {"nodeId": root, "selector": "#files"})["nodeId"]
    browser.call("DOM.setFileInputFiles", {"nodeId": node, "files": [str(p) for p in paths]})


def _watch_run(browser: Browser, timeout: float = 600) -> list[tuple[str, str, str]]:
    """(state, progress, phase) as the run page shows them, each change once, until the
    finished run's links appear; read every 0.1 s while the page updates itself."""
    seen: list[tuple[str, str, str]] = []
    read = (
        "['#state', '#progress', '#phase'].map(s => document.querySelector(s)?.textContent"
        ".trim() ?? '').concat([document.querySelector('#gallery') ? 'done' : ''])"
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state, progress, phase, done = browser.evaluate(read)
        except CDPError:  # the page reloading at the end
            continue
        if not seen or seen[-1] != (state, progress, phase):
            seen.append((state, progress, phase))
        if done:
            return seen
        time.sleep(0.1)
    raise AssertionError(f"the run did not finish in {timeout} s; seen {seen}")


def _sharpness(image: np.ndarray, box: dict[str, int]) -> float:
    x, y, w, h = box["x"], box["y"], box["w"], box["h"]
    face = cv2.cvtColor(image[y : y + h, x : x + w], cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(face, cv2.CV_64F).var())


def test_upload_blur_watch_download_and_delete_through_the_page(
    server: Served, browser: Browser
) -> None:
    browser.call("Emulation.setDeviceMetricsOverride", {
        "width": 1100, "height": 800, "deviceScaleFactor": 1, "mobile": False})  # fmt: skip
    browser.navigate(f"{server.url}/")
    assert browser.evaluate("document.title") == "Upload and run - dataproc-faces"
    _choose_files(browser, [SAMPLES / "astronaut.png", SAMPLES / "camera.png"])

    # checked in the browser before sending: nothing leaves, the chosen files stay
    browser.evaluate("document.querySelector('#batch').value = 'beach day'")
    browser.evaluate("document.querySelector('#upload').click()")
    problems = browser.wait_for("document.querySelector('#upload-problems').textContent")
    assert "The batch name 'beach day' is not allowed" in problems
    assert browser.evaluate("location.pathname") == "/"
    assert browser.evaluate("document.querySelector('#files').files.length") == 2
    assert not (server.data / "input").exists() or not any((server.data / "input").iterdir())

    browser.screenshot(SHOTS / "web-upload.png", full_page=False)
    browser.evaluate("document.querySelector('#batch').value = 'holiday'")
    _submit(browser, "#upload")
    assert browser.evaluate("location.pathname") == "/batches/holiday"
    heading = browser.evaluate("document.querySelector('h2').textContent")
    assert heading == "2 files uploaded to batch holiday"
    names = browser.evaluate(
        "[...document.querySelectorAll('#names li')].map(li => li.textContent)"
    )
    assert names == ["astronaut.png", "camera.png"]

    # the mode, and the privacy threshold preselected for a mode that hides faces
    assert browser.evaluate("document.querySelector('#mode').value") == "outline"
    assert browser.evaluate("document.querySelector('#score_threshold').value") == ""
    browser.evaluate(
        "const m = document.querySelector('#mode'); m.value = 'blur';"
        "m.dispatchEvent(new Event('change'))"
    )
    assert browser.evaluate("document.querySelector('#score_threshold').value") == PRIVACY
    browser.screenshot(SHOTS / "web-options.png", full_page=False)
    unlabelled = browser.evaluate(
        "[...document.querySelectorAll('input:not([type=hidden]), select')]"
        ".filter(e => !e.labels.length).map(e => e.name)"
    )
    assert unlabelled == []

    _submit(browser, "#run")
    assert browser.evaluate("location.pathname").startswith("/runs/web-")
    seen = _watch_run(browser)
    print("run page showed", seen)
    browser.screenshot(SHOTS / "web-run.png", full_page=False)
    during = [s for s in seen if s[0] in ("QUEUED", "PENDING", "RUNNING")]
    assert len(set(during)) >= 2, seen  # the page moved while the run went on
    # the phases it showed, in the run's order (two photos compact and write their gallery
    # in less than the page's one-second poll, so whether it caught those is chance)
    order = ["starting", "processing", *PHASES.values()]
    shown_phases = [order.index(phase) for _, _, phase in during]
    assert shown_phases == sorted(shown_phases), seen
    assert seen[-1][:2] == ("DONE", "2/2"), seen
    api = browser.evaluate("document.querySelector('[data-api]').dataset.api")
    with urllib.request.urlopen(server.url + api) as r:  # what the page polls
        assert json.loads(r.read())["phase_text"] == PHASES["gallery"]  # the run's last phase
    shown = browser.evaluate(
        "Object.fromEntries([...document.querySelectorAll('#options dt')].map(dt => "
        "[dt.textContent, dt.nextElementSibling.textContent]))"
    )
    assert (shown["mode"], shown["threshold"], shown["mask"]) == ("blur", PRIVACY, "ellipse")

    href = browser.evaluate("document.querySelector('#download').href")
    with urllib.request.urlopen(href) as r:
        assert r.headers["Content-Type"] == "application/zip"
        archive = zipfile.ZipFile(io.BytesIO(r.read()))
    run_id = browser.evaluate("location.pathname").rsplit("/", 1)[1]
    inside = sorted(n.removeprefix(run_id + "/") for n in archive.namelist())
    images = ["images/astronaut.png", "images/camera.png"]
    assert [n for n in inside if n.startswith("images/")] == images
    assert "summary.json" in inside and any(n.startswith("manifest/") for n in inside)
    rows = [
        json.loads(line)
        for n in inside
        if n.startswith("manifest/")
        for line in archive.read(f"{run_id}/{n}").splitlines()
    ]
    astronaut = next(r for r in rows if r["path"].endswith("astronaut.png"))
    assert astronaut["faces"], "the astronaut's face was found"
    original = cv2.imread(str(SAMPLES / "astronaut.png"))
    blurred = cv2.imdecode(
        np.frombuffer(archive.read(f"{run_id}/images/astronaut.png"), np.uint8), cv2.IMREAD_COLOR
    )
    for face in astronaut["faces"]:
        assert _sharpness(blurred, face) < 0.2 * _sharpness(original, face), face

    browser.navigate(f"{server.url}/runs")
    row = browser.evaluate(
        "[...document.querySelectorAll('#runs tr[data-run] td')].map(td => td.textContent.trim())"
    )
    assert row[1:3] == ["DONE", "2/2"]
    assert row[4].endswith("/input/holiday")
    assert "blur" in row[5] and f"threshold {PRIVACY}" in row[5]
    browser.screenshot(SHOTS / "web-runs.png", full_page=False)

    _submit(browser, "a.gallery")
    browser.wait_for("document.body.dataset.ready === '1'", timeout=30)
    browser.evaluate(
        "Promise.all([...document.images].map(i => i.complete ? 0 : new Promise(r => "
        "{ i.addEventListener('load', r); i.addEventListener('error', r); })))"
    )
    cards = browser.evaluate(
        "[...document.querySelectorAll('#cards .card')].map(c => ({name: c.dataset.name, "
        "status: c.dataset.status, faces: +c.dataset.faces}))"
    )
    assert sorted(c["name"] for c in cards) == ["astronaut.png", "camera.png"]
    assert all(c["status"] == "ok" for c in cards)
    loaded = browser.evaluate("[...document.images].map(i => i.naturalWidth > 0)")
    assert loaded and all(loaded)  # thumbnails streamed through the app
    back = browser.evaluate("document.querySelector('#back-to-app a').getAttribute('href')")
    assert back == f"/runs/{run_id}"
    saves = browser.evaluate(
        "[...document.querySelectorAll('#cards a.save[download]')].map(a => a.href)"
    )
    assert sorted(saves) == [f"{server.url}/runs/{run_id}/files/{n}" for n in images]
    with urllib.request.urlopen(f"{server.url}/runs/{run_id}/files/{images[0]}") as r:
        assert r.read() == archive.read(f"{run_id}/{images[0]}")
    assert browser.problems() == []
    browser.screenshot(ARTIFACTS / "web-gallery.png", full_page=False)

    # refused by the server (a name already in the batch): said on the page, files kept
    browser.navigate(f"{server.url}/")
    _choose_files(browser, [SAMPLES / "camera.png"])
    browser.evaluate("document.querySelector('#batch').value = 'holiday'")
    browser.evaluate("document.querySelector('#upload').click()")
    problems = browser.wait_for("document.querySelector('#upload-problems').textContent")
    assert "camera.png is already in batch holiday" in problems
    assert browser.evaluate("document.querySelector('#files').files.length") == 1
    assert browser.evaluate("location.pathname") == "/"

    # delete the batch: asked first, then gone from the disk and the page
    browser.navigate(f"{server.url}/batches/holiday")
    _submit(browser, "#delete-batch")
    assert "Delete every uploaded file of batch holiday" in browser.evaluate(
        "document.querySelector('#question').textContent"
    )
    assert (server.data / "input" / "holiday" / "camera.png").is_file()
    _submit(browser, "#confirm")
    assert browser.evaluate("document.querySelector('#deleted').textContent") == (
        "Deleted batch holiday: 2 files."
    )
    assert not (server.data / "input" / "holiday").exists()


def test_the_page_reads_at_phone_width_and_works_from_the_keyboard(
    server: Served, browser: Browser
) -> None:
    browser.call("Emulation.setDeviceMetricsOverride", {
        "width": 420, "height": 860, "deviceScaleFactor": 1, "mobile": True})  # fmt: skip
    browser.navigate(f"{server.url}/")
    assert browser.evaluate("document.documentElement.scrollWidth") <= 420
    focusable = browser.evaluate(
        "[...document.querySelectorAll('a, button, input:not([type=hidden]), select')]"
        ".filter(e => e.tabIndex < 0).map(e => e.id || e.name)"
    )
    assert focusable == []  # every control is reached with Tab
    browser.evaluate("document.querySelector('#batch').focus()")
    assert browser.evaluate("document.activeElement.id") == "batch"
    browser.screenshot(ARTIFACTS / "web-phone.png", full_page=False)
    browser.call("Emulation.clearDeviceMetricsOverride")


# --- the review step ------------------------------------------------------------------------
MISSED = (90, 210, 14, 14)  # a face too small for the detector: the person draws it
# the apply's answer, once it has come
ANSWER = "(t => !t.startsWith('Sending') && t)(document.querySelector('#apply-status').textContent)"


def _review_photos(folder: Path) -> list[Path]:
    """street.png: a 22 px face found (small: needs a look) and a 14 px face missed;
    portrait.png: one clear face (nothing flagged); broken.jpg: a JPEG cut short (fails in the
    run, passes the upload's header check); IMG_0001.AAE: a phone's sidecar (skipped)."""
    from tests.unit.facegen import astronaut_source, paste_face, read_sample

    source = astronaut_source()
    street = cv2.resize(read_sample("coffee.png"), (480, 320))
    paste_face(street, source, 300, 100, 22)
    paste_face(street, source, *MISSED[:2], MISSED[2])
    portrait = cv2.resize(read_sample("chelsea.png"), (360, 300))
    paste_face(portrait, source, 130, 90, 80)
    cv2.imwrite(str(folder / "street.png"), street)
    cv2.imwrite(str(folder / "portrait.png"), portrait)
    jpeg = cv2.imencode(".jpg", portrait)[1].tobytes()
    (folder / "broken.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (folder / "IMG_0001.AAE").write_text("<plist></plist>")
    return [folder / n for n in ("street.png", "portrait.png", "broken.jpg", "IMG_0001.AAE")]


def _key(browser: Browser, key: str, code: str, vk: int, modifiers: int = 0) -> None:
    """A real key press (down and up) as the keyboard sends it."""
    text = {"text": key} if len(key) == 1 else {}
    for kind in ("keyDown", "keyUp"):
        event = {"type": kind, "key": key, "code": code, "windowsVirtualKeyCode": vk,
                 "modifiers": modifiers, **(text if kind == "keyDown" else {})}  # fmt: skip
        browser.call("Input.dispatchKeyEvent", event)


def _drag(browser: Browser, box: tuple[int, int, int, int]) -> None:
    """Draw `box` (photo pixels) with the mouse: press, move, release over the photo."""
    browser.evaluate("document.querySelector('#stage').scrollIntoView({block: 'center'})")
    r = browser.evaluate(
        "(() => { const r = document.querySelector('#boxes').getBoundingClientRect(); "
        "const p = document.querySelector('#boxes').viewBox.baseVal; "
        "return [r.left, r.top, r.width / p.width, r.height / p.height]; })()"
    )
    left, top, sx, sy = r
    x0, y0 = left + box[0] * sx, top + box[1] * sy
    x1, y1 = left + (box[0] + box[2]) * sx, top + (box[1] + box[3]) * sy
    steps = [("mousePressed", x0, y0), ("mouseMoved", (x0 + x1) / 2, (y0 + y1) / 2),
             ("mouseMoved", x1, y1), ("mouseReleased", x1, y1)]  # fmt: skip
    for kind, x, y in steps:
        browser.call("Input.dispatchMouseEvent", {
            "type": kind, "x": x, "y": y, "button": "left", "buttons": 0 if kind ==
            "mouseReleased" else 1, "clickCount": 1})  # fmt: skip


def _boxes(browser: Browser) -> list[dict]:
    return browser.evaluate(
        "[...document.querySelectorAll('#boxes g.box')].map(g => ({cls: g.getAttribute('class'),"
        " label: g.getAttribute('aria-label'), rect: ['x', 'y', 'width', 'height'].map(a => "
        "+g.querySelector('rect').getAttribute(a))}))"
    )


def _zip_of(browser: Browser) -> tuple[str, zipfile.ZipFile]:
    href = browser.evaluate("document.querySelector('#download').href")
    run_id = browser.evaluate("location.pathname").rsplit("/", 1)[1]
    with urllib.request.urlopen(href) as r:
        return run_id, zipfile.ZipFile(io.BytesIO(r.read()))


def _image(archive: zipfile.ZipFile, name: str) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(archive.read(name), np.uint8), cv2.IMREAD_COLOR)


def _rows(archive: zipfile.ZipFile, run_id: str) -> dict[str, dict]:
    rows = [json.loads(line) for n in archive.namelist() if n.startswith(f"{run_id}/manifest/")
            for line in archive.read(n).splitlines()]  # fmt: skip
    return {r["path"].rsplit("/", 1)[-1]: r for r in rows}


def test_review_add_a_missed_face_remove_a_false_one_apply_and_stop_a_run(
    server: Served, browser: Browser, tmp_path: Path
) -> None:
    browser.call("Emulation.setDeviceMetricsOverride", {
        "width": 1100, "height": 800, "deviceScaleFactor": 1, "mobile": False})  # fmt: skip
    photos = _review_photos(tmp_path)
    earlier = browser.problems()  # an earlier test's refused upload, for one
    browser.navigate(f"{server.url}/")
    _choose_files(browser, photos)
    browser.evaluate("document.querySelector('#batch').value = 'street'")
    _submit(browser, "#upload")
    assert browser.evaluate("document.querySelector('h2').textContent") == (
        "3 files uploaded to batch street"
    )
    assert "IMG_0001.AAE skipped: edit settings Apple Photos" in browser.evaluate(
        "document.querySelector('#skipped').textContent"
    )
    browser.evaluate(  # one network, which misses the 14 px face (the ensemble finds it weakly)
        "const m = document.querySelector('#mode'); m.value = 'blur';"
        "m.dispatchEvent(new Event('change'));"
        "const d = document.querySelector('#detector'); d.value = 'retinaface';"
        "d.dispatchEvent(new Event('change'))"
    )
    _submit(browser, "#run")
    _watch_run(browser)
    base_id = browser.evaluate("location.pathname").rsplit("/", 1)[1]
    assert browser.evaluate("document.querySelector('#state').textContent") == "DONE"
    assert browser.evaluate("document.querySelector('#failed').textContent").startswith(
        "1 of 3 inputs failed"
    )
    first_out = server.data / "results" / base_id / "images"
    before = {n: cv2.imread(str(first_out / n)) for n in ("street.png", "portrait.png")}

    # the review: the photo that needs a look comes first
    _submit(browser, "#review-link")
    browser.wait_for("document.querySelector('#viewer').hidden === false", timeout=30)
    browser.wait_for("document.querySelector('#photo').complete")
    assert browser.evaluate("document.querySelector('#photo-name').textContent") == (
        "1 of 2: street.png"
    )
    assert "small faces" in browser.evaluate("document.querySelector('#photo-reasons').textContent")
    assert browser.evaluate("document.querySelector('#counter').textContent").startswith(
        "0 reviewed / 1 to review"
    )
    found = _boxes(browser)
    assert len(found) == 1 and found[0]["cls"].split()[1] in ("found", "weak"), found
    assert browser.evaluate("document.querySelector('#failed-inputs').hidden") is False
    assert "broken.jpg" in browser.evaluate("document.querySelector('#failed-list').textContent")

    # before/after: the original is the page's own view
    browser.evaluate("document.querySelector('#toggle').click()")
    assert "/review/original/street.png" in browser.evaluate("document.querySelector('#photo').src")
    browser.evaluate("document.querySelector('#toggle').click()")

    # keyboard: add a box, move it, delete it again
    browser.evaluate("document.querySelector('#stage').focus()")
    _key(browser, "a", "KeyA", 65)
    added = [b for b in _boxes(browser) if "person" in b["cls"]]
    assert [b["rect"] for b in added] == [[220, 140, 40, 40]]  # the middle, an eighth of 320
    _key(browser, "ArrowRight", "ArrowRight", 39, modifiers=8)  # Shift: 10 px
    _key(browser, "ArrowDown", "ArrowDown", 40)
    assert [b["rect"] for b in _boxes(browser) if "person" in b["cls"]] == [[230, 141, 40, 40]]
    _key(browser, "+", "Equal", 187, modifiers=8)
    assert [b["rect"] for b in _boxes(browser) if "person" in b["cls"]] == [[230, 141, 42, 42]]
    assert "placed by you" in browser.evaluate("document.activeElement.getAttribute('aria-label')")
    _key(browser, "Delete", "Delete", 46)
    assert [b for b in _boxes(browser) if "person" in b["cls"]] == []

    # the mouse: draw a box over the missed face; mark the photo reviewed with the keyboard
    drawn = (MISSED[0] - 4, MISSED[1] - 4, MISSED[2] + 8, MISSED[3] + 8)
    _drag(browser, drawn)
    person = [b["rect"] for b in _boxes(browser) if "person" in b["cls"]]
    assert len(person) == 1 and all(
        abs(a - b) <= 1 for a, b in zip(person[0], drawn, strict=True)
    ), person
    drawn = tuple(person[0])
    _key(browser, "r", "KeyR", 82)
    assert browser.evaluate("document.querySelector('#mark-reviewed').getAttribute('aria-pressed')")
    browser.evaluate("document.querySelector('#counter').scrollIntoView()")
    browser.screenshot(SHOTS / "web-review.png", full_page=False)

    # the next photo: select its box with the mouse and delete it (not a face, say)
    _key(browser, "n", "KeyN", 78)
    assert browser.evaluate("document.querySelector('#photo-name').textContent") == (
        "2 of 2: portrait.png"
    )
    browser.evaluate(
        "document.querySelector('#boxes g.box').dispatchEvent(new PointerEvent('pointerdown', "
        "{bubbles: true}))"
    )
    browser.evaluate("document.querySelector('#delete-box').click()")
    assert [b["cls"].split()[1] for b in _boxes(browser)] == ["removed"]
    assert browser.evaluate("document.querySelector('#counter').textContent") == (
        "1 reviewed / 0 to review · 2 photos · 2 changed, not applied"
    )
    unlabelled = browser.evaluate(
        "[...document.querySelectorAll('#review button')].filter(b => !b.textContent.trim() && "
        "!b.getAttribute('aria-label')).length"
    )
    assert unlabelled == 0

    # phone width: the same view, nothing wider than the screen
    browser.call("Emulation.setDeviceMetricsOverride", {
        "width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True})  # fmt: skip
    assert browser.evaluate("document.documentElement.scrollWidth") <= 390
    stage = browser.evaluate("document.querySelector('#stage').getBoundingClientRect().width")
    assert 300 <= stage <= 390
    browser.evaluate("window.scrollTo(0, document.querySelector('#viewer').offsetTop)")
    browser.screenshot(SHOTS / "web-review-phone.png", full_page=False)
    browser.call("Emulation.setDeviceMetricsOverride", {
        "width": 1100, "height": 800, "deviceScaleFactor": 1, "mobile": False})  # fmt: skip

    # apply: the page follows the corrections run; the zip holds exactly those changes
    start = len(browser.events)
    browser.evaluate("document.querySelector('#apply').click()")
    message = browser.wait_for(ANSWER)
    assert message.startswith("Applying corrections to 2 photos: run web-"), message
    browser.wait_event("Page.loadEventFired", start, timeout=30)
    _watch_run(browser)
    assert browser.evaluate("document.querySelector('#state').textContent") == "DONE"
    fixed_id, archive = _zip_of(browser)
    assert fixed_id != base_id
    rows = _rows(archive, fixed_id)
    street, portrait = (_image(archive, f"{fixed_id}/images/{n}") for n in before)
    assert rows["street.png"]["faces"][-1] == {
        "x": drawn[0], "y": drawn[1], "w": drawn[2], "h": drawn[3], "by": "person"}  # fmt: skip
    assert [f["by"] for f in rows["street.png"]["faces"]] == ["detector", "person"]
    assert rows["portrait.png"]["faces"] == []
    assert rows["broken.jpg"]["status"] == "error"
    changed = np.argwhere((street != before["street.png"]).any(axis=2))
    assert len(changed), "the drawn box was hidden"
    x, y, w, h = drawn  # the mask reaches 1.3x the box around its centre
    assert changed[:, 1].min() >= x - 0.15 * w - 1 and changed[:, 1].max() <= x + 1.15 * w + 1
    assert changed[:, 0].min() >= y - 0.15 * h - 1 and changed[:, 0].max() <= y + 1.15 * h + 1
    assert np.array_equal(portrait, cv2.imread(str(photos[1])))  # the original where removed

    # a second apply with nothing new does nothing
    runs_before = browser.evaluate("fetch('/runs').then(r => r.text())").count("data-run=")
    _submit(browser, "#review-link")
    browser.wait_for("document.querySelector('#viewer').hidden === false", timeout=30)
    # the corrected photo not marked reviewed needs a look now; the reviewed one does not
    assert browser.evaluate("document.querySelector('#photo-name').textContent") == (
        "1 of 2: portrait.png"
    )
    assert [b["cls"].split()[1] for b in _boxes(browser)] == ["removed"]  # kept from the file
    _key(browser, "n", "KeyN", 78)
    kinds = [b["cls"].split()[1] for b in _boxes(browser)]
    assert kinds in (["found", "person"], ["weak", "person"]), kinds
    browser.evaluate("document.querySelector('#apply').click()")
    assert browser.wait_for(ANSWER) == (
        "Nothing new to apply: these corrections are applied already."
    )
    assert browser.evaluate("fetch('/runs').then(r => r.text())").count("data-run=") == runs_before
    assert browser.problems() == earlier

    # a run stopped from its page
    browser.navigate(f"{server.url}/batches/street")
    _submit(browser, "#run")
    _submit(browser, "#cancel")
    _settled(browser, "document.querySelector('#state')?.textContent === 'CANCELLED'", 120)
    assert browser.evaluate("document.querySelector('#message').textContent").startswith(
        "Stopped from the page"
    )
    assert browser.evaluate("document.querySelector('#cancel')") is None
