"""The driver's own plan of a small run: taken for a small collection, and not tried (no walk of
the input) when the results' last summary already counts more inputs or rows than its bound."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dataproc_faces.pipeline import JobSpec, plan_on_driver
from dataproc_faces.storage.local import LocalStore


@pytest.fixture
def spec(tmp_path: Path) -> JobSpec:
    src, dst = tmp_path / "in", tmp_path / "out"
    (src / "trip").mkdir(parents=True)
    for name in ("a.png", "trip/b.png", "trip/c.png"):
        (src / name).write_bytes(b"not decoded while planning")
    dst.mkdir()
    return JobSpec(str(src), str(dst))


def _walks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    walked: list[str] = []
    real = LocalStore.top_level

    def counted(self: LocalStore, root: str, skipped=None):  # type: ignore[no-untyped-def]
        walked.append(root)
        return real(self, root, skipped)

    monkeypatch.setattr(LocalStore, "top_level", counted)
    return walked


@pytest.mark.parametrize(
    ("summary", "planned"),
    [
        (None, True),  # no results yet: walk and plan here
        ({"processed": 1, "skipped": 3, "inputs": 4}, True),  # listed 4, 4 rows: at the bound
        ({"processed": 0, "skipped": 5, "inputs": 5}, False),  # past it: Spark lists, no walk
        ({"processed": 2, "skipped": 0, "inputs": 5}, False),  # a feed run's 2 into 5 rows
        ({"processed": 0, "skipped": 5, "inputs": 3}, False),  # rows forgotten, input still 5
        ({"processed": "x"}, True),
        ("{not json", True),  # a damaged summary proves nothing: walk
        ([5], True),
    ],
)
def test_the_driver_skips_its_walk_only_for_a_collection_recorded_past_its_bound(
    spec: JobSpec, monkeypatch: pytest.MonkeyPatch, summary: object, planned: bool
) -> None:
    if summary is not None:
        text = summary if isinstance(summary, str) else json.dumps(summary)
        Path(spec.results.summary).write_text(text)
    walked = _walks(monkeypatch)
    plan = plan_on_driver(spec, "opts", force=False, limit=4)
    if planned:
        assert plan is not None and walked == [spec.input]
        assert sorted(rel for _, (rel, _) in plan.pending) == ["a.png", "trip/b.png", "trip/c.png"]
    else:
        assert plan is None and walked == []
