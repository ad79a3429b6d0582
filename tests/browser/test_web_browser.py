"""The web page in a real headless Chromium, served by `dataproc-faces serve` (waitress): photos
chosen in the file input, uploaded, run on local Spark, and the finished run's gallery shown.
Screenshots go to test-artifacts/ (the README's comes from here)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.browser.cdp import Browser, CDPError, open_browser
from tests.conftest import ROOT, SAMPLES
from tests.e2e.conftest import free_port, wait_for_port

ARTIFACTS = ROOT / "test-artifacts"

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
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
        yield f"http://127.0.0.1:{port}"
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
    import time

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


def test_upload_run_and_gallery_through_the_page(server: str, browser: Browser) -> None:
    browser.call("Emulation.setDeviceMetricsOverride", {
        "width": 1100, "height": 800, "deviceScaleFactor": 1, "mobile": False})  # fmt: skip
    browser.navigate(f"{server}/")
    assert browser.evaluate("document.title") == "Upload and run - dataproc-faces"
    root = browser.call("DOM.getDocument")["root"]["nodeId"]
    node = browser.call("DOM.querySelector", {"nodeId": root, "selector": "#files"})["nodeId"]
    photos = [str(SAMPLES / "astronaut.png"), str(SAMPLES / "camera.png")]
    browser.call("DOM.setFileInputFiles", {"nodeId": node, "files": photos})
    browser.evaluate("document.querySelector('#batch').value = 'holiday'")
    assert browser.evaluate("document.querySelector('#files').files.length") == 2
    browser.screenshot(ARTIFACTS / "web-upload.png", full_page=False)

    _submit(browser, "#upload")
    heading = browser.evaluate("document.querySelector('h2').textContent")
    assert heading == "2 files uploaded to batch holiday"
    assert browser.evaluate("[...document.querySelectorAll('li')].map(li => li.textContent)") == [
        "astronaut.png",
        "camera.png",
    ]

    _submit(browser, "#run")  # the page's own button: run over this batch, default detector
    assert browser.evaluate("location.pathname").startswith("/runs/web-")
    _settled(browser, "document.querySelector('#gallery') !== null")
    assert browser.evaluate("document.querySelector('#state').textContent") == "DONE"
    assert browser.evaluate("document.querySelector('#progress').textContent") == "2/2"

    browser.navigate(f"{server}/runs")
    row = browser.evaluate(
        "[...document.querySelectorAll('#runs tr[data-run] td')].map(td => td.textContent.trim())"
    )
    assert row[1:3] == ["DONE", "2/2"]
    assert row[4].endswith("/input/holiday")
    browser.screenshot(ARTIFACTS / "web-runs.png", full_page=False)

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
    assert next(c for c in cards if c["name"] == "astronaut.png")["faces"] >= 1
    loaded = browser.evaluate("[...document.images].map(i => i.naturalWidth > 0)")
    assert loaded and all(loaded)  # thumbnails streamed through the app
    assert browser.problems() == []
    browser.screenshot(ARTIFACTS / "web-gallery.png", full_page=False)
