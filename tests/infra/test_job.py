"""The job `pulumi up` submits (infra/job.py), under mocks: declared right, re-run on change."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from stackrun import HARNESS, REPO, Recorded

JOB = "gcp:dataproc/job:Job"
CLUSTER = "gcp:dataproc/cluster:Cluster"
SUBMIT = {"dataproc-faces:job_submit": "true"}

# Runs tests/infra/harness.py with the package zip's bytes fixed, and two optional twists:
# `preview` makes the mocks a preview (pulumi.runtime.is_dry_run() is true), `code_change`
# gives other package bytes, as editing the job's code would (so its hashed name, and URI, change).
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
sys.exit(harness.main(sys.argv))
"""


def program(
    tmp_path: Path, overrides: dict[str, Any], twists: str = "", stack: str = "dev"
) -> Recorded:
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
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    return Recorded(stack, data["resources"], data["outputs"])


def job_of(rec: Recorded) -> dict[str, Any]:
    return rec.one(JOB)


def test_no_job_unless_job_submit_is_set(recorded) -> None:
    for stack in ("dev", "prod"):
        rec = recorded(stack)
        assert not [r for r in rec.resources if r["type"] == JOB]
        assert rec.outputs["job_state"].startswith("NOT_SUBMITTED")
        assert rec.outputs["job_id"] is None


@pytest.fixture(scope="module")
def submitted(tmp_path_factory) -> Recorded:
    return program(tmp_path_factory.mktemp("job"), SUBMIT)


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
    assert inputs["waitForCompletion"] is False


def test_outputs_name_the_job_its_results_and_console(submitted: Recorded) -> None:
    out = submitted.outputs
    assert out["job_results_uri"] == out["results_uri"].rstrip("/") + "/" + out["job_id"]
    assert out["job_console_url"] == (
        f"https://console.cloud.google.com/dataproc/jobs/{out['job_id']}"
        "?region=europe-west1&project=faces-test-project"
    )
    assert out["job_state"] == "SUBMITTED"  # mocks report no status yet


def test_job_wait_makes_up_wait_for_the_end(tmp_path: Path) -> None:
    rec = program(tmp_path, {**SUBMIT, "dataproc-faces:job_wait": "true"})
    job = job_of(rec)
    assert job["inputs"]["waitForCompletion"] is True
    assert job["custom_timeouts"]["create"] == "12h"


@pytest.mark.parametrize(
    ("change", "twists"),
    [
        ({"dataproc-faces:job_run_id": "again"}, ""),
        ({"dataproc-faces:job_detect": {"detector": "blazeface"}}, ""),
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
            "dataproc-faces:job_wait": "false",
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
