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
from dataproc_faces.cloud_errors import cloud_errors, cloud_sentence
from dataproc_faces.detectors.base import DetectOptions
from dataproc_faces.imaging.options import render_flags
from dataproc_faces.imaging.render import RenderOptions
from dataproc_faces.progress import PHASES, parse_phase, parse_progress
from dataproc_faces.storage.base import join
from dataproc_faces.web.options import page_words
from dataproc_faces.web.settings import Settings

ACTIVE = ("PENDING", "RUNNING", "SETUP_DONE", "QUEUED", "CANCELLING")
# A batch's ends in the page's words, which are a job's: one vocabulary for every run.
_PAGE_STATES = {
    "SUCCEEDED": "DONE",
    "FAILED": "ERROR",
    "CANCEL_PENDING": "CANCELLING",
    "CANCEL_STARTED": "CANCELLING",
}
STOPPED = "Stopped from the page; start the same run again to resume where it stopped."
KILL_AFTER_S = 60  # a local run that has not stopped this long after SIGTERM is killed
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
    failed: int = 0  # inputs the run could not read or process (the summary's errors)
    inputs: int = 0  # inputs in the collection, from the summary once the run is done
    corrections: str = ""  # the corrections file this run applies (in the results folder)
    review_of: str = ""  # the run whose results this run corrects
    flags: list[str] = field(default_factory=list)  # the job's detector and output flags

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
            flags = [*jobspec.detector_flags(detect), *render_flags(render)]
            start = self._submit if self.settings.cloud else self._spawn
            run = start(source, flags)
            run.detector, run.mode = detect.detector, render.mode
            run.options, run.flags = dict(options or {}), flags
            self.save(run)
            return run

    def check_corrections(self, base: Run) -> None:
        """RunRefused when a corrections run over `base`'s results cannot start now."""
        if not base.flags:
            raise RunRefused(
                f"Run {base.id} does not record its options (an older run): start a new run to "
                "review."
            )
        busy = [r for r in self.all() if r.active and r.output == base.output]
        if busy:
            raise RunRefused(f"Run {busy[0].id} is writing these results; wait for it to end.")
        if not self.settings.cloud and any(r.active for r in self.all() if r.target == "local"):
            raise RunRefused("A local run is in progress; apply when it has ended.")

    def start_corrections(self, base: Run, corrections: str) -> Run:
        """Redo the photos a corrections file names, into `base`'s results with its options."""
        with self._lock:
            self.check_corrections(base)
            extra = ["--corrections", corrections]
            start = self._submit if self.settings.cloud else self._spawn
            run = start(base.source, base.flags, base.output, extra)
            run.detector, run.mode = base.detector, base.mode
            run.options, run.flags = dict(base.options), base.flags
            run.corrections, run.review_of = corrections, base.review_of or base.id
            self.save(run)
            return run

    def delete(self, run_id: str) -> None:
        """Forget a run that has ended: its record and log (its results are deleted first)."""
        self._procs.pop(run_id, None)
        for path in (self._path(run_id), self.log_path(run_id)):
            path.unlink(missing_ok=True)

    def cancel(self, run_id: str) -> Run:
        """Stop an active run: SIGTERM to a local child (the CLI stops Spark and exits, and the
        next run resumes), a cancel request to Dataproc for a job or a batch."""
        run = self.get(run_id)
        if run is None:
            raise RunRefused("There is no such run.")
        if not run.active:
            raise RunRefused(f"Run {run.id} has ended ({run.state}); there is nothing to stop.")
        if run.state == "CANCELLING":
            return run
        if run.target == "local":
            proc = self._procs.get(run.id)
            if proc is not None and proc.poll() is None:
                proc.terminate()
                threading.Thread(target=_kill_later, args=(proc,), daemon=True).start()
        else:
            _cancel_cloud(run)
        run.state = "CANCELLING"
        self.save(run)
        return self.refresh(run)

    def _spawn(
        self, source: str, flags: list[str], output: str = "", extra: list[str] | None = None
    ) -> Run:
        if any(r.active for r in self.all() if r.target == "local"):
            raise RunRefused("A local run is in progress; start the next one when it has ended.")
        run_id = new_id()
        output = output or join(self.settings.results_root, run_id)
        run = Run(run_id, "local", source, output, "", "", state="RUNNING")
        args = ["run", "--input", source, "--output", output, *flags, *(extra or [])]
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

    def _submit(
        self, source: str, flags: list[str], output: str = "", extra: list[str] | None = None
    ) -> Run:
        from dataproc_faces.cli import UsageError, build_parser
        from dataproc_faces.remote import ClusterGone, submit

        assert self.settings.cloud is not None
        run_id = new_id()
        argv = ["submit", *self.settings.cloud.submit_args, "--input", source, "--run-id", run_id]
        argv += [*flags, *(["--output", output] if output else []), *(extra or [])]
        try:
            args = build_parser().parse_args(argv)
        except SystemExit:  # argparse has printed why to the server's log
            raise RunRefused(
                "The job was not submitted: `submit` refused its options (the server's log "
                "says which)."
            ) from None
        try:
            done = submit(args)
        except ClusterGone as exc:  # dev's cluster deleted itself: say so, and how to fix it
            text = str(exc)
            raise RunRefused(f"The job was not submitted: the {text}.") from None
        except UsageError as exc:
            raise RunRefused(f"The job was not submitted: {page_words(str(exc))}.") from None
        except cloud_errors() as exc:  # any other answer of Google Cloud: one sentence
            raise RunRefused(f"The job was not submitted: {cloud_sentence(exc)}") from None
        run = Run(run_id, "cloud", source, done.output, "", "", state="PENDING")
        run.job_id, run.project, run.region = done.job_id, done.project, done.region
        run.batch = done.batch
        run.started = time.time()
        self.save(run)
        return run

    # refreshing --------------------------------------------------------------------------
    def refresh(self, run: Run) -> Run:
        if not run.active and (run.state != "DONE" or run.inputs):
            return run
        before = (run.state, run.done, run.total, run.message, run.phase, run.inputs)
        if run.target == "local" and run.active:
            self._refresh_local(run)
        elif run.active:
            self._refresh_cloud(run)
        if run.state == "DONE":
            _counts_from_summary(run)
        if (run.state, run.done, run.total, run.message, run.phase, run.inputs) != before:
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
        elif run.state == "CANCELLING":
            run.state, run.message = "CANCELLED", STOPPED
        else:
            run.state = "ERROR"
            run.message = _error_from(lines) or f"The job exited with status {code}."

    def _refresh_cloud(self, run: Run) -> None:
        from dataproc_faces.remote import batch_client, driver_output_tail, job_client, look

        asked = run.state == "CANCELLING"  # the page asked Dataproc to stop it
        try:
            client = batch_client(run.region) if run.batch else job_client(run.region)
            seen = look(client, run.project, run.region, run.job_id, run.batch)
        except cloud_errors() as exc:  # the run goes on; the page says why it cannot tell
            run.message = f"The run's state could not be read just now: {cloud_sentence(exc)}"
            return
        if run.message.startswith("The run's state could not be read"):
            run.message = ""
        state = seen.state
        lines = driver_output_tail(seen.output_uri, 4096).splitlines()
        _progress_from(run, lines)
        if state != "STATE_UNSPECIFIED":
            run.state = _PAGE_STATES.get(state, state)
        if seen.ended:
            run.ended = time.time()
            if seen.ok:
                run.done = run.total or run.done
            elif run.state == "CANCELLED":
                run.message = STOPPED if asked else "Cancelled on Dataproc."
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


