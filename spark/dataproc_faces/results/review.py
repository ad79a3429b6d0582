"""The privacy report: which photos a person should look at first, and the run's counts.

A manifest row of an anonymising run carries `review`, its reasons from a fixed vocabulary
(an empty list: nothing to look at); an error row carries ["error"]. The reasons come from what
the row holds, so they work for any detector: a face marked `weak`, a face under SMALL_FACE px,
more finds than the photo's size explains, a find covering a large share of it, a person's
corrections. The bounds below are judgement, not measurement: they flag the photos the issue's
trials showed (a 24 MP photo with 77 regions for 22 faces; a hand or sign hidden at poster size).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

REASONS = ("weak", "small", "many", "large", "filled", "short", "corrected", "error")
# Videos only: "filled" (frames where the memory of boxes hid a face the detector missed there)
# and "short" (a track seen in fewer than 3 frames: video/process.py's SHORT_TRACK).
SMALL_FACE = 24  # px: a find whose longer side is under this is where detectors guess
# "many": more finds than MANY_BASE plus MANY_PER_MP a megapixel; a crowd on a phone photo or a
# poster-sized photo whose texture became dozens of "faces" passes it, a family photo does not.
MANY_BASE, MANY_PER_MP = 12, 1.0
LARGE_SHARE = 0.2  # a find covering a fifth of the photo or more: a portrait, or a false find
PERSON = "person"


def reasons(
    faces: list[dict[str, Any]], width: int, height: int, corrected: bool, reviewed: bool
) -> list[str]:
    """The row's reasons, in REASONS order. A photo a person marked reviewed needs no look (its
    faces still say which a person placed); one corrected but not marked reviewed does."""
    found: set[str] = set()
    if reviewed:
        return []
    if corrected:
        found.add("corrected")
    detected = [f for f in faces if f.get("by") != PERSON]
    if any(f.get("weak") for f in detected):
        found.add("weak")
    if any(max(f["w"], f["h"]) < SMALL_FACE for f in detected):
        found.add("small")
    area = max(1, width * height)
    if len(detected) > MANY_BASE + MANY_PER_MP * area / 1e6:
        found.add("many")
    if any(f["w"] * f["h"] >= LARGE_SHARE * area for f in detected):
        found.add("large")
    return [r for r in REASONS if r in found]


def video_reasons(frames: dict[str, int], corrected: bool, reviewed: bool) -> list[str]:
    """A video row's reasons: any frame's (`reasons` per frame, and the video's own "filled"
    and "short"), counted over frames by the video room; as for a photo, a video a person
    marked reviewed needs no look."""
    if reviewed:
        return []
    found = {r for r, n in frames.items() if n}
    if corrected:
        found.add("corrected")
    return [r for r in REASONS if r in found]


def needs_look(row: dict[str, Any]) -> bool:
    """A row with any reason to look at it."""
    return bool(row.get("review"))


COUNTS = ("faces_hidden", "faces_weak", "faces_by_person", "photos_to_review")


def counts(rows: Iterable[dict[str, Any]]) -> dict[str, int]:
    """The privacy counts of some rows (summed over tasks like the other totals): faces hidden,
    of them hidden on weak evidence and placed by a person; photos that need a look, and photos
    per reason (`review_<reason>`)."""
    total = dict.fromkeys(COUNTS, 0)
    for r in rows:
        if r.get("hidden"):  # an anonymising row: every face listed was hidden
            faces = r.get("faces") or []
            total["faces_hidden"] += len(faces)
            total["faces_weak"] += sum(bool(f.get("weak")) for f in faces)
            total["faces_by_person"] += sum(f.get("by") == PERSON for f in faces)
        if needs_look(r):
            total["photos_to_review"] += 1
        for reason in r.get("review") or []:
            total[f"review_{reason}"] = total.get(f"review_{reason}", 0) + 1
    return total


def add(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {k: a.get(k, 0) + b.get(k, 0) for k in sorted(set(a) | set(b))}
