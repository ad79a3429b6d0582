"""The web page through Flask's test client: every route, the refusals, a failing and a
finished local run (the real `run` command on local Spark in a child process)."""

from __future__ import annotations

import html
import io
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from dataproc_faces.web import create_app
from dataproc_faces.web.runs import Run
from dataproc_faces.web.settings import Settings
from tests.conftest import SAMPLES
from tests.web.helpers import png_header, token, wait_run, zip_of

ASTRONAUT = (SAMPLES / "astronaut.png").read_bytes()
CAMERA = (SAMPLES / "camera.png").read_bytes()


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    settings = Settings(
        data=tmp_path / "data",
        max_file_bytes=len(ASTRONAUT) + 1000,
        max_request_bytes=3 * len(ASTRONAUT),
        master="local[2]",
    )
    app = create_app(settings)
    yield app
    app.extensions["faces_runs"].stop_all()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def text(r) -> str:
    """A response's text as a person reads it (entities unescaped)."""
    return html.unescape(r.get_data(as_text=True))


def upload(client: FlaskClient, files: list[tuple[str, bytes]], batch: str = "b1", **extra):
    data = {"csrf_token": token(client), "batch": batch, **extra}
    data["files"] = [(io.BytesIO(content), name) for name, content in files]
    return client.post(
        "/upload", data=data, content_type="multipart/form-data", follow_redirects=True
    )


def stored(app: Flask) -> list[str]:
    root = Path(app.config["FACES_SETTINGS"].input_root)
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_healthz_answers_ok(client: FlaskClient) -> None:
    r = client.get("/healthz")
    assert (r.status_code, text(r)) == (200, "ok\n")


def test_favicon_is_an_empty_answer_not_a_404(client: FlaskClient) -> None:
    r = client.get("/favicon.ico")
    assert (r.status_code, r.data) == (204, b"")


def test_upload_page_has_a_token_and_safe_headers(client: FlaskClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert len(token(client)) >= 40
    assert r.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]


def test_several_photos_land_in_the_batch_folder_byte_for_byte(
    app: Flask, client: FlaskClient
) -> None:
    r = upload(client, [("astronaut.png", ASTRONAUT), ("camera.png", CAMERA)])
    assert r.status_code == 200, text(r)
    assert "2 files uploaded to batch b1" in text(r)
    assert stored(app) == ["b1/astronaut.png", "b1/camera.png"]
    root = Path(app.config["FACES_SETTINGS"].input_root)
    assert (root / "b1/camera.png").read_bytes() == CAMERA
    assert "option selected>b1<" in text(client.get("/?batch=b1")).replace("\n", "")


def test_a_camera_name_starting_with_underscore_is_a_photo_stored_with_the_umask_mode(
    app: Flask, client: FlaskClient
) -> None:
    r = upload(client, [("_DSC0001.JPG", CAMERA)], batch="cam")
    assert r.status_code == 200, text(r)
    assert stored(app) == ["cam/_DSC0001.JPG"]
    path = Path(app.config["FACES_SETTINGS"].input_root) / "cam" / "_DSC0001.JPG"
    assert path.stat().st_mode & 0o777 == 0o644


def test_a_zip_is_expanded_keeping_folders_and_skipping_bookkeeping(
    app: Flask, client: FlaskClient
) -> None:
    archive = zip_of(
        {"trip/day1/camera.png": CAMERA, "__MACOSX/._camera.png": b"x", "trip/.DS_Store": b"x"}
    )
    r = upload(client, [("photos.zip", archive)], batch="z")
    assert r.status_code == 200, text(r)
    assert stored(app) == ["z/trip/day1/camera.png"]


def test_sidecars_from_a_phone_or_camera_are_skipped_with_a_note_and_the_photos_uploaded(
    app: Flask, client: FlaskClient
) -> None:
    archive = zip_of(
        {"DCIM/IMG_0001.PNG": CAMERA, "DCIM/IMG_0001.AAE": b"<plist/>", "DCIM/IMG_0001.xmp": b"x",
         "DCIM/MVI_0002.THM": b"\xff\xd8", "Takeout/IMG_0001.PNG.json": b"{}",
         "DCIM/<i>x</i>.AAE": b"x"}
    )  # fmt: skip
    big_xmp = b"x" * (len(ASTRONAUT) + 5000)  # over the limit per file: not read, not refused
    r = upload(
        client, [("phone.zip", archive), ("IMG_0003.png", CAMERA), ("IMG_0003.XMP", big_xmp)]
    )
    body = text(r)
    assert r.status_code == 200, body
    assert stored(app) == ["b1/DCIM/IMG_0001.PNG", "b1/IMG_0003.png"]
    assert "2 files uploaded to batch b1" in body
    notes = re.search(r'<div id="skipped"[^>]*>(.*?)</div>', body, re.S)
    assert notes, body
    for sentence in (
        "phone.zip: DCIM/IMG_0001.AAE skipped: edit settings Apple Photos keeps next to a photo",
        "phone.zip: DCIM/IMG_0001.xmp skipped: a metadata sidecar",
        "phone.zip: DCIM/MVI_0002.THM skipped: a camera's thumbnail of a video",
        "phone.zip: Takeout/IMG_0001.PNG.json skipped: a metadata file",
        "IMG_0003.XMP skipped: a metadata sidecar",
    ):
        assert sentence in notes.group(1)
    raw = r.get_data(as_text=True)
    assert "DCIM/&lt;i&gt;x&lt;/i&gt;.AAE skipped" in raw and "<i>x</i>" not in raw
    assert 'id="skipped"' not in text(client.get("/batches/b1?added=2"))  # said for the upload
    assert 'id="skipped"' not in text(client.get("/batches/b1?added=2&notes=0000"))


