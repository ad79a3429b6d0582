"""Submission through the real google-cloud-dataproc client (REST) to a local Dataproc stand-in.

The stand-in runs each job with local spark-submit against the storage emulator, from the main
file and package zip uploaded to the emulator the way the Pulumi program uploads them.
"""

from __future__ import annotations

import json

import pytest

from dataproc_faces.storage import gcs
from infra.artifacts import SourceTree, build_package_zip, hashed_name
from tests.conftest import SAMPLES
from tests.e2e.conftest import names, run_cli, upload
from tests.e2e.dataproc_standin import DataprocStandIn

pytestmark = [pytest.mark.e2e, pytest.mark.spark]

CLUSTER, REGION, PROJECT = "dpf-test-cluster", "europe-west1", "test-project"


@pytest.fixture(scope="module")
def stack(bucket, gcs_env, tmp_path_factory):
    """Artefacts and images in the emulator, the stand-in running, stack outputs saved."""
    tree = SourceTree()
    package = build_package_zip(tree.package_dir)
    main = tree.main_file.read_bytes()
    package_name = hashed_name("dataproc_faces.zip", package)
    main_name = hashed_name("main.py", main)
    upload(
        bucket,
        {
            f"artifacts/{package_name}": package,
            f"artifacts/{main_name}": main,
            "images/astronaut.png": (SAMPLES / "astronaut.png").read_bytes(),
            "images/trip/broken.jpg": b"not an image",
        },
    )
    outputs = {
        "project": PROJECT,
        "region": REGION,
        "cluster_name": CLUSTER,
        "upload_images_to": f"gs://{bucket}/images/",
        "results_uri": f"gs://{bucket}/runs/",
        "job_main_uri": f"gs://{bucket}/artifacts/{main_name}",
        "job_package_uri": f"gs://{bucket}/artifacts/{package_name}",
        # A stack running both: `submit --serverless` sends the same job as a batch.
        "runner": "cluster",
        "batch_image": f"{REGION}-docker.pkg.dev/{PROJECT}/i/batch@sha256:" + "1" * 64,
        "batch_runtime_version": "2.3",
        "batch_service_account": f"dpf-test-batch@{PROJECT}.iam.gserviceaccount.com",
        "batch_subnetwork": "dpf-test-subnet",
    }
    path = tmp_path_factory.mktemp("stack") / "outputs.json"
    path.write_text(json.dumps(outputs))
    with DataprocStandIn(gcs_env, staging_bucket=bucket, clusters={CLUSTER}) as standin:
        env = {**gcs_env, "DATAPROC_ENDPOINT": standin.url}
        yield standin, env, str(path)


@pytest.fixture(scope="module")
def batch(stack):
    """The same job as a Serverless batch, submitted (not waited for) before the cluster job,
    so both run side by side: the module pays for one Spark run's start-up, not two."""
    _, env, outputs = stack
    proc = run_cli(env, "submit", "--stack-outputs", outputs, "--serverless")
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


@pytest.fixture(scope="module")
def done_job(stack, batch):
    _, env, outputs = stack
    proc = run_cli(env, "submit", "--stack-outputs", outputs)
    assert proc.returncode == 0, proc.stderr
    job_id = proc.stdout.strip()
    waited = run_cli(env, "wait", job_id, "--stack-outputs", outputs, "--interval", "0.5")
    return job_id, waited


def test_submit_prints_a_content_derived_job_id_and_wait_sees_done(done_job, stack):
    job_id, waited = done_job
    assert job_id.startswith("faces-") and len(job_id) == len("faces-") + 12
    assert waited.returncode == 0, waited.stderr
    assert f"{job_id} DONE" in waited.stderr
    standin = stack[0]
    assert ("POST", f"/v1/projects/{PROJECT}/regions/{REGION}/jobs:submit") in standin.requests
    assert ("GET", f"/v1/projects/{PROJECT}/regions/{REGION}/jobs/{job_id}") in standin.requests


def test_the_job_ran_the_uploaded_code_with_stack_defaults(done_job, stack, bucket):
    job_id, _ = done_job
    job = stack[0].jobs[job_id]["pysparkJob"]
    assert job["mainPythonFileUri"].startswith(f"gs://{bucket}/artifacts/main-")
    assert job["pythonFileUris"][0].startswith(f"gs://{bucket}/artifacts/dataproc_faces-")
    args = job["args"]
    assert args[:5] == [
        "run",
        "--input",
        f"gs://{bucket}/images/",
        "--output",
        f"gs://{bucket}/runs/{job_id}",
    ]
    assert "--detector" in args


def test_results_are_in_the_bucket_under_the_job_id(done_job, bucket):
    job_id, _ = done_job
    summary = json.loads(gcs.GcsStore().read(f"gs://{bucket}/runs/{job_id}/summary.json"))
    assert (summary["inputs"], summary["ok"], summary["errors"], summary["faces"]) == (2, 1, 1, 1)
    assert f"runs/{job_id}/images/astronaut.png" in names(bucket, f"runs/{job_id}/")


