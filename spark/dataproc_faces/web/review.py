"""The review step: a run's photos that need a look first, their hidden regions as boxes, and a
person's corrections (boxes added where a face was missed, a detector's false find removed, a
photo marked reviewed) written as a corrections file into the run's results.

The page never writes an original and never writes outside the results folder; the file goes
under `_corrections/page/` (each apply its own file: the history), under the folder's lock, and a
run with `--corrections` then redoes only the photos it names. Boxes are checked here, whatever
the browser sent: whole pixels inside the photo, at least MIN_BOX a side, at most MAX_BOXES.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

import cv2

from dataproc_faces.imaging.codec import ImageError, decode
from dataproc_faces.results.layout import Results
from dataproc_faces.results.ownership import acquire, release
from dataproc_faces.storage import store_for
from dataproc_faces.storage.base import join
from dataproc_faces.storage.names import safe_relative

# The reasons a row needs a look, most urgent first (CORRECTIONS.md's vocabulary).
REASONS = ("weak", "small", "many", "large", "corrected")
SMALL_FACE = 24  # px: the report's "small" when a row carries no `review` of its own
MIN_BOX = 4  # px a side: smaller is a slip of the mouse, not a face
MAX_BOXES = 200  # per photo and list: more is not a person's work
MAX_PHOTOS = 2000  # photos one apply may name
SHOWN = 500  # photos the review view loads: the ones needing a look come first
CORRECTIONS_DIR = Results.CORRECTIONS  # the results' folder for a person's corrections
PAGE_FILES = "page"  # each file the page applied, kept (the history)
VIEWABLE = (".jpg", ".jpeg", ".png", ".webp", ".gif")  # served as they are; others as JPEG
# An original is shown at most this many pixels on its long side: the boxes are drawn in the
# photo's own pixels over whatever size is shown, and a 50 MP original need not cross the wire.
SHOWN_SIDE = 2560


class ReviewRefused(ValueError):
    """An apply that writes nothing; the message is one sentence naming the photo and field."""


@dataclass(frozen=True)
class Photo:
    """One ok row as the review view needs it."""

    path: str  # relative to the run's input, '/'-separated
    output: str  # relative to the run's results folder
    width: int
    height: int
    faces: list[dict[str, Any]]
    reasons: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "output": self.output,
            "width": self.width,
            "height": self.height,
            "faces": self.faces,
            "reasons": self.reasons,
        }


def rows(output: str) -> list[dict[str, Any]]:
    """The run's manifest rows, one per photo (a later part's row wins: parts sort by age)."""
    folder = Results(output).manifest
    store = store_for(output)
    if not store.exists(folder):
        return []
    by_path: dict[str, dict[str, Any]] = {}
    for name in sorted(store.list_files(folder)):
        if not name.endswith((".json", ".jsonl")):
            continue
        for line in store.read(join(folder, name)).decode("utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                by_path[str(row.get("path"))] = row
    return list(by_path.values())


def reasons_of(row: dict[str, Any]) -> list[str]:
    """The row's own `review` reasons; for rows written before it existed, weak and small."""
    if isinstance(row.get("review"), list):
        return [str(r) for r in row["review"]]
    faces = row.get("faces") or []
    found = []
    if any(f.get("weak") for f in faces):
        found.append("weak")
    if any(max(f.get("w", 0), f.get("h", 0)) < SMALL_FACE for f in faces):
        found.append("small")
    return found


def _relative(uri: str, root: str) -> str:
    """`uri` below `root` as a relative path, or "" when it is not below it. Rows name local
    files below the input and results folders already (layout.py `shown`): those stay."""
    if uri and "://" not in uri and not uri.startswith(("/", "../")):
        return uri
    base = root.rstrip("/") + "/"
    return uri[len(base) :] if uri.startswith(base) else ""


def photos(output: str, source: str) -> tuple[list[Photo], list[dict[str, str]]]:
    """(ok photos, needing a look first, then the rest, each by path; failed inputs)."""
    found: list[Photo] = []
    failed: list[dict[str, str]] = []
    for row in rows(output):
        path = _relative(str(row.get("path") or ""), source) or str(row.get("path") or "")
        if row.get("status") != "ok":
            failed.append({"path": path, "error": str(row.get("error") or "")})
            continue
        if row.get("video"):  # boxes over frames: corrected with a file (README, Corrections)
            continue
        out = _relative(str(row.get("output") or ""), output)
        if not out or not row.get("width") or not row.get("height"):
            continue
        faces = [
            {k: f[k] for k in ("x", "y", "w", "h", "by", "weak", "score") if k in f}
            for f in row.get("faces") or []
        ]
        width, height = int(row["width"]), int(row["height"])
        found.append(Photo(path, out, width, height, faces, reasons_of(row)))

    def rank(p: Photo) -> tuple[int, int, str]:
        first = min((REASONS.index(r) for r in p.reasons if r in REASONS), default=len(REASONS))
        return (0 if p.reasons else 1, first, p.path)

    return sorted(found, key=rank), sorted(failed, key=lambda f: f["path"])


