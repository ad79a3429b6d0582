"""What one web server works on: where uploads and results live, and its limits."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from dataproc_faces.imaging.codec import DEFAULT_MAX_PIXELS

MB = 1024 * 1024


@dataclass(frozen=True)
class Cloud:
    """A stack to run on: uploads go under its input prefix, runs are Dataproc jobs.

    `submit_args` are `dataproc-faces submit` options (`--stack-outputs FILE`, or nothing on the
    devhost, whose DATAPROC_FACES_* variables fill them): a web run is that command's run.
    """

    input_root: str
    results_root: str
    submit_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Settings:
    """Local mode keeps everything under `data`; cloud mode keeps only run records there."""

    data: Path
    cloud: Cloud | None = None
    max_file_bytes: int = 50 * MB
    max_request_bytes: int = 200 * MB  # also the most a zip may expand to
    max_files: int = 1000
    max_pixels: int = DEFAULT_MAX_PIXELS
    master: str = "local[*]"
    secret_key: bytes = field(default=b"", repr=False)

    @property
    def input_root(self) -> str:
        return self.cloud.input_root if self.cloud else str(self.data / "input")

    @property
    def results_root(self) -> str:
        return self.cloud.results_root if self.cloud else str(self.data / "results")

    @property
    def runs_dir(self) -> Path:
        return self.data / "runs"


def cloud_from_args(stack_outputs: str | None) -> Cloud:
    """Input and results prefixes resolved exactly as `submit` resolves them."""
    from dataproc_faces.remote import resolve
    from dataproc_faces.storage.base import normalise

    args = argparse.Namespace(stack_outputs=stack_outputs)
    input_root = normalise(str(resolve(args, "input")))
    results_root = normalise(str(resolve(args, "results")))
    for uri in (input_root, results_root):
        if not uri.startswith("gs://"):
            from dataproc_faces.cli import UsageError

            raise UsageError(f"cloud mode needs gs:// prefixes, got {uri}")
    extra = ("--stack-outputs", stack_outputs) if stack_outputs else ()
    return Cloud(input_root, results_root, extra)
