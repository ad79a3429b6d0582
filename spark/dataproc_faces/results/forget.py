"""Forget photos deleted from the input: their output images, thumbnails, rows and states.

The ledger keeps the rows of inputs deleted from the source (a run lists what is there and
never looks for what is gone). The change feed knows which photos were deleted, so `follow`
removes their results here. Order, for a kill at any point: the outputs first, then each part
rewritten without the rows, the part before its state (as ledger.compact does). Killed between
them, a row names an output already deleted, never the reverse (an output no row points to
would be found by nothing); running it again (the feed redelivers an unacknowledged delete)
finishes the job.

It reads the states of the deleted photos' input folders only (ledger.py keeps them per
folder), and every legacy flat state part an earlier version left.
"""

from __future__ import annotations

from collections.abc import Iterable

from dataproc_faces.results.folders import folder_of
from dataproc_faces.results.gallery import note_forgotten
from dataproc_faces.results.layout import Results
from dataproc_faces.results.ledger import (
    drop_paths,
    folder_part_ids,
    part_ids,
    read_rows,
    read_states,
)


def forget(results: Results, sources: Iterable[str]) -> int:
    """Remove every row, state and output of `sources` (input URIs); returns rows removed.
    Idempotent: sources without results are no work."""
    gone = set(sources)
    if not gone:
        return 0
    store = results.store()
    removed = 0
    keys = {folder_of(results.relative(results.shown(s))) for s in gone}
    pids = sorted(part_ids(store, results.state))
    pids += [p for k in sorted(keys) for p in sorted(folder_part_ids(store, results, k))]
    for pid in pids:
        hit = {path for path, _ in read_states(results, [pid]) if path in gone}
        if not hit:
            continue
        # A state without its part: a compaction killed before deleting it; compact cleans it.
        rows = list(read_rows(results, [pid])) if store.version(results.part(pid)) else []
        named = [results.source_of(r["path"]) in hit for r in rows]  # stored names: shown()
        for row, gone_row in zip(rows, named, strict=True):
            if gone_row:
                for stored in (row.get("output"), row.get("thumbnail")):
                    uri = results.output_of(stored)  # a local row names it below the results
                    if uri:
                        store.delete(uri)
        # the gallery drops them from their folders' pages (before the part loses them)
        note_forgotten(results, (r["path"] for r, g in zip(rows, named, strict=True) if g))
        removed += sum(named)
        if rows:
            drop_paths(results, pid, hit)  # as compaction rewrites a part: kept lines copied
        else:
            store.delete(results.part(pid))
            store.delete(results.state_part(pid))
    return removed
