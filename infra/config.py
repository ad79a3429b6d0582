"""Stack configuration: the only reader of pulumi.Config; typed, validated, one error per key."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi

PROJECT_NAME = "dataproc-faces"
REPO_ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = REPO_ROOT / "requirements.txt"

IAP_SSH_RANGE = "35.235.240.0/20"
PREEMPTIBILITY = ("SPOT", "PREEMPTIBLE")
DISK_TYPES = ("pd-balanced", "pd-ssd", "pd-standard", "hyperdisk-balanced")
# Families Dataproc runs (its "supported machine types") that this stack offers, with the boot
# disks each can use: C4 and N4 boot from Hyperdisk only, C3 not from pd-standard. C3, C4 and N4
# have AMX, where OpenVINO runs bf16; N2 and N2D run fp32. The default is the cheapest per photo
# in the cost model (bench/cost.py, docs/scale.md), and the CPU the bf16 figures were measured on.
MACHINE_FAMILIES: dict[str, tuple[str, ...]] = {
    "c3": ("pd-balanced", "pd-ssd", "hyperdisk-balanced"),
    "c4": ("hyperdisk-balanced",),
    "n4": ("hyperdisk-balanced",),
    "n2": ("pd-balanced", "pd-ssd", "pd-standard"),
    "n2d": ("pd-balanced", "pd-ssd", "pd-standard"),
}
DEFAULT_FAMILY = "c3"
_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
_PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_STACK = re.compile(r"^[a-z][a-z0-9-]{0,9}$")
_REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]$")
_MACHINE_TYPE = re.compile(r"^[a-z][a-z0-9]*-[a-z0-9-]+$")
_DURATION = re.compile(r"^([0-9]+)s$")
_PIN_VERSION = r"([0-9]+(?:\.[0-9]+){1,3})"  # an exact version after `name==`
RUNNERS = ("cluster", "serverless", "both")
# Serverless runtimes with Spark 3.5, what the job is pinned to (pyspark 3.5); 2.3 is the LTS
# still in support (1.2 and 2.2 left support on 2026-09-30); 3.0 runs Spark 4.
BATCH_RUNTIMES = ("2.3", "2.2", "1.2")
BATCH_IMAGE_NAME = "dataproc-faces-batch"


class ConfigError(pulumi.RunError):
    """A bad or missing config key: a RunError, so Pulumi prints the one line and no traceback."""

    def __init__(self, key: str, problem: str, accepted: str) -> None:
        self.key = key
        message = f"config key '{key}': {problem}; accepted: {accepted}"
        super().__init__(" ".join(message.split()))


@dataclass(frozen=True)
class ClusterConfig:
    """Dataproc cluster shape; worker_count 0 means a single-node cluster."""

    image_version: str
    master_machine_type: str
    worker_machine_type: str
    worker_count: int
    secondary_worker_count: int
    secondary_worker_preemptibility: str
    autoscaling_max_secondary_workers: int
    boot_disk_size_gb: int
    boot_disk_type: str
    idle_delete_ttl: str | None
    init_action_timeout_sec: int
    create_timeout: str
    machine_family: str = DEFAULT_FAMILY

    @property
    def single_node(self) -> bool:
        """Dataproc needs 0 (single node) or at least 2 primary workers."""
        return self.worker_count == 0

    @property
    def autoscaling(self) -> bool:
        """Autoscaling is on when a secondary-worker ceiling is configured."""
        return self.autoscaling_max_secondary_workers > 0


@dataclass(frozen=True)
class JobConfig:
    """Whether and how `pulumi up` submits the face-outlining job (infra/job.py)."""

    submit: bool = False
    wait: bool = False
    run_id: str = ""
    input_prefix: str = ""  # empty: the stack's upload_images_to prefix
    detect: Mapping[str, Any] = field(default_factory=dict)
    render: Mapping[str, Any] = field(default_factory=dict)  # mode and output options (`run`'s)


@dataclass(frozen=True)
class BatchConfig:
    """Dataproc Serverless: the published batch image (by digest) and the runtime it runs on."""

    image: str = ""  # empty: no batch from `pulumi up` until the image is pushed
    runtime_version: str = BATCH_RUNTIMES[0]
    ttl: str = "86400s"  # execution_config.ttl: without it a 2.1+ runtime ends a batch at 4 h

    @property
    def ttl_seconds(self) -> int:
        return int(self.ttl.rstrip("s"))


@dataclass(frozen=True)
class FeedConfig:
    """The change feed (infra/feed.py): input bucket notifications into Pub/Sub, and the devhost
    running `dataproc-faces follow` on a timer. Off unless the stack sets `feed: true`."""

    enabled: bool = False
    interval: str = "300s"  # how often the devhost's timer drains the subscription
    max_deliveries: int = 5  # deliveries before a message goes to the dead-letter topic

    @property
    def interval_seconds(self) -> int:
        return int(self.interval.rstrip("s"))


@dataclass(frozen=True)
class StackConfig:
    """Everything the program needs, validated before any resource is declared."""

    project: str
    region: str
    zone: str
    stack: str
    subnet_cidr: str
    devhost_machine_type: str
    force_destroy_buckets: bool
    retain_results_on_destroy: bool
    results_versioning: bool
    temp_retention_days: int
    opencv_version: str
    pillow_version: str
    openvino_version: str
    pillow_heif_version: str
    cluster: ClusterConfig
    extra_labels: Mapping[str, str] = field(default_factory=dict)
    job: JobConfig = field(default_factory=JobConfig)
    seed_samples: bool = False
    adopt_results_bucket: bool = False
    runner: str = "cluster"
    batch: BatchConfig = field(default_factory=BatchConfig)
    av_version: str = ""  # PyAV (videos), from requirements.txt like the other pins
    feed: FeedConfig = field(default_factory=FeedConfig)

    @property
    def uses_cluster(self) -> bool:
        """The stack has a Dataproc cluster (runner cluster or both)."""
        return self.runner in ("cluster", "both")

    @property
    def uses_serverless(self) -> bool:
        """The stack runs Serverless batches (runner serverless or both)."""
        return self.runner in ("serverless", "both")

    @property
    def job_as_batch(self) -> bool:
        """`pulumi up`'s job is a batch when the stack has no cluster to run it on."""
        return self.runner == "serverless"

    @property
    def image_repository(self) -> str:
        """The Artifact Registry repository id the batch image is pushed to."""
        return f"{self.prefix}-images"

    @property
    def image_registry_path(self) -> str:
        """`REGION-docker.pkg.dev/PROJECT/REPOSITORY`: where `make batch-image-push` pushes."""
        return f"{self.region}-docker.pkg.dev/{self.project}/{self.image_repository}"

    @property
    def warnings(self) -> list[str]:
        """Valid but probably unintended combinations: `load()` logs them as Pulumi warnings."""
        found = []
        if self.job.submit and self.job_as_batch and not self.batch.image:
            found.append(
                f"config key '{_key('job_submit')}' is true and '{_key('batch_image')}' is"
                " empty: this up creates the image repository but submits no batch; push the"
                f" image (make batch-image-push REGISTRY={self.image_registry_path}), set"
                " batch_image to the reference it prints and run `pulumi up` again"
            )
        if self.job.submit and not self.seed_samples and not self.job.input_prefix:
            found.append(
                f"config key '{_key('job_submit')}' is true and '{_key('seed_samples')}' is"
                " false: the job reads the stack's upload_images_to prefix, and fails (usage"
                " error: --input does not exist) if nothing was uploaded there; upload images"
                " first, set seed_samples, or set job_input_prefix"
            )
        if self.adopt_results_bucket:
            found.append(
                f"config key '{_key('adopt_results_bucket')}' is true: this up imports the kept"
                " results bucket and leaves its labels as they are; once it has, set it to false"
                " and run `pulumi up --refresh` again to put the stack's labels on it"
            )
        return found

    @property
    def prefix(self) -> str:
        """Short prefix for physical names, unique per stack inside a project."""
        return f"dpf-{self.stack}"

    @property
    def labels(self) -> dict[str, str]:
        """Labels put on every labellable resource."""
        return {
            "app": "dataproc-faces",
            "env": self.stack,
            "managed-by": "pulumi",
            **dict(self.extra_labels),
        }


