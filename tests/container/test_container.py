"""The image: built from container/Dockerfile on a local Debian base, then the job run inside it
over the samples, then `serve` reached over HTTP: upload, run, gallery. Processes are not root.
The `batch` target (Dataproc Serverless) is built from the same layers and its job run as uid
1099 with Spark and Java from outside the image, as Serverless mounts them.

Skipped, with the reason and how to run it, when no Docker daemon runs and none can be started.
The build installs the exact pins offline, from wheels of this machine's pip cache served on
loopback; its duration goes to test-artifacts/container-test.json.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT, SAMPLES
from tests.container.docker_env import Docker, Unavailable, daemon, ensure_base
from tests.e2e.conftest import free_port

IMAGE = "dataproc-faces:test"
BATCH_IMAGE = "dataproc-faces-batch:test"
SPARK_UID = "1099"
USER_ID = "10001"
TIMINGS: dict[str, float] = {}


def _write_timings() -> None:
    out = ROOT / "test-artifacts" / "container-test.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(TIMINGS, indent=2) + "\n")


@pytest.fixture(scope="module")
def docker() -> Iterator[Docker]:
    started = time.monotonic()
    try:
        with daemon() as d:
            ensure_base(d)
            TIMINGS["daemon_and_base_s"] = round(time.monotonic() - started, 1)
            yield d
    except Unavailable as exc:
        pytest.skip(f"container test skipped: {exc}")


WHEELS_PORT = 38417


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Wheels of every pin (from the local cache) on a loopback HTTP server; its URL."""
    folder = tmp_path_factory.mktemp("wheels")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
         "-r", str(ROOT / "requirements.txt"), "-c", str(ROOT / "constraints.txt"),
         "setuptools==80.9.0", "-w", str(folder)],
        check=True, capture_output=True, timeout=1200,
    )  # fmt: skip
    handler = partial(SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a: None  # type: ignore[method-assign]
    try:  # a fixed port keeps the build argument, and so Docker's cached pins layer, the same
        server = ThreadingHTTPServer(("127.0.0.1", WHEELS_PORT), handler)
    except OSError:  # taken: any port (the pins layer is rebuilt)
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def image(docker: Docker, wheels: str) -> str:
    started = time.monotonic()
    docker.run(
        "build", "--network", "host", "-f", str(ROOT / "container" / "Dockerfile"),
        "--build-arg", "BASE=local/debian:bookworm",
        "--build-arg", f"PIP_OPTIONS=--no-index --find-links {wheels}",
        "-t", IMAGE, str(ROOT),
        timeout=3600,
    )  # fmt: skip
    TIMINGS["build_s"] = round(time.monotonic() - started, 1)
    # The batch target next, before the prune: Docker's classic builder made its stage during
    # the build above, and the prune would drop those (untagged) steps.
    started = time.monotonic()
    docker.run(
        "build", "--network", "host", "-f", str(ROOT / "container" / "Dockerfile"),
        "--target", "batch",
        "--build-arg", "BASE=local/debian:bookworm",
        "--build-arg", f"PIP_OPTIONS=--no-index --find-links {wheels}",
        "-t", BATCH_IMAGE, str(ROOT),
        timeout=3600,
    )  # fmt: skip
    TIMINGS["batch_build_s"] = round(time.monotonic() - started, 1)
    # The image this build replaced is left untagged; under vfs each one is gigabytes, so a
    # machine that runs the suite often would fill its disk. The new image keeps the layers the
    # next build reuses.
    docker.run("image", "prune", "--force", check=False)
    _write_timings()
    return IMAGE


@pytest.fixture(scope="module")
def batch_image(image: str) -> str:
    """Built by `image`, from the same layers."""
    return BATCH_IMAGE


@pytest.fixture(scope="module")
def container(docker: Docker, image: str, tmp_path_factory: pytest.TempPathFactory):
    """One container for every check: with the vfs driver each new container copies the image.

    It serves on a free loopback port (host network: the daemon here has no bridge), with the
    samples mounted read-only and a folder the image's user can write for `run`'s output.
    """
    port = free_port()
    out = tmp_path_factory.mktemp("container-out")
    out.chmod(0o777)
    name = f"faces-test-{port}"
    started = time.monotonic()
    docker.run(
        "run", "-d", "--name", name, "--network", "host", "--health-interval", "1s",
        "-v", f"{SAMPLES}:/in:ro", "-v", f"{out}:/out", "-e", f"DATAPROC_FACES_PORT={port}",
        image, "serve", "--host", "127.0.0.1", "--port", str(port), "--master", "local[2]",
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        _wait(lambda: _status(f"{base}/healthz") == 200, "the server to answer /healthz")
        TIMINGS["container_start_s"] = round(time.monotonic() - started, 1)
        yield name, base, out
    finally:
        docker.run("rm", "-f", name, check=False)


def test_the_image_runs_serve_as_a_non_root_user_with_a_healthcheck(docker: Docker, image: str):
    config = json.loads(docker.run("image", "inspect", image).stdout)[0]["Config"]
    assert config["User"] == "faces"
    assert config["Entrypoint"] == ["dataproc-faces"]
    assert config["Cmd"] == ["serve", "--host", "0.0.0.0", "--port", "8080"]
    assert "/healthz" in " ".join(config["Healthcheck"]["Test"])


def test_the_server_is_not_root_and_docker_sees_it_healthy(docker: Docker, container) -> None:
    name, _, _ = container
    _wait(lambda: _health(docker, name) == "healthy", "Docker to report the container healthy")
    pid1 = docker.run("exec", name, "cat", "/proc/1/status").stdout  # `serve` itself
    assert re.search(rf"^Uid:\s+{USER_ID}\s+{USER_ID}\s", pid1, re.M), pid1
    ids = docker.run("exec", name, "id").stdout
    assert re.match(rf"uid={USER_ID}\(faces\) gid=\d+\(faces\)", ids), ids
    versions = docker.run(
        "exec", name, "sh", "-c", "python --version; java -version 2>&1 | head -1; pip freeze"
    ).stdout
    assert versions.startswith("Python 3.11.")
    assert 'version "17.' in versions
    for pin in ("flask==3.1.3", "waitress==3.0.2", "pyspark==3.5.9"):
        assert pin in versions.lower()


def test_run_inside_the_container_outlines_the_samples(docker: Docker, container) -> None:
    name, _, out = container
    started = time.monotonic()
    done = docker.run(
        "exec", name, "dataproc-faces", "run", "--input", "/in", "--output", "/out",
        "--master", "local[2]",
        timeout=900,
    )  # fmt: skip
    TIMINGS["run_s"] = round(time.monotonic() - started, 1)
    _write_timings()
    assert "4 inputs: 4 ok, 0 errors" in done.stdout, done.stdout + done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["inputs"], summary["ok"], summary["errors"]) == (4, 4, 0)
    assert summary["faces"] >= 1
    assert (out / "images" / "astronaut.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "index.html").stat().st_uid == int(USER_ID)  # written by the image's user


def test_serve_takes_an_upload_runs_it_and_shows_the_gallery(container) -> None:
    _, base, _ = container
    started = time.monotonic()
    web = requests.Session()
    page = web.get(f"{base}/", timeout=30).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    files = [
        ("files", ("astronaut.png", (SAMPLES / "astronaut.png").read_bytes(), "image/png")),
        ("files", ("camera.png", (SAMPLES / "camera.png").read_bytes(), "image/png")),
    ]
    r = web.post(f"{base}/upload", data={"csrf_token": token, "batch": "web"}, files=files)
    assert r.status_code == 200 and "2 files uploaded to batch web" in r.text
    refused = web.post(f"{base}/upload", data={"batch": "web"}, files=files[:1])
    assert refused.status_code == 400  # no token, no upload
    r = web.post(
        f"{base}/runs",
        data={"csrf_token": token, "batch": "web", "detector": "haar", "mode": "outline"},
        allow_redirects=False,
    )
    assert r.status_code == 303, r.text
    run_id = r.headers["Location"].rsplit("/", 1)[1]
    run: dict = {}

    def finished() -> bool:
        run.update(web.get(f"{base}/api/runs/{run_id}", timeout=30).json())
        return not run["active"]

    _wait(finished, "the run to end", deadline_s=900)
    assert (run["state"], run["done"], run["total"]) == ("DONE", 2, 2), run
    gallery = web.get(f"{base}/runs/{run_id}/files/index.html", timeout=30)
    assert gallery.status_code == 200
    assert re.search(r"<title>Faces: \d+ in 2 images</title>", gallery.text)
    thumb = web.get(f"{base}/runs/{run_id}/files/thumbs/astronaut.png.jpg", timeout=30)
    assert thumb.headers["Content-Type"] == "image/jpeg" and thumb.content[:2] == b"\xff\xd8"
    TIMINGS["serve_upload_run_s"] = round(time.monotonic() - started, 1)
    _write_timings()


def _status(url: str) -> int:
    try:
        return requests.get(url, timeout=5).status_code
    except requests.RequestException:
        return 0


def _health(docker: Docker, name: str) -> str:
    fmt = "{{.State.Health.Status}}"
    return docker.run("inspect", "-f", fmt, name, check=False).stdout.strip()


def _wait(ready, what: str, deadline_s: float = 180) -> None:  # type: ignore[no-untyped-def]
    """Poll until `ready()`; the deadline only stops a hung container from hanging the suite."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if ready():
            return
        time.sleep(0.5)
    raise AssertionError(f"gave up waiting for {what} after {deadline_s} s")


def _layers(docker: Docker, image: str) -> list[str]:
    return json.loads(docker.run("image", "inspect", image).stdout)[0]["RootFS"]["Layers"]


def test_the_batch_image_is_the_shared_layers_run_by_spark_without_spark_or_java(
    docker: Docker, image: str, batch_image: str
) -> None:
    config = json.loads(docker.run("image", "inspect", batch_image).stdout)[0]["Config"]
    assert config["User"] == "spark"
    # Serverless starts the driver and executors itself: nothing of the page's is run.
    assert (config["Entrypoint"] or None, config["Cmd"] or None) == (None, None)
    assert config["Healthcheck"]["Test"] == ["NONE"]
    env = dict(e.split("=", 1) for e in config["Env"])
    assert env["PYSPARK_PYTHON"] == "/opt/venv/bin/python"
    # Every layer of the batch image is one of the page's: nothing is built twice.
    batch, page = _layers(docker, batch_image), _layers(docker, image)
    assert page[: len(batch)] == batch and len(page) == len(batch) + 1


def test_the_batch_job_runs_as_uid_1099_with_an_outside_spark_over_the_samples(
    docker: Docker, batch_image: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """As on Serverless: Spark mounted at /usr/lib/spark (here the venv's pyspark, whose layout is
    a Spark distribution's), Java from the host, the main file and the package zip as a batch
    gets them, no network; the image's own Python runs the driver and the workers."""
    import pyspark

    from infra.artifacts import SourceTree, build_package_zip

    tree = SourceTree()
    job = tmp_path_factory.mktemp("batch-job")
    (job / "main.py").write_bytes(tree.main_file.read_bytes())
    (job / "dataproc_faces.zip").write_bytes(build_package_zip(tree.package_dir))
    job.chmod(0o755)  # mktemp's 0700 would keep uid 1099 out, as a bucket it cannot read would
    out = tmp_path_factory.mktemp("batch-out")
    out.chmod(0o777)
    spark = Path(pyspark.__file__).parent
    java = Path("/usr/lib/jvm/java-17-openjdk-amd64")
    if not (java / "bin" / "java").exists():
        pytest.skip(f"no host Java 17 at {java} to mount")
    script = (
        "id -u; id -g; command -v java || echo 'no java in the image';"
        " env -u PYTHONPATH python -c 'import importlib.util as u;"
        ' print("pyspark in the image:", u.find_spec("pyspark") is not None)\';'
        " exec /usr/lib/spark/bin/spark-submit --master local[2] --conf spark.ui.enabled=false"
        " --py-files /job/dataproc_faces.zip /job/main.py run --input /in --output /out"
    )
    started = time.monotonic()
    done = docker.run(
        "run", "--rm", "--network", "none", "--hostname", "localhost",
        "-v", f"{spark}:/usr/lib/spark:ro",
        "-v", f"{java}:{java}:ro", "-v", "/etc/java-17-openjdk:/etc/java-17-openjdk:ro",
        "-e", f"JAVA_HOME={java}", "-e", "SPARK_LOCAL_IP=127.0.0.1",
        "-v", f"{SAMPLES}:/in:ro", "-v", f"{job}:/job:ro", "-v", f"{out}:/out",
        batch_image, "bash", "-c", script,
        timeout=900, check=False,
    )  # fmt: skip
    TIMINGS["batch_run_s"] = round(time.monotonic() - started, 1)
    _write_timings()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[:4] == [
        SPARK_UID,
        SPARK_UID,
        "no java in the image",
        "pyspark in the image: False",
    ]
    assert "4 inputs: 4 ok, 0 errors" in done.stdout, done.stdout + done.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["inputs"], summary["ok"], summary["errors"]) == (4, 4, 0)
    assert summary["faces"] >= 1
    assert summary["runtime"] and all(r.startswith("openvino ") for r in summary["runtime"])
    assert (out / "index.html").stat().st_uid == int(SPARK_UID)
    assert (out / "images" / "astronaut.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
