"""A headless Chromium driven over the DevTools protocol on a pipe: stdlib only.

`--remote-debugging-pipe` speaks CDP as NUL-terminated JSON on file descriptors 3 (commands in)
and 4 (replies and events out): no websocket client, no port, nothing listening on the network.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BINARIES = ("chromium", "chromium-browser", "google-chrome")
MISSING = (
    "Chromium is not installed: run `make test` (it installs Debian's chromium through "
    "scripts/system_deps.sh), or `apt-get install --no-install-recommends chromium "
    "fonts-liberation`, or set CHROMIUM=/path/to/chromium"
)

# No network, no profile state, root-friendly: what a sealed CI machine needs.
FLAGS = [
    "--headless",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--no-first-run",
    "--no-default-browser-check",
    "--hide-scrollbars",
    "--mute-audio",
    "--remote-debugging-pipe",
]


def find_chromium() -> str | None:
    """$CHROMIUM if set (None when it names no program), else the first browser on PATH."""
    if os.environ.get("CHROMIUM"):
        return shutil.which(os.environ["CHROMIUM"])
    return next((p for p in map(shutil.which, BINARIES) if p), None)


class CDPError(RuntimeError):
    pass


class Browser:
    """One Chromium process with one page attached; events are kept for the test to inspect."""

    def __init__(self, binary: str, log_path: Path, width: int = 1280, height: int = 900) -> None:
        self.profile = tempfile.mkdtemp(prefix="chromium-profile-")
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        flags = [*FLAGS, f"--user-data-dir={self.profile}", f"--window-size={width},{height}"]
        if os.geteuid() == 0:
            flags.append("--no-sandbox")  # Chromium refuses to run its sandbox as root
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in close()
        # bash moves the pipe ends to the descriptor numbers Chromium expects
        self.proc = subprocess.Popen(
            [
                "/bin/bash",  # dash takes only one-digit descriptor numbers
                "-c",
                f'exec "$0" "$@" 3<&{to_chrome_r} 4>&{from_chrome_w}',
                binary,
                *flags,
                "about:blank",
            ],
            pass_fds=(to_chrome_r, from_chrome_w),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._next_id = 0
        self._replies: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.events: list[dict[str, Any]] = []
        self.dialogs: list[str] = []
        self.session: str | None = None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._attach()

    # --- transport -------------------------------------------------------------------------
    def _read(self) -> None:
        buf = b""
        while True:
            try:
                chunk = os.read(self._from_chrome, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                for q in list(self._replies.values()):
                    q.put({"error": {"message": "browser closed the pipe"}})
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                self._dispatch(json.loads(raw))

    def _dispatch(self, msg: dict[str, Any]) -> None:
        if "id" in msg:
            q = self._replies.get(msg["id"])
            if q is not None:
                q.put(msg)
            return
        self.events.append(msg)
        if msg.get("method") == "Page.javascriptDialogOpening":
            # an alert() blocks the page: record it, then dismiss it so the test can go on
            self.dialogs.append(msg["params"].get("message", ""))
            self._send("Page.handleJavaScriptDialog", {"accept": False}, msg.get("sessionId"))

    def _send(self, method: str, params: dict[str, Any] | None, session: str | None) -> int:
        with self._lock:
            self._next_id += 1
            ident = self._next_id
            self._replies[ident] = queue.Queue()
            msg: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
            if session:
                msg["sessionId"] = session
            os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        return ident

    def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        timeout: float = 30,
        browser: bool = False,
    ) -> Any:
        """Send a command to the page (or to the browser itself) and wait for its reply."""
        ident = self._send(method, params, None if browser else self.session)
        try:
            reply = self._replies[ident].get(timeout=timeout)
        except queue.Empty:
            raise CDPError(f"{method}: no reply in {timeout} s") from None
        finally:
            self._replies.pop(ident, None)
        if "error" in reply:
            raise CDPError(f"{method}: {reply['error'].get('message')}")
        return reply.get("result", {})

    def _attach(self) -> None:
        deadline = time.monotonic() + 30
        while True:
            pages = [
                t for t in self.call("Target.getTargets")["targetInfos"] if t["type"] == "page"
            ]
            if pages or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        if not pages:
            raise CDPError("Chromium opened no page")
        self.session = self.call(
            "Target.attachToTarget", {"targetId": pages[0]["targetId"], "flatten": True}
        )["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")

    # --- page helpers ----------------------------------------------------------------------
    def navigate(self, url: str, timeout: float = 30) -> None:
        start = len(self.events)
        self.call("Page.navigate", {"url": url})
        self.wait_event("Page.loadEventFired", start, timeout)

    def wait_event(self, method: str, start: int = 0, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events[start:]:
                if event.get("method") == method:
                    return event
            time.sleep(0.05)
        raise CDPError(f"no {method} event in {timeout} s")

    def evaluate(self, expression: str, timeout: float = 30) -> Any:
        """The value of a JavaScript expression (promises awaited), as JSON-compatible data."""
        result = self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            timeout,
        )
        if "exceptionDetails" in result:
            raise CDPError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.05)
        raise CDPError(f"{expression!r} stayed false for {timeout} s")

    def problems(self) -> list[str]:
        """Console errors, uncaught exceptions and failed loads the page produced so far."""
        found = []
        for e in self.events:
            method, params = e.get("method"), e.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                found.append(f"exception: {details.get('exception', {}).get('description')}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                args = [a.get("value", a.get("description")) for a in params.get("args", [])]
                found.append(f"console.{params['type']}: {args}")
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                entry = params["entry"]
                found.append(f"log ({entry.get('source')}): {entry.get('text')} {entry.get('url')}")
        return found

    def screenshot(self, path: Path, full_page: bool = True) -> None:
        if full_page:
            size = self.call("Page.getLayoutMetrics")["cssContentSize"]
            self.call(
                "Emulation.setDeviceMetricsOverride",
                {
                    "width": round(size["width"]),
                    "height": round(size["height"]),
                    "deviceScaleFactor": 1,
                    "mobile": False,
                },
            )
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        path.write_bytes(base64.b64decode(data))
        if full_page:
            self.call("Emulation.clearDeviceMetricsOverride")

    def close(self) -> None:
        with contextlib.suppress(CDPError):
            self.call("Browser.close", timeout=5, browser=True)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # only the process this object started
            self.proc.wait()
        os.close(self._to_chrome)
        self._reader.join(timeout=5)
        os.close(self._from_chrome)
        self._log.close()
        shutil.rmtree(self.profile, ignore_errors=True)


@contextlib.contextmanager
def open_browser(log_path: Path) -> Iterator[Browser]:
    """A Browser for a test module, closed after it; no Chromium fails the test (never a skip)."""
    import pytest

    binary = find_chromium()
    if not binary:
        pytest.fail(MISSING, pytrace=False)
    log_path.parent.mkdir(exist_ok=True)
    browser = Browser(binary, log_path)
    try:
        yield browser
    finally:
        browser.close()
