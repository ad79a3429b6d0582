"""The job and the page run from the package zip, as the cluster (`--py-files`) and the devhost
(`PYTHONPATH=dataproc_faces.zip python -m dataproc_faces`) run them: code, weights, the gallery's
assets and the page's templates are read from inside the zip."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from infra.artifacts import SourceTree, build_package_zip
from tests.e2e.conftest import free_port, wait_for_port

pytestmark = pytest.mark.spark

EDITABLE = str(Path(__file__).resolve().parents[2] / "spark")


@pytest.fixture(scope="module")
def package_zip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("zip") / "dataproc_faces.zip"
    path.write_bytes(build_package_zip(SourceTree().package_dir))
    return path


def from_zip(package_zip: Path) -> dict[str, str]:
    """The environment the devhost gives the package: the zip first on the path, and no
    folder of the source tree (the editable install's path is dropped by the launcher)."""
    return {
        **os.environ,
        "PYTHONPATH": str(package_zip),
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
    }


LAUNCH = """
import sys
sys.path[:] = [p for p in sys.path if p.rstrip("/") != {editable!r}]
import dataproc_faces, dataproc_faces.results.gallery
assert dataproc_faces.__file__.startswith({zip!r}), dataproc_faces.__file__
from dataproc_faces.cli import main
main(sys.argv[1:])
"""


def launch(package_zip: Path, *args: str) -> list[str]:
    code = LAUNCH.format(editable=EDITABLE, zip=str(package_zip))
    return [sys.executable, "-c", code, *args]


def test_the_job_runs_from_the_zip(package_zip: Path, samples: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = subprocess.run(
        launch(package_zip, "run", "--input", str(samples), "--output", str(out)),
        capture_output=True,
        text=True,
        timeout=300,
        env=from_zip(package_zip),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["inputs"], summary["ok"], summary["faces"]) == (4, 4, 2)  # retinaface's
    page = (out / "index.html").read_text()
    css = (SourceTree().package_dir / "results" / "assets" / "gallery.css").read_text()
    assert f"<style>{css}</style>" in page  # the asset, read from inside the zip


def test_the_page_is_served_from_the_zip(package_zip: Path, tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        launch(package_zip, "serve", "--port", str(port), "--data", str(tmp_path / "data")),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=from_zip(package_zip),
        cwd=tmp_path,
    )
    try:
        wait_for_port(port, proc, timeout=60)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as answer:
            status, body = answer.status, answer.read().decode()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=30) as answer:
            health = answer.read()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert (status, health) == (200, b"ok\n")
    assert "<form" in body and 'name="csrf_token"' in body, body[:500]
