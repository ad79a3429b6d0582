"""Config validation: the real stack files parse; every bad value fails with one readable line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pytest
from stackrun import REPO, STACKS, run_harness

from infra.config import (
    DEFAULTS,
    ClusterConfig,
    ConfigError,
    JobConfig,
    opencv_pin,
    parse,
    requirement_pin,
)

PROJECT = "faces-test-project"


def _stack_values(stack: str) -> dict[str, Any]:
    """Config of the real stack file, as strings keyed without the namespace."""
    import yaml

    raw = yaml.safe_load((REPO / f"Pulumi.{stack}.yaml").read_text())["config"]
    out: dict[str, Any] = {}
    for key, value in raw.items():
        namespace, _, name = key.partition(":")
        assert namespace == "dataproc-faces", key
        if isinstance(value, bool):
            value = str(value).lower()
        out[name] = json.dumps(value) if isinstance(value, dict) else str(value)
    return out


def test_dev_and_prod_files_parse_to_different_shapes() -> None:
    dev = parse(_stack_values("dev"), project=PROJECT, stack="dev")
    prod = parse(_stack_values("prod"), project=PROJECT, stack="prod")
    assert dev.cluster.image_version == prod.cluster.image_version == "2.3-debian12"
    assert dev.cluster.single_node and dev.cluster.idle_delete_ttl == "3600s"
    assert dev.force_destroy_buckets and not dev.retain_results_on_destroy
    assert prod.cluster.worker_count >= 2 and prod.cluster.autoscaling
    assert prod.cluster.secondary_worker_preemptibility == "SPOT"
    assert not prod.force_destroy_buckets and prod.retain_results_on_destroy
    assert prod.results_versioning and prod.cluster.idle_delete_ttl is None
    assert dev.opencv_version == prod.opencv_version == "4.11.0.86"
    assert dev.pillow_version == prod.pillow_version == "11.3.0"
    assert dev.openvino_version == prod.openvino_version == "2026.4.1"
    assert dev.pillow_heif_version == prod.pillow_heif_version == "1.8.1"
    assert dev.labels["env"] == "dev" and prod.labels["cost-center"] == "faces-prod"
    # dev: the first `up` uploads the samples and runs the job on them; prod: neither.
    assert dev.seed_samples and dev.job.submit and dev.job.wait
    assert not prod.seed_samples and not prod.job.submit and not prod.job.wait
    assert dev.warnings == prod.warnings == []


def test_seed_and_job_keys_are_explicit_in_both_stack_files() -> None:
    keys = ("seed_samples", "job_submit", "job_wait")
    expected = {"dev": "true", "prod": "false"}
    for stack in STACKS:
        values = _stack_values(stack)
        assert {k: values.get(k) for k in keys} == dict.fromkeys(keys, expected[stack]), stack


@pytest.mark.parametrize(
    ("values", "warns"),
    [
        ({"job_submit": "true"}, True),  # a job on the upload prefix, nothing uploads to it
        ({"job_submit": "true", "seed_samples": "true"}, False),
        ({"job_submit": "true", "job_input_prefix": "gs://my-photos/2026"}, False),
        ({"seed_samples": "true"}, False),
        ({}, False),
    ],
)
def test_warning_when_the_job_may_read_an_empty_prefix(values: dict[str, str], warns: bool) -> None:
    cfg = parse(values, project=PROJECT, stack="dev")
    assert cfg.job.submit == (values.get("job_submit") == "true")
    if warns:
        (message,) = cfg.warnings
        assert message.startswith("config key 'dataproc-faces:job_submit' is true")
        assert "'dataproc-faces:seed_samples' is false" in message and "\n" not in message
        assert "upload images first" in message
    else:
        assert cfg.warnings == []


def test_every_stack_key_is_known_and_every_default_valid() -> None:
    for stack in STACKS:
        assert set(_stack_values(stack)) <= set(DEFAULTS)
    cfg = parse({}, project=PROJECT, stack="dev")  # all defaults
    assert cfg.cluster.worker_count == 2 and cfg.zone == "europe-west1-b"


BAD: list[tuple[str, Any, str]] = [
    ("image_version", "3.0-debian12", "pyspark 3.5"),
    ("image_version", "2.2-debian12", "2.3"),
    ("worker_count", "1", "0 (single-node cluster)"),
    ("worker_count", "two", "not an integer"),
    ("worker_count", "500", "out of range"),
    ("secondary_worker_preemptibility", "CHEAP", "SPOT or PREEMPTIBLE"),
    ("boot_disk_type", "hdd", "pd-balanced"),
    ("boot_disk_size_gb", "10", "30 to 4000"),
    ("idle_delete_ttl", "1h", "3600s"),
    ("idle_delete_ttl", "60s", "600s"),
    ("force_destroy_buckets", "yes", "true or false"),
    ("seed_samples", "yes", "uploads samples"),
    ("seed_samples", "1", "or false"),
    ("job_submit", "maybe", "or false"),
    ("job_wait", "no", "or false"),
    ("subnet_cidr", "8.8.8.0/24", "private IPv4"),
    ("subnet_cidr", "not-a-cidr", "private IPv4"),
    ("region", "Europe West", "europe-west1"),
    ("zone", "us-central1-a", "zone of the region"),
    ("master_machine_type", "N2 standard", "machine type"),
    ("machine_family", "c4d", "c3 (bf16 on AMX"),
    ("worker_machine_type", "n2-standard-8", "a machine type of machine_family"),
    ("boot_disk_type", "pd-standard", "c3 not pd-standard"),
    ("temp_retention_days", "0", "1 to 365"),
    ("labels", '{"Bad Key": "x"}', "GCP labels"),
    ("labels", "[1, 2]", "map"),
    ("init_action_timeout_sec", "5", "60 to 3600"),
    ("wrker_count", "2", "worker_count"),  # a typo names the known keys
]


@pytest.mark.parametrize(("key", "value", "hint"), BAD, ids=[f"{k}={v}" for k, v, _ in BAD])
def test_bad_value_is_one_line_naming_key_and_accepted_values(
    key: str, value: Any, hint: str
) -> None:
    values = {**_stack_values("prod"), key: value}
    with pytest.raises(ConfigError) as info:
        parse(values, project=PROJECT, stack="prod")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"config key 'dataproc-faces:{key}':")
    assert "accepted:" in message and hint in message
    assert isinstance(info.value, pulumi.RunError)  # Pulumi prints RunErrors without a traceback


@pytest.mark.parametrize(
    ("values", "hint"),
    [
        ({"worker_count": "0", "secondary_worker_count": "2"}, "secondary_worker_count"),
        (
            {
                "worker_count": "2",
                "secondary_worker_count": "4",
                "autoscaling_max_secondary_workers": "3",
            },
            "autoscaling_max_secondary_workers",
        ),
        (
            {"worker_count": "0", "autoscaling_max_secondary_workers": "5"},
            "autoscaling_max_secondary_workers",
        ),
    ],
)
def test_inconsistent_cluster_shapes_are_rejected(values: dict[str, str], hint: str) -> None:
    with pytest.raises(ConfigError, match=f"'dataproc-faces:{hint}'"):
        parse(values, project=PROJECT, stack="dev")


@pytest.mark.parametrize(
    ("project", "stack", "key"),
    [
        (None, "dev", "gcp:project"),
        ("Bad_Project", "dev", "gcp:project"),
        (PROJECT, "Prod_EU", "stack name"),
    ],
)
def test_project_and_stack_name(project: str | None, stack: str, key: str) -> None:
    with pytest.raises(ConfigError, match=f"^config key '{key}'"):
        parse({}, project=project, stack=stack)


def test_opencv_pin_parsed_from_requirements(tmp_path: Path) -> None:
    assert opencv_pin() == "4.11.0.86"
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("numpy==1.26.4\nopencv-python-headless == 4.10.0.84  # pinned\n")
    assert opencv_pin(reqs) == "4.10.0.84"
    for text in (
        "numpy==1\n",
        "opencv-python-headless>=4\n",
        "opencv-python-headless==1.2.3\n" * 2,
    ):
        reqs.write_text(text)
        with pytest.raises(ConfigError, match="opencv-python-headless==<version>"):
            opencv_pin(reqs)
    with pytest.raises(ConfigError, match="cannot be read"):
        opencv_pin(tmp_path / "missing.txt")


def test_requirement_pin_any_name(tmp_path: Path) -> None:
    assert requirement_pin("pillow") == "11.3.0"
    assert requirement_pin("opencv-python-headless") == opencv_pin()
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("Pillow == 10.4.0  # header reads\npillow-simd==9.0.0\nnumpy==1.26.4\n")
    assert requirement_pin("pillow", reqs) == "10.4.0"
    assert requirement_pin("opencv_python.headless", REPO / "requirements.txt") == "4.11.0.86"
    for text in ("pillow\n", "pillow>=11\n", "pillow==11.3.0\nPillow==11.2.1\n"):
        reqs.write_text(text)
        with pytest.raises(ConfigError, match="exactly one line 'pillow==<version>'"):
            requirement_pin("pillow", reqs)
    reqs.write_text("numpy==1.26.4\nopencv-python-headless==4.11.0.86\n")
    with pytest.raises(ConfigError, match="found 0 'pillow==X' pins"):
        parse({}, project=PROJECT, stack="dev", requirements=reqs)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"dataproc-faces:image_version": "3.0-debian12"},
            "config key 'dataproc-faces:image_version'",
        ),
        ({"dataproc-faces:worker_count": "1"}, "config key 'dataproc-faces:worker_count'"),
        (
            {"dataproc-faces:wrker_count": "2"},
            "config key 'dataproc-faces:wrker_count': is not a known",
        ),
        ({"gcp:project": None}, "config key 'gcp:project': is not set"),
    ],
    ids=["image", "workers", "typo", "no-project"],
)
def test_whole_program_fails_with_one_line_not_a_traceback(
    overrides: dict[str, Any], expected: str, tmp_path: Path
) -> None:
    proc = run_harness("dev", tmp_path, overrides)
    assert proc.returncode == 32, proc.stderr  # RunError: what Pulumi reports without a traceback
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert lines[0].startswith(f"error: {expected}")
    assert "accepted:" in lines[0]


# key -> (lowest, highest) accepted; every bound is tested at its edge, both sides.
INT_BOUNDS: dict[str, tuple[int, int]] = {
    "worker_count": (2, 100),  # 0 is single-node, 1 is refused (below)
    "secondary_worker_count": (0, 200),
    "boot_disk_size_gb": (30, 4000),
    "init_action_timeout_sec": (60, 3600),
    "temp_retention_days": (1, 365),
}


def _parsed_int(cfg: Any, key: str) -> int:
    return getattr(cfg.cluster, key) if hasattr(cfg.cluster, key) else getattr(cfg, key)


@pytest.mark.parametrize("key", sorted(INT_BOUNDS))
def test_integer_bounds_hold_at_their_edges(key: str) -> None:
    lo, hi = INT_BOUNDS[key]
    for value in (lo, hi):
        cfg = parse({key: str(value)}, project=PROJECT, stack="dev")
        assert _parsed_int(cfg, key) == value
    for value in (lo - 1, hi + 1):
        if key == "worker_count" and value == 1:
            continue  # refused with its own message, tested below
        with pytest.raises(ConfigError, match=f"'dataproc-faces:{key}': {value} is out of range"):
            parse({key: str(value)}, project=PROJECT, stack="dev")


def test_worker_counts_zero_and_one() -> None:
    assert parse({"worker_count": "0"}, project=PROJECT, stack="dev").cluster.single_node
    assert not parse({"worker_count": "2"}, project=PROJECT, stack="dev").cluster.single_node
    with pytest.raises(ConfigError, match="1 is not allowed by Dataproc"):
        parse({"worker_count": "1"}, project=PROJECT, stack="dev")


def test_autoscaling_ceiling_at_its_edges() -> None:
    ok = {"worker_count": "2", "secondary_worker_count": "4"}
    for ceiling in ("4", "500"):
        cfg = parse(
            {**ok, "autoscaling_max_secondary_workers": ceiling}, project=PROJECT, stack="d"
        )
        assert cfg.cluster.autoscaling_max_secondary_workers == int(ceiling)
        assert cfg.cluster.autoscaling
    assert not parse(ok, project=PROJECT, stack="dev").cluster.autoscaling
    for ceiling in ("3", "501"):
        with pytest.raises(ConfigError, match="'dataproc-faces:autoscaling_max_secondary_workers'"):
            parse({**ok, "autoscaling_max_secondary_workers": ceiling}, project=PROJECT, stack="d")


@pytest.mark.parametrize(
    ("cidr", "allowed"),
    [
        ("10.0.0.0/16", True),
        ("10.0.0.0/15", False),
        ("192.168.7.0/28", True),
        ("192.168.7.0/29", False),
        ("172.16.0.0/20", True),
        ("100.64.0.0/24", False),  # shared address space: not private
        ("10.0.0.1/24", False),  # host bits set
    ],
)
def test_subnet_prefix_limits(cidr: str, allowed: bool) -> None:
    if allowed:
        assert parse({"subnet_cidr": cidr}, project=PROJECT, stack="dev").subnet_cidr == cidr
    else:
        with pytest.raises(ConfigError, match=r"'dataproc-faces:subnet_cidr'.*between /16 and /28"):
            parse({"subnet_cidr": cidr}, project=PROJECT, stack="dev")


@pytest.mark.parametrize(
    ("ttl", "allowed"),
    [("600s", True), ("599s", False), ("1209600s", True), ("1209601s", False), ("", True)],
)
def test_idle_delete_ttl_bounds(ttl: str, allowed: bool) -> None:
    if allowed:
        cfg = parse({"idle_delete_ttl": ttl}, project=PROJECT, stack="dev")
        assert cfg.cluster.idle_delete_ttl == (ttl or None)
    else:
        with pytest.raises(ConfigError, match=f"'dataproc-faces:idle_delete_ttl': '{ttl}'"):
            parse({"idle_delete_ttl": ttl}, project=PROJECT, stack="dev")


def test_every_value_given_is_the_value_parsed() -> None:
    values = {
        "region": "us-central1",
        "zone": "us-central1-f",
        "subnet_cidr": "10.20.0.0/20",
        "image_version": "2.3.5-1-ubuntu22",
        "machine_family": "N2",
        "master_machine_type": "n2-highmem-8",
        "worker_machine_type": "n2-standard-32",
        "worker_count": " 3 ",
        "secondary_worker_count": "2",
        "secondary_worker_preemptibility": "preemptible",
        "autoscaling_max_secondary_workers": "9",
        "boot_disk_size_gb": "250",
        "boot_disk_type": "pd-ssd",
        "idle_delete_ttl": "7200s",
        "init_action_timeout_sec": "1200",
        "cluster_create_timeout": "2h",
        "devhost_machine_type": "e2-small",
        "force_destroy_buckets": "TRUE",
        "retain_results_on_destroy": False,
        "adopt_results_bucket": True,
        "results_versioning": "true",
        "temp_retention_days": "30",
        "labels": '{"team": "vision"}',
        "seed_samples": "false",
        "job_submit": "true",
        "job_wait": "true",
        "job_run_id": "r2",
        "job_input_prefix": "gs://my-photos/2026/",
        "job_detect": '{"detector": "haar", "min_size": 24}',
    }
    cfg = parse(values, project=PROJECT, stack="qa")
    assert (cfg.project, cfg.stack, cfg.region, cfg.zone) == (
        PROJECT,
        "qa",
        "us-central1",
        "us-central1-f",
    )
    assert cfg.subnet_cidr == "10.20.0.0/20" and cfg.devhost_machine_type == "e2-small"
    assert cfg.force_destroy_buckets and not cfg.retain_results_on_destroy
    assert cfg.adopt_results_bucket and cfg.results_versioning and not cfg.seed_samples
    assert cfg.temp_retention_days == 30 and cfg.prefix == "dpf-qa"
    assert cfg.labels == {
        "app": "dataproc-faces",
        "env": "qa",
        "managed-by": "pulumi",
        "team": "vision",
    }
    assert cfg.cluster == ClusterConfig(
        image_version="2.3.5-1-ubuntu22",
        master_machine_type="n2-highmem-8",
        worker_machine_type="n2-standard-32",
        worker_count=3,
        secondary_worker_count=2,
        secondary_worker_preemptibility="PREEMPTIBLE",
        autoscaling_max_secondary_workers=9,
        boot_disk_size_gb=250,
        boot_disk_type="pd-ssd",
        idle_delete_ttl="7200s",
        init_action_timeout_sec=1200,
        create_timeout="2h",
        machine_family="n2",
    )
    assert cfg.job == JobConfig(
        submit=True,
        wait=True,
        run_id="r2",
        input_prefix="gs://my-photos/2026/",
        detect={"detector": "haar", "min_size": 24},
    )
    # An input prefix is given: only adopting the results bucket warns (its labels, one up).
    (warning,) = cfg.warnings
    assert warning.startswith("config key 'dataproc-faces:adopt_results_bucket' is true:")


def test_defaults_are_the_documented_ones() -> None:
    cfg = parse({}, project=PROJECT, stack="dev")
    assert (cfg.region, cfg.zone, cfg.subnet_cidr) == (
        "europe-west1",
        "europe-west1-b",
        "10.10.0.0/24",
    )
    assert cfg.devhost_machine_type == "e2-medium" and cfg.temp_retention_days == 7
    assert not cfg.force_destroy_buckets and cfg.retain_results_on_destroy
    assert not cfg.results_versioning and not cfg.seed_samples and not cfg.adopt_results_bucket
    assert cfg.extra_labels == {} and cfg.job == JobConfig()
    assert cfg.cluster == ClusterConfig(
        image_version="2.3-debian12",
        master_machine_type="c3-standard-4",
        worker_machine_type="c3-standard-4",
        worker_count=2,
        secondary_worker_count=0,
        secondary_worker_preemptibility="SPOT",
        autoscaling_max_secondary_workers=0,
        boot_disk_size_gb=100,
        boot_disk_type="pd-balanced",
        idle_delete_ttl=None,
        init_action_timeout_sec=900,
        create_timeout="45m",
        machine_family="c3",
    )


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("job_run_id", "Bad Id", "'Bad Id' is not valid"),
        ("job_input_prefix", "s3://bucket/x", "'s3://bucket/x' is not a gs:// URI"),
        ("job_detect", "{not json", "is not a map"),
        ("job_detect", "[1]", "is not a map"),
        ("job_detect", '{"detector": "yolo"}', "detector: must be one of"),
        ("labels", "{oops", "is not a map"),
        ("labels", '{"ok": "Bad Value"}', "label 'ok: Bad Value' is invalid"),
        ("cluster_create_timeout", "45 minutes", "'45 minutes' is not valid"),
        ("retain_results_on_destroy", "perhaps", "'perhaps' is not a boolean"),
    ],
)
def test_job_and_label_problems_name_the_key_and_the_problem(
    key: str, value: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse({key: value}, project=PROJECT, stack="dev")
    assert str(info.value).startswith(f"config key 'dataproc-faces:{key}': {problem}")
    assert info.value.key == f"dataproc-faces:{key}"


class _NoResources(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        return args.name + "_id", args.inputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
        return {}


@pytest.fixture
def stack_config(monkeypatch: pytest.MonkeyPatch):
    """In-process `load()`: the engine's config and stack name under mocks; warnings captured."""
    warned: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *a, **k: warned.append(message))
    pulumi.runtime.set_mocks(_NoResources(), project="dataproc-faces", stack="qa", preview=False)

    def configure(values: dict[str, str]) -> list[str]:
        pulumi.runtime.set_all_config(values)
        return warned

    yield configure
    pulumi.runtime.set_all_config({})


