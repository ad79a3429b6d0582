"""Forgetting deleted photos: their outputs, rows and states go, every other photo's stay."""

from __future__ import annotations

import json
from pathlib import Path

from dataproc_faces.results.forget import forget
from dataproc_faces.results.layout import Results
from dataproc_faces.results.ledger import part_ids, read_states, write_part
from dataproc_faces.storage.local import LocalStore


def _results(tmp_path: Path) -> tuple[Results, LocalStore]:
    out = str(tmp_path / "out")
    results, store = Results(out, protect=str(tmp_path / "in")), LocalStore(root=out)
    for pid, names in (("0001-x", ("a", "b")), ("0002-y", ("c",))):
        rows, states = [], []
        for n in names:
            image, thumb = results.image(f"{n}.jpg"), results.thumbnail(f"{n}.jpg")
            store.write(image, b"jpeg")
            store.write(thumb, b"thumb")
            src = str(tmp_path / "in" / f"{n}.jpg")
            rows.append({"path": src, "status": "ok", "output": image, "thumbnail": thumb})
            states.append({"path": src, "version": "1", "options": "k"})
        write_part(store, results, pid, rows, states)
    return results, store


def test_a_forgotten_photo_loses_its_outputs_row_and_state_and_its_part_mates_keep_theirs(
    tmp_path: Path,
) -> None:
    results, _ = _results(tmp_path)
    src = str(tmp_path / "in" / "a.jpg")
    assert forget(results, [src, str(tmp_path / "in" / "never.jpg")]) == 1
    assert not Path(results.image("a.jpg")).exists()
    assert not Path(results.thumbnail("a.jpg")).exists()
    assert Path(results.image("b.jpg")).exists() and Path(results.thumbnail("b.jpg")).exists()
    lines = Path(results.part("0001-x")).read_text().splitlines()
    assert [Path(json.loads(line)["path"]).name for line in lines] == ["b.jpg"]
    assert [Path(p).name for p, _ in read_states(results, ["0001-x", "0002-y"])] == [
        "b.jpg",
        "c.jpg",
    ]
    assert forget(results, [src]) == 0  # again (a redelivered delete): no work, no harm


def test_forgetting_a_parts_only_photo_deletes_the_part_and_its_state(tmp_path: Path) -> None:
    results, store = _results(tmp_path)
    assert forget(results, [str(tmp_path / "in" / "c.jpg")]) == 1
    assert part_ids(store, results.manifest) == {"0001-x"}
    assert part_ids(store, results.state) == {"0001-x"}
    assert Path(results.image("b.jpg")).exists()


def test_rows_named_below_the_input_and_results_folders_are_forgotten(tmp_path: Path) -> None:
    """A local run's rows name the input below the input folder and the outputs below the
    results folder (layout.py's `shown`): forget matches and deletes them by those names."""
    from dataproc_faces.results.ledger import folder_pid, read_rows

    out, src = str(tmp_path / "out"), tmp_path / "in"
    results, store = Results(out, protect=str(src)), LocalStore(root=out)
    pid = folder_pid("A", "0001-x")
    rows, states = [], []
    for n in ("a", "b"):
        store.write(results.image(f"A/{n}.jpg"), b"jpeg")
        output = results.shown_output(results.image(f"A/{n}.jpg"))
        rows.append({"path": f"A/{n}.jpg", "status": "ok", "output": output, "thumbnail": None})
        states.append({"path": f"A/{n}.jpg", "version": "1", "options": "k"})
    write_part(store, results, pid, rows, states)
    assert forget(results, [str(src / "A" / "a.jpg")]) == 1
    assert [r["path"] for r in read_rows(results, [pid])] == ["A/b.jpg"]
    assert [p for p, _ in read_states(results, [pid])] == [str(src / "A" / "b.jpg")]
    assert not Path(results.image("A/a.jpg")).exists() and Path(results.image("A/b.jpg")).exists()
