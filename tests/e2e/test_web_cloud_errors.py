"""The page in cloud mode meets Google Cloud's refusals: each is one sentence in the page's
words, never a bare 500. Dataproc's answers come from the stand-in (its `refusals`: a 403 while
a new grant propagates, a 429 quota, a 503), Cloud Storage's from the emulator; no Spark runs
(batches stay PENDING in the scripted stand-in)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from dataproc_faces import remote
from dataproc_faces.web import create_app
from dataproc_faces.web.settings import Cloud, Settings, cloud_from_args
from tests.conftest import SAMPLES
from tests.e2e.conftest import PROJECT, patched_env, upload
from tests.e2e.test_batches_fast import IMAGE, REGION, SA, ScriptedBatches
from tests.web.helpers import token

pytestmark = pytest.mark.e2e

CAMERA = (SAMPLES / "camera.png").read_bytes()


@pytest.fixture(scope="module")
def standin(bucket, gcs_env) -> Iterator[ScriptedBatches]:
    server = ScriptedBatches(gcs_env, staging_bucket=bucket, clusters=set())
    with server, patched_env({"DATAPROC_ENDPOINT": server.url}):
        yield server


@pytest.fixture(scope="module")
def app(standin, bucket, tmp_path_factory) -> Iterator[Flask]:
    """A serverless stack's page: runs are batches, which the scripted stand-in keeps PENDING."""
    path = tmp_path_factory.mktemp("stack") / "outputs.json"
    path.write_text(
        json.dumps(
            {
                "project": PROJECT,
                "region": REGION,
                "runner": "serverless",
                "upload_images_to": f"gs://{bucket}/images/",
                "results_uri": f"gs://{bucket}/runs/",
                "job_main_uri": f"gs://{bucket}/artifacts/main-1.py",
                "job_package_uri": f"gs://{bucket}/artifacts/dataproc_faces-1.zip",
                "batch_image": IMAGE,
                "batch_runtime_version": "2.3",
                "batch_service_account": SA,
                "batch_subnetwork": "projects/p/regions/europe-west1/subnetworks/s",
            }
        )
    )
    upload(bucket, {"images/b1/camera.png": CAMERA})
    remote.stack_outputs.cache_clear()
    settings = Settings(data=tmp_path_factory.mktemp("web"), cloud=cloud_from_args(str(path)))
    yield create_app(settings)
    remote.stack_outputs.cache_clear()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _start(client: FlaskClient):
    return client.post("/runs", data={"csrf_token": token(client), "batch": "b1"})


@pytest.mark.parametrize(
    ("code", "status", "message", "sentence"),
    [
        (
            403,
            "PERMISSION_DENIED",
            "Permission 'dataproc.batches.create' denied on resource",
            "The job was not submitted: Google Cloud refused the devhost's account a permission;"
            " a stack's new grants take up to 7 minutes to apply, so try again in a few minutes,"
            " and if it persists run `pulumi up` again (403 Forbidden: Permission"
            " 'dataproc.batches.create' denied on resource).",
        ),
        (
            429,
            "RESOURCE_EXHAUSTED",
            "Insufficient 'CPUS' quota. Requested 12.0, available 8.0.",
            "The job was not submitted: a Google Cloud quota is used up (docs/deploy.md,"
            " Quotas); try again later or ask for an increase (429 TooManyRequests:"
            " Insufficient 'CPUS' quota. Requested 12.0, available 8.0).",
        ),
        (
            400,
            "INVALID_ARGUMENT",
            "Container image is not accessible",
            "The job was not submitted: Dataproc refused the job as sent (400 BadRequest:"
            " Container image is not accessible).",
        ),
    ],
)
def test_a_refused_submit_is_one_sentence_in_the_pages_words(
    client: FlaskClient, standin: ScriptedBatches, code: int, status: str, message: str, sentence
) -> None:
    standin.refusals.append((code, status, message))
    page = _start(client)
    text = page.get_data(as_text=True)
    assert page.status_code == 409, text
    assert sentence.replace("'", "&#39;").replace("`", "`") in text
    assert "Traceback" not in text and "Server error" not in text
    assert standin.refusals == []  # the refusal was what the page met


