"""A Docker daemon and a local Debian base image for the container test, or the reason there is
none. Started here when missing (the recipe in CONVENTIONS.md: vfs storage, no bridge, no
iptables) and stopped by its PID afterwards; images built here never come from a registry."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

BASE_IMAGE = "local/debian:bookworm"
DATA_ROOT = "/var/lib/dataproc-faces-docker"  # kept between runs: layers are reused
RUN_DIR = Path("/run/dataproc-faces-docker")  # socket, exec root (dockerd leaves a mount there)
HOW_TO = (
    "as root, `apt-get install docker.io debootstrap` (make system-deps does), then "
    "`.venv/bin/python -m pytest tests/container`"
)


class Unavailable(Exception):
    """Why the container test cannot run here; the test is skipped with this message."""


@dataclass(frozen=True)
class Docker:
    client: str
    env: dict[str, str]

    def run(
        self, *args: str, timeout: float = 600, check: bool = True
    ) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [self.client, *args], capture_output=True, text=True, env=self.env, timeout=timeout
        )
        if check and done.returncode != 0:
            raise AssertionError(f"docker {' '.join(args[:3])} failed:\n{done.stderr[-3000:]}")
        return done


def _answers(client: str, env: dict[str, str]) -> bool:
    try:
        done = subprocess.run(
            [client, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True, text=True, env=env, timeout=20,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def _client() -> str:
    # Debian's client matches Debian's daemon; the legacy builder needs no buildx plugin.
    for candidate in ("/usr/bin/docker", shutil.which("docker")):
        if candidate and Path(candidate).exists():
            return candidate
    raise Unavailable(f"no Docker client: {HOW_TO}")


@contextmanager
def daemon() -> Iterator[Docker]:
    """The running daemon, else one started for the test session (root only)."""
    client = _client()
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    if _answers(client, env):
        yield Docker(client, env)
        return
    dockerd = shutil.which("dockerd")
    if dockerd is None or os.geteuid() != 0:
        raise Unavailable(f"no Docker daemon running and none can be started here: {HOW_TO}")
    run_dir = RUN_DIR
    run_dir.mkdir(parents=True, exist_ok=True)
    sock = run_dir / "docker.sock"
    env["DOCKER_HOST"] = f"unix://{sock}"
    log = (run_dir / "dockerd.log").open("wb")
    proc = subprocess.Popen(
        [
            dockerd,
            "--storage-driver=vfs",
            "--iptables=false",
            "--bridge=none",
            f"--host=unix://{sock}",
            f"--data-root={DATA_ROOT}",
            f"--exec-root={run_dir / 'exec'}",
            f"--pidfile={run_dir / 'dockerd.pid'}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while not _answers(client, env):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = (run_dir / "dockerd.log").read_text(errors="replace")[-1500:]
                raise Unavailable(f"dockerd did not start here:\n{tail}")
            time.sleep(0.5)
        yield Docker(client, env)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def debian_mirror() -> str:
    """The Debian mirror this machine's apt uses (the only registry of base files we reach)."""
    for path in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for line in path.read_text().splitlines():
            if line.startswith("URIs:") and "security" not in line:
                return line.split()[1]
    for line in Path("/etc/apt/sources.list").read_text().splitlines():
        if line.startswith("deb ") and "security" not in line:
            return line.split()[1]
    raise Unavailable("no Debian mirror in /etc/apt: cannot build a base image")


def ensure_base(docker: Docker) -> None:
    """local/debian:bookworm from debootstrap, unless the daemon has it already (~1 minute)."""
    if docker.run("image", "inspect", BASE_IMAGE, check=False).returncode == 0:
        return
    debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    if not Path(debootstrap).exists() or os.geteuid() != 0:
        raise Unavailable(
            f"no {BASE_IMAGE} image and no debootstrap (as root) to make one: {HOW_TO}"
        )
    root = Path(tempfile.mkdtemp(prefix="faces-bookworm-"))
    root.chmod(0o755)  # it becomes the image's `/`: mkdtemp's 0700 would lock out non-root users
    try:
        subprocess.run(
            [debootstrap, "--variant=minbase", "bookworm", str(root), debian_mirror()],
            check=True, capture_output=True, timeout=900,
        )  # fmt: skip
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(
            [docker.client, "import", "-", BASE_IMAGE],
            stdin=tar.stdout, check=True, capture_output=True, env=docker.env, timeout=600,
        )  # fmt: skip
        tar.wait()
    finally:
        shutil.rmtree(root, ignore_errors=True)