# corrections -------------------------------------------------------------------------------
def current(output: str) -> dict[str, dict[str, Any]]:
    """The corrections applied to these results: the merged file every corrections run keeps
    (a file the page wrote whose run failed is not in it, so applying it again is not "nothing
    new")."""
    store = store_for(output)
    merged = Results(output).corrections_current
    if store.version(merged) is None:
        return {}
    return dict(json.loads(store.read(merged)).get("photos") or {})


def _rects(entry: dict[str, Any], name: str) -> list[tuple[int, int, int, int]]:
    return sorted((b["x"], b["y"], b["w"], b["h"]) for b in entry.get(name) or [])


def same(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    """Whether two entries change a photo the same way (who and when aside)."""
    a, b = a or {}, b or {}
    return all(_rects(a, n) == _rects(b, n) for n in ("add", "remove")) and bool(
        a.get("reviewed")
    ) == bool(b.get("reviewed"))


def _box(where: str, value: Any, width: int, height: int) -> dict[str, int]:
    if not isinstance(value, dict):
        raise ReviewRefused(f"{where}: must be a box with x, y, w and h")
    box = {}
    for field in ("x", "y", "w", "h"):
        v = value.get(field)
        if isinstance(v, bool) or not isinstance(v, int):
            raise ReviewRefused(f"{where}.{field}: must be a whole number of pixels, got {v!r}")
        box[field] = v
    if box["w"] < MIN_BOX or box["h"] < MIN_BOX:
        raise ReviewRefused(f"{where}: {box['w']}x{box['h']} is smaller than {MIN_BOX} px a side")
    if box["x"] < 0 or box["y"] < 0 or box["x"] + box["w"] > width or box["y"] + box["h"] > height:
        raise ReviewRefused(
            f"{where}: ({box['x']}, {box['y']}, {box['w']}x{box['h']}) is not inside the "
            f"{width}x{height} photo"
        )
    return box


def checked(body: Any, known: dict[str, Photo], by: str, at: str) -> dict[str, dict[str, Any]]:
    """The sent corrections as the file's entries; ReviewRefused names the first bad field."""
    if not isinstance(body, dict) or not isinstance(body.get("photos"), dict):
        raise ReviewRefused('The corrections must be a JSON object with "photos".')
    sent = body["photos"]
    if len(sent) > MAX_PHOTOS:
        raise ReviewRefused(f"photos: {len(sent)} photos, at most {MAX_PHOTOS} in one apply")
    entries: dict[str, dict[str, Any]] = {}
    for path, value in sent.items():
        where = f"photo {path!r}"
        photo = known.get(path)
        if photo is None:
            raise ReviewRefused(f"{where}: not a photo of this run")
        if not isinstance(value, dict):
            raise ReviewRefused(f"{where}: must be an object with add, remove and reviewed")
        entry: dict[str, Any] = {}
        for name in ("add", "remove"):
            boxes = value.get(name, [])
            if not isinstance(boxes, list):
                raise ReviewRefused(f"{where}: {name}: must be a list of boxes")
            if len(boxes) > MAX_BOXES:
                raise ReviewRefused(f"{where}: {name}: {len(boxes)} boxes, at most {MAX_BOXES}")
            entry[name] = [
                _box(f"{where}: {name}[{i}]", b, photo.width, photo.height)
                for i, b in enumerate(boxes)
            ]
        reviewed = value.get("reviewed", False)
        if not isinstance(reviewed, bool):
            raise ReviewRefused(f"{where}: reviewed: must be true or false, got {reviewed!r}")
        entry.update(by=by, at=at)
        if reviewed:
            entry["reviewed"] = True
        entries[path] = entry
    return entries


def write(output: str, source: str, entries: dict[str, dict[str, Any]]) -> str:
    """Write the corrections file into the results folder, holding its lock; its URI.

    Held (one sentence) when a run is writing there; the store confines the write to the
    results folder and keeps it out of the input."""
    results = Results(output, protect=source)
    data = (json.dumps({"version": 1, "photos": entries}, indent=1, sort_keys=True) + "\n").encode()
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    name = f"{stamp}-{hashlib.sha256(data).hexdigest()[:12]}.json"
    uri = join(join(join(output, CORRECTIONS_DIR), PAGE_FILES), name)
    lock, _ = acquire(results, source)
    try:
        results.store().write(uri, data, "application/json")
    finally:
        release(results, lock)
    return uri


# images ------------------------------------------------------------------------------------
def viewable(data: bytes, name: str, max_pixels: int, always: bool = False) -> bytes:
    """The image as the browser can show it: viewable formats as they are, others (and, with
    `always`, every original: orientation applied, metadata dropped) as a JPEG."""
    if not always and name.lower().endswith(VIEWABLE):
        return data
    _, image = decode(data, max_pixels)
    side = max(image.shape[:2])
    if always and side > SHOWN_SIDE:
        k = SHOWN_SIDE / side
        size = (max(1, round(image.shape[1] * k)), max(1, round(image.shape[0] * k)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise ImageError("could not encode the image for the page")
    return buf.tobytes()


def original_uri(source: str, path: str) -> str:
    """The original of a photo of the run, below its input (UnsafeName for any other path)."""
    return join(source, safe_relative(path))
