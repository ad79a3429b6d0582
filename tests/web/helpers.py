"""Small helpers shared by the web tests: images with chosen headers, the form token, waiting."""

from __future__ import annotations

import io
import re
import struct
import time
import zipfile
import zlib
from typing import Any

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares width x height and holds no pixels: a decompression bomb's header."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def zip_of(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def token(client: Any) -> str:
    """The page's form token (the session cookie stays in the client)."""
    page = client.get("/").get_data(as_text=True)
    found = TOKEN.search(page)
    assert found, "the upload page carries no form token"
    return found.group(1)


def wait_run(get_json: Any, run_id: str, deadline_s: float = 600) -> dict[str, Any]:
    """Poll a run until it ends; the deadline only stops a hung run from hanging the suite."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        run = get_json(run_id)
        if not run["active"]:
            return run
        time.sleep(0.5)
    raise AssertionError(f"run {run_id} still active after {deadline_s} s")
