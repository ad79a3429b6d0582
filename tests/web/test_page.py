"""The page's run options, downloads, deletes, phases and static files through Flask's test
client (no Spark: finished runs are made as the job leaves them on disk)."""

from __future__ import annotations

import html
import io
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from dataproc_faces import jobspec
from dataproc_faces.detectors.base import DETECTORS, PRIVACY_SCORES
from dataproc_faces.imaging.anonymise import MASKS
from dataproc_faces.imaging.render import MODES
from dataproc_faces.progress import PHASES, format_phase, parse_phase
from dataproc_faces.web import create_app, options
from dataproc_faces.web.delete import NotDeleted, delete_tree
from dataproc_faces.web.runs import Run, _progress_from
from dataproc_faces.web.settings import Settings
from tests.conftest import SAMPLES
from tests.web.helpers import token

CAMERA = (SAMPLES / "camera.png").read_bytes()


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    app = create_app(Settings(data=tmp_path / "data", master="local[1]"))
    yield app
    app.extensions["faces_runs"].stop_all()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def text(r) -> str:
    return html.unescape(r.get_data(as_text=True))


def select(page: str, name: str) -> list[str]:
    found = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', page, re.S)
    assert found, name
    return re.findall(r'<option value="([^"]*)"', found.group(1))


def upload(client: FlaskClient, batch: str = "b1") -> None:
    data = {"csrf_token": token(client), "batch": batch, "files": [(io.BytesIO(CAMERA), "c.png")]}
    r = client.post("/upload", data=data, content_type="multipart/form-data")
    assert r.status_code == 303, text(r)
    assert r.headers["Location"] == f"/batches/{batch}?added=1"


def finished_run(app: Flask, run_id: str = "web-20260101-000000-abcd", output: str = "") -> Run:
    """A DONE run whose results folder holds what the job writes (and what it keeps to itself)."""
    s = app.config["FACES_SETTINGS"]
    out = Path(output or f"{s.results_root}/{run_id}")
    for rel, data in {
        "images/a.png": CAMERA,
        "images/trip/b.jpg": b"\xff\xd8jpeg",
        "manifest/part-0.jsonl": b'{"path": "a.png"}\n',
        "summary.json": b'{"inputs": 2}\n',
        "thumbs/a.png.jpg": b"thumb",
        "_state/part-0.json": b"{}",
        "_dataproc_faces.json": b"{}",
        "index.html": b"<!DOCTYPE html><html><head></head><body>\n<h1>Faces</h1></body></html>",
    }.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(data)
    run = Run(run_id, "local", f"{s.input_root}/b1", str(out), "retinaface", "blur", "DONE")
    app.extensions["faces_runs"].save(run)
    return run


def test_the_forms_offer_the_jobs_own_modes_masks_detectors_and_thresholds(
    client: FlaskClient,
) -> None:
    upload(client)
    for page in (text(client.get("/")), text(client.get("/batches/b1?added=1"))):
        assert tuple(select(page, "mode")) == MODES
        assert tuple(select(page, "mask")) == MASKS
        assert select(page, "detector") == ["", *sorted(DETECTORS)]  # "": by mode
        privacy = re.search(r"data-privacy='([^']*)'", page)
        assert privacy and json.loads(privacy.group(1)) == PRIVACY_SCORES
        hiding = re.search(r"data-anonymising='([^']*)'", page)
        assert hiding and json.loads(hiding.group(1)) == [m for m in MODES if m != "outline"]
        assert 'id="mask_scale" value="1.3" min="0.5" max="3.0"' in page.replace("\n ", " ")
        for field in ("mode", "detector", "score_threshold", "mask", "mask_scale"):
            assert f'<label for="{field}">' in page  # every control has its label


