"""A results folder is ours before we write in it, and one run at a time writes in it.

- The marker (`_dataproc_faces.json` at the output root) says what made the folder, when and
  from which input. A run writes into an empty or absent folder, or one with the marker; a folder
  an earlier version wrote (`manifest/` and `_state/`) is recognised and gets the marker; any
  other non-empty folder (`~/Pictures`, a web site) is refused before anything is written.
- The lock (`_lock.json`) names the host, process and start time of the run holding the folder.
  It is created only if absent (a hard link locally, `if_generation_match=0` on Cloud Storage),
  so two runs cannot both hold it. A lock left by a process that is gone (same host, no such
  pid) is taken over with a note; one held elsewhere is reported with how to remove it.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from typing import Any

from dataproc_faces.results.layout import Results


class NotOurs(Exception):
    """The output is something else's: a file, or a folder of other things."""


class Held(Exception):
    """Another run holds the output's lock."""


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def claim(results: Results, source: str) -> str | None:
    """Make sure the folder may be written, marking it ours; a note when an old one was adopted.

    NotOurs, with one sentence naming the folder and what to do, when it holds other things.
    """
    store, output = results.store(), results.root
    if store.version(results.marker) is not None:
        return None
    legacy = store.exists(results.manifest) and store.exists(results.state)
    if not legacy and not store.is_empty(output):
        raise NotOurs(
            f"--output {output} already holds files that this job did not write; "
            "choose a new or empty folder (results go under it, originals are never written)"
        )
    body = {"made_by": "dataproc-faces", "created": _now(), "input": source}
    store.create(results.marker, (json.dumps(body, indent=2, sort_keys=True) + "\n").encode())
    return f"{output} holds results of an earlier version: marked as ours" if legacy else None


@dataclass(frozen=True)
class Lock:
    uri: str
    body: dict[str, Any]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def acquire(results: Results, source: str) -> tuple[Lock, str | None]:
    """Hold the folder for this run: (the lock, a note when a dead run's lock was taken over)."""
    store, output, uri = results.store(), results.root, results.lock
    body = {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started": _now(),
        "input": source,
        "token": os.urandom(8).hex(),
    }
    data = (json.dumps(body, sort_keys=True) + "\n").encode()
    note = None
    for _ in range(3):
        if store.create(uri, data):
            return Lock(uri, body), note
        try:
            held = json.loads(store.read(uri))
        except Exception:  # gone since, or half-readable: look again
            held = None
        if held is None:
            continue
        if held.get("token") == body["token"]:  # our own create, retried after a lost reply
            return Lock(uri, body), note
        who = f"pid {held.get('pid')} on {held.get('host')}, started {held.get('started')}"
        if held.get("host") == body["host"] and not _alive(int(held.get("pid") or 0)):
            store.delete(uri)
            note = f"took over the lock of a run that is gone ({who})"
            continue
        raise Held(
            f"another run is writing into {output} ({who}); wait for it to end, or, if no run "
            f"is going on, delete {uri}"
        )
    raise Held(f"could not take the lock {uri}: it keeps changing; is another run starting?")


def release(results: Results, lock: Lock) -> None:
    """Remove the lock if it is still ours (a takeover by another run is left alone)."""
    store = results.store()
    try:
        held = json.loads(store.read(lock.uri))
    except Exception:
        return
    if held.get("token") == lock.body["token"]:
        store.delete(lock.uri)
