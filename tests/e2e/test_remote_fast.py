"""submit, status, wait and fetch in-process against the Dataproc stand-in and the storage emulator.

The real google-cloud-dataproc client (REST) and google-cloud-storage client do the talking. The
stand-in here runs no Spark: a job stays PENDING until a test scripts its states (one per poll),
so the whole module takes seconds. `wait`'s clock is a fake one where a test needs whole minutes.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dataproc_faces import cli, remote
from dataproc_faces.results.ownership import input_id
from tests.e2e.conftest import PROJECT, patched_env, upload
from tests.e2e.dataproc_standin import DataprocStandIn

pytestmark = pytest.mark.e2e

CLUSTER, REGION = "c1", "europe-west1"


class ScriptedStandIn(DataprocStandIn):
    """Jobs do not run: each GET moves a job to the next state scripted for it, if any."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.script: dict[str, list[tuple[str, str]]] = {}

    def _run(self, job_id: str) -> None:
        pass

    def get(self, job_id: str) -> tuple[int, dict]:
        with self._lock:
            steps = self.script.get(job_id)
            if steps:
                self._set(self.jobs[job_id], *steps.pop(0))
        return super().get(job_id)

    def add(self, job_id: str, state: str, details: str = "", output: str | None = None) -> None:
        """A job as Dataproc shows it, without submitting one."""
        with self._lock:
            self.jobs[job_id] = {
                "reference": {"projectId": PROJECT, "jobId": job_id},
                "placement": {"clusterName": CLUSTER},
                "status": {"state": state, **({"details": details} if details else {})},
                "statusHistory": [],
                **({"driverOutputResourceUri": output} if output else {}),
            }

    def polls(self, job_id: str) -> int:
        path = f"/v1/projects/{PROJECT}/regions/{REGION}/jobs/{job_id}"
        return self.requests.count(("GET", path))


@pytest.fixture(scope="module")
def standin(bucket, gcs_env) -> Iterator[ScriptedStandIn]:
    server = ScriptedStandIn(gcs_env, staging_bucket=bucket, clusters={CLUSTER})
    with server, patched_env({"DATAPROC_ENDPOINT": server.url}):
        yield server


