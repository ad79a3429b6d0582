"""The results folder's layout: every path a run writes, for local folders and gs:// alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from dataproc_faces.results.layout import Results
from dataproc_faces.storage.base import ProtectedInput, join


@pytest.mark.parametrize("root", ["/data/out", "gs://res/run1"])
def test_every_path_of_a_results_folder(root: str) -> None:
    r = Results(root)
    assert (r.images, r.manifest, r.state, r.index, r.summary, r.marker, r.lock) == (
        f"{root}/images",
        f"{root}/manifest",
        f"{root}/_state",
        f"{root}/index.html",
        f"{root}/summary.json",
        f"{root}/_dataproc_faces.json",
        f"{root}/_lock.json",
    )
    assert r.image("a/b.jpg") == f"{root}/images/a/b.jpg"
    assert r.image("a/b.gif", ".png") == f"{root}/images/a/b.gif.png"  # only when converted
    assert r.thumbnail("a/b.gif") == f"{root}/thumbs/a/b.gif.jpg"
    assert r.part("0042-ab") == f"{root}/manifest/part-0042-ab.json"
    assert r.state_part("0042-ab") == f"{root}/_state/part-0042-ab.json"
    assert r.shard("0042", 7) == f"{root}/_work/0042/list-00007.txt"
    assert r.page("faces", 3) == f"{root}/gallery/faces/3.js"


def test_a_trailing_slash_on_a_remote_root_is_not_doubled() -> None:
    assert Results("gs://b/run/").page("name", 1) == "gs://b/run/gallery/name/1.js"


def test_its_store_keeps_writes_out_of_the_input(tmp_path: Path) -> None:
    src = tmp_path / "out" / "images"
    src.mkdir(parents=True)
    results = Results(str(tmp_path / "out"), protect=str(src))
    with pytest.raises(ProtectedInput):
        results.store().write(results.image("x.jpg"), b"over an original")
    assert list(src.iterdir()) == []
    results.store().write(results.summary, b"{}")
    assert Path(results.summary).read_bytes() == b"{}"


@pytest.mark.parametrize(
    ("root", "protect"),
    [
        ("/data/in", "/data/in"),
        ("/data/in/", "/data/in/"),
        ("/data/in", "/data/in/"),
        ("in", "in"),
        (".", "."),
        ("/data/in", "/data"),  # a results folder protecting another spelling: no shortcut
        ("/data/in", ""),
        ("gs://bucket/in", "gs://bucket/in"),
        ("gs://bucket/in/", "gs://bucket/in"),
    ],
)
def test_shown_of_names_each_input_as_shown_does_from_its_path(root: str, protect: str) -> None:
    results = Results("/data/out", protect=protect)
    names = ["a.jpg", "f/b.jpg", "f//c.jpg", "./d.jpg", "f/./e.jpg", "f/", "g/..", "é ü.jpg"]
    shown = results.shown_of(root)
    assert [shown(n) for n in names] == [results.shown(join(root, n)) for n in names]
