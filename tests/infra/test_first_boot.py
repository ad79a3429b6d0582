"""What a first boot races: Cloud NAT, firewalls, IAM propagation; and what must not rebuild the
cluster: a BucketObject the provider wants to replace."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from stackrun import Recorded
from test_job import run_program

from infra.devhost import APP_DIR, WEB_ENV, WEB_UNIT, render_startup_script

CLUSTER = "gcp:dataproc/cluster:Cluster"
INSTANCE = "gcp:compute/instance:Instance"
OBJECT = "gcp:storage/bucketObject:BucketObject"
EGRESS = (
    "gcp:compute/router:Router",
    "gcp:compute/routerNat:RouterNat",
    "gcp:compute/firewall:Firewall",
)
IAM_PROPAGATION_SECONDS = 7 * 60  # Google: an IAM change can take up to 7 minutes to apply


def test_vms_wait_for_nat_router_and_firewalls(stack: Recorded) -> None:
    egress = [r["urn"] for token in EGRESS for r in stack.of_type(token)]
    assert len(egress) == 5  # router, NAT, internal, IAP SSH, IAP web
    for token in (CLUSTER, INSTANCE):
        vm = stack.one(token)
        missing = [u for u in egress if u not in vm["dependencies"]]
        assert missing == [], f"{vm['name']} does not wait for {missing}"


def test_cluster_depends_on_the_init_action_object_but_not_through_its_inputs(
    stack: Recorded,
) -> None:
    cluster = stack.one(CLUSTER)
    script = cluster["inputs"]["clusterConfig"]["initializationActions"][0]["script"]
    objects = stack.of_type(OBJECT, at_least=4)
    (init,) = [o for o in objects if script.endswith("/" + o["inputs"]["name"])]
    assert script == stack.outputs["init_action_uri"]
    # Created first: a direct dependency.
    assert init["urn"] in cluster["dependencies"]
    # Not an input dependency: the engine replaces resources whose inputs depend on a resource
    # it deletes before replacing (a fixed-name object), so the cluster would go with it.
    deps = cluster["property_dependencies"]
    assert deps["clusterConfig"], "the mocks recorded no property dependencies"
    input_deps = {u for urns in deps.values() for u in urns}
    assert stack.named("gcp:storage/bucket:Bucket", "-storage-staging")["urn"] in input_deps
    assert not input_deps & {o["urn"] for o in objects}


URIS = {
    "requirements": "gs://b/artifacts/requirements-0123456789abcdef.txt",
    "package": "gs://b/artifacts/dataproc_faces-0123456789abcdef.zip",
    "main": "gs://b/artifacts/main-0123456789abcdef.py",
}

# Stand-ins for what the script calls. Each fails its first $FAIL_<NAME> calls (as a 403 before
# grants propagate, or an unreachable network before NAT routes), then works.
_STUB = """#!/bin/bash
name=$(basename "$0")
count_file="$SANDBOX/calls.$name"
n=$(( $(cat "$count_file" 2>/dev/null || echo 0) + 1 ))
echo "$n" > "$count_file"
echo "$name $*" >> "$SANDBOX/log"
var="FAIL_${name//-/_}"
if [ "$n" -le "${!var:-0}" ]; then echo "$name: simulated failure $n" >&2; exit 1; fi
case "$name" in
  dpkg) exit 1 ;;
  sleep) echo "$1" >> "$SANDBOX/slept" ;;
  gcloud) echo "copied $3" > "$4" ;;
  python3) mkdir -p "$3/bin" && cp "$SANDBOX/bin/pip" "$3/bin/" && cp "$3/bin/pip" "$3/bin/python";;