# key -> (default, accepted-values text); `None` default means required.
DEFAULTS: dict[str, tuple[Any, str]] = {
    "region": ("europe-west1", "a GCP region such as europe-west1"),
    "zone": ("", "a zone of the region, e.g. europe-west1-b (empty: <region>-b)"),
    "subnet_cidr": ("10.10.0.0/24", "a private IPv4 CIDR between /16 and /28"),
    "image_version": ("2.3-debian12", "a Dataproc 2.3 image, e.g. 2.3-debian12"),
    "machine_family": (
        DEFAULT_FAMILY,
        "c3 (bf16 on AMX; the cheapest per photo, bench/cost.py), c4 or n4 (bf16 on AMX;"
        " Hyperdisk boot disks only), n2 or n2d (fp32, about 1.34x the CPU time per photo)",
    ),
    "master_machine_type": (
        "",
        "a machine type of machine_family, e.g. c3-standard-4 (empty: <family>-standard-4)",
    ),
    "worker_machine_type": (
        "",
        "a machine type of machine_family, e.g. c3-standard-8 (empty: <family>-standard-4)",
    ),
    "worker_count": (2, "0 (single-node cluster) or an integer from 2 to 100"),
    "secondary_worker_count": (0, "an integer from 0 to 200; needs worker_count >= 2"),
    "secondary_worker_preemptibility": ("SPOT", "SPOT or PREEMPTIBLE"),
    "autoscaling_max_secondary_workers": (
        0,
        "0 (no autoscaling) or an integer from secondary_worker_count to 500;"
        " needs worker_count >= 2",
    ),
    "boot_disk_size_gb": (100, "an integer from 30 to 4000"),
    "boot_disk_type": (
        "",
        f"{', '.join(DISK_TYPES[:-1])} or {DISK_TYPES[-1]}, one machine_family boots from:"
        " c3 not pd-standard, c4 and n4 hyperdisk-balanced only, n2 and n2d not"
        " hyperdisk-balanced (empty: pd-balanced; hyperdisk-balanced for c4 and n4)",
    ),
    "idle_delete_ttl": ("", "empty (never) or seconds like 3600s, from 600s to 1209600s"),
    "init_action_timeout_sec": (900, "an integer from 60 to 3600"),
    "cluster_create_timeout": ("45m", "a duration like 45m or 1h"),
    "devhost_machine_type": ("e2-medium", "a Compute Engine machine type"),
    "force_destroy_buckets": (False, "true or false"),
    "retain_results_on_destroy": (True, "true or false"),
    "adopt_results_bucket": (
        False,
        "true (the next up imports the results bucket an earlier destroy kept) or false",
    ),
    "results_versioning": (False, "true or false"),
    "temp_retention_days": (7, "an integer from 1 to 365"),
    "labels": ({}, "a map of GCP labels (lowercase keys/values, max 63 chars)"),
    "seed_samples": (
        False,
        "true (pulumi up uploads samples/*.png etc. to <upload_images_to>samples/) or false",
    ),
    "job_submit": (False, "true (pulumi up submits the job once the cluster is ready) or false"),
    "job_wait": (False, "true (pulumi up waits until the job ends) or false"),
    "job_run_id": ("", "empty, or 1-40 of a-z 0-9 '-': a new value submits a new run"),
    "job_input_prefix": ("", "empty (the stack's images prefix) or a gs://bucket/prefix"),
    "job_detect": ({}, "a map of detector options, e.g. {detector: centerface, min_size: 24}"),
    "job_render": (
        {},
        "a map of `run`'s output options, e.g. {mode: blur, mask_scale: 1.5}: mode (outline,"
        " blur, pixelate, solid, both), mask, mask_scale, blur_strength, pixelate_blocks,"
        " fill_color, keep_metadata, thumbnails, faceless",
    ),
    "runner": (
        "cluster",
        "cluster (a Dataproc cluster runs the jobs), serverless (Dataproc Serverless batches"
        " from the batch image, no cluster) or both",
    ),
    "batch_image": (
        "",
        "empty, or the batch image by digest in the stack's repository:"
        f" <region>-docker.pkg.dev/<project>/dpf-<stack>-images/{BATCH_IMAGE_NAME}@sha256:<64 hex>"
        " (make batch-image-push prints it)",
    ),
    "batch_runtime_version": (
        BATCH_RUNTIMES[0],
        f"a Serverless runtime with Spark 3.5: {', '.join(BATCH_RUNTIMES)}",
    ),
    "batch_ttl": (
        "86400s",
        "how long a batch may run before Dataproc ends it, 600s (10 minutes) to 1209600s"
        " (14 days); without it a batch ends after 4 hours",
    ),
    "feed": (
        False,
        "true (new, overwritten and deleted photos under upload_images_to reach a Pub/Sub"
        " subscription, and the devhost runs `dataproc-faces follow` on a timer) or false",
    ),
    "feed_interval": ("300s", "how often the devhost drains the feed, 60s to 86400s (a day)"),
    "feed_max_deliveries": (
        5,
        "an integer from 5 to 100: deliveries of a message whose runs fail before it goes to"
        " the dead-letter topic",
    ),
}


