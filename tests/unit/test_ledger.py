"""The pieces of resume and compaction that need no Spark: names, option keys, who wins, and the
task sizes the driver plans from numbers alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dataproc_faces.results.layout import Results
from dataproc_faces.results.ledger import (
    STOP_AT_ENV,
    _losers,
    compact,
    drop_paths,
    new_run_id,
    options_key,
    part_id,
    part_ids,
    read_rows,
    read_states,
    write_part,
)
from dataproc_faces.scheduling import equal_sizes, guided_sizes
from dataproc_faces.storage.local import LocalStore


def test_a_part_id_depends_on_what_the_task_processed_only() -> None:
    run = new_run_id()
    assert part_id(run, ["a", "b"]) == part_id(run, iter(["a", "b"]))  # a retry: the same name
    assert part_id(run, ["a", "b"]) != part_id(run, ["a", "c"])
    assert part_id(run, ["a"]) != part_id(new_run_id(), ["a"])
    assert len(run) == 20 and run.isdigit()  # zero-padded: ids sort by age as text


def test_every_option_that_changes_an_output_changes_the_key() -> None:
    base = options_key({"detector": "haar", "min_size": 20}, {"mode": "outline", "color": [0, 1]})
    assert base == options_key(
        {"min_size": 20, "detector": "haar"}, {"color": [0, 1], "mode": "outline"}
    )
    assert base != options_key(
        {"detector": "haar", "min_size": 21}, {"mode": "outline", "color": [0, 1]}
    )
    assert base != options_key(
        {"detector": "haar", "min_size": 20}, {"mode": "blur", "color": [0, 1]}
    )
    assert base != options_key(
        {"detector": "haar", "min_size": 20}, {"mode": "outline", "color": [1, 1]}
    )


def test_the_newest_part_wins_and_only_older_ones_lose() -> None:
    entries = [("0002-x", "v", "o"), ("0010-y", "v", "o"), ("0003-z", "v", "o")]
    assert sorted(_losers("p", entries)) == [("0002-x", "p"), ("0003-z", "p")]
    assert _losers("p", [("0001-x", "v", "o")]) == []


def test_dropping_rows_rewrites_part_and_state_and_deletes_an_emptied_part(tmp_path: Path) -> None:
    out = str(tmp_path)
    store = LocalStore(root=out)
    rows = [{"path": p, "status": "ok"} for p in ("a", "b")]
    states = [{"path": p, "version": "1", "options": "k"} for p in ("a", "b")]
    write_part(store, Results(out), "0001-x", rows, states)
    assert part_ids(store, str(tmp_path / "manifest")) == {"0001-x"}
    results = Results(out)
    assert drop_paths(results, "0001-x", ["a"]) == 1
    lines = Path(results.part("0001-x")).read_text().splitlines()
    assert [json.loads(line)["path"] for line in lines] == ["b"]
    assert list(read_states(results, ["0001-x"])) == [("b", ("0001-x", "1", "k"))]
    drop_paths(results, "0001-x", ["b"])
    assert not Path(results.part("0001-x")).exists()
    assert not Path(results.state_part("0001-x")).exists()


def test_planned_sizes_are_guided_and_equal_as_documented() -> None:
    # 20 items on 2 cores: each task takes ceil(left / 4), down to single items
    assert guided_sizes(20, 2) == [5, 4, 3, 2, 2, 1, 1, 1, 1]
    assert guided_sizes(0, 2) == [] and guided_sizes(1, 8) == [1]
    assert equal_sizes(10, 3) == [3, 4, 3] and equal_sizes(2, 5) == [1, 1]


@pytest.mark.parametrize("total", [0, 1, 7, 100, 12_345])
@pytest.mark.parametrize("cores", [1, 2, 8])
def test_planned_sizes_cover_every_input_once(total: int, cores: int) -> None:
    for sizes in (guided_sizes(total, cores), equal_sizes(total, cores)):
        assert sum(sizes) == total and all(s > 0 for s in sizes if total)  # runs plan only if total
    guided = guided_sizes(total, cores)
    assert guided == sorted(guided, reverse=True)  # large tasks first
    capped = guided_sizes(total, cores, cap=50)
    assert sum(capped) == total and all(0 < s <= 50 for s in capped)


def test_state_names_inputs_below_the_input_and_reads_old_absolute_names_too(tmp_path: Path):
    """New parts name a local input below the input folder; a folder an earlier version wrote
    names it absolutely: both read back as the input's path, so both resume and compact."""
    out, src = str(tmp_path / "out"), str(tmp_path / "in")
    results = Results(out, protect=src)
    store = results.store()
    assert (results.shown(f"{src}/a/b.jpg"), results.shown("gs://bkt/in/c.jpg")) == (
        "a/b.jpg",
        "gs://bkt/in/c.jpg",
    )
    old = [{"path": f"{src}/a/b.jpg", "version": "1", "options": "k"}]
    new = [{"path": "a/b.jpg", "version": "2", "options": "k"}]
    write_part(store, results, "0001-x", [{"path": f"{src}/a/b.jpg", "status": "ok"}], old)
    write_part(store, results, "0002-y", [{"path": "a/b.jpg", "status": "ok"}], new)
    assert list(read_states(results, ["0001-x", "0002-y"])) == [
        (f"{src}/a/b.jpg", ("0001-x", "1", "k")),
        (f"{src}/a/b.jpg", ("0002-y", "2", "k")),
    ]
    assert [p for p, _ in read_states(results, ["0001-x", "0002-y"], stored=True)] == [
        "a/b.jpg",
        "a/b.jpg",
    ]  # as a run of this version names the input
    assert drop_paths(results, "0001-x", [f"{src}/a/b.jpg"]) == 1  # the old row loses to the new
    assert not Path(results.part("0001-x")).exists()
    assert json.loads(Path(results.part("0002-y")).read_text())["path"] == "a/b.jpg"


