"""The I/O seam: what every store does (list, read, write under a folder or a gs:// prefix),
the path rules shared by local paths and URIs, and the errors a guarded store raises."""

from __future__ import annotations

import functools
import io
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

# (relative name, version): the version changes whenever the content may have (a Cloud Storage
# generation; size and modification time locally), so a run can skip what it has already done.
Entry = tuple[str, str]

# skipped(relative name, reason): how listings report what they leave out
Skipped = Callable[[str, str], None]


def is_remote(uri: str) -> bool:
    return "://" in uri


def join(root: str, relative: str) -> str:
    """`root` + `/` + `relative` for URIs and local paths alike.

    Nothing in `relative` is collapsed: `a//b` stays an exact object name (names.py says why).
    """
    return joiner(root)(relative)


def joiner(root: str) -> Callable[[str], str]:
    """`join` below one root, its spelling worked out once: a listing or a part joins one name
    per file, millions of them."""
    if is_remote(root):
        prefix = root.rstrip("/") + "/"
        return lambda relative: prefix + relative
    base = local_base(root)
    if base == ".":
        return lambda relative: str(Path(base) / relative)
    prefix = base if base.endswith("/") else base + "/"
    # What pathlib would make of a plain name, without parsing it.
    return lambda relative: prefix + relative if is_plain(relative) else str(Path(base) / relative)


@functools.lru_cache(maxsize=64)
def local_base(root: str) -> str:
    return str(Path(root))


def is_plain(relative: str) -> bool:
    """A relative name pathlib leaves as it is: no empty or `.` segment, no leading `/`."""
    return (
        bool(relative)
        and relative[0] != "/"
        and relative[-1] != "/"
        and "//" not in relative
        and relative != "."
        and not relative.startswith("./")
        and not relative.endswith("/.")
        and "/./" not in relative
    )


def normalise(uri: str) -> str:
    """An absolute local path or a URI without a trailing slash: one spelling per place."""
    if is_remote(uri):
        return uri.rstrip("/")
    return str(Path(uri).expanduser().resolve())


def is_within(inner: str, outer: str) -> bool:
    """Whether `inner` is `outer` or lies below it (both normalised)."""
    if is_remote(inner) != is_remote(outer):
        return False
    return inner == outer or inner.startswith(outer.rstrip("/") + "/")


class Store(ABC):
    """One storage system; methods take full paths or URIs so executors need no shared state."""

    @abstractmethod
    def exists(self, root: str) -> bool:
        """Whether `root` names an existing folder or prefix."""

    @abstractmethod
    def is_empty(self, root: str) -> bool:
        """Whether nothing at all (hidden names included) lies under `root`; True when absent."""

    @abstractmethod
    def list_files(self, root: str) -> list[str]:
        """Relative paths of every non-ignored file under `root`, recursively, sorted."""

    @abstractmethod
    def read(self, uri: str) -> bytes: ...

    @abstractmethod
    def write(self, uri: str, data: bytes, content_type: str | None = None) -> None:
        """Replace `uri` atomically: readers see the old object or the new one, never a part."""

    @abstractmethod
    def create(self, uri: str, data: bytes) -> bool:
        """Write `uri` only if it does not exist, atomically; False when it existed."""

    @abstractmethod
    def delete(self, uri: str) -> None: ...

    def write_lines(self, uri: str, lines: list[str]) -> None:
        """`write` of text lines, each ended by a newline (listing files)."""
        self.write(uri, ("\n".join(lines) + "\n").encode(), "text/plain")

    def open_read(self, uri: str) -> IO[bytes]:
        """A seekable reader of `uri` that does not hold the whole object (a stored video is
        read in ranges by the task that needs a part of it). Stores that cannot stream read
        it whole."""
        return io.BytesIO(self.read(uri))

    def write_file(self, uri: str, path: str, content_type: str | None = None) -> None:
        """Replace `uri` with a local file's content, atomically, without reading the whole
        file into memory where the store can (a video's output, its segments)."""
        with open(path, "rb") as f:
            self.write(uri, f.read(), content_type)

    def top_level(
        self, root: str, skipped: Skipped | None = None
    ) -> Iterator[tuple[str, str | None]]:
        """What lies directly under `root`, streamed: (file, version) and (folder, None).

        The driver lists only this level; executors walk each folder (`walk`), so no process
        holds every name of a large collection. Names left out are told to `skipped`.
        """
        raise NotImplementedError

    # Whether `top_range` lists a slice of the top level by name: an object store's listing
    # takes name offsets, so executors can list a flat prefix's slices side by side. A folder's
    # entries come in one stream (a local directory), so local listings stay on the driver.
    lists_ranges = False

    def top_range(
        self, root: str, low: str | None, high: str | None, skipped: Skipped | None = None
    ) -> Iterator[tuple[str, str | None]]:
        """`top_level`'s entries whose names (relative to `root`) lie in [low, high); None is
        open. Only where `lists_ranges`."""
        raise NotImplementedError

    def walk(self, root: str, folder: str, skipped: Skipped | None = None) -> Iterator[Entry]:
        """Every input file below `root`/`folder`, names relative to `root`, streamed.

        Hidden names, Spark's markers and results folders are left out and told to `skipped`,
        once per skipped name (a skipped folder once, not once per file in it).
        """
        raise NotImplementedError

    def version(self, uri: str) -> str | None:
        """The version of one object, or None when it does not exist."""
        raise NotImplementedError


class OutsideRoot(ValueError):
    """A write aimed outside the folder its store was opened on."""


class ProtectedInput(ValueError):
    """A write aimed at an input: originals are never written."""


def _tell(skipped: Skipped | None, relative: str, reason: str) -> None:
    if skipped is not None:
        skipped(relative, reason)