def test_an_upload_of_sidecars_only_is_refused_naming_them(app: Flask, client: FlaskClient) -> None:
    data = {"csrf_token": token(client), "batch": "b1",
            "files": [(io.BytesIO(b"<plist/>"), "IMG_1.AAE")]}  # fmt: skip
    r = client.post("/upload", data=data, content_type="multipart/form-data")
    body = text(r)
    assert r.status_code == 400
    assert "The upload holds no photos, only files next to photos." in body
    assert "IMG_1.AAE skipped: edit settings Apple Photos" in body
    assert stored(app) == []


def test_a_real_problem_next_to_sidecars_names_only_the_bad_file(
    app: Flask, client: FlaskClient
) -> None:
    archive = zip_of({"a.png": CAMERA, "a.AAE": b"x", "broken.jpg": b"not pixels"})
    r = upload(client, [("phone.zip", archive)])
    body = text(r)
    assert r.status_code == 400
    assert "1 of 2 files refused; nothing was uploaded." in body
    assert "broken.jpg: not an image" in body
    assert "a.AAE" not in body
    assert stored(app) == []


@pytest.mark.parametrize(
    ("files", "reason"),
    [
        ([("empty.jpg", b"")], "empty.jpg: empty file."),
        ([("notes.jpg", b"these are words, not pixels")], "notes.jpg: not an image"),
        ([("big.png", ASTRONAUT + b"\0" * 2000)], "big.png is larger than the"),
        ([("../escape.png", CAMERA)], "'../escape.png' is not a plain relative file name"),
        ([("a/../../b.png", CAMERA)], "is not a plain relative file name ('..' segment"),
        ([("bomb.png", png_header(100_000, 100_000))], "over the pixel budget"),
        ([("x.png", CAMERA), ("x.png", CAMERA)], "x.png is already in batch b1"),
        ([(".hidden.png", CAMERA)], ".hidden.png is a name the job does not read: hidden"),
        ([("_SUCCESS", CAMERA)], "_SUCCESS is a name the job does not read: written by Spark"),
        ([("bad.zip", zip_of({"../up.png": CAMERA}))], "'../up.png' is not a plain relative"),
        ([("notzip.zip", b"PK\x03\x04garbage")], "notzip.zip is not a readable zip"),
    ],
    ids=["empty", "not-image", "over-file-limit", "dotdot", "inner-dotdot", "bomb-header",
         "duplicate-in-request", "hidden", "spark-marker", "zip-dotdot", "broken-zip"],
)  # fmt: skip
def test_bad_uploads_are_refused_whole_with_a_reason(
    app: Flask, client: FlaskClient, files: list[tuple[str, bytes]], reason: str
) -> None:
    r = upload(client, [("good.png", CAMERA), *files])
    body = text(r)
    assert r.status_code == 400
    assert "refused; nothing was uploaded." in body
    assert reason in body
    assert "Traceback" not in body
    assert stored(app) == []


def test_a_name_already_in_the_batch_is_never_replaced(app: Flask, client: FlaskClient) -> None:
    assert upload(client, [("camera.png", CAMERA)]).status_code == 200
    r = upload(client, [("camera.png", ASTRONAUT)])
    assert r.status_code == 400
    assert "camera.png is already in batch b1" in text(r)
    root = Path(app.config["FACES_SETTINGS"].input_root)
    assert (root / "b1/camera.png").read_bytes() == CAMERA


def test_an_upload_over_the_request_limit_is_a_413_page(app: Flask, client: FlaskClient) -> None:
    files = [(f"{i}.png", ASTRONAUT) for i in range(4)]
    r = upload(client, files)
    assert r.status_code == 413
    assert "The upload is larger than" in text(r)
    assert stored(app) == []


