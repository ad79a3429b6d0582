"""What a first boot races: Cloud NAT, firewalls, IAM propagation; and what must not rebuild the
cluster: a BucketObject the provider wants to replace."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from stackrun import Recorded
from test_job import run_program

from dataproc_faces.remote import parse_env_lines
from infra.artifacts import CURRENT_OBJECT, render_current
from infra.devhost import (
    APP_DIR,
    PROFILE,
    SYNC,
    SYNC_MINUTES,
    SYNC_TIMER,
    SYNC_UNIT,
    WEB_ENV,
    WEB_UNIT,
    render_startup_script,
)

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


CURRENT = "gs://b/artifacts/current.env"
URIS = {
    "requirements": "gs://b/artifacts/requirements-0123456789abcdef.txt",
    "constraints": "gs://b/artifacts/constraints-0123456789abcdef.txt",
    "package": "gs://b/artifacts/dataproc_faces-0123456789abcdef.zip",
    "main": "gs://b/artifacts/main-0123456789abcdef.py",
}

# Stand-ins for what the script calls. Each fails its first $FAIL_<NAME> calls (as a 403 before
# grants propagate, or an unreachable network before NAT routes), then works. `gcloud storage cp`
# copies gs://X from $SANDBOX/gcs/X when that file exists, else writes "copied gs://X".
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
  gcloud)
    src="$SANDBOX/gcs/${3#gs://}"
    if [ -f "$src" ]; then cp "$src" "$4"; else echo "copied $3" > "$4"; fi ;;
  python3) mkdir -p "$3/bin" && cp "$SANDBOX/bin/pip" "$3/bin/" && cp "$3/bin/pip" "$3/bin/python";;
esac
exit 0
"""


def _moved(text: str, tmp_path: Path) -> str:
    """The script's absolute paths moved under tmp_path."""
    return (
        text.replace("/usr/local/bin/dataproc-faces", str(tmp_path / "cli"))
        .replace(SYNC_UNIT, str(tmp_path / "sync.service"))
        .replace(SYNC_TIMER, str(tmp_path / "sync.timer"))
        .replace(SYNC, str(tmp_path / "sbin" / "sync"))
        .replace(PROFILE, str(tmp_path / "profile.sh"))
        .replace(APP_DIR, str(tmp_path / "app"))
        .replace(WEB_UNIT, str(tmp_path / "web.service"))
        .replace(WEB_ENV, str(tmp_path / "etc" / "web.env"))
    )


