"""No frame left behind: a short memory of boxes across frames.

A face found in frame p and again in frame q (q - p <= memory + 1) is hidden in every frame
between, at the box interpolated between the two finds, whether the detector missed it there or
did not look (a stride). Frames wait `memory` frames for the future they need, so a stream holds
at most memory + 1 frames, whatever the video's length.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from dataproc_faces.detectors.base import Face

MATCH_IOU = 0.1  # two finds k frames apart are one face if their boxes overlap this much
SAME_IOU = 0.3  # an interpolated box is already hidden if a find overlaps it this much


def iou(a: Face, b: Face) -> float:
    ix = max(0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    inter = ix * iy
    union = a.w * a.h + b.w * b.h - inter
    return inter / union if union > 0 else 0.0


def same_face(a: Face, b: Face) -> bool:
    """Overlapping boxes, or centres closer than the larger side: a face moves between finds."""
    if iou(a, b) >= MATCH_IOU:
        return True
    dx = (a.x + a.w / 2) - (b.x + b.w / 2)
    dy = (a.y + a.h / 2) - (b.y + b.h / 2)
    side = max(a.w, a.h, b.w, b.h)
    return dx * dx + dy * dy <= side * side and 0.5 <= (a.w * a.h) / max(1, b.w * b.h) <= 2


def between(a: Face, b: Face, t: float) -> Face:
    """The box a fraction `t` of the way from a to b; placed by the track."""

    def lerp(u: int, v: int) -> int:
        return round(u + (v - u) * t)

    return Face(lerp(a.x, b.x), lerp(a.y, b.y), lerp(a.w, b.w), lerp(a.h, b.h), by="track")


@dataclass
class Slot:
    index: int
    found: list[Face] | None  # None: the detector did not look at this frame (stride)
    payload: object = None  # what the caller wants back with the frame (its pixels)


@dataclass
class Filled:
    index: int
    faces: list[Face]  # the finds, then the boxes the memory added (by="track")
    added: int
    payload: object = None
    tracks: list[int] = field(default_factory=list)  # a track id per face


class GapFiller:
    """Push frames in order; get each back `memory` frames later with its gaps filled."""

    def __init__(self, memory: int) -> None:
        self.memory = max(0, memory)
        self._past: deque[Slot] = deque(maxlen=self.memory)  # emitted, newest last
        self._ahead: deque[Slot] = deque()  # waiting for their future
        self._tracks: list[tuple[int, int, Face]] = []  # (id, last index, last box)
        self._next_id = 0

    def push(
        self, index: int, found: list[Face] | None, payload: object = None
    ) -> Iterator[Filled]:
        self._ahead.append(Slot(index, found, payload))
        while len(self._ahead) > self.memory:
            yield self._emit()

    def finish(self) -> Iterator[Filled]:
        while self._ahead:
            yield self._emit()

    @property
    def track_count(self) -> int:
        return self._next_id

    def _emit(self) -> Filled:
        slot = self._ahead.popleft()
        found = list(slot.found or [])
        added: list[Face] = []
        for p in self._past:
            for q in self._ahead:
                if not p.found or not q.found or q.index - p.index > self.memory + 1:
                    continue
                span = q.index - p.index  # 0: frames stamped with one time (damaged timing)
                t = (slot.index - p.index) / span if span else 0.5
                for a in p.found:
                    for b in q.found:
                        if not same_face(a, b):
                            continue
                        box = between(a, b, t)
                        if not any(iou(box, f) >= SAME_IOU for f in found + added):
                            added.append(box)
        self._past.append(slot)
        faces = found + added
        return Filled(slot.index, faces, len(added), slot.payload, self._track(slot.index, faces))

    def _track(self, index: int, faces: list[Face]) -> list[int]:
        """Greedy association with the tracks seen in the last memory + 1 frames."""
        live = [t for t in self._tracks if index - t[1] <= self.memory + 1]
        ids: list[int] = []
        for face in faces:
            match = max(live, key=lambda t: iou(t[2], face), default=None)
            if match is not None and (iou(match[2], face) >= SAME_IOU or same_face(match[2], face)):
                live.remove(match)
                ids.append(match[0])
            else:
                ids.append(self._next_id)
                self._next_id += 1
        kept = {i for i in ids}
        self._tracks = [
            t for t in self._tracks if t[0] not in kept and index - t[1] <= self.memory + 1
        ]
        self._tracks += [(i, index, replace(f)) for i, f in zip(ids, faces, strict=True)]
        return ids
