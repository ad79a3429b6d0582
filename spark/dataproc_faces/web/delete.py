"""Deleting a batch of uploads or a run's results, confined to the page's own roots.

The folder is checked to lie below its root (names through the job's gate, then the real path);
every delete then goes through the store opened on that root, whose guard refuses anything that
resolves outside it. A local folder holding a link that leads out of the root is refused whole.
"""

from __future__ import annotations

import os
from pathlib import Path

from dataproc_faces.storage import store_for
from dataproc_faces.storage.base import (
    OutsideRoot,
    ProtectedInput,
    is_remote,
    is_within,
    join,
    normalise,
)


class NotDeleted(ValueError):
    """Nothing was deleted; the message is one sentence for the page."""


def delete_tree(root: str, folder: str, protect: tuple[str, ...] = ()) -> int:
    """Delete every file under `folder` (which must lie below `root`); the number deleted."""
    root, folder = normalise(root), normalise(folder)
    if folder == root or not is_within(folder, root):
        raise NotDeleted(f"{folder} is not a folder below {root}; nothing was deleted.")
    store = store_for(root, protect=protect)
    try:
        if is_remote(root):
            return _delete_objects(store, folder)
        return _delete_local(store, Path(root), Path(folder))
    except (OutsideRoot, ProtectedInput) as exc:
        raise NotDeleted(f"Refused: {exc}.") from None


def _delete_objects(store, folder: str) -> int:  # type: ignore[no-untyped-def]
    names = [rel for rel, _ in store.objects(folder)]  # hidden names and markers too
    for rel in names:
        store.delete(join(folder, rel))
    return len(names)


def _delete_local(store, root: Path, folder: Path) -> int:  # type: ignore[no-untyped-def]
    if folder.is_symlink() or not folder.is_dir():
        raise NotDeleted(f"{folder} is not a folder; nothing was deleted.")
    real_root = root.resolve()
    files: list[Path] = []
    dirs: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        base = Path(dirpath)
        dirs.append(base)
        for name in [*filenames, *(d for d in dirnames if (base / d).is_symlink())]:
            path = base / name
            if path.is_symlink() and not path.resolve().is_relative_to(real_root):
                raise NotDeleted(
                    f"{path} links outside {root}; nothing was deleted (remove the link first)."
                )
            files.append(path)
    for path in files:
        if path.is_symlink():
            path.unlink()  # the link only, never what it leads to (inside the root, checked)
        else:
            store.delete(str(path))
    for d in sorted(dirs, key=lambda p: len(p.parts), reverse=True):
        d.rmdir()
    return len(files)
