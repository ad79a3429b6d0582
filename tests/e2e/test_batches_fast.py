"""Serverless batches through the real google-cloud-dataproc BatchController client (REST) and
the batches half of the Dataproc stand-in: create, get, list, delete, failure states, an id reused.

No Spark here: batches stay PENDING until a test scripts their states (one per poll); a real
batch run to SUCCEEDED is in tests/e2e/test_submit.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dataproc_faces import cli, remote
from tests.e2e.conftest import PROJECT, patched_env, upload
from tests.e2e.dataproc_standin import DataprocStandIn
from tests.e2e.test_remote_fast import FakeClock

pytestmark = pytest.mark.e2e

REGION = "europe-west1"
IMAGE = f"{REGION}-docker.pkg.dev/{PROJECT}/dpf-test-images/dataproc-faces-batch@sha256:" + (
    "0" * 64
)
SA = f"dpf-test-batch@{PROJECT}.iam.gserviceaccount.com"


class ScriptedBatches(DataprocStandIn):
    """Batches do not run: each GET moves a batch to the next state scripted for it, if any."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.script: dict[str, list[tuple[str, str]]] = {}

    def _run_batch(self, batch_id: str) -> None:
        pass

    def get_batch(self, batch_id: str) -> tuple[int, dict]:
        with self._lock:
            steps = self.script.get(batch_id)
            if steps and batch_id in self.batches:
                self._set_batch(self.batches[batch_id], *steps.pop(0))
        return super().get_batch(batch_id)

    def path(self, batch_id: str = "") -> str:
        return f"/v1/projects/{PROJECT}/locations/{REGION}/batches" + (
            f"/{batch_id}" if batch_id else ""
        )


@pytest.fixture(scope="module")
def standin(bucket, gcs_env) -> Iterator[ScriptedBatches]:
    server = ScriptedBatches(gcs_env, staging_bucket=bucket, clusters=set())
    with server, patched_env({"DATAPROC_ENDPOINT": server.url}):
        yield server


@pytest.fixture(scope="module")
def outputs(bucket, tmp_path_factory) -> str:
    """A serverless stack's outputs: no cluster at all."""
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
                "batch_staging_bucket": f"{bucket}-temp",
                "batch_network_tag": "dpf-test-dataproc",
            }
        )
    )
    return str(path)


@pytest.fixture(autouse=True)
def fresh_outputs():
    remote.stack_outputs.cache_clear()


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(remote, "time", fake)
    return fake


def run(capsys, *argv: str) -> tuple[int, str, list[str]]:
    with pytest.raises(SystemExit) as done:
        cli.main(list(argv))
    out, err = capsys.readouterr()
    return done.value.code, out, err.splitlines()


def test_submit_creates_a_batch_with_the_stack_image_identity_and_network(
    standin, outputs, bucket, capsys
):
    code, out, err = run(capsys, "submit", "--stack-outputs", outputs, "--run-id", "one")
    batch_id = out.strip()
    assert code == 0 and batch_id.startswith("faces-one-"), err
    assert err == [
        f"dataproc-faces: submitted; results will be in gs://{bucket}/runs/{batch_id}",
        "dataproc-faces: https://console.cloud.google.com/dataproc/batches/"
        f"{REGION}/{batch_id}/monitoring?project={PROJECT}",
    ]
    sent = standin.batches[batch_id]
    assert sent["runtimeConfig"] == {
        "version": "2.3",
        "containerImage": IMAGE,
        "properties": {"spark.task.maxFailures": "4", "spark.speculation": "false"},
    }
    assert sent["environmentConfig"]["executionConfig"] == {
        "serviceAccount": SA,
        "subnetworkUri": "projects/p/regions/europe-west1/subnetworks/s",
        "stagingBucket": f"{bucket}-temp",
        "networkTags": ["dpf-test-dataproc"],
        "ttl": "86400s",  # always set: without it, runtime 2.1+ ends a batch after 4 hours
    }
    assert sent["pysparkBatch"]["mainPythonFileUri"] == f"gs://{bucket}/artifacts/main-1.py"
    assert sent["pysparkBatch"]["args"][:5] == [
        "run",
        "--input",
        f"gs://{bucket}/images/",
        "--output",
        f"gs://{bucket}/runs/{batch_id}",
    ]
    create = [r for r in standin.requests if r == ("POST", standin.path())]
    assert len(create) == 1


