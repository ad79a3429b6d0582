"""Stopping a cloud run from the page: a Dataproc job is cancelled through the JobController, a
Serverless batch through its operation (as `gcloud dataproc batches cancel`), both with the real
google-cloud-dataproc client (REST) against the stand-in. No Spark: states are scripted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from dataproc_faces import remote
from tests.e2e.conftest import PROJECT, patched_env, upload
from tests.e2e.test_batches_fast import ScriptedBatches
from tests.e2e.test_remote_fast import CLUSTER, REGION, ScriptedStandIn

pytestmark = pytest.mark.e2e


class Both(ScriptedStandIn, ScriptedBatches):
    """Jobs and batches scripted: neither runs Spark."""


@pytest.fixture(scope="module")
def standin(bucket, gcs_env) -> Iterator[Both]:
    server = Both(gcs_env, staging_bucket=bucket, clusters={CLUSTER})
    with server, patched_env({"DATAPROC_ENDPOINT": server.url}):
        yield server


def _outputs(bucket: str, folder: Path, serverless: bool) -> str:
    body = {
        "project": PROJECT,
        "region": REGION,
        "upload_images_to": f"gs://{bucket}/images/",
        "results_uri": f"gs://{bucket}/runs/",
        "job_main_uri": f"gs://{bucket}/artifacts/main-1.py",
        "job_package_uri": f"gs://{bucket}/artifacts/dataproc_faces-1.zip",
    }
    if serverless:
        body |= {"runner": "serverless", "batch_runtime_version": "2.3",
                 "batch_service_account": f"b@{PROJECT}.iam.gserviceaccount.com",
                 "batch_subnetwork": "projects/p/regions/europe-west1/subnetworks/s",
                 "batch_image": f"{REGION}-docker.pkg.dev/{PROJECT}/i/b@sha256:{'0' * 64}",
                 "batch_staging_bucket": f"{bucket}-temp"}  # fmt: skip
    else:
        body["cluster_name"] = CLUSTER
    path = folder / ("serverless.json" if serverless else "cluster.json")
    path.write_text(json.dumps(body))
    return str(path)


def _client(bucket: str, tmp_path: Path, serverless: bool) -> FlaskClient:
    from dataproc_faces.web import create_app
    from dataproc_faces.web.settings import Settings, cloud_from_args

    remote.stack_outputs.cache_clear()
    outputs = _outputs(bucket, tmp_path, serverless)
    return create_app(Settings(data=tmp_path / "web", cloud=cloud_from_args(outputs))).test_client()


@pytest.mark.parametrize("serverless", [False, True], ids=["cluster-job", "serverless-batch"])
def test_a_cloud_run_is_stopped_from_its_page(standin: Both, bucket, tmp_path, serverless) -> None:
    from tests.web.helpers import token

    upload(bucket, {"images/trip/a.png": b"\x89PNG"})
    client = _client(bucket, tmp_path, serverless)
    r = client.post("/runs", data={"csrf_token": token(client), "batch": "trip"})
    assert r.status_code == 303, r.get_data(as_text=True)
    run_id = r.headers["Location"].rsplit("/", 1)[1]
    work_id = client.get(f"/api/runs/{run_id}").get_json()["job_id"]
    page = client.get(f"/runs/{run_id}").get_data(as_text=True)
    assert 'id="cancel"' in page and ">Stop this run</button>" in page

    refused = client.post(f"/runs/{run_id}/cancel", data={"csrf_token": "forged"})
    assert refused.status_code == 400 and "did not come from this site" in refused.get_data(
        as_text=True
    )
    assert not any(":cancel" in path for _, path in standin.requests if work_id in path)

    r = client.post(f"/runs/{run_id}/cancel", data={"csrf_token": token(client)})
    assert r.status_code == 303, r.get_data(as_text=True)
    if serverless:
        operation = standin.batches[work_id]["operation"]
        assert ("POST", f"/v1/{operation}:cancel") in standin.requests
        assert standin.batches[work_id]["state"] == "CANCELLING"
        standin.script[work_id] = [("CANCELLED", "")]
    else:
        path = f"/v1/projects/{PROJECT}/regions/{REGION}/jobs/{work_id}:cancel"
        assert ("POST", path) in standin.requests
        assert standin.jobs[work_id]["status"]["state"] == "CANCEL_PENDING"
        standin.script[work_id] = [("CANCELLED", "")]
    run = client.get(f"/api/runs/{run_id}").get_json()
    if run["active"]:  # the page saw CANCELLING first
        run = client.get(f"/api/runs/{run_id}").get_json()
    assert (run["state"], run["active"]) == ("CANCELLED", False)
    assert run["message"].startswith("Stopped from the page")
    again = client.post(f"/runs/{run_id}/cancel", data={"csrf_token": token(client)})
    assert again.status_code == 409
    assert "has ended (CANCELLED); there is nothing to stop" in again.get_data(as_text=True)
