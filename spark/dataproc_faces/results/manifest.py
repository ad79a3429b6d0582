"""Manifest rows (one per input) and the run summary, as JSON Lines and JSON."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from dataproc_faces.results.layout import Results
from dataproc_faces.storage.base import Store, join


def ok_row(
    path: str,
    output: str,
    width: int,
    height: int,
    fmt: str,
    faces: list,
    ms: float,
    thumbnail: str | None = None,
    runtime: str | None = None,
    hidden: dict[str, Any] | None = None,
    metadata: str = "stripped",
    review: list[str] | None = None,
    written: str | None = None,
) -> dict[str, Any]:
    """`runtime`: what ran the detector on the executor (e.g. "openvino 2026.4.1 bf16"): nodes
    of one cluster may differ, so each row says which precision found its faces. `hidden`: how
    the faces were hidden (mask, scale, fill), None when only outlined; `metadata`: whether the
    output kept the input's describing EXIF/ICC/XMP ("kept (describing fields only)") or was
    written without ("stripped"). `path` names a local input below the input folder, `output`
    and `thumbnail` below the results folder (layout.py): a row names no local folder.
    `review`: why a person should look at the photo (review.py); runs that only outline faces
    compute none (an empty list). `written`: for JPEG inputs, "blocks" (only the changed MCUs
    re-encoded) or "full: <why>"; None for other formats."""
    return {
        "path": path,
        "status": "ok",
        "error": None,
        "width": width,
        "height": height,
        "format": fmt,
        "faces": [f.to_dict() for f in faces],
        "output": output,
        "thumbnail": thumbnail,
        "millis": round(ms, 1),
        "runtime": runtime,
        "hidden": hidden,
        "metadata": metadata,
        "review": list(review or []),
        "written": written or None,
    }


def error_row(path: str, error: str, ms: float) -> dict[str, Any]:
    return {
        "path": path,
        "status": "error",
        "error": error,
        "width": None,
        "height": None,
        "format": None,
        "faces": [],
        "output": None,
        "thumbnail": None,
        "millis": round(ms, 1),
        "runtime": None,
        "hidden": None,
        "metadata": None,
        "review": ["error"],
        "written": None,
    }


def read_manifest(store: Store, output: str) -> list[dict[str, Any]]:
    """Every row of DST/manifest in one list: for tests and benchmarks, never the job's driver."""
    folder = Results(output).manifest
    rows: list[dict[str, Any]] = []
    for name in store.list_files(folder):
        if name.endswith(".json"):
            text = store.read(join(folder, name)).decode()
            rows.extend(json.loads(line) for line in text.splitlines() if line.strip())
    return rows


@dataclass
class Summary:
    inputs: int
    ok: int
    errors: int
    faces: int
    wall_seconds: float
    images_per_second: float
    input: str = ""
    output: str = ""
    master: str = ""
    detector: dict[str, Any] = field(default_factory=dict)
    render: dict[str, Any] = field(default_factory=dict)
    runtime: list[str] = field(default_factory=list)  # every detector runtime the rows report
    processed: int | None = None  # inputs this run processed; the rest were done already
    skipped: int | None = None
    # names under the input left out of it, by reason (storage.SKIP_REASONS): never silently
    ignored: dict[str, int] | None = None
    # rows dropped after the tasks: superseded by a newer part, or in parts without state
    compaction: dict[str, int] | None = None
    # the privacy report (review.py): faces hidden, hidden on weak evidence, placed by a person,
    # photos that need a look, and photos per review reason
    privacy: dict[str, int] | None = None
    corrected: int | None = None  # photos the results' corrections name
    # seconds: listing and planning, the Spark action running the tasks, compaction and totals
    phases: dict[str, float] | None = None

    @classmethod
    def of(cls, rows: Iterable[dict[str, Any]], wall_seconds: float, **extra: Any) -> Summary:
        rows = list(rows)
        ok = sum(r["status"] == "ok" for r in rows)
        faces = sum(len(r["faces"]) for r in rows)
        rate = len(rows) / wall_seconds if wall_seconds > 0 else 0.0
        return cls(
            inputs=len(rows),
            ok=ok,
            errors=len(rows) - ok,
            faces=faces,
            wall_seconds=round(wall_seconds, 2),
            images_per_second=round(rate, 2),
            runtime=sorted({r["runtime"] for r in rows if r.get("runtime")}),
            **extra,
        )

    def line(self) -> str:
        """The run in one line; a run that found everything done says so instead of a rate."""
        rate = f"{self.images_per_second:.2f} images/s"
        if self.processed == 0 and self.inputs:
            rate = "nothing new to process"
        return (
            f"{self.inputs} inputs: {self.ok} ok, {self.errors} errors, {self.faces} faces "
            f"in {self.wall_seconds:.1f} s ({rate})"
        )

    def to_json(self) -> str:
        return summary_json(self.__dict__)

    def write(self, results: Results) -> str:
        results.store().write(results.summary, self.to_json().encode(), "application/json")
        return results.summary


def summary_json(fields: dict[str, Any]) -> str:
    """summary.json's text, for a Summary or for fields read back and updated (totals.py)."""
    return json.dumps(fields, indent=2, sort_keys=True) + "\n"
