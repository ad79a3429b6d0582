"""Run records seen by several server threads at once: a stale view never rewrites the outcome."""

from __future__ import annotations

import copy
import html
import json
import subprocess
import sys
from pathlib import Path

import pytest

from dataproc_faces.web.runs import STOPPED, Run, RunBook, RunRefused
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


def test_stopping_a_local_run_terminates_its_child_and_says_stopped(tmp_path: Path) -> None:
    book = RunBook(Settings(data=tmp_path))
    run = Run("web-5", "local", "/in", "/out", "haar", "blur", state="RUNNING", started=1.0)
    book.save(run)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    book._procs["web-5"] = child
    try:
        assert book.cancel("web-5").state in ("CANCELLING", "CANCELLED")
        assert child.wait(timeout=60) == -15  # SIGTERM: the CLI stops Spark and exits
        seen = book.get("web-5")
        assert (seen.state, seen.active) == ("CANCELLED", False)
        assert seen.message == STOPPED
        with pytest.raises(RunRefused, match="has ended \\(CANCELLED\\); there is nothing to stop"):
            book.cancel("web-5")
    finally:
        child.kill()


def test_a_run_that_ends_on_its_own_while_being_stopped_is_done(tmp_path: Path) -> None:
    book = RunBook(Settings(data=tmp_path))
    run = Run("web-6", "local", "/in", "/out", "haar", "blur", state="CANCELLING", started=1.0)
    book.save(run)
    book._procs["web-6"] = _finished(0)
    assert book.get("web-6").state == "DONE"


def test_the_run_page_says_when_inputs_failed(tmp_path: Path) -> None:
    from dataproc_faces.web import create_app

    app = create_app(Settings(data=tmp_path / "data"))
    out = tmp_path / "data" / "results" / "web-7"
    out.mkdir(parents=True)
    (out / "summary.json").write_text(json.dumps({"inputs": 2, "ok": 1, "errors": 1}))
    run = Run("web-7", "local", "/in", str(out), "haar", "blur", state="DONE", done=2, total=2)
    app.extensions["faces_runs"].save(run)
    client = app.test_client()
    page = html.unescape(client.get("/runs/web-7").get_data(as_text=True))
    sentence = (
        "1 of 2 inputs failed: it is not in the results or the zip; the gallery and the "
        "manifest say why."
    )
    assert f'<p class="error" id="failed" role="alert">{sentence}</p>' in page
    assert 'id="cancel"' not in page  # an ended run has nothing to stop
    assert client.get("/api/runs/web-7").get_json()["failed_text"] == sentence
    assert '<span class="error failed">1 failed</span>' in client.get("/runs").get_data(
        as_text=True
    )
    (out / "summary.json").write_text(json.dumps({"inputs": 3, "ok": 3, "errors": 0}))
    ok = Run("web-8", "local", "/in", str(out), "haar", "blur", state="DONE", done=3, total=3)
    app.extensions["faces_runs"].save(ok)
    assert 'id="failed" role="alert"></p>' in client.get("/runs/web-8").get_data(as_text=True)


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
