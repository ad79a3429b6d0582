"""Which folder a photo belongs to, for listing digests and per-folder gallery pages.

One key everywhere (the ledger's digests, the gallery's pages, the feed): a photo's top-level
folder below the run's input, so a new or changed folder costs its own photos and no other's. A
photo at the top of the input (a flat bucket) falls into one of SHARDS shards by a hash of its
name, so a flat bucket of a hundred million photos is not one folder either.
"""

from __future__ import annotations

import hashlib

SHARDS = 256
TOP = "_top"


def folder_of(relative: str) -> str:
    """`relative` is the photo's path below the input, '/'-separated (`a/b/c.jpg` -> `a`)."""
    head, sep, _ = relative.lstrip("/").partition("/")
    if sep:
        return head
    shard = int.from_bytes(hashlib.sha256(head.encode()).digest()[:4], "big") % SHARDS
    return f"{TOP}/{shard:02x}"
