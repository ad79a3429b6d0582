"""Runs started from the page: local ones are the `run` command in a child process, cloud ones
are `submit`'s jobs (Serverless batches when the stack runs serverless). Each run is a JSON
record on disk, refreshed when someone looks at it.

A child process (not a thread) for local runs: the job stops its Spark session at the end and
may exit on a usage error, neither of which may touch the server; and its output is exactly what
the CLI prints, so state and progress are read back from the same lines a terminal shows.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dataproc_faces import jobspec
from dataproc_faces.detectors.base import DetectOptions
from dataproc_faces.imaging.options import render_flags
from dataproc_faces.imaging.render import RenderOptions
from dataproc_faces.progress import PHASES, parse_phase, parse_progress
from dataproc_faces.storage.base import join
from dataproc_faces.web.options import page_words
from dataproc_faces.web.settings import Settings

ACTIVE = ("PENDING", "RUNNING", "SETUP_DONE", "QUEUED", "CANCELLING")
# A batch's ends in the page's words, which are a job's: one vocabulary for every run.
_PAGE_STATES = {"SUCCEEDED": "DONE", "FAILED": "ERROR"}
_ERROR_PREFIX = "dataproc-faces: error: "


class RunRefused(ValueError):
    """A run that cannot start; the message is one sentence for the page."""


@dataclass
class Run:
    id: str
    target: str  # "local" or "cloud"
    source: str
    output: str
    detector: str
    mode: str
    state: str = "QUEUED"
    created: float = field(default_factory=time.time)
    started: float | None = None
    ended: float | None = None
    done: int = 0
    total: int = 0
    message: str = ""
    job_id: str = ""
    project: str = ""
    region: str = ""
    options: dict[str, Any] = field(default_factory=dict)  # as chosen on the form, for pages
    batch: bool = False  # a Dataproc Serverless batch (job_id is its batch id)
    phase: str = ""  # a key of progress.PHASES once the tasks are done

    @property
    def phase_text(self) -> str:
        return PHASES.get(self.phase, "")

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def seconds(self) -> float | None:
        if self.started is None:
            return None
        return (self.ended or time.time()) - self.started


def new_id() -> str:
    """Sortable by time and fit for a Dataproc run id (lowercase, digits, dashes)."""
    return time.strftime("web-%Y%m%d-%H%M%S-", time.gmtime()) + secrets.token_hex(2)


class RunBook:
    """Every run this server started, as files under settings.runs_dir."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.dir = settings.runs_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self._procs: dict[str, subprocess.Popen] = {}
        self._lock = threading.Lock()

    # records -----------------------------------------------------------------------------
    def _path(self, run_id: str) -> Path:
        return self.dir / f"{run_id}.json"

    def log_path(self, run_id: str) -> Path:
        return self.dir / f"{run_id}.log"

    def save(self, run: Run) -> None:
        tmp = self._path(run.id).with_suffix(f".{threading.get_ident()}.tmp")  # one per thread
        tmp.write_text(json.dumps(asdict(run)), encoding="utf-8")
        os.replace(tmp, self._path(run.id))

    def get(self, run_id: str) -> Run | None:
        path = self._path(run_id)
        if not run_id.startswith("web-") or path.parent != self.dir or not path.is_file():
            return None
        run = Run(**json.loads(path.read_text(encoding="utf-8")))
        return self.refresh(run)

    def all(self) -> list[Run]:
        ids = sorted((p.stem for p in self.dir.glob("web-*.json")), reverse=True)
        return [r for r in (self.get(i) for i in ids) if r is not None]

    # starting ----------------------------------------------------------------------------
    def start(
        self,
        source: str,
        detect: DetectOptions,
        render: RenderOptions,
        options: dict[str, Any] | None = None,
    ) -> Run:
        """Start a run over `source` (a folder or prefix below the input root)."""
        with self._lock:
            if self.settings.cloud:
                run = self._submit(source, detect, render)
            else:
                run = self._spawn(source, detect, render)
            run.options = dict(options or {})
            self.save(run)
            return run

    def delete(self, run_id: str) -> None:
        """Forget a run that has ended: its record and log (its results are deleted first)."""
        self._procs.pop(run_id, None)
        for path in (self._path(run_id), self.log_path(run_id)):
            path.unlink(missing_ok=True)

    def _spawn(self, source: str, detect: DetectOptions, render: RenderOptions) -> Run:
        if any(r.active for r in self.all() if r.target == "local"):
            raise RunRefused("A local run is in progress; start the next one when it has ended.")
        run_id = new_id()
        output = join(self.settings.results_root, run_id)
        run = Run(run_id, "local", source, output, detect.detector, render.mode, state="RUNNING")
        args = jobspec.job_args(output=output, input=source, detect=detect, render=render)
        command = [sys.executable, "-m", "dataproc_faces", *args, "--master", self.settings.master]
        env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
        env["PYSPARK_DRIVER_PYTHON"] = sys.executable
        run.started = time.time()
        with self.log_path(run_id).open("wb") as log:
            self._procs[run_id] = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )
        self.save(run)
        return run

    def _submit(self, source: str, detect: DetectOptions, render: RenderOptions) -> Run:
        from dataproc_faces.cli import UsageError, build_parser
        from dataproc_faces.remote import ClusterGone, submit

        assert self.settings.cloud is not None
        run_id = new_id()
        argv = ["submit", *self.settings.cloud.submit_args, "--input", source, "--run-id", run_id]
        argv += [*jobspec.detector_flags(detect), *render_flags(render)]
        try:
            done = submit(build_parser().parse_args(argv))
        except ClusterGone as exc:  # dev's cluster deleted itself: say so, and how to fix it
            text = str(exc)
            raise RunRefused(f"The job was not submitted: the {text}.") from None
        except UsageError as exc:
            raise RunRefused(f"The job was not submitted: {page_words(str(exc))}.") from None
        run = Run(
            run_id, "cloud", source, done.output, detect.detector, render.mode, state="PENDING"
        )
        run.job_id, run.project, run.region = done.job_id, done.project, done.region
        run.batch = done.batch
        run.started = time.time()
        self.save(run)
        return run

    # refreshing --------------------------------------------------------------------------
    def refresh(self, run: Run) -> Run:
        if not run.active:
            return run
        before = (run.state, run.done, run.total, run.message, run.phase)
        if run.target == "local":
            self._refresh_local(run)
        else:
            self._refresh_cloud(run)
        if (run.state, run.done, run.total, run.message, run.phase) != before:
            self.save(run)
        return run

    def _refresh_local(self, run: Run) -> None:
        lines = _tail_lines(self.log_path(run.id))
        _progress_from(run, lines)
        proc = self._procs.get(run.id)
        if proc is None:  # started by an earlier server process, which took the child with it
            run.state, run.ended = "ERROR", run.ended or time.time()
            run.message = "The server restarted while this run was in progress."
            return
        code = proc.poll()  # the handle is kept: every thread that looks sees the same code
        if code is None:
            return
        run.ended = run.ended or time.time()
        if code == 0:
            run.state, run.done = "DONE", run.total or run.done
        else:
            run.state = "ERROR"
            run.message = _error_from(lines) or f"The job exited with status {code}."

    def _refresh_cloud(self, run: Run) -> None:
        from dataproc_faces.remote import batch_client, driver_output_tail, job_client, look

        client = batch_client(run.region) if run.batch else job_client(run.region)
        seen = look(client, run.project, run.region, run.job_id, run.batch)
        state = seen.state
        lines = driver_output_tail(seen.output_uri, 4096).splitlines()
        _progress_from(run, lines)
        if state != "STATE_UNSPECIFIED":
            run.state = _PAGE_STATES.get(state, state)
        if seen.ended:
            run.ended = time.time()
            if seen.ok:
                run.done = run.total or run.done
            else:
                run.message = _error_from(lines) or seen.details or f"The job ended in {state}."

    def stop_all(self) -> None:
        """Used by tests and at shutdown: no child outlives the server."""
        for proc in list(self._procs.values()):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def _tail_lines(path: Path, nbytes: int = 16384) -> list[str]:
    try:
        with path.open("rb") as f:
            f.seek(max(0, path.stat().st_size - nbytes))
            return f.read().decode("utf-8", errors="replace").splitlines()
    except OSError:
        return []


