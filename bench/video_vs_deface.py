"""The video targets of `make bench-video`, side by side in one run on this machine's cores:

- `deface`: frames per second of the job's per-video code (`video.process.process_video`, blur,
  the default hiding detector, FFmpeg on one thread as in a Spark task) against the `deface`
  CLI (its own venv, `DEFACE`, default /tmp/deface-venv/bin/deface) on the same generated
  1080p clip where the astronaut's face moves across a background, every 11th frame blurred
  hard so a detector misses it; per frame, whether each output hides the face (the truth box's
  fine detail, the Laplacian's mean absolute value, falls below 30% of the undegraded clip's; a
  plain re-encode keeps about 95%, and the degraded frames themselves keep about 45%). Ours
  runs twice: one process over the whole clip, and two processes side by side on its two
  halves (what `local[2]` does with a video's segments).
- `executors`: one long 640x360 clip through the real job (`dataproc-faces run`) with `local[1]`
  then `local[2]`, segments as tasks (`DATAPROC_FACES_SEGMENT_SECONDS`).
- `threads`: CPU seconds off the main thread with FFmpeg's threads and with one (load-proof).
- `memory`: peak resident memory of a process running `process_video` on 1 and 10 minutes.

`python -m bench.video_vs_deface [deface[:FRAMES]|executors[:SECONDS]|threads[:SECONDS]|memory
...]` (all by default).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from bench.video_stride import _degrade
from dataproc_faces.detectors.base import HIDING_DETECTOR, DetectOptions, make_detector
from dataproc_faces.imaging.render import RenderOptions
from dataproc_faces.video.process import VideoOptions, drawer, process_video
from tests.unit.videogen import make_clip

DEFACE = os.environ.get("DEFACE", "/tmp/deface-venv/bin/deface")
HIDDEN_BELOW = 0.3  # output detail / undegraded detail in the truth box


def detail(img: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """Mean absolute Laplacian of the box: fine detail a blur removes."""
    x, y, w, h = box
    gray = cv2.cvtColor(img[y : y + h, x : x + w], cv2.COLOR_BGR2GRAY)
    return float(np.abs(cv2.Laplacian(gray, cv2.CV_32F)).mean())


def frames_of(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="bgr24") for f in c.decode(c.streams.video[0])]


def hidden_per_frame(src: Path, out: Path, boxes: list) -> tuple[int, int, list[int], float]:
    """(frames hidden, frames, frames not hidden, median detail ratio) against the undegraded
    clip `src`; both decoded whole."""
    a, b = frames_of(src), frames_of(out)
    ratios = [
        detail(o, box) / max(detail(i, box), 1e-6) for i, o, box in zip(a, b, boxes, strict=False)
    ]
    missed = [k for k, r in enumerate(ratios) if r >= HIDDEN_BELOW]
    return len(ratios) - len(missed), len(a), missed, float(np.median(ratios))


def vs_deface(frames: int = 50) -> None:
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as work:
        w = Path(work)
        clip = make_clip(w / "c.mp4", size=(1920, 1080), frames=frames, fps=25, side=200)
        degraded = set(range(7, frames, 11))
        _degrade(w / "c.mp4", w / "clip.mp4", degraded)
        src = w / "clip.mp4"
        print(f"clip: 1920x1080, {frames} frames, face 200 px, degraded frames {sorted(degraded)}")
        ctrl = w / "ctrl.mp4"
        process_video(
            str(src), str(ctrl), str(w / "b0.jsonl"), lambda _: [],
            drawer(RenderOptions(mode="blur")), VideoOptions(),
        )  # fmt: skip
        ok, n, _, med = hidden_per_frame(w / "c.mp4", ctrl, clip.boxes)
        print(f"control (re-encode, nothing hidden): median detail ratio {med:.2f}, {ok} counted")
        detector = make_detector(DetectOptions(detector=HIDING_DETECTOR))
        detector.detect(np.zeros((64, 64, 3), np.uint8))  # models loaded before the clock
        ours = w / "ours.mp4"
        t, cpu = time.perf_counter(), time.process_time()
        r = process_video(
            str(src), str(ours), str(w / "b.jsonl"), detector.detect,
            drawer(RenderOptions(mode="blur")), VideoOptions(codec_threads=1),
        )  # fmt: skip
        wall, cpu = time.perf_counter() - t, time.process_time() - cpu
        ok, n, missed, med = hidden_per_frame(w / "c.mp4", ours, clip.boxes)
        print(
            f"dataproc-faces process_video ({HIDING_DETECTOR}, blur), one process: {r.frames} "
            f"frames in {wall:.1f} s = {r.frames / wall:.2f} frames/s, CPU {cpu:.1f} s; "
            f"face hidden in {ok}/{n} frames "
            f"(median detail ratio {med:.2f}), not hidden in {missed}",
            flush=True,
        )
        pwall, pok = halves(w, src, clip.boxes, frames)
        print(
            f"dataproc-faces, two processes on the two halves side by side: {frames} frames in "
            f"{pwall:.1f} s = {frames / pwall:.2f} frames/s (process start and model load "
            f"included); face hidden in {pok}/{frames} frames",
            flush=True,
        )
        theirs = w / "deface.mp4"
        t, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([DEFACE, str(src), "-o", str(theirs)], check=True, capture_output=True)
        dwall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        dcpu = after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime
        ok, n, missed, med = hidden_per_frame(w / "c.mp4", theirs, clip.boxes)
        print(
            f"deface 1.5.0 CLI (defaults, blur): {n} frames in {dwall:.1f} s = {n / dwall:.2f} "
            f"frames/s (process start and model load included), CPU {dcpu:.1f} s; "
            f"face hidden in {ok}/{n} frames "
            f"(median detail ratio {med:.2f}), not hidden in {missed}",
            flush=True,
        )
        print(
            f"speed ratio dataproc-faces / deface: one process {dwall / wall:.2f}x, "
            f"two processes {dwall / pwall:.2f}x",
            flush=True,
        )


def _cut(src: Path, dst: Path, start: int, stop: int) -> None:
    """Frames [start, stop) of `src` re-encoded (lossless x264) to `dst`."""
    with av.open(str(src)) as c, av.open(str(dst), "w", format="mp4") as out:
        vs = c.streams.video[0]
        o = out.add_stream("libx264", rate=25, options={"qp": "0", "g": "6"})
        o.width, o.height, o.pix_fmt = vs.width, vs.height, "yuv420p"
        for i, f in enumerate(c.decode(vs)):
            if start <= i < stop:
                nf = av.VideoFrame.from_ndarray(f.to_ndarray(format="bgr24"), format="bgr24")
                nf.pts, nf.time_base = i - start, Fraction(1, 25)
                for p in o.encode(nf):
                    out.mux(p)
        for p in o.encode(None):
            out.mux(p)


HALF = (
    "import sys, cv2\n"
    "from dataproc_faces.detectors.base import HIDING_DETECTOR, DetectOptions, make_detector\n"
    "from dataproc_faces.imaging.render import RenderOptions\n"
    "from dataproc_faces.video.process import VideoOptions, drawer, process_video\n"
    "cv2.setNumThreads(1)\n"
    "d = make_detector(DetectOptions(detector=HIDING_DETECTOR))\n"
    "process_video(sys.argv[1], sys.argv[2], sys.argv[3], d.detect,"
    " drawer(RenderOptions(mode='blur')), VideoOptions(codec_threads=1))\n"
)


def halves(w: Path, src: Path, boxes: list, frames: int) -> tuple[float, int]:
    """Wall time of two processes on the clip's halves side by side, and frames hidden."""
    mid = frames // 2
    _cut(src, w / "h0.mp4", 0, mid)
    _cut(src, w / "h1.mp4", mid, frames)
    _cut(w / "c.mp4", w / "p0.mp4", 0, mid)
    _cut(w / "c.mp4", w / "p1.mp4", mid, frames)
    t = time.perf_counter()
    args = [[str(w / f"{p}{k}.{e}") for p, e in (("h", "mp4"), ("o", "mp4"), ("b", "jsonl"))]
            for k in (0, 1)]  # fmt: skip
    procs = [subprocess.Popen([sys.executable, "-c", HALF, *a]) for a in args]
    for p in procs:
        if p.wait():
            raise SystemExit("a half failed")
    wall = time.perf_counter() - t
    ok = sum(
        hidden_per_frame(w / f"p{k}.mp4", w / f"o{k}.mp4", part)[0]
        for k, part in ((0, boxes[:mid]), (1, boxes[mid:]))
    )
    return wall, ok


