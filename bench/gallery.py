"""The gallery alone: `write_gallery` over N generated manifest rows in F folders, built from
scratch and then after adding A rows to one folder, on the driver (a collection under
pipeline.SMALL_RUN) and as Spark jobs (past it), each in a fresh results folder.

    PYTHONPATH=spark:. .venv/bin/python bench/gallery.py --rows 50000 --folders 100 --added 100

`--spark` adds the Spark path on local[2] (a session starts first; its start is not timed).
Run it with another checkout's `spark/` first on PYTHONPATH to time that code the same way (an
older gallery has no incremental build: its "after adding" is a second whole build). Prints one
JSON object; nothing is written outside --work.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from dataproc_faces.results import gallery
from dataproc_faces.results.layout import Results
from dataproc_faces.results.ledger import part_ids, read_rows, write_part
from dataproc_faces.results.manifest import Summary, error_row
from dataproc_faces.storage.local import LocalStore

SRC = "/data/in"
PART_ROWS = 500


def row(i: int, folder: str) -> dict[str, Any]:
    """A row as a local run stores it: outputs named below DST (layout.py's shown_output)."""
    path = f"{SRC}/{folder}/img-{i:07d}.jpg"
    if i % 97 == 0:
        return error_row(path, f"broken {i}", 1.0)
    return {
        "path": path, "status": "ok", "error": None, "width": 640, "height": 480,
        "format": "jpeg", "faces": [{"x": 1, "y": 1, "w": 30, "h": 30}] * (i % 7),
        "output": f"images/{folder}/img-{i:07d}.jpg",
        "thumbnail": f"thumbs/{folder}/img-{i:07d}.jpg.jpg",
        "millis": 3.0, "runtime": "bench", "review": ["small"] if i % 13 == 0 else [],
    }  # fmt: skip


def write_rows(dst: Path, rows: list[dict[str, Any]], tag: str) -> None:
    store, results = LocalStore(root=str(dst)), Results(str(dst))
    for n, start in enumerate(range(0, len(rows), PART_ROWS)):
        chunk = rows[start : start + PART_ROWS]
        states = [{"path": r["path"], "version": "1", "options": "x"} for r in chunk]
        write_part(store, results, f"{tag}-{n:06d}", chunk, states)


def build(spark: Any, dst: Path, on_driver: bool) -> float:
    """One write_gallery as the CLI calls it (rows read first on the driver path, untimed)."""
    results = Results(str(dst))
    pids = sorted(part_ids(LocalStore(), results.manifest))
    rows = list(read_rows(results, pids)) if on_driver else None
    summary = Summary.of(rows or [], 1.0, input=SRC, output=str(dst))
    started = time.perf_counter()
    gallery.write_gallery(spark, results, pids, summary, rows=rows)
    return round(time.perf_counter() - started, 2)


def point(work: Path, n: int, folders: int, added: int, spark: Any, on_driver: bool) -> dict:
    dst = work / ("driver" if on_driver else "spark")
    shutil.rmtree(dst, ignore_errors=True)
    write_rows(dst, [row(i, f"f{i % folders:03d}") for i in range(n)], f"{1:020d}")
    full = build(spark, dst, on_driver)
    write_rows(dst, [row(n + i, "f007") for i in range(added)], f"{2:020d}")
    before = {p: p.stat().st_mtime_ns for p in (dst / "gallery").rglob("*") if p.is_file()}
    again = build(spark, dst, on_driver)
    after = {p: p.stat().st_mtime_ns for p in (dst / "gallery").rglob("*") if p.is_file()}
    rewritten = sum(1 for p, t in after.items() if before.get(p) != t)
    return {"full_s": full, "after_adding_s": again, "files": len(after), "rewritten": rewritten}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=50_000)
    p.add_argument("--folders", type=int, default=100)
    p.add_argument("--added", type=int, default=100)
    p.add_argument("--spark", action="store_true", help="also the Spark path on local[2]")
    p.add_argument("--work", type=Path, default=Path("/tmp/bench-gallery"))
    args = p.parse_args(argv)
    out: dict[str, Any] = {
        "code": gallery.__file__, "rows": args.rows, "folders": args.folders, "added": args.added,
    }  # fmt: skip
    out["driver"] = point(args.work, args.rows, args.folders, args.added, None, True)
    if args.spark:
        from dataproc_faces import sparkenv

        spark = sparkenv.session("local[2]")
        try:
            out["spark"] = point(args.work, args.rows, args.folders, args.added, spark, False)
        finally:
            spark.stop()
    json.dump(out, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
