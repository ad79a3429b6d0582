"""gcp-storage-emulator as the tests run it: the PyPI server, plus the listing's `startOffset`
and `endOffset` (Cloud Storage's objects.list takes both; the emulator ignores them and would
list every name). Objects outside [startOffset, endOffset) are dropped before the delimiter
groups names into prefixes, as Cloud Storage does. Run as the emulator's own command line:
`python storage_emulator.py start --host ... --port ... --in-memory`."""

from __future__ import annotations

import sys
import threading
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
        return _plain_ls(request, response, storage, *args, **kwargs)
    finally:
        _asked.offsets = (None, None)


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
