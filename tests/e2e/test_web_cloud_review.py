"""Cloud runs on the page against the storage emulator and the Dataproc stand-in (the real
clients, REST): a job is stopped through the JobController, a Serverless batch through its
operation (as `gcloud dataproc batches cancel`); a gs:// run is reviewed, its original read from
the input bucket, and the corrections are written into its gs:// results and submitted as a job
that redoes those photos. No Spark: states are scripted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
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


def test_a_gs_run_is_reviewed_and_its_corrections_submitted(standin: Both, bucket, tmp_path):
    import cv2

    from dataproc_faces.web.runs import Run
    from tests.conftest import SAMPLES
    from tests.web.helpers import token

    png = (SAMPLES / "astronaut.png").read_bytes()
    run_id, out = "web-20260101-000000-beef", f"gs://{bucket}/runs/web-20260101-000000-beef"
    face = {"x": 177, "y": 66, "w": 95, "h": 95, "score": 0.99, "by": "detector"}
    row = {"path": f"gs://{bucket}/images/rev/a.png", "status": "ok", "width": 512,
           "height": 512, "output": f"{out}/images/a.png", "faces": [face]}  # fmt: skip
    upload(bucket, {"images/rev/a.png": png, "runs/web-20260101-000000-beef/images/a.png": png,
                    "runs/web-20260101-000000-beef/manifest/part-0.json": json.dumps(row).encode(),
                    "runs/web-20260101-000000-beef/_dataproc_faces.json": b"{}"})  # fmt: skip
    client = _client(bucket, tmp_path, serverless=False)
    flags = ["--detector", "retinaface", "--score-threshold", "0.1", "--mode", "blur"]
    run = Run(run_id, "cloud", f"gs://{bucket}/images/rev", out, "retinaface", "blur", "DONE",
              project=PROJECT, region=REGION, job_id="faces-x", flags=flags)  # fmt: skip
    client.application.extensions["faces_runs"].save(run)

    data = client.get(f"/runs/{run_id}/review.json").get_json()
    assert [(p["path"], p["faces"]) for p in data["photos"]] == [("a.png", [face])]
    original = client.get(f"/runs/{run_id}/review/original/a.png")
    assert original.status_code == 200 and original.mimetype == "image/jpeg"
    assert cv2.imdecode(np.frombuffer(original.data, np.uint8), cv2.IMREAD_COLOR).shape == (
        512, 512, 3)  # fmt: skip
    assert client.get(f"/runs/{run_id}/review/output/images/a.png").data == png

    body = {"photos": {"a.png": {"add": [{"x": 10, "y": 20, "w": 30, "h": 30}], "remove": []}}}
    r = client.post(f"/runs/{run_id}/review/apply", json=body,
                    headers={"X-CSRF-Token": token(client)})  # fmt: skip
    answer = r.get_json()
    assert r.status_code == 200, answer
    assert answer["file"].startswith(f"{out}/_corrections/page/")
    from dataproc_faces.storage import store_for

    written = json.loads(store_for(out).read(answer["file"]))
    assert written["photos"]["a.png"]["add"] == [{"x": 10, "y": 20, "w": 30, "h": 30}]
    assert written["photos"]["a.png"]["by"] == "local"
    assert store_for(out).version(f"{out}/_lock.json") is None  # let go after writing
    job = next(j for j in standin.jobs.values() if "--corrections" in j["pysparkJob"]["args"])
    args = job["pysparkJob"]["args"]
    assert args[args.index("--corrections") + 1] == answer["file"]
    assert args[args.index("--output") + 1] == out
    assert args[args.index("--input") + 1] == f"gs://{bucket}/images/rev"


def test_a_cancel_dataproc_refuses_is_one_sentence(standin: Both, bucket, tmp_path) -> None:
    from dataproc_faces.web.runs import Run
    from tests.web.helpers import token

    client = _client(bucket, tmp_path, serverless=False)
    run = Run("web-20260101-000000-dead", "cloud", f"gs://{bucket}/images/x", f"gs://{bucket}/r",
              "retinaface", "blur", "RUNNING", project=PROJECT, region=REGION,
              job_id="no-such-job")  # fmt: skip
    client.application.extensions["faces_runs"].save(run)
    r = client.post(f"/runs/{run.id}/cancel", data={"csrf_token": token(client)})
    body = r.get_data(as_text=True)
    assert r.status_code == 409
    assert "Dataproc did not cancel no-such-job: Google Cloud does not know something" in body
    assert "Traceback" not in body
