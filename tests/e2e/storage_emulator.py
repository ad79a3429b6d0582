"""gcp-storage-emulator as the tests run it: the PyPI server, plus what Cloud Storage's
objects.list does and the emulator ignores, so listings are tested as they run in the cloud:
- `startOffset` and `endOffset`: objects outside [startOffset, endOffset) are dropped before the
  delimiter groups names into prefixes;
- pages: at most `maxResults` entries (objects and prefixes together, in name order) a response,
  with a `nextPageToken` that the next request gives back (the emulator answered every listing
  in one response, so no test saw a second page).
Run as the emulator's own command line: `python storage_emulator.py start --host ... --port ...
--in-memory`."""

from __future__ import annotations

import json
import sys
import threading
from http import HTTPStatus
from typing import Any

from gcp_storage_emulator import storage as emulated
from gcp_storage_emulator.handlers import objects

_asked = threading.local()  # this request's (startOffset, endOffset); the server has a thread each
_plain_ls = objects.ls
_plain_candidates = emulated.Storage._list_live_candidates


def _first(query: dict[str, list[str]], key: str) -> str | None:
    found = query.get(key)
    return found[0] if found else None


def ls(request: Any, response: Any, storage: Any, *args: Any, **kwargs: Any) -> Any:
    _asked.offsets = (_first(request.query, "startOffset"), _first(request.query, "endOffset"))
    try:
        _plain_ls(request, response, storage, *args, **kwargs)
    finally:
        _asked.offsets = (None, None)
    if response.status == HTTPStatus.OK:
        response.json(_page(json.loads(response._content), request.query))


def _page(listing: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
    """One page of a whole listing: the entries after the page token, at most maxResults."""
    entries = sorted(
        [(item["name"], item) for item in listing.get("items", [])]
        + [(prefix, None) for prefix in listing.get("prefixes", [])],
        key=lambda e: e[0],
    )
    after = _first(query, "pageToken")
    if after is not None:
        entries = [e for e in entries if e[0] > after]
    size = int(_first(query, "maxResults") or 1000)
    page, rest = entries[:size], entries[size:]
    body = {
        **listing,
        "items": [item for _, item in page if item is not None],
        "prefixes": [name for name, item in page if item is None],
    }
    body.pop("nextPageToken", None)
    if rest:
        body["nextPageToken"] = page[-1][0]
    return body


def candidates(self: Any, bucket_name: str, prefix: str | None = None) -> list[Any]:
    low, high = getattr(_asked, "offsets", (None, None))
    return [
        (name, found)
        for name, found in _plain_candidates(self, bucket_name, prefix)
        if (low is None or name >= low) and (high is None or name < high)
    ]


objects.ls = ls  # before the server module builds its routes from it
emulated.Storage._list_live_candidates = candidates

if __name__ == "__main__":
    from gcp_storage_emulator.__main__ import main

    sys.argv[0] = "gcp-storage-emulator"
    sys.exit(main())
