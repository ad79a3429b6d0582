"""Transient Cloud Storage faults in a run: retried, every input accounted for, no duplicates."""

from __future__ import annotations

import json
import re

import pytest

from dataproc_faces.storage import gcs
from tests.conftest import SAMPLES
from tests.e2e.conftest import names, run_cli, upload
from tests.e2e.faultproxy import FAULT_KINDS, FaultProxy

pytestmark = [pytest.mark.e2e, pytest.mark.spark]

GOOD = [f"in/set{i % 2}/face{i}.png" for i in range(6)]
DOOMED = "in/always_fail.png"  # the proxy answers 503 for it every time


@pytest.fixture(scope="module")
def faulty_run(bucket, gcs_env, emulator):
    face = (SAMPLES / "astronaut.png").read_bytes()
    upload(bucket, {**dict.fromkeys(GOOD, face), DOOMED: face})
    with FaultProxy(emulator.port, every=3) as proxy:
        env = {
            **gcs_env,
            "STORAGE_EMULATOR_HOST": proxy.url,
            "DATAPROC_FACES_GCS_RETRY_SECONDS": "8",  # so the doomed read gives up quickly
        }
        proc = run_cli(
            env,
            "run",
            "--input",
            f"gs://{bucket}/in",
            "--output",
            f"gs://{bucket}/out",
            "--master",
            "local[2]",
        )
    return proc, proxy


def test_faults_of_every_kind_were_injected(faulty_run):
    proc, proxy = faulty_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    for kind in FAULT_KINDS:
        assert proxy.faults[kind] >= 1, proxy.faults
    assert proxy.faults["always"] >= 2, "the doomed object was retried"
    # Writes whose answer was lost after the object was stored: retried, still no duplicates.
    lost_writes = [f for f in proxy.log if f[0] == "drop-after" and f[1] == "POST"]
    assert lost_writes, proxy.log
    print(f"{proxy.requests} requests, faults: {dict(proxy.faults)}, lost writes: {lost_writes}")


def test_every_input_is_accounted_for_exactly_once(faulty_run, bucket):
    store = gcs.GcsStore()
    rows = [
        json.loads(line)
        for part in store.list_files(f"gs://{bucket}/out/manifest")
        for line in store.read(f"gs://{bucket}/out/manifest/{part}").decode().splitlines()
    ]
    paths = [r["path"] for r in rows]
    assert sorted(paths) == sorted(f"gs://{bucket}/{n}" for n in [*GOOD, DOOMED])
    by_path = {r["path"]: r for r in rows}
    for name in GOOD:
        assert by_path[f"gs://{bucket}/{name}"]["status"] == "ok"
    doomed = by_path[f"gs://{bucket}/{DOOMED}"]
    assert doomed["status"] == "error" and "503" in doomed["error"], doomed
    summary = json.loads(store.read(f"gs://{bucket}/out/summary.json"))
    assert (summary["inputs"], summary["ok"], summary["errors"]) == (7, 6, 1)


def test_no_duplicate_or_stray_outputs(faulty_run, bucket):
    images = names(bucket, "out/images/")
    assert images == sorted(f"out/images/{n.removeprefix('in/')}" for n in GOOD)
    parts = [n.removeprefix("out/manifest/") for n in names(bucket, "out/manifest/")]
    # one part per task and input folder: part-<folder>~<run>-<hash>, its state under the folder
    found = [re.fullmatch(r"part-([A-Za-z0-9._%-]+)~(\d{20}-[0-9a-f]{16})\.json", p) for p in parts]
    assert parts and all(found), parts
    states = [n.removeprefix("out/_state/") for n in names(bucket, "out/_state/")]
    states = [n for n in states if not n.startswith(("_digests/", "_totals/"))]  # not states
    assert sorted(states) == sorted(f"{m[1]}/part-{m[2]}.json" for m in found if m)
