"""A person's originals are never touched and no photo disappears: black box, through the command.

Each case compares the originals' bytes and modification times before and after the command.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.images import astronaut, encode

pytestmark = pytest.mark.spark

PHOTO = encode(astronaut(), ".jpg")


def job(*args: str, timeout: float = 300, **popen: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dataproc_faces", "run", *args, "--detector", "haar"],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYSPARK_PYTHON": sys.executable},
        **popen,
    )


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under root: its bytes and modification time."""
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def photos(folder: Path, n: int = 2) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"p{i}.jpg").write_bytes(PHOTO)
    return folder


def one_line(proc: subprocess.CompletedProcess, code: int = 2) -> str:
    assert proc.returncode == code, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    """A results folder made by a real run, its own `images/` holding outlined copies."""
    base = tmp_path_factory.mktemp("originals")
    out = base / "out"
    proc = job("--input", str(photos(base / "in")), "--output", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out


def overlap_cases(results: Path) -> list[tuple[list[str], str]]:
    base = results.parent
    (base / "link").unlink(missing_ok=True)
    (base / "link").symlink_to(results, target_is_directory=True)
    images = results / "images"
    return [
        # an input folder inside the output: it overwrote originals with blurred copies
        (["--input", str(images), "--output", str(results), "--mode", "blur"], "inside the output"),
        (["--input", f"{images}/", "--output", f"{results}/./"], "inside the output"),
        (["--input", str(base / "link" / "images"), "--output", str(results)], "inside the output"),
        (["--input", str(images), "--output", str(base / "link")], "inside the output"),
        (["--input", str(images), "--output", f"{images}/../"], "inside the output"),
        (["--input", str(images), "--output", str(images)], "inside"),
        (["--input", str(base / "in"), "--output", str(base / "in" / "x" / "..")], "inside"),
    ]


def test_no_overlap_of_input_and_output_runs_and_no_original_changes(results: Path) -> None:
    before = snapshot(results.parent)
    for args, message in overlap_cases(results):
        started = time.monotonic()
        line = one_line(job(*args))
        assert message in line and line.startswith("dataproc-faces: error: --"), (args, line)
        assert time.monotonic() - started < 60  # refused before Spark, not after a run
    assert snapshot(results.parent) == before


def test_an_output_that_is_not_a_results_folder_is_refused(tmp_path: Path) -> None:
    src = photos(tmp_path / "in")
    pictures = tmp_path / "Pictures"
    (pictures / "images").mkdir(parents=True)
    (pictures / "index.html").write_text("<p>my site</p>")
    (pictures / "images" / "p0.jpg").write_bytes(b"mine")
    before = snapshot(tmp_path)
    line = one_line(job("--input", str(src), "--output", str(pictures)))
    assert line == (
        f"dataproc-faces: error: --output {pictures} already holds files that this job did not "
        "write; choose a new or empty folder (results go under it, originals are never written)"
    )
    (tmp_path / "afile").write_bytes(b"data")
    line = one_line(job("--input", str(src), "--output", str(tmp_path / "afile")))
    assert line.endswith(f"--output {tmp_path / 'afile'} is a file: choose a new or empty folder")
    line = one_line(job("--input", str(src / "p0.jpg"), "--output", str(tmp_path / "o")))
    assert "is a file: give the folder that holds it" in line and "--input-list" in line
    assert snapshot(tmp_path) == {**before, "afile": snapshot(tmp_path)["afile"]}
    assert not (tmp_path / "o").exists()


def test_a_results_folder_as_input_is_refused(results: Path) -> None:
    line = one_line(job("--input", str(results), "--output", str(results.parent / "again")))
    assert "is a results folder of this job" in line


def test_the_first_run_marks_the_folder_and_an_old_results_folder_is_adopted(
    results: Path, tmp_path: Path
) -> None:
    marker = json.loads((results / "_dataproc_faces.json").read_text())
    from dataproc_faces.results.ownership import input_id

    assert marker["made_by"] == "dataproc-faces" and "input" not in marker  # no local path
    assert marker["input_sha256"] == input_id(str(results.parent / "in"))
    assert not (results / "_lock.json").exists()  # released at the end
    old = tmp_path / "old"
    for part in ("manifest", "_state", "images"):
        (old / part).mkdir(parents=True)
    proc = job("--input", str(results.parent / "in"), "--output", str(old))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"{old} holds results of an earlier version: marked as ours" in proc.stderr
    assert (old / "_dataproc_faces.json").exists()


def test_outputs_honour_the_umask(results: Path) -> None:
    files = [p for p in results.rglob("*") if p.is_file()]
    assert {p.relative_to(results).parts[0] for p in files} >= {
        "images",
        "thumbs",
        "manifest",
        "_state",
        "gallery",
        "index.html",
        "summary.json",
    }
    modes = {p.relative_to(results).as_posix(): p.stat().st_mode & 0o777 for p in files}
    assert set(modes.values()) == {0o644}, modes


def test_a_second_run_while_one_holds_the_output_is_one_line_and_the_first_finishes(
    tmp_path: Path,
) -> None:
    src, out = photos(tmp_path / "in", 10), tmp_path / "out"
    cmd = [sys.executable, "-m", "dataproc_faces", "run", "--input", str(src), "--output", str(out)]
    first = subprocess.Popen(
        [*cmd, "--detector", "haar"],  # the lock is taken before Spark starts: seconds to spare
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYSPARK_PYTHON": sys.executable},
    )
    try:
        deadline = time.monotonic() + 120
        while not (out / "_lock.json").exists():
            assert time.monotonic() < deadline and first.poll() is None, "no lock taken"
            time.sleep(0.05)
        lock = json.loads((out / "_lock.json").read_text())
        line = one_line(job("--input", str(src), "--output", str(out)))
        assert line == (
            f"dataproc-faces: error: another run is writing into {out} (pid {first.pid} on "
            f"{lock['host']}, started {lock['started']}); wait for it to end, or, if no run is "
            f"going on, delete {out / '_lock.json'}"
        )
        _, err = first.communicate(timeout=300)
    finally:
        first.kill()
    assert first.returncode == 0, err[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["inputs"], summary["ok"]) == (10, 10)
    assert not (out / "_lock.json").exists()


def test_a_lock_left_by_a_dead_run_is_taken_over_with_a_note(tmp_path: Path) -> None:
    src, out = photos(tmp_path / "in"), tmp_path / "out"
    dead = subprocess.Popen(["true"])
    dead.wait()
    out.mkdir()
    (out / "_dataproc_faces.json").write_text("{}")
    host = os.uname().nodename
    body = {"host": host, "pid": dead.pid, "started": "2026-01-01T00:00:00Z", "token": "x"}
    (out / "_lock.json").write_text(json.dumps(body))
    proc = job("--input", str(src), "--output", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (
        f"dataproc-faces: took over the lock of a run that is gone (pid {dead.pid} on {host}, "
        "started 2026-01-01T00:00:00Z)"
    ) in proc.stderr
    assert not (out / "_lock.json").exists()


def interrupted(src: Path, out: Path, how: str, parts_before: int) -> tuple[int, int]:
    """Starts a run, interrupts it (Ctrl-C to its process group, or SIGTERM) once it has written
    a manifest part of its own, and returns (done, total) from its one line."""
    cmd = [sys.executable, "-m", "dataproc_faces", "run", "--input", str(src), "--output", str(out)]
    proc = subprocess.Popen(
        [*cmd, "--detector", "haar", "--partitions", "12"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYSPARK_PYTHON": sys.executable},
        start_new_session=True,  # its own process group, as a terminal gives a command
    )
    try:
        deadline = time.monotonic() + 180
        while len(list(out.glob("manifest/*.json"))) <= parts_before:
            assert time.monotonic() < deadline and proc.poll() is None, proc.stderr
            time.sleep(0.05)
        time.sleep(1.0)  # the task that wrote that part has reported to the driver
        if how == "ctrl-c":
            os.killpg(proc.pid, signal.SIGINT)  # what a terminal sends the whole group
        else:
            proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err[-3000:]
    told = [line for line in err.splitlines() if not line.startswith(SPARK_BANNER)]
    told = [line for line in told if "progress" not in line]
    assert len(told) == 1 and told[0].startswith("dataproc-faces: interrupted after "), err
    assert told[0].endswith("images; run the same command again to resume")
    assert not (out / "_lock.json").exists()
    done, total = told[0].split("after ")[1].split(" images")[0].split(" of ")
    return int(done), int(total)


def test_an_interrupted_run_says_how_far_it_got_and_the_next_run_resumes(tmp_path: Path) -> None:
    """Ctrl-C, then SIGTERM on the resumed run (one handler, two ways in), then a run to the end."""
    src, out = photos(tmp_path / "in", 60), tmp_path / "out"
    before = snapshot(src)
    done, total = interrupted(src, out, "ctrl-c", 0)
    assert total == 60 and 0 < done < 60
    parts = len(list(out.glob("manifest/*.json")))
    done_again, left = interrupted(src, out, "sigterm", parts)
    # a task may write its part and be cancelled before it reports: then more is skipped
    assert left <= 60 - done and 0 < done_again < left
    again = job("--input", str(src), "--output", str(out))
    assert again.returncode == 0, again.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["inputs"], summary["ok"]) == (60, 60)
    assert summary["skipped"] >= done + done_again
    assert summary["processed"] == 60 - summary["skipped"]
    assert snapshot(src) == before


# PySpark's own two lines when a session starts, on every local run
SPARK_BANNER = ("Setting default log level", "To adjust logging level")