def executors(seconds: int = 60, segment: int = 10) -> None:
    with tempfile.TemporaryDirectory() as work:
        w = Path(work)
        (w / "in").mkdir()
        make_clip(
            w / "in" / "long.mp4", size=(640, 360), frames=seconds * 25, fps=25, side=90,
            audio=False,
        )  # fmt: skip
        env = {**os.environ, "DATAPROC_FACES_SEGMENT_SECONDS": str(segment)}
        times = {}
        for master in ("local[1]", "local[2]"):
            out = w / master.replace("[", "").replace("]", "")
            t = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "dataproc_faces", "run", "--input", str(w / "in"),
                 "--output", str(out), "--master", master, "--mode", "blur"],
                check=True, capture_output=True, env=env,
            )  # fmt: skip
            wall = time.perf_counter() - t
            summary = json.loads((out / "summary.json").read_text())
            phases = summary.get("phases") or {}
            times[master] = (wall, phases)
            print(
                f"{master}: {seconds} s 640x360 clip ({seconds * 25} frames, "
                f"{-(-seconds // segment)} segments of {segment} s), blur: wall {wall:.1f} s "
                f"(JVM start included), phases {phases}",
                flush=True,
            )
        one, two = times["local[1]"][0], times["local[2]"][0]
        print(f"speed-up local[1] -> local[2], wall: {one / two:.2f}x", flush=True)
        for phase in ("tasks", "video_probe", "video_segments", "video_join"):
            a, b = (times[m][1].get(phase) for m in ("local[1]", "local[2]"))
            if a and b:
                print(f"  {phase}: {a:.2f} s -> {b:.2f} s = {a / b:.2f}x", flush=True)


