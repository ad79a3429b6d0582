"""A results folder's layout: the one place that knows the paths under a run's output.

    images/<relative path>            outlined or anonymised copies, the input's tree mirrored
    thumbs/<relative path>.jpg        the gallery's thumbnails (a video's poster frame)
    frames/<relative path>.jsonl      a video's boxes, one line per frame with faces
    manifest/part-<id>.json           one JSON Lines part per Spark task (ledger.py)
    _state/part-<id>.json             what each part's inputs were when processed (ledger.py),
    _state/<folder>/part-<id>.json    ... for the parts `manifest/part-<folder>~<id>.json`
    _state/_digests/<xx>.json         each input folder's listing digest, 256 shards (ledger.py)
    _state/_totals/<xx>.json          each manifest part's totals, by its version (totals.py)
    _state/_ranges.json               marks cutting a flat prefix's names into slices (ranges.py)
    _work/<run id>/list-<n>.txt       a run's listing shards, deleted when it ends (and
                                      list-<slice>-<n>.txt, a slice's: ranges.py)
    _work/videos/<key>/<n>.*          a video's encoded segments, deleted once joined
    _corrections/current.json         a person's boxes, merged (corrections.py)
    _corrections/history/<t>-<h>.json each corrections file applied, as given
    summary.json, index.html          the collection's totals and the gallery's page
    gallery/folders/<dir>/<view>/<n>.js  a folder's page files; rows.jsonl, folder.json beside
    gallery/top/faces/<n>.js, gallery/list/<n>.js, gallery/*.json  merged views, folder list, state
    _dataproc_faces.json, _lock.json  the marker and the lock (ownership.py)

`Results` is plain data, so Spark ships it to executors; `store()` opens the output with the run's
input protected, so nothing that goes through it can write over an original.

A results folder can be shared: nothing in it names a local folder. Rows and state name a local
input by its path below the input folder (`shown`), outputs by their path below the results
folder (`shown_output`); `source_of` turns a stored name back into the input's path for the run
that reads it (an older folder's absolute names read as they are). `gs://` URIs are not local
paths and are stored whole: the bucket and prefix stay, so a row still says which object it was.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from dataproc_faces.storage import store_for
from dataproc_faces.storage.base import (
    Store,
    is_plain,
    is_remote,
    is_within,
    join,
    joiner,
    local_base,
)
from dataproc_faces.storage.skips import RESULTS_MARKER, RESULTS_STATE_DIR

PART_PREFIX, PART_SUFFIX = "part-", ".json"
FOLDER_SEP = "~"  # between a folder part's folder and its own id: never in an encoded folder
DIGESTS = "_digests"  # below _state: never an encoded folder (those never start with "_")
TOTALS = "_totals"  # below _state too: the manifest parts' counted totals (totals.py)


@dataclass(frozen=True)
class Results:
    root: str  # the output folder or gs:// prefix, normalised
    protect: str = ""  # the run's input: never written through `store()`

    IMAGES = "images"
    THUMBS = "thumbs"
    FRAMES = "frames"
    MANIFEST = "manifest"
    STATE = RESULTS_STATE_DIR
    WORK = "_work"
    CORRECTIONS = "_corrections"
    PAGES = "gallery"
    INDEX = "index.html"
    SUMMARY = "summary.json"
    MARKER = RESULTS_MARKER
    LOCK = "_lock.json"

    def shown(self, source: str) -> str:
        """How rows and state name an input: below the input folder when local, else whole."""
        if is_remote(source) or not self.protect or not is_within(source, self.protect):
            return source
        if source == self.protect:
            return os.path.basename(source)
        return source[len(self.protect.rstrip("/")) + 1 :]

    def shown_of(self, root: str) -> Callable[[str], str]:
        """`shown` of the inputs named below `root`, from those names: the name as it is when
        the two spellings agree, so a changed folder's 10,000 listed names meet its states as
        they are stored, no path made for each."""
        below = joiner(root)
        base = "" if is_remote(root) else local_base(root)
        if not self.protect or base in ("", ".") or base != self.protect.rstrip("/"):
            return lambda relative: self.shown(below(relative))
        return lambda relative: relative if is_plain(relative) else self.shown(below(relative))

    def as_stored(self, stored: str) -> str:
        """A stored name as a run now stores it: an older folder's absolute local name as
        `shown` names it (below the input), every other name as it is."""
        return self.shown(stored) if stored[:1] == "/" else stored

    def source_of(self, stored: str) -> str:
        """The input a stored name means (`shown`'s inverse); absolute names stay as they are."""
        if is_remote(stored) or os.path.isabs(stored) or not self.protect:
            return stored
        return join(self.protect, stored)

    def sources_of(self, stored: Iterable[str]) -> list[str]:
        """`source_of` of many names (a part's thousands), the input's spelling worked out once."""
        if not self.protect:
            return list(stored)
        below = joiner(self.protect)
        return [s if is_remote(s) or os.path.isabs(s) else below(s) for s in stored]

    def shown_output(self, uri: str | None) -> str | None:
        """How rows name an output: below the results folder when local (`images/a.jpg`); an
        original left in place (`--faceless link`) by its path from the results folder."""
        if not uri or is_remote(uri) or is_remote(self.root) or not os.path.isabs(uri):
            return uri
        if is_within(uri, self.root):
            return uri[len(self.root.rstrip("/")) + 1 :]
        return os.path.relpath(uri, self.root)

    def output_of(self, stored: str | None) -> str | None:
        """The output a row names, as a path or URI (`shown_output`'s inverse)."""
        if not stored or is_remote(stored) or os.path.isabs(stored):
            return stored
        return os.path.normpath(join(self.root, stored))

    def scrub(self, text: str) -> str:
        """An error message with the local input and results folders taken out of it (an OS
        error names the file it failed on): `/home/ann/in/a.jpg` reads `a.jpg`."""
        for root in (self.root, self.protect):
            if root and not is_remote(root):
                text = text.replace(root.rstrip("/") + "/", "").replace(root, self.label(root))
        return text

    def label(self, uri: str) -> str:
        """The summary's name for the input or output: a local folder by its own name only."""
        if not uri or is_remote(uri):
            return uri
        return os.path.basename(uri.rstrip("/")) or uri

    def store(self) -> Store:
        """Writes confined below the root and kept out of the input."""
        return store_for(self.root, protect=[self.protect])

    def _at(self, *parts: str) -> str:
        uri = self.root
        for part in parts:
            uri = join(uri, part)
        return uri

    @property
    def images(self) -> str:
        return self._at(self.IMAGES)

    def image(self, relative: str, new_suffix: str = "") -> str:
        """Where an input's output goes; a suffix only when the format had to change."""
        return self._at(self.IMAGES, relative + new_suffix)

    def thumbnail(self, relative: str) -> str:
        return self._at(self.THUMBS, relative + ".jpg")

    def frames(self, relative: str) -> str:
        """A video's per-frame boxes (JSON Lines): 100,000 frames an hour are not manifest rows."""
        return self._at(self.FRAMES, relative + ".jsonl")

    @property
    def manifest(self) -> str:
        return self._at(self.MANIFEST)

    @property
    def state(self) -> str:
        return self._at(self.STATE)

    def part(self, pid: str) -> str:
        return self._at(self.MANIFEST, f"{PART_PREFIX}{pid}{PART_SUFFIX}")

    def state_part(self, pid: str) -> str:
        """A folder's part (`<folder>~<id>`, ledger.folder_pid) keeps its state in the folder's
        own sub-folder, so a run reads the states of changed folders only."""
        folder, sep, own = pid.rpartition(FOLDER_SEP)
        if sep:
            return self._at(self.STATE, folder, f"{PART_PREFIX}{own}{PART_SUFFIX}")
        return self._at(self.STATE, f"{PART_PREFIX}{pid}{PART_SUFFIX}")

    def folder_state(self, folder: str) -> str:
        """The sub-folder of `_state` holding one input folder's states (its encoded name)."""
        return self._at(self.STATE, folder)

    def digests(self, shard: str) -> str:
        """One of the shard files that keep each input folder's listing digest (ledger.py)."""
        return self._at(self.STATE, DIGESTS, f"{shard}.json")

    @property
    def digest_folder(self) -> str:
        return self._at(self.STATE, DIGESTS)

    @property
    def top_ranges(self) -> str:
        """Where a full listing marks the input's top-level names for the next one to list in
        slices (ranges.py)."""
        return self._at(self.STATE, "_ranges.json")

    def totals(self, shard: str) -> str:
        """One of the shard files that keep each manifest part's totals (totals.py)."""
        return self._at(self.STATE, TOTALS, f"{shard}.json")

    @property
    def totals_folder(self) -> str:
        return self._at(self.STATE, TOTALS)

    def relative(self, stored: str) -> str:
        """A stored name's path below the run's input (its folder key's source); a name outside
        the input stays whole."""
        source = self.source_of(stored)
        if self.protect and source != self.protect and is_within(source, self.protect):
            return source[len(self.protect.rstrip("/")) + 1 :]
        return stored

    def shard(self, run_id: str, n: int, part: int | None = None) -> str:
        """A listing shard: the driver's n-th, or the n-th of one slice (`part`, ranges.py)."""
        name = f"list-{n:05d}.txt" if part is None else f"list-{part:05d}-{n:05d}.txt"
        return self._at(self.WORK, run_id, name)

    def folder_listing(self, run_id: str, name: str) -> str:
        """A changed input folder's listing, written by the task that walked it (`name`:
        ledger.folder_name), read back to plan that folder only."""
        return self._at(self.WORK, run_id, f"folder-{name}.txt")

    def video_work(self, key: str, name: str) -> str:
        """A video's segment files; `key` names the video's version and the run's options, so
        a killed run's finished segments are found again by the next."""
        return self._at(self.WORK, "videos", key, name)

    @property
    def corrections(self) -> str:
        return self._at(self.CORRECTIONS)

    @property
    def corrections_current(self) -> str:
        return self._at(self.CORRECTIONS, "current.json")

    @property
    def corrections_history(self) -> str:
        return self._at(self.CORRECTIONS, "history")

    def corrections_applied(self, stamp: str, digest: str) -> str:
        return self._at(self.CORRECTIONS, "history", f"{stamp}-{digest}.json")

    def page(self, view: str, number: int) -> str:
        return self._at(self.PAGES, view, f"{number}.js")

    def in_gallery(self, *parts: str) -> str:
        """A file of the gallery's (gallery.py names them: folder pages, lists, their state)."""
        return self._at(self.PAGES, *parts)

    @property
    def index(self) -> str:
        return self._at(self.INDEX)

    @property
    def summary(self) -> str:
        return self._at(self.SUMMARY)

    @property
    def marker(self) -> str:
        return self._at(self.MARKER)

    @property
    def lock(self) -> str:
        return self._at(self.LOCK)