def test_form_options_become_the_jobs_flags_with_the_privacy_default() -> None:
    detect, render = options.read({"mode": "blur", "detector": "centerface", "mask": "box",
                                   "mask_scale": "1.5", "score_threshold": ""})  # fmt: skip
    assert detect.score_threshold == PRIVACY_SCORES["centerface"]
    args = jobspec.job_args(output="/o", input="/i", detect=detect, render=render)
    assert args[args.index("--mode") + 1] == "blur"
    assert args[args.index("--mask") + 1] == "box"
    assert args[args.index("--mask-scale") + 1] == "1.5"
    assert args[args.index("--score-threshold") + 1] == "0.2"
    assert options.described(detect, render) == {
        "threshold": 0.2, "mask": "box", "mask scale": 1.5, "blur strength": 0.5}  # fmt: skip
    outline, _ = options.read({"mode": "outline", "detector": "retinaface"})
    assert outline.score_threshold is None  # the detector's own
    chosen, _ = options.read({"mode": "pixelate", "score_threshold": "0.35"})
    assert chosen.score_threshold == 0.35
    for bad, why in [
        ({"mode": "paint"}, "mode 'paint' is not one of"),
        ({"mask": "star"}, "mask 'star' is not one of ellipse, box"),
        ({"mask_scale": "9"}, "mask scale: must be between 0.5 and 3, got 9"),
        ({"pixelate_blocks": "1"}, "pixelate blocks: must be between 2 and 64"),
        ({"score_threshold": "2"}, "score_threshold: must be between 0 and 1"),
    ]:
        with pytest.raises(ValueError, match=re.escape(why)):
            options.read(bad)


def test_phase_lines_after_the_last_count_say_what_the_run_does() -> None:
    assert parse_phase(format_phase("gallery")) == "gallery"
    assert parse_phase("dataproc-faces: phase nonsense") is None
    run = Run("web-1", "local", "/i", "/o", "haar", "blur", "RUNNING")
    lines = ["dataproc-faces: progress 3/30 images (10%)"]
    _progress_from(run, lines)
    assert (run.done, run.total, run.phase) == (3, 30, "")
    lines += ["dataproc-faces: progress 30/30 images (100%)", format_phase("compacting")]
    _progress_from(run, lines)
    assert (run.done, run.phase, run.phase_text) == (30, "compacting", PHASES["compacting"])
    _progress_from(run, [*lines, "spark noise", format_phase("gallery")])
    assert run.phase_text == "writing the gallery"


def test_the_command_prints_the_compacting_line_when_the_tasks_end(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from contextlib import nullcontext

    from dataproc_faces.cli import _then_compacting

    with _then_compacting(nullcontext()):
        print("tasks", file=__import__("sys").stderr)
    assert capsys.readouterr().err.splitlines() == ["tasks", format_phase("compacting")]


def test_a_finished_run_downloads_as_one_zip_of_images_manifest_and_summary(
    app: Flask, client: FlaskClient, tmp_path: Path
) -> None:
    run = finished_run(app)
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"not a result")
    (Path(run.output) / "images" / "link.png").symlink_to(secret)
    r = client.get(f"/runs/{run.id}/download.zip")
    assert r.status_code == 200 and r.mimetype == "application/zip"
    assert r.headers["Content-Disposition"] == f'attachment; filename="{run.id}.zip"'
    archive = zipfile.ZipFile(io.BytesIO(r.data))
    assert archive.testzip() is None
    names = [n.removeprefix(run.id + "/") for n in archive.namelist()]
    assert names == ["images/a.png", "images/link.png", "images/trip/b.jpg",
                     "manifest/part-0.jsonl", "summary.json"]  # fmt: skip
    assert archive.read(f"{run.id}/images/a.png") == CAMERA
    assert archive.read(f"{run.id}/images/link.png") == b""  # a link out is not followed
    assert archive.getinfo(f"{run.id}/images/a.png").compress_type == zipfile.ZIP_STORED
    assert archive.read(f"{run.id}/summary.json") == b'{"inputs": 2}\n'
    assert b"{{" not in text(client.get(f"/runs/{run.id}")).encode()
    assert f'href="/runs/{run.id}/download.zip"' in text(client.get(f"/runs/{run.id}"))


