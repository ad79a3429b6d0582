"""Where files are read and written: one seam (base), a local folder (local), Cloud Storage
(gcs), the rules for object names (names) and for what a listing leaves out (skips).

`store_for` is the one way to open a store; it lives here so that base, local and gcs import
nothing from each other but base.
"""

from __future__ import annotations

from collections.abc import Iterable

from dataproc_faces.storage.base import Store, is_remote
from dataproc_faces.storage.local import LocalStore


def store_for(uri: str, protect: Iterable[str] = ()) -> Store:
    """The store that serves `uri`, its writes confined below `uri` and kept out of `protect`
    (the run's inputs): local paths here, gs:// through the Cloud Storage client."""
    if uri.startswith("gs://"):
        from dataproc_faces.storage.gcs import GcsStore  # imported only where gs:// is used

        return GcsStore(root=uri, protect=protect)
    if is_remote(uri):
        raise ValueError(f"unsupported URI scheme in {uri!r}: use a local path or gs://")
    return LocalStore(root=uri, protect=protect)
