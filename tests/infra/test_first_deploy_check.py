"""scripts/first-deploy-check.sh: shellcheck clean, and its parsing and verdicts against outputs
in tests/infra/recorded/first-deploy-check/ (pulumi and gcloud replaced by stand-ins)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from stackrun import REPO

SCRIPT = REPO / "scripts" / "first-deploy-check.sh"
RECORDED = Path(__file__).with_name("recorded") / "first-deploy-check"

OUTPUTS = {
    "project": "my-project",
    "region": "europe-west1",
    "zone": "europe-west1-b",
    "cluster_name": "dpf-dev-cluster",
    "devhost_name": "dpf-dev-devhost",
    "nat_router": "dpf-dev-router",
    "job_id": "faces-0123456789ab",
    "job_state": "DONE",
    "job_results_uri": "gs://my-project-dpf-dev-results/runs/faces-0123456789ab",
    "staging_bucket_url": "gs://my-project-dpf-dev-staging",
}

# Stand-ins: `pulumi stack output KEY` prints $OUT_<KEY>; `pulumi preview` prints $PREVIEW and
# exits $PREVIEW_RC; each gcloud command prints the recorded file its variable names (nothing
# and exit 1 when unset, as gcloud does for a missing resource). Every call is logged.
_PULUMI = """#!/bin/bash
echo "pulumi $*" >> "$CALLS"
if [ "$1 $2" = "stack output" ]; then
  for key in "$@"; do :; done
  var="OUT_$key"; [ -n "${!var+x}" ] || exit 255
  echo "${!var}"
elif [ "$1" = preview ]; then
  cat "$PREVIEW"; exit "$PREVIEW_RC"
fi
"""
_GCLOUD = """#!/bin/bash
echo "gcloud $*" >> "$CALLS"
case "$1 $2 $3" in
  "dataproc jobs describe") file="${JOB:-}" ;;
  "dataproc batches describe") file="${BATCH:-}" ;;
  "dataproc clusters describe") file="${CLUSTER:-}" ;;
  "storage cat gs://"*/summary.json) file="${SUMMARY:-}" ;;
  "storage cat gs://"*/artifacts/current.env) file="${CURRENT:-}" ;;
  "storage cat gs://"*) file="${INIT:-}" ;;
  "compute ssh "*) file="${DEVHOST_CURRENT:-}" ;;
  "compute instances get-serial-port-output") file="${SERIAL:-}" ;;
  "compute routers get-nat-mapping-info") file="${NAT:-}" ;;
