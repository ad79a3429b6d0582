"""The job `pulumi up` submits (infra/job.py), under mocks: declared right, re-run on change."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from stackrun import HARNESS, REPO, Recorded

JOB = "gcp:dataproc/job:Job"
CLUSTER = "gcp:dataproc/cluster:Cluster"
OBJECT = "gcp:storage/bucketObject:BucketObject"
BUCKET = "gcp:storage/bucket:Bucket"
SUBMIT = {"dataproc-faces:job_submit": "true"}
NO_SEED = {"dataproc-faces:seed_samples": "false"}
SAMPLES = sorted(p.name for p in (REPO / "samples").iterdir() if p.suffix == ".png")

# Runs tests/infra/harness.py with the package zip's bytes fixed, and optional twists:
# `preview` makes the mocks a preview (pulumi.runtime.is_dry_run() is true), `code_change`
# gives other package bytes, as editing the job's code would (so its hashed name, and URI, change),
# `no_samples` points the program at a samples folder that does not exist, `state=S` makes
# the provider report the job's final state as S (what its wait stores after the job ended), and
# `sa_generation=N` gives the service accounts the unique ids of their N-th creation, and
# `init_folder` makes the cluster's init action URI disagree with the uploaded object, and
# `cluster_gone` makes the Dataproc stand-in answer NOT_FOUND for the cluster (idle-deleted).
_RUNNER = """
import sys
sys.path.insert(0, {harness_dir!r})
import harness
from pulumi.runtime import mocks
twists = sys.argv.pop()
if "preview" in twists:
    _set = mocks.set_mocks
    def _preview(*args, **kwargs):
        kwargs["preview"] = True
        _set(*args, **kwargs)
    mocks.set_mocks = _preview
sys.path.insert(0, {repo!r})
import infra.artifacts as artifacts
# The same package bytes in every run, so comparisons do not see unrelated source edits.
package = b"changed package" if "code_change" in twists else b"frozen package"
artifacts.build_package_zip = lambda d: package
if "no_samples" in twists:
    artifacts.SourceTree.samples_dir = property(lambda self: self.root / "no-such-folder")
if "cluster_gone" in twists:
    import os
    os.environ[harness.CLUSTER_GONE_ENV] = "1"
if "init_folder" in twists:
    import infra.platform
    infra.platform.INIT_ACTION_FOLDER = "elsewhere/"
if "sa_generation=" in twists:
    generation = int(twists.split("sa_generation=")[1].split(",")[0])
    _unique_id = harness.unique_id
    harness.unique_id = lambda email, generation_=generation: _unique_id(email, generation_)
if "state=" in twists:
    final = twists.split("state=")[1].split(",")[0]
    _computed = harness._computed
    def _with_status(typ, name, inputs):
        rid, state = _computed(typ, name, inputs)
        if typ == "gcp:dataproc/job:Job":
            state["statuses"] = [{{"state": final, "details": "Job failed with message [x]"}}]
        return rid, state
    harness._computed = _with_status