def test_on_the_devhost_submit_follows_the_settings_the_stack_last_deployed(
    standin, outputs, bucket, capsys, monkeypatch
):
    """The devhost's environment was written at boot, before `batch_image` was set (and an
    older runner); the artefacts object names what the last `up` deployed: that wins."""
    from infra.artifacts import CURRENT_OBJECT, render_current

    deployed = {
        key.removeprefix("batch_"): value
        for key, value in json.loads(Path(outputs).read_text()).items()
    }
    newer = IMAGE.replace("0" * 64, "1" * 64)
    settings = {
        "DATAPROC_FACES_RUNNER": "serverless",
        "DATAPROC_FACES_BATCH_IMAGE": newer,
        "DATAPROC_FACES_BATCH_RUNTIME": "2.3",
        "DATAPROC_FACES_BATCH_SA": SA,
        "DATAPROC_FACES_BATCH_SUBNETWORK": deployed["subnetwork"],
        "DATAPROC_FACES_BATCH_STAGING": f"{bucket}-temp",
        "DATAPROC_FACES_BATCH_TTL": "7200s",
    }
    uris = {
        "main": deployed["job_main_uri"],
        "package": deployed["job_package_uri"],
        "requirements": f"gs://{bucket}/artifacts/requirements-1.txt",
        "constraints": f"gs://{bucket}/artifacts/constraints-1.txt",
    }
    upload(bucket, {CURRENT_OBJECT: render_current(uris, settings).encode()})
    for key, value in {
        "DATAPROC_FACES_PROJECT": PROJECT,
        "DATAPROC_FACES_REGION": REGION,
        "DATAPROC_FACES_IMAGES": deployed["upload_images_to"],
        "DATAPROC_FACES_RESULTS": deployed["results_uri"],
        "DATAPROC_FACES_CURRENT": f"gs://{bucket}/{CURRENT_OBJECT}",
        "DATAPROC_FACES_RUNNER": "cluster",  # the boot-time runner
        "DATAPROC_FACES_CLUSTER": "dpf-test-cluster",
        "DATAPROC_FACES_BATCH_IMAGE": IMAGE,  # the boot-time (older) image
    }.items():
        monkeypatch.setenv(key, value)
    code, out, err = run(capsys, "submit", "--run-id", "devhost")
    assert code == 0, err
    sent = standin.batches[out.strip()]
    assert sent["runtimeConfig"]["containerImage"] == newer
    assert sent["environmentConfig"]["executionConfig"]["ttl"] == "7200s"
    assert sent["environmentConfig"]["executionConfig"]["serviceAccount"] == SA


def test_a_batch_id_in_use_is_refused_with_one_line(standin, outputs, capsys):
    code, out, _ = run(capsys, "submit", "--stack-outputs", outputs, "--run-id", "again")
    assert code == 0
    batch_id = out.strip()
    code, out, err = run(capsys, "submit", "--stack-outputs", outputs, "--run-id", "again")
    assert (code, out) == (2, "")
    assert err == [
        f"dataproc-faces: error: batch {batch_id} exists already (same code, image, input and"
        f" options): see `dataproc-faces status --serverless {batch_id}`, or pass --run-id to run"
        " it again"
    ]
    assert len(standin.batches) == len({*standin.batches})  # still one record per id


def test_get_and_list_through_the_real_client(standin, outputs):
    args = cli.build_parser().parse_args(
        ["submit", "--stack-outputs", outputs, "--job-id", "listed-1"]
    )
    done = remote.submit(args)
    assert done.batch and done.job_id == "listed-1"
    client = remote.batch_client(REGION)
    got = client.get_batch(name=remote.batch_name(PROJECT, REGION, "listed-1"))
    assert (got.state.name, got.name) == (
        "PENDING",
        f"projects/{PROJECT}/locations/{REGION}/batches/listed-1",
    )
    assert got.runtime_info.output_uri.endswith("/driveroutput")
    listed = client.list_batches(parent=f"projects/{PROJECT}/locations/{REGION}")
    assert "listed-1" in [b.name.rsplit("/", 1)[1] for b in listed]


def test_wait_follows_a_batch_to_succeeded(standin, outputs, capsys, clock):
    standin.script["waited-ok"] = [("RUNNING", ""), ("SUCCEEDED", "")]
    code, out, err = run(
        capsys,
        "submit",
        "--stack-outputs",
        outputs,
        "--job-id",
        "waited-ok",
        "--wait",
        "--interval",
        "5",
    )
    assert (code, out) == (0, "waited-ok\n"), err
    assert err[2:] == [
        "dataproc-faces: waited-ok RUNNING after 0 s",
        "dataproc-faces: waited-ok SUCCEEDED after 5 s",
    ]
    code, out, _ = run(capsys, "status", "waited-ok", "--stack-outputs", outputs)
    assert code == 0
    assert out.splitlines()[:2] == ["waited-ok: SUCCEEDED", "runs on: Dataproc Serverless"]


@pytest.mark.parametrize("end", ["FAILED", "CANCELLED"])
def test_a_batch_that_ends_badly_exits_1_with_its_message_and_driver_output(
    standin, outputs, bucket, capsys, clock, end
):
    batch_id = f"bad-{end.lower()}"
    run(capsys, "submit", "--stack-outputs", outputs, "--job-id", batch_id)
    output = standin.batches[batch_id]["runtimeInfo"]["outputUri"]
    upload(bucket, {output.split("/", 3)[3] + ".000000000": b"...\nTraceback: no such prefix\n"})
    message = "Job failed with message [main.py exited with status 2]."
    standin.script[batch_id] = [("RUNNING", ""), (end, message)]
    code, _, err = run(capsys, "wait", batch_id, "--stack-outputs", outputs, "--interval", "1")
    assert code == 1
    assert f"dataproc-faces: {batch_id} {end} after 1 s" in err
    assert f"dataproc-faces: {message}" in err
    tail = err.index("--- last 1024 bytes of the driver output ---")
    assert err[tail + 1 :] == ["...", "Traceback: no such prefix", ""]
    code, out, _ = run(capsys, "status", batch_id, "--stack-outputs", outputs)
    assert out.splitlines()[0] == f"{batch_id}: {end} ({message})"


