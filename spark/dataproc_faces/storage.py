"""The I/O seam: list, read and write files under a local folder or a gs:// prefix."""

from __future__ import annotations

import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path, PurePosixPath

# (relative name, version): the version changes whenever the content may have (a Cloud Storage
# generation; size and modification time locally), so a run can skip what it has already done.
Entry = tuple[str, str]


# What a listing does not read as an input, and why. Only these: every other name is a photo
# candidate, `_DSC0001.JPG` (Nikon, Sony) included, and each skipped name is counted and reported.
HIDDEN = "hidden"
SPARK_MARKER = "spark-marker"
RESULTS = "results-folder"
SKIP_REASONS = {
    HIDDEN: "hidden (a name starting with '.')",
    SPARK_MARKER: "written by Spark or Hadoop (_SUCCESS, _temporary, _started_*, ...)",
    RESULTS: "a results folder of this job",
}
_SPARK_NAMES = frozenset(
    {"_SUCCESS", "_FAILURE", "_temporary", "_metadata", "_common_metadata", "_spark_metadata"}
)
_SPARK_PREFIXES = ("_started_", "_committed_", "_temporary_")
# A folder holding either of these is a results folder (the marker; `_state/` for results an
# earlier version wrote): its files are outputs, never inputs.
RESULTS_MARKER = "_dataproc_faces.json"
RESULTS_STATE_DIR = "_state"


def skip_reason(name: str) -> str | None:
    """Why one path segment is not an input, or None when it may be one."""
    if name.startswith("."):
        return HIDDEN
    if name in _SPARK_NAMES or name.startswith(_SPARK_PREFIXES):
        return SPARK_MARKER
    return None


def skipped_part(relative: str) -> tuple[str, str] | None:
    """(the skipped leading path, reason) for the first skipped segment of `relative`."""
    parts = PurePosixPath(relative).parts
    for i, part in enumerate(parts):
        reason = skip_reason(part)
        if reason:
            return "/".join(parts[: i + 1]), reason
    return None


def is_ignored(relative: str) -> bool:
    """Whether any segment (at any depth) makes `relative` a non-input: see SKIP_REASONS."""
    return skipped_part(relative) is not None


def is_results_folder(names: Iterable[str]) -> bool:
    """Whether a folder holding `names` (its direct entries) is a results folder."""
    return any(n in (RESULTS_MARKER, RESULTS_STATE_DIR) for n in names)


# skipped(relative name, reason): how listings report what they leave out
Skipped = Callable[[str, str], None]


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

    def top_level(
        self, root: str, skipped: Skipped | None = None
    ) -> Iterator[tuple[str, str | None]]:
        """What lies directly under `root`, streamed: (file, version) and (folder, None).

        The driver lists only this level; executors walk each folder (`walk`), so no process
        holds every name of a large collection. Names left out are told to `skipped`.
        """
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


