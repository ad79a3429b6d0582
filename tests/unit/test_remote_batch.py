"""Serverless batches without servers: one job spec, two runners; the Batch `submit` builds."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from google.cloud import dataproc_v1

from dataproc_faces import jobspec, remote
from dataproc_faces.cli import UsageError, build_parser
from dataproc_faces.detectors.base import DetectOptions

IMAGE = "europe-west1-docker.pkg.dev/p/dpf-dev-images/dataproc-faces-batch@sha256:" + "a" * 64
STACK = {
    "project": "p",
    "region": "europe-west1",
    "cluster_name": "c1",
    "upload_images_to": "gs://b/images/",
    "results_uri": "gs://b/runs/",
    "job_main_uri": "gs://b/artifacts/main-abc.py",
    "job_package_uri": "gs://b/artifacts/dataproc_faces-abc.zip",
    "runner": "cluster",
    "batch_image": IMAGE,
    "batch_runtime_version": "2.3",
    "batch_service_account": "dpf-dev-batch@p.iam.gserviceaccount.com",
    "batch_subnetwork": "https://www.googleapis.com/compute/v1/projects/p/regions/europe-west1/subnetworks/dpf-dev-subnet",
    "batch_staging_bucket": "dpf-dev-temp",
    "batch_network_tag": "dpf-dev-dataproc",
}


@pytest.fixture(autouse=True)
def fresh_outputs():
    remote.stack_outputs.cache_clear()


def args_for(tmp_path: Path, *extra: str, **stack: str | None) -> argparse.Namespace:
    path = tmp_path / f"out-{len(list(tmp_path.iterdir()))}.json"  # stack_outputs caches by path
    values = {k: v for k, v in {**STACK, **stack}.items() if v is not None}
    path.write_text(json.dumps(values))
    return build_parser().parse_args(["submit", "--stack-outputs", str(path), *extra])


def test_a_batch_runs_the_same_files_arguments_and_properties_as_a_cluster_job(tmp_path: Path):
    job, job_output = remote.build_job(args_for(tmp_path, "--run-id", "same"))
    batch, output = remote.build_job(args_for(tmp_path, "--run-id", "same", "--serverless"))
    batch_id = batch.pop("batch_id")
    expected_id = jobspec.job_id(
        main_uri=STACK["job_main_uri"],
        package_uri=STACK["job_package_uri"],
        input="gs://b/images/",
        detect=DetectOptions(),
        run_id="same",
        image=IMAGE,
    )
    assert batch_id == expected_id and batch_id != job["reference"]["job_id"]
    assert output == f"gs://b/runs/{batch_id}"
    assert batch == {
        "pyspark_batch": {
            "main_python_file_uri": STACK["job_main_uri"],
            "python_file_uris": [STACK["job_package_uri"]],
            "args": jobspec.job_args(output=output, input="gs://b/images/"),
        },
        "runtime_config": {
            "version": "2.3",
            "container_image": IMAGE,
            "properties": jobspec.DEFAULT_PROPERTIES,
        },
        "environment_config": {
            "execution_config": {
                "service_account": STACK["batch_service_account"],
                "subnetwork_uri": STACK["batch_subnetwork"],
                "staging_bucket": "dpf-dev-temp",
                "network_tags": ["dpf-dev-dataproc"],
                "ttl": "86400s",  # always: a 2.1+ runtime ends a batch without one at 4 hours
            }
        },
        "labels": {"app": "dataproc-faces"},
    }
    # One spec: only the output folder (named after each id) differs between the runners.
    spark = job["pyspark_job"]
    assert spark["main_python_file_uri"] == batch["pyspark_batch"]["main_python_file_uri"]
    assert spark["python_file_uris"] == batch["pyspark_batch"]["python_file_uris"]
    assert spark["properties"] == batch["runtime_config"]["properties"]
    assert [a.replace(job_output, output) for a in spark["args"]] == batch["pyspark_batch"]["args"]
    # The client library takes the dict as it is.
    assert dataproc_v1.Batch(batch).runtime_config.container_image == IMAGE


def test_the_batch_id_follows_the_image_and_cluster_job_ids_stay_as_they_were():
    common = {"main_uri": "gs://m", "package_uri": "gs://p", "input": "gs://i/"}
    plain = jobspec.job_id(**common)
    assert jobspec.job_id(**common, image="") == plain
    one, two = jobspec.job_id(**common, image=IMAGE), jobspec.job_id(**common, image=IMAGE + "b")
    assert len({plain, one, two}) == 3
    assert jobspec.check_batch_id(one) == one


def test_a_serverless_stack_submits_batches_without_the_flag(tmp_path: Path):
    message, _ = remote.build_job(args_for(tmp_path, runner="serverless", cluster_name=None))
    assert "pyspark_batch" in message and "placement" not in message
    assert remote.serverless(args_for(tmp_path, runner="cluster")) is False
    assert remote.serverless(args_for(tmp_path, "--serverless", runner="cluster")) is True


def test_a_batch_without_an_image_names_where_it_comes_from(tmp_path: Path):
    with pytest.raises(UsageError) as err:
        remote.build_job(args_for(tmp_path, "--serverless", batch_image=None))
    assert str(err.value) == (
        "--image is required (or --stack-outputs with 'batch_image',"
        " or $DATAPROC_FACES_BATCH_IMAGE); a stack gets its image after `make batch-image-push`"
        " and `pulumi config set dataproc-faces:batch_image`, then `pulumi up` (the devhost"
        " follows within 2 minutes)"
    )
    with pytest.raises(UsageError) as err:
        remote.build_job(args_for(tmp_path, "--serverless", batch_service_account=None))
    assert str(err.value) == (
        "a batch needs 'batch_service_account' from --stack-outputs (or"
        " $DATAPROC_FACES_BATCH_SA): the stack's runner must be serverless or both"
    )
    message, _ = remote.build_job(
        args_for(tmp_path, "--serverless", "--image", "r-docker.pkg.dev/p/r/i@sha256:1")
    )
    assert message["runtime_config"]["container_image"] == "r-docker.pkg.dev/p/r/i@sha256:1"


@pytest.mark.parametrize("bad", ["Upper-case-id", "under_score", "abc", "x" * 64, "-dash-first"])
def test_an_explicit_id_a_batch_cannot_take_is_a_usage_error(tmp_path: Path, bad: str):
    with pytest.raises(UsageError, match=r"batch id .*: use 4-63 of a-z, 0-9 and '-'"):
        remote.build_job(args_for(tmp_path, "--serverless", f"--job-id={bad}"))
    message, _ = remote.build_job(args_for(tmp_path, f"--job-id={bad}"))  # fine for a job
    assert message["reference"]["job_id"] == bad


def test_optional_execution_settings_are_left_out_when_the_stack_has_none(tmp_path: Path):
    message, _ = remote.build_job(
        args_for(tmp_path, "--serverless", batch_staging_bucket=None, batch_network_tag=None)
    )
    assert message["environment_config"]["execution_config"] == {
        "service_account": STACK["batch_service_account"],
        "subnetwork_uri": STACK["batch_subnetwork"],
        "ttl": jobspec.DEFAULT_BATCH_TTL,  # not optional: the stack's, else a day
    }


def test_the_stacks_batch_ttl_is_the_batchs(tmp_path: Path):
    message, _ = remote.build_job(args_for(tmp_path, "--serverless", batch_ttl="1209600s"))
    assert message["environment_config"]["execution_config"]["ttl"] == "1209600s"
    with pytest.raises(UsageError, match=r"^batch ttl '4h': use 600s \(10 minutes\) to 1209600s"):
        remote.build_job(args_for(tmp_path, "--serverless", batch_ttl="4h"))


def test_the_console_link_of_a_batch():
    assert remote.console_url("p", "r", "faces-1", batch=True) == (
        "https://console.cloud.google.com/dataproc/batches/r/faces-1/monitoring?project=p"
    )
    assert remote.console_url("p", "r", "faces-1") == jobspec.console_url("p", "r", "faces-1")
