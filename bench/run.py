"""Benchmark: the lab's method, the one-core floor and the Spark job, side by side in one run.

Methods, each run as its own process so memory and start-up are measured the same way:
  lab      plain loop, full-resolution Haar frontalface_default, OpenCV defaults (scale 1.1,
           min neighbours 3, OpenCV's default thread count), green 1-px boxes, cv2.imread/imwrite;
  bare     plain loop over the job's own per-image code (`pipeline.process_partition`: same read,
           detector settings, drawing, encode, thumbnail and write) with one OpenCV thread;
  local1   `dataproc-faces run --master local[1]`;
  local2   `dataproc-faces run --master local[2]`.
A sampler thread reads /proc for the whole process tree every 100 ms: peak RSS of the JVM, of the
largest Python worker and of the driver, and CPU seconds. Boxes are scored at IoU 0.5 against the
corpus truth with `dataproc_faces.evaluate.match`. A second, 24-MP batch measures P4 memory.

    python -m bench.run                    # the full benchmark (about 10 minutes on 2 cores)
    python -m bench.run --quick --count 3  # smoke: tiny corpus, no 24-MP batch, no extra detector
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS_DIR = ROOT / "bench" / "corpus"
DEFAULT_WORK = ROOT / "bench" / "results"
DEFAULT_RESULTS = ROOT / "bench" / "results.json"
IOU = 0.5
# P1 as first set (1.9x on 2 cores), then as the machine allows it: at least 0.95 of what two bare
# loops side by side get (the pair ceiling)
TARGETS = {
    "p1_scaling": 1.9,
    "p1_of_ceiling": 0.95,
    "p2_overhead": 1.05,
    "p3_vs_lab": 5.0,
    "p4_peak_worker_mib": 1024,
}
# P3's quality floor on this corpus: the lab's full-resolution Haar finds nearly every pasted face
# but boxes about one false face in four; what P3 asks of the job is recall >= 0.97 and
# precision >= 0.98 (the lab's own figures are printed beside).
P3_RECALL, P3_PRECISION = 0.97, 0.98
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


# ---------------------------------------------------------------- process-tree sampling


@dataclass
class Peaks:
    """Largest RSS seen per kind of process (MiB) and CPU seconds of the whole tree."""

    jvm_mib: float = 0.0
    worker_mib: float = 0.0
    driver_mib: float = 0.0
    tree_mib: float = 0.0
    workers_seen: int = 0
    cpu_seconds: float = 0.0
    _cpu: dict[int, float] = field(default_factory=dict)
    _workers: set[int] = field(default_factory=set)

    def to_dict(self) -> dict[str, Any]:
        return {
            "jvm_mib": round(self.jvm_mib, 1),
            "largest_python_worker_mib": round(self.worker_mib, 1),
            "driver_mib": round(self.driver_mib, 1),
            "largest_process_mib": round(max(self.jvm_mib, self.worker_mib, self.driver_mib), 1),
            "tree_mib": round(self.tree_mib, 1),
            "python_workers_seen": len(self._workers),
            "cpu_seconds": round(sum(self._cpu.values()), 1),
        }


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(b")") + 2 :].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def _tree(root: int) -> list[int]:
    kids = _children()
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


def _kind(cmdline: bytes) -> str:
    if b"pyspark.daemon" in cmdline or b"pyspark/daemon" in cmdline:
        return "worker"  # the daemon and the workers it forks share its command line
    first = cmdline.split(b"\0", 1)[0]
    return "jvm" if first.endswith(b"java") else "driver"


class Sampler(threading.Thread):
    """Samples a process tree from /proc until stopped; Linux only (the bench machine)."""

    def __init__(self, root: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.root, self.interval, self.peaks = root, interval, Peaks()
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.sample()
            self._stop_event.wait(self.interval)

    def sample(self) -> None:
        p, total = self.peaks, 0.0
        for pid in _tree(self.root):
            try:
                with open(f"/proc/{pid}/statm", "rb") as f:
                    rss = int(f.read().split()[1]) * PAGE / 2**20
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    kind = _kind(f.read())
                with open(f"/proc/{pid}/stat", "rb") as f:
                    stat = f.read()
            except (OSError, IndexError, ValueError):
                continue
            fields = stat[stat.rfind(b")") + 2 :].split()
            p._cpu[pid] = (int(fields[11]) + int(fields[12])) / TICK
            total += rss
            if kind == "jvm":
                p.jvm_mib = max(p.jvm_mib, rss)
            elif kind == "worker":
                p.worker_mib = max(p.worker_mib, rss)
                p._workers.add(pid)
            else:
                p.driver_mib = max(p.driver_mib, rss)
        p.tree_mib = max(p.tree_mib, total)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def _busy_seconds() -> float:
    """CPU seconds the whole machine has been busy since boot (all cores, from /proc/stat)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / TICK