def test_a_run_whose_state_cannot_be_read_says_so_and_recovers(
    client: FlaskClient, standin: ScriptedBatches
) -> None:
    started = _start(client)
    assert started.status_code == 303, started.get_data(as_text=True)
    run_id = started.headers["Location"].rsplit("/", 1)[1]
    standin.refusals.append((503, "UNAVAILABLE", "The service is currently unavailable."))
    seen = client.get(f"/api/runs/{run_id}")
    assert seen.status_code == 200
    run = seen.get_json()
    assert (run["state"], run["active"]) == ("PENDING", True)
    assert run["message"] == (
        "The run's state could not be read just now: Google Cloud did not answer properly"
        " just now; try again in a minute (503 ServiceUnavailable: The service is currently"
        " unavailable)."
    )
    assert standin.refusals == []
    listed = client.get("/runs")
    assert listed.status_code == 200
    again = client.get(f"/api/runs/{run_id}").get_json()  # Dataproc answers again
    assert (again["state"], again["message"]) == ("PENDING", "")


def test_a_storage_refusal_on_any_page_is_one_sentence(
    standin: ScriptedBatches, tmp_path: Path
) -> None:
    """The input bucket is gone (deleted by hand): the upload page, which lists the batches
    there, meets the emulator's 404."""
    settings = Settings(
        data=tmp_path, cloud=Cloud("gs://no-such-bucket-xyz/images", "gs://no-such-bucket-xyz/r")
    )
    page = create_app(settings).test_client().get("/")
    text = page.get_data(as_text=True)
    assert page.status_code == 502, text
    assert "Google Cloud does not know something the run needs (was it deleted?); run" in text
    assert "(404 NotFound: " in text and "Server error" not in text


def test_the_page_on_the_devhost_submits_with_the_image_the_stack_last_deployed(
    standin: ScriptedBatches, bucket: str, tmp_path: Path, monkeypatch
) -> None:
    """The page's service environment was written at boot, before `batch_image` was set (the
    documented two-`up` flow); the artefacts object names what the last `up` deployed."""
    from infra.artifacts import CURRENT_OBJECT, render_current

    pushed = IMAGE.replace("0" * 64, "2" * 64)
    uris = {
        role: f"gs://{bucket}/artifacts/{role}-2"
        for role in ("main", "package", "requirements", "constraints")
    }
    settings = {
        "DATAPROC_FACES_RUNNER": "serverless",
        "DATAPROC_FACES_BATCH_IMAGE": pushed,
        "DATAPROC_FACES_BATCH_RUNTIME": "2.3",
        "DATAPROC_FACES_BATCH_SA": SA,
        "DATAPROC_FACES_BATCH_SUBNETWORK": "projects/p/regions/europe-west1/subnetworks/s",
        "DATAPROC_FACES_BATCH_TTL": "43200s",
    }
    upload(bucket, {CURRENT_OBJECT: render_current(uris, settings).encode()})
    for key, value in {  # the boot-time environment: no image, the runner then
        "DATAPROC_FACES_PROJECT": PROJECT,
        "DATAPROC_FACES_REGION": REGION,
        "DATAPROC_FACES_IMAGES": f"gs://{bucket}/images/",
        "DATAPROC_FACES_RESULTS": f"gs://{bucket}/runs/",
        "DATAPROC_FACES_CURRENT": f"gs://{bucket}/{CURRENT_OBJECT}",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("DATAPROC_FACES_BATCH_IMAGE", raising=False)
    client = create_app(Settings(data=tmp_path, cloud=cloud_from_args(None))).test_client()
    page = _start(client)
    assert page.status_code == 303, page.get_data(as_text=True)
    run = client.get(f"/api/runs/{page.headers['Location'].rsplit('/', 1)[1]}").get_json()
    assert run["batch"] is True
    sent = standin.batches[run["job_id"]]
    assert sent["runtimeConfig"]["containerImage"] == pushed
    assert sent["environmentConfig"]["executionConfig"]["ttl"] == "43200s"
    assert sent["pysparkBatch"]["mainPythonFileUri"] == uris["main"]