def test_status_and_wait_of_a_batch_on_a_cluster_stack_need_the_flag(
    standin, outputs, tmp_path, capsys, clock
):
    data = json.loads(Path(outputs).read_text()) | {"runner": "cluster", "cluster_name": "c1"}
    both = tmp_path / "both.json"
    both.write_text(json.dumps(data))
    standin.script["on-both"] = [("SUCCEEDED", "")]
    code, _, err = run(
        capsys, "submit", "--stack-outputs", str(both), "--serverless", "--job-id", "on-both"
    )
    assert code == 0, err
    code, out, _ = run(capsys, "status", "--serverless", "on-both", "--stack-outputs", str(both))
    assert out.splitlines()[0] == "on-both: SUCCEEDED"
    polls = standin.requests.count(("GET", standin.path("on-both")))
    assert polls == 1


def test_an_ended_batch_can_be_deleted_a_running_one_cannot(standin, outputs, capsys, clock):
    from google.api_core.exceptions import BadRequest

    run(capsys, "submit", "--stack-outputs", outputs, "--job-id", "to-delete")
    client = remote.batch_client(REGION)
    name = remote.batch_name(PROJECT, REGION, "to-delete")
    with pytest.raises(BadRequest):
        client.delete_batch(name=name)
    standin.script["to-delete"] = [("FAILED", "x")]
    assert client.get_batch(name=name).state.name == "FAILED"
    client.delete_batch(name=name)
    assert "to-delete" not in standin.batches


def test_the_page_on_a_serverless_stack_submits_batches_and_follows_them(
    standin, outputs, bucket, tmp_path
):
    """The page's cloud runs go through `submit`: on a serverless stack they are batches, and
    the page shows a batch's ends in its own words (SUCCEEDED: DONE, FAILED: ERROR)."""
    from dataproc_faces.web import create_app
    from dataproc_faces.web.settings import Settings, cloud_from_args
    from tests.web.helpers import token

    upload(bucket, {"images/trip/a.png": b"\x89PNG"})
    app = create_app(Settings(data=tmp_path / "web", cloud=cloud_from_args(outputs)))
    client = app.test_client()
    started = []
    for end in ("SUCCEEDED", "FAILED"):
        r = client.post("/runs", data={"csrf_token": token(client), "batch": "trip"})
        assert r.status_code == 303, r.get_data(as_text=True)
        run_id = r.headers["Location"].rsplit("/", 1)[1]
        run = client.get(f"/api/runs/{run_id}").get_json()
        assert run["batch"] is True and run["job_id"] in standin.batches
        sent = standin.batches[run["job_id"]]
        assert sent["runtimeConfig"]["containerImage"] == IMAGE
        assert sent["pysparkBatch"]["args"][1:3] == ["--input", f"gs://{bucket}/images/trip"]
        standin.script[run["job_id"]] = [("RUNNING", ""), (end, "" if end == "SUCCEEDED" else "x")]
        started.append((run_id, run["job_id"]))
    seen = {}
    for run_id, _ in started:
        for _ in range(3):
            run = client.get(f"/api/runs/{run_id}").get_json()
        seen[run_id] = (run["state"], run["active"], run["message"])
    (ok, _), (bad, _) = started
    assert seen[ok] == ("DONE", False, "")
    assert seen[bad] == ("ERROR", False, "x")
    page = client.get(f"/runs/{ok}").get_data(as_text=True)
    assert f"Dataproc\nServerless batch {started[0][1]}." in page


def test_a_refusal_of_google_cloud_is_one_line_not_a_traceback(standin, outputs, capsys):
    standin.refusals.append((403, "PERMISSION_DENIED", "Permission 'dataproc.batches.create'"))
    code, out, err = run(capsys, "submit", "--stack-outputs", outputs, "--run-id", "denied")
    assert (code, out) == (2, "")
    assert err == [
        "dataproc-faces: error: Google Cloud refused the devhost's account a permission; a"
        " stack's new grants take up to 7 minutes to apply, so try again in a few minutes, and"
        " if it persists run `pulumi up` again (403 Forbidden: Permission"
        " 'dataproc.batches.create')"
    ]
    standin.refusals.append((503, "UNAVAILABLE", "try later"))
    code, _, err = run(capsys, "status", "anything", "--stack-outputs", outputs)
    assert code == 2 and err[-1].startswith("dataproc-faces: error: Google Cloud did not answer")
