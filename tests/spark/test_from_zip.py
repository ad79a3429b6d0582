"""The job runs from the package zip, as the cluster (`--py-files`) and the devhost
(`PYTHONPATH=dataproc_faces.zip python -m dataproc_faces`) run it: code, weights and the gallery's
assets are read from inside the zip. (The page from the zip: tests/web/test_from_zip.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra.artifacts import SourceTree, build_package_zip

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