def _kill_later(proc: subprocess.Popen) -> None:
    try:
        proc.wait(timeout=KILL_AFTER_S)
    except subprocess.TimeoutExpired:
        proc.kill()


def _cancel_cloud(run: Run) -> None:
    """Ask Dataproc to cancel the job, or the batch's operation (how `gcloud dataproc batches
    cancel` does it); a refusal becomes one sentence for the page."""
    from dataproc_faces.remote import batch_client, batch_name, job_client

    try:
        if run.batch:
            client = batch_client(run.region)
            found = client.get_batch(name=batch_name(run.project, run.region, run.job_id))
            client.cancel_operation(request={"name": found.operation})
        else:
            client = job_client(run.region)
            client.cancel_job(project_id=run.project, region=run.region, job_id=run.job_id)
    except cloud_errors() as exc:
        raise RunRefused(f"Dataproc did not cancel {run.job_id}: {cloud_sentence(exc)}") from None


def _counts_from_summary(run: Run) -> None:
    """Inputs and failed inputs from the results' summary.json, once, when the run is done."""
    if run.inputs:
        return
    from dataproc_faces.results.layout import Results
    from dataproc_faces.storage import store_for

    results = Results(run.output)
    try:
        summary = json.loads(store_for(run.output).read(results.summary))
        run.inputs, run.failed = int(summary["inputs"]), int(summary["errors"])
    except Exception:  # no summary (yet) is no count, never a broken page
        return


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
        "failed_text": failed_text(run),
    }


def failed_text(run: Run) -> str:
    """The sentence a finished run with failed inputs shows next to its state."""
    if not run.failed:
        return ""
    n, of = run.failed, run.inputs or run.total
    return (
        f"{n} of {of} input{'s' if of != 1 else ''} failed: {'it is' if n == 1 else 'they are'} "
        "not in the results or the zip; the gallery and the manifest say why."
    )
