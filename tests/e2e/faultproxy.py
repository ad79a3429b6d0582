"""An HTTP proxy for tests that answers some Cloud Storage requests with 503/429 or drops them.

Stdlib only, one thread per connection. Faults are deterministic: of each HTTP method, every
`every`-th distinct request (method, path, object name) fails on its first attempt, the kind
cycling through FAULT_KINDS; its retry goes through. Paths containing `always_fail` fail every
time, to show what happens when retries run out. "drop-after" forwards the request to the
emulator and then hangs up without answering: the write happened but the client cannot know,
so it must retry it safely.
"""

from __future__ import annotations

import http.client
import re
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

FAULT_KINDS = ("503", "429", "drop-before", "drop-after")
_NAME_IN_BODY = re.compile(rb'"name":\s*"([^"]+)"')
_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "proxy-connection"}


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """Clients hanging up on a dropped request are expected here, not worth a traceback."""


class FaultProxy:
    def __init__(self, upstream_port: int, every: int = 3, always_fail: str = "always_fail"):
        self.upstream_port = upstream_port
        self.every = every
        self.always_fail = always_fail
        self.faults: Counter[str] = Counter()
        self.requests = 0
        self.log: list[tuple[str, str, str]] = []  # (kind, method, object or path)
        self._seen: dict[tuple[str, str, str], int] = {}
        self._distinct: Counter[str] = Counter()  # per method, so reads and writes both cycle
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                fault = proxy._decide(self.command, self.path, body)
                if fault in ("503", "429", "412"):
                    payload = b'{"error": {"code": %s, "message": "injected"}}' % fault.encode()
                    self.send_response(int(fault))
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                if fault == "drop-before":
                    self.close_connection = True
                    return
                status, headers, data = proxy._forward(self.command, self.path, self.headers, body)
                if fault == "drop-after":
                    self.close_connection = True
                    return
                self.send_response(status)
                for key, value in headers:
                    if key.lower() not in _HOP_HEADERS and key.lower() != "content-length":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _decide(self, method: str, path: str, body: bytes) -> str | None:
        found = _NAME_IN_BODY.search(body)
        name = found.group(1).decode() if found else ""
        key = (method, path.split("&upload_id")[0], name)
        with self._lock:
            self.requests += 1
            if self.always_fail in unquote(path) or self.always_fail in name:
                self.faults["always"] += 1
                return "503"
            attempt = self._seen.get(key)
            if attempt is None:
                index = self._distinct[method]
                self._distinct[method] += 1
                self._seen[key] = 1
                if index % self.every == 0:
                    kind = FAULT_KINDS[(index // self.every) % len(FAULT_KINDS)]
                    self.faults[kind] += 1
                    self.log.append((kind, method, name or unquote(path)))
                    return kind
            else:
                self._seen[key] = attempt + 1
            return None

    def _forward(
        self, method: str, path: str, headers: object, body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=60)
        try:
            sent = {k: v for k, v in headers.items() if k.lower() not in _HOP_HEADERS}  # type: ignore[attr-defined]
            conn.request(method, path, body=body or None, headers=sent)
            resp = conn.getresponse()
            return resp.status, resp.getheaders(), resp.read()
        finally:
            conn.close()
