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