def folder_parts(tmp_path: Path, parts: dict[str, list[tuple[str, str]]]) -> tuple[Results, str]:
    """Results protecting `tmp_path/in`, with folder a's parts {own id: [(path, version)]}."""
    from dataproc_faces.results.ledger import folder_pid

    src = str(tmp_path / "in")
    results = Results(str(tmp_path / "out"), protect=src)
    for own, lines in parts.items():
        states = [{"path": p.format(src=src), "version": v, "options": "k"} for p, v in lines]
        rows = [{"path": st["path"], "status": "ok"} for st in states]
        write_part(results.store(), results, folder_pid("a", own), rows, states)
    return results, src


def test_a_folders_compaction_drops_the_older_row_whichever_way_it_names_the_input(
    tmp_path: Path,
) -> None:
    from dataproc_faces.results.ledger import compact_folder, folder_pid

    parts = {
        "0001-x": [("{src}/a/b.jpg", "1"), ("{src}/a/c.jpg", "1")],
        "0002-y": [("a/b.jpg", "2")],
    }
    results, src = folder_parts(tmp_path, parts)
    older, newer = folder_pid("a", "0001-x"), folder_pid("a", "0002-y")
    assert compact_folder(results, "a", [older, newer]) == (0, 1)
    assert [r["path"] for r in read_rows(results, [older, newer])] == [f"{src}/a/c.jpg", "a/b.jpg"]


def test_folder_names_are_safe_distinct_path_segments() -> None:
    from dataproc_faces.results.ledger import folder_name, folder_pid

    assert folder_name("trip") == "trip"
    assert folder_name("_top/3f") == "%5Ftop%2F3f"  # one segment; never a Spark or hidden name
    assert folder_name(".x") == "%2Ex" and folder_name("_temporary") == "%5Ftemporary"
    assert folder_name("été 2024") == "%C3%A9t%C3%A9%202024"
    keys = ["a b", "a%20b", "a~b", "a/b", "_top", "_top/00", "..", "%%x", "é" * 200, "é" * 201]
    names = [folder_name(k) for k in keys]
    assert len(set(names)) == len(keys)  # distinct keys, distinct folders
    assert all("~" not in n and "/" not in n and len(n) <= 120 for n in names)
    assert names[-1].startswith("%%") and names[-2].startswith("%%")  # long: by hash
    assert folder_pid("a~b", "0001-x") == "a%7Eb~0001-x"


def lines(path: str) -> list[str]:
    return Path(path).read_text().splitlines()


def two_runs(tmp_path: Path) -> Results:
    """Folder A's parts of two runs: the first did a, b and c; the second redid b."""
    results = Results(str(tmp_path / "out"), protect=str(tmp_path / "in"))
    store = results.store()
    old = [{"path": f"A/{n}.png", "status": "ok", "faces": [], "millis": 1.5} for n in "abc"]
    write_part(store, results, "A~0001-x", old, [st("A/a.png"), st("A/b.png"), st("A/c.png")])
    new = [{"path": "A/b.png", "status": "ok", "faces": [{"x": 1}], "millis": 2.0}]
    write_part(store, results, "A~0002-y", new, [st("A/b.png", "2")])
    return results


