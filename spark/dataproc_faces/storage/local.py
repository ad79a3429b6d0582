"""A local folder behind the Store seam: writes atomic, confined and with the umask's mode."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from dataproc_faces.storage.base import Entry, OutsideRoot, ProtectedInput, Skipped, Store, _tell
from dataproc_faces.storage.skips import RESULTS, is_results_folder, skip_reason


def _file_mode() -> int:
    """0666 less the process's umask: what `open()` would give a new file (0644 under 022)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


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
        # Plain strings, not Path objects: a listing makes a name per file, millions of them.
        # Each file is looked up from its open folder (`dir_fd`), not along its whole path:
        # 15% less per file.
        base_text = os.fspath(base)
        cut = len(base_text) if base_text.endswith("/") else len(base_text) + 1
        for dirpath, dirnames, filenames in os.walk(start, followlinks=False):
            prefix = dirpath[cut:] + "/" if dirpath != base_text else ""
            if prefix and is_results_folder([*filenames, *dirnames]):
                _tell(skipped, prefix[:-1], RESULTS)
                dirnames[:] = []
                continue
            kept = []
            for d in sorted(dirnames):
                reason = skip_reason(d)
                if reason:
                    _tell(skipped, prefix + d, reason)
                else:
                    kept.append(d)
            dirnames[:] = kept
            try:
                here = os.open(dirpath, os.O_RDONLY | os.O_DIRECTORY)
            except OSError:  # gone since it was listed: as its files would be
                continue
            try:
                for name in sorted(filenames):
                    reason = skip_reason(name)
                    if reason:
                        _tell(skipped, prefix + name, reason)
                        continue
                    version = _version(name, here)
                    if version is not None:
                        yield prefix + name, version
            finally:
                os.close(here)

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

    def open_read(self, uri: str) -> IO[bytes]:
        return open(uri, "rb")

    def write_file(self, uri: str, path: str, content_type: str | None = None) -> None:
        """Copied beside the target, then renamed over it: whole or absent."""
        target = self._confined(uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            os.fchmod(fd, _file_mode())
            with os.fdopen(fd, "wb") as out, open(path, "rb") as f:
                shutil.copyfileobj(f, out, 1 << 20)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

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


def _version(path: str, dir_fd: int | None = None) -> str | None:
    try:
        st = os.stat(path, dir_fd=dir_fd)
    except OSError:
        return None
    return f"{st.st_size}:{st.st_mtime_ns}"