def _sandbox(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """The rendered script with its absolute paths moved under tmp_path, and stub commands."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("dpkg", "apt-get", "gcloud", "python3", "pip", "sleep", "systemctl"):
        stub = bin_dir / name
        stub.write_text(_STUB)
        stub.chmod(0o755)
    text = render_startup_script(CURRENT, {"DATAPROC_FACES_PROJECT": "p"})
    script = tmp_path / "startup.sh"
    script.write_text(_moved(text, tmp_path))
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "SANDBOX": str(tmp_path),
        "HOME": str(tmp_path),
    }
    return script, env


def _publish(
    tmp_path: Path, version: str, settings: dict[str, str] | None = None
) -> dict[str, str]:
    """An `up`: artefacts named for `version` and the fixed-name object listing them (and the
    runner's `settings`)."""
    uris = {role: uri.replace("0123456789abcdef", version) for role, uri in URIS.items()}
    gcs = tmp_path / "gcs"
    for role, uri in uris.items():
        path = gcs / uri.removeprefix("gs://")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{role} {version}\n")
    (gcs / CURRENT.removeprefix("gs://")).write_text(render_current(uris, settings))
    return uris


def _calls(tmp_path: Path, name: str) -> int:
    path = tmp_path / f"calls.{name}"
    return int(path.read_text()) if path.exists() else 0


def _slept(tmp_path: Path) -> list[int]:
    path = tmp_path / "slept"
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def _run(script: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(script)], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_startup_script_retries_apt_copies_and_pip_with_backoff(tmp_path: Path) -> None:
    script, env = _sandbox(tmp_path)
    uris = _publish(tmp_path, "1111111111111111")
    env |= {"FAIL_apt_get": "2", "FAIL_gcloud": "3", "FAIL_pip": "1"}
    proc = _run(script, env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("dataproc-faces: devhost ready")
    app = tmp_path / "app"
    assert (app / "requirements.txt").read_text() == "requirements 1111111111111111\n"
    assert (app / "constraints.txt").read_text() == "constraints 1111111111111111\n"
    assert (app / "dataproc_faces.zip").read_text() == "package 1111111111111111\n"
    assert (app / "main.py").read_text() == "main 1111111111111111\n"
    assert (tmp_path / "cli").stat().st_mode & 0o777 == 0o755
    # apt-get: 2 failures then update and install; gcloud: 3 failures then the artefacts object
    # and its 4 artefacts; pip: 1 + 1, the requirements under the tested constraints.
    assert (_calls(tmp_path, "apt-get"), _calls(tmp_path, "gcloud")) == (4, 8)
    assert _calls(tmp_path, "pip") == 2
    log = (tmp_path / "log").read_text().splitlines()
    assert f"pip install -q -r {app}/requirements.txt -c {app}/constraints.txt" in log
    assert f"gcloud storage cp {uris['package']} {app}/dataproc_faces.zip.new" in log
    # the page's service: unit and environment written, then reload, enable, timer, restart
    assert "serve --cloud" in (tmp_path / "web.service").read_text()
    assert f"EnvironmentFile=-{app}/current.env" in (tmp_path / "web.service").read_text()
    assert "DATAPROC_FACES_PROJECT=p" in (tmp_path / "etc" / "web.env").read_text().splitlines()
    assert [line for line in log if line.startswith("systemctl")] == [
        "systemctl daemon-reload",
        "systemctl enable dataproc-faces-web.service",
        "systemctl enable --now dataproc-faces-sync.timer",
        "systemctl restart dataproc-faces-web.service",
        "systemctl start dataproc-faces-web.service",
    ]
    assert f"OnUnitActiveSec={SYNC_MINUTES}min" in (tmp_path / "sync.timer").read_text()
    # apt-get update twice, the first copy three times, pip once: each backoff starts at 5 s.
    assert _slept(tmp_path) == [5, 10, 5, 10, 20, 5]
    assert proc.stderr.count("retrying in") == 6


def test_the_devhost_follows_an_up_that_replaces_the_artefacts(tmp_path: Path) -> None:
    """The startup script runs once per boot; the timer's sync follows the fixed-name object."""
    script, env = _sandbox(tmp_path)
    _publish(tmp_path, "1111111111111111")
    assert _run(script, env).returncode == 0
    sync = tmp_path / "sbin" / "sync"
    app = tmp_path / "app"
    restarts = "systemctl restart dataproc-faces-web.service"

    # Nothing deployed since: the timer's run copies one small object and changes nothing.
    before = ((tmp_path / "log").read_text(), (app / "dataproc_faces.zip").read_text())
    again = _run(sync, env)
    assert again.returncode == 0, again.stderr
    log = (tmp_path / "log").read_text()
    assert log[len(before[0]) :].splitlines() == [
        f"gcloud storage cp {CURRENT} {app}/current.env.new"
    ]
    assert not (app / "current.env.new").exists()

    # An `up` with new code: new objects, the old ones deleted, the fixed object rewritten.
    shutil.rmtree(tmp_path / "gcs")
    new = _publish(tmp_path, "2222222222222222")
    synced = _run(sync, env)
    assert synced.returncode == 0, synced.stderr
    assert synced.stdout.strip() == f"dataproc-faces: now on {new['package']}"
    assert (app / "dataproc_faces.zip").read_text() == "package 2222222222222222\n"
    assert (app / "main.py").read_text() == "main 2222222222222222\n"
    assert (tmp_path / "log").read_text().count(restarts) == 2
    assert not list(app.glob("*.new"))
    # A login shell (profile) and the page's service (EnvironmentFile) see the new URIs.
    shell = subprocess.run(
        ["bash", "-c", f". {tmp_path / 'profile.sh'}; echo $DATAPROC_FACES_JOB_PACKAGE"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert shell.stdout.strip() == new["package"]
    assert (
        parse_env_lines((app / "current.env").read_text())["DATAPROC_FACES_JOB_MAIN"]
        == (new["main"])
    )


IMAGE = "europe-west1-docker.pkg.dev/p/dpf-dev-images/dataproc-faces-batch@sha256:"


def _login_shell(tmp_path: Path, *names: str) -> list[str]:
    """What a new login shell on the devhost sees (the profile the startup script wrote)."""
    echo = "; ".join(f'echo "${{{n}:-}}"' for n in names)
    shell = subprocess.run(
        ["bash", "-c", f". {tmp_path / 'profile.sh'}; {echo}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return shell.stdout.splitlines()


def test_a_pushed_image_or_a_new_runner_reaches_the_devhost_without_a_reboot(
    tmp_path: Path,
) -> None:
    """The documented flow: a first `up` without an image, a push, a second `up` with
    batch_image set. The startup script does not run again; the sync must follow the object."""
    script, env = _sandbox(tmp_path)
    first = {"DATAPROC_FACES_RUNNER": "serverless", "DATAPROC_FACES_BATCH_TTL": "86400s"}
    _publish(tmp_path, "1111111111111111", first)
    assert _run(script, env).returncode == 0
    assert _login_shell(tmp_path, "DATAPROC_FACES_BATCH_IMAGE") == [""]
    sync = tmp_path / "sbin" / "sync"
    restarts = "systemctl restart dataproc-faces-web.service"
    assert (tmp_path / "log").read_text().count(restarts) == 1

    # The second `up`: the same code, the image pushed and set: the page restarts on it.
    _publish(tmp_path, "1111111111111111", {**first, "DATAPROC_FACES_BATCH_IMAGE": IMAGE + "a"})
    assert _run(sync, env).returncode == 0
    assert (tmp_path / "log").read_text().count(restarts) == 2
    assert _login_shell(tmp_path, "DATAPROC_FACES_BATCH_IMAGE", "DATAPROC_FACES_RUNNER") == [
        IMAGE + "a",
        "serverless",
    ]
    # The page's unit reads the same file after the deploy's own environment: the later wins.
    unit = (tmp_path / "web.service").read_text()
    assert unit.index(f"EnvironmentFile={tmp_path / 'etc' / 'web.env'}") < unit.index(
        f"EnvironmentFile=-{tmp_path / 'app'}/current.env"
    )
    current = parse_env_lines((tmp_path / "app" / "current.env").read_text())
    assert current["DATAPROC_FACES_BATCH_IMAGE"] == IMAGE + "a"

    # A later push, then a change of runner: each is followed, each restarts the page.
    _publish(tmp_path, "1111111111111111", {**first, "DATAPROC_FACES_BATCH_IMAGE": IMAGE + "b"})
    assert _run(sync, env).returncode == 0
    assert _login_shell(tmp_path, "DATAPROC_FACES_BATCH_IMAGE") == [IMAGE + "b"]
    _publish(
        tmp_path,
        "1111111111111111",
        {"DATAPROC_FACES_RUNNER": "cluster", "DATAPROC_FACES_CLUSTER": "dpf-dev-cluster"},
    )
    assert _run(sync, env).returncode == 0
    assert _login_shell(tmp_path, "DATAPROC_FACES_RUNNER", "DATAPROC_FACES_CLUSTER") == [
        "cluster",
        "dpf-dev-cluster",
    ]
    assert (tmp_path / "log").read_text().count(restarts) == 4


def test_startup_script_outlasts_iam_propagation_then_fails_clearly(tmp_path: Path) -> None:
    script, env = _sandbox(tmp_path)
    env |= {"FAIL_gcloud": "1000"}  # the grant never arrives
    proc = _run(script, env)
    assert proc.returncode == 1
    slept = _slept(tmp_path)
    assert slept == [5, 10, 20, 40] + [60] * 7
    assert sum(slept) > IAM_PROPAGATION_SECONDS
    assert proc.stderr.strip().splitlines()[-1] == (
        f"dataproc-faces: gave up after 12 attempts: gcloud storage cp {CURRENT}"
        f" {tmp_path / 'app'}/current.env.new"
    )
    assert "devhost ready" not in proc.stdout


def test_the_devhost_script_names_no_artefact_so_a_code_change_leaves_the_vm_alone(
    tmp_path: Path, recorded
) -> None:
    """Compute Engine runs a changed startup-script only at the next boot: the devhost must not
    depend on it to learn the new artefacts' names (they are in the fixed-name object)."""
    dev = recorded("dev")
    script = dev.one(INSTANCE)["inputs"]["metadata"]["startup-script"]
    out = dev.outputs
    assert out["job_package_uri"] not in script and out["job_main_uri"] not in script
    assert not re.search(r"-[0-9a-f]{16}\.(zip|py|txt)", script)
    staging = dev.named("gcp:storage/bucket:Bucket", "-storage-staging")["inputs"]["name"]
    assert f"gcloud storage cp gs://{staging}/{CURRENT_OBJECT} " in script
    current = dev.named(OBJECT, "-artifacts-current")
    assert current["inputs"]["name"] == CURRENT_OBJECT and current["delete_before_replace"]
    listed = parse_env_lines(_secret(current["inputs"]["content"]))
    assert listed["DATAPROC_FACES_JOB_PACKAGE"] == out["job_package_uri"]
    assert listed["DATAPROC_FACES_JOB_MAIN"] == out["job_main_uri"]
    names = {f"gs://{staging}/{o['inputs']['name']}" for o in dev.of_type(OBJECT)}
    assert {listed["DATAPROC_FACES_REQUIREMENTS"], listed["DATAPROC_FACES_CONSTRAINTS"]} <= names
    assert re.fullmatch(
        rf"gs://{staging}/artifacts/constraints-[0-9a-f]{{16}}\.txt",
        listed["DATAPROC_FACES_CONSTRAINTS"],
    )
    # Nothing else waits on the fixed-name object: replacing it must not replace anything.
    assert not [r for r in dev.resources if current["urn"] in r["dependencies"]]

    # The same program with other job code: the VM's metadata is the same, the object is not.
    (before, _), (after, _) = (run_program(tmp_path, {}, t) for t in ("-", "code_change"))
    assert before.returncode == after.returncode == 0, after.stderr
    runs = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("dev-*.json"))]
    assert len(runs) == 2
    scripts = {
        r["inputs"]["metadata"]["startup-script"]
        for run in runs
        for r in run["resources"]
        if r["type"] == INSTANCE
    }
    contents = {
        _secret(r["inputs"]["content"])
        for run in runs
        for r in run["resources"]
        if r["name"].endswith("-artifacts-current")
    }
    assert (len(scripts), len(contents)) == (1, 2)


def _secret(value: object) -> str:
    """The provider marks `content` secret: the mocks record the wrapped value."""
    return value["value"] if isinstance(value, dict) else value  # type: ignore[index,return-value]


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not on PATH")
def test_startup_script_is_shellcheck_clean(tmp_path: Path) -> None:
    script = tmp_path / "startup.sh"
    script.write_text(render_startup_script(CURRENT, {"DATAPROC_FACES_PROJECT": "p q"}))
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