def _progress_from(run: Run, lines: list[str]) -> None:
    """The last count and, when one follows it, the phase the run has gone on to."""
    phase = ""
    for line in reversed(lines):
        phase = phase or (parse_phase(line) or "")
        for part in reversed(line.split("\r")):  # a terminal-style redraw, if any
            found = parse_progress(part)
            if found:
                run.done, run.total = found
                run.phase = phase
                return
    if phase:  # the count scrolled out of the tail: the phase still tells where the run is
        run.phase = phase


# The command line's names for the folders, in the page's words.
_PAGE_TERMS = (("--input-list ", "the input list "), ("--input ", "the input folder "),
               ("--output ", "the results folder "))  # fmt: skip


def _error_from(lines: list[str]) -> str:
    """The job's own one-line error, which the CLI prints last when it refuses to run, with
    its flags named as the page names them."""
    for line in reversed(lines):
        if line.startswith(_ERROR_PREFIX):
            text = line[len(_ERROR_PREFIX) :].strip()
            text = page_words(text)  # the hiding options' flags first: they hold "--output"
            for flag, words in _PAGE_TERMS:
                text = text.replace(flag, words)
            return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")
    return ""


def run_dict(run: Run) -> dict[str, Any]:
    return {
        **asdict(run),
        "seconds": run.seconds,
        "active": run.active,
        "phase_text": run.phase_text,
    }