def test_a_zip_that_expands_past_the_limit_is_refused(app: Flask, client: FlaskClient) -> None:
    bomb = zip_of({f"{i}.png": b"\0" * 600_000 for i in range(4)})  # 2.4 MB from a few KB
    assert len(bomb) < 100_000
    r = upload(client, [("bomb.zip", bomb)])
    assert r.status_code == 400
    assert "expand" in text(r)
    assert stored(app) == []


def test_a_batch_name_with_a_path_is_refused(app: Flask, client: FlaskClient) -> None:
    r = upload(client, [("camera.png", CAMERA)], batch="../outside")
    assert r.status_code == 400
    assert "The batch name '../outside' is not allowed" in text(r)
    assert not (Path(app.config["FACES_SETTINGS"].data) / "outside").exists()
    assert stored(app) == []


@pytest.mark.parametrize("sent", [None, "forged-token"])
def test_forms_without_the_session_token_are_refused(
    app: Flask, client: FlaskClient, sent: str | None
) -> None:
    token(client)  # the session has a token; the form does not send it
    data = {"batch": "b1", "files": [(io.BytesIO(CAMERA), "camera.png")]}
    if sent:
        data["csrf_token"] = sent
    r = client.post("/upload", data=data, content_type="multipart/form-data")
    assert r.status_code == 400
    assert "did not come from this site's page" in text(r)
    assert stored(app) == []
    r = client.post("/runs", data={"batch": "b1"})
    assert r.status_code == 400
    assert text(client.get("/runs")).count("data-run=") == 0


def test_a_token_from_another_session_is_refused(app: Flask) -> None:
    stolen = token(app.test_client())
    r = app.test_client().post("/runs", data={"csrf_token": stolen, "prefix": "x"})
    assert r.status_code == 400


def test_unknown_pages_and_runs_are_404_sentences(client: FlaskClient) -> None:
    for path in ("/nope", "/runs/web-1", "/runs/../etc/passwd", "/api/runs/web-x"):
        r = client.get(path)
        assert r.status_code == 404, path
        assert "There is no such page or file." in text(r)


