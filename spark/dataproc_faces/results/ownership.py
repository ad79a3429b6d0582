"""A results folder is ours before we write in it, and one run at a time writes in it.

- The marker (`_dataproc_faces.json` at the output root) says what made the folder, when and
  from which input. A run writes into an empty or absent folder, or one with the marker; a folder
  an earlier version wrote (`manifest/` and `_state/`) is recognised and gets the marker; any
  other non-empty folder (`~/Pictures`, a web site) is refused before anything is written.
- The marker also says how the folder's faces were hidden (`hiding`: mode, fill, mask, scale,
  strength, detector and threshold; None for outline). A later run that would write visible faces
  over hidden ones (outline after blur, a weaker fill, a smaller mask, a higher threshold, another
  detector) is refused (`Weaker`) unless forced: forgetting `--mode blur` once must not undo it.
  A marker from before `hiding` was recorded falls back on summary.json's options.
- The marker names the input by a hash only (`input_sha256`): a shared results folder carries
  no local path.
- The lock (`_lock.json`) names the host, process and start time of the run holding the folder.
  It is created only if absent (a hard link locally, `if_generation_match=0` on Cloud Storage),
  so two runs cannot both hold it. A lock left by a process that is gone (same host, no such
  pid) is taken over with a note; one held elsewhere is reported with how to remove it.
"""

from __future__ import annotations

import hashlib
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


class Weaker(Exception):
    """The run would write faces less hidden than the folder holds (outline after blur...)."""


def hiding(
    mode: str, hidden: dict[str, Any] | None, detect: dict[str, Any]
) -> dict[str, Any] | None:
    """What the marker records: the hiding options in force, None when faces are only outlined.
    `hidden` is RenderOptions.hidden(), `detect` DetectOptions.to_dict()."""
    if not hidden:
        return None
    return {
        "mode": mode,
        **hidden,
        "detector": detect.get("detector"),
        "score_threshold": detect.get("score_threshold"),
    }


def weaker(was: dict[str, Any], now: dict[str, Any] | None) -> list[str]:
    """How `now` hides less than `was` (both `hiding` records): empty when it does not."""
    if now is None:
        return ["--mode outline leaves every face visible"]
    found = []
    same = now.get("fill") if now.get("fill") == was.get("fill") else None
    if same == "blur" and float(now["blur_strength"]) < float(was["blur_strength"]):
        found.append(f"--blur-strength {now['blur_strength']} is lower")
    if same == "pixelate" and int(now["pixelate_blocks"]) > int(was["pixelate_blocks"]):
        found.append(f"--pixelate-blocks {now['pixelate_blocks']} is finer")
    if float(now.get("mask_scale") or 0) < float(was.get("mask_scale") or 0):
        found.append(f"--mask-scale {now['mask_scale']} is smaller")
    if not _looks(now.get("detector")) >= _looks(was.get("detector")):
        found.append(f"--detector {now.get('detector')} is not the detector that found them")
    elif float(now.get("score_threshold") or 0) > float(was.get("score_threshold") or 0):
        found.append(f"--score-threshold {now['score_threshold']} is higher")
    return found


# The detectors that look with others' networks too (the networks of detectors/ensemble.py's
# MEMBERS; the results layer does not import detectors): moving to one of them hides at least as
# many faces, measured (README, "More than one look": recall the same or higher on every set). Not
# face for face: on photos over 1,536 px the ensemble skips RetinaFace's own tiles, where
# CenterFace's finer look finds the small faces.
COVERS = {"ensemble": ("retinaface", "centerface")}


def _looks(detector: Any) -> set[str]:
    """The networks a detector looks with: itself, or an ensemble's members and itself."""
    return {str(detector), *COVERS.get(str(detector), ())}


