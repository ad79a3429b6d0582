"""The Pulumi program for a stack that runs Dataproc Serverless batches (config `runner`), under
mocks: no cluster, an image repository, a batch account with only a batch's grants, the dev run
as a batch on change, a failed batch failing the update; and the config keys' one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from stackrun import HARNESS, REPO, SERVERLESS, SERVERLESS_IMAGE, Recorded, run_harness

from dataproc_faces import jobspec
from infra.config import DEFAULTS, ConfigError, parse
from infra.identity import BATCH_SUBMITTER_PERMISSIONS, JOB_SUBMITTER_PERMISSIONS

PROJECT = "faces-test-project"
BATCH = "gcp:dataproc/batch:Batch"
REPO_TYPE = "gcp:artifactregistry/repository:Repository"
READER = "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember"
BATCH_SA = f"dpf-dev-batch@{PROJECT}.iam.gserviceaccount.com"


def _record(tmp: Path, overrides: dict[str, Any]) -> Recorded:
    proc = run_harness("dev", tmp, overrides)
    assert proc.returncode == 0, proc.stderr
    data = json.loads((tmp / "dev.json").read_text())
    return Recorded("dev", data["resources"], data["outputs"], data["warnings"])


@pytest.fixture(scope="module")
def variants(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Recorded]:
    """dev with runner both, and serverless before the image is pushed; side by side."""
    wanted = {
        "both": {"dataproc-faces:runner": "both"},
        "no-image": {"dataproc-faces:runner": "serverless"},
        # the longest ttl Dataproc accepts, and a job that hides faces, as a batch and as a job
        "ttl": {
            **SERVERLESS,
            "dataproc-faces:batch_ttl": "1209600s",
            "dataproc-faces:job_render": {"mode": "pixelate", "pixelate_blocks": 8},
        },
        "blur": {"dataproc-faces:job_render": {"mode": "blur", "mask_scale": 1.5}},
    }
    with ThreadPoolExecutor(len(wanted)) as pool:
        found = pool.map(lambda k: _record(tmp_path_factory.mktemp(k), wanted[k]), wanted)
    return dict(zip(wanted, found, strict=True))


def _grants_of(rec: Recorded, email: str) -> set[tuple[str, str, str]]:
    """(resource type, role, bucket or repository or project) of every grant to `email`."""
    found = set()
    for r in rec.resources:
        inputs = r["inputs"]
        if inputs.get("member") == f"serviceAccount:{email}" and "role" in inputs:
            where = inputs.get("bucket") or inputs.get("repository") or inputs.get("project")
            where = where or inputs.get("serviceAccountId")
            found.add((r["type"].rsplit(":", 1)[1], inputs["role"], where))
    return found


def test_a_serverless_stack_has_no_cluster_and_a_batch_account_with_only_a_batchs_grants(
    serverless: Recorded,
) -> None:
    types = {r["type"] for r in serverless.resources}
    assert "gcp:dataproc/cluster:Cluster" not in types and "gcp:dataproc/job:Job" not in types
    accounts = {
        r["inputs"]["accountId"] for r in serverless.of_type("gcp:serviceaccount/account:Account")
    }
    assert accounts == {"dpf-dev-batch", "dpf-dev-devhost"}
    bucket = f"{PROJECT}-dpf-dev"
    assert _grants_of(serverless, BATCH_SA) == {
        ("IAMMember", "roles/dataproc.worker", PROJECT),
        ("BucketIAMMember", "roles/storage.objectViewer", f"{bucket}-input"),
        ("BucketIAMMember", "roles/storage.objectAdmin", f"{bucket}-results"),
        ("BucketIAMMember", "roles/storage.objectViewer", f"{bucket}-staging"),  # reads code only
        ("BucketIAMMember", "roles/storage.objectAdmin", f"{bucket}-temp"),
        ("RepositoryIamMember", "roles/artifactregistry.reader", "dpf-dev-images"),
    }
    repo = serverless.one(REPO_TYPE)["inputs"]
    assert (repo["repositoryId"], repo["location"], repo["format"]) == (
        "dpf-dev-images",
        "europe-west1",
        "DOCKER",
    )
    assert repo["dockerConfig"] == {"immutableTags": True}
    apis = {r["inputs"]["service"] for r in serverless.of_type("gcp:projects/service:Service")}
    assert "artifactregistry.googleapis.com" in apis


def test_the_dev_run_is_a_batch_of_the_same_job_in_the_pushed_image(
    serverless: Recorded, recorded
) -> None:
    batch = serverless.one(BATCH)
    spec, out = batch["inputs"], serverless.outputs
    assert spec["batchId"] == out["job_id"]
    assert spec["location"] == "europe-west1" and spec["project"] == PROJECT
    assert spec["runtimeConfig"] == {
        "containerImage": SERVERLESS_IMAGE,
        "version": "2.3",
        "properties": jobspec.DEFAULT_PROPERTIES,
    }
    subnet = serverless.one("gcp:compute/subnetwork:Subnetwork")
    internal = serverless.named("gcp:compute/firewall:Firewall", "-allow-internal")["inputs"]
    assert subnet["inputs"]["privateIpGoogleAccess"] is True
    assert spec["environmentConfig"]["executionConfig"] == {
        "serviceAccount": BATCH_SA,
        "subnetworkUri": subnet["state"]["selfLink"],
        "stagingBucket": f"{PROJECT}-dpf-dev-temp",
        "networkTags": internal["targetTags"],  # nodes reach each other like a cluster's
        "ttl": "86400s",  # without it, runtime 2.1+ ends a batch after 4 hours
    }
    # One job spec: the cluster stack's job runs the same files and arguments (but its id).
    job = recorded("dev").one("gcp:dataproc/job:Job")["inputs"]["pysparkConfig"]
    pyspark = spec["pysparkBatch"]
    assert pyspark["mainPythonFileUri"] == job["mainPythonFileUri"] == out["job_main_uri"]
    assert pyspark["pythonFileUris"] == job["pythonFileUris"] == [out["job_package_uri"]]
    cluster_id = recorded("dev").outputs["job_id"]
    assert [a.replace(cluster_id, out["job_id"]) for a in job["args"]] == pyspark["args"]
    assert out["job_id"] == jobspec.job_id(
        main_uri=out["job_main_uri"],
        package_uri=out["job_package_uri"],
        input=out["upload_images_to"],
        image=SERVERLESS_IMAGE,
    )
    assert out["job_results_uri"] == f"{out['results_uri'].rstrip('/')}/{out['job_id']}"
    assert out["job_state"] == "SUCCEEDED"
    # The wait outlasts the batch's own ttl (a day), so Dataproc's end is what `up` reports.
    assert batch["delete_before_replace"] and batch["custom_timeouts"]["create"] == "1470m"
    for dep in ("-batch-dataproc-worker", "-batch-results-objectadmin", "-registry-batch-reader"):
        grant = next(r for r in serverless.resources if r["name"].endswith(dep))
        assert serverless.depends_on(batch, grant["urn"]), dep
    samples = [r for r in serverless.resources if "-samples-" in r["name"] and r["custom"]]
    assert samples and all(serverless.depends_on(batch, s["urn"]) for s in samples)


def test_the_devhost_submits_batches_and_may_act_as_the_batch_account_only(
    serverless: Recorded,
) -> None:
    role = serverless.one("gcp:projects/iAMCustomRole:IAMCustomRole")["inputs"]
    assert role["permissions"] == sorted(BATCH_SUBMITTER_PERMISSIONS)
    devhost = f"dpf-dev-devhost@{PROJECT}.iam.gserviceaccount.com"
    acts = [g for g in _grants_of(serverless, devhost) if g[1] == "roles/iam.serviceAccountUser"]
    assert acts == [
        (
            "IAMMember",
            "roles/iam.serviceAccountUser",
            f"projects/{PROJECT}/serviceAccounts/{BATCH_SA}",
        )
    ]
    # The runner's settings reach the devhost through the object its sync follows, not through
    # the startup script (run at boot only): a pushed image or a new runner needs no reboot.
    script = serverless.one("gcp:compute/instance:Instance")["inputs"]["metadata"]["startup-script"]
    assert "DATAPROC_FACES_RUNNER" not in script and "DATAPROC_FACES_BATCH" not in script
    assert "DATAPROC_FACES_CLUSTER" not in script
    listed = _current(serverless)
    assert listed["DATAPROC_FACES_RUNNER"] == "serverless"
    assert listed["DATAPROC_FACES_BATCH_IMAGE"] == SERVERLESS_IMAGE
    assert listed["DATAPROC_FACES_BATCH_SA"] == BATCH_SA
    assert listed["DATAPROC_FACES_BATCH_TTL"] == "86400s"
    assert listed["DATAPROC_FACES_BATCH_STAGING"] == f"{PROJECT}-dpf-dev-temp"
    assert "DATAPROC_FACES_CLUSTER" not in listed
    # The batch's driver output is under its staging bucket (temp): the devhost reads it there.
    assert ("BucketIAMMember", "roles/storage.objectViewer", f"{PROJECT}-dpf-dev-temp") in (
        _grants_of(serverless, devhost)
    )
    out = serverless.outputs
    assert (out["runner"], out["cluster_name"], out["batch_image"]) == (
        "serverless",
        None,
        SERVERLESS_IMAGE,
    )
    assert out["image_repository"] == f"europe-west1-docker.pkg.dev/{PROJECT}/dpf-dev-images"


def _current(rec: Recorded) -> dict[str, str]:
    """What the devhost's sync reads: the fixed-name artefacts object's KEY=VALUE lines."""
    from dataproc_faces.remote import parse_env_lines

    obj = rec.named("gcp:storage/bucketObject:BucketObject", "-artifacts-current")
    content = obj["inputs"]["content"]
    return parse_env_lines(content["value"] if isinstance(content, dict) else content)


def test_both_runners_keep_the_cluster_job_and_add_what_batches_need(
    variants: dict[str, Recorded], recorded
) -> None:
    both = variants["both"]
    listed = _current(both)
    assert (listed["DATAPROC_FACES_RUNNER"], listed["DATAPROC_FACES_CLUSTER"]) == (
        "cluster",
        "dpf-dev-cluster",
    )
    assert listed["DATAPROC_FACES_BATCH_SA"] == BATCH_SA
    assert "DATAPROC_FACES_BATCH_IMAGE" not in listed  # not pushed yet
    # A cluster-only stack's devhost reads no temp bucket: no batch writes there.
    cluster_only = recorded("dev")
    devhost = f"dpf-dev-devhost@{PROJECT}.iam.gserviceaccount.com"
    assert not [g for g in _grants_of(cluster_only, devhost) if g[2].endswith("-temp")]
    assert _grants_of(cluster_only, devhost)  # the grants were read
    assert _current(cluster_only)["DATAPROC_FACES_RUNNER"] == "cluster"
    both.one("gcp:dataproc/cluster:Cluster")
    both.one("gcp:dataproc/job:Job")
    both.one(REPO_TYPE)
    assert [r for r in both.resources if r["type"] == BATCH] == []
    role = both.one("gcp:projects/iAMCustomRole:IAMCustomRole")["inputs"]
    assert role["permissions"] == sorted({*JOB_SUBMITTER_PERMISSIONS, *BATCH_SUBMITTER_PERMISSIONS})
    assert both.outputs["runner"] == "cluster"  # `submit` defaults to the cluster
    assert both.outputs["batch_service_account"] == BATCH_SA
    assert both.outputs["batch_image"] is None  # not pushed yet
    # The cluster's account has none of the batch's grants and the reverse.
    cluster_sa = f"dpf-dev-cluster@{PROJECT}.iam.gserviceaccount.com"
    assert not any("artifactregistry" in g[1] for g in _grants_of(both, cluster_sa))
    assert ("BucketIAMMember", "roles/storage.objectAdmin", f"{PROJECT}-dpf-dev-staging") in (
        _grants_of(both, cluster_sa)
    )


def test_before_the_image_is_pushed_up_creates_the_repository_and_says_what_to_do(
    variants: dict[str, Recorded],
) -> None:
    first = variants["no-image"]
    first.one(REPO_TYPE)
    assert [r for r in first.resources if r["type"] == BATCH] == []
    assert first.outputs["job_state"] == (
        "NOT_SUBMITTED (config batch_image is empty: push the image first)"
    )
    assert first.warnings == [
        "config key 'dataproc-faces:job_submit' is true and 'dataproc-faces:batch_image' is"
        " empty: this up creates the image repository but submits no batch; push the image"
        f" (make batch-image-push REGISTRY=europe-west1-docker.pkg.dev/{PROJECT}/dpf-dev-images),"
        " set batch_image to the reference it prints and run `pulumi up` again"
    ]


def test_a_batch_that_ends_badly_fails_the_update_with_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(HARNESS), "dev", str(tmp_path / "dev.json"), json.dumps(SERVERLESS)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        env={**os.environ, "HARNESS_BATCH_STATE": "FAILED"},
        check=False,
    )
    assert proc.returncode == 32, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: Dataproc Serverless batch faces-")
    assert " ended in FAILED (Job failed with message [main.py exited with status 2].); " in line
    assert "`dataproc-faces wait --serverless faces-" in line and "job_run_id" in line


def test_every_state_but_failed_and_cancelled_passes() -> None:
    from infra.batch import BatchFailed, checked_state

    for state in ("SUCCEEDED", "RUNNING", "PENDING"):
        assert checked_state(state, "", "b-1", "url") == state
    assert checked_state(None, None, "b-1", "url") == "SUBMITTED"
    with pytest.raises(BatchFailed) as info:
        checked_state("CANCELLED", "  by\n a person ", "b-1", "url")
    assert str(info.value).startswith(
        "Dataproc Serverless batch b-1 ended in CANCELLED (by a person); see url or"
    )


# -- config ------------------------------------------------------------------------------------

DIGEST = "@sha256:" + "ab" * 32
GOOD_IMAGE = f"europe-west1-docker.pkg.dev/{PROJECT}/dpf-dev-images/dataproc-faces-batch{DIGEST}"


def test_runner_and_batch_keys_parse() -> None:
    cfg = parse(
        {"runner": "Serverless", "batch_image": GOOD_IMAGE, "batch_runtime_version": "2.2"},
        project=PROJECT,
        stack="dev",
    )
    assert (cfg.runner, cfg.batch.image, cfg.batch.runtime_version) == (
        "serverless",
        GOOD_IMAGE,
        "2.2",
    )
    assert (cfg.uses_cluster, cfg.uses_serverless, cfg.job_as_batch) == (False, True, True)
    both = parse({"runner": "both"}, project=PROJECT, stack="dev")
    assert (both.uses_cluster, both.uses_serverless, both.job_as_batch) == (True, True, False)
    default = parse({}, project=PROJECT, stack="dev")
    assert (default.runner, default.uses_serverless, default.batch.runtime_version) == (
        "cluster",
        False,
        "2.3",
    )


@pytest.mark.parametrize(
    ("values", "key", "problem"),
    [
        ({"runner": "dataproc"}, "runner", "'dataproc' is not valid"),
        ({"batch_runtime_version": "3.0"}, "batch_runtime_version", "'3.0' is not valid"),
        (
            {"batch_image": GOOD_IMAGE.split("@")[0] + ":v1"},
            "batch_image",
            f"'{GOOD_IMAGE.split('@')[0]}:v1' is not an image of this stack's repository pinned"
            " by digest",
        ),
        (
            {"batch_image": GOOD_IMAGE.replace(PROJECT, "other-project")},
            "batch_image",
            f"'{GOOD_IMAGE.replace(PROJECT, 'other-project')}' is not an image of this stack's"
            " repository pinned by digest",
        ),
        (
            {"batch_image": GOOD_IMAGE.replace("dpf-dev-images", "dpf-prod-images")},
            "batch_image",
            f"'{GOOD_IMAGE.replace('dpf-dev-images', 'dpf-prod-images')}' is not an image of this"
            " stack's repository pinned by digest",
        ),
    ],
)
def test_a_bad_runner_or_batch_key_is_one_line_naming_it(
    values: dict[str, str], key: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse(values, project=PROJECT, stack="dev")
    assert str(info.value) == (
        f"config key 'dataproc-faces:{key}': {problem}; accepted: {DEFAULTS[key][1]}"
    )


def test_a_serverless_stack_previews_with_zero_policy_findings(tmp_path: Path) -> None:
    """As `pulumi preview --policy-pack` sees it: what the batch's policy reads (image, subnet,
    account) is known before anything exists, and every resource passes every policy."""
    from infra.policy.validators import violations

    proc = subprocess.run(
        [sys.executable, str(HARNESS), "dev", str(tmp_path / "dev.json"), json.dumps(SERVERLESS)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        env={**os.environ, "HARNESS_PREVIEW": "1"},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    resources = json.loads((tmp_path / "dev.json").read_text())["resources"]
    custom = [r for r in resources if r["custom"]]
    assert len(custom) >= 40
    assert {r["name"]: violations(r["type"], r["inputs"]) for r in custom} == {
        r["name"]: {} for r in custom
    }
    (batch,) = [r for r in custom if r["type"] == BATCH]
    assert batch["inputs"]["runtimeConfig"]["containerImage"] == SERVERLESS_IMAGE


# -- the batch's ttl, the stack's job hiding faces, a failed batch run again -----------------


def _arg(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


def test_a_batch_carries_its_ttl_and_up_waits_longer_than_it(
    variants: dict[str, Recorded],
) -> None:
    batch = variants["ttl"].one(BATCH)
    assert batch["inputs"]["environmentConfig"]["executionConfig"]["ttl"] == "1209600s"
    assert batch["custom_timeouts"]["create"] == f"{1_209_600 // 60 + 30}m"
    assert _current(variants["ttl"])["DATAPROC_FACES_BATCH_TTL"] == "1209600s"
    assert variants["ttl"].outputs["batch_ttl"] == "1209600s"


@pytest.mark.parametrize(
    ("ttl", "accepted"),
    [("600s", "600s"), ("1209600s", "1209600s"), (" 7200s ", "7200s")],
)
def test_batch_ttl_parses_within_dataprocs_limits(ttl: str, accepted: str) -> None:
    cfg = parse({"runner": "serverless", "batch_ttl": ttl}, project=PROJECT, stack="dev")
    assert cfg.batch.ttl == accepted
    assert parse({}, project=PROJECT, stack="dev").batch.ttl == "86400s"


@pytest.mark.parametrize("ttl", ["599s", "1209601s", "4h", "-5s", "1.5s"])
def test_a_batch_ttl_out_of_dataprocs_limits_is_one_line(ttl: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse({"batch_ttl": ttl}, project=PROJECT, stack="dev")
    assert str(info.value) == (
        f"config key 'dataproc-faces:batch_ttl': '{ttl.strip()}' is not valid; accepted:"
        " how long a batch may run before Dataproc ends it, 600s (10 minutes) to 1209600s"
        " (14 days); without it a batch ends after 4 hours"
    )


def test_the_stacks_job_hides_faces_with_the_privacy_threshold(
    variants: dict[str, Recorded], recorded
) -> None:
    """job_render gives `up`'s job run's output options; a hiding mode lowers the detector's
    threshold as `run --mode blur` does (a missed face stays recognisable)."""
    job = variants["blur"].one("gcp:dataproc/job:Job")["inputs"]["pysparkConfig"]["args"]
    assert (_arg(job, "--mode"), _arg(job, "--mask-scale")) == ("blur", "1.5")
    assert _arg(job, "--score-threshold") == "0.1"  # RetinaFace's privacy threshold
    batch = variants["ttl"].one(BATCH)["inputs"]["pysparkBatch"]["args"]
    assert (_arg(batch, "--mode"), _arg(batch, "--pixelate-blocks")) == ("pixelate", "8")
    assert _arg(batch, "--score-threshold") == "0.1"
    outline = recorded("dev").one("gcp:dataproc/job:Job")["inputs"]["pysparkConfig"]["args"]
    assert "--mode" not in outline and _arg(outline, "--score-threshold") == "0.4"
    # Another output is another run: a new job id.
    assert variants["blur"].outputs["job_id"] != recorded("dev").outputs["job_id"]


@pytest.mark.parametrize(
    ("render", "problem"),
    [
        (
            {"mode": "smudge"},
            "mode: must be one of outline, blur, pixelate, solid, both, got smudge",
        ),
        ({"mask_scale": 9}, "mask_scale: must be between 0.5 and 3, got 9"),
        ({"detector": "haar"}, "unknown output option 'detector'"),
        (
            {"mode": "blur", "faceless": "link"},
            "--faceless link needs --mode outline: with faces hidden, every photo is written,"
            " so none is shared with its original metadata",
        ),
    ],
)
def test_a_bad_job_render_is_one_line_naming_it(render: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse({"job_render": json.dumps(render)}, project=PROJECT, stack="dev")
    text = str(info.value)
    assert text.startswith(f"config key 'dataproc-faces:job_render': {problem}")
    assert text.endswith(f"; accepted: {' '.join(DEFAULTS['job_render'][1].split())}")


def test_a_batch_an_earlier_up_left_failed_is_deleted_and_run_again(
    serverless: Recorded, tmp_path: Path
) -> None:
    """The provider drops a batch whose create failed; Dataproc keeps it under the same id, so
    the next `up` would be answered ALREADY_EXISTS (the harness's mocks answer so)."""
    batch_id = serverless.outputs["job_id"]
    proc = subprocess.run(
        [sys.executable, str(HARNESS), "dev", str(tmp_path / "dev.json"), json.dumps(SERVERLESS)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        env={**os.environ, "HARNESS_FAILED_BATCH": batch_id},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads((tmp_path / "dev.json").read_text())
    rerun = Recorded("dev", data["resources"], data["outputs"], data["warnings"])
    assert rerun.one(BATCH)["inputs"]["batchId"] == batch_id
    assert rerun.outputs["job_state"] == "SUCCEEDED"
    assert data["standin_batches"] == []  # the failed record is gone
    assert (
        f"batch {batch_id} of an earlier `up` ended in FAILED (Job failed with message"
        " [main.py exited with status 2].): deleted its record, so this `up` runs it again"
        " under the same id"
    ) in rerun.warnings


def test_a_batch_an_interrupted_up_left_running_stops_the_update_with_one_line(
    serverless: Recorded, tmp_path: Path
) -> None:
    batch_id = serverless.outputs["job_id"]
    proc = subprocess.run(
        [sys.executable, str(HARNESS), "dev", str(tmp_path / "dev.json"), json.dumps(SERVERLESS)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        env={
            **os.environ,
            "HARNESS_FAILED_BATCH": batch_id,
            "HARNESS_FAILED_BATCH_STATE": "RUNNING",
        },
        check=False,
    )
    assert proc.returncode == 32, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line == (
        f"error: batch {batch_id} of an earlier, interrupted `up` is still RUNNING, and Dataproc"
        f" refuses a second batch under its id: wait for it (`dataproc-faces wait --serverless"
        f" {batch_id}`) or cancel it (`gcloud dataproc batches cancel {batch_id} --region"
        " europe-west1`), then run `pulumi up --refresh` again (a batch that ended badly is then"
        " run again; or set a new dataproc-faces:job_run_id to run under a new id now)"
    )