@pytest.fixture(scope="module")
def outputs(bucket, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("stack") / "outputs.json"
    path.write_text(
        json.dumps(
            {
                "project": PROJECT,
                "region": REGION,
                "cluster_name": CLUSTER,
                "upload_images_to": f"gs://{bucket}/images/",
                "results_uri": f"gs://{bucket}/runs/",
                "job_main_uri": f"gs://{bucket}/artifacts/main-1.py",
                "job_package_uri": f"gs://{bucket}/artifacts/dataproc_faces-1.zip",
            }
        )
    )
    return str(path)


@pytest.fixture(autouse=True)
def fresh_outputs():
    remote.stack_outputs.cache_clear()


def run(capsys, *argv: str) -> tuple[int, str, list[str]]:
    """`dataproc-faces ARGV` in this process: (exit status, stdout, stderr lines)."""
    with pytest.raises(SystemExit) as done:
        cli.main(list(argv))
    out, err = capsys.readouterr()
    return done.value.code, out, err.splitlines()


class FakeClock:
    """remote.time for `wait`: sleeping moves the clock, so minutes pass at once.

    A wait still polling after 100 polls (more than any test scripts) fails the test rather
    than spinning on.
    """

    def __init__(self) -> None:
        self.now, self.sleeps = 1000.0, 0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.sleeps += 1
        assert self.sleeps < 100, "still waiting after 100 polls"


class GuardedClock:
    """The real clock, but a wait longer than `limit` seconds fails the test."""

    def __init__(self, limit: float) -> None:
        self.start, self.limit = time.monotonic(), limit

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        assert time.monotonic() - self.start < self.limit, "still waiting"
        time.sleep(seconds)


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(remote, "time", fake)
    return fake


@pytest.fixture
def regions(monkeypatch) -> list[str]:
    """The regions clients were made for (the real client, still talking to the stand-in)."""
    asked: list[str] = []
    real = remote.job_client

    def job_client(region: str) -> Any:
        asked.append(region)
        return real(region)

    monkeypatch.setattr(remote, "job_client", job_client)
    return asked


# -- submit ---------------------------------------------------------------------------------------


def test_submit_prints_the_job_id_and_where_results_go(standin, outputs, bucket, capsys):
    code, out, err = run(capsys, "submit", "--stack-outputs", outputs, "--run-id", "one")
    job = out.strip()
    assert code == 0 and out == f"{job}\n" and job.startswith("faces-one-")
    assert err == [
        f"dataproc-faces: submitted; results will be in gs://{bucket}/runs/{job}",
        f"dataproc-faces: https://console.cloud.google.com/dataproc/jobs/{job}"
        f"?region={REGION}&project={PROJECT}",
    ]
    sent = standin.jobs[job]
    assert sent["placement"]["clusterName"] == CLUSTER
    assert sent["pysparkJob"]["mainPythonFileUri"] == f"gs://{bucket}/artifacts/main-1.py"
    assert sent["pysparkJob"]["args"][:5] == [
        "run",
        "--input",
        f"gs://{bucket}/images/",
        "--output",
        f"gs://{bucket}/runs/{job}",
    ]
    assert ("POST", f"/v1/projects/{PROJECT}/regions/{REGION}/jobs:submit") in standin.requests
    assert standin.polls(job) == 0  # no --wait: no polling

    code, out, err = run(capsys, "submit", "--stack-outputs", outputs, "--run-id", "one")
    assert (code, out) == (2, "")
    assert err == [
        f"dataproc-faces: error: job {job} exists already (same code, input and options): "
        f"see `dataproc-faces status {job}`, or pass --run-id to run it again"
    ]


FIX = {"version": 1, "photos": {"a.jpg": {"add": [{"x": 1, "y": 2, "w": 30, "h": 30}]}}}


def test_submit_with_corrections_stages_them_and_writes_into_the_corrected_runs_folder(
    standin, outputs, bucket, capsys, tmp_path
):
    import hashlib

    from dataproc_faces.storage.gcs import GcsStore

    code, out, _ = run(capsys, "submit", "--stack-outputs", outputs, "--run-id", "fix")
    base = out.strip()
    local = tmp_path / "fix.json"
    local.write_text(json.dumps(FIX))
    data = local.read_bytes()
    code, out, err = run(
        capsys, "submit", "--stack-outputs", outputs, "--run-id", "fix", "--corrections", str(local)
    )
    job = out.strip()
    assert code == 0 and job == f"{base}-c{hashlib.sha256(data).hexdigest()[:8]}"
    assert err[0] == f"dataproc-faces: submitted; results will be in gs://{bucket}/runs/{base}"
    staged = f"gs://{bucket}/artifacts/corrections/{hashlib.sha256(data).hexdigest()[:16]}.json"
    args = standin.jobs[job]["pysparkJob"]["args"]
    assert args[args.index("--corrections") + 1] == staged
    assert args[args.index("--output") + 1] == f"gs://{bucket}/runs/{base}"
    assert GcsStore().read(staged) == data  # uploaded next to the job's other staged files

    given = f"gs://{bucket}/mine/fix2.json"
    other = json.dumps({**FIX, "photos": {"b.jpg": {"reviewed": True}}}).encode()
    upload(bucket, {"mine/fix2.json": other})
    code, out, _ = run(
        capsys, "submit", "--stack-outputs", outputs, "--run-id", "fix", "--corrections", given
    )
    args = standin.jobs[out.strip()]["pysparkJob"]["args"]
    assert code == 0 and args[args.index("--corrections") + 1] == given  # as given

    local.write_text(json.dumps({"version": 1, "photos": {"a.jpg": {"add": [{"x": -1}]}}}))
    jobs = dict(standin.jobs)
    code, out, err = run(
        capsys, "submit", "--stack-outputs", outputs, "--run-id", "fix", "--corrections", str(local)
    )
    assert (code, out) == (2, "") and standin.jobs == jobs  # nothing sent
    assert err == [
        f"dataproc-faces: error: --corrections {local}: photo 'a.jpg': add[0].x: must be at "
        "least 0, got -1"
    ]
    code, _, err = run(
        capsys, "submit", "--stack-outputs", outputs, "--corrections", f"gs://{bucket}/nope.json"
    )
    assert code == 2
    assert err == [
        f"dataproc-faces: error: --corrections gs://{bucket}/nope.json: cannot read it (NotFound)"
    ]


def test_submit_into_a_folder_of_hidden_faces_is_refused_before_a_job_unless_forced(
    standin, outputs, bucket, capsys
):
    marker = {"made_by": "dataproc-faces", "hiding": {"mode": "pixelate", "fill": "pixelate"}}
    marker["hiding"].update(mask="ellipse", mask_scale=1.3, pixelate_blocks=6)
    marker["hiding"].update(detector="retinaface", score_threshold=0.1)
    upload(bucket, {"hidden/_dataproc_faces.json": json.dumps(marker).encode()})
    before = set(standin.jobs)
    out = f"gs://{bucket}/hidden"
    for weaker in ([], ["--mode", "pixelate", "--pixelate-blocks", "10"]):
        code, _, err = run(capsys, "submit", "--stack-outputs", outputs, "--output", out, *weaker)
        assert code == 2 and len(err) == 1 and set(standin.jobs) == before  # no job made
        assert err[0].startswith(
            f"dataproc-faces: error: --output {out} holds faces hidden by pixelate (mask "
            "ellipse x1.3, 6 blocks; retinaface at 0.1); this run would write them less hidden"
        )
        assert err[0].endswith(
            "add --force to submit to overwrite them, or choose another --output"
        )
    code, job, _ = run(capsys, "submit", "--stack-outputs", outputs, "--output", out, "--force")
    assert code == 0 and standin.jobs[job.strip()]["pysparkJob"]["args"][-1] == "--force"
    stronger = ["--mode", "solid", "--mask-scale", "1.5", "--run-id", "solid"]
    code, _, _ = run(capsys, "submit", "--stack-outputs", outputs, "--output", out, *stronger)
    assert code == 0


def test_submit_returns_what_dataproc_accepted(standin, outputs, bucket, regions):
    args = cli.build_parser().parse_args(
        ["submit", "--stack-outputs", outputs, "--job-id", "given_1", "--project", "other-p"]
    )
    done = remote.submit(args)
    assert (done.project, done.region, done.job_id) == ("other-p", REGION, "given_1")
    assert done.output == f"gs://{bucket}/runs/given_1"
    assert standin.jobs["given_1"]["reference"] == {"projectId": "other-p", "jobId": "given_1"}
    assert done.client.get_job(project_id="other-p", region=REGION, job_id="given_1")
    assert regions == [REGION]


def test_submit_on_the_devhost_takes_the_code_the_stack_last_deployed(
    standin, bucket, capsys, monkeypatch
):
    """An `up` that changes the job deletes the old artefacts: the devhost's environment may
    still name them, so `submit` reads the fixed-name object the program writes, each time."""
    from infra.artifacts import CURRENT_OBJECT, render_current

    roles = ("main", "package", "requirements", "constraints")
    new = {r: f"gs://{bucket}/artifacts/{r}-2222222222222222" for r in roles}
    upload(bucket, {CURRENT_OBJECT: render_current(new).encode()})
    stale = f"gs://{bucket}/artifacts/deleted-1111111111111111"
    devhost = {
        "DATAPROC_FACES_PROJECT": PROJECT,
        "DATAPROC_FACES_REGION": REGION,
        "DATAPROC_FACES_CLUSTER": CLUSTER,
        "DATAPROC_FACES_IMAGES": f"gs://{bucket}/images/",
        "DATAPROC_FACES_RESULTS": f"gs://{bucket}/runs/",
        "DATAPROC_FACES_JOB_MAIN": f"{stale}.py",
        "DATAPROC_FACES_JOB_PACKAGE": f"{stale}.zip",
        "DATAPROC_FACES_CURRENT": f"gs://{bucket}/{CURRENT_OBJECT}",
    }
    for key, value in devhost.items():
        monkeypatch.setenv(key, value)
    code, out, err = run(capsys, "submit", "--run-id", "devhost")
    assert code == 0, err
    sent = standin.jobs[out.strip()]["pysparkJob"]
    assert sent["mainPythonFileUri"] == new["main"]
    assert sent["pythonFileUris"] == [new["package"]]

    # Unreadable (between the object's delete and create, during an `up`): the environment's
    # URIs, and one line saying so.
    monkeypatch.setenv("DATAPROC_FACES_CURRENT", f"gs://{bucket}/artifacts/missing.env")
    code, out, err = run(capsys, "submit", "--run-id", "devhost-2")
    assert code == 0, err
    assert err[0] == (
        f"dataproc-faces: cannot read gs://{bucket}/artifacts/missing.env (NotFound); using"
        " $DATAPROC_FACES_JOB_MAIN and $DATAPROC_FACES_JOB_PACKAGE"
    )
    assert standin.jobs[out.strip()]["pysparkJob"]["mainPythonFileUri"] == f"{stale}.py"


def test_submit_wait_follows_the_job_to_its_end(standin, outputs, capsys, clock):
    job = "waited_1"
    standin.script[job] = [("RUNNING", ""), ("DONE", "")]
    code, out, err = run(
        capsys, "submit", "--stack-outputs", outputs, "--job-id", job, "--wait", "--interval", "7"
    )
    assert (code, out) == (0, f"{job}\n")
    assert err[2:] == [
        f"dataproc-faces: {job} RUNNING after 0 s",
        f"dataproc-faces: {job} DONE after 7 s",
    ]
    assert standin.polls(job) == 2


def test_submit_wait_passes_the_timeout(standin, outputs, capsys, clock):
    job = "waited_2"
    code, _, err = run(
        capsys,
        "submit",
        "--stack-outputs",
        outputs,
        "--job-id",
        job,
        "--wait",
        "--interval",
        "5",
        "--timeout",
        "10",
    )
    assert code == 3
    assert err[-1] == f"dataproc-faces: {job} still PENDING after 10 s"
    assert standin.polls(job) == 3


# -- status ---------------------------------------------------------------------------------------


def test_status_prints_state_details_cluster_output_and_console(standin, outputs, capsys, regions):
    standin.add("st_1", "ERROR", details="it broke", output="gs://b/x/driveroutput")
    code, out, err = run(capsys, "status", "st_1", "--stack-outputs", outputs)
    assert (code, err) == (0, [])
    assert out.splitlines() == [
        "st_1: ERROR (it broke)",
        f"cluster: {CLUSTER}",
        "driver output: gs://b/x/driveroutput",
        f"console: https://console.cloud.google.com/dataproc/jobs/st_1?region={REGION}"
        f"&project={PROJECT}",
    ]
    standin.add("st_2", "RUNNING")
    argv = ["status", "st_2", "--stack-outputs", outputs, "--region", "r2", "--project", "p2"]
    code, out, _ = run(capsys, *argv)
    assert code == 0
    assert out.splitlines() == [
        "st_2: RUNNING",
        f"cluster: {CLUSTER}",
        "console: https://console.cloud.google.com/dataproc/jobs/st_2?region=r2&project=p2",
    ]
    assert ("GET", "/v1/projects/p2/regions/r2/jobs/st_2") in standin.requests
    assert regions == [REGION, "r2"]


# -- wait -----------------------------------------------------------------------------------------


def test_wait_times_out_for_real_with_exit_3(standin, outputs, capsys, monkeypatch, regions):
    """Not on the fake clock: the timeout path runs as it does for a user."""
    monkeypatch.setattr(remote, "time", GuardedClock(limit=5.0))
    standin.add("slow_1", "PENDING")
    code, out, err = run(
        capsys,
        "wait",
        "slow_1",
        "--stack-outputs",
        outputs,
        "--interval",
        "0.05",
        "--timeout",
        "0.3",
        "--project",
        "p3",
        "--region",
        "r3",
    )
    assert (code, out) == (3, "")
    assert regions == ["r3"]
    assert ("GET", "/v1/projects/p3/regions/r3/jobs/slow_1") in standin.requests
    assert err[0] == "dataproc-faces: slow_1 PENDING after 0 s"
    assert err[-1] == "dataproc-faces: slow_1 still PENDING after 0 s"
    assert standin.requests.count(("GET", "/v1/projects/p3/regions/r3/jobs/slow_1")) >= 2


def test_wait_gives_up_at_the_timeout_not_a_poll_later(standin, outputs, capsys, clock):
    standin.add("slow_2", "RUNNING")
    args = ["wait", "slow_2", "--stack-outputs", outputs, "--interval", "10", "--timeout", "30"]
    code, _, err = run(capsys, *args)
    assert code == 3
    assert err == [
        "dataproc-faces: slow_2 RUNNING after 0 s",
        "dataproc-faces: slow_2 still RUNNING after 30 s",
    ]
    assert standin.polls("slow_2") == 4  # at 0, 10, 20 and 30 s
    assert clock.now == 1030.0


def test_wait_prints_state_changes_and_a_heartbeat_each_minute(standin, outputs, capsys, clock):
    job = "beat_1"
    standin.add(job, "PENDING")
    standin.script[job] = [("PENDING", ""), ("RUNNING", "")] + [("RUNNING", "")] * 14
    standin.script[job] += [("DONE", "")]
    args = ["wait", job, "--stack-outputs", outputs, "--interval", "10"]
    code, _, err = run(capsys, *args)
    assert code == 0
    assert err == [
        f"dataproc-faces: {job} PENDING after 0 s",
        f"dataproc-faces: {job} RUNNING after 10 s",
        f"dataproc-faces: {job} RUNNING after 70 s",
        f"dataproc-faces: {job} RUNNING after 130 s",
        f"dataproc-faces: {job} DONE after 160 s",
    ]
    assert standin.polls(job) == 17


def test_wait_without_a_timeout_waits_as_long_as_it_takes(standin, outputs, capsys, clock):
    job = "long_1"
    standin.add(job, "PENDING")
    standin.script[job] = [("PENDING", "")] * 10 + [("CANCELLED", "")]
    code, _, err = run(capsys, "wait", job, "--stack-outputs", outputs, "--interval", "100")
    assert code == 1
    assert err[-1] == f"dataproc-faces: {job} CANCELLED after 1000 s"


@pytest.fixture
def driver_output(bucket) -> str:
    prefix = f"gs://{bucket}/meta/jobs/bad_1/driveroutput"
    head = b"x" * 1500
    upload(
        bucket,
        {
            "meta/jobs/bad_1/driveroutput.000000000": b"first part, not the last\n",
            "meta/jobs/bad_1/driveroutput.000000001": b"second part, not the last\n",
            "meta/jobs/bad_1/driveroutput.000000002": head + b"\n" + b"B" * 1000 + b"\xff end",
        },
    )
    return prefix


def test_a_failed_job_exits_1_with_its_details_and_the_end_of_its_output(
    standin, outputs, capsys, clock, driver_output
):
    standin.add("bad_1", "ERROR", details="Job failed with message [boom]", output=driver_output)
    code, out, err = run(capsys, "wait", "bad_1", "--stack-outputs", outputs)
    assert (code, out) == (1, "")
    tail = ("x" * 18 + "\n" + "B" * 1000 + "\ufffd end").splitlines()
    assert err == [
        "dataproc-faces: bad_1 ERROR after 0 s",
        "dataproc-faces: Job failed with message [boom]",
        "--- last 1024 bytes of the driver output ---",
        *tail,
    ]
    assert len(("x" * 18 + "\n" + "B" * 1000).encode()) + 5 == 1024


def test_a_failed_job_without_details_or_output_says_only_its_state(
    standin, outputs, capsys, clock
):
    standin.add("bad_2", "CANCELLED")
    code, _, err = run(capsys, "wait", "bad_2", "--stack-outputs", outputs)
    assert (code, err) == (1, ["dataproc-faces: bad_2 CANCELLED after 0 s"])


def test_driver_output_tail_explains_what_it_cannot_show(bucket, gcs_env, driver_output):
    assert remote.driver_output_tail("") == ""
    assert remote.driver_output_tail(driver_output, 5) == "\ufffd end"
    assert remote.driver_output_tail(driver_output).endswith("B\ufffd end")
    none = f"gs://{bucket}/meta/jobs/none/driveroutput"
    assert remote.driver_output_tail(none) == f"(no driver output at {none})"
    assert remote.driver_output_tail("s3://b/x") == (
        "(cannot read the driver output at s3://b/x: ValueError: not a gs:// URI: 's3://b/x')"
    )
    missing = "gs://no-such-bucket-here/x"
    assert remote.driver_output_tail(missing).startswith(
        f"(cannot read the driver output at {missing}: NotFound: 404 "
    )


# -- fetch ----------------------------------------------------------------------------------------


@pytest.fixture
def results(bucket, gcs_env) -> str:
    upload(
        bucket,
        {
            "res/r1/summary.json": b"{}",
            "res/r1/images/a.png": b"aaaa",
            "res/r1/images/b.png": b"bb",
            "res/r1/images//c.png": b"c",  # an empty segment: not a plain relative path
            "res/r1/images/./d.png": b"d",
            "res/r1/clash": b"file",
            "res/r1/clash/inner.png": b"under a file",
            "res/r1/link/escape.png": b"e",
            "res/r1-not/x.png": b"x",
        },
    )
    return f"gs://{bucket}/res/r1"


def local_files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink() and not p.parent.is_symlink()
    }