def test_a_server_error_is_one_sentence_not_a_traceback(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> list:
        raise RuntimeError("secret internals /etc/shadow")

    monkeypatch.setattr(app.extensions["faces_runs"], "all", broken)
    r = client.get("/runs")
    body = text(r)
    assert r.status_code == 500
    assert "The server could not do that (RuntimeError); its log has the details." in body
    assert "secret internals" not in body and "Traceback" not in body


def test_bad_run_options_are_refused(client: FlaskClient) -> None:
    t = token(client)
    r = client.post("/runs", data={"csrf_token": t, "prefix": "a", "detector": "nope"})
    assert r.status_code == 400
    assert "detector: must be one of" in text(r)
    r = client.post("/runs", data={"csrf_token": t, "prefix": "a", "mode": "paint"})
    assert r.status_code == 400
    r = client.post("/runs", data={"csrf_token": t, "prefix": "a/../.."})
    assert r.status_code == 400
    assert "'..' segment" in text(r)


def run_json(client: FlaskClient):
    return lambda run_id: client.get(f"/api/runs/{run_id}").get_json()


def test_a_run_over_a_missing_folder_is_refused_at_once_in_the_pages_terms(
    client: FlaskClient,
) -> None:
    t = token(client)
    r = client.post("/runs", data={"csrf_token": t, "prefix": "no-such-folder"})
    assert r.status_code == 400
    assert "There is no the folder" not in text(r)
    assert "There is no folder no-such-folder under " in text(r)
    assert "--input" not in text(r)
    r = client.post("/runs", data={"csrf_token": t, "batch": "beach-day"})
    assert "There is no batch beach-day: upload photos to it first" in text(r)
    assert text(client.get("/runs")).count("data-run=") == 0


def test_a_failing_run_ends_in_error_with_the_jobs_own_sentence(
    app: Flask, client: FlaskClient
) -> None:
    assert upload(client, [("camera.png", CAMERA)]).status_code == 200
    batch = Path(app.config["FACES_SETTINGS"].input_root) / "b1"
    (batch / "_dataproc_faces.json").write_text("{}")  # a results folder: the job refuses it
    r = client.post("/runs", data={"csrf_token": token(client), "batch": "b1"})
    assert r.status_code == 303
    run_id = r.headers["Location"].rsplit("/", 1)[1]
    run = wait_run(run_json(client), run_id)
    assert run["state"] == "ERROR"
    assert run["message"].endswith(
        "is a results folder of this job: give the folder of the originals."
    )
    page = text(client.get(f"/runs/{run_id}"))
    assert 'id="state">ERROR<' in page
    assert "is a results folder of this job" in page
    assert 'id="gallery"' not in page


@pytest.mark.spark
def test_a_local_run_finishes_and_serves_its_gallery_images_and_manifest(
    app: Flask, client: FlaskClient
) -> None:
    assert upload(client, [("astronaut.png", ASTRONAUT), ("camera.png", CAMERA)]).status_code == 200
    data = {"csrf_token": token(client), "batch": "b1", "detector": "haar", "mode": "blur"}
    r = client.post("/runs", data=data)
    assert r.status_code == 303
    run_id = r.headers["Location"].rsplit("/", 1)[1]
    again = client.post("/runs", data=data)  # one local run at a time on a small machine
    assert again.status_code == 409
    assert "A local run is in progress" in text(again)
    run = wait_run(run_json(client), run_id)
    assert (run["state"], run["done"], run["total"], run["message"]) == ("DONE", 2, 2, "")
    assert (run["detector"], run["mode"]) == ("haar", "blur")
    assert run["seconds"] > 0

    listing = text(client.get("/runs"))
    assert f'data-run="{run_id}"' in listing and "state-DONE" in listing
    gallery = client.get(f"/runs/{run_id}/files/index.html")
    assert gallery.status_code == 200 and gallery.mimetype == "text/html"
    title = re.search(r"<title>Faces: (\d+) in (\d+) images</title>", text(gallery))
    assert title and int(title.group(1)) >= 1 and title.group(2) == "2"
    image = client.get(f"/runs/{run_id}/files/images/astronaut.png")
    assert image.mimetype == "image/png" and image.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert image.data != ASTRONAUT  # blurred
    thumb = client.get(f"/runs/{run_id}/files/thumbs/camera.png.jpg")
    assert thumb.mimetype == "image/jpeg" and thumb.data[:2] == b"\xff\xd8"
    rows = [json.loads(x) for x in client.get(f"/runs/{run_id}/manifest.jsonl").data.splitlines()]
    by_name = {os.path.basename(row["path"]): row for row in rows}
    assert sorted(by_name) == ["astronaut.png", "camera.png"]
    assert all(row["status"] == "ok" for row in rows)
    assert len(by_name["astronaut.png"]["faces"]) >= 1

    for bad in ("..%2F..%2Fdata%2Fruns", "%2e%2e/x", "images/../../x"):
        assert client.get(f"/runs/{run_id}/files/{bad}").status_code == 404, bad
    out = Path(app.config["FACES_SETTINGS"].results_root) / run_id
    (out / "link").symlink_to("/etc/hostname")
    assert client.get(f"/runs/{run_id}/files/link").status_code == 404


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"mode": "blur", "blur_strength": "0.02"}, "blur strength 0.02 leaves faces recognisable"),
        ({"mode": "pixelate", "pixelate_blocks": "32"}, "pixelate blocks 32 leaves faces"),
        ({"mode": "solid", "mask_scale": "0.6"}, "mask scale 0.6 leaves faces recognisable"),
    ],
)
def test_a_weak_setting_is_refused_in_the_pages_words_unless_allowed(
    app: Flask, client: FlaskClient, fields: dict[str, str], said: str
) -> None:
    assert upload(client, [("camera.png", CAMERA)]).status_code == 200
    data = {"csrf_token": token(client), "batch": "b1", **fields}
    r = client.post("/runs", data=data)
    assert r.status_code == 400
    page = text(r)
    assert said in page and "(measured by make bench-privacy)" in page
    assert 'tick "Allow weak settings" to use it anyway' in page and "--allow-weak" not in page
    assert text(client.get("/runs")).count("data-run=") == 0  # nothing started
    book, started = app.extensions["faces_runs"], []

    def spawn(source: str, flags: list[str], *rest) -> Run:  # recorded, not started
        started.append(flags)
        return Run("web-weak", "local", source, "/o", "retinaface", "blur", "DONE")

    book._spawn = spawn
    assert client.post("/runs", data={**data, "allow_weak": "1"}).status_code == 303
    (flags,) = started  # the form was accepted and handed to the run: it reaches the job
    (name, value), flag = list(fields.items())[1], "--" + list(fields)[1].replace("_", "-")
    assert "--allow-weak" in flags and flags[flags.index(flag) + 1] == value, name


def test_the_allow_weak_box_is_on_the_form_with_the_floors(client: FlaskClient) -> None:
    from dataproc_faces.imaging import options

    page = text(client.get("/"))
    assert '<input type="checkbox" name="allow_weak" id="allow_weak" value="1">' in page
    assert f"A blur strength under {options.BLUR_STRENGTH_FLOOR}" in page
    assert f"more than\n{options.PIXELATE_BLOCKS_CEILING} pixelate blocks" in page
