"""What a listing costs the job's client per object: whole object resources against the partial
response the store asks for (`fields`), side by side in one run.

A local server answers the JSON API's object listing as Cloud Storage does (pages of 1,000, a
resource shaped like a real photo's, `fields` applied); the real google-cloud-storage client
lists through it. Printed: the client's CPU time per object (its thread's, the server's apart)
and the bytes per object on the wire. Cloud Storage's own time per page is not measured here.

    python -m bench.gcs_listing [--objects 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


def resource(i: int) -> dict[str, Any]:
    """An object resource as Cloud Storage returns it for a photo (no custom metadata)."""
    name = f"photos/f{i % 100:03d}/img-{i:07d}.jpg"
    gen = str(1733500000123456 + i)
    link = f"https://www.googleapis.com/storage/v1/b/bkt/o/{name.replace('/', '%2F')}"
    when = "2026-12-01T10:00:00.123Z"
    return {
        "kind": "storage#object", "id": f"bkt/{name}/{gen}", "selfLink": link,
        "mediaLink": f"https://storage.googleapis.com/download/storage/v1/b/bkt/o/{name}"
        f"?generation={gen}&alt=media",
        "name": name, "bucket": "bkt", "generation": gen, "metageneration": "1",
        "contentType": "image/jpeg", "storageClass": "STANDARD", "size": "2345678",
        "md5Hash": "1B2M2Y8AsgTpgAmY7PhCfg==", "crc32c": "AAAAAA==", "etag": "CKDz8t3j7oEDEAE=",
        "timeCreated": when, "updated": when, "timeStorageClassUpdated": when,
        "timeFinalized": when,
    }  # fmt: skip


def send_json(
    handler: BaseHTTPRequestHandler, body: dict[str, Any], sizes: list[int] | None = None
) -> None:
    """Answer 200 with `body` as JSON, its size appended to `sizes` first: once the client has
    the answer it may go on, and a count after the write could land in its next measurement."""
    data = json.dumps(body).encode()
    if sizes is not None:
        sizes.append(len(data))
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def serve(count: int) -> tuple[ThreadingHTTPServer, list[int]]:
    sent: list[int] = []

    class Listing(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            query = parse_qs(urlparse(self.path).query)
            start = int(query.get("pageToken", ["0"])[0])
            size = int(query.get("maxResults", ["1000"])[0])
            items = [resource(i) for i in range(start, min(count, start + size))]
            if "fields" in query:  # the store's fields name items' keys and nextPageToken
                keys = query["fields"][0].split("items(")[1].split(")")[0].split(",")
                items = [{k: o[k] for k in keys} for o in items]
            body: dict[str, Any] = {"kind": "storage#objects", "items": items}
            if start + size < count:
                body["nextPageToken"] = str(start + size)
            send_json(self, body, sent)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Listing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, sent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=100_000)
    args = parser.parse_args(argv)
    server, sent = serve(args.objects)
    os.environ["STORAGE_EMULATOR_HOST"] = f"http://127.0.0.1:{server.server_address[1]}"
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    from dataproc_faces.storage.gcs import WALKED

    client = storage.Client(project="bench", credentials=AnonymousCredentials())
    found = {}
    for label, fields in (("whole resources", None), ("fields=" + WALKED, WALKED)):
        sent.clear()
        cpu, wall = time.thread_time(), time.perf_counter()
        listing = client.list_blobs("bkt", prefix="photos/", page_size=1000, fields=fields)
        names = [(b.name, str(b.generation)) for b in listing]
        cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
        found[label] = names
        print(
            f"{label:50s} {len(names)} objects: client {cpu / len(names) * 1e6:5.2f} CPU-us per "
            f"object, {sum(sent) / len(names):6.0f} bytes per object ({wall:.2f} s wall)"
        )
    whole, partial = found.values()
    assert whole == partial, "the partial listing differs"
    server.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
