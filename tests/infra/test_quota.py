"""infra/quota.py: what each stack asks of the region's Compute Engine quotas, and the check
against `gcloud compute regions describe` (a stand-in gcloud prints saved descriptions)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from stackrun import REPO

from infra.config import parse
from infra.quota import QuotaError, needs, stack_file_config, vcpus, verdicts

PROJECT = "faces-test-project"


def _cfg(stack: str, **overrides: object):
    values, _ = stack_file_config(stack)
    return parse({**values, **overrides}, project=PROJECT, stack=stack)


def _table(cfg, **kw) -> dict[str, tuple[float, float]]:
    return {n.metric: (n.start, n.most) for n in needs(cfg, **kw)}


def test_prod_needs_36_c3_vcpus_at_start_180_autoscaled_and_a_terabyte_of_ssd() -> None:
    # master c3-standard-4, 2 workers and 2 Spot secondaries c3-standard-8 (up to 20), 200 GB
    # pd-balanced each; the devhost e2-medium with 20 GB.
    assert _table(_cfg("prod")) == {
        "C3_CPUS": (4 + 2 * 8 + 2 * 8, 4 + 2 * 8 + 20 * 8),
        "CPUS": (2, 2),
        "SSD_TOTAL_GB": (5 * 200 + 20, 23 * 200 + 20),
    }
    # Where the region grants preemptible quota, the Spot workers count there instead.
    assert _table(_cfg("prod"), preemptible_quota=True) == {
        "C3_CPUS": (20, 20),
        "PREEMPTIBLE_CPUS": (16, 160),
        "CPUS": (2, 2),
        "SSD_TOTAL_GB": (1020, 4620),
    }


def test_dev_and_a_serverless_stack() -> None:
    assert _table(_cfg("dev")) == {"C3_CPUS": (4, 4), "CPUS": (2, 2), "SSD_TOTAL_GB": (70, 70)}
    # No cluster: the devhost and at least one batch's 12 vCPUs (driver 4 + 2 executors x 4).
    assert _table(_cfg("dev", runner="serverless")) == {"CPUS": (14, 14), "SSD_TOTAL_GB": (20, 20)}
    both = _table(_cfg("dev", runner="both", boot_disk_type="pd-ssd"))
    assert both == {"C3_CPUS": (4, 4), "CPUS": (14, 14), "SSD_TOTAL_GB": (70, 70)}
    standard = _table(
        _cfg(
            "dev",
            machine_family="n2",
            master_machine_type="n2-highmem-16",
            worker_machine_type="n2-standard-4",
            boot_disk_type="pd-standard",
        )
    )
    assert standard == {
        "N2_CPUS": (16, 16),
        "CPUS": (2, 2),
        "DISKS_TOTAL_GB": (50, 50),
        "SSD_TOTAL_GB": (20, 20),
    }


@pytest.mark.parametrize(
    ("machine", "count"),
    [
        ("c3-standard-8", 8),
        ("c3-highcpu-176", 176),
        ("e2-medium", 2),
        ("n2-custom-6-23040", 6),
        ("c3-standard-4-lssd", 4),
        ("e2-standard-2", 2),
    ],
)
def test_vcpus_of_a_machine_type(machine: str, count: int) -> None:
    assert vcpus(machine) == count


def test_a_machine_type_it_cannot_count_is_one_line() -> None:
    with pytest.raises(QuotaError, match=r"^machine type 'weird': cannot tell its vCPUs$"):
        vcpus("weird")


def _region(**quotas: tuple[float, float]) -> dict:
    return {
        "kind": "compute#region",
        "name": "europe-west1",
        "quotas": [{"metric": m, "limit": lim, "usage": use} for m, (lim, use) in quotas.items()],
    }


# A new project's usual quotas (what `gcloud compute regions describe` lists, shortened).
NEW_PROJECT = _region(
    CPUS=(24.0, 0.0), C3_CPUS=(24.0, 0.0), SSD_TOTAL_GB=(500.0, 0.0), PREEMPTIBLE_CPUS=(0.0, 0.0)
)
PAGE = f"https://console.cloud.google.com/iam-admin/quotas?project={PROJECT}"


def test_a_new_projects_quotas_refuse_prod_and_name_the_increase() -> None:
    lines, ok = verdicts(_cfg("prod"), NEW_PROJECT)
    assert not ok
    assert lines == [
        "FAIL C3_CPUS: needs 36 (180 autoscaled) (master c3-standard-4, 2 workers"
        " c3-standard-8, 2 to 20 secondary workers c3-standard-8), 24 free of 24 in"
        f" europe-west1; ask for C3_CPUS >= 180 in europe-west1 ({PAGE}, filter by the metric)",
        "PASS CPUS: needs 2, 24 free of 24 in europe-west1",
        "FAIL SSD_TOTAL_GB: needs 1020 (4620 autoscaled) (devhost boot disk, pd-balanced boot"
        " disks of 200 GB), 500 free of 500 in europe-west1; ask for SSD_TOTAL_GB >= 4620 in"
        f" europe-west1 ({PAGE}, filter by the metric)",
    ]


def test_room_to_start_but_not_to_scale_out_warns() -> None:
    region = _region(CPUS=(24.0, 4.0), C3_CPUS=(100.0, 10.0), SSD_TOTAL_GB=(10000.0, 0.0))
    lines, ok = verdicts(_cfg("prod"), region)
    assert ok
    assert lines[0] == (
        "WARN C3_CPUS: needs 36 (180 autoscaled), 90 free of 100 in europe-west1: the cluster"
        " starts but cannot scale out fully; ask for C3_CPUS >= 190 in europe-west1"
        f" ({PAGE}, filter by the metric)"
    )
    assert lines[1:] == [
        "PASS CPUS: needs 2, 20 free of 24 in europe-west1",
        "PASS SSD_TOTAL_GB: needs 1020 (4620 autoscaled), 10000 free of 10000 in europe-west1",
    ]


_GCLOUD = """#!/bin/bash
echo "gcloud $*" >> "$CALLS"
cat "$DESCRIBED"
"""


def _run(tmp_path: Path, described: dict, *args: str) -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "gcloud").write_text(_GCLOUD)
    (bin_dir / "gcloud").chmod(0o755)
    (tmp_path / "described.json").write_text(json.dumps(described))
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "CALLS": str(tmp_path / "calls"),
        "DESCRIBED": str(tmp_path / "described.json"),
    }
    return subprocess.run(
        [sys.executable, "-m", "infra.quota", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_command_asks_gcloud_for_the_stacks_region(tmp_path: Path) -> None:
    proc = _run(tmp_path, NEW_PROJECT, "prod", "--project", PROJECT)
    assert proc.returncode == 1, proc.stderr
    assert [line.split(":")[0] for line in proc.stdout.splitlines()] == [
        "FAIL C3_CPUS",
        "PASS CPUS",
        "FAIL SSD_TOTAL_GB",
    ]
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls == [
        f"gcloud compute regions describe europe-west1 --project {PROJECT} --format json"
    ]
    proc = _run(tmp_path, NEW_PROJECT, "dev", "--project", PROJECT)
    assert (proc.returncode, proc.stdout.count("PASS ")) == (0, 3), proc.stdout


def test_a_saved_description_and_bad_input_are_one_line(tmp_path: Path) -> None:
    saved = tmp_path / "saved.json"
    saved.write_text(json.dumps(NEW_PROJECT))
    proc = _run(tmp_path, {}, "dev", "--project", PROJECT, "--regions-json", str(saved))
    assert proc.returncode == 0 and not (tmp_path / "calls").exists()
    proc = _run(tmp_path, {"kind": "x"}, "dev", "--project", PROJECT)
    assert (proc.returncode, proc.stderr) == (
        2,
        "error: the region's description has no readable 'quotas' list\n",
    )
    proc = _run(tmp_path, NEW_PROJECT, "dev")  # the stack file names no project
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: config key 'gcp:project': is not set")
