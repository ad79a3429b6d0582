"""The totals cache (results/totals.py) on Cloud Storage (gcp-storage-emulator): parts are
versioned by generation, so a part rewritten under its id is counted again."""

from __future__ import annotations

import json

import pytest

from dataproc_faces.results import totals
from dataproc_faces.results.layout import Results
from dataproc_faces.results.ledger import folder_pid, part_versions, write_part
from dataproc_faces.results.manifest import read_manifest

pytestmark = pytest.mark.e2e


def rows(key: str, *faces: int) -> list[dict]:
    return [
        {"path": f"gs://in/{key}/{i}.png", "status": "ok", "faces": [{}] * n, "runtime": "cv2"}
        for i, n in enumerate(faces)
    ]


def test_part_versions_are_generations_and_a_rewrite_is_counted_again(gcs_env, bucket) -> None:
    results = Results(f"gs://{bucket}/out", protect=f"gs://{bucket}/in")
    store = results.store()
    a, b = folder_pid("A", "0001-aa"), folder_pid("B", "0002-bb")
    for pid, key, faces in ((a, "A", (2, 1)), (b, "B", (3,))):
        states = [{"path": r["path"], "version": "1", "options": "k"} for r in rows(key, *faces)]
        write_part(store, results, pid, rows(key, *faces), states)
    store.write(f"{results.manifest}/notes.txt", b"not a part")
    first = part_versions(store, results.manifest)
    assert sorted(first) == [a, b] and all(v.isdigit() for v in first.values())

    def recount() -> tuple:
        return next(totals.count_rows(read_manifest(store, results.root)))

    assert totals.collection_totals(results, first, 100) == recount()
    assert totals.collection_totals(results, first, 0) == recount()  # all from the cache

    kept = rows("A", 2)  # compaction's rewrite: the same id, fewer rows
    write_part(store, results, a, kept, [{"path": kept[0]["path"], "version": "1", "options": "k"}])
    again = part_versions(store, results.manifest)
    assert again[a] != first[a] and again[b] == first[b]
    assert totals.collection_totals(results, again, 0) is None  # A must be counted again
    assert totals.collection_totals(results, again, 100) == recount()
    assert recount()[:3] == (2, 2, 5)
    shard = json.loads(store.read(results.totals(totals.shard_of(a))))
    assert shard[a] == {"v": again[a], "t": [1, 1, 2, ["cv2"], shard[a]["t"][4]]}
