"""The I/O seam: list, read and write files under a local folder or a gs:// prefix."""

from __future__ import annotations

import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

# (relative name, version): the version changes whenever the content may have (a Cloud Storage
# generation; size and modification time locally), so a run can skip what it has already done.
Entry = tuple[str, str]


def is_ignored(relative: str) -> bool:
    """Hidden and underscore names (at any depth) are bookkeeping, not inputs: _SUCCESS, .tmp."""
    return any(part.startswith((".", "_")) for part in PurePosixPath(relative).parts)


def is_remote(uri: str) -> bool:
    return "://" in uri


def join(root: str, relative: str) -> str:
    """`root` + `/` + `relative` for URIs and local paths alike.

    Nothing in `relative` is collapsed: `a//b` stays an exact object name (names.py says why).
    """
    if is_remote(root):
        return root.rstrip("/") + "/" + relative
    return str(Path(root) / relative)


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
    def list_files(self, root: str) -> list[str]:
        """Relative paths of every non-ignored file under `root`, recursively, sorted."""

    @abstractmethod
    def read(self, uri: str) -> bytes: ...

    @abstractmethod
    def write(self, uri: str, data: bytes, content_type: str | None = None) -> None:
        """Replace `uri` atomically: readers see the old object or the new one, never a part."""

    @abstractmethod
    def delete(self, uri: str) -> None: ...

    def top_level(self, root: str) -> Iterator[tuple[str, str | None]]:
        """What lies directly under `root`, streamed: (file, version) and (folder, None).

        The driver lists only this level; executors walk each folder (`walk`), so no process
        holds every name of a large collection.
        """
        raise NotImplementedError

    def walk(self, root: str, folder: str) -> Iterator[Entry]:
        """Every non-ignored file below `root`/`folder`, names relative to `root`, streamed."""
        raise NotImplementedError

    def version(self, uri: str) -> str | None:
        """The version of one object, or None when it does not exist."""
        raise NotImplementedError


class OutsideRoot(ValueError):
    """A local write aimed outside the folder its store was opened on."""


class LocalStore(Store):
    """A local folder. With a `root`, every write must land inside it, symlinks resolved.

    This is the last guard behind names.safe_relative: whatever a caller joins together, a write
    whose real path leaves the root raises instead of touching a file elsewhere.
    """

    def __init__(self, root: str | None = None) -> None:
        self.root = Path(root).expanduser().resolve() if root is not None else None

    def _confined(self, uri: str) -> Path:
        target = Path(uri).expanduser()
        if self.root is not None:
            real = target.resolve()  # follows every symlink that exists, the file's own too
            if real != self.root and self.root not in real.parents:
                raise OutsideRoot(f"refusing to write {uri}: it resolves outside {self.root}")
        return target

    def exists(self, root: str) -> bool:
        return Path(root).is_dir()

    def list_files(self, root: str) -> list[str]:
        base = Path(root)
        found: list[str] = []
        for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
            dirnames[:] = [d for d in dirnames if not d.startswith((".", "_"))]
            rel_dir = Path(dirpath).relative_to(base)
            for name in filenames:
                rel = (rel_dir / name).as_posix()
                if not is_ignored(rel):
                    found.append(rel)
        return sorted(found)

    def top_level(self, root: str) -> Iterator[tuple[str, str | None]]:
        with os.scandir(root) as found:
            names = sorted((e.name, e.is_dir(follow_symlinks=False)) for e in found)
        for name, is_dir in names:
            if is_ignored(name):
                continue
            version = None if is_dir else _version(os.path.join(root, name))
            if is_dir or version is not None:
                yield name, version

    def walk(self, root: str, folder: str) -> Iterator[Entry]:
        base = Path(root)
        for dirpath, dirnames, filenames in os.walk(base / folder, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "_")))
            rel_dir = Path(dirpath).relative_to(base)
            for name in sorted(filenames):
                rel = (rel_dir / name).as_posix()
                version = _version(os.path.join(dirpath, name))
                if not is_ignored(rel) and version is not None:
                    yield rel, version

    def version(self, uri: str) -> str | None:
        return _version(uri)

    def read(self, uri: str) -> bytes:
        return Path(uri).read_bytes()

    def write(self, uri: str, data: bytes, content_type: str | None = None) -> None:
        target = self._confined(uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def delete(self, uri: str) -> None:
        self._confined(uri).unlink(missing_ok=True)


def _version(path: str) -> str | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return f"{st.st_size}:{st.st_mtime_ns}"


def store_for(uri: str) -> Store:
    """The store that serves `uri`: local paths here (writes confined below `uri`), gs:// through
    the Cloud Storage client."""
    if uri.startswith("gs://"):
        from .gcs import GcsStore  # imported only where gs:// is used

        return GcsStore()
    if is_remote(uri):
        raise ValueError(f"unsupported URI scheme in {uri!r}: use a local path or gs://")
    return LocalStore(root=uri)