def _key(name: str) -> str:
    return f"{PROJECT_NAME}:{name}"


def _get(values: Mapping[str, Any], name: str) -> Any:
    raw = values.get(name)
    return DEFAULTS[name][0] if raw is None or raw == "" else raw


def _int(values: Mapping[str, Any], name: str, lo: int, hi: int) -> int:
    raw = _get(values, name)
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise ConfigError(_key(name), f"'{raw}' is not an integer", DEFAULTS[name][1]) from None
    if not lo <= value <= hi:
        raise ConfigError(_key(name), f"{value} is out of range", DEFAULTS[name][1])
    return value


def _bool(values: Mapping[str, Any], name: str) -> bool:
    raw = _get(values, name)
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text not in ("true", "false"):
        raise ConfigError(_key(name), f"'{raw}' is not a boolean", DEFAULTS[name][1])
    return text == "true"


def _match(values: Mapping[str, Any], name: str, pattern: re.Pattern[str]) -> str:
    value = str(_get(values, name)).strip()
    if not pattern.match(value):
        raise ConfigError(_key(name), f"'{value}' is not valid", DEFAULTS[name][1])
    return value


def _machine_type(values: Mapping[str, Any], name: str, family: str) -> str:
    """A cluster machine type of the stack's machine_family (empty: <family>-standard-4)."""
    value = str(_get(values, name)).strip() or f"{family}-standard-4"
    if not _MACHINE_TYPE.match(value):
        raise ConfigError(_key(name), f"'{value}' is not valid", DEFAULTS[name][1])
    if value.split("-", 1)[0] != family:
        raise ConfigError(
            _key(name), f"'{value}' is not of machine_family {family}", DEFAULTS[name][1]
        )
    return value


