"""`make bench-scale`: the real job over N tiny synthetic inputs on disk, for what grows with N.

What it measures, per N: the driver's peak RSS (VmHWM of the Python driver process, read from
/proc while it runs; in local mode the JVM hosts the executors too, so its peak is reported apart),
the driver's time outside tasks (wall time less the Spark action that runs the tasks, from the
phases summary.json records), and the overhead per input beyond the per-image work (core time
not spent inside the rows' own milliseconds, divided by N). The inputs are 32x32 PNGs in 100
folders and the detector is Haar: per-image work is tiny, so what is left is the job's own cost.

Then a resume run: kill the job (driver, JVM and workers) once about half the inputs have rows,
start it again and record what the second run processed and skipped; then a no-change rerun and a
rerun after adding 1% new inputs. And incremental runs (`--incremental`): what adding 100 inputs
(one new folder) to a done collection of N costs against a run over those 100 alone into a fresh
results folder, then what changing 100 inputs spread over 100 existing folders costs, and what a
run of the change feed (an --input-list naming 100 new photos) costs there against a fresh folder.

Results go to bench/results.json under "scale" (other keys are left as they are).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.json"
FOLDERS = 100


def tiny_png(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    ok, buf = cv2.imencode(".png", rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))
    assert ok
    return buf.tobytes()


def make_inputs(root: Path, count: int, start: int = 0) -> None:
    """`count` files over FOLDERS folders; the bytes repeat (content does not matter here)."""
    blobs = [tiny_png(i) for i in range(16)]
    for i in range(start, start + count):
        folder = root / f"f{i % FOLDERS:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"img-{i:07d}.png").write_bytes(blobs[i % 16])


def _kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


class Peaks(threading.Thread):
    """Peak RSS of the driver (the Python process started) and of its JVM child."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.driver_kib, self.jvm_kib = pid, 0, 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.2):
            self.driver_kib = max(self.driver_kib, _kib(self.pid, "VmHWM"))
            for child in _children(self.pid):
                if b"java" in Path(f"/proc/{child}/cmdline").read_bytes()[:200]:
                    self.jvm_kib = max(self.jvm_kib, _kib(child, "VmHWM"))


def command(src: Path, dst: Path, master: str, *extra: str) -> list[str]:
    return [
        *(sys.executable, "-m", "dataproc_faces", "run", "--input", str(src)),
        *("--output", str(dst), "--master", master, "--detector", "haar", *extra),
    ]


def env() -> dict[str, str]:
    return {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}


