"""A small Dataproc jobs API for tests: the real google-cloud-dataproc client (REST) talks to it.

Implements what `dataproc-faces` and the tests use, in the REST shapes of dataproc v1:
  POST /v1/projects/P/regions/R/jobs:submit       {"job": {...}} -> Job
  GET  /v1/projects/P/regions/R/jobs/ID           -> Job
  GET  /v1/projects/P/regions/R/jobs              -> {"jobs": [...]}  (clusterName filter)
  POST /v1/projects/P/regions/R/jobs/ID:cancel    -> Job
  GET  /v1/projects/P/regions/R/clusters/NAME     -> Cluster, or 404 NOT_FOUND if not in `clusters`
and the Serverless batches API (BatchController) in the shapes of dataproc v1:
  POST   /v1/projects/P/locations/R/batches?batchId=ID  Batch -> Operation; 409 if ID is in use
  GET    /v1/projects/P/locations/R/batches/ID          -> Batch (state, stateMessage, runtimeInfo)
  GET    /v1/projects/P/locations/R/batches             -> {"batches": [...]}
  DELETE /v1/projects/P/locations/R/batches/ID          -> {} (ended batches only, as Dataproc)
  POST   /v1/projects/P/regions/R/operations/OP:cancel  -> {} (a batch's operation: CANCELLING,
         its spark-submit stopped, then CANCELLED; as `gcloud dataproc batches cancel`)
A job placed on a cluster not in `clusters` is refused with 404 NOT_FOUND, as Dataproc refuses a
job for a cluster that was deleted (dev's idle deletion).
A submitted PySpark job or batch really runs: the main file and the python_file_uris are
downloaded from the storage emulator, then `spark-submit --master local[2] --py-files ... main.py
ARGS` runs with the emulator's environment. Its stdout and stderr become the driver output,
uploaded to `driverOutputResourceUri` (a batch: `runtimeInfo.outputUri`) + `.000000000` as
Dataproc does. Exit status 0 -> DONE (a batch: SUCCEEDED), else ERROR (FAILED). A batch's
container image is recorded, not pulled: tests/container/ runs the image itself.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pyspark

SPARK_SUBMIT = Path(pyspark.__file__).parent / "bin" / "spark-submit"
_CLUSTER = re.compile(r"^/v1/projects/([^/]+)/regions/([^/]+)/clusters/([^/:?]+)$")
_JOBS = re.compile(r"^/v1/projects/([^/]+)/regions/([^/]+)/jobs(?::submit|/([^/:?]+)(:cancel)?)?$")
_OPERATION_CANCEL = re.compile(r"^/v1/(projects/[^/]+/regions/[^/]+/operations/[^/:?]+):cancel$")
_BATCHES = re.compile(r"^/v1/projects/([^/]+)/locations/([^/]+)/batches(?:/([^/:?]+))?$")
BATCH_ENDS = ("SUCCEEDED", "FAILED", "CANCELLED")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class DataprocStandIn:
    """Serve on a free loopback port; `clusters` are the names jobs may be placed on."""

    def __init__(self, env: dict[str, str], staging_bucket: str, clusters: set[str]) -> None:
        self.env = env  # emulator environment for the spark-submit processes
        self.staging_bucket = staging_bucket
        self.clusters = clusters
        self.jobs: dict[str, dict[str, Any]] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []
        # (HTTP status, gRPC status name, message): answered, in order, to the next requests
        # instead of serving them (a 403 while a grant propagates, a 429 quota, a 503, ...).
        self.refusals: list[tuple[int, str, str]] = []
        self._procs: dict[str, subprocess.Popen] = {}
        self._lock = threading.Lock()
        self._workdir = Path(tempfile.mkdtemp(prefix="dataproc-standin-"))
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _route(self) -> None:
                path = self.path.split("?", 1)[0]
                query = self.path.split("?", 1)[1] if "?" in self.path else ""
                standin.requests.append((self.command, path))
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}") if length else {}
                if standin.refusals:
                    code, status, message = standin.refusals.pop(0)
                    return self._reply(code, _error(code, message, status))
                found = _CLUSTER.match(path)
                if found and self.command == "GET":
                    return self._reply(*standin.cluster(*found.groups()))
                found = _BATCHES.match(path)
                if found:
                    return self._reply(*standin.batch_route(self.command, found, query, body))
                found = _OPERATION_CANCEL.match(path)
                if found and self.command == "POST":
                    return self._reply(*standin.cancel_operation(found.group(1)))
                m = _JOBS.match(path)
                if not m:
                    return self._reply(404, _error(404, f"no route {path}"))
                project, region, job_id, cancel = m.groups()
                if self.command == "POST" and path.endswith("jobs:submit"):
                    return self._reply(*standin.submit(project, region, body.get("job", {})))
                if self.command == "GET" and job_id is None:
                    return self._reply(200, standin.list(query))
                if self.command == "GET":
                    return self._reply(*standin.get(job_id))
                if self.command == "POST" and cancel:
                    return self._reply(*standin.cancel(job_id))
                return self._reply(405, _error(405, f"{self.command} {path}"))

            do_GET = do_POST = do_DELETE = _route

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> DataprocStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            for proc in self._procs.values():
                if proc.poll() is None:
                    proc.kill()
        self.server.shutdown()
        self.server.server_close()

    # -- the API -------------------------------------------------------------------------------
    def submit(self, project: str, region: str, job: dict[str, Any]) -> tuple[int, dict]:
        cluster = job.get("placement", {}).get("clusterName", "")
        if cluster not in self.clusters:
            return 404, _error(
                404, f"Not found: Cluster projects/{project}/regions/{region}/clusters/{cluster}"
            )
        if "pysparkJob" not in job:
            return 400, _error(400, "the stand-in runs PySpark jobs only")
        job_id = job.get("reference", {}).get("jobId") or uuid.uuid4().hex
        with self._lock:
            if job_id in self.jobs:
                return 409, _error(409, f"Already exists: Job {job_id}", "ALREADY_EXISTS")
            job_uuid = str(uuid.uuid4())
            meta = f"gs://{self.staging_bucket}/google-cloud-dataproc-metainfo/{job_uuid}"
            job = {
                **job,
                "reference": {"projectId": project, "jobId": job_id},
                "placement": {"clusterName": cluster, "clusterUuid": "standin-cluster-uuid"},
                "status": {"state": "PENDING", "stateStartTime": _now()},
                "statusHistory": [],
                "driverControlFilesUri": f"{meta}/jobs/{job_id}/",
                "driverOutputResourceUri": f"{meta}/jobs/{job_id}/driveroutput",
                "jobUuid": job_uuid,
                "done": False,
            }
            self.jobs[job_id] = job
        threading.Thread(target=self._run, args=(job_id,), daemon=True).start()
        return 200, job

    def cluster(self, project: str, region: str, name: str) -> tuple[int, dict]:
        if name not in self.clusters:
            return 404, _error(
                404, f"Not found: Cluster projects/{project}/regions/{region}/clusters/{name}"
            )
        return 200, {
            "projectId": project,
            "clusterName": name,
            "clusterUuid": "standin-cluster-uuid",
            "status": {"state": "RUNNING", "stateStartTime": _now()},
        }

    def get(self, job_id: str) -> tuple[int, dict]:
        with self._lock:
            job = self.jobs.get(job_id)
            return (200, json.loads(json.dumps(job))) if job else (404, _error(404, job_id))

    def list(self, query: str) -> dict:
        wanted = dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("clusterName")
        with self._lock:
            jobs = [
                j
                for j in self.jobs.values()
                if not wanted or j["placement"]["clusterName"] == wanted
            ]
            return {"jobs": json.loads(json.dumps(jobs))}

    def cancel(self, job_id: str) -> tuple[int, dict]:
        with self._lock:
            job = self.jobs.get(job_id)
            if not job:
                return 404, _error(404, job_id)
            proc = self._procs.get(job_id)
            if job["status"]["state"] not in ("DONE", "ERROR", "CANCELLED"):
                self._set(job, "CANCEL_PENDING")
                if proc and proc.poll() is None:
                    proc.terminate()
        return self.get(job_id)

    # -- the batches API ---------------------------------------------------------------------
    def batch_route(
        self, command: str, found: re.Match[str], query: str, body: dict[str, Any]
    ) -> tuple[int, dict]:
        project, region, batch_id = found.groups()
        params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        if command == "POST" and batch_id is None:
            return self.create_batch(project, region, params.get("batchId", ""), body)
        if command == "GET" and batch_id is None:
            with self._lock:
                return 200, {"batches": json.loads(json.dumps(list(self.batches.values())))}
        if command == "GET":
            return self.get_batch(batch_id)
        if command == "DELETE":
            with self._lock:
                batch = self.batches.get(batch_id)
                if not batch:
                    return 404, _error(404, f"Not found: Batch {batch_id}")
                if batch["state"] not in BATCH_ENDS:
                    return 400, _error(400, f"batch {batch_id} is {batch['state']}, not ended")
                del self.batches[batch_id]
            return 200, {}
        return 405, _error(405, f"{command} batches")

    def create_batch(
        self, project: str, region: str, batch_id: str, batch: dict[str, Any]
    ) -> tuple[int, dict]:
        if "pysparkBatch" not in batch:
            return 400, _error(400, "the stand-in runs PySpark batches only")
        batch_id = batch_id or uuid.uuid4().hex
        name = f"projects/{project}/locations/{region}/batches/{batch_id}"
        with self._lock:
            if batch_id in self.batches:
                return 409, _error(409, f"Already exists: Batch {name}", "ALREADY_EXISTS")
            batch_uuid = str(uuid.uuid4())
            meta = f"gs://{self.staging_bucket}/google-cloud-dataproc-metainfo/{batch_uuid}"
            self.batches[batch_id] = {
                **batch,
                "name": name,
                "uuid": batch_uuid,
                "createTime": _now(),
                "state": "PENDING",
                "stateTime": _now(),
                "stateHistory": [],
                "runtimeInfo": {"outputUri": f"{meta}/jobs/srvls-batch-{batch_uuid}/driveroutput"},
            }
            operation = f"projects/{project}/regions/{region}/operations/{uuid.uuid4()}"
            self.batches[batch_id]["operation"] = operation
        threading.Thread(target=self._run_batch, args=(batch_id,), daemon=True).start()
        return 200, {"name": operation, "done": False}

    def cancel_operation(self, operation: str) -> tuple[int, dict]:
        """Cancel the batch an operation created: CANCELLING, then CANCELLED when it stops."""
        with self._lock:
            found = [b for b in self.batches.values() if b.get("operation") == operation]
            if not found:
                return 404, _error(404, f"Not found: Operation {operation}")
            batch = found[0]
            if batch["state"] in BATCH_ENDS or batch["state"] == "CANCELLING":
                return 200, {}
            self._set_batch(batch, "CANCELLING")
            proc = self._procs.get("batch-" + batch["name"].rsplit("/", 1)[1])
            if proc and proc.poll() is None:
                proc.terminate()
        return 200, {}

    def get_batch(self, batch_id: str) -> tuple[int, dict]:
        with self._lock:
            batch = self.batches.get(batch_id)
            if not batch:
                return 404, _error(404, f"Not found: Batch {batch_id}")
            return 200, json.loads(json.dumps(batch))

    def _set_batch(self, batch: dict[str, Any], state: str, message: str = "") -> None:
        """Caller holds the lock."""
        before = {"state": batch["state"], "stateStartTime": batch["stateTime"]}
        batch["stateHistory"].append(before)
        batch["state"], batch["stateTime"] = state, _now()
        if message:
            batch["stateMessage"] = message

    def _run_batch(self, batch_id: str) -> None:
        with self._lock:
            batch = self.batches[batch_id]
        spec = batch["pysparkBatch"]
        properties = (batch.get("runtimeConfig") or {}).get("properties") or {}
        output = batch["runtimeInfo"]["outputUri"]

        def state(name: str, message: str = "") -> None:
            with self._lock:
                if name == "RUNNING" and batch["state"] == "CANCELLING":
                    self._set_batch(batch, "CANCELLED")
                    raise _Cancelled
                self._set_batch(batch, name, message)

        code = self._spark_submit(f"batch-{batch_id}", spec, properties, output, state)
        if code is None:
            return
        if batch["state"] == "CANCELLING":
            state("CANCELLED")
        elif code == 0:
            state("SUCCEEDED")
        else:
            state(
                "FAILED",
                f"Job failed with message [main.py exited with status {code}]. Additional"
                f" details can be found at: {output}",
            )

    # -- running a job -------------------------------------------------------------------------
    def _set(self, job: dict[str, Any], state: str, details: str = "") -> None:
        """Caller holds the lock."""
        job["statusHistory"].append(job["status"])
        job["status"] = {
            "state": state,
            "stateStartTime": _now(),
            **({"details": details} if details else {}),
        }
        job["done"] = state in ("DONE", "ERROR", "CANCELLED")

    def _run(self, job_id: str) -> None:
        with self._lock:
            job = self.jobs[job_id]
            self._set(job, "SETUP_DONE")
        output = job["driverOutputResourceUri"]

        def state(name: str, details: str = "") -> None:
            with self._lock:
                if name == "RUNNING" and job["status"]["state"] == "CANCEL_PENDING":
                    self._set(job, "CANCELLED")
                    raise _Cancelled
                self._set(job, name, details)

        spec = job["pysparkJob"]
        code = self._spark_submit(job_id, spec, spec.get("properties", {}), output, state)
        if code is None:
            return
        with self._lock:
            if job["status"]["state"] == "CANCEL_PENDING":
                self._set(job, "CANCELLED")
            elif code == 0:
                self._set(job, "DONE")
            else:
                self._set(
                    job,
                    "ERROR",
                    f"Job failed with message [main.py exited with status {code}]. Additional "
                    f"details can be found at: {output}",
                )

    def _spark_submit(
        self,
        key: str,
        spec: dict[str, Any],
        properties: dict[str, str],
        output: str,
        state: Any,
    ) -> int | None:
        """Fetch the files, run spark-submit, upload the driver output; its exit status, or None
        when it never started (the state is set already)."""
        from dataproc_faces.storage.gcs import GcsStore

        store = GcsStore()
        work = self._workdir / key
        work.mkdir(parents=True)
        log = work / "driveroutput"
        try:
            main = work / Path(spec["mainPythonFileUri"]).name
            main.write_bytes(store.read(spec["mainPythonFileUri"]))
            py_files = []
            for uri in spec.get("pythonFileUris", []):
                local = work / Path(uri).name
                local.write_bytes(store.read(uri))
                py_files.append(str(local))
        except Exception as exc:
            state("ERROR" if key in self.jobs else "FAILED", f"Cannot fetch job files: {exc}")
            return None
        cmd = [str(SPARK_SUBMIT), "--master", "local[2]", "--conf", "spark.ui.enabled=false"]
        for name, value in properties.items():
            cmd += ["--conf", f"{name}={value}"]
        if py_files:
            cmd += ["--py-files", ",".join(py_files)]
        cmd += [str(main), *spec.get("args", [])]
        env = {
            **os.environ,
            **self.env,
            "PYSPARK_PYTHON": sys.executable,
            "PYSPARK_DRIVER_PYTHON": sys.executable,
        }
        with log.open("wb") as out:
            try:
                state("RUNNING")
            except _Cancelled:
                return None
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=work, env=env)
            with self._lock:
                self._procs[key] = proc
        code = proc.wait()
        store.write(output + ".000000000", log.read_bytes(), "text/plain")
        return code


class _Cancelled(Exception):
    """A job cancelled before its spark-submit started."""


def _error(code: int, message: str, status: str = "") -> dict[str, Any]:
    names = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 405: "UNIMPLEMENTED", 409: "ALREADY_EXISTS"}
    return {"error": {"code": code, "message": message, "status": status or names.get(code, "")}}