def _labels(values: Mapping[str, Any]) -> dict[str, str]:
    raw = _get(values, "labels")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raise ConfigError(_key("labels"), "is not a map", DEFAULTS["labels"][1]) from None
    if not isinstance(raw, Mapping):
        raise ConfigError(_key("labels"), "is not a map", DEFAULTS["labels"][1])
    labels = {str(k): str(v) for k, v in raw.items()}
    for k, v in labels.items():
        if not _LABEL_KEY.match(k) or not _LABEL_VALUE.match(v):
            raise ConfigError(_key("labels"), f"label '{k}: {v}' is invalid", DEFAULTS["labels"][1])
    return labels


def _duration_seconds(values: Mapping[str, Any], name: str, lo: int, hi: int) -> str | None:
    value = str(_get(values, name)).strip()
    if value == "":
        return None
    m = _DURATION.match(value)
    if not m or not lo <= int(m.group(1)) <= hi:
        raise ConfigError(_key(name), f"'{value}' is not valid", DEFAULTS[name][1])
    return value


def requirement_pin(name: str, requirements: Path = REQUIREMENTS) -> str:
    """The version of the job's `name==X` pin (names compared as pip does: case, -_. alike)."""
    spelled = r"[-_.]+".join(re.escape(part) for part in re.split(r"[-_.]+", name))
    pattern = re.compile(rf"^\s*{spelled}\s*==\s*{_PIN_VERSION}\s*(?:#.*)?$", re.IGNORECASE)
    try:
        lines = requirements.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(
            "requirements.txt", f"cannot be read ({exc.strerror})", f"a file pinning {name}"
        ) from None
    pins = [m.group(1) for line in lines if (m := pattern.match(line))]
    if len(pins) != 1:
        raise ConfigError(
            "requirements.txt",
            f"found {len(pins)} '{name}==X' pins",
            f"exactly one line '{name}==<version>'",
        )
    return pins[0]


