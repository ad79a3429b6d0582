"""Corrections as data: a person's boxes to add and remove, per photo, read from a JSON file.

The format (README, "Corrections"; the page's review step writes it):

    {"version": 1,
     "photos": {"<path relative to --input, '/'-separated>": {
         "add": [{"x": 10, "y": 20, "w": 40, "h": 40, "note": "optional"}],
         "remove": [{"x": 300, "y": 12, "w": 35, "h": 35}],
         "by": "local", "at": "2026-12-06T18:00:00Z", "reviewed": true}}}

Boxes are in the original's upright pixels. Added boxes are always hidden; a removed box takes
out the detector's finds it overlaps with IoU >= 0.5 (imaging/render.py applies both). A results
folder keeps the merged corrections (`_corrections/current.json`) and every file applied
(`_corrections/history/`), so a later run without `--corrections` applies them again: a rerun
never undoes a person's work.
Per photo, the newer entry replaces the older one (it is the person's latest word on it).

Pure: parsing, validation, merging and digests; reading and writing go through `Results`.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dataproc_faces.results.layout import Results
from dataproc_faces.storage.names import UnsafeName, safe_relative

VERSION = 1
# Corrections are made by people, a box at a time: at most this many photos in one results
# folder's merged corrections. The merged map goes to every executor once, as a Spark broadcast:
# at the bound, with one box a photo, 12.3 MB of JSON parsed in 2.6 s and 11.3 MB pickled.
MAX_PHOTOS = 100_000
MAX_BOXES = 1_000  # per photo and list: more is not a person's work
_ENTRY_FIELDS = ("add", "remove", "by", "at", "reviewed")
_BOX_FIELDS = ("x", "y", "w", "h", "note", "from_frame", "to_frame")
FRAME_FIELDS = ("from_frame", "to_frame")  # a video's frames a box applies to (inclusive)


class CorrectionsError(ValueError):
    """A corrections file that cannot be used: the message is one line naming photo and field."""


@dataclass(frozen=True)
class Box:
    """One box in the original's upright pixels; `note` is the person's own words, if any.
    In a video, `from_frame`..`to_frame` (inclusive, the sidecar's frame numbers) are the frames
    it applies to; either left out: from the first, or to the last frame."""

    x: int
    y: int
    w: int
    h: int
    note: str = ""
    from_frame: int | None = None
    to_frame: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"x": self.x, "y": self.y, "w": self.w, "h": self.h}
        if self.note:
            d["note"] = self.note
        for name in FRAME_FIELDS:
            if getattr(self, name) is not None:
                d[name] = getattr(self, name)
        return d

    def rect(self) -> tuple[int, int, int, int]:
        return self.x, self.y, self.w, self.h

    def framed(self) -> bool:
        """Whether the box names frames (only a video's boxes may)."""
        return self.from_frame is not None or self.to_frame is not None

    def key(self) -> tuple[int, ...]:
        """What the digest holds: the rectangle, and the frames only when named (so a photo's
        digest is what it was before videos could be corrected)."""
        if not self.framed():
            return self.rect()
        return (*self.rect(), -1 if self.from_frame is None else self.from_frame,
                -1 if self.to_frame is None else self.to_frame)  # fmt: skip


@dataclass(frozen=True)
class Entry:
    """A person's corrections of one photo."""

    add: tuple[Box, ...] = ()
    remove: tuple[Box, ...] = ()
    by: str = "local"
    at: str = ""
    reviewed: bool = False

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "add": [b.to_dict() for b in self.add],
            "remove": [b.to_dict() for b in self.remove],
            "by": self.by,
            "at": self.at,
        }
        if self.reviewed:
            d["reviewed"] = True
        return d

    def digest(self) -> str:
        """What changes the photo's output or row: the boxes and `reviewed`; not the notes, who
        or when (the same boxes sent again with a new time redo nothing)."""
        what = {
            "add": [b.key() for b in self.add],
            "remove": [b.key() for b in self.remove],
            "reviewed": self.reviewed,
        }
        return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


Corrections = dict[str, Entry]  # photo path relative to the input -> its entry


def parse(text: str | bytes) -> Corrections:
    """The file's entries, every field checked; CorrectionsError names the first bad one."""
    try:
        data = json.loads(text.decode("utf-8-sig") if isinstance(text, bytes) else text)
    except UnicodeDecodeError:
        raise CorrectionsError("not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise CorrectionsError(
            f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(data, dict):
        raise CorrectionsError('not a JSON object with "version" and "photos"')
    unknown = sorted(set(data) - {"version", "photos"})
    if unknown:
        raise CorrectionsError(f"unknown field {unknown[0]!r} (known: version, photos)")
    if data.get("version") != VERSION:
        raise CorrectionsError(f"version: must be {VERSION}, got {data.get('version')!r}")
    photos = data.get("photos")
    if not isinstance(photos, dict):
        raise CorrectionsError("photos: must be an object of photo path -> corrections")
    if len(photos) > MAX_PHOTOS:
        raise CorrectionsError(f"photos: {len(photos)} photos, at most {MAX_PHOTOS} in one file")
    return {key: _entry(key, value) for key, value in photos.items()}


def _entry(key: str, value: Any) -> Entry:
    where = f"photo {key!r}"
    try:
        safe_relative(key)
    except UnsafeName as exc:
        raise CorrectionsError(f"{where}: not a path relative to the input ({exc})") from None
    if not isinstance(value, dict):
        raise CorrectionsError(f"{where}: must be an object with add, remove, by, at")
    unknown = sorted(set(value) - set(_ENTRY_FIELDS))
    if unknown:
        raise CorrectionsError(
            f"{where}: unknown field {unknown[0]!r} (known: {', '.join(_ENTRY_FIELDS)})"
        )
    boxes = {name: _boxes(where, name, value.get(name, [])) for name in ("add", "remove")}
    by = value.get("by", "local")
    if not isinstance(by, str) or not by.strip():
        raise CorrectionsError(f"{where}: by: must be a non-empty string, got {by!r}")
    at = value.get("at", "")
    if not isinstance(at, str) or (at and not _is_time(at)):
        raise CorrectionsError(f"{where}: at: must be a UTC time like 2026-12-06T18:00:00Z")
    reviewed = value.get("reviewed", False)
    if not isinstance(reviewed, bool):
        raise CorrectionsError(f"{where}: reviewed: must be true or false, got {reviewed!r}")
    return Entry(boxes["add"], boxes["remove"], by, at, reviewed)


def _is_time(text: str) -> bool:
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _boxes(where: str, name: str, value: Any) -> tuple[Box, ...]:
    if not isinstance(value, list):
        raise CorrectionsError(f"{where}: {name}: must be a list of boxes")
    if len(value) > MAX_BOXES:
        raise CorrectionsError(f"{where}: {name}: {len(value)} boxes, at most {MAX_BOXES}")
    return tuple(_box(f"{where}: {name}[{i}]", b) for i, b in enumerate(value))


def _box(where: str, value: Any) -> Box:
    if not isinstance(value, dict):
        raise CorrectionsError(f"{where}: must be an object with x, y, w, h")
    unknown = sorted(set(value) - set(_BOX_FIELDS))
    if unknown:
        raise CorrectionsError(
            f"{where}: unknown field {unknown[0]!r} (known: {', '.join(_BOX_FIELDS)})"
        )
    numbers = []
    for field in ("x", "y", "w", "h"):
        v = value.get(field)
        if v is None:
            raise CorrectionsError(f"{where}.{field}: missing")
        if isinstance(v, bool) or not isinstance(v, int):
            raise CorrectionsError(f"{where}.{field}: must be a whole number of pixels, got {v!r}")
        least = 1 if field in ("w", "h") else 0
        if v < least:
            raise CorrectionsError(f"{where}.{field}: must be at least {least}, got {v}")
        numbers.append(v)
    note = value.get("note", "")
    if not isinstance(note, str):
        raise CorrectionsError(f"{where}.note: must be a string, got {note!r}")
    frames: list[int | None] = []
    for field in FRAME_FIELDS:
        v = value.get(field)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
            raise CorrectionsError(
                f"{where}.{field}: must be a frame number (0 or more), got {v!r}"
            )
        frames.append(v)
    if frames[0] is not None and frames[1] is not None and frames[1] < frames[0]:
        raise CorrectionsError(
            f"{where}.to_frame: must be at least from_frame ({frames[0]}), got {frames[1]}"
        )
    return Box(*numbers, note=note, from_frame=frames[0], to_frame=frames[1])


def photo_boxes(entry: Entry | None) -> tuple[list[tuple[int, int, int, int]], list[Any]]:
    """(add, remove) rectangles of a photo's entry; a box naming frames is refused (one line):
    frames belong to videos."""
    if entry is None:
        return [], []
    for name, boxes in (("add", entry.add), ("remove", entry.remove)):
        for i, b in enumerate(boxes):
            if b.framed():
                raise CorrectionsError(
                    f"corrections: {name}[{i}]: from_frame/to_frame apply to videos only"
                )
    return [b.rect() for b in entry.add], [b.rect() for b in entry.remove]


def merge(older: Corrections, newer: Corrections) -> Corrections:
    """Both files' photos; for a photo in both, the newer entry (the person's latest word)."""
    merged = {**older, **newer}
    if len(merged) > MAX_PHOTOS:
        raise CorrectionsError(
            f"photos: {len(merged)} photos corrected in this results folder, at most {MAX_PHOTOS}"
        )
    return dict(sorted(merged.items()))


def to_json(corrections: Corrections) -> str:
    """The merged corrections in the file's own format (what `parse` reads back)."""
    photos = {key: corrections[key].to_dict() for key in sorted(corrections)}
    return json.dumps({"version": VERSION, "photos": photos}, indent=1, sort_keys=True) + "\n"


def digests(corrections: Corrections) -> dict[str, str]:
    """photo -> digest of its entry: all the resume check needs (ledger.photo_options)."""
    return {key: entry.digest() for key, entry in corrections.items()}


def load(results: Results) -> Corrections:
    """The results folder's merged corrections ({} when none were ever applied)."""
    store = results.store()
    uri = results.corrections_current
    if store.version(uri) is None:
        return {}
    try:
        return parse(store.read(uri))
    except CorrectionsError as exc:
        raise CorrectionsError(f"{uri}: {exc}") from None


def keep(results: Results, data: bytes, new: Corrections) -> Corrections:
    """Merge a newly applied file into the results' corrections: the file goes to the history
    first (named by when and its content; the same file twice is kept once), then the merged
    whole replaces current.json. Killed between the two, the next run merges the file again."""
    store = results.store()
    content = hashlib.sha256(data).hexdigest()[:16]
    history = results.corrections_history
    seen = store.list_files(history) if store.exists(history) else []
    if not any(name.endswith(f"-{content}.json") for name in seen):
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        store.write(results.corrections_applied(stamp, content), data, "application/json")
    merged = merge(load(results), new)
    store.write(results.corrections_current, to_json(merged).encode(), "application/json")
    return merged
