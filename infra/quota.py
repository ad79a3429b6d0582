"""What a stack asks of the region's Compute Engine quotas, checked before `pulumi up`.

    .venv/bin/python -m infra.quota dev            # reads Pulumi.dev.yaml, asks gcloud
    .venv/bin/python -m infra.quota prod --regions-json saved.json

A new project's quotas are often smaller than prod's cluster (36 C3 vCPUs at start, 180 when
autoscaled, 1 TB of pd-balanced): `up` then fails after minutes with "Quota 'C3_CPUS' exceeded"
from Dataproc. This reads the region's quotas (`gcloud compute regions describe REGION --format
json`: each quota's metric, limit and usage), compares them with what the stack's config asks
for, and names the increase to request. One line per quota, exit 1 if the stack cannot start.

Which quota counts what (the metric names of the Compute Engine API's `Quota.Metric` enum, as
`gcloud compute regions describe` lists them; cloud.google.com/dataproc-serverless/quotas for
batches: standard tier CPUS and DISKS_TOTAL_GB, 8 CPUs in all on a free trial; the runtime's
defaults spark.driver.cores 4 and two executors of 4 cores, from its Spark properties page):
a machine family's vCPUs count against `<FAMILY>_CPUS` (C3_CPUS, N2_CPUS...),
E2 (the devhost) against CPUS; Spot/preemptible VMs against PREEMPTIBLE_CPUS when the region
grants it, else against their family's quota; pd-balanced and pd-ssd disks against
SSD_TOTAL_GB, pd-standard against DISKS_TOTAL_GB. A Serverless batch (standard tier) uses CPUS
and DISKS_TOTAL_GB: at least 12 vCPUs (a 4-core driver and 2 executors of 4 cores, the runtime's
defaults) and more as it scales out.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.config import REPO_ROOT, ConfigError, StackConfig, parse

# The devhost's boot disk (infra/devhost.py) and the shared-core E2 types' vCPUs.
DEVHOST_DISK_GB = 20
_SHARED_CORE = {"e2-micro": 2, "e2-small": 2, "e2-medium": 2, "f1-micro": 1, "g1-small": 1}
# A batch's vCPUs with the runtime's defaults: spark.driver.cores 4, 2 executors of 4 cores.
BATCH_MIN_CPUS = 12
SSD_DISKS = ("pd-balanced", "pd-ssd")
QUOTAS_PAGE = "https://console.cloud.google.com/iam-admin/quotas"


class QuotaError(ValueError):
    """Bad input to the check (a machine type it cannot count, unreadable quotas): one line."""


@dataclass(frozen=True)
class Need:
    """One quota the stack uses: what it takes at `up`, and at most when autoscaled."""

    metric: str
    start: float
    most: float
    what: str


def vcpus(machine_type: str) -> int:
    """The vCPUs of a machine type: `c3-standard-8` 8, `custom-6-23040` 6, `e2-medium` 2."""
    if machine_type in _SHARED_CORE:
        return _SHARED_CORE[machine_type]
    custom = re.fullmatch(r"(?:[a-z0-9]+-)?custom-([0-9]+)-[0-9]+(?:-ext)?", machine_type)
    if custom:
        return int(custom.group(1))
    found = re.fullmatch(r"[a-z][a-z0-9]*-[a-z]+-([0-9]+)(?:-[a-z0-9]+)*", machine_type)
    if not found:
        raise QuotaError(f"machine type {machine_type!r}: cannot tell its vCPUs")
    return int(found.group(1))


def _cpu_metric(machine_type: str) -> str:
    family = machine_type.split("-", 1)[0]
    return "CPUS" if family in ("e2", "n1", "f1", "g1") else f"{family.upper()}_CPUS"


def needs(cfg: StackConfig, *, preemptible_quota: bool = False) -> list[Need]:
    """What the stack's config asks of the region; `preemptible_quota`: the region grants
    PREEMPTIBLE_CPUS, where Spot secondary workers then count instead of their family's."""
    found: dict[str, list[float]] = {}
    whats: dict[str, list[str]] = {}

    def add(metric: str, start: float, most: float, what: str) -> None:
        now = found.setdefault(metric, [0.0, 0.0])
        now[0] += start
        now[1] += most
        whats.setdefault(metric, []).append(what)

    devhost = cfg.devhost_machine_type
    add(_cpu_metric(devhost), vcpus(devhost), vcpus(devhost), f"devhost {devhost}")
    add("SSD_TOTAL_GB", DEVHOST_DISK_GB, DEVHOST_DISK_GB, "devhost boot disk")
    if cfg.uses_cluster:
        c = cfg.cluster
        disk = "SSD_TOTAL_GB" if c.boot_disk_type in SSD_DISKS else "DISKS_TOTAL_GB"
        if c.boot_disk_type.startswith("hyperdisk"):
            disk = "HYPERDISK_BALANCED_TOTAL_GB"
        nodes = 1 + c.worker_count
        metric = _cpu_metric(c.worker_machine_type)
        add(_cpu_metric(c.master_machine_type), vcpus(c.master_machine_type),
            vcpus(c.master_machine_type), f"master {c.master_machine_type}")  # fmt: skip
        if c.worker_count:
            add(metric, c.worker_count * vcpus(c.worker_machine_type),
                c.worker_count * vcpus(c.worker_machine_type),
                f"{c.worker_count} workers {c.worker_machine_type}")  # fmt: skip
        most_secondary = max(c.secondary_worker_count, c.autoscaling_max_secondary_workers)
        if most_secondary:
            spot = "PREEMPTIBLE_CPUS" if preemptible_quota else metric
            each = vcpus(c.worker_machine_type)
            add(spot, c.secondary_worker_count * each, most_secondary * each,
                f"{c.secondary_worker_count} to {most_secondary} secondary workers"
                f" {c.worker_machine_type}")  # fmt: skip
        add(disk, (nodes + c.secondary_worker_count) * c.boot_disk_size_gb,
            (nodes + most_secondary) * c.boot_disk_size_gb,
            f"{c.boot_disk_type} boot disks of {c.boot_disk_size_gb} GB")  # fmt: skip
    if cfg.uses_serverless:
        add("CPUS", BATCH_MIN_CPUS, BATCH_MIN_CPUS, "a Serverless batch, at least")
    return [
        Need(metric, start, most, ", ".join(whats[metric]))
        for metric, (start, most) in sorted(found.items())
    ]


