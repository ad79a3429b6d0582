"""What a listing leaves out of a run's inputs, and why: the one list of those rules."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePosixPath

# What a listing does not read as an input, and why. Only these: every other name is a photo
# candidate, `_DSC0001.JPG` (Nikon, Sony) included, and each skipped name is counted and reported.
HIDDEN = "hidden"
SPARK_MARKER = "spark-marker"
RESULTS = "results-folder"
SKIP_REASONS = {
    HIDDEN: "hidden (a name starting with '.')",
    SPARK_MARKER: "written by Spark or Hadoop (_SUCCESS, _temporary, _started_*, ...)",
    RESULTS: "a results folder of this job",
}
_SPARK_NAMES = frozenset(
    {"_SUCCESS", "_FAILURE", "_temporary", "_metadata", "_common_metadata", "_spark_metadata"}
)
_SPARK_PREFIXES = ("_started_", "_committed_", "_temporary_")
# A folder holding either of these is a results folder (the marker; `_state/` for results an
# earlier version wrote): its files are outputs, never inputs.
RESULTS_MARKER = "_dataproc_faces.json"
RESULTS_STATE_DIR = "_state"


def skip_reason(name: str) -> str | None:
    """Why one path segment is not an input, or None when it may be one."""
    if name[:1] not in "._":  # every rule below needs one of these first: most names stop here
        return None
    if name.startswith("."):
        return HIDDEN
    if name in _SPARK_NAMES or name.startswith(_SPARK_PREFIXES):
        return SPARK_MARKER
    return None


def skipped_part(relative: str) -> tuple[str, str] | None:
    """(the skipped leading path, reason) for the first skipped segment of `relative`."""
    parts = PurePosixPath(relative).parts
    for i, part in enumerate(parts):
        reason = skip_reason(part)
        if reason:
            return "/".join(parts[: i + 1]), reason
    return None


def is_ignored(relative: str) -> bool:
    """Whether any segment (at any depth) makes `relative` a non-input: see SKIP_REASONS."""
    return skipped_part(relative) is not None


def is_results_folder(names: Iterable[str]) -> bool:
    """Whether a folder holding `names` (its direct entries) is a results folder."""
    return any(n in (RESULTS_MARKER, RESULTS_STATE_DIR) for n in names)