def threads(seconds: int = 30) -> None:
    """CPU seconds spent off the process's main thread by `process_video` on the executors'
    640x360 clip (blur, the default hiding detector), with FFmpeg's own threads and with one
    each (a Spark task's setting): what a `local[1]` run can take from a second core, whatever
    else the machine runs (CPU time, not wall time)."""
    cv2.setNumThreads(1)
    detector = make_detector(DetectOptions(detector=HIDING_DETECTOR))
    detector.detect(np.zeros((64, 64, 3), np.uint8))
    with tempfile.TemporaryDirectory() as work:
        w = Path(work)
        make_clip(w / "c.mp4", size=(640, 360), frames=seconds * 25, fps=25, side=90, audio=False)
        for n in (0, 1):
            cpu, main, t = time.process_time(), time.thread_time(), time.perf_counter()
            r = process_video(
                str(w / "c.mp4"), str(w / "o.mp4"), str(w / "b.jsonl"), detector.detect,
                drawer(RenderOptions(mode="blur")), VideoOptions(codec_threads=n),
            )  # fmt: skip
            wall = time.perf_counter() - t
            cpu, main = time.process_time() - cpu, time.thread_time() - main
            print(
                f"codec_threads={n} ({'FFmpeg decides' if n == 0 else 'one thread'}): "
                f"{r.frames} frames, wall {wall:.1f} s, CPU {cpu:.1f} s of which off the main "
                f"thread {cpu - main:.1f} s ({(cpu - main) / cpu:.0%})",
                flush=True,
            )


def memory(minutes: tuple[int, ...] = (1, 10)) -> None:
    for m in minutes:
        with tempfile.TemporaryDirectory() as work:
            w = Path(work)
            make_clip(w / "c.mp4", size=(320, 180), frames=m * 60 * 25, fps=25, side=64)
            code = (
                "import sys, time, cv2\n"
                "from dataproc_faces.detectors.base import DetectOptions, make_detector\n"
                "from dataproc_faces.imaging.render import RenderOptions\n"
                "from dataproc_faces.video.process import VideoOptions, drawer, process_video\n"
                "cv2.setNumThreads(1)\n"
                "d = make_detector(DetectOptions())\n"
                "t = time.perf_counter()\n"
                "r = process_video(sys.argv[1], sys.argv[2], sys.argv[3], d.detect,"
                " drawer(RenderOptions(mode='blur')), VideoOptions(codec_threads=1))\n"
                "hwm = [ln for ln in open('/proc/self/status') if ln.startswith('VmHWM')]\n"
                "mb = int(hwm[0].split()[1]) // 1024\n"
                "print(r.frames, round(time.perf_counter() - t, 1), mb)\n"
            )
            p = subprocess.run(
                [sys.executable, "-c", code, str(w / "c.mp4"), str(w / "o.mp4"), str(w / "b")],
                check=True, capture_output=True, text=True,
            )  # fmt: skip
            frames, wall, rss = p.stdout.split()[-3:]
            print(
                f"{m} min 320x180 ({frames} frames, retinaface, blur): {wall} s, "
                f"peak RSS of the process (VmHWM) {rss} MB",
                flush=True,
            )
    # VmHWM, not ru_maxrss: a child's ru_maxrss starts at its parent's size at fork, and this
    # process grows while it writes the 10-minute clip.
    print(f"(this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB)")


if __name__ == "__main__":
    parts = {"deface": vs_deface, "executors": executors, "threads": threads, "memory": memory}
    for arg in sys.argv[1:] or list(parts):  # NAME or NAME:N (frames; seconds for executors)
        name, _, n = arg.partition(":")
        parts[name](*(int(n),) if n else ())
