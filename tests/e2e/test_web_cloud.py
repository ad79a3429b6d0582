"""The web page in cloud mode: uploads land under the stack's input prefix in the storage
emulator, runs are jobs submitted through `submit`'s code path to the Dataproc stand-in (which
really runs them), and results are streamed back from the bucket through the app."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from dataproc_faces.storage.gcs import GcsStore
from dataproc_faces.web import create_app
from dataproc_faces.web.settings import Settings, cloud_from_args
from tests.conftest import SAMPLES
from tests.e2e.conftest import names, upload
from tests.e2e.test_submit import stack  # noqa: F401  (artefacts, stand-in, stack outputs)
from tests.web.helpers import token, wait_run

pytestmark = [pytest.mark.e2e, pytest.mark.spark]

ASTRONAUT = (SAMPLES / "astronaut.png").read_bytes()
CAMERA = (SAMPLES / "camera.png").read_bytes()


@pytest.fixture(scope="module")
def app(stack, tmp_path_factory) -> Iterator[Flask]:  # noqa: F811
    _, env, outputs = stack
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATAPROC_ENDPOINT", env["DATAPROC_ENDPOINT"])
        settings = Settings(data=tmp_path_factory.mktemp("web"), cloud=cloud_from_args(outputs))
        yield create_app(settings)


@pytest.fixture(scope="module")
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _upload(client: FlaskClient, files: list[tuple[str, bytes]], batch: str):
    data = {"csrf_token": token(client), "batch": batch}
    data["files"] = [(io.BytesIO(content), name) for name, content in files]
    return client.post(
        "/upload", data=data, content_type="multipart/form-data", follow_redirects=True
    )


def _start(client: FlaskClient, **form: str) -> str:
    r = client.post("/runs", data={"csrf_token": token(client), **form})
    assert r.status_code == 303, r.get_data(as_text=True)
    return r.headers["Location"].rsplit("/", 1)[1]


def _json(client: FlaskClient):
    return lambda run_id: client.get(f"/api/runs/{run_id}").get_json()


def test_uploads_land_under_the_stacks_input_prefix(client: FlaskClient, bucket: str) -> None:
    r = _upload(client, [("astronaut.png", ASTRONAUT), ("camera.png", CAMERA)], "web1")
    assert r.status_code == 200, r.get_data(as_text=True)
    assert names(bucket, "images/web1/") == ["images/web1/astronaut.png", "images/web1/camera.png"]
    assert GcsStore().read(f"gs://{bucket}/images/web1/camera.png") == CAMERA
    again = _upload(client, [("camera.png", ASTRONAUT)], "web1")
    assert again.status_code == 400
    assert "camera.png is already in batch web1" in again.get_data(as_text=True)
    assert GcsStore().read(f"gs://{bucket}/images/web1/camera.png") == CAMERA
    assert "<option>web1</option>" in client.get("/").get_data(as_text=True)


def test_a_run_is_a_submitted_job_whose_gallery_streams_from_the_bucket(
    client: FlaskClient,
    bucket: str,
    stack,  # noqa: F811
) -> None:
    run_id = _start(client, batch="web1", detector="haar", mode="blur")
    run = wait_run(_json(client), run_id)
    assert (run["target"], run["state"], run["done"], run["total"]) == ("cloud", "DONE", 2, 2)
    job_id = run["job_id"]
    assert job_id.startswith(f"faces-{run_id}-")
    assert run["output"] == f"gs://{bucket}/runs/{job_id}"
    args = stack[0].jobs[job_id]["pysparkJob"]["args"]
    assert args[:5] == ["run", "--input", f"gs://{bucket}/images/web1", "--output", run["output"]]
    assert args[args.index("--detector") + 1] == "haar"
    assert args[args.index("--mode") + 1] == "blur"

    gallery = client.get(f"/runs/{run_id}/files/index.html")
    assert gallery.status_code == 200 and "in 2 images" in gallery.get_data(as_text=True)
    thumb = client.get(f"/runs/{run_id}/files/thumbs/astronaut.png.jpg")
    stored = GcsStore().read(f"{run['output']}/thumbs/astronaut.png.jpg")
    assert thumb.mimetype == "image/jpeg" and thumb.data == stored
    assert client.get(f"/runs/{run_id}/files/thumbs/missing.jpg").status_code == 404
    rows = [json.loads(x) for x in client.get(f"/runs/{run_id}/manifest.jsonl").data.splitlines()]
    assert sorted(r["path"] for r in rows) == [
        f"gs://{bucket}/images/web1/astronaut.png",
        f"gs://{bucket}/images/web1/camera.png",
    ]
    zipped = client.get(f"/runs/{run_id}/download.zip")
    assert zipped.status_code == 200 and zipped.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(zipped.data))
    inside = sorted(n.removeprefix(run_id + "/") for n in archive.namelist())
    assert [n for n in inside if n.startswith("images/")] == [
        "images/astronaut.png", "images/camera.png"]  # fmt: skip
    assert archive.read(f"{run_id}/images/camera.png") == GcsStore().read(
        f"{run['output']}/images/camera.png"
    )
    assert "summary.json" in inside


def test_a_run_over_a_missing_prefix_is_refused_at_once(client: FlaskClient) -> None:
    r = client.post("/runs", data={"csrf_token": token(client), "prefix": "nothing-here"})
    assert r.status_code == 400
    assert "There is no folder nothing-here under gs://" in r.get_data(as_text=True)


def test_a_job_that_fails_shows_the_jobs_own_sentence(client: FlaskClient, bucket: str) -> None:
    upload(bucket, {"images/bad1/camera.png": CAMERA, "images/bad1/_dataproc_faces.json": b"{}"})
    run_id = _start(client, batch="bad1")
    run = wait_run(_json(client), run_id)
    assert run["state"] == "ERROR"
    assert run["message"].endswith(
        "is a results folder of this job: give the folder of the originals."
    ), run
    page = client.get(f"/runs/{run_id}").get_data(as_text=True)
    assert 'id="state">ERROR<' in page and 'id="gallery"' not in page