def opencv_pin(requirements: Path = REQUIREMENTS) -> str:
    """The job's `opencv-python-headless==X` pin: the init action must install the same version."""
    return requirement_pin("opencv-python-headless", requirements)


def parse(
    values: Mapping[str, Any],
    *,
    project: str | None,
    stack: str,
    requirements: Path = REQUIREMENTS,
) -> StackConfig:
    """Validate raw config values (as strings or YAML scalars) into a StackConfig."""
    unknown = sorted(set(values) - set(DEFAULTS))
    if unknown:
        raise ConfigError(_key(unknown[0]), "is not a known key", ", ".join(sorted(DEFAULTS)))
    if not project:
        raise ConfigError(
            "gcp:project", "is not set (run: pulumi config set gcp:project <id>)", "a project ID"
        )
    if not _PROJECT_ID.match(project):
        raise ConfigError("gcp:project", f"'{project}' is not a project ID", "6-30 chars a-z0-9-")
    if not _STACK.match(stack):
        raise ConfigError(
            "stack name", f"'{stack}' is not usable in resource names", "a-z0-9-, 1-10 chars"
        )
    region = _match(values, "region", _REGION)
    zone = str(values.get("zone") or f"{region}-b").strip()
    if not re.match(rf"^{re.escape(region)}-[a-z]$", zone):
        raise ConfigError(_key("zone"), f"'{zone}' is not a zone of {region}", DEFAULTS["zone"][1])
    cidr = str(_get(values, "subnet_cidr")).strip()
    try:
        net = ipaddress.IPv4Network(cidr)
    except ValueError:
        raise ConfigError(
            _key("subnet_cidr"), f"'{cidr}' is not a CIDR", DEFAULTS["subnet_cidr"][1]
        ) from None
    if not net.is_private or not 16 <= net.prefixlen <= 28:
        raise ConfigError(
            _key("subnet_cidr"), f"'{cidr}' is not allowed", DEFAULTS["subnet_cidr"][1]
        )

    image = str(_get(values, "image_version")).strip()
    if not re.match(r"^2\.3(\.[0-9]+(-[0-9]+)?)?-(debian12|ubuntu22|rocky9)$", image):
        raise ConfigError(
            _key("image_version"),
            f"'{image}' is not a 2.3 image (the job is pinned to pyspark 3.5, which 2.3 runs)",
            DEFAULTS["image_version"][1],
        )
    workers = _int(values, "worker_count", 0, 100)
    if workers == 1:
        raise ConfigError(
            _key("worker_count"), "1 is not allowed by Dataproc", DEFAULTS["worker_count"][1]
        )
    secondary = _int(values, "secondary_worker_count", 0, 200)
    max_secondary = _int(values, "autoscaling_max_secondary_workers", 0, 500)
    if workers == 0 and secondary:
        raise ConfigError(
            _key("secondary_worker_count"),
            "secondary workers need primary workers (worker_count is 0)",
            DEFAULTS["secondary_worker_count"][1],
        )
    if max_secondary and (workers == 0 or max_secondary < secondary):
        raise ConfigError(
            _key("autoscaling_max_secondary_workers"),
            f"{max_secondary} does not fit worker_count={workers},"
            f" secondary_worker_count={secondary}",
            DEFAULTS["autoscaling_max_secondary_workers"][1],
        )
    preemptibility = str(_get(values, "secondary_worker_preemptibility")).strip().upper()
    if preemptibility not in PREEMPTIBILITY:
        raise ConfigError(
            _key("secondary_worker_preemptibility"),
            f"'{preemptibility}' is not valid",
            DEFAULTS["secondary_worker_preemptibility"][1],
        )
    family = str(_get(values, "machine_family")).strip().lower()
    if family not in MACHINE_FAMILIES:
        raise ConfigError(
            _key("machine_family"), f"'{family}' is not valid", DEFAULTS["machine_family"][1]
        )
    disk_type = str(_get(values, "boot_disk_type")).strip() or MACHINE_FAMILIES[family][0]
    if disk_type not in DISK_TYPES:
        raise ConfigError(
            _key("boot_disk_type"), f"'{disk_type}' is not valid", DEFAULTS["boot_disk_type"][1]
        )
    if disk_type not in MACHINE_FAMILIES[family]:
        raise ConfigError(
            _key("boot_disk_type"),
            f"'{disk_type}' cannot boot machine_family {family}",
            DEFAULTS["boot_disk_type"][1],
        )
    cluster = ClusterConfig(
        image_version=image,
        master_machine_type=_machine_type(values, "master_machine_type", family),
        worker_machine_type=_machine_type(values, "worker_machine_type", family),
        worker_count=workers,
        secondary_worker_count=secondary,
        secondary_worker_preemptibility=preemptibility,
        autoscaling_max_secondary_workers=max_secondary,
        boot_disk_size_gb=_int(values, "boot_disk_size_gb", 30, 4000),
        boot_disk_type=disk_type,
        idle_delete_ttl=_duration_seconds(values, "idle_delete_ttl", 600, 1_209_600),
        init_action_timeout_sec=_int(values, "init_action_timeout_sec", 60, 3600),
        create_timeout=_match(values, "cluster_create_timeout", re.compile(r"^[0-9]+[mh]$")),
        machine_family=family,
    )
    return StackConfig(
        project=project,
        region=region,
        zone=zone,
        stack=stack,
        subnet_cidr=cidr,
        devhost_machine_type=_match(values, "devhost_machine_type", _MACHINE_TYPE),
        force_destroy_buckets=_bool(values, "force_destroy_buckets"),
        retain_results_on_destroy=_bool(values, "retain_results_on_destroy"),
        results_versioning=_bool(values, "results_versioning"),
        temp_retention_days=_int(values, "temp_retention_days", 1, 365),
        opencv_version=opencv_pin(requirements),
        pillow_version=requirement_pin("pillow", requirements),
        openvino_version=requirement_pin("openvino", requirements),
        pillow_heif_version=requirement_pin("pillow-heif", requirements),
        av_version=requirement_pin("av", requirements),
        cluster=cluster,
        extra_labels=_labels(values),
        job=_job(values),
        seed_samples=_bool(values, "seed_samples"),
        adopt_results_bucket=_bool(values, "adopt_results_bucket"),
        runner=_choice(values, "runner", RUNNERS),
        batch=_batch(values, project=project, region=region, stack=stack),
        feed=FeedConfig(
            enabled=_bool(values, "feed"),
            interval=_duration_seconds(values, "feed_interval", 60, 86_400) or "300s",
            max_deliveries=_int(values, "feed_max_deliveries", 5, 100),
        ),
    )