def test_load_reads_the_engines_config_and_logs_warnings(stack_config) -> None:
    from infra.config import load

    warned = stack_config(
        {
            "gcp:project": PROJECT,
            "dataproc-faces:worker_count": "0",
            "dataproc-faces:labels": '{"team": "vision"}',
            "dataproc-faces:job_submit": "true",
            "dataproc-faces:region": "us-central1",  # plain strings, not JSON
            "dataproc-faces:idle_delete_ttl": "3600s",
        }
    )
    cfg = load()
    assert (cfg.project, cfg.stack, cfg.cluster.worker_count) == (PROJECT, "qa", 0)
    assert (cfg.region, cfg.cluster.idle_delete_ttl) == ("us-central1", "3600s")
    assert cfg.extra_labels == {"team": "vision"} and cfg.job.submit
    assert warned == cfg.warnings and len(warned) == 1


def test_load_reports_a_key_unknown_to_the_program(stack_config) -> None:
    from infra.config import load

    stack_config({"gcp:project": PROJECT, "dataproc-faces:wrker_count": "2", "other:x": "1"})
    with pytest.raises(
        ConfigError, match=r"^config key 'dataproc-faces:wrker_count': is not a known"
    ):
        load()


# Every refusal's whole line: what the user reads is the contract.
# (values, project, stack, key, problem, accepted); None accepted: the key's DEFAULTS text.
EXACT: list[tuple[dict[str, str], str | None, str, str, str, str | None]] = [
    (
        {"worker_count": "two"},
        PROJECT,
        "dev",
        "dataproc-faces:worker_count",
        "'two' is not an integer",
        None,
    ),
    (
        {"worker_count": "101"},
        PROJECT,
        "dev",
        "dataproc-faces:worker_count",
        "101 is out of range",
        None,
    ),
    (
        {"worker_count": "1"},
        PROJECT,
        "dev",
        "dataproc-faces:worker_count",
        "1 is not allowed by Dataproc",
        None,
    ),
    ({"labels": "{oops"}, PROJECT, "dev", "dataproc-faces:labels", "is not a map", None),
    ({"labels": "[1]"}, PROJECT, "dev", "dataproc-faces:labels", "is not a map", None),
    (
        {"labels": '{"ok": "Bad"}'},
        PROJECT,
        "dev",
        "dataproc-faces:labels",
        "label 'ok: Bad' is invalid",
        None,
    ),
    ({"wrker_count": "2"}, PROJECT, "dev", "dataproc-faces:wrker_count", "is not a known key", "*"),
    (
        {},
        None,
        "dev",
        "gcp:project",
        "is not set (run: pulumi config set gcp:project <id>)",
        "a project ID",
    ),
    (
        {},
        "Bad_Project",
        "dev",
        "gcp:project",
        "'Bad_Project' is not a project ID",
        "6-30 chars a-z0-9-",
    ),
    (
        {},
        PROJECT,
        "Prod_EU",
        "stack name",
        "'Prod_EU' is not usable in resource names",
        "a-z0-9-, 1-10 chars",
    ),
    (
        {"zone": "us-central1-a"},
        PROJECT,
        "dev",
        "dataproc-faces:zone",
        "'us-central1-a' is not a zone of europe-west1",
        None,
    ),
    (
        {"subnet_cidr": "nope"},
        PROJECT,
        "dev",
        "dataproc-faces:subnet_cidr",
        "'nope' is not a CIDR",
        None,
    ),
    (
        {"subnet_cidr": "10.0.0.0/29"},
        PROJECT,
        "dev",
        "dataproc-faces:subnet_cidr",
        "'10.0.0.0/29' is not allowed",
        None,
    ),
    (
        {"image_version": "2.2-debian12"},
        PROJECT,
        "dev",
        "dataproc-faces:image_version",
        "'2.2-debian12' is not a 2.3 image (the job is pinned to pyspark 3.5, which 2.3 runs)",
        None,
    ),
    (
        {"worker_count": "0", "secondary_worker_count": "2"},
        PROJECT,
        "dev",
        "dataproc-faces:secondary_worker_count",
        "secondary workers need primary workers (worker_count is 0)",
        None,
    ),
    (
        {"secondary_worker_count": "4", "autoscaling_max_secondary_workers": "3"},
        PROJECT,
        "dev",
        "dataproc-faces:autoscaling_max_secondary_workers",
        "3 does not fit worker_count=2, secondary_worker_count=4",
        None,
    ),
    (
        {"secondary_worker_preemptibility": "cheap"},
        PROJECT,
        "dev",
        "dataproc-faces:secondary_worker_preemptibility",
        "'CHEAP' is not valid",
        None,
    ),
    (
        {"boot_disk_type": "hdd"},
        PROJECT,
        "dev",
        "dataproc-faces:boot_disk_type",
        "'hdd' is not valid",
        None,
    ),
    (
        {"force_destroy_buckets": "yes"},
        PROJECT,
        "dev",
        "dataproc-faces:force_destroy_buckets",
        "'yes' is not a boolean",
        None,
    ),
    ({"region": "Europe"}, PROJECT, "dev", "dataproc-faces:region", "'Europe' is not valid", None),
    (
        {"idle_delete_ttl": "1h"},
        PROJECT,
        "dev",
        "dataproc-faces:idle_delete_ttl",
        "'1h' is not valid",
        None,
    ),
    (
        {"job_run_id": "Bad Id"},
        PROJECT,
        "dev",
        "dataproc-faces:job_run_id",
        "'Bad Id' is not valid",
        None,
    ),
    (
        {"job_input_prefix": "s3://b"},
        PROJECT,
        "dev",
        "dataproc-faces:job_input_prefix",
        "'s3://b' is not a gs:// URI",
        None,
    ),
    ({"job_detect": "{x"}, PROJECT, "dev", "dataproc-faces:job_detect", "is not a map", None),
    ({"job_detect": "[1]"}, PROJECT, "dev", "dataproc-faces:job_detect", "is not a map", None),
    (
        {"job_detect": '{"min_size": 0}'},
        PROJECT,
        "dev",
        "dataproc-faces:job_detect",
        "min_size: must be a positive integer, got 0",
        None,
    ),
]