def _file_mode() -> int:
    """0666 less the process's umask: what `open()` would give a new file (0644 under 022)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _tell(skipped: Skipped | None, relative: str, reason: str) -> None:
    if skipped is not None:
        skipped(relative, reason)


class LocalStore(Store):
    """A local folder. With a `root`, every write must land inside it, symlinks resolved; with
    `protect`, no write may land inside those folders (a run's inputs).

    This is the last guard behind names.safe_relative and the run's overlap check: whatever a
    caller joins together, a write whose real path leaves the root or enters an input raises
    instead of touching a file there.
    """

    def __init__(self, root: str | None = None, protect: Iterable[str] = ()) -> None:
        self.root = Path(root).expanduser().resolve() if root is not None else None
        self.protect = tuple(Path(p).expanduser().resolve() for p in protect if p)

    def _confined(self, uri: str) -> Path:
        target = Path(uri).expanduser()
        real = target.resolve()  # follows every symlink that exists, the file's own too
        if self.root is not None and real != self.root and self.root not in real.parents:
            raise OutsideRoot(f"refusing to write {uri}: it resolves outside {self.root}")
        for guarded in self.protect:
            if real == guarded or guarded in real.parents:
                raise ProtectedInput(f"refusing to write {uri}: it lies in the input {guarded}")
        return target

    def exists(self, root: str) -> bool:
        return Path(root).is_dir()

    def is_empty(self, root: str) -> bool:
        try:
            with os.scandir(root) as found:
                return next(found, None) is None
        except (FileNotFoundError, NotADirectoryError):
            return not Path(root).exists()

    def list_files(self, root: str) -> list[str]:
        return sorted(rel for rel, _ in self._files(Path(root), Path(root), None))

    def _files(self, base: Path, start: Path, skipped: Skipped | None) -> Iterator[Entry]:
        for dirpath, dirnames, filenames in os.walk(start, followlinks=False):
            rel_dir = Path(dirpath).relative_to(base)
            if Path(dirpath) != base and is_results_folder([*filenames, *dirnames]):
                _tell(skipped, rel_dir.as_posix(), RESULTS)
                dirnames[:] = []
                continue
            kept = []
            for d in sorted(dirnames):
                reason = skip_reason(d)
                if reason:
                    _tell(skipped, (rel_dir / d).as_posix(), reason)
                else:
                    kept.append(d)
            dirnames[:] = kept
            for name in sorted(filenames):
                rel = (rel_dir / name).as_posix()
                reason = skip_reason(name)
                if reason:
                    _tell(skipped, rel, reason)
                    continue
                version = _version(os.path.join(dirpath, name))
                if version is not None:
                    yield rel, version

    def top_level(
        self, root: str, skipped: Skipped | None = None
    ) -> Iterator[tuple[str, str | None]]:
        with os.scandir(root) as found:
            names = sorted((e.name, e.is_dir(follow_symlinks=False)) for e in found)
        for name, is_dir in names:
            reason = skip_reason(name)
            if reason:
                _tell(skipped, name, reason)
                continue
            version = None if is_dir else _version(os.path.join(root, name))
            if is_dir or version is not None:
                yield name, version

    def walk(self, root: str, folder: str, skipped: Skipped | None = None) -> Iterator[Entry]:
        base = Path(root)
        return self._files(base, base / folder, skipped)

    def version(self, uri: str) -> str | None:
        return _version(uri)

    def read(self, uri: str) -> bytes:
        return Path(uri).read_bytes()

    def _staged(self, target: Path, data: bytes) -> str:
        """A temporary file beside `target` holding `data`, with the umask's mode."""
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            os.fchmod(fd, _file_mode())  # mkstemp makes 0600; results are meant to be shared
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return tmp

    def write(self, uri: str, data: bytes, content_type: str | None = None) -> None:
        target = self._confined(uri)
        tmp = self._staged(target, data)
        try:
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def create(self, uri: str, data: bytes) -> bool:
        target = self._confined(uri)
        tmp = self._staged(target, data)
        try:
            os.link(tmp, target)  # fails if `target` exists: whole or absent, never half-made
        except FileExistsError:
            return False
        finally:
            Path(tmp).unlink(missing_ok=True)
        return True

    def delete(self, uri: str) -> None:
        self._confined(uri).unlink(missing_ok=True)


def _version(path: str) -> str | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return f"{st.st_size}:{st.st_mtime_ns}"


def store_for(uri: str, protect: Iterable[str] = ()) -> Store:
    """The store that serves `uri`, its writes confined below `uri` and kept out of `protect`
    (the run's inputs): local paths here, gs:// through the Cloud Storage client."""
    if uri.startswith("gs://"):
        from .gcs import GcsStore  # imported only where gs:// is used

        return GcsStore(root=uri, protect=protect)
    if is_remote(uri):
        raise ValueError(f"unsupported URI scheme in {uri!r}: use a local path or gs://")
    return LocalStore(root=uri, protect=protect)