def measure(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run `cmd`, sampling its process tree; wall seconds, peaks, and the machine's other load."""
    busy_before = _busy_seconds()
    started = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        sampler = Sampler(proc.pid)
        sampler.start()
        code = proc.wait()
        sampler.stop()
    wall = time.perf_counter() - started
    if code != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{' '.join(cmd)} exited {code}:\n{tail}")
    memory = sampler.peaks.to_dict()
    # cores kept busy by processes outside the measured tree (other people's tests, ...)
    other = (_busy_seconds() - busy_before - memory["cpu_seconds"]) / wall if wall else 0.0
    return {"wall_seconds": round(wall, 2), "memory": memory, "other_load_cores": round(other, 2)}


# ---------------------------------------------------------------- the loops (child processes)


def lab_loop(images: Path, output: Path, boxes_file: Path, threads: int) -> None:
    """The lab's script, as it was: full resolution, OpenCV defaults, one process."""
    import cv2

    if threads:
        cv2.setNumThreads(threads)
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    output.mkdir(parents=True, exist_ok=True)
    found: dict[str, list[list[int]]] = {}
    for path in sorted(images.iterdir()):
        image = cv2.imread(str(path))
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        faces = cascade.detectMultiScale(gray, 1.1, 3)
        for x, y, w, h in faces:
            cv2.rectangle(image, (x, y), (x + w, y + h), (0, 255, 0), 1)
        cv2.imwrite(str(output / path.name), image)
        found[path.name] = [[int(v) for v in f] for f in faces]
    boxes_file.write_text(json.dumps(found), encoding="utf-8")


def bare_loop(
    images: Path, output: Path, boxes_file: Path, detector: str | None, shard: str = "0/1"
) -> None:
    """The job's per-image code without Spark: `process_partition` over every input in order.

    `shard` i/n takes every n-th input from the i-th: two shards side by side measure what the
    machine itself gives two processes, the ceiling for Spark's scaling (P1).
    """
    from dataproc_faces.detectors.base import DetectOptions
    from dataproc_faces.pipeline import JobSpec, list_tasks, process_partition

    options = DetectOptions(detector=detector) if detector else DetectOptions()
    spec = JobSpec(input=str(images.resolve()), output=str(output.resolve()), detect=options)
    index, count = (int(v) for v in shard.split("/"))
    rows = list(process_partition(spec, list_tasks(spec)[index::count]))
    errors = [r for r in rows if r["status"] != "ok"]
    if errors:
        raise RuntimeError(f"bare loop: {len(errors)} errors, first {errors[0]}")
    found = {Path(r["path"]).name: [_xywh(f) for f in r["faces"]] for r in rows}
    boxes_file.write_text(json.dumps(found), encoding="utf-8")


def profile_loop(
    images: Path, output: Path, limit: int, detector: str | None, mode: str = "outline"
) -> dict[str, Any]:
    """Where one photo's time goes in the job's own per-image code (`process_partition`'s read,
    `render.outline` with its stage timings, the store's writes of output and thumbnail), one
    thread, on up to `limit` inputs: ms per image and per megapixel of each stage."""
    import cv2

    from dataproc_faces.detectors.base import DetectOptions
    from dataproc_faces.imaging.render import STAGES, RenderOptions, detector_for, outline
    from dataproc_faces.pipeline import _detector
    from dataproc_faces.results.layout import Results

    cv2.setNumThreads(1)
    options = DetectOptions(detector=detector_for(mode, detector))
    det = _detector(options)
    render = RenderOptions(mode=mode)
    results = Results(str(output.resolve()), protect=str(images.resolve()))
    store = results.store()
    stages: dict[str, float] = {}
    files = sorted(images.iterdir())[:limit]
    megapixels, written = 0.0, {}
    for path in files:
        started = time.perf_counter()
        data = path.read_bytes()
        stages["read"] = stages.get("read", 0.0) + (time.perf_counter() - started) * 1000
        result = outline(data, det, render, timings=stages)
        started = time.perf_counter()
        store.write(results.image(path.name, result.new_suffix), result.data)
        if result.thumbnail:
            store.write(results.thumbnail(path.name), result.thumbnail, "image/jpeg")
        stages["write"] = stages.get("write", 0.0) + (time.perf_counter() - started) * 1000
        megapixels += result.width * result.height / 1e6
        how = result.written.split(":")[0] or result.format
        written[how] = written.get(how, 0) + 1
    n = max(1, len(files))
    order = ["read", *STAGES, "write"]
    per_image = {k: round(stages.get(k, 0.0) / n, 1) for k in order}
    per_image["total"] = round(sum(stages.values()) / n, 1)
    per_mp = {k: round(stages.get(k, 0.0) / max(megapixels, 1e-9), 2) for k in order}
    per_mp["total"] = round(sum(stages.values()) / max(megapixels, 1e-9), 2)
    return {
        "images": len(files),
        "mean_megapixels": round(megapixels / n, 2),
        "mode": mode,
        "detector": options.detector,
        "written": written,
        "ms_per_image": per_image,
        "ms_per_megapixel": per_mp,
    }


def profile_table(profile: dict[str, Any]) -> str:
    """The stage breakdown as a Markdown table: ms per image and per megapixel."""
    lines = [
        f"Where the time goes ({profile['images']} photos, mean {profile['mean_megapixels']} MP, "
        f"{profile['detector']}, --mode {profile['mode']}, one thread; written: "
        f"{', '.join(f'{k} {v}' for k, v in sorted(profile['written'].items()))})",
        "",
        "| stage | ms / photo | ms / MP |",
        "|---|---:|---:|",
    ]
    for stage, ms in profile["ms_per_image"].items():
        lines.append(f"| {stage} | {ms} | {profile['ms_per_megapixel'][stage]} |")
    return "\n".join(lines)


def _xywh(face: dict[str, Any]) -> list[int]:
    return [int(face["x"]), int(face["y"]), int(face["w"]), int(face["h"])]


# ---------------------------------------------------------------- the benchmark (parent)


def _python() -> str:
    return sys.executable


SNAPSHOT: list[Path] = []  # a frozen copy of the job's package, first on every child's path


def snapshot_code(work: Path) -> dict[str, Any]:
    """Copy the package as it is now: others edit the checkout while a long benchmark runs."""
    import dataproc_faces

    source = Path(dataproc_faces.__file__).resolve().parent
    target = work / "code"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target / "dataproc_faces", ignore=shutil.ignore_patterns("__pycache__"))
    SNAPSHOT[:] = [target]

    def git(*a: str) -> str:
        done = subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    dirty = git("status", "--porcelain", "--", str(source)).splitlines()
    return {"commit": git("rev-parse", "--short", "HEAD"), "uncommitted": dirty}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("PYSPARK_PYTHON", _python())
    env.setdefault("PYSPARK_DRIVER_PYTHON", _python())
    paths = [*map(str, SNAPSHOT), str(ROOT), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return env


def _cli() -> list[str]:
    exe = Path(_python()).with_name("dataproc-faces")
    return [str(exe)] if exe.exists() else [_python(), "-m", "dataproc_faces"]


def score(truth_file: Path, found: dict[str, list[list[int]]]) -> dict[str, Any]:
    """Recall and precision at IoU 0.5 (and 0.3, for reference) with the job's own matcher."""
    from dataproc_faces.evaluate import match, read_truth, scores

    truth = read_truth(truth_file)
    out: dict[str, Any] = {}
    for threshold in (IOU, 0.3):
        matches = [
            match(t.faces, [tuple(b) for b in found.get(t.file, [])], threshold, t.ignore)
            for t in truth
        ]
        out[f"iou{threshold}"] = scores(matches).to_dict()
    return out


# Face side as a share of the image's longest side: below about 2.5% a face is under 26 px in
# the 1024-px copy the job detects on, the size its detectors stop looking at.
SIZE_BUCKETS = ((0.0, 0.025), (0.025, 0.05), (0.05, 0.15), (0.15, 1.01))


def recall_by_size(truth_file: Path, found: dict[str, list[list[int]]]) -> dict[str, Any]:
    """Recall at IoU 0.5 per face-size bucket, so misses can be told from detection limits."""
    from dataproc_faces.evaluate import match

    doc = json.loads(truth_file.read_text(encoding="utf-8"))
    totals = {b: [0, 0] for b in SIZE_BUCKETS}
    for entry in doc["images"]:
        longest = max(entry.get("width") or 1, entry.get("height") or 1)
        truth = [(f["x"], f["y"], f["w"], f["h"]) for f in entry["faces"]]
        boxes = [tuple(b) for b in found.get(entry["file"], [])]
        matched = {t for t, _ in match(truth, boxes, IOU).pairs}
        for i, t in enumerate(truth):
            share = t[2] / longest
            bucket = next(b for b in SIZE_BUCKETS if b[0] <= share < b[1])
            totals[bucket][0] += 1
            totals[bucket][1] += i in matched
    return {
        f"{lo * 100:g}-{min(hi, 1) * 100:g}%": {
            "faces": n,
            "found": k,
            "recall": round(k / n, 3) if n else None,
        }
        for (lo, hi), (n, k) in totals.items()
    }


def _job_boxes(output: Path) -> tuple[dict[str, list[list[int]]], dict[str, Any], list[dict]]:
    from dataproc_faces.results.manifest import read_manifest
    from dataproc_faces.storage import store_for

    rows = read_manifest(store_for(str(output)), str(output))
    errors = [r for r in rows if r["status"] != "ok"]
    if errors:
        raise RuntimeError(f"job: {len(errors)} errors, first {errors[0]}")
    summary = json.loads((output / "summary.json").read_text(encoding="utf-8"))
    return {Path(r["path"]).name: [_xywh(f) for f in r["faces"]] for r in rows}, summary, rows


def run_method(
    name: str,
    corpus: Path,
    work: Path,
    detector: str | None,
    lab_threads: int,
    partitions: int | None = None,
) -> dict[str, Any]:
    """One method over the corpus: timing, memory, and scores against its truth."""
    images, truth = corpus / "images", corpus / "truth.json"
    out = work / name
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    boxes = out / "boxes.json"
    me = [_python(), "-m", "bench.run"]
    det = ["--detector", detector] if detector else []
    if name == "lab":
        cmd = [*me, "_lab", str(images), str(out / "images"), str(boxes), str(lab_threads)]
    elif name.startswith(("bare", "pair")):
        kind = "_pair" if name.startswith("pair") else "_bare"
        cmd = [*me, kind, str(images), str(out / "images"), str(boxes), detector or "-"]
    else:
        cores = name.split("local", 1)[1].split("-")[0]
        cmd = [*_cli(), "run", "--input", str(images), "--output", str(out / "job")]
        cmd += ["--master", f"local[{cores}]", *det]
        if partitions:
            cmd += ["--partitions", str(partitions)]
    print(f"  {name}: {' '.join(cmd[1:])}", flush=True)
    label = "haar full-res 1.1/3" if name == "lab" else detector or "default"
    result: dict[str, Any] = {"method": name, "detector": label}
    result.update(measure(cmd, work / f"{name}.log", _env()))
    n = sum(1 for _ in images.iterdir())
    if name == "lab" or name.startswith(("bare", "pair")):
        found = json.loads(boxes.read_text(encoding="utf-8"))
    else:
        found, summary, rows = _job_boxes(out / "job")
        job = summary["wall_seconds"]
        result["job_seconds"] = job
        # Spark's start-up and stop, the CLI's checks and the gallery page
        result["startup_seconds"] = round(result["wall_seconds"] - job, 2)
        result["startup_share"] = round(1 - job / result["wall_seconds"], 3)
        slots = int(cores)
        busy = sum(r["millis"] for r in rows) / 1000
        # time inside the job not spent in the per-image code: scheduling, transfer, idle cores
        result["in_job_overhead_seconds"] = round(job - busy / slots, 2)
        # tasks running at once on average: what Spark's scheduling achieves whatever the
        # machine's other load (which slows each image but not how many run side by side)
        result["task_concurrency"] = round(busy / job, 2) if job else 0.0
        result["detector"] = summary.get("detector", {}).get("detector", result["detector"])
    result["images"] = n
    result["images_per_second"] = round(n / result["wall_seconds"], 3)
    result["scores"] = score(truth, found)
    if "width" in json.loads(truth.read_text(encoding="utf-8"))["images"][0]:
        result["recall_by_face_size"] = recall_by_size(truth, found)
    for folder in (out / "images", out / "job" / "images", out / "job" / "thumbs"):
        shutil.rmtree(folder, ignore_errors=True)
    s = result["scores"][f"iou{IOU}"]
    print(
        f"    {result['wall_seconds']:.1f} s, recall {s['recall']:.3f}, "
        f"precision {s['precision']:.3f}, worker {result['memory']['largest_python_worker_mib']}"
        f" MiB",
        flush=True,
    )
    return result


def best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest of repeated runs (by the job's own time where there is one), all times kept."""
    key = "job_seconds" if "job_seconds" in runs[0] else "wall_seconds"
    chosen = dict(min(runs, key=lambda r: r[key]))
    chosen["runs"] = [
        {k: r[k] for k in ("wall_seconds", "job_seconds", "other_load_cores") if k in r}
        for r in runs
    ]
    return chosen


def ensure_corpus(path: Path, count: int, seed: int, mp: tuple[float, float], big: bool) -> dict:
    """Generate the corpus unless one made with the same arguments is already there."""
    from bench import corpus as generator

    meta = path / "corpus.json"
    version = hashlib.sha256(Path(generator.__file__).read_bytes()).hexdigest()[:16]
    if meta.exists():
        desc = json.loads(meta.read_text(encoding="utf-8"))
        same = desc.get("count") == count and desc.get("seed") == seed
        same = same and desc.get("generator") == version  # a changed generator makes a new corpus
        same = same and (desc.get("megapixels") == 24 if big else desc["megapixels_range"] == [*mp])
        if same and len(list((path / "images").iterdir())) == count:
            return desc
    print(f"generating corpus {path} ({count} images)", flush=True)
    desc = generator.generate(path, count, seed, mp, 24 if big else None)
    desc["generator"] = version
    meta.write_text(json.dumps(desc, indent=2) + "\n", encoding="utf-8")
    return desc


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
        load = Path("/proc/loadavg").read_text().split()[:3]
    except OSError:
        mem_kib, load = 0, []
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 2**20, 1),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": load,
    }


