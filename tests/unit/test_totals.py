"""The totals cache (results/totals.py) on a real local results folder: after any change the
totals equal a full recount of the manifest, and parts left alone are not read again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dataproc_faces.results import totals
from dataproc_faces.results.forget import forget
from dataproc_faces.results.layout import Results
from dataproc_faces.results.ledger import compact, folder_pid, part_versions, write_part
from dataproc_faces.results.manifest import read_manifest
from dataproc_faces.storage.local import LocalStore


def row(path: str, faces: int = 1, status: str = "ok", runtime: str = "cv2") -> dict:
    boxes = [{"x": i, "y": 0, "w": 9, "h": 9, "weak": i == 0} for i in range(faces)]
    return {
        "path": path,
        "status": status,
        "faces": boxes if status == "ok" else [],
        "runtime": runtime if status == "ok" else None,
        "hidden": {"mask": "box"} if faces else None,
        "review": ["weak"] if faces else [],
        "output": None,
        "thumbnail": None,
    }


class Folder:
    """A results folder the way the pipeline leaves it: per-folder parts with their state."""

    def __init__(self, tmp_path: Path) -> None:
        self.src, out = tmp_path / "in", tmp_path / "out"
        self.results = Results(str(out), protect=str(self.src))
        self.store = LocalStore(root=str(out))
        self.run = 1

    def part(self, key: str, *rows: dict) -> str:
        """One task's part of input folder `key`, of a newer run than every earlier part."""
        pid = folder_pid(key, f"{self.run:020d}-{'ab' * 8}")
        self.run += 1
        states = [{"path": r["path"], "version": "1", "options": "k"} for r in rows]
        write_part(self.store, self.results, pid, list(rows), states)
        return pid

    def totals(self, budget: int = 1000, elsewhere: totals.Counter | None = None) -> tuple:
        versions = part_versions(self.store, self.results.manifest)
        return totals.collection_totals(self.results, versions, budget, elsewhere)

    def recount(self) -> tuple:
        return next(totals.count_rows(read_manifest(self.store, self.results.root)))