def describe_hiding(h: dict[str, Any]) -> str:
    """`blur (mask ellipse x1.3, strength 0.5; retinaface at 0.2)`"""
    strength = {
        "blur": f", strength {h.get('blur_strength')}",
        "pixelate": f", {h.get('pixelate_blocks')} blocks",
        "solid": f", colour {h.get('fill_color')}",
    }.get(str(h.get("fill")), "")
    return (
        f"{h.get('mode')} (mask {h.get('mask')} x{h.get('mask_scale')}{strength}; "
        f"{h.get('detector')} at {h.get('score_threshold')})"
    )


def input_id(source: str) -> str:
    """The input's identity without its path: a hash, so the marker names no local folder."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]


def _recorded(results: Results) -> tuple[dict[str, Any] | None, bool]:
    """(the hiding the folder holds, whether any record was found): the marker's, else the
    summary's options for a folder marked before hiding was recorded."""
    store = results.store()
    try:
        marker = json.loads(store.read(results.marker))
    except Exception:
        marker = {}
    if "hiding" in marker:
        return marker["hiding"], True
    try:
        summary = json.loads(store.read(results.summary))
    except Exception:
        return None, False
    render, detect = summary.get("render") or {}, summary.get("detector") or {}
    hidden = {k: render[k] for k in ("fill", "mask", "mask_scale") if k in render}
    for k in ("blur_strength", "pixelate_blocks", "fill_color"):
        if k in render:
            hidden[k] = render[k]
    return hiding(str(render.get("mode")), hidden if "fill" in hidden else None, detect), True


def check_hiding(results: Results, now: dict[str, Any] | None, force: bool = False) -> None:
    """Refuse (Weaker, one sentence) a run that would write visible faces over hidden ones;
    `force` lets it. A folder that is new, or holds outlines only, takes anything."""
    if force or not results.store().exists(results.root):
        return
    was, _ = _recorded(results)
    if was is None:
        return
    why = weaker(was, now)
    if why:
        raise Weaker(
            f"--output {results.root} holds faces hidden by {describe_hiding(was)}; this run "
            f"would write them less hidden ({'; '.join(why)}): add --force to overwrite them, "
            "or choose another --output"
        )


def record_hiding(results: Results, now: dict[str, Any] | None) -> None:
    """The marker says how the faces this run writes are hidden (after `check_hiding`)."""
    store = results.store()
    try:
        marker = json.loads(store.read(results.marker))
    except Exception:
        return
    if marker.get("hiding", "absent") == now and "input" not in marker:
        return
    marker["hiding"] = now
    if "input" in marker:  # older markers named the input's path: keep only its hash
        marker["input_sha256"] = input_id(str(marker.pop("input")))
    store.write(results.marker, (json.dumps(marker, indent=2, sort_keys=True) + "\n").encode())


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


UNSAID: Any = "unsaid"  # a caller that writes no faces of its own (fetch): no check, no record


def claim(
    results: Results,
    source: str,
    now: dict[str, Any] | None = UNSAID,
    force: bool = False,
) -> str | None:
    """Make sure the folder may be written, marking it ours; a note when an old one was adopted.

    NotOurs, with one sentence naming the folder and what to do, when it holds other things;
    Weaker when this run's hiding (`now`, see `hiding`) would undo the folder's (unless `force`).
    """
    store, output = results.store(), results.root
    if store.version(results.marker) is not None:
        if now is not UNSAID:
            check_hiding(results, now, force)
            record_hiding(results, now)
        return None
    legacy = store.exists(results.manifest) and store.exists(results.state)
    if not legacy and not store.is_empty(output):
        raise NotOurs(
            f"--output {output} already holds files that this job did not write; "
            "choose a new or empty folder (results go under it, originals are never written)"
        )
    if legacy and now is not UNSAID:
        check_hiding(results, now, force)
    body: dict[str, Any] = {
        "made_by": "dataproc-faces",
        "created": _now(),
        "input_sha256": input_id(source),
    }
    if now is not UNSAID:
        body["hiding"] = now
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
        "input_sha256": input_id(source),
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