sys.exit(harness.main(sys.argv))
"""


def run_program(
    tmp_path: Path, overrides: dict[str, Any], twists: str = "", stack: str = "dev"
) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path / f"{stack}-{abs(hash((json.dumps(overrides), twists)))}.json"
    code = _RUNNER.format(harness_dir=str(HARNESS.parent), repo=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-c", code, stack, str(out), json.dumps(overrides), twists or "-"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    return proc, out


def program(
    tmp_path: Path, overrides: dict[str, Any], twists: str = "", stack: str = "dev"
) -> Recorded:
    proc, out = run_program(tmp_path, overrides, twists, stack)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    return Recorded(stack, data["resources"], data["outputs"], data["warnings"])


def job_of(rec: Recorded) -> dict[str, Any]:
    return rec.one(JOB)


def seeded(rec: Recorded) -> list[dict[str, Any]]:
    """The sample-image objects: those in the input bucket (artefacts go to staging)."""
    input_bucket = rec.named(BUCKET, "-storage-input")["inputs"]["name"]
    return [o for o in rec.of_type(OBJECT) if o["inputs"]["bucket"] == input_bucket]


def artefacts(rec: Recorded) -> list[dict[str, Any]]:
    """The content-hashed artefacts (not the fixed-name object listing them, for the devhost)."""
    staging = rec.named(BUCKET, "-storage-staging")["inputs"]["name"]
    return [
        o
        for o in rec.of_type(OBJECT)
        if o["inputs"]["bucket"] == staging and o["inputs"]["name"] != "artifacts/current.env"
    ]


def test_dev_submits_and_waits_prod_submits_nothing(recorded) -> None:
    dev, prod = recorded("dev"), recorded("prod")
    job = job_of(dev)
    assert job["inputs"]["waitForCompletion"] is True
    assert job["custom_timeouts"]["create"] == "12h"
    assert dev.outputs["job_id"] == job["inputs"]["reference"]["jobId"]
    assert not [r for r in prod.resources if r["type"] == JOB]
    assert prod.outputs["job_state"].startswith("NOT_SUBMITTED")
    assert prod.outputs["job_id"] is None
    assert dev.warnings == [] and prod.warnings == []


def test_dev_seeds_one_object_per_sample_and_the_job_reads_them(recorded) -> None:
    assert len(SAMPLES) >= 4 and "SOURCES.md" not in SAMPLES
    dev = recorded("dev")
    objects = seeded(dev)
    assert len(objects) == len(SAMPLES) > 0
    prefix = dev.outputs["upload_images_to"]  # gs://<input bucket>/images/
    bucket = dev.named(BUCKET, "-storage-input")["inputs"]["name"]
    assert prefix == f"gs://{bucket}/images/"
    assert sorted(o["inputs"]["name"] for o in objects) == [f"images/samples/{n}" for n in SAMPLES]
    for o in objects:
        assert o["inputs"]["contentType"] == "image/png"
        assert o["inputs"]["source"]["__file_asset"].endswith(f"samples/{o['inputs']['name'][15:]}")
        parent = dev.by_urn[o["parent"]]
        assert parent["type"] == "dataproc-faces:infra:Samples"
    assert dev.outputs["samples_uri"] == f"{prefix}samples/"
    # The job reads the whole upload prefix, which holds the samples.
    assert job_of(dev)["inputs"]["pysparkConfig"]["args"][1:3] == ["--input", prefix]


def test_job_depends_on_cluster_artefacts_and_seeded_samples(recorded) -> None:
    dev = recorded("dev")
    job = job_of(dev)
    direct = set(job["dependencies"])
    needed = [dev.one(CLUSTER), *artefacts(dev), *seeded(dev)]
    assert len(needed) >= 1 + 4 + len(SAMPLES)
    for r in needed:
        assert r["urn"] in direct, f"the job does not wait for {r['name']}"


def test_prod_seeds_nothing(recorded) -> None:
    prod = recorded("prod")
    assert len(artefacts(prod)) >= 4  # objects were recorded, just none in the input bucket
    assert seeded(prod) == []
    assert prod.outputs["samples_uri"] is None
    assert not [r for r in prod.resources if r["type"].endswith(":Samples")]


@pytest.fixture(scope="module")
def submitted(tmp_path_factory) -> Recorded:
    """The dev stack as configured (it submits), with the package bytes frozen."""
    return program(tmp_path_factory.mktemp("job"), {})


def test_job_runs_main_from_the_uploaded_artifacts_on_the_cluster(submitted: Recorded) -> None:
    job, out = job_of(submitted), submitted.outputs
    inputs = job["inputs"]
    cluster = submitted.one(CLUSTER)
    assert inputs["placement"]["clusterName"] == cluster["inputs"]["name"]
    assert submitted.depends_on(job, cluster["urn"])
    assert inputs["region"] == "europe-west1" and inputs["project"] == "faces-test-project"
    spark = inputs["pysparkConfig"]
    assert spark["mainPythonFileUri"] == out["job_main_uri"]
    assert spark["pythonFileUris"] == [out["job_package_uri"]]
    assert out["job_main_uri"].split("/")[-1].startswith("main-")  # content-hashed name
    job_id = inputs["reference"]["jobId"]
    assert job_id == out["job_id"] and job_id.startswith("faces-")
    assert spark["args"][:5] == [
        "run",
        "--input",
        out["upload_images_to"],
        "--output",
        out["results_uri"].rstrip("/") + "/" + job_id,
    ]
    assert "--detector" in spark["args"]
    assert inputs["forceDelete"] is True
    assert inputs["waitForCompletion"] is True


def test_outputs_name_the_job_its_results_and_console(submitted: Recorded) -> None:
    out = submitted.outputs
    assert out["job_results_uri"] == out["results_uri"].rstrip("/") + "/" + out["job_id"]
    assert out["job_console_url"] == (
        f"https://console.cloud.google.com/dataproc/jobs/{out['job_id']}"
        "?region=europe-west1&project=faces-test-project"
    )
    assert out["job_state"] == "SUBMITTED"  # mocks report no status yet


def test_job_wait_false_returns_once_submitted(tmp_path: Path) -> None:
    rec = program(tmp_path, {"dataproc-faces:job_wait": "false"})
    job = job_of(rec)
    assert job["inputs"]["waitForCompletion"] is False
    assert job["custom_timeouts"]["create"] == "20m"


@pytest.mark.parametrize(
    ("stack", "overrides", "samples", "job", "warns"),
    [
        # dev without seeding: the job still runs, on whatever was uploaded: a warning.
        ("dev", NO_SEED, 0, True, True),
        # dev without the job: the samples are uploaded all the same.
        ("dev", {"dataproc-faces:job_submit": "false"}, len(SAMPLES), False, False),
        # dev, the job reads another prefix: no warning, the samples are uploaded anyway.
        (
            "dev",
            {**NO_SEED, "dataproc-faces:job_input_prefix": "gs://other-bucket/x"},
            0,
            True,
            False,
        ),
        # prod with both keys flipped behaves like dev.
        ("prod", {**SUBMIT, "dataproc-faces:seed_samples": "true"}, len(SAMPLES), True, False),
        # prod with job_submit alone: a job on the (possibly empty) upload prefix, a warning.
        ("prod", SUBMIT, 0, True, True),
    ],
    ids=["dev-no-seed", "dev-no-job", "dev-own-prefix", "prod-both", "prod-submit-only"],
)
def test_flipping_seed_samples_and_job_submit(
    tmp_path: Path,
    stack: str,
    overrides: dict[str, Any],
    samples: int,
    job: bool,
    warns: bool,
) -> None:
    rec = program(tmp_path, overrides, stack=stack)
    objects = seeded(rec)
    assert len(objects) == samples
    assert len(artefacts(rec)) >= 4  # the object list was recorded, whatever the seeding
    jobs = [r for r in rec.resources if r["type"] == JOB]
    assert len(jobs) == (1 if job else 0)
    if jobs:
        assert {o["urn"] for o in objects} <= set(jobs[0]["dependencies"])
        assert rec.one(CLUSTER)["urn"] in jobs[0]["dependencies"]
        assert jobs[0]["inputs"]["waitForCompletion"] is (stack == "dev")
    if warns:
        (warning,) = rec.warnings
        assert "'dataproc-faces:job_submit' is true" in warning
        assert "'dataproc-faces:seed_samples' is false" in warning and "\n" not in warning
    else:
        assert rec.warnings == []


def test_seeding_without_sample_images_is_one_line(tmp_path: Path) -> None:
    proc, _ = run_program(tmp_path, {}, "no_samples")
    assert proc.returncode == 32, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert lines[0].startswith("error: config key 'dataproc-faces:seed_samples' is true but")
    assert "holds no images" in lines[0] and "accepted:" in lines[0]


@pytest.mark.parametrize(
    ("change", "twists"),
    [
        ({"dataproc-faces:job_run_id": "again"}, ""),
        ({"dataproc-faces:job_detect": {"detector": "haar"}}, ""),  # retinaface is the default
        ({"dataproc-faces:job_detect": {"min_neighbors": 7}}, ""),
        ({"dataproc-faces:job_input_prefix": "gs://other-bucket/photos"}, ""),
        ({}, "code_change"),
    ],
)
def test_job_id_changes_with_what_matters(
    submitted: Recorded, tmp_path: Path, change: dict[str, Any], twists: str
) -> None:
    rec = program(tmp_path, {**SUBMIT, **change}, twists)
    before, after = job_of(submitted)["inputs"], job_of(rec)["inputs"]
    assert after["reference"]["jobId"] != before["reference"]["jobId"]
    if "dataproc-faces:job_input_prefix" in change:
        assert after["pysparkConfig"]["args"][2] == "gs://other-bucket/photos"
    if twists == "code_change":
        assert after["pysparkConfig"]["pythonFileUris"] != before["pysparkConfig"]["pythonFileUris"]


def test_job_id_stays_when_unrelated_config_changes(submitted: Recorded, tmp_path: Path) -> None:
    rec = program(
        tmp_path,
        {
            **SUBMIT,
            "dataproc-faces:labels": {"cost-center": "elsewhere"},
            "dataproc-faces:temp_retention_days": "9",
        },
    )
    before, after = job_of(submitted)["inputs"], job_of(rec)["inputs"]
    assert after == before  # no diff: `pulumi up` would leave the job alone


def test_preview_declares_the_same_job_and_runs_nothing(
    submitted: Recorded, tmp_path: Path
) -> None:
    # The provider never creates resources in preview; the program itself has no apply-time
    # side effects (the harness fails on any provider function call), so preview only plans.
    rec = program(tmp_path, SUBMIT, "preview")
    assert job_of(rec)["inputs"]["reference"] == job_of(submitted)["inputs"]["reference"]


def test_bad_job_config_is_one_line(tmp_path: Path) -> None:
    for key, value, hint in [
        ("job_run_id", "Not Valid", "job_run_id"),
        ("job_detect", {"detector": "yolo"}, "job_detect"),
        ("job_input_prefix", "s3://x/y", "job_input_prefix"),
        ("job_submit", "maybe", "job_submit"),
        ("job_wait", "1", "job_wait"),
        ("seed_samples", "yes", "seed_samples"),
    ]:
        proc = subprocess.run(
            [
                sys.executable,
                str(HARNESS),
                "dev",
                str(tmp_path / "x.json"),
                json.dumps({**SUBMIT, f"dataproc-faces:{key}": value}),
            ],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 32, proc.stderr
        assert f"dataproc-faces:{hint}" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("state", ["ERROR", "CANCELLED", "ATTEMPT_FAILURE"])
def test_a_job_that_ended_badly_fails_the_update(tmp_path: Path, state: str) -> None:
    # The provider's wait returns success for these states; the program must not.
    proc, out = run_program(tmp_path, {}, f"state={state}")
    assert proc.returncode == 32, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert re.fullmatch(
        rf"error: Dataproc job faces-[0-9a-f]{{12}} ended in {state} \(Job failed with message"
        r" \[x\]\); see https://console\.cloud\.google\.com/dataproc/jobs/\S+ or"
        r" `dataproc-faces wait faces-[0-9a-f]{12}`; to run it again, set a new"
        r" dataproc-faces:job_run_id \(or `pulumi up --replace` the job\) and run `pulumi up`",
        lines[0],
    )
    assert not out.exists()


@pytest.mark.parametrize("state", ["DONE", "RUNNING"])
def test_a_job_that_ran_or_runs_is_reported(tmp_path: Path, state: str) -> None:
    rec = program(tmp_path, {}, f"state={state}")
    assert rec.outputs["job_state"] == state
    assert job_of(rec)["inputs"]["waitForCompletion"] is True


def test_a_replaced_job_is_deleted_first_so_its_id_can_be_reused(submitted: Recorded) -> None:
    job = job_of(submitted)
    assert job["delete_before_replace"] is True
    assert job["inputs"]["forceDelete"] is True


def test_up_with_a_cluster_that_deleted_itself_fails_with_one_sentence(tmp_path: Path) -> None:
    """dev's cluster idle-deleted: still in the state, NOT_FOUND from Dataproc (the stand-in)."""
    from dataproc_faces.remote import cluster_gone_sentence

    proc, out = run_program(tmp_path, {}, "cluster_gone")
    assert proc.returncode == 32, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    sentence = cluster_gone_sentence("dpf-dev-cluster", "faces-test-project", "europe-west1")
    assert line == f"error: {sentence}"
    assert "`pulumi up --refresh`" in line
    assert not out.exists()
    # A preview does not ask (a new stack's cluster does not exist before its first `up`), nor
    # does a stack without a job; with the cluster there, `up` goes on (the `recorded` runs).
    for twists, stack in (("cluster_gone,preview", "dev"), ("cluster_gone", "prod")):
        proc, out = run_program(tmp_path, {}, twists, stack=stack)
        assert proc.returncode == 0, proc.stderr
        assert out.exists()