@pytest.fixture
def reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The manifest parts counted since the last call, by file name."""
    log = tmp_path / "totals-reads.log"
    monkeypatch.setenv(totals.TOTALS_READS_ENV, str(log))

    def taken() -> list[str]:
        names = sorted(Path(n).name for n in log.read_text().splitlines()) if log.exists() else []
        log.unlink(missing_ok=True)
        return names

    return taken


def named(*pids: str) -> list[str]:
    return sorted(f"part-{p}.json" for p in pids)


def test_first_count_matches_a_recount_and_writes_one_shard_per_folder(
    tmp_path: Path, reads
) -> None:
    f = Folder(tmp_path)
    a = f.part("A", row("A/a0.png", 2), row("A/a1.png", 0, "error"))
    b = f.part("B", row("B/b0.png", 1, runtime="ov"), row("B/b1.png", 3))
    first = f.totals()
    assert first == f.recount()
    n, ok, faces, runtimes, privacy = first
    assert (n, ok, faces, runtimes) == (4, 3, 6, frozenset({"cv2", "ov"}))
    assert privacy["faces_hidden"] == 6 and privacy["faces_weak"] == 3
    assert privacy["review_weak"] == 3 and privacy["photos_to_review"] == 3
    assert reads() == named(a, b)
    shards = sorted(p.name for p in Path(f.results.totals_folder).iterdir())
    assert shards == sorted({f"{totals.shard_of(a)}.json", f"{totals.shard_of(b)}.json"})
    stored = json.loads(Path(f.results.totals(totals.shard_of(a))).read_text())
    assert stored[a]["v"] == part_versions(f.store, f.results.manifest)[a]


def test_untouched_parts_come_from_the_cache_and_an_added_folder_is_the_only_read(
    tmp_path: Path, reads
) -> None:
    f = Folder(tmp_path)
    a = f.part("A", row("A/a0.png", 2))
    f.totals()
    reads()
    assert f.totals() == f.recount() and reads() == []  # nothing changed: nothing read
    before = {p.name: p.stat().st_mtime_ns for p in Path(f.results.totals_folder).iterdir()}
    c = f.part("C", row("C/c0.png", 1), row("C/c1.png", 0))
    assert f.totals() == f.recount() == (3, 3, 3, frozenset({"cv2"}), f.recount()[4])
    assert reads() == named(c)
    after = {p.name: p.stat().st_mtime_ns for p in Path(f.results.totals_folder).iterdir()}
    assert after[f"{totals.shard_of(a)}.json"] == before[f"{totals.shard_of(a)}.json"]


def test_a_part_compaction_rewrote_under_its_id_is_counted_again(tmp_path: Path, reads) -> None:
    """A changed photo: its newer part supersedes its row in the older part, which compaction
    rewrites under the same id. Keyed by the id alone, the cache would keep the old count."""
    f = Folder(tmp_path)
    old = f.part("A", row("A/a0.png", 2), row("A/a1.png", 1))
    f.totals()
    reads()
    new = f.part("A", row("A/a0.png", 0))  # a0 changed: now without faces
    assert compact(None, f.results, ["A"]) == {"orphans": 0, "superseded": 1}
    assert f.totals() == f.recount() == (2, 2, 1, frozenset({"cv2"}), f.recount()[4])
    assert reads() == named(new, old)


def test_forgotten_rows_and_deleted_parts_leave_the_totals(tmp_path: Path, reads) -> None:
    f = Folder(tmp_path)
    a = f.part("A", row("A/a0.png", 2), row("A/a1.png", 1))
    b = f.part("B", row("B/b0.png", 4))
    f.totals()
    reads()
    assert forget(f.results, [str(f.src / "A" / "a0.png"), str(f.src / "B" / "b0.png")]) == 2
    assert f.totals() == f.recount() == (1, 1, 1, frozenset({"cv2"}), f.recount()[4])
    assert reads() == named(a)  # B's only part is gone: nothing to read, its entry dropped
    assert totals.shard_of(b) != totals.shard_of(a)
    assert not Path(f.results.totals(totals.shard_of(b))).exists()


def test_a_delete_only_drain_rewrites_the_summary_totals(tmp_path: Path) -> None:
    f = Folder(tmp_path)
    f.part("A", row("A/a0.png", 2), row("A/a1.png", 1, "error"))
    summary = {"inputs": 2, "ok": 1, "errors": 1, "faces": 2, "processed": 2, "phases": {}}
    Path(f.results.summary).write_text(json.dumps(summary))
    forget(f.results, [str(f.src / "A" / "a0.png")])
    assert totals.refresh_summary(f.results)
    written = json.loads(Path(f.results.summary).read_text())
    assert (written["inputs"], written["ok"], written["errors"], written["faces"]) == (1, 0, 1, 0)
    assert written["privacy"]["faces_hidden"] == 0 and written["processed"] == 2
    assert written["runtime"] == []


def test_no_summary_or_too_many_rows_leave_the_summary_alone(tmp_path: Path) -> None:
    f = Folder(tmp_path)
    f.part("A", row("A/a0.png", 2), row("A/a1.png", 1))
    assert not totals.refresh_summary(f.results)  # no run wrote one yet
    Path(f.results.summary).write_text('{"inputs": 9}')
    assert not totals.refresh_summary(f.results, budget=0)
    assert json.loads(Path(f.results.summary).read_text()) == {"inputs": 9}


@pytest.mark.parametrize(
    "damage",
    [
        b'{"half": ',  # a half-written file
        b"\xff\xfe not utf-8",
        b"[1, 2]",  # JSON of another shape
        b'{"PID": {"v": "VERSION", "t": [1, 1, "x", [], {}]}}',  # an entry of another shape
        b'{"PID": {"v": "VERSION"}}',
    ],
)
def test_a_damaged_shard_is_counted_again_and_rewritten(
    tmp_path: Path, reads, damage: bytes
) -> None:
    f = Folder(tmp_path)
    a = f.part("A", row("A/a0.png", 2))
    f.part("B", row("B/b0.png", 1))
    f.totals()
    reads()
    version = part_versions(f.store, f.results.manifest)[a]
    shard = Path(f.results.totals(totals.shard_of(a)))
    shard.write_bytes(damage.replace(b"PID", a.encode()).replace(b"VERSION", version.encode()))
    assert f.totals() == f.recount()
    assert reads() == named(a)
    assert json.loads(shard.read_text())[a]["t"][:3] == [1, 1, 2]


def test_a_damaged_shard_of_no_part_is_deleted(tmp_path: Path) -> None:
    f = Folder(tmp_path)
    f.part("A", row("A/a0.png", 2))
    Path(f.results.totals_folder).mkdir(parents=True)
    Path(f.results.totals_folder, "zz.json").write_bytes(b"{")
    assert f.totals() == f.recount()
    assert not Path(f.results.totals_folder, "zz.json").exists()


def test_the_budget_leaves_the_rest_to_the_counter_elsewhere(
    tmp_path: Path, reads, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past `budget` rows counted here, the other parts go to `elsewhere` (Spark's tasks in
    the pipeline); without one the totals are not known here."""
    monkeypatch.setattr(totals, "THREADS", 1)  # one part at a time: the budget checked after each
    f = Folder(tmp_path)
    parts = [f.part(k, row(f"{k}/x.png", 1), row(f"{k}/y.png", 2)) for k in "ABCD"]
    assert f.totals(budget=3) is None
    reads()
    asked: list[list[str]] = []

    def elsewhere(pids: list[str]) -> dict[str, tuple]:
        asked.append(pids)
        return dict(totals.count_parts(f.results, pids))

    assert f.totals(budget=3, elsewhere=elsewhere) == f.recount()
    assert asked == [sorted(parts)[2:]]  # two parts (4 rows) here, the rest elsewhere
    reads()
    assert f.totals(budget=0) == f.recount() and reads() == []


def test_an_empty_collection_has_zero_totals(tmp_path: Path) -> None:
    f = Folder(tmp_path)
    assert f.totals() == totals.NONE == f.recount()


def test_parts_are_counted_a_batch_at_a_time_up_to_the_budget(tmp_path: Path, reads) -> None:
    """THREADS parts are read at once; the budget is checked after each batch."""
    f = Folder(tmp_path)
    parts = [f.part(f"F{i:02d}", row(f"F{i:02d}/x.png", i % 3)) for i in range(totals.THREADS + 3)]
    asked: list[list[str]] = []

    def elsewhere(pids: list[str]) -> dict[str, tuple]:
        asked.append(pids)
        return dict(totals.count_parts(f.results, pids))

    assert f.totals(budget=1, elsewhere=elsewhere) == f.recount()
    assert asked == [sorted(parts)[totals.THREADS :]]
    assert len(reads()) == len(parts)