def test_the_real_client_reads_state_and_lists_jobs(done_job, stack):
    from dataproc_faces.remote import job_client

    job_id, _ = done_job
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATAPROC_ENDPOINT", stack[1]["DATAPROC_ENDPOINT"])
        client = job_client(REGION)
        job = client.get_job(project_id=PROJECT, region=REGION, job_id=job_id)
        listed = client.list_jobs(
            request={"project_id": PROJECT, "region": REGION, "cluster_name": CLUSTER}
        )
    assert job.status.state.name == "DONE"
    assert job.driver_output_resource_uri.endswith(f"/jobs/{job_id}/driveroutput")
    assert job_id in [j.reference.job_id for j in listed]


def test_status_prints_the_state(done_job, stack):
    _, env, outputs = stack
    job_id, _ = done_job
    proc = run_cli(env, "status", job_id, "--stack-outputs", outputs)
    assert proc.returncode == 0, proc.stderr
    assert f"{job_id}: DONE" in proc.stdout
    assert "console.cloud.google.com/dataproc/jobs/" in proc.stdout


def test_the_same_job_again_is_refused_unless_a_run_id_is_given(done_job, stack):
    _, env, outputs = stack
    proc = run_cli(env, "submit", "--stack-outputs", outputs)
    assert proc.returncode == 2
    assert "exists already" in proc.stderr and "--run-id" in proc.stderr


def test_fetch_copies_results_down_and_skips_what_is_there(done_job, bucket, stack, tmp_path):
    _, env, _ = stack
    job_id, _ = done_job
    uri = f"gs://{bucket}/runs/{job_id}"
    first = run_cli(env, "fetch", uri, str(tmp_path / "got"))
    assert first.returncode == 0, first.stderr
    local = sorted(
        p.relative_to(tmp_path / "got").as_posix()
        for p in (tmp_path / "got").rglob("*")
        if p.is_file()
    )
    assert local == sorted(
        n.removeprefix(f"runs/{job_id}/") for n in names(bucket, f"runs/{job_id}/")
    )
    assert "images/astronaut.png" in local and "summary.json" in local
    assert "_dataproc_faces.json" in local  # the copy is a results folder too
    modes = {(tmp_path / "got" / rel).stat().st_mode & 0o777 for rel in local}
    assert modes == {0o644}  # the umask's mode (022 here), not 0600
    again = run_cli(env, "fetch", uri, str(tmp_path / "got"))
    assert f"0 copied, {len(local)} already there" in again.stderr


def test_fetch_into_a_folder_of_other_files_is_refused_and_touches_nothing(
    done_job, bucket, stack, tmp_path
):
    _, env, _ = stack
    job_id, _ = done_job
    mine = tmp_path / "Pictures"
    (mine / "images").mkdir(parents=True)
    (mine / "images" / "astronaut.png").write_bytes(b"my own photo")
    proc = run_cli(env, "fetch", f"gs://{bucket}/runs/{job_id}", str(mine))
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"dataproc-faces: error: {mine} already holds files that this job did not write; "
        "choose a new or empty folder (results go under it, originals are never written)"
    ]
    assert [p.name for p in mine.rglob("*")] == ["images", "astronaut.png"]
    assert (mine / "images" / "astronaut.png").read_bytes() == b"my own photo"


def test_a_failing_job_is_error_with_its_driver_output_and_exit_1(stack, bucket):
    _, env, outputs = stack
    proc = run_cli(
        env,
        "submit",
        "--stack-outputs",
        outputs,
        "--input",
        f"gs://{bucket}/no-such-prefix",
        "--run-id",
        "broken",
        "--wait",
        "--interval",
        "0.5",
    )
    assert proc.returncode == 1, proc.stderr
    job_id = proc.stdout.strip()
    assert job_id.startswith("faces-broken-")
    assert f"{job_id} ERROR" in proc.stderr
    assert "--- last 1024 bytes of the driver output ---" in proc.stderr
    assert "does not exist" in proc.stderr  # the job's own message, from the driver output


def test_submitting_to_an_unknown_cluster_fails_clearly(stack):
    _, env, outputs = stack
    proc = run_cli(env, "submit", "--stack-outputs", outputs, "--cluster", "nope", "--run-id", "x")
    assert proc.returncode == 2
    # One line (after any interpreter warnings), no traceback: the cluster is gone, and how to
    # bring it back (tests/e2e/test_cluster_gone.py checks the page and the exact sentence).
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("dataproc-faces: error: cluster nope no longer exists in project ")
    assert "run `pulumi up --refresh`" in last and "Traceback" not in proc.stderr


def test_the_same_job_as_a_serverless_batch_runs_to_succeeded(stack, bucket, batch):
    """One job spec, two runners: the batch runs the uploaded code over the same images."""
    standin, env, outputs = stack
    batch_id = batch
    assert batch_id.startswith("faces-") and batch_id in standin.batches
    proc = run_cli(env, "wait", "--serverless", batch_id, "--stack-outputs", outputs)
    assert proc.returncode == 0, proc.stderr
    assert f"{batch_id} SUCCEEDED" in proc.stderr
    assert standin.batches[batch_id]["state"] == "SUCCEEDED"
    summary = json.loads(gcs.GcsStore().read(f"gs://{bucket}/runs/{batch_id}/summary.json"))
    assert (summary["inputs"], summary["ok"], summary["errors"], summary["faces"]) == (2, 1, 1, 1)
    assert standin.batches[batch_id]["pysparkBatch"]["args"][4] == f"gs://{bucket}/runs/{batch_id}"