def region_quotas(described: Mapping[str, Any]) -> dict[str, tuple[float, float]]:
    """metric -> (limit, usage) from `gcloud compute regions describe --format json`."""
    try:
        return {
            str(q["metric"]): (float(q["limit"]), float(q.get("usage", 0)))
            for q in described["quotas"]
        }
    except (KeyError, TypeError, ValueError):
        raise QuotaError("the region's description has no readable 'quotas' list") from None


def _n(value: float) -> str:
    return f"{value:g}"


def verdicts(cfg: StackConfig, described: Mapping[str, Any]) -> tuple[list[str], bool]:
    """One line per quota (PASS, WARN: fits at start but not autoscaled, FAIL) and whether the
    stack can start."""
    quotas = region_quotas(described)
    preemptible = quotas.get("PREEMPTIBLE_CPUS", (0.0, 0.0))[0] > 0
    lines, ok = [], True
    for need in needs(cfg, preemptible_quota=preemptible):
        if need.metric not in quotas:
            lines.append(
                f"SKIP {need.metric}: the region lists no such quota ({need.what}:"
                f" {_n(need.start)})"
            )
            continue
        limit, usage = quotas[need.metric]
        free = limit - usage
        asks = _n(need.start) + (f" ({_n(need.most)} autoscaled)" if need.most > need.start else "")
        where = f"{_n(free)} free of {_n(limit)} in {cfg.region}"
        request = (
            f"ask for {need.metric} >= {_n(usage + need.most)} in {cfg.region} ({QUOTAS_PAGE}"
            f"?project={cfg.project}, filter by the metric)"
        )
        if free >= need.most:
            lines.append(f"PASS {need.metric}: needs {asks}, {where}")
        elif free >= need.start:
            lines.append(
                f"WARN {need.metric}: needs {asks}, {where}: the cluster starts but cannot"
                f" scale out fully; {request}"
            )
        else:
            ok = False
            lines.append(f"FAIL {need.metric}: needs {asks} ({need.what}), {where}; {request}")
    return lines, ok


def stack_file_config(stack: str, root: Path = REPO_ROOT) -> tuple[dict[str, Any], str | None]:
    """The stack file's dataproc-faces keys (without the namespace) and its gcp:project."""
    path = root / f"Pulumi.{stack}.yaml"
    try:
        import yaml

        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise QuotaError(f"{path}: {exc.strerror}") from None
    config = raw.get("config") or {}
    values = {k.split(":", 1)[1]: v for k, v in config.items() if k.startswith("dataproc-faces:")}
    return values, config.get("gcp:project")


def describe_region(project: str, region: str) -> dict[str, Any]:
    """`gcloud compute regions describe` as JSON (the deployer's own credentials)."""
    command = ["gcloud", "compute", "regions", "describe", region, "--project", project]
    try:
        done = subprocess.run(
            [*command, "--format", "json"], capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        raise QuotaError("gcloud is not on PATH: install the Google Cloud CLI") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise QuotaError(f"{' '.join(command)} failed: {last}")
    return json.loads(done.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.quota", description=__doc__)
    parser.add_argument("stack", help="dev or prod: reads Pulumi.<stack>.yaml")
    parser.add_argument("--project", help="the project (default: the stack file's gcp:project)")
    parser.add_argument(
        "--regions-json", metavar="FILE", help="a saved `gcloud compute regions describe` JSON"
    )
    args = parser.parse_args(argv)
    try:
        values, project = stack_file_config(args.stack)
        project = args.project or project
        cfg = parse(values, project=project, stack=args.stack)
        if args.regions_json:
            described = json.loads(Path(args.regions_json).read_text(encoding="utf-8"))
        else:
            described = describe_region(cfg.project, cfg.region)
        lines, ok = verdicts(cfg, described)
    except (ConfigError, QuotaError, OSError, json.JSONDecodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