@pytest.mark.parametrize(("values", "project", "stack", "key", "problem", "accepted"), EXACT)
def test_every_refusal_is_one_exact_line(
    values: dict[str, str],
    project: str | None,
    stack: str,
    key: str,
    problem: str,
    accepted: str | None,
) -> None:
    if accepted is None:
        accepted = DEFAULTS[key.split(":", 1)[1]][1]
    elif accepted == "*":
        accepted = ", ".join(sorted(DEFAULTS))  # an unknown key lists the known ones
    with pytest.raises(ConfigError) as info:
        parse(values, project=project, stack=stack)
    assert str(info.value) == f"config key '{key}': {problem}; accepted: {accepted}"
    assert info.value.key == key


def test_requirement_file_problems_are_exact_lines(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        requirement_pin("pillow", tmp_path / "missing.txt")
    assert str(info.value) == (
        "config key 'requirements.txt': cannot be read (No such file or directory);"
        " accepted: a file pinning pillow"
    )
    assert info.value.key == "requirements.txt"
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("numpy==1.26.4\n")
    with pytest.raises(ConfigError) as info:
        requirement_pin("pillow", reqs)
    assert str(info.value) == (
        "config key 'requirements.txt': found 0 'pillow==X' pins;"
        " accepted: exactly one line 'pillow==<version>'"
    )


def test_an_empty_value_means_the_default() -> None:
    cfg = parse({"worker_count": "", "region": "", "labels": ""}, project=PROJECT, stack="dev")
    assert (cfg.cluster.worker_count, cfg.region, cfg.extra_labels) == (2, "europe-west1", {})


def test_both_stacks_run_the_cost_models_family() -> None:
    """C3: bf16 on AMX, the cheapest per photo (tests/bench/test_cost_model.py)."""
    for stack in STACKS:
        cfg = parse(_stack_values(stack), project=PROJECT, stack=stack)
        assert cfg.cluster.machine_family == "c3"
        assert cfg.cluster.master_machine_type == "c3-standard-4"
        assert cfg.cluster.worker_machine_type.startswith("c3-standard-")
        assert cfg.cluster.boot_disk_type == "pd-balanced"  # C3 boots from it; C4 and N4 not


@pytest.mark.parametrize(
    ("family", "disk", "master", "worker"),
    [
        ("c3", "pd-balanced", "c3-standard-4", "c3-standard-4"),
        ("c4", "hyperdisk-balanced", "c4-standard-4", "c4-standard-4"),
        ("n4", "hyperdisk-balanced", "n4-standard-4", "n4-standard-4"),
        ("n2", "pd-balanced", "n2-standard-4", "n2-standard-4"),
        ("n2d", "pd-balanced", "n2d-standard-4", "n2d-standard-4"),
    ],
)
def test_a_family_alone_gives_its_machine_types_and_a_disk_it_boots_from(
    family: str, disk: str, master: str, worker: str
) -> None:
    cluster = parse({"machine_family": family}, project=PROJECT, stack="dev").cluster
    assert (cluster.machine_family, cluster.boot_disk_type) == (family, disk)
    assert (cluster.master_machine_type, cluster.worker_machine_type) == (master, worker)


FAMILY_REFUSALS = [
    (
        {"machine_family": "c4d"},
        "dataproc-faces:machine_family",
        "'c4d' is not valid",
    ),
    (
        {"machine_family": "c3", "worker_machine_type": "n2-standard-8"},
        "dataproc-faces:worker_machine_type",
        "'n2-standard-8' is not of machine_family c3",
    ),
    (
        {"master_machine_type": "n2-standard-4"},  # the default family is c3
        "dataproc-faces:master_machine_type",
        "'n2-standard-4' is not of machine_family c3",
    ),
    (
        {"machine_family": "c4", "boot_disk_type": "pd-balanced"},
        "dataproc-faces:boot_disk_type",
        "'pd-balanced' cannot boot machine_family c4",
    ),
    (
        {"machine_family": "n2", "boot_disk_type": "hyperdisk-balanced"},
        "dataproc-faces:boot_disk_type",
        "'hyperdisk-balanced' cannot boot machine_family n2",
    ),
    (
        {"boot_disk_type": "pd-standard"},
        "dataproc-faces:boot_disk_type",
        "'pd-standard' cannot boot machine_family c3",
    ),
]


@pytest.mark.parametrize(("values", "key", "problem"), FAMILY_REFUSALS)
def test_a_family_mismatch_is_one_line_naming_the_key(
    values: dict[str, str], key: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse(values, project=PROJECT, stack="dev")
    accepted = DEFAULTS[key.split(":", 1)[1]][1]
    assert str(info.value) == f"config key '{key}': {problem}; accepted: {accepted}"
    assert "\n" not in str(info.value)


def test_the_cluster_is_declared_with_the_familys_machines(recorded) -> None:
    for stack, worker in (("dev", None), ("prod", "c3-standard-8")):
        cc = recorded(stack).one("gcp:dataproc/cluster:Cluster")["inputs"]["clusterConfig"]
        assert cc["masterConfig"]["machineType"] == "c3-standard-4"
        assert cc["masterConfig"]["diskConfig"]["bootDiskType"] == "pd-balanced"
        if worker:
            assert cc["workerConfig"]["machineType"] == worker
            assert cc["preemptibleWorkerConfig"]["diskConfig"]["bootDiskType"] == "pd-balanced"
