"""Run records seen by several server threads at once: a stale view never rewrites the outcome."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

from dataproc_faces.web.runs import Run, RunBook
from dataproc_faces.web.settings import Settings


def _finished(code: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", f"raise SystemExit({code})"])
    proc.wait()
    return proc


def test_two_threads_refreshing_a_finished_run_both_see_done(tmp_path: Path) -> None:
    book = RunBook(Settings(data=tmp_path))
    run = Run("web-1", "local", "/in", "/out", "haar", "outline", state="RUNNING", started=1.0)
    book.save(run)
    book._procs[run.id] = _finished(0)
    first, stale = copy.copy(run), copy.copy(run)  # both loaded while it was RUNNING
    assert book.refresh(first).state == "DONE"
    assert book.refresh(stale).state == "DONE"
    assert book.get(run.id).state == "DONE"


def test_a_run_the_server_lost_and_a_failed_exit_are_errors_with_a_sentence(tmp_path: Path) -> None:
    book = RunBook(Settings(data=tmp_path))
    lost = Run("web-2", "local", "/in", "/out", "haar", "outline", state="RUNNING", started=1.0)
    book.save(lost)
    assert (book.get("web-2").state, book.get("web-2").message) == (
        "ERROR",
        "The server restarted while this run was in progress.",
    )
    failed = Run("web-3", "local", "/in", "/out", "haar", "outline", state="RUNNING", started=1.0)
    book.save(failed)
    book.log_path("web-3").write_text("spark noise\ndataproc-faces: error: no Java found\n")
    book._procs["web-3"] = _finished(2)
    assert (book.get("web-3").state, book.get("web-3").message) == ("ERROR", "No Java found.")


def test_the_jobs_error_names_its_folders_in_the_pages_words(tmp_path: Path) -> None:
    book = RunBook(Settings(data=tmp_path))
    run = Run("web-4", "local", "/in", "/out", "haar", "blur", state="RUNNING", started=1.0)
    book.save(run)
    book.log_path("web-4").write_text(
        "dataproc-faces: error: --input /in is a results folder of this job: give the folder "
        "of the originals\n"
    )
    book._procs["web-4"] = _finished(2)
    assert book.get("web-4").message == (
        "The input folder /in is a results folder of this job: give the folder of the originals."
    )


def test_the_refusal_to_show_hidden_faces_reads_in_the_pages_words(tmp_path: Path) -> None:
    book = RunBook(Settings(data=tmp_path))
    run = Run("web-5", "local", "/in", "/out", "retinaface", "outline", state="RUNNING")
    run.started = 1.0
    book.save(run)
    book.log_path("web-5").write_text(
        "dataproc-faces: error: --output /out holds faces hidden by blur (mask ellipse x1.3, "
        "strength 0.5; retinaface at 0.1); this run would write them less hidden (--mode outline "
        "leaves every face visible): add --force to overwrite them, or choose another --output\n"
    )
    book._procs["web-5"] = _finished(2)
    assert book.get("web-5").message == (
        "The results folder /out holds faces hidden by blur (mask ellipse x1.3, strength 0.5; "
        "retinaface at 0.1); this run would write them less hidden (--mode outline leaves every "
        "face visible): start the run from the command line with --force to overwrite them, or "
        "let the page make a new results folder."
    )