@pytest.fixture
def readers(monkeypatch) -> set[str]:
    """The threads that downloaded (GcsStore.read, still reading from the emulator)."""
    from dataproc_faces.storage.gcs import GcsStore

    seen: set[str] = set()
    real = GcsStore.read

    def read(self: GcsStore, uri: str) -> bytes:
        seen.add(threading.current_thread().name)
        return real(self, uri)

    monkeypatch.setattr(GcsStore, "read", read)
    return seen


def test_fetch_copies_resumes_and_reports_every_kind_of_miss(results, tmp_path, capsys, readers):
    dst = tmp_path / "got"
    (dst / "images").mkdir(parents=True)
    (dst / "_dataproc_faces.json").write_bytes(b"{}")  # an earlier fetch's copy: ours to resume
    (dst / "images" / "b.png").write_bytes(b"XX")  # same size: left alone
    (dst / "summary.json").write_bytes(b"{ }")  # another size: copied again
    (tmp_path / "outside").mkdir()
    (dst / "link").symlink_to(tmp_path / "outside", target_is_directory=True)

    code, out, err = run(capsys, "fetch", results + "/", str(dst), "--threads", "0")
    assert (code, out) == (1, "")
    assert err[:2] == [  # in the listing's order: "." sorts before "/"
        f"dataproc-faces: skipped '{results}/images/./d.png': '.' segment in name 'images/./d.png'",
        f"dataproc-faces: skipped '{results}/images//c.png': empty segment in name 'images//c.png'",
    ]
    assert sorted(err[2:-1]) == [
        f"dataproc-faces: not copied '{results}/clash/inner.png': [Errno 17] File exists: "
        f"'{dst}/clash'",
        f"dataproc-faces: not copied '{results}/link/escape.png': refusing to write "
        f"{dst}/link/escape.png: it resolves outside {dst.resolve()}",
    ]
    assert err[-1] == (
        f"dataproc-faces: 3 copied, 1 already there, 2 skipped, 2 failed, from {results} to {dst}"
    )
    assert local_files(dst) == {
        "_dataproc_faces.json": b"{}",
        "clash": b"file",
        "images/a.png": b"aaaa",
        "images/b.png": b"XX",
        "summary.json": b"{}",
    }
    assert list((tmp_path / "outside").iterdir()) == []
    assert len(readers) == 1  # --threads 0 still copies, with one thread

    (dst / "link").unlink()
    (dst / "clash").unlink()
    (dst / "clash").mkdir()
    code, _, err = run(capsys, "fetch", results, str(dst))
    assert code == 1
    assert err[-1] == (
        f"dataproc-faces: 2 copied, 3 already there, 2 skipped, 1 failed, from {results} to {dst}"
    )
    assert local_files(dst)["link/escape.png"] == b"e"


def test_fetch_of_a_clean_prefix_exits_0(bucket, gcs_env, tmp_path, capsys):
    upload(bucket, {"clean/r/a.txt": b"a", "clean/r/d/b.txt": b"b"})
    code, _, err = run(capsys, "fetch", f"gs://{bucket}/clean/r", str(tmp_path / "d"))
    assert code == 0
    assert err == [
        f"dataproc-faces: 2 copied, 0 already there, 0 skipped, 0 failed, from "
        f"gs://{bucket}/clean/r to {tmp_path / 'd'}"
    ]
    copied = local_files(tmp_path / "d")
    marker = json.loads(copied.pop("_dataproc_faces.json"))  # the copy is marked as results
    assert (marker["made_by"], marker["input_sha256"]) == (
        "dataproc-faces",
        input_id(f"gs://{bucket}/clean/r"),
    )
    assert copied == {"a.txt": b"a", "d/b.txt": b"b"}


def test_fetch_copies_only_from_cloud_storage(tmp_path, capsys):
    code, _, err = run(capsys, "fetch", str(tmp_path), str(tmp_path / "d"))
    assert (code, err) == (2, [f"dataproc-faces: error: fetch copies from gs://, got {tmp_path}"])