def _choice(values: Mapping[str, Any], name: str, choices: tuple[str, ...]) -> str:
    value = str(_get(values, name)).strip().lower()
    if value not in choices:
        raise ConfigError(_key(name), f"'{value}' is not valid", DEFAULTS[name][1])
    return value


def _batch(values: Mapping[str, Any], *, project: str, region: str, stack: str) -> BatchConfig:
    """The batch_* keys: the image must be the stack's own, pinned by digest.

    A digest, not a tag: the batch id hashes the reference, so a moved tag would run new code
    under an old id (or not at all); and the batch account may read only the stack's repository.
    """
    image = str(_get(values, "batch_image")).strip()
    registry = re.escape(f"{region}-docker.pkg.dev/{project}/dpf-{stack}-images/")
    if image and not re.match(rf"^{registry}[a-z0-9][a-z0-9._/-]*@sha256:[0-9a-f]{{64}}$", image):
        raise ConfigError(
            _key("batch_image"),
            f"'{image}' is not an image of this stack's repository pinned by digest",
            DEFAULTS["batch_image"][1],
        )
    from dataproc_faces import jobspec

    ttl = str(_get(values, "batch_ttl")).strip()
    try:
        ttl = jobspec.check_batch_ttl(ttl)
    except ValueError:
        raise ConfigError(
            _key("batch_ttl"), f"'{ttl}' is not valid", DEFAULTS["batch_ttl"][1]
        ) from None
    return BatchConfig(
        image=image,
        runtime_version=_choice(values, "batch_runtime_version", BATCH_RUNTIMES),
        ttl=ttl,
    )


