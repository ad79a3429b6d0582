"""Cloud Storage behind the Store seam, with the google-cloud-storage client.

Where this runs:
- On Dataproc the client finds the node service account's credentials through ADC.
- With `STORAGE_EMULATOR_HOST` set (tests, local runs against gcp-storage-emulator) it talks to
  that endpoint with anonymous credentials and the project from `GOOGLE_CLOUD_PROJECT`.

The driver lists a prefix once (paged by the client); executors read and write objects
themselves, each Python worker process with its own cached client (clients hold sockets and
locks and are not picklable, so nothing here is captured in a Spark closure: only URIs travel).

Retries: every call passes an explicit `RETRY` (429, 408, 5xx, connection resets and timeouts,
exponential backoff with jitter). Uploads are retried too, although the library retries them
only when `if_generation_match` is given. That is safe here because every write is idempotent by
construction: the object name is a pure function of the input's relative path and the bytes a
pure function of the input and the options, and an upload is atomic (a multipart request up to
8 MB, a resumable session above, which the library resumes): an object appears whole or not at
all, and a retry after a lost response stores the same bytes under the same name again. The
worst case is one extra, identical generation when the bucket keeps versions.
`if_generation_match=0` is not used because a re-run into the same output must replace earlier
results.
"""

from __future__ import annotations

import contextlib
import mimetypes
import os
import threading
from collections.abc import Iterable, Iterator
from typing import IO, Any

from dataproc_faces.storage.base import (
    Entry,
    OutsideRoot,
    ProtectedInput,
    Skipped,
    Store,
    _tell,
    is_within,
)
from dataproc_faces.storage.skips import (
    RESULTS,
    RESULTS_STATE_DIR,
    is_results_folder,
    skipped_part,
)

EMULATOR_ENV = "STORAGE_EMULATOR_HOST"
DEFAULT_LOCAL_PROJECT = "local"
PAGE_SIZE = 1000
# Listings ask for the fields they read (a partial response): an object's full resource is
# about 1 KB of JSON, name and generation under 100 bytes, so a page of 1,000 objects moves a
# tenth of the bytes and the client parses half as much (bench/gcs_listing.py).
NAMES = "items(name),nextPageToken"
WALKED = "items(name,generation),nextPageToken"
SIZED = "items(name,size),nextPageToken"
TOP_LEVEL = "items(name,generation),prefixes,nextPageToken"
TIMEOUT = (10.0, 120.0)  # connect, read: a stalled connection is retried, not waited on forever
# A streamed read holds one chunk: a video's segment task reads its own range of the object, a
# few ranged requests, never the whole video. Larger chunks mean fewer requests, more memory.
READ_CHUNK = 8 * 1024 * 1024


RETRY_SECONDS_ENV = "DATAPROC_FACES_GCS_RETRY_SECONDS"


def _retry() -> Any:
    """Truncated exponential backoff (GCS guidance); one call gives up after 5 minutes by default.

    What still fails after that raises, and the pipeline turns it into that input's error row.
    """
    from google.cloud.storage.retry import DEFAULT_RETRY

    budget = float(os.environ.get(RETRY_SECONDS_ENV) or 300.0)
    return DEFAULT_RETRY.with_delay(initial=0.5, maximum=32.0, multiplier=2.0).with_timeout(budget)


_CLIENTS: dict[tuple[int, str | None], Any] = {}
_LOCK = threading.Lock()


def client() -> Any:
    """One client per process (and emulator endpoint): created lazily, reused by every task."""
    from google.cloud import storage

    key = (os.getpid(), os.environ.get(EMULATOR_ENV))
    with _LOCK:
        found = _CLIENTS.get(key)
        if found is None:
            if key[1]:
                from google.auth.credentials import AnonymousCredentials

                project = os.environ.get("GOOGLE_CLOUD_PROJECT") or DEFAULT_LOCAL_PROJECT
                found = storage.Client(project=project, credentials=AnonymousCredentials())
            else:
                found = storage.Client()
            _CLIENTS[key] = found
        return found


def _left_out(rel: str) -> tuple[str, str] | None:
    """(the shallowest skipped name above or at `rel`, reason): a hidden or Spark name, or a
    results folder (one holding the marker, or `_state/` for results an earlier version wrote)."""
    parts = rel.split("/")
    results = None
    for i in range(1, len(parts)):
        if is_results_folder([parts[i]]) and (i < len(parts) - 1 or parts[i] != RESULTS_STATE_DIR):
            results = ("/".join(parts[:i]), RESULTS)
            break
    found = skipped_part(rel)
    if found and (results is None or len(found[0]) <= len(results[0])):
        return found
    return results


