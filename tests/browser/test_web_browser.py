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
    assert any(phase in ("compacting the manifest and summing up", "writing the gallery")
               for _, _, phase in during), seen  # fmt: skip
    assert seen[-1][:2] == ("DONE", "2/2"), seen
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
    with urllib.request.urlopen(saves[0]) as r:
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
