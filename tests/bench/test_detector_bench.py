"""`make bench-detector`'s harness on two small generated photos (the benchmark is not a test)."""

from __future__ import annotations

import json
from pathlib import Path

from bench import corpus, detector
from dataproc_faces.detectors import retinaface


def test_routes_take_turns_and_each_runs_its_own_network(tmp_path: Path) -> None:
    folder = tmp_path / "corpus"
    corpus.generate(folder, 2, seed=5, megapixels_range=(0.5, 0.6))
    shipped = retinaface.TILE
    routes = ["fp32", "before", "bf16+full+tile=512"]  # 512: above a tile, two looks
    rows = detector.on_large_photos(routes, folder, 1, 20)
    assert shipped == retinaface.TILE  # a +tile route leaves the module as it found it
    assert rows["fp32"]["runtime"].endswith(" fp32")
    assert rows["bf16+full+tile=512"]["runtime"].split()[-1] in ("bf16", "fp32")
    faces = sum(len(i["faces"]) for i in json.loads((folder / "truth.json").read_text())["images"])
    for row in rows.values():
        assert row["ms_per_mp"] > 0 and row["megapixels"] >= 1.0
    # the same network and plan, pixels converted in numpy or inside it: the same faces found
    assert faces and rows["fp32"]["recall"] == rows["before"]["recall"] > 0


def test_a_tile_route_is_refused_on_the_measuring_sets(tmp_path: Path) -> None:
    try:
        detector.on_dev_set("bf16+tile=2048", tmp_path, "truth.json", 32)
    except SystemExit as exc:
        assert "+tile routes are for the generated corpus" in str(exc)
    else:
        raise AssertionError("a +tile route ran on a measuring set")
