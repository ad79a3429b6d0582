"""Uploaded files to a batch folder: every name through the job's name gate, every file sniffed
by the job's header reader, nothing written unless the whole upload is acceptable.

All or nothing, so a person never has to work out which half of a batch landed; no overwrite,
so an upload never silently replaces an image an earlier run read.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import BinaryIO

from dataproc_faces.imaging.codec import ImageError, check_budget, read_header
from dataproc_faces.storage.base import Store, join
from dataproc_faces.storage.names import UnsafeName, safe_relative
from dataproc_faces.storage.skips import SKIP_REASONS, is_ignored, skipped_part
from dataproc_faces.video.probe import HEAD_BYTES
from dataproc_faces.video.probe import sniff as sniff_video

# A batch name; the page's form checks the same pattern in the browser (an HTML `pattern`).
BATCH_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._\-]{0,63}"
_BATCH = re.compile(rf"^{BATCH_PATTERN}$")
# What the file input offers; the server sniffs each file's header whatever its name.
# Videos (MP4/MOV, MKV/WebM, AVI) under the same per-file limit as photos (--max-file-mb).
ACCEPT = "image/*,.zip,.heic,.heif,video/*,.mp4,.m4v,.mov,.mkv,.webm,.avi"
ZIP_MAGIC = b"PK\x03\x04"
# Files cameras, phones and photo programs put next to photos: not photos, and not a reason to
# refuse an upload (a phone's export zip holds them). Skipped, each with a note saying so.
SIDECARS = {
    ".aae": "edit settings Apple Photos keeps next to a photo",
    ".xmp": "a metadata sidecar (Lightroom, darktable, digiKam)",
    ".thm": "a camera's thumbnail of a video",
    ".lrv": "a camera's low-resolution copy of a video",
    ".dop": "edit settings of DxO PhotoLab",
    ".pp3": "edit settings of RawTherapee",
    ".on1": "edit settings of ON1 Photo",
    ".json": "a metadata file (Google Takeout writes one per photo)",
}
SIDECAR_NAMES = {"thumbs.db": "a Windows thumbnail cache", "desktop.ini": "Windows folder settings"}


class Refused(ValueError):
    """An upload that writes nothing; `reasons` holds one sentence per refused file."""

    def __init__(self, summary: str, reasons: Iterable[str] = ()) -> None:
        super().__init__(summary)
        self.reasons = list(reasons)


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int
    max_total_bytes: int
    max_files: int
    max_pixels: int


def check_batch(name: str) -> str:
    """A batch is one folder name: letters, digits, '.', '_' and '-', starting alphanumeric."""
    if not _BATCH.match(name):
        raise Refused(
            f"The batch name {name!r} is not allowed: use up to 64 letters, digits, '.', '_' "
            "and '-', starting with a letter or digit."
        )
    return safe_relative(name)


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):g} MB"


def _read_capped(stream: BinaryIO, limit: int) -> bytes | None:
    """At most `limit` bytes, or None when there are more (never holds more than limit + 1)."""
    data = stream.read(limit + 1)
    return None if len(data) > limit else data


def sidecar(name: str) -> str:
    """What a sidecar file is, or "" when `name` is not a known one."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].lower()
    suffix = "." + base.rsplit(".", 1)[-1] if "." in base else ""
    return SIDECAR_NAMES.get(base) or SIDECARS.get(suffix, "")