def _inputs(names: Iterable[tuple[str, Any]], skipped: Skipped | None) -> Iterator[Any]:
    """(name, value) pairs in name order, less what is left out, each left-out name told once.

    A results folder is recognised by its marker or `_state/`, which sort before every name the
    job writes there (`_` < lower case), so the rest of it is left out holding only its name.
    """
    inside: str | None = None  # the results folder being left out, with its trailing /
    last: str | None = None  # the last left-out name told, so a folder is told once
    for rel, value in names:
        if inside and rel.startswith(inside):
            continue
        found = _left_out(rel)
        if found is None:
            yield rel, value
            continue
        name, reason = found
        if reason == RESULTS:
            inside = name + "/"
        if name != last:
            _tell(skipped, name, reason)
            last = name


def _skipped(rel: str, skipped: Skipped | None) -> bool:
    found = skipped_part(rel)
    if found:
        _tell(skipped, *found)
    return found is not None


def split(uri: str) -> tuple[str, str]:
    """`gs://bucket/a/b` -> ("bucket", "a/b"): the name exactly as written, less trailing slashes.

    Inner and leading slashes are kept (`gs://b//x` names the object `/x`), so a name read back
    from a listing reads that object and not a collapsed twin.
    """
    if not uri.startswith("gs://"):
        raise ValueError(f"not a gs:// URI: {uri!r}")
    bucket, _, name = uri[len("gs://") :].partition("/")
    if not bucket:
        raise ValueError(f"no bucket in {uri!r}")
    return bucket, name.rstrip("/")


