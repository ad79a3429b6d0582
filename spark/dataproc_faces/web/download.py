"""A finished run's results as one zip, streamed: each file is read in chunks (a local file, or
a Cloud Storage object by ranged reads) and each chunk of the archive leaves as soon as it is
made, so the server holds a few chunks whatever the run's size.

The stdlib's zipfile writes to a stream that cannot seek by putting each entry's sizes after its
data (a data descriptor), which every unzip tool reads.
"""

from __future__ import annotations

import time
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from dataproc_faces.storage import store_for
from dataproc_faces.storage.base import is_remote, join

CHUNK = 1024 * 1024
# Results a person takes away: the output images, the manifest and the summary (thumbnails,
# state and the gallery's data are the page's own).
FOLDERS = ("images", "manifest")
FILES = ("summary.json",)
_STORED = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".heic", ".heif", ".tif", ".tiff")


class _Pipe:
    """A write-only stream that keeps what is written until it is taken."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def size(self) -> int:
        return sum(map(len, self.parts))

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


def entries(output: str) -> list[str]:
    """Names (relative to the run's folder) that go into its zip, sorted."""
    store = store_for(output)
    names: list[str] = []
    for folder in FOLDERS:
        base = join(output, folder)
        if store.exists(base):
            names += [f"{folder}/{rel}" for rel in store.list_files(base)]
    names += [name for name in FILES if store.version(join(output, name)) is not None]
    return sorted(names)


def _chunks(output: str, name: str) -> Iterator[bytes]:
    if is_remote(output):
        from dataproc_faces.storage.gcs import client, split

        bucket, key = split(join(output, name))
        with client().bucket(bucket).blob(key).open("rb", chunk_size=CHUNK) as f:
            yield from _read(f)
        return
    root = Path(output).resolve()
    path = (root / name).resolve()
    if root not in path.parents:  # a symlink out of the results folder is not ours to send
        return
    with path.open("rb") as f:
        yield from _read(f)


def _read(f: BinaryIO) -> Iterator[bytes]:
    while chunk := f.read(CHUNK):
        yield chunk


def stream_zip(output: str, names: Iterable[str], folder: str) -> Iterator[bytes]:
    """The zip of `names` under `output`, each entry below `folder/`, in pieces of about CHUNK."""
    pipe = _Pipe()
    stamp = time.gmtime()[:6]
    with zipfile.ZipFile(pipe, "w", allowZip64=True) as archive:  # type: ignore[arg-type]
        for name in names:
            info = zipfile.ZipInfo(f"{folder}/{name}", date_time=stamp)
            info.compress_type = (
                zipfile.ZIP_STORED if name.lower().endswith(_STORED) else zipfile.ZIP_DEFLATED
            )
            info.external_attr = 0o644 << 16
            with archive.open(info, "w", force_zip64=True) as entry:
                for chunk in _chunks(output, name):
                    entry.write(chunk)
                    if pipe.size() >= CHUNK:
                        yield pipe.take()
            if pipe.size() >= CHUNK:
                yield pipe.take()
    yield pipe.take()
