"""Where one photo's time goes: `outline` adds each stage's time to the caller's totals, under the
stage's own name (the bench's breakdown), and the output is the same with or without it."""

from __future__ import annotations

from typing import Any

import pytest

from dataproc_faces.detectors.base import Face
from dataproc_faces.imaging import render
from dataproc_faces.imaging.render import STAGES, RenderOptions, outline
from tests.images import astronaut, encode
from tests.unit.stand_ins import FixedDetector

FACE = Face(177, 66, 95, 95, 0.9)
# Seconds each stage's own work takes on the scripted clock: all different, so a time booked
# under another stage's name shows.
COST = {"decode": 1.0, "detect": 2.0, "mask": 3.0, "encode": 4.0, "thumbnail": 5.0}


class ManualClock:
    """time.perf_counter that moves only when a stage's stand-in says so."""

    def __init__(self) -> None:
        self.now = 100.0

    def perf_counter(self) -> float:
        return self.now


@pytest.fixture()
def clocked(monkeypatch: pytest.MonkeyPatch) -> ManualClock:
    """Each stage's real work, then the clock moved by its COST."""
    clock = ManualClock()
    monkeypatch.setattr(render.time, "perf_counter", clock.perf_counter)

    def costs(stage: str, real: Any) -> Any:
        def run(*args: Any, **kwargs: Any) -> Any:
            value = real(*args, **kwargs)
            clock.now += COST[stage]
            return value

        return run

    monkeypatch.setattr(render, "decode", costs("decode", render.decode))
    monkeypatch.setattr(render, "draw_outlines", costs("mask", render.draw_outlines))
    monkeypatch.setattr(render, "anonymise_faces", costs("mask", render.anonymise_faces))
    monkeypatch.setattr(render, "_encode", costs("encode", render._encode))
    monkeypatch.setattr(render, "thumbnail", costs("thumbnail", render.thumbnail))
    return clock


class SlowDetector(FixedDetector):
    def __init__(self, clock: ManualClock) -> None:
        super().__init__([FACE])
        self.clock = clock

    def detect(self, image: Any) -> list[Face]:
        self.clock.now += COST["detect"]
        return super().detect(image)


@pytest.mark.parametrize("mode", ["outline", "blur"])
def test_each_stage_is_booked_under_its_own_name(clocked: ManualClock, mode: str) -> None:
    data = encode(astronaut(), ".jpg")
    timings: dict[str, float] = {}
    result = outline(data, SlowDetector(clocked), RenderOptions(mode=mode), timings=timings)
    assert result.written == "blocks"
    assert STAGES == ("decode", "detect", "mask", "encode", "thumbnail")
    assert timings == {stage: COST[stage] * 1000 for stage in STAGES}
    # totals add up over photos
    outline(data, SlowDetector(clocked), RenderOptions(mode=mode), timings=timings)
    assert timings == {stage: COST[stage] * 2000 for stage in STAGES}


def test_a_linked_faceless_photo_books_its_thumbnail(clocked: ManualClock) -> None:
    timings: dict[str, float] = {}
    detector = FixedDetector([])
    outline(encode(astronaut(), ".jpg"), detector, RenderOptions(faceless="link"), timings=timings)
    assert timings == {"decode": 1000.0, "detect": 0.0, "thumbnail": 5000.0}


def test_timings_change_nothing_in_the_output() -> None:
    data = encode(astronaut(), ".jpg")
    plain = outline(data, FixedDetector([FACE]), RenderOptions(mode="blur"))
    timed = outline(data, FixedDetector([FACE]), RenderOptions(mode="blur"), timings={})
    assert plain.data == timed.data and plain.thumbnail == timed.thumbnail
    assert plain.faces == timed.faces == [FACE]