def _versions() -> dict[str, str]:
    import cv2
    import numpy
    import pyspark

    return {"opencv": cv2.__version__, "numpy": numpy.__version__, "pyspark": pyspark.__version__}


def _ratio(a: float, b: float) -> float:
    return round(a / b, 3) if b else float("nan")


def table(results: dict[str, Any]) -> str:
    """The results as a Markdown table and the ratio lines."""
    lines = [
        "| method | detector | wall s | job s | outside job s | images/s | CPU s | other load "
        "| recall | precision | JVM MiB | largest worker MiB | driver MiB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in results["methods"]:
        s = m["scores"][f"iou{IOU}"]
        mem = m["memory"]
        lines.append(
            f"| {m['method']} | {m['detector']} | {m['wall_seconds']:.1f} | "
            f"{m.get('job_seconds', '')} | {m.get('startup_seconds', '')} | "
            f"{m['images_per_second']:.2f} | {mem['cpu_seconds']} | {m['other_load_cores']} | "
            f"{s['recall']:.3f} | {s['precision']:.3f} | "
            f"{mem['jvm_mib'] or ''} | {mem['largest_python_worker_mib'] or ''} | "
            f"{mem['driver_mib']} |"
        )
    lines.append("")
    lines.append("| target | detector | measured | goal | met |")
    lines.append("|---|---|---:|---|---|")
    sets = [(results.get("default_detector", "default"), results)]
    sets += list(results.get("by_detector", {}).items())
    for det, r in sets:
        for key, goal in TARGETS.items():
            goal = results.get("p3_goal", goal) if key == "p3_vs_lab" else goal
            for variant in ("", "_wall"):
                value = r.get(key + variant)
                if value is None:
                    continue
                floor = results.get("p3_floor", "corpus")
                lines.append(_target_line(key + variant, det, value, goal, r, floor))
    return "\n".join(lines)


def _target_line(
    key: str, det: str, value: float, goal: float, r: dict[str, Any], floor: str = "corpus"
) -> str:
    """One target's row. P3's quality floor is the synthetic corpus's fixed one, or on real
    photos (`floor="lab"`) the lab's own recall and precision."""
    if key.startswith(("p2_", "p4_")):
        ok, text = value <= goal, f"<= {goal}"
    else:
        ok, text = value >= goal, f">= {goal}"
    if key.startswith("p3_"):
        recall, precision = P3_RECALL, P3_PRECISION
        if floor == "lab":
            recall, precision = r["recall_lab"], r["precision_lab"]
        ok = ok and r["recall_ours"] >= recall and r["precision_ours"] >= precision
        text += f" and recall/precision >= {recall:.3f}/{precision:.3f} "
        text += f"({r['recall_ours']:.3f}/{r['precision_ours']:.3f}; "
        text += f"lab {r['recall_lab']:.3f}/{r['precision_lab']:.3f})"
    name = key.replace("_wall", " (wall, incl. start-up)")
    return f"| {name} | {det} | {value} | {text} | {'yes' if ok else 'no'} |"


def ratios(methods: dict[str, dict[str, Any]], suffix: str) -> dict[str, Any]:
    """P1-P3 for one detector's bare/local1/local2 against the lab."""
    out: dict[str, Any] = {}
    lab, bare = methods.get("lab"), methods.get(f"bare{suffix}")
    pair = methods.get(f"pair{suffix}")
    if bare and pair:
        # what two independent processes get from this machine, now: the most P1 can show
        out["p1_ceiling"] = _ratio(bare["wall_seconds"], pair["wall_seconds"])
    l1, l2 = methods.get(f"local1{suffix}"), methods.get(f"local2{suffix}")
    # P1 and P2 compare the job's own time (summary.json): Spark's start-up is reported apart
    if l1 and l2:
        out["p1_scaling"] = _ratio(l1["job_seconds"], l2["job_seconds"])
        out["p1_scaling_wall"] = _ratio(l1["wall_seconds"], l2["wall_seconds"])
        if "p1_ceiling" in out:
            out["p1_of_ceiling"] = _ratio(out["p1_scaling"], out["p1_ceiling"])
    if l1 and bare:
        out["p2_overhead"] = _ratio(l1["job_seconds"], bare["wall_seconds"])
        out["p2_overhead_wall"] = _ratio(l1["wall_seconds"], bare["wall_seconds"])
        out["p2_overhead_cpu"] = _ratio(l1["memory"]["cpu_seconds"], bare["memory"]["cpu_seconds"])
    if lab and l2:
        out["p3_vs_lab"] = _ratio(lab["wall_seconds"], l2["wall_seconds"])
        # the lab's loop uses OpenCV's threads; its CPU seconds approximate a one-thread run
        out["p3_vs_lab_one_thread"] = _ratio(lab["memory"]["cpu_seconds"], l2["wall_seconds"])
    if l2:
        s = l2["scores"][f"iou{IOU}"]
        out["recall_ours"], out["precision_ours"] = s["recall"], s["precision"]
    return out


def main_bench(args: argparse.Namespace) -> int:
    args.work.mkdir(parents=True, exist_ok=True)
    code = snapshot_code(args.work)
    lo, hi = args.megapixels_range
    name = f"bench-{args.count}-s{args.seed}-{lo:g}-{hi:g}"
    if args.corpus:  # given: used as it is
        corpus, meta = args.corpus, args.corpus / "corpus.json"
        desc = json.loads(meta.read_text()) if meta.exists() else {"name": corpus.name}
        desc["count"] = sum(1 for _ in (corpus / "images").iterdir())
    else:
        corpus = args.corpus_dir / name
        desc = ensure_corpus(corpus, args.count, args.seed, tuple(args.megapixels_range), False)
    from dataproc_faces.detectors.base import DETECTORS, DetectOptions

    # the default is resolved once and passed explicitly, so every method runs the same detector
    default = DetectOptions().detector
    extra = [d for d in args.also_detector if d in DETECTORS and d != default]
    plan: list[tuple[str, str | None]] = [("lab", None)]
    for det in [default, *extra]:
        suffix = f"-{det}" if det != default else ""
        plan += [(f"{m}{suffix}", det) for m in args.methods if m != "lab"]
    if "lab" not in args.methods:
        plan = plan[1:]
    print(f"corpus {corpus}: {json.dumps(desc)}", flush=True)
    # Other people's processes only ever slow a run down: the job's methods run `repeat` times,
    # interleaved so that drifting load hits them alike, and each keeps its fastest run.
    runs: dict[str, list[dict[str, Any]]] = {}
    for round_ in range(max(1, args.repeat)):
        for method, det in plan:
            if round_ and method == "lab":
                continue
            result = run_method(method, corpus, args.work, det, args.lab_threads, args.partitions)
            runs.setdefault(method, []).append(result)
    methods = {name: best(found) for name, found in runs.items()}
    results: dict[str, Any] = {
        "command": "python -m bench.run " + " ".join(args.argv),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "default_detector": default,
        "p3_goal": args.p3_goal,
        "p3_floor": args.p3_floor,
        **ratios(methods, ""),
    }
    lab = methods.get("lab")
    if lab:
        s = lab["scores"][f"iou{IOU}"]
        results["recall_lab"], results["precision_lab"] = s["recall"], s["precision"]
    results["by_detector"] = {d: ratios(methods, f"-{d}") for d in extra}
    for r in results["by_detector"].values():
        r.update({k: results[k] for k in ("recall_lab", "precision_lab") if k in results})
    if args.p4_count:
        big = args.corpus_dir / f"big24-{args.p4_count}-s{args.seed}"
        big_desc = ensure_corpus(big, args.p4_count, args.seed, (24.0, 24.0), True)
        p4 = run_method("p4-local2", big, args.work, default, args.lab_threads)
        results["p4_peak_worker_mib"] = p4["memory"]["largest_python_worker_mib"]
        results["p4"] = {"corpus": big_desc, **p4}
    if args.profile:
        prof = args.work / "profile"
        cmd = [_python(), "-m", "bench.run", "_profile", str(corpus / "images"), str(prof)]
        cmd += [str(args.profile), default]
        subprocess.run(cmd, check=True, env=_env(), cwd=ROOT)
        results["profile"] = json.loads((prof / "profile.json").read_text(encoding="utf-8"))
    results["corpus"] = desc
    results["machine"] = {**machine(), "load_average_at_end": os.getloadavg()}
    results["versions"] = _versions()
    results["code"] = code
    results["lab_opencv_threads"] = args.lab_threads or "OpenCV default"
    results["methods"] = list(methods.values())
    text = table(results)
    if "profile" in results:
        text += "\n\n" + profile_table(results["profile"])
    results["table_markdown"] = text
    print()
    print(text)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    if args.results.exists():  # bench/scale.py's figures live beside these
        kept = json.loads(args.results.read_text(encoding="utf-8")).get("scale")
        if kept is not None:
            results["scale"] = kept
    args.results.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    (args.work / "latest.md").write_text(text + "\n", encoding="utf-8")
    print(f"\nwrote {args.results}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "_lab":
        lab_loop(Path(argv[1]), Path(argv[2]), Path(argv[3]), int(argv[4]))
        return 0
    if argv and argv[0] == "_bare":
        detector = argv[4] if len(argv) > 4 and argv[4] != "-" else None
        bare_loop(Path(argv[1]), Path(argv[2]), Path(argv[3]), detector, *argv[5:6])
        return 0
    if argv and argv[0] == "_pair":  # two bare loops side by side, one per core
        boxes = Path(argv[3])
        parts = [boxes.with_suffix(f".{i}.json") for i in range(2)]
        det = argv[4] if len(argv) > 4 else "-"
        me = [_python(), "-m", "bench.run", "_bare", *argv[1:3]]
        children = [subprocess.Popen([*me, str(p), det, f"{i}/2"]) for i, p in enumerate(parts)]
        if any(child.wait() for child in children):
            return 1
        merged = {k: v for part in parts for k, v in json.loads(part.read_text()).items()}
        boxes.write_text(json.dumps(merged), encoding="utf-8")
        return 0
    if argv and argv[0] == "_profile":
        out = Path(argv[2])
        result = profile_loop(Path(argv[1]), out, int(argv[3]), argv[4] if len(argv) > 4 else None)
        (out / "profile.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
        print(json.dumps(result))
        return 0
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    p.add_argument("--count", type=int, default=160, help="images in the main corpus")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--megapixels-range", type=float, nargs=2, default=(1.0, 12.0))
    p.add_argument("--corpus", type=Path, help="use this corpus (images/ + truth.json)")
    p.add_argument("--corpus-dir", type=Path, default=DEFAULT_CORPUS_DIR)
    p.add_argument("--work", type=Path, default=DEFAULT_WORK, help="outputs and logs")
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    p.add_argument(
        "--methods",
        type=lambda s: s.split(","),
        default=["lab", "bare", "pair", "local1", "local2"],
        help="lab, bare, pair (two bare loops side by side), local1, local2",
    )
    p.add_argument(
        "--also-detector", action="append", default=[], help="run bare/local1/local2 again with it"
    )
    p.add_argument("--p4-count", type=int, default=6, help="24-MP images for P4 (0: skip)")
    p.add_argument("--profile", type=int, default=30, help="images to profile (0: skip)")
    p.add_argument("--partitions", type=int, help="pass --partitions to the job")
    p.add_argument("--repeat", type=int, default=2, help="runs of each job method (best kept)")
    p.add_argument(
        "--lab-threads", type=int, default=0, help="OpenCV threads for the lab (0: its default)"
    )
    p.add_argument(
        "--quick", action="store_true", help="smoke run: no 24-MP batch, no profile, no extra"
    )
    p.add_argument("--p3-goal", type=float, default=TARGETS["p3_vs_lab"], help="P3's ratio goal")
    p.add_argument(
        "--p3-floor",
        choices=("corpus", "lab"),
        default="corpus",
        help="P3's quality floor: the synthetic corpus's 0.97/0.98, or the lab's own (real photos)",
    )
    args = p.parse_args(argv)
    args.argv = argv
    if args.quick:
        args.p4_count, args.profile, args.repeat = 0, 0, 1
    return main_bench(args)


if __name__ == "__main__":
    sys.exit(main())
