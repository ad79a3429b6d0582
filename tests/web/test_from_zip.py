"""`dataproc-faces serve` from the package zip the stacks upload (infra/artifacts.py builds it):
templates and static files are package data read through importlib.resources, so the page works
where there is no package folder at all."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

from infra.artifacts import build_package_zip
from tests.conftest import ROOT
from tests.e2e.conftest import free_port, wait_for_port

MARK = "<!-- served from the zip -->"


def test_the_page_and_its_static_files_are_served_from_the_package_zip(tmp_path: Path) -> None:
    package = tmp_path / "src" / "dataproc_faces"
    shutil.copytree(
        ROOT / "spark" / "dataproc_faces",
        package,
        ignore=shutil.ignore_patterns("__pycache__", "models"),
    )
    base = package / "web" / "templates" / "base.html"
    base.write_text(base.read_text().replace("<html", MARK + "\n<html", 1))
    archive = tmp_path / "dataproc_faces.zip"
    archive.write_bytes(build_package_zip(package))
    shutil.rmtree(tmp_path / "src")  # nothing left but the zip

    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(archive)}
    command = [sys.executable, "-m", "dataproc_faces", "serve", "--port", str(port)]
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*command, "--data", str(tmp_path / "data")],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, proc, timeout=60)
        url = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"{url}/") as r:
            page = r.read().decode()
        assert MARK in page, "the page did not come from the zip"
        assert 'id="upload-form"' in page and '<select name="mode" id="mode">' in page
        for name in ("page.js", "page.css"):
            with urllib.request.urlopen(f"{url}/static/{name}") as r:
                served = r.read()
            assert served == (ROOT / "spark/dataproc_faces/web/static" / name).read_bytes()
        with urllib.request.urlopen(f"{url}/runs") as r:
            assert "No runs yet." in r.read().decode()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert "Traceback" not in log.read_text()
