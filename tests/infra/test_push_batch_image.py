"""scripts/push-batch-image.sh with stand-ins for git, docker and gcloud: an amd64 build whatever
the machine, a tag already in the immutable repository reused rather than pushed again, and a
tag of its own for a working tree with changes."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from stackrun import REPO

SCRIPT = REPO / "scripts" / "push-batch-image.sh"
REGISTRY = "europe-west1-docker.pkg.dev/my-project/dpf-dev-images"
DIGEST = "sha256:" + "ab" * 32

# git: `rev-parse` prints $COMMIT, `status --porcelain` prints $DIRTY. gcloud: `artifacts docker
# images describe` prints $EXISTING (the tag's digest) or fails as for a missing tag. docker:
# `image inspect` prints the pushed digest reference. `date` prints a fixed time. All logged.
_STUB = """#!/bin/bash
echo "$(basename "$0") $*" >> "$CALLS"
case "$(basename "$0") $1" in
  "git rev-parse") echo "$COMMIT" ;;
  "git status") printf '%s' "${DIRTY:-}" ;;
  "gcloud artifacts") [ -n "${EXISTING:-}" ] || { echo "ERROR: NOT_FOUND" >&2; exit 1; }
                      echo "$EXISTING" ;;
  "docker image") echo "$REGISTRY/dataproc-faces-batch@$DIGEST" ;;
  "date "*) echo 20261206120000 ;;
esac
"""


def _run(tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name in ("git", "gcloud", "docker", "date"):
        (bin_dir / name).write_text(_STUB)
        (bin_dir / name).chmod(0o755)
    calls = tmp_path / "calls"
    calls.write_text("")
    proc = subprocess.run(
        ["bash", str(SCRIPT), REGISTRY],
        env={
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "CALLS": str(calls),
            "COMMIT": "0123456789ab",
            "REGISTRY": REGISTRY,
            "DIGEST": DIGEST,
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return proc, calls.read_text().splitlines()


def test_a_new_commit_is_built_for_amd64_pushed_and_its_digest_printed(tmp_path: Path) -> None:
    proc, calls = _run(tmp_path)
    assert proc.returncode == 0, proc.stderr
    ref = f"{REGISTRY}/dataproc-faces-batch:0123456789ab"
    assert (
        f"docker build --platform linux/amd64 -f container/Dockerfile --target batch -t {ref} ."
    ) in calls
    assert f"docker push {ref}" in calls
    assert proc.stdout.splitlines() == [
        f"pushed {REGISTRY}/dataproc-faces-batch@{DIGEST}",
        f"next: pulumi config set dataproc-faces:batch_image {REGISTRY}/dataproc-faces-batch"
        f"@{DIGEST} && pulumi up",
    ]


def test_a_tag_already_in_the_immutable_repository_is_reused(tmp_path: Path) -> None:
    earlier = "sha256:" + "cd" * 32
    proc, calls = _run(tmp_path, EXISTING=earlier)
    assert proc.returncode == 0, proc.stderr
    assert not [c for c in calls if c.startswith(("docker build", "docker push"))]
    assert (
        f"gcloud artifacts docker images describe {REGISTRY}/dataproc-faces-batch:0123456789ab"
        " --format value(image_summary.digest)"
    ) in calls
    assert proc.stdout.splitlines()[1] == f"pushed {REGISTRY}/dataproc-faces-batch@{earlier}"


def test_a_working_tree_with_changes_gets_a_tag_of_its_own(tmp_path: Path) -> None:
    proc, calls = _run(tmp_path, DIRTY=" M spark/dataproc_faces/cli.py\n")
    assert proc.returncode == 0, proc.stderr
    assert f"docker push {REGISTRY}/dataproc-faces-batch:0123456789ab-dirty-20261206120000" in (
        calls
    )


def test_no_registry_is_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, check=False)
    assert (proc.returncode, proc.stderr) == (
        2,
        "usage: scripts/push-batch-image.sh REGISTRY (pulumi stack output image_repository)\n",
    )


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not on PATH")
def test_shellcheck_clean() -> None:
    proc = subprocess.run(
        ["shellcheck", "--severity=style", str(SCRIPT)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout


def test_the_batch_target_carries_what_serverless_asks_of_a_custom_image() -> None:
    """Google's custom-container guide: procps and tini for Spark's scripts, user and group
    spark with uid and gid 1099 and a home, no Spark inside (it is mounted at run time)."""
    text = (REPO / "container" / "Dockerfile").read_text()
    stages = re.split(r"^FROM ", text, flags=re.M)
    (batch,) = [s for s in stages if re.match(r"\S+ AS batch\b", s)]
    base = batch.split()[0]
    (parent,) = [s for s in stages if re.match(rf"\S+ AS {base}\b", s)]
    installs = " ".join(re.findall(r"apt-get install ([^\n\\]*)", parent))
    assert {"procps", "tini"} <= set(installs.split())
    assert "USER spark" in batch and "ENTRYPOINT []" in batch
    assert "groupadd --gid 1099 spark" in parent
    assert "useradd --uid 1099 --gid 1099 --create-home --home-dir /home/spark" in parent
    assert "! /opt/venv/bin/python -c 'import pyspark'" in parent  # Spark is mounted, not baked