class GcsStore(Store):
    """gs://bucket/prefix folders: a prefix plus `/` plays the part of a directory.

    With a `root`, writes and deletes must name objects below it; with `protect`, never below
    those prefixes (a run's inputs), whatever a caller joined together.
    """

    def __init__(self, root: str | None = None, protect: Iterable[str] = ()) -> None:
        self.root = root.rstrip("/") if root else None
        self.protect = tuple(p.rstrip("/") for p in protect if p and p.startswith("gs://"))

    def _confined(self, uri: str) -> str:
        if self.root is not None and not is_within(uri, self.root):
            raise OutsideRoot(f"refusing to write {uri}: it is outside {self.root}")
        for guarded in self.protect:
            if is_within(uri, guarded):
                raise ProtectedInput(f"refusing to write {uri}: it lies in the input {guarded}")
        return uri

    def exists(self, root: str) -> bool:
        """Any object under the prefix; for a bare bucket, whether the bucket exists."""
        bucket, prefix = split(root)
        if not prefix:
            return client().bucket(bucket).exists(retry=_retry(), timeout=TIMEOUT)
        return not self.is_empty(root)

    def is_empty(self, root: str) -> bool:
        bucket, prefix = split(root)
        blobs = client().list_blobs(
            bucket,
            prefix=prefix + "/" if prefix else "",
            max_results=1,
            fields=NAMES,
            retry=_retry(),
            timeout=TIMEOUT,
        )
        return not any(True for _ in blobs)

    def objects(self, root: str) -> list[tuple[str, int]]:
        """(relative name, size) of every object under root/, paged; placeholders skipped."""
        bucket, prefix = split(root)
        start = prefix + "/" if prefix else ""
        found: list[tuple[str, int]] = []
        for blob in client().list_blobs(
            bucket, prefix=start, page_size=PAGE_SIZE, fields=SIZED, retry=_retry(), timeout=TIMEOUT
        ):
            rel = blob.name[len(start) :]
            if rel and not rel.endswith("/"):  # "folder/" objects made by consoles and tools
                found.append((rel, int(blob.size or 0)))
        return sorted(found)

    def list_files(self, root: str) -> list[str]:
        return [rel for rel, _ in _inputs(self.objects(root), None)]

    lists_ranges = True

    def top_level(
        self, root: str, skipped: Skipped | None = None
    ) -> Iterator[tuple[str, str | None]]:
        return self.top_range(root, None, None, skipped)

    def top_range(
        self, root: str, low: str | None, high: str | None, skipped: Skipped | None = None
    ) -> Iterator[tuple[str, str | None]]:
        """One delimited listing, page by page: objects with their generation, then prefixes;
        names from `low` (inclusive) to `high` (exclusive) where given (the listing's
        startOffset and endOffset)."""
        bucket, prefix = split(root)
        start = prefix + "/" if prefix else ""
        listing = client().list_blobs(
            bucket,
            prefix=start,
            delimiter="/",
            page_size=PAGE_SIZE,
            fields=TOP_LEVEL,
            retry=_retry(),
            timeout=TIMEOUT,
            start_offset=None if low is None else start + low,
            end_offset=None if high is None else start + high,
        )
        for page in listing.pages:
            for blob in page:
                rel = blob.name[len(start) :]
                if rel and not rel.endswith("/") and not _skipped(rel, skipped):
                    yield rel, str(blob.generation)
            for folder in sorted(page.prefixes):
                # less only the delimiter: "" is the prefix `root//`, whose names start with "/"
                # and reach the names gate as they are
                rel = folder[len(start) : -1]
                if not _skipped(rel, skipped):
                    yield rel, None

    def walk(self, root: str, folder: str, skipped: Skipped | None = None) -> Iterator[Entry]:
        bucket, prefix = split(root)
        start = prefix + "/" if prefix else ""
        blobs = client().list_blobs(
            bucket,
            prefix=start + folder + "/",
            page_size=PAGE_SIZE,
            fields=WALKED,
            retry=_retry(),
            timeout=TIMEOUT,
        )
        found = ((blob.name[len(start) :], str(blob.generation)) for blob in blobs)
        return _inputs(((rel, v) for rel, v in found if rel and not rel.endswith("/")), skipped)

    def version(self, uri: str) -> str | None:
        bucket, name = split(uri)
        blob = client().bucket(bucket).get_blob(name, retry=_retry(), timeout=TIMEOUT)
        return None if blob is None else str(blob.generation)

    def read(self, uri: str) -> bytes:
        bucket, name = split(uri)
        blob = client().bucket(bucket).blob(name)
        return blob.download_as_bytes(retry=_retry(), timeout=TIMEOUT)

    def open_read(self, uri: str) -> IO[bytes]:
        """The object's current generation as a seekable reader: ranged requests of READ_CHUNK
        (the generation is pinned, so a replaced object is never read half old, half new)."""
        from google.api_core.exceptions import NotFound

        bucket, name = split(uri)
        blob = client().bucket(bucket).get_blob(name, retry=_retry(), timeout=TIMEOUT)
        if blob is None:
            raise NotFound(f"{uri} not found")
        return blob.open("rb", chunk_size=READ_CHUNK, retry=_retry(), timeout=TIMEOUT)

    def write_file(self, uri: str, path: str, content_type: str | None = None) -> None:
        """From a local file: a resumable upload above 8 MB (the library's threshold), sent in
        chunks; atomic and safely retried as `write` (module docstring)."""
        bucket, name = split(self._confined(uri))
        blob = client().bucket(bucket).blob(name)
        kind = content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        blob.upload_from_filename(path, content_type=kind, retry=_retry(), timeout=TIMEOUT)

    def read_tail(self, uri: str, nbytes: int) -> bytes:
        """The last `nbytes` of an object (driver output tails) without downloading it all."""
        bucket, name = split(uri)
        blob = client().bucket(bucket).get_blob(name, retry=_retry(), timeout=TIMEOUT)
        if blob is None:
            from google.api_core.exceptions import NotFound

            raise NotFound(f"{uri} not found")
        start = max(0, int(blob.size or 0) - nbytes)
        return blob.download_as_bytes(start=start, retry=_retry(), timeout=TIMEOUT)

    def write(self, uri: str, data: bytes, content_type: str | None = None) -> None:
        """One multipart upload (atomic); see the module docstring for why retrying it is safe."""
        bucket, name = split(self._confined(uri))
        blob = client().bucket(bucket).blob(name)
        kind = content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        blob.upload_from_string(data, content_type=kind, retry=_retry(), timeout=TIMEOUT)

    def create(self, uri: str, data: bytes) -> bool:
        """An upload with `if_generation_match=0`: Cloud Storage refuses it if the object exists.

        A retry after a lost response may find its own object: it then reports False, which
        callers (the run's lock) resolve by reading what is there.
        """
        from google.api_core.exceptions import PreconditionFailed

        bucket, name = split(self._confined(uri))
        blob = client().bucket(bucket).blob(name)
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        try:
            blob.upload_from_string(
                data, content_type=kind, if_generation_match=0, retry=_retry(), timeout=TIMEOUT
            )
        except PreconditionFailed:
            return False
        return True

    def delete(self, uri: str) -> None:
        from google.api_core.exceptions import NotFound

        bucket, name = split(self._confined(uri))
        # NotFound: gone already, e.g. an earlier attempt of this retried call succeeded.
        with contextlib.suppress(NotFound):
            client().bucket(bucket).blob(name).delete(retry=_retry(), timeout=TIMEOUT)