def expand(
    files: Iterable[tuple[str, BinaryIO]], limits: Limits, skipped: list[str] | None = None
) -> list[tuple[str, bytes]]:
    """(name, bytes) of every file, zips opened; raises Refused listing every bad file.

    Known sidecar files are left out, one sentence each appended to `skipped`."""
    found: list[tuple[str, bytes]] = []
    notes: list[str] = []
    reasons: list[str] = []
    total = 0
    for name, stream in files:
        if sidecar(name):  # not read at all: its size does not matter
            notes.append(f"{name} skipped: {sidecar(name)}, not a photo.")
            continue
        data = _read_capped(stream, limits.max_file_bytes)
        if data is None:
            reasons.append(
                f"{name} is larger than the {_mb(limits.max_file_bytes)} limit per file."
            )
            continue
        if data.startswith(ZIP_MAGIC) and name.lower().endswith(".zip"):
            members, why = _unzip(name, data, limits, limits.max_total_bytes - total, notes)
            reasons += why
            found += members
            total += sum(len(d) for _, d in members)
        else:
            found.append((name, data))
            total += len(data)
        if total > limits.max_total_bytes:
            raise Refused(f"The upload expands to more than {_mb(limits.max_total_bytes)}.")
    if len(found) > limits.max_files:
        raise Refused(f"The upload holds {len(found)} files; the limit is {limits.max_files}.")
    if reasons:
        raise Refused(_count(reasons, len(found) + len(reasons)), reasons)
    if not found:
        if notes:
            raise Refused("The upload holds no photos, only files next to photos.", notes)
        raise Refused("The upload holds no files: choose photos or a zip of photos.")
    if skipped is not None:
        skipped += notes
    return found


def _unzip(
    zip_name: str, data: bytes, limits: Limits, room: int, notes: list[str]
) -> tuple[list[tuple[str, bytes]], list[str]]:
    """A zip's members, each read with a cap (declared sizes in a zip can lie)."""
    members: list[tuple[str, bytes]] = []
    reasons: list[str] = []
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = [i for i in archive.infolist() if not i.is_dir() and not _bookkeeping(i.filename)]
    except (zipfile.BadZipFile, OSError) as exc:
        return [], [f"{zip_name} is not a readable zip ({exc})."]
    if len(infos) > limits.max_files:
        return [], [f"{zip_name} holds {len(infos)} files; the limit is {limits.max_files}."]
    for info in infos:
        label = f"{zip_name}: {info.filename}"
        if sidecar(info.filename):
            notes.append(f"{label} skipped: {sidecar(info.filename)}, not a photo.")
            continue
        if info.file_size > limits.max_file_bytes:
            reasons.append(
                f"{label} is larger than the {_mb(limits.max_file_bytes)} limit per file."
            )
            continue
        try:
            with archive.open(info) as member:
                content = _read_capped(member, min(limits.max_file_bytes, max(room, 0)))
        except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as exc:
            reasons.append(f"{label} cannot be extracted ({exc}).")
            continue
        if content is None:
            raise Refused(f"{zip_name} expands to more than the limits allow.")
        room -= len(content)
        members.append((info.filename, content))
    return members, reasons


def _bookkeeping(name: str) -> bool:
    """`__MACOSX/...`, `.DS_Store`: skipped quietly; `../x` is not bookkeeping but refused."""
    try:
        return is_ignored(safe_relative(name))
    except UnsafeName:
        return False


def _count(reasons: list[str], files: int) -> str:
    n = len(reasons)
    return f"{n} of {files} file{'s' if files != 1 else ''} refused; nothing was uploaded."


def check_file(name: str, data: bytes, max_pixels: int) -> str:
    """The reason `name` cannot go into a batch, or "" when it can."""
    try:
        safe_relative(name)
    except UnsafeName as exc:
        return f"{name!r} is not a plain relative file name ({exc})."
    skipped = skipped_part(name)
    if skipped:
        return f"{name} is a name the job does not read: {SKIP_REASONS[skipped[1]]}."
    if sniff_video(data[:HEAD_BYTES]):  # a video: the job probes its streams, row by row
        return ""
    try:
        check_budget(read_header(data), max_pixels)
    except ImageError as exc:
        return f"{name}: {exc}."
    return ""


def store_batch(
    store: Store, root: str, batch: str, files: list[tuple[str, bytes]], limits: Limits
) -> list[str]:
    """Write every file under root/batch; refuses the whole upload on any bad or taken name."""
    folder = join(root, check_batch(batch))
    taken = set(store.list_files(folder)) if store.exists(folder) else set()
    reasons, seen = [], set()
    for name, data in files:
        why = check_file(name, data, limits.max_pixels)
        if not why and (name in taken or name in seen):
            why = f"{name} is already in batch {batch}; rename it or choose another batch."
        if why:
            reasons.append(why)
        seen.add(name)
    if reasons:
        raise Refused(_count(reasons, len(files)), reasons)
    for name, data in files:
        store.write(join(folder, name), data)
    return [name for name, _ in files]