def st(path: str, version: str = "1") -> dict:
    return {"path": path, "version": version, "options": "k"}


def test_a_superseded_row_is_dropped_and_the_other_lines_are_copied_byte_for_byte(
    tmp_path: Path,
) -> None:
    """Only the dropped line is parsed: a kept line in another spelling (an earlier writer's)
    stays exactly as it was, where a parse-and-dump would respell it."""
    results = two_runs(tmp_path)
    part, state = results.part("A~0001-x"), results.state_part("A~0001-x")
    odd = '{"faces":[],"millis":1.50, "path": "A/c.png", "status":"ok"}'  # the same row
    Path(part).write_text("\n".join([*lines(part)[:2], odd]) + "\n")
    kept_state = lines(state)[0]
    assert compact(None, results, ["A"]) == {"orphans": 0, "superseded": 1}
    assert lines(part) == [lines(part)[0], odd] and json.loads(lines(part)[0])["path"] == "A/a.png"
    assert lines(state) == [kept_state, json.dumps(st("A/c.png"), sort_keys=True)]
    assert [json.loads(x)["path"] for x in lines(results.part("A~0002-y"))] == ["A/b.png"]


@pytest.mark.parametrize("order", ["swapped", "short", "long"])
def test_a_part_that_disagrees_with_its_state_is_parsed_whole(tmp_path: Path, order) -> None:
    """Rows out of their states' order, one row fewer (a rewrite killed between its two
    writes) or one more: the lines are not trusted, every row is parsed, the result exact."""
    results = two_runs(tmp_path)
    part = results.part("A~0001-x")
    rows = lines(part)
    extra = json.dumps({"path": "A/x.png", "status": "ok"}, sort_keys=True)
    rows = {
        "swapped": [rows[1], rows[0], rows[2]],
        "short": [rows[0], rows[2]],
        "long": [*rows, extra],
    }[order]
    Path(part).write_text("".join(r + "\n" for r in rows))
    drop_paths(results, "A~0001-x", [results.source_of("A/b.png")])
    kept = ["A/a.png", "A/c.png"] + (["A/x.png"] if order == "long" else [])
    assert [json.loads(x)["path"] for x in lines(part)] == kept
    assert [json.loads(x)["path"] for x in lines(results.state_part("A~0001-x"))] == [
        "A/a.png",
        "A/c.png",
    ]


def test_a_compaction_stopped_between_its_two_writes_finishes_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = two_runs(tmp_path)
    part, state = results.part("A~0001-x"), results.state_part("A~0001-x")
    monkeypatch.setenv(STOP_AT_ENV, "drop-state")
    with pytest.raises(SystemExit, match="drop-state"):
        compact(None, results, ["A"])
    monkeypatch.delenv(STOP_AT_ENV)
    assert [json.loads(x)["path"] for x in lines(part)] == ["A/a.png", "A/c.png"]  # written
    assert len(lines(state)) == 3  # not yet: b's old state outlives its row
    newest = {p: s[0] for p, s in read_states(results, ["A~0001-x", "A~0002-y"])}
    assert newest[results.source_of("A/b.png")] == "A~0002-y"  # still the new part's
    assert compact(None, results, ["A"]) == {"orphans": 0, "superseded": 1}
    rows = [json.loads(x) for p in ("A~0001-x", "A~0002-y") for x in lines(results.part(p))]
    assert [(r["path"], r["millis"]) for r in rows] == [
        ("A/a.png", 1.5),
        ("A/c.png", 1.5),
        ("A/b.png", 2.0),
    ]
    assert [json.loads(x) for x in lines(state)] == [st("A/a.png"), st("A/c.png")]
    assert compact(None, results, ["A"]) == {"orphans": 0, "superseded": 0}  # settled


def test_part_versions_change_when_a_part_is_rewritten_under_its_id(tmp_path: Path) -> None:
    """The local store's version is size and mtime: a part compaction rewrote is a new one."""
    from dataproc_faces.results.ledger import part_versions, write_part

    results = Results(str(tmp_path / "out"))
    store = LocalStore(root=results.root)
    rows = [{"path": f"{i}.png", "status": "ok"} for i in range(2)]
    write_part(store, results, "0001-x", rows, rows)
    write_part(store, results, "0002-y", rows, rows)
    (Path(results.manifest) / "notes.txt").write_text("not a part")
    (Path(results.manifest) / "part-folder.json").mkdir()
    first = part_versions(store, results.manifest)
    assert sorted(first) == ["0001-x", "0002-y"]
    write_part(store, results, "0001-x", rows[:1], rows[:1])
    again = part_versions(store, results.manifest)
    assert again["0001-x"] != first["0001-x"] and again["0002-y"] == first["0002-y"]
    size = (Path(results.manifest) / "part-0001-x.json").stat().st_size
    assert again["0001-x"].split(":")[0] == str(size)
    assert part_ids(store, results.manifest) == set(again)