esac
exit 0
"""


def _sandbox(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """The rendered script with its absolute paths moved under tmp_path, and stub commands."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("dpkg", "apt-get", "gcloud", "python3", "pip", "sleep", "systemctl"):
        stub = bin_dir / name
        stub.write_text(_STUB)
        stub.chmod(0o755)
    text = render_startup_script(URIS, {"DATAPROC_FACES_PROJECT": "p"})
    text = (
        text.replace("/usr/local/bin/dataproc-faces", str(tmp_path / "cli"))
        .replace("/etc/profile.d/dataproc-faces.sh", str(tmp_path / "profile.sh"))
        .replace(APP_DIR, str(tmp_path / "app"))
        .replace(WEB_UNIT, str(tmp_path / "web.service"))
        .replace(WEB_ENV, str(tmp_path / "etc" / "web.env"))
    )
    script = tmp_path / "startup.sh"
    script.write_text(text)
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "SANDBOX": str(tmp_path),
        "HOME": str(tmp_path),
    }
    return script, env


def _slept(tmp_path: Path) -> list[int]:
    path = tmp_path / "slept"
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def test_startup_script_retries_apt_copies_and_pip_with_backoff(tmp_path: Path) -> None:
    script, env = _sandbox(tmp_path)
    env |= {"FAIL_apt_get": "2", "FAIL_gcloud": "3", "FAIL_pip": "1"}
    proc = subprocess.run(
        ["bash", str(script)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("dataproc-faces: devhost ready")
    assert (tmp_path / "app" / "requirements.txt").read_text() == f"copied {URIS['requirements']}\n"
    assert (tmp_path / "app" / "main.py").read_text() == f"copied {URIS['main']}\n"
    assert (tmp_path / "cli").stat().st_mode & 0o777 == 0o755
    # apt-get: 2 failures then update and install; gcloud: 3 failures then 3 copies; pip: 1 + 1.
    assert (tmp_path / "calls.apt-get").read_text().strip() == "4"
    assert (tmp_path / "calls.gcloud").read_text().strip() == "6"
    assert (tmp_path / "calls.pip").read_text().strip() == "2"
    # the page's service: unit and environment written, then reload, enable, restart
    assert "serve --cloud" in (tmp_path / "web.service").read_text()
    assert "DATAPROC_FACES_PROJECT=p" in (tmp_path / "etc" / "web.env").read_text().splitlines()
    assert (tmp_path / "calls.systemctl").read_text().strip() == "3"
    # apt-get update twice, the first copy three times, pip once: each backoff starts at 5 s.
    assert _slept(tmp_path) == [5, 10, 5, 10, 20, 5]
    assert proc.stderr.count("retrying in") == 6


def test_startup_script_outlasts_iam_propagation_then_fails_clearly(tmp_path: Path) -> None:
    script, env = _sandbox(tmp_path)
    env |= {"FAIL_gcloud": "1000"}  # the grant never arrives
    proc = subprocess.run(
        ["bash", str(script)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 1
    slept = _slept(tmp_path)
    assert slept == [5, 10, 20, 40] + [60] * 7
    assert sum(slept) > IAM_PROPAGATION_SECONDS
    assert proc.stderr.strip().splitlines()[-1] == (
        f"dataproc-faces: gave up after 12 attempts: gcloud storage cp {URIS['requirements']}"
        f" {tmp_path / 'app'}/requirements.txt"
    )
    assert "devhost ready" not in proc.stdout


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not on PATH")
def test_startup_script_is_shellcheck_clean(tmp_path: Path) -> None:
    script = tmp_path / "startup.sh"
    script.write_text(render_startup_script(URIS, {"DATAPROC_FACES_PROJECT": "p q"}))
    proc = subprocess.run(
        ["shellcheck", "--severity=style", str(script)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout


def test_an_init_action_uri_that_is_not_the_uploaded_object_fails_the_update(
    tmp_path: Path,
) -> None:
    proc, out = run_program(tmp_path, {}, "init_folder")
    assert proc.returncode == 32, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(
        "error: the cluster's init action gs://faces-test-project-dpf-dev-staging/"
    )
    assert "/elsewhere/install_opencv-" in line and "is not the uploaded gs://" in line
    assert not out.exists()
