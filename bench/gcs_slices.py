"""A flat bucket prefix listed by the driver page by page against in slices by the executors
(ranges.py), side by side in one run, through the real client and the job's own code.

A local server answers Cloud Storage's objects.list for one flat prefix of generated names:
pages of 1,000, `pageToken`, `startOffset` and `endOffset`, the fields the store asks for, and a
fixed wait per page (`--page-ms`: Cloud Storage's own time per page, which no machine here
measures; it is the model's one assumption). Three listings of the same names: the driver page
by page (`GcsStore.top_level`, as every run listed a flat prefix before slices), a first run
(`_top_listing`: the driver's probe of RANGE_ENTRIES files, then the executors' slices cut by
it, on `--master`) and a later run (`_top_in_slices` between the marks the first recorded).
Printed: seconds and pages of each, and a check that the runs listed every name exactly once.

    python -m bench.gcs_slices [--objects 500000] [--page-ms 50] [--master 'local[8]']
        [--names camera|uuid|dated]
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import os
import shutil
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from bench.gcs_listing import send_json

BUCKET, PREFIX = "bkt", "flat/"
NAMES = {  # how the i-th photo of a flat bucket is named
    "camera": lambda i: f"IMG_{i * 7919 % 10**8:08d}.jpg",  # spread over IMG_00000000-99999999
    "uuid": lambda i: f"{hashlib.sha256(str(i).encode()).hexdigest()[:32]}.jpg",
    "dated": lambda i: (
        f"{2015 + i % 10}-{1 + i // 10 % 12:02d}-{1 + i // 120 % 28:02d} "
        f"{i // 3360 % 24:02d}.{i % 60:02d}.{i // 60 % 60:02d}-{i}.jpg"
    ),  # a phone's export
}


def serve(names: list[str], page_ms: float) -> tuple[ThreadingHTTPServer, list[int]]:
    """objects.list over `names` (sorted, below PREFIX); `pages` counts the pages answered."""
    pages: list[int] = []

    class Listing(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            url = urlparse(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if not url.path.endswith(f"/b/{BUCKET}/o"):  # the bucket itself, asked by the client
                send_json(self, {"kind": "storage#bucket", "name": BUCKET})
                return
            assert unquote(query.get("prefix", "")) == PREFIX, self.path
            low = bisect.bisect_left(names, query.get("startOffset", ""))
            high = len(names)
            if "endOffset" in query:
                high = bisect.bisect_left(names, query["endOffset"])
            start = max(low, int(query.get("pageToken", low)))
            size = int(query.get("maxResults", "1000"))
            end = min(high, start + size)
            items = [{"name": n, "generation": str(1733500000000000 + i)} for i, n in
                     zip(range(start, end), names[start:end], strict=True)]  # fmt: skip
            body: dict[str, Any] = {"kind": "storage#objects", "items": items, "prefixes": []}
            if end < high:
                body["nextPageToken"] = str(end)
            time.sleep(page_ms / 1000)
            pages.append(1)
            send_json(self, body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Listing)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, pages


def listed_names(shards: list[str], loose: list[Any]) -> list[str]:
    found = [line.rpartition("\t")[0] for u in shards for line in Path(u).read_text().splitlines()]
    return found + [rel for _, (rel, _) in loose]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=500_000)
    parser.add_argument("--page-ms", type=float, default=50.0)
    parser.add_argument("--master", default="local[8]")
    parser.add_argument("--names", choices=sorted(NAMES), default="camera")
    args = parser.parse_args(argv)
    names = sorted(PREFIX + NAMES[args.names](i) for i in range(args.objects))
    server, pages = serve(names, args.page_ms)
    os.environ.update(
        STORAGE_EMULATOR_HOST=f"http://127.0.0.1:{server.server_address[1]}",
        GOOGLE_CLOUD_PROJECT="bench",
        GOOGLE_APPLICATION_CREDENTIALS=os.devnull,
    )
    from pyspark.sql import SparkSession

    from dataproc_faces import pipeline, ranges
    from dataproc_faces.storage.gcs import GcsStore

    out = Path(tempfile.mkdtemp(prefix="bench-slices-"))
    spec = pipeline.JobSpec(f"gs://{BUCKET}/{PREFIX.rstrip('/')}", str(out))
    spark = SparkSession.builder.master(args.master).getOrCreate()
    sc = spark.sparkContext
    sc.parallelize(range(sc.defaultParallelism), sc.defaultParallelism).count()  # workers up
    timed: dict[str, tuple[float, int]] = {}

    def timing(label: str, listing: Any) -> Any:
        pages.clear()
        wall = time.perf_counter()
        found = listing()
        timed[label] = (time.perf_counter() - wall, len(pages))
        return found

    try:
        timing("driver", lambda: sum(1 for _ in GcsStore().top_level(spec.input)))
        parts, _, shards, _ = timing("first", lambda: pipeline._top_listing(sc, spec, "first"))
        first_names = listed_names(shards, parts[0].collect() if parts else [])
        marks = ranges.read_marks(spec.results)
        _, _, later, _ = timing(
            "later", lambda: pipeline._top_in_slices(sc, spec, "later", marks, marks)
        )
        later_names = listed_names(later, [])
    finally:
        spark.stop()
        server.shutdown()
        shutil.rmtree(out, ignore_errors=True)
    expected = sorted(n[len(PREFIX) :] for n in names)
    for label, got in (("first", first_names), ("later", later_names)):
        assert sorted(got) == expected, f"{label}: not every name exactly once"
    (driver, driver_pages), (first, first_pages), (again, later_pages) = timed.values()
    print(
        f"{args.objects} {args.names} names, {args.page_ms:g} ms a page, {args.master}: driver "
        f"page by page {driver:.2f} s ({driver_pages} pages); first run, probe and slices "
        f"{first:.2f} s ({first_pages} pages, {driver / first:.2f}x); later run, "
        f"{len(marks) + 1} slices "
        f"{again:.2f} s ({later_pages} pages, {driver / again:.2f}x); every name listed once"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