def measured_run(src: Path, dst: Path, master: str, *extra: str) -> dict[str, Any]:
    started = time.perf_counter()
    proc = subprocess.Popen(
        command(src, dst, master, *extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env()
    )
    peaks = Peaks(proc.pid)
    peaks.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - started
    peaks.stop.set()
    peaks.join()
    if proc.returncode != 0:
        raise RuntimeError(err.decode()[-3000:])
    summary = json.loads((dst / "summary.json").read_text())
    millis = sum(
        json.loads(line)["millis"]
        for part in (dst / "manifest").glob("*.json")
        for line in part.read_text().splitlines()
    )
    return {
        "wall_seconds": round(wall, 2),
        "driver_peak_mib": round(peaks.driver_kib / 1024, 1),
        "jvm_peak_mib_driver_and_executors": round(peaks.jvm_kib / 1024, 1),
        "phases": summary.get("phases"),
        "processed": summary["processed"],
        "skipped": summary["skipped"],
        "inputs": summary["inputs"],
        "row_millis_total": round(millis, 1),
    }


def scale_point(work: Path, n: int, master: str, cores: int) -> dict[str, Any]:
    src, dst = work / f"in-{n}", work / f"out-{n}"
    if not src.exists():
        make_inputs(src, n)
    if dst.exists():
        subprocess.run(["rm", "-rf", str(dst)], check=True)
    r = measured_run(src, dst, master)
    tasks = r["phases"]["tasks"]
    r["n"] = n
    r["driver_seconds_outside_tasks"] = round(r["wall_seconds"] - tasks, 2)
    # core-milliseconds per input not spent in the per-image work the rows time themselves
    r["overhead_ms_per_input"] = round(
        (r["wall_seconds"] * 1000 * cores - r["row_millis_total"]) / n, 3
    )
    r["task_overhead_ms_per_input"] = round((tasks * 1000 * cores - r["row_millis_total"]) / n, 3)
    r["row_ms_per_input"] = round(r["row_millis_total"] / n, 3)
    print(json.dumps(r), flush=True)
    return r


def rows_done(dst: Path) -> int:
    state = dst / "_state"
    if not state.exists():
        return 0
    return sum(p.read_text().count("\n") for p in state.rglob("part-*.json"))


def resume_demo(work: Path, n: int, master: str) -> dict[str, Any]:
    src, dst = work / f"resume-in-{n}", work / f"resume-out-{n}"
    if not src.exists():
        make_inputs(src, n)
    subprocess.run(["rm", "-rf", str(dst)], check=True)
    started = time.perf_counter()
    proc = subprocess.Popen(
        command(src, dst, master),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env(),
        start_new_session=True,
    )
    while rows_done(dst) < n // 2 and proc.poll() is None:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_after = time.perf_counter() - started
    done = rows_done(dst)
    second = measured_run(src, dst, master)
    again = measured_run(src, dst, master)
    make_inputs(src, n // 100, start=n)
    new = measured_run(src, dst, master)
    result = {
        "n": n,
        "killed_after_seconds": round(killed_after, 1),
        "rows_when_killed": done,
        "restart": second,
        "rerun_no_changes": again,
        "rerun_after_adding": {"added": n // 100, **new},
    }
    print(json.dumps(result), flush=True)
    return result


def incremental_point(
    work: Path, n: int, added: int, master: str, reuse: bool = False
) -> dict[str, Any]:
    """What adding `added` inputs (one new folder) to a done collection of `n` costs, against a
    run over the same `added` inputs into a fresh results folder; run side by side. `reuse`:
    keep a collection an earlier call left done in `work` (its first run is not repeated)."""
    src, dst = work / f"incr-in-{n}", work / f"incr-out-{n}"
    first: dict[str, Any] | None = None
    if not (reuse and (dst / "summary.json").exists()):
        subprocess.run(["rm", "-rf", str(src), str(dst)], check=True)
        make_inputs(src, n)
        first = measured_run(src, dst, master)
    new_folder = src / f"new-{time.strftime('%Y%m%d-%H%M%S')}"
    fresh_src, fresh_dst = work / f"incr-fresh-in-{n}", work / f"incr-fresh-out-{n}"
    subprocess.run(["rm", "-rf", str(fresh_src), str(fresh_dst)], check=True)
    blobs = [tiny_png(n + i) for i in range(16)]
    for folder in (new_folder, fresh_src / "new"):
        folder.mkdir(parents=True)
        for i in range(added):
            (folder / f"add-{i:05d}.png").write_bytes(blobs[i % 16])
    fresh = measured_run(fresh_src, fresh_dst, master)
    incremental = measured_run(src, dst, master)
    changed = change_spread(src, added, n)
    spread = measured_run(src, dst, master)
    fresh_feed, feed = feed_runs(work, src, dst, fresh_src, added, n, master)
    result = {
        "n": n,
        "added": added,
        "first_run": first,
        "fresh_run_of_the_added": fresh,
        "incremental_run": incremental,
        "ratio": round(incremental["wall_seconds"] / fresh["wall_seconds"], 2),
        "changed_spread": {"changed": changed, "folders": min(changed, FOLDERS), **spread},
        "ratio_changed_spread": round(spread["wall_seconds"] / fresh["wall_seconds"], 2),
        "fresh_feed_run": fresh_feed,
        "feed_run": feed,
        "ratio_feed": round(feed["wall_seconds"] / fresh_feed["wall_seconds"], 2),
    }
    print(json.dumps(result), flush=True)
    return result


def feed_runs(
    work: Path, src: Path, dst: Path, fresh_src: Path, added: int, n: int, master: str = "local[2]"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """What `follow` starts for `added` new photos: a run over an --input-list naming exactly
    them, into a fresh results folder and into the done collection, side by side."""
    blobs = [tiny_png(20 * n + i) for i in range(16)]
    runs = []
    for root, out, name in (
        (fresh_src, work / f"incr-fresh-feed-out-{n}", "feed"),
        (src, dst, f"feed-{time.strftime('%Y%m%d-%H%M%S')}"),
    ):
        subprocess.run(["rm", "-rf", str(root / name)], check=True)
        if out != dst:
            subprocess.run(["rm", "-rf", str(out)], check=True)
        (root / name).mkdir(parents=True)
        listed = []
        for i in range(added):
            photo = root / name / f"feed-{i:05d}.png"
            photo.write_bytes(blobs[i % 16])
            listed.append(f"{photo}\n")
        listing = work / f"feed-list-{n}-{len(runs)}.txt"
        listing.write_text("".join(listed))
        runs.append(measured_run(root, out, master, "--input-list", str(listing)))
    return runs[0], runs[1]


def change_spread(src: Path, count: int, n: int) -> int:
    """New bytes for `count` existing inputs, one per folder round the FOLDERS folders (input i
    lives in folder i % FOLDERS), so each changed input sits in a different folder."""
    blobs = [tiny_png(10 * n + i) for i in range(16)]
    changed = 0
    for i in range(min(count, n)):
        path = src / f"f{i % FOLDERS:03d}" / f"img-{i:07d}.png"
        path.write_bytes(blobs[i % 16])  # other bytes, a new mtime: a new version
        changed += 1
    return changed


def save(path: Path, record: dict[str, Any]) -> None:
    results = json.loads(path.read_text()) if path.exists() else {}
    results["scale"] = record
    path.write_text(json.dumps(results, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated N")
    p.add_argument("--resume-n", type=int, default=20_000)
    p.add_argument("--master", default="local[2]")
    p.add_argument(
        "--incremental",
        default="50000,1000000",
        help="comma-separated N: add 100 inputs to a done collection of N (empty: skip)",
    )
    p.add_argument("--added", type=int, default=100)
    p.add_argument(
        "--reuse", action="store_true", help="incremental: keep a done collection found in --work"
    )
    p.add_argument("--work", type=Path, default=ROOT / "bench" / "scale-work")
    p.add_argument("--results", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    cores = int(args.master.split("[")[1].rstrip("]")) if "[" in args.master else os.cpu_count()
    args.work.mkdir(parents=True, exist_ok=True)
    record = {
        "command": " ".join(["python -m bench.scale", *(argv or sys.argv[1:])]),
        "date": time.strftime("%Y-%m-%d"),
        "master": args.master,
        "inputs": "32x32 PNG files on local disk in 100 folders; --detector haar",
        "points": [],
        "resume": None,
    }
    for n in filter(None, args.sizes.split(",")):
        record["points"].append(scale_point(args.work, int(n), args.master, cores))
        save(args.results, record)  # a long run keeps what it measured if a later step fails
    record["incremental"] = []
    for n in filter(None, args.incremental.split(",")):
        point = incremental_point(args.work, int(n), args.added, args.master, args.reuse)
        record["incremental"].append(point)
        save(args.results, record)
    if args.resume_n:
        record["resume"] = resume_demo(args.work, args.resume_n, args.master)
    save(args.results, record)
    print(f"wrote {args.results} (key 'scale')")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