def test_the_gallery_served_by_the_page_links_back_to_its_run(
    app: Flask, client: FlaskClient
) -> None:
    run = finished_run(app)
    page = text(client.get(f"/runs/{run.id}/files/index.html"))
    assert f'<nav id="back-to-app" aria-label="app"><a href="/runs/{run.id}">' in page
    assert page.index("back-to-app") < page.index("<h1>")
    assert f'<a id="review-link" href="/runs/{run.id}/review">review the photos</a>' in page
    on_disk = (Path(run.output) / "index.html").read_text()
    assert "back-to-app" not in on_disk  # the job's file stays as written


def test_a_batch_is_deleted_after_confirming_with_the_form_token(
    app: Flask, client: FlaskClient
) -> None:
    upload(client)
    folder = Path(app.config["FACES_SETTINGS"].input_root) / "b1"
    (folder / ".DS_Store").write_bytes(b"x")
    confirm = text(client.get("/batches/b1/delete"))
    assert 'action="/batches/b1/delete"' in confirm and 'name="csrf_token"' in confirm
    assert folder.is_dir()  # asking is not deleting
    r = client.post("/batches/b1/delete", data={"csrf_token": token(client)})
    assert r.status_code == 200
    assert "Deleted batch b1: 2 files." in text(r)
    assert not folder.exists()
    assert client.get("/batches/b1").status_code == 404


def test_a_runs_results_and_record_are_deleted(app: Flask, client: FlaskClient) -> None:
    run = finished_run(app)
    r = client.post(f"/runs/{run.id}/delete", data={"csrf_token": token(client)})
    assert "Deleted run" in text(r) and "8 result files" in text(r)
    assert not Path(run.output).exists()
    assert client.get(f"/runs/{run.id}").status_code == 404


def test_new_forms_without_the_token_delete_nothing(app: Flask, client: FlaskClient) -> None:
    upload(client)
    run = finished_run(app)
    token(client)
    for path in ("/batches/b1/delete", f"/runs/{run.id}/delete"):
        for sent in ({}, {"csrf_token": "forged"}):
            r = client.post(path, data=sent)
            assert r.status_code == 400 and "did not come from this site's page" in text(r)
    assert (Path(app.config["FACES_SETTINGS"].input_root) / "b1" / "c.png").is_file()
    assert Path(run.output, "images", "a.png").is_file()


def test_deleting_outside_the_roots_is_refused(
    app: Flask, client: FlaskClient, tmp_path: Path
) -> None:
    s = app.config["FACES_SETTINGS"]
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.jpg").write_bytes(b"keep")
    # a run record whose results folder is not under the results root
    run = finished_run(app, "web-20260101-000000-ffff", output=str(outside / "res"))
    r = client.post(f"/runs/{run.id}/delete", data={"csrf_token": token(client)})
    assert r.status_code == 400 and "is not a folder below" in text(r)
    assert (outside / "res" / "images" / "a.png").is_file()
    with pytest.raises(NotDeleted):
        delete_tree(s.input_root, str(outside))
    with pytest.raises(NotDeleted):
        delete_tree(s.input_root, s.input_root + "/../outside")
    upload(client)
    (Path(s.input_root) / "b1" / "out.jpg").symlink_to(outside / "keep.jpg")
    r = client.post("/batches/b1/delete", data={"csrf_token": token(client)})
    assert r.status_code == 400 and "links outside" in text(r)
    assert (outside / "keep.jpg").read_bytes() == b"keep"
    assert (Path(s.input_root) / "b1" / "c.png").is_file()  # refused whole
    for path in ("/batches/..%2Foutside/delete", "/batches/.hidden/delete"):
        assert client.post(path, data={"csrf_token": token(client)}).status_code in (400, 404)
    assert outside.is_dir()


def test_the_pages_own_script_and_style_are_served_and_allowed(client: FlaskClient) -> None:
    from importlib import resources

    js = client.get("/static/page.js")
    assert js.status_code == 200 and js.mimetype in ("text/javascript", "application/javascript")
    assert js.data == resources.files("dataproc_faces.web").joinpath("static/page.js").read_bytes()
    assert client.get("/static/page.css").mimetype == "text/css"
    assert client.get("/static/pages.py").status_code == 404
    assert client.get("/static/..%2F__init__.py").status_code == 404
    csp = client.get("/").headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