def test_digests_sharing_a_shard_file_are_recorded_read_and_forgotten_each(
    tmp_path: Path,
) -> None:
    """Folders whose keys fall in one of the 256 shard files: each digest is kept, read and
    forgotten on its own, on the driver and spread over (stand-in) Spark tasks."""
    from dataproc_faces.results import ledger
    from tests.unit.fakespark import FakeContext

    keys = [f"folder{i}" for i in range(2000)]
    by = {}
    for key in keys:
        by.setdefault(ledger.digest_shard(key), []).append(key)
    a, b, c = next(v for v in by.values() if len(v) >= 3)[:3]
    other = next(v[0] for s, v in by.items() if s != ledger.digest_shard(a))
    results = Results(str(tmp_path / "out"))
    assert ledger.write_digests(results, [(a, "da"), (b, "db"), (other, "do")]) == 3
    ledger.write_digests_spread(FakeContext(parallelism=2), results, {c: "dc"})
    assert ledger.read_digests(results, [a, b, c, other]) == {
        a: "da", b: "db", c: "dc", other: "do"
    }  # fmt: skip
    ledger.forget_digests(results, [a])
    ledger.forget_digests_spread(FakeContext(parallelism=2), results, [c, other])
    assert ledger.read_digests(results, [a, b, c, other]) == {b: "db"}


def test_a_folders_newest_states_read_in_one_pass_equal_newest_over_every_line(
    tmp_path: Path,
) -> None:
    from dataproc_faces.results.ledger import folder_pid, newest, newest_stored

    parts = {  # written out of age order; b.jpg in three of them, once absolutely named
        "0003-c": [("a/b.jpg", "3"), ("a/c.jpg", "3")],
        "0001-a": [("a/b.jpg", "1"), ("a/d.jpg", "1")],
        "0002-b": [("{src}/a/b.jpg", "2"), ("a/d.jpg", "2")],
    }
    results, _ = folder_parts(tmp_path, parts)
    pids = [folder_pid("a", own) for own in parts]
    found = newest_stored(results, pids)
    assert found == newest(read_states(results, sorted(pids), stored=True))
    assert {p: v for p, (_, v, _) in found.items()} == {
        "a/b.jpg": "3",
        "a/c.jpg": "3",
        "a/d.jpg": "2",
    }


@pytest.mark.parametrize("step", ["read", "write", "forget"])
def test_digest_shard_files_are_read_and_rewritten_at_once_not_one_after_the_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    """Every run reads its folders' digest shards before listing, and a run on the driver
    rewrites those it changed; on gs:// each is a round trip or two, so the driver works on
    them side by side. Two must be in flight together (each waits for the other at a barrier;
    one after the other, the first times out)."""
    import threading

    from dataproc_faces.results import ledger

    keys = [f"folder{i}" for i in range(40)]
    results = Results(str(tmp_path / "out"))
    ledger.write_digests(results, [(k, f"d{i}") for i, k in enumerate(keys)])
    together = threading.Barrier(2, timeout=5)
    first_two = sorted({ledger.digest_shard(k) for k in keys[1:]})[:2]  # touched by each step
    name = "_read_shard" if step == "read" else "_update_shard"
    plain = getattr(ledger, name)

    def meeting(results: Results, shard: str, *rest: object) -> object:
        if shard in first_two:
            together.wait()
        return plain(results, shard, *rest)

    monkeypatch.setattr(ledger, name, meeting)
    if step == "read":
        assert ledger.read_digests(results, keys) == {k: f"d{i}" for i, k in enumerate(keys)}
        return
    if step == "write":
        assert ledger.write_digests(results, [(k, "new") for k in keys]) == len(keys)
        expected = dict.fromkeys(keys, "new")
    else:
        touched = {ledger.digest_shard(k) for k in keys[1:]}
        assert ledger.forget_digests(results, keys[1:]) == len(touched)
        expected = {keys[0]: "d0"}
    monkeypatch.setattr(ledger, name, plain)
    assert ledger.read_digests(results, keys) == expected