def _job(values: Mapping[str, Any]) -> JobConfig:
    """The job_* keys; detector options are checked by the job's own rules (dataproc_faces)."""
    from dataproc_faces import jobspec

    run_id = str(_get(values, "job_run_id")).strip()
    try:
        jobspec.check_run_id(run_id)
    except ValueError:
        raise ConfigError(
            _key("job_run_id"), f"'{run_id}' is not valid", DEFAULTS["job_run_id"][1]
        ) from None
    prefix = str(_get(values, "job_input_prefix")).strip()
    if prefix and not re.match(r"^gs://[a-z0-9][a-z0-9._-]{1,221}[a-z0-9](/.*)?$", prefix):
        raise ConfigError(
            _key("job_input_prefix"),
            f"'{prefix}' is not a gs:// URI",
            DEFAULTS["job_input_prefix"][1],
        )
    detect = _get(values, "job_detect")
    if isinstance(detect, str):
        try:
            detect = json.loads(detect)
        except json.JSONDecodeError:
            raise ConfigError(
                _key("job_detect"), "is not a map", DEFAULTS["job_detect"][1]
            ) from None
    if not isinstance(detect, Mapping):
        raise ConfigError(_key("job_detect"), "is not a map", DEFAULTS["job_detect"][1])
    render = _map(values, "job_render")
    try:
        mode = jobspec.render_options(render).mode
    except ValueError as exc:
        raise ConfigError(_key("job_render"), str(exc), DEFAULTS["job_render"][1]) from None
    try:
        jobspec.detect_options(detect, mode=mode)
    except ValueError as exc:
        raise ConfigError(_key("job_detect"), str(exc), DEFAULTS["job_detect"][1]) from None
    return JobConfig(
        submit=_bool(values, "job_submit"),
        wait=_bool(values, "job_wait"),
        run_id=run_id,
        input_prefix=prefix,
        detect=dict(detect),
        render=dict(render),
    )


def _map(values: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """A map-valued key, as YAML or as the JSON text Pulumi hands programs."""
    raw = _get(values, name)
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raise ConfigError(_key(name), "is not a map", DEFAULTS[name][1]) from None
    if not isinstance(raw, Mapping):
        raise ConfigError(_key(name), "is not a map", DEFAULTS[name][1])
    return raw


def load() -> StackConfig:
    """Read this stack's config from Pulumi and validate it."""
    cfg = pulumi.Config(PROJECT_NAME)
    values: dict[str, Any] = {}
    for name in DEFAULTS:
        raw = cfg.get_object(name) if name == "labels" else cfg.get(name)
        if raw is not None:
            values[name] = raw
    # Keys set in the stack file but unknown to the program are reported, not silently ignored.
    for full_key in _configured_keys():
        namespace, _, name = full_key.partition(":")
        if namespace == PROJECT_NAME and name not in DEFAULTS:
            values[name] = "?"
    cfg = parse(
        values,
        project=pulumi.Config("gcp").get("project"),
        stack=pulumi.get_stack(),
    )
    for message in cfg.warnings:
        pulumi.log.warn(message)
    return cfg


def _configured_keys() -> list[str]:
    """All config keys the engine passed in (so typos are caught)."""
    from pulumi.runtime import config as runtime_config

    return [*runtime_config.CONFIG.get(), *runtime_config.get_config_env()]