esac
[ -n "${file:-}" ] || { echo "ERROR: (gcloud) NOT_FOUND" >&2; exit 1; }
cat "$file"
"""


def run_check(tmp_path: Path, **cases: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run the whole script with stand-ins; `cases` name recorded files (or override outputs)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, text in (("pulumi", _PULUMI), ("gcloud", _GCLOUD)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    files = {
        "PREVIEW": "preview-clean.txt",
        "JOB": "job-done.tsv",
        "CLUSTER": "cluster.tsv",
        "INIT": "init-done.txt",
        "SERIAL": "serial-ready.txt",
        "NAT": "nat-both.tsv",
        "SUMMARY": "summary-bf16.json",
        "CURRENT": "current.env",
        "DEVHOST_CURRENT": "current.env",
        "BATCH": "",
    }
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "CALLS": str(tmp_path / "calls"),
        "PREVIEW_RC": "0",
        **{f"OUT_{k}": v for k, v in OUTPUTS.items()},
    }
    for key, value in cases.items():
        if key in files:
            files[key] = value
        else:
            env[key] = value
    env |= {k: str(RECORDED / v) for k, v in files.items() if v}
    proc = subprocess.run(
        ["bash", str(SCRIPT), "dev"], env=env, capture_output=True, text=True, timeout=60
    )
    calls = (tmp_path / "calls").read_text().splitlines()
    return proc, calls


def lines(proc: subprocess.CompletedProcess[str]) -> dict[str, tuple[str, str]]:
    """check -> (status, detail) from the script's report lines."""
    out = {}
    for line in proc.stdout.splitlines():
        status, check, detail = line.split(maxsplit=2)
        out[check] = (status, detail)
    return out


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not on PATH")
def test_shellcheck_clean() -> None:
    proc = subprocess.run(
        ["shellcheck", "--severity=style", str(SCRIPT)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout


def test_script_is_executable_bash() -> None:
    assert SCRIPT.read_text().startswith("#!/usr/bin/env bash\n")
    assert os.access(SCRIPT, os.X_OK)


def test_a_healthy_first_deploy_passes_every_line(tmp_path: Path) -> None:
    proc, calls = run_check(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert lines(proc) == {
        "preview": ("PASS", "no changes after refresh"),
        "job": ("PASS", "ended DONE"),
        "init": (
            "PASS",
            "done: cv2 4.11.0 with /opt/conda/default/lib/python3.11/site-packages/cv2/data/"
            "haarcascade_frontalface_default.xml, Pillow 11.3.0 on Master",
        ),
        "devhost": ("PASS", "startup script reached 'devhost ready'"),
        "nat": ("PASS", "NAT ports mapped for dpf-dev-devhost dpf-dev-cluster-m"),
        "bf16": ("PASS", 'workers ran ["openvino 2026.4.1 bf16"]'),
        "code": (
            "PASS",
            "the devhost runs gs://my-project-dpf-dev-staging/artifacts/"
            "dataproc_faces-2222222222222222.zip",
        ),
    }
    assert "gcloud storage cat gs://my-project-dpf-dev-staging/artifacts/current.env" in calls
    assert (
        "gcloud storage cat gs://my-project-dpf-dev-results/runs/faces-0123456789ab/summary.json"
    ) in calls
    assert (
        "gcloud compute ssh dpf-dev-devhost --zone europe-west1-b --project my-project"
        " --tunnel-through-iap --command cat /opt/dataproc-faces/current.env"
    ) in calls
    # The commands that were asked, with the stack's names and places.
    assert "pulumi preview --stack dev --refresh --diff --expect-no-changes --non-interactive" in (
        calls
    )
    assert (
        "gcloud dataproc jobs describe faces-0123456789ab --project my-project"
        " --region europe-west1 --format value(status.state,status.details)"
    ) in calls
    assert (
        "gcloud storage cat gs://my-project-dpf-dev-staging/google-cloud-dataproc-metainfo/"
        "8c2a4a1e-6a3f-4a5e-9d39-0c7b9e2f1a11/dpf-dev-cluster-m/"
        "dataproc-initialization-script-0_output"
    ) in calls
    assert (
        "gcloud compute instances get-serial-port-output dpf-dev-devhost"
        " --zone europe-west1-b --project my-project"
    ) in calls
    nat = "gcloud compute routers get-nat-mapping-info dpf-dev-router --region europe-west1"
    assert any(c.startswith(nat) for c in calls)


def test_every_failure_is_its_own_line_and_fails_the_run(tmp_path: Path) -> None:
    proc, _ = run_check(
        tmp_path,
        PREVIEW="preview-changes.txt",
        PREVIEW_RC="255",
        JOB="job-error.tsv",
        INIT="init-error.txt",
        SERIAL="serial-failed.txt",
        NAT="nat-devhost-only.tsv",
        SUMMARY="summary-fp32.json",
        DEVHOST_CURRENT="current-old.env",
    )
    assert proc.returncode == 1
    got = lines(proc)
    assert got["bf16"] == (
        "FAIL",
        'workers ran ["openvino 2026.4.1 fp32"]: fp32 costs about 1.6x per photo'
        " (docs/scale.md): neither bf16 nor the int8 network ran",
    )
    assert got["code"] == (
        "FAIL",
        "the devhost does not run gs://my-project-dpf-dev-staging/artifacts/"
        "dataproc_faces-2222222222222222.zip yet: its sync timer runs every 2 minutes"
        " (or: sudo systemctl start dataproc-faces-sync on it)",
    )
    assert got["preview"] == (
        "FAIL",
        "gcp:storage/bucketObject:BucketObject (replace) dpf-dev-artifacts-init-action;"
        " gcp:dataproc/cluster:Cluster (update) dpf-dev-cluster-dataproc",
    )
    assert got["job"][0] == "FAIL"
    assert got["job"][1].startswith("ended ERROR: Google Cloud Dataproc Agent reports job failure.")
    assert got["init"] == (
        "FAIL",
        "ERROR: pip install opencv-python-headless==4.11.0.86 failed 5 times (is the version"
        " published and compatible with numpy 1.26.4? can the node reach the package index"
        " through Cloud NAT?)",
    )
    assert got["devhost"] == (
        "FAIL",
        'startup script failed: Script "startup-script" failed with error: exit status 1',
    )
    assert got["nat"] == ("FAIL", "no NAT mapping for dpf-dev-cluster-m")


def test_an_idle_deleted_cluster_and_a_stack_without_job(tmp_path: Path) -> None:
    proc, calls = run_check(
        tmp_path, CLUSTER="", INIT="", OUT_job_id="null", OUT_job_state="NOT_SUBMITTED (x)"
    )
    assert proc.returncode == 1
    got = lines(proc)
    assert got["job"] == (
        "SKIP",
        "no job in this stack (dataproc-faces:job_submit is false)",
    )
    assert got["init"] == (
        "FAIL",
        "cluster is missing (deleted after idle_delete_ttl? run pulumi up --refresh)",
    )
    assert got["bf16"] == ("SKIP", "no job in this stack to read the workers' runtime from")
    assert not [
        c for c in calls if "jobs describe" in c or ("storage cat" in c and "current.env" not in c)
    ]


def test_a_job_still_running_and_a_devhost_still_booting(tmp_path: Path) -> None:
    running = tmp_path / "running.tsv"
    running.write_text("RUNNING\t\n")
    booting = tmp_path / "booting.txt"
    booting.write_text(
        "\n".join(RECORDED.joinpath("serial-ready.txt").read_text().splitlines()[:3])
    )
    proc, _ = run_check(tmp_path, JOB=str(running), SERIAL=str(booting))
    got = lines(proc)
    assert got["job"] == ("FAIL", "still RUNNING: run this again when it has ended")
    assert got["devhost"] == (
        "FAIL",
        "no 'devhost ready' in the boot log yet (still booting? wait and rerun)",
    )
    assert proc.returncode == 1


def test_no_stack_outputs_is_one_line(tmp_path: Path) -> None:
    proc, _ = run_check(tmp_path)  # prime the stand-ins
    env = {"PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", "CALLS": str(tmp_path / "c")}
    proc = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: no stack outputs: run pulumi up first"
    assert proc.stdout == ""


def test_workers_without_bf16_pass_on_the_int8_network(tmp_path: Path) -> None:
    proc, _ = run_check(tmp_path, SUMMARY="summary-int8.json")
    assert lines(proc)["bf16"] == (
        "PASS",
        'workers ran ["openvino 2026.4.1 int8"]: no bf16 on these CPUs, RetinaFace\'s int8 network'
        " instead",
    )


# A stack whose runner is serverless: no cluster (cluster_name is null), the job is a batch.
SERVERLESS = {"OUT_runner": "serverless", "OUT_cluster_name": "null", "CLUSTER": "", "INIT": ""}


def _batch(tmp_path: Path, text: str) -> str:
    path = tmp_path / "batch.tsv"
    path.write_text(text)
    return str(path)


def test_a_healthy_serverless_stack_passes_without_a_cluster(tmp_path: Path) -> None:
    nat = tmp_path / "nat.tsv"
    nat.write_text("dpf-dev-devhost\t34.1.2.3:1024-2047\n")
    proc, calls = run_check(
        tmp_path, **SERVERLESS, BATCH=_batch(tmp_path, "SUCCEEDED\t\n"), NAT=str(nat)
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    got = lines(proc)
    assert got["job"] == ("PASS", "ended SUCCEEDED")
    assert got["init"] == (
        "SKIP",
        "no cluster (runner serverless): batches run in the batch image, no init action",
    )
    assert got["nat"] == ("PASS", "NAT ports mapped for dpf-dev-devhost")
    assert [s for s, _ in got.values()].count("PASS") == 6
    assert (
        "gcloud dataproc batches describe faces-0123456789ab --project my-project"
        " --region europe-west1 --format value(state,stateMessage)"
    ) in calls
    # Nothing asked about a cluster, and no "null-m".
    assert not [c for c in calls if "clusters describe" in c or "jobs describe" in c]
    assert not [c for c in calls if "null" in c]


def test_a_failed_or_running_batch_fails_its_line(tmp_path: Path) -> None:
    failed = "FAILED\tJob failed with message [main.py exited with status 2].\n"
    proc, _ = run_check(tmp_path, **SERVERLESS, BATCH=_batch(tmp_path, failed))
    assert proc.returncode == 1
    assert lines(proc)["job"] == (
        "FAIL",
        "ended FAILED: Job failed with message [main.py exited with status 2].",
    )
    proc, _ = run_check(tmp_path, **SERVERLESS, BATCH=_batch(tmp_path, "RUNNING\t\n"))
    assert lines(proc)["job"] == ("FAIL", "still RUNNING: run this again when it has ended")


def test_a_serverless_stack_before_the_image_is_pushed_says_what_to_do(tmp_path: Path) -> None:
    proc, calls = run_check(
        tmp_path,
        **SERVERLESS,
        OUT_job_id="null",
        OUT_job_state="NOT_SUBMITTED (config batch_image is empty: push the image first)",
    )
    assert lines(proc)["job"] == (
        "SKIP",
        "no batch yet: batch_image is empty; push the image (make batch-image-push), set"
        " batch_image to the reference it prints and run pulumi up again",
    )
    assert not [c for c in calls if "describe" in c]
