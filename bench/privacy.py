"""Privacy benchmark: after anonymising, can a face recogniser still tell who it was?

The attacker is dlib's ResNet face recogniser (`dlib-bin`, `face-recognition-models`; dev
dependencies only). A face counts as identified when, among all faces of its data set (those at
least MIN_FACE px wide), the nearest original embedding to its anonymised embedding is its own and
closer than dlib's same-person threshold 0.6. Landmarks come from dlib's 5-point predictor on the
annotated box, in the image the attacker sees.

End to end: every image goes through the job's per-image code (`process.outline`: decode, hide,
encode as the job writes it) with the boxes the job's detector finds, so a missed face is not
hidden and counts against the setting. Detection runs once per image at the lowest threshold swept;
higher thresholds keep the boxes scoring at least that much (as `dataproc-faces eval --sweep`).

Each row: the share of faces >= 40 px and >= 24 px still identified, and the share of image pixels
inside a mask (what the photo loses). Rows also for the lab's outline (nothing hidden) and for a
deface-like reference on the true boxes (ellipse 1.3x, box filter of half the mask side).

Each look (an ensemble member as detectors/ensemble.py make_member names it: retinaface,
centerface, "-coarse" without its tiled look, "-flip" mirrored, "-sideN" on a copy of at most N px;
"@S" found down to score S) runs once per photo, timed (CPU seconds, one thread); an ensemble row
merges the members' cached finds with the job's own rule (detectors/ensemble.py merge), so its row
is exactly what the job hides, and its cost is the sum of its members'. With `--deface PATH` the
real `deface` CLI (its own venv: `python3.11 -m venv /tmp/deface-venv && /tmp/deface-venv/bin/pip
install deface==1.5.0`) runs with its defaults over the same photos, and its outputs are measured
the same way; its wall time is set beside ours (the job's per-image code with the default detector,
in --jobs processes) over the same photos on the same cores. Without it, the row is skipped with a
note.

    python -m bench.privacy                 # the sweep below
    python -m bench.privacy --quick         # faces-dev only, three settings (a smoke run)
    python -m bench.privacy --deface /tmp/deface-venv/bin/deface --only ensemble --only deface
    python -m bench.privacy --floors        # the fill alone on the true boxes (perfect detection),
                                            # masks-dev and wider-dev: the weakest blur strength,
                                            # coarsest pixelation and smallest mask that still hide
                                            # (imaging/options.py's floors), written under "floors"

Embeddings of the originals and detections are cached under bench/privacy-cache/.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from dataproc_faces.detectors.base import DetectOptions, Face, make_detector
from dataproc_faces.detectors.ensemble import make_member, merge, network
from dataproc_faces.evaluate import match, read_truth
from dataproc_faces.imaging.anonymise import mask_for
from dataproc_faces.imaging.codec import decode
from dataproc_faces.imaging.render import RenderOptions, outline

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
CACHE = ROOT / "bench" / "privacy-cache"
RESULTS = ROOT / "bench" / "privacy.json"
SETS = {  # name -> (truth file, image folder), under --data
    "faces-dev": ("faces-dev/faces.xml", "faces-dev"),
    "masks-dev": ("masks-dev/truth.json", "masks-dev/images"),
    "wider-dev": ("wider-dev/truth.json", "wider-dev/images"),
}
SAME_PERSON = 0.6
MIN_FACE, BIG_FACE = 24, 40
DETECTOR = "retinaface"  # today's single detector (outline's default)
# looks cached, timed, per photo: ensemble members (detectors/ensemble.py make_member), "@S" at
# score S instead of LOWEST_SCORE (for a route whose members agree below it)
MEMBERS = (
    "retinaface",
    "centerface",
    "retinaface-flip",
    "retinaface-coarse",
    "centerface-coarse",
    "centerface-flip",
    "centerface-flip-coarse",
    "retinaface-flip-coarse-side640",
    "retinaface@0.05",
    "centerface@0.05",
)
ENSEMBLES = {  # ensemble routes measured: name -> members merged
    "ensemble": ("retinaface", "centerface"),
    "ensemble+flip": ("retinaface", "centerface", "retinaface-flip"),
    # the tiled looks for small faces left out: RetinaFace's, then both networks'
    "ensemble-rcoarse": ("retinaface-coarse", "centerface"),
    "ensemble-coarse": ("retinaface-coarse", "centerface-coarse"),
    # a mirrored look on a 640-px copy only (larger faces, a third of the pixels of 1024 px)
    "ensemble+flip640": ("retinaface", "centerface", "retinaface-flip-coarse-side640"),
    # CenterFace mirrored: all its looks; its coarse look only
    "ensemble+cflip": ("retinaface", "centerface", "centerface-flip"),
    "ensemble+cflip-coarse": ("retinaface", "centerface", "centerface-flip-coarse"),
    # finds down to 0.05 kept where both networks found the face: the job's default at 0.1
    # (detectors/ensemble.py MEMBERS, AGREE_SHARE; RetinaFace's coarse look alone gives the same
    # finds as its default looks here: no photo of these sets is above its tile, checked)
    "ensemble-agree0.05": ("retinaface@0.05", "centerface@0.05"),
}
AGREE = {"ensemble-agree0.05": 0.05}
DEFACE = "deface"
LOWEST_SCORE = 0.1
RECALL_IOU = 0.3  # faces-dev's boxes are tight (eyes to mouth): see its README


@dataclass(frozen=True)
class Setting:
    """One row of the table: a render mode and its options, at a score threshold."""

    name: str
    render: RenderOptions
    score: float | None = None  # None: hide the true boxes (the reference), no detector
    detector: str = DETECTOR  # a member, an ENSEMBLES route, or DEFACE (the real CLI's output)


def sweep(quick: bool) -> list[Setting]:
    """Around deface's mask: growth, strength, shape, fill and threshold, one at a time (each
    row costs about 0.13 s per face here: dlib's recogniser dominates)."""

    def s(mode: str, score: float = 0.2, detector: str = DETECTOR, **kw: Any) -> Setting:
        r = RenderOptions(mode=mode, **kw)
        label = ", ".join(f"{k}={v}" for k, v in (r.hidden() or {}).items() if k != "fill")
        name = f"{mode} {label} @{score}".replace("  ", " ")
        return Setting(name if detector == DETECTOR else f"{detector}: {name}", r, score, detector)

    deface = Setting(
        "deface 1.5.0 CLI, its defaults (thresh 0.2, mask-scale 1.3, blur)",
        RenderOptions(mode="blur", mask="ellipse", mask_scale=1.6, blur_strength=0.5),
        0.0,
        DEFACE,
    )
    blur = {"mask_scale": 1.3, "blur_strength": 0.5}
    ensembles = [
        deface,
        s("blur", 0.1, **blur),  # today's default
        s("blur", 0.2, "centerface", **blur),
        s("blur", 0.1, "centerface", **blur),
        s("blur", 0.1, "ensemble", **blur),
        s("blur", 0.2, "ensemble", **blur),
        s("blur", 0.3, "ensemble", **blur),
        s("blur", 0.2, "ensemble+flip", **blur),
        s("blur", 0.1, "ensemble+flip", **blur),
        # cheaper looks, other mirrored looks, agreeing faint finds (all @0.1, the default's)
        s("blur", 0.1, "ensemble+flip640", **blur),
        s("blur", 0.1, "ensemble+cflip-coarse", **blur),
        s("blur", 0.1, "ensemble-coarse", **blur),
        s("blur", 0.1, "ensemble-agree0.05", **blur),
        s("blur", 0.1, "ensemble+cflip", **blur),
        s("blur", 0.1, "ensemble-rcoarse", **blur),
        s("solid", 0.2, "ensemble", mask_scale=1.3),
        s("pixelate", 0.2, "ensemble", mask_scale=1.3, pixelate_blocks=6),
    ]

    reference = Setting(
        "reference: deface-like on true boxes",
        RenderOptions(mode="blur", mask="ellipse", mask_scale=1.3, blur_strength=0.5),
    )
    if quick:
        return [reference, s("outline", 0.4), s("blur"), s("blur", 0.2, "ensemble")]
    return [
        *ensembles,
        reference,
        s("outline", 0.4),
        s("blur", mask_scale=1.0, blur_strength=0.5),
        s("blur", mask_scale=1.3, blur_strength=0.5),
        s("blur", mask_scale=1.6, blur_strength=0.5),
        s("blur", mask_scale=1.3, blur_strength=1.0),
        s("blur", mask="box", mask_scale=1.3, blur_strength=0.5),
        s("blur", 0.4, mask_scale=1.3, blur_strength=0.5),
        s("pixelate", mask_scale=1.3, pixelate_blocks=6),
        s("solid", mask_scale=1.3),
        # the detector's misses dominate what is left: the lowest threshold (above), more growth
        s("blur", 0.1, mask_scale=1.6, blur_strength=0.5),
        s("solid", 0.1, mask_scale=1.3),
        s("pixelate", mask_scale=1.3, pixelate_blocks=10),
    ]


FLOOR_SETS = ("masks-dev", "wider-dev")
FLOOR_LIMIT = 0.01  # a floor hides: at most this share of faces >= 24 px identified on every set


def floor_sweep() -> list[Setting]:
    """The fill alone (true boxes, no detector): one option weakened at a time from the defaults,
    so each row says what that option by itself leaves recognisable."""

    def t(**kw: Any) -> Setting:
        r = RenderOptions(mode=kw.pop("mode", "blur"), **kw)
        label = ", ".join(f"{k}={v}" for k, v in (r.hidden() or {}).items() if k != "fill")
        return Setting(f"floor: {r.mode} {label} on true boxes", r)

    return [
        *(t(blur_strength=b) for b in (0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5)),
        *(t(mode="pixelate", pixelate_blocks=n) for n in (6, 10, 12, 16, 24)),
        *(t(mask_scale=m) for m in (0.7, 0.85, 1.0)),
    ]


class Recogniser:
    """dlib's 5-point landmarks and ResNet embedding, from the face-recognition-models wheel
    (found on disk: its __init__ imports pkg_resources, which newer setuptools drop)."""

    def __init__(self) -> None:
        import dlib

        spec = find_spec("face_recognition_models")
        if spec is None or not spec.submodule_search_locations:
            raise SystemExit("bench-privacy: pip install -r requirements-dev.txt (dlib models)")
        models = Path(next(iter(spec.submodule_search_locations))) / "models"
        self._dlib = dlib
        self._landmarks = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
        self._net = dlib.face_recognition_model_v1(
            str(models / "dlib_face_recognition_resnet_model_v1.dat")
        )

    def embed(self, rgb: np.ndarray, boxes: list[tuple[float, ...]]) -> np.ndarray:
        d = self._dlib
        out = np.zeros((len(boxes), 128), np.float32)
        for i, (x, y, w, h) in enumerate(boxes):
            rect = d.rectangle(round(x), round(y), round(x + w), round(y + h))
            out[i] = np.asarray(self._net.compute_face_descriptor(rgb, self._landmarks(rgb, rect)))
        return out


@dataclass
class DataSet:
    name: str
    files: list[Path]
    truth: list[list[tuple[float, ...]]]  # every annotated face, per image
    counted: list[list[int]]  # indices of faces >= MIN_FACE px wide, per image
    originals: np.ndarray  # embeddings of the counted faces, in order
    widths: np.ndarray
    found: dict[str, list[list[Face]]]  # per member: detections at LOWEST_SCORE, per image
    cpu: dict[str, list[float]]  # per member: CPU seconds of detection, per image
    sizes: list[tuple[int, int]]  # width, height per image
    defaced: list[Path] | None = None  # deface's outputs, per image
    deface_wall: float | None = None

    def boxes(self, i: int, detector: str, score: float) -> list[Face]:
        """What the route hides in image i at `score`: a member's finds, or an ensemble's merge."""
        if detector in ENSEMBLES:
            finds: dict[str, list[Face]] = {}
            for m in ENSEMBLES[detector]:  # each look counts as its network's find
                net = network(m)
                finds[net] = finds.get(net, []) + self.found[m][i]
            return merge(finds, *self.sizes[i], threshold=score, agree=AGREE.get(detector))
        return [f for f in self.found[detector][i] if (f.score or 0.0) >= score]

    def cost(self, detector: str) -> float:
        """CPU ms per megapixel of photo, one thread (an ensemble: its members' sum)."""
        members = ENSEMBLES.get(detector, (detector,))
        mp = sum(w * h for w, h in self.sizes) / 1e6
        return round(1000 * sum(sum(self.cpu[m]) for m in members) / mp, 1)


class Cached:
    """The job's detector, replayed: boxes found once, kept at or above a threshold."""

    name, runtime = "cached", "cached"

    def __init__(self, faces: list[Face]) -> None:
        self._faces = faces

    def detect(self, image: np.ndarray) -> list[Face]:
        return self._faces


def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode())
        h.update(str(p.stat().st_size).encode())
    return h.hexdigest()[:12]


def member(name: str) -> Any:
    """One look (an ensemble member, see make_member), at the lowest threshold swept."""
    look, _, score = name.partition("@")
    options = DetectOptions(score_threshold=float(score or LOWEST_SCORE))
    return make_member(look, options)


def load(name: str, data: Path, rec: Recogniser, members: tuple[str, ...] | None = None) -> DataSet:
    """A data set with its originals' embeddings and each look's finds; `members=()` runs no
    detector (the true-box rows need none)."""
    truth_file, folder = SETS[name]
    items = read_truth(data / truth_file)
    files = [data / folder / item.file for item in items]
    truth = [list(item.faces) for item in items]
    counted = [[i for i, b in enumerate(faces) if b[2] >= MIN_FACE] for faces in truth]
    CACHE.mkdir(parents=True, exist_ok=True)
    key = f"{name}-{_digest(files)}"
    images = [decode(path.read_bytes())[1] for path in files]
    sizes = [(im.shape[1], im.shape[0]) for im in images]
    cache = CACHE / f"{key}-originals.npz"
    if cache.exists():
        z = np.load(cache, allow_pickle=False)
        originals, widths = z["originals"], z["widths"]
    else:
        embeddings, widths_list = [], []
        for image, faces, idx in zip(images, truth, counted, strict=True):
            boxes = [faces[j] for j in idx]
            embeddings.append(rec.embed(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), boxes))
            widths_list += [b[2] for b in boxes]
        originals, widths = np.concatenate(embeddings), np.array(widths_list, float)
        np.savez(cache, originals=originals, widths=widths)
    found: dict[str, list[list[Face]]] = {}
    cpu: dict[str, list[float]] = {}
    for m in MEMBERS if members is None else members:
        cache = CACHE / (f"{key}-{m}.npz" if "@" in m else f"{key}-{m}-{LOWEST_SCORE}.npz")
        if not cache.exists():
            detector, arrays, seconds = member(m), {}, []
            detector.detect(images[0])  # warm up: the first run compiles kernels
            for i, image in enumerate(images):
                t = time.process_time()
                faces = detector.detect(image)
                seconds.append(time.process_time() - t)
                arrays[f"found{i}"] = np.array(
                    [[f.x, f.y, f.w, f.h, f.score or 0.0] for f in faces], float
                ).reshape(-1, 5)
            np.savez(cache, seconds=np.array(seconds), **arrays)
        z = np.load(cache, allow_pickle=False)
        cpu[m] = [float(v) for v in z["seconds"]]
        found[m] = [
            [Face(*map(int, row[:4]), float(row[4])) for row in z[f"found{i}"]]
            for i in range(len(files))
        ]
    return DataSet(name, files, truth, counted, originals, widths, found, cpu, sizes)


def run_deface(ds: DataSet, exe: Path, work: Path) -> None:
    """deface with its defaults over the set's photos (links in `work`: it writes next to its
    inputs, and the data sets are never written to); its wall time."""
    import subprocess

    folder = work / ds.name
    folder.mkdir(parents=True, exist_ok=True)
    links = []
    for i, path in enumerate(ds.files):
        link = folder / f"{i:05d}{path.suffix}"
        if not link.exists():
            link.symlink_to(path)
        links.append(link)
    t = time.perf_counter()
    subprocess.run([str(exe), *map(str, links)], check=True, capture_output=True)
    ds.deface_wall = round(time.perf_counter() - t, 2)
    ds.defaced = [link.with_name(f"{link.stem}_anonymized{link.suffix}") for link in links]


def _ours(path: str) -> int:
    """In a worker: the job's per-image code with the default anonymising detector."""
    if "job" not in _WORKER:
        from dataproc_faces.jobspec import default_detect

        cv2.setNumThreads(1)
        _WORKER["job"] = make_detector(default_detect("blur"))
    return len(outline(Path(path).read_bytes(), _WORKER["job"], RenderOptions(mode="blur")).data)


def our_wall(files: list[Path], jobs: int) -> float:
    """Wall seconds for the job's default blur (decode, detect, hide, encode) over `files` in
    `jobs` processes, from their start (interpreters, imports and models, as deface's own)."""
    import multiprocessing

    t = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(jobs) as pool:
        pool.map(_ours, [str(f) for f in files], chunksize=4)
    return round(time.perf_counter() - t, 2)


def measure(ds: DataSet, setting: Setting, rec: Recogniser) -> dict[str, Any]:
    """One setting on one data set, end to end through process.outline."""
    seen: list[np.ndarray] = []
    hidden_px = total_px = 0
    codec = 0.0  # CPU seconds of the job's per-image code besides detection
    for i, (path, faces, idx) in enumerate(zip(ds.files, ds.truth, ds.counted, strict=True)):
        if setting.detector == DEFACE:
            boxes = []  # deface's own boxes are not known: "changed" is not measured for it
            after = decode(ds.defaced[i].read_bytes())[1]
        else:
            if setting.score is None:
                boxes = [Face(*(round(v) for v in b)) for b in faces]
            else:
                boxes = ds.boxes(i, setting.detector, setting.score)
            t = time.process_time()
            result = outline(path.read_bytes(), Cached(boxes), setting.render)
            codec += time.process_time() - t
            after = decode(result.data)[1]
        height, width = after.shape[:2]
        total_px += width * height
        hide = setting.render.anonymiser()
        if hide is not None:
            union = np.zeros((height, width), bool)
            for f in boxes:
                m = mask_for(f, (width, height), hide.mask, hide.mask_scale)
                if m is not None:
                    union[m.y0 : m.y1, m.x0 : m.x1] |= m.inside
            hidden_px += int(union.sum())
        if not idx:
            continue
        rgb = cv2.cvtColor(after, cv2.COLOR_BGR2RGB)
        seen.append(rec.embed(rgb, [faces[j] for j in idx]))
    anonymised = np.concatenate(seen)
    distances = np.linalg.norm(anonymised[:, None, :] - ds.originals[None, :, :], axis=-1)
    nearest = distances.argmin(axis=1)
    own = distances[np.arange(len(anonymised)), np.arange(len(anonymised))]
    ident = (nearest == np.arange(len(anonymised))) & (own < SAME_PERSON)
    big = ds.widths >= BIG_FACE
    return {
        "faces_24": len(ident),
        "faces_40": int(big.sum()),
        "identified_24": round(float(ident.mean()), 4),
        "identified_40": round(float(ident[big].mean()), 4) if big.any() else None,
        "changed": None if setting.detector == DEFACE else round(hidden_px / total_px, 4),
        # decode, hide, encode; plus the route's detection: the job's CPU per megapixel
        "codec_ms_per_mp": round(1000 * codec / (total_px / 1e6), 1),
        "cpu_ms_per_mp": None
        if setting.detector == DEFACE or setting.score is None
        else round(1000 * codec / (total_px / 1e6) + ds.cost(setting.detector), 1),
    }


def recall(ds: DataSet, score: float, detector: str = DETECTOR) -> float:
    """faces-dev's yardstick: the share of annotated faces found at IoU 0.3."""
    tp = n = 0
    for i, faces in enumerate(ds.truth):
        kept = [(f.x, f.y, f.w, f.h) for f in ds.boxes(i, detector, score)]
        tp += match(faces, kept, RECALL_IOU).tp
        n += len(faces)
    return round(tp / n, 4) if n else 0.0


def misses(ds: DataSet, score: float, detector: str = DETECTOR) -> dict[str, float]:
    """Counted faces no detection covers at IoU 0.3: they stay as they were, whatever the fill;
    and the share of finds that cover no annotated face (crowds hold unannotated heads)."""
    missed_24 = missed_40 = n_24 = n_40 = false = finds = 0
    for i, (faces, idx) in enumerate(zip(ds.truth, ds.counted, strict=True)):
        kept = [(f.x, f.y, f.w, f.h) for f in ds.boxes(i, detector, score)]
        m = match(faces, kept, RECALL_IOU)
        gone = set(m.misses)
        finds += len(kept)
        false += len(kept) - m.tp
        for j in idx:
            big = faces[j][2] >= BIG_FACE
            n_24, n_40 = n_24 + 1, n_40 + big
            missed_24, missed_40 = missed_24 + (j in gone), missed_40 + (big and j in gone)
    return {
        "missed_24": round(missed_24 / max(1, n_24), 4),
        "missed_40": round(missed_40 / max(1, n_40), 4),
        "precision": round(1 - false / max(1, finds), 4),
    }


_WORKER: dict[str, Any] = {}


def _measure_all(setting: Setting) -> dict[str, Any]:
    """In a worker process: the data sets arrive by fork, the recogniser is made once."""
    if "rec" not in _WORKER:
        cv2.setNumThreads(1)
        _WORKER["rec"] = Recogniser()
    t = time.perf_counter()
    sets = _WORKER["sets"]
    row = {
        "setting": setting.name,
        "detector": setting.detector,
        "mode": setting.render.mode,
        "hidden": setting.render.hidden(),
        "score_threshold": setting.score,
        "sets": {n: measure(ds, setting, _WORKER["rec"]) for n, ds in sets.items()},
    }
    if setting.score is not None and setting.detector != DEFACE:
        row["faces_dev_recall"] = recall(sets["faces-dev"], setting.score, setting.detector)
    print(f"{setting.name}: {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)
    return row


def table(results: list[dict[str, Any]], sets: list[str]) -> str:
    head = "| setting | " + " | ".join(f"{s} >=40 / >=24 / changed" for s in sets) + " |"
    lines = [head, "|---|" + "---:|" * len(sets)]
    for r in results:
        cells = []
        for s in sets:
            m = r["sets"][s]
            i40 = "-" if m["identified_40"] is None else f"{100 * m['identified_40']:.1f}%"
            changed = "-" if m["changed"] is None else f"{100 * m['changed']:.1f}%"
            cells.append(f"{i40} / {100 * m['identified_24']:.1f}% / {changed}")
        lines.append(f"| {r['setting']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def frontier_table(frontier: dict[str, Any], sets: list[str]) -> str:
    """What each look costs (CPU ms per megapixel, one thread) and what it leaves unfound."""
    head = "| route | " + " | ".join(f"{s} ms/MP / missed >=40 / >=24 / precision" for s in sets)
    lines = [head + " | faces-dev recall |", "|---|" + "---:|" * (len(sets) + 1)]
    for route, f in frontier.items():
        cells = [
            f"{f['cpu_ms_per_mp'][s]:.0f} / {100 * f[s]['missed_40']:.1f}% / "
            f"{100 * f[s]['missed_24']:.1f}% / {f[s]['precision']:.3f}"
            for s in sets
        ]
        lines.append(f"| {route} | " + " | ".join(cells) + f" | {f['faces_dev_recall']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.privacy", description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DATA, help="folder holding the data sets")
    p.add_argument("--quick", action="store_true", help="faces-dev only, three settings")
    p.add_argument(
        "--floors",
        action="store_true",
        help="the floors of imaging/options.py: the fill alone on the true boxes of "
        + " and ".join(FLOOR_SETS)
        + ', stored under --out\'s "floors"',
    )
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--jobs", type=int, default=2, help="settings measured side by side")
    p.add_argument(
        "--deface",
        type=Path,
        metavar="EXE",
        help="the deface 1.5.0 executable (its own venv): its row and wall time beside ours",
    )
    p.add_argument(
        "--only",
        metavar="TEXT",
        action="append",
        help="measure only the settings whose name contains TEXT (repeatable), and merge them "
        "into the rows --out holds",
    )
    args = p.parse_args(argv)
    cv2.setNumThreads(1)
    rec = Recogniser()
    if args.floors:
        return _floors(args, rec)
    names = ["faces-dev"] if args.quick else list(SETS)
    started = time.perf_counter()
    sets = {n: load(n, args.data, rec) for n in names}
    print(f"loaded {', '.join(names)} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    _WORKER["sets"] = sets
    walls: dict[str, Any] = {}
    if args.deface and args.deface.exists():
        import tempfile

        work = Path(tempfile.mkdtemp(prefix="bench-deface-"))
        for ds in sets.values():
            run_deface(ds, args.deface, work)
        files = [f for ds in sets.values() for f in ds.files]
        walls = {
            "photos": len(files),
            "megapixels": round(sum(w * h for ds in sets.values() for w, h in ds.sizes) / 1e6, 1),
            "deface_s": round(sum(ds.deface_wall or 0.0 for ds in sets.values()), 1),
            "ours_s": our_wall(files, args.jobs),
            "ours": "default blur (ensemble @0.1), decode + detect + hide + encode, "
            f"{args.jobs} processes from their start",
        }
        print(f"wall time: {walls}", file=sys.stderr, flush=True)
    else:
        print(
            "note: no --deface executable given (or not found): the deface row is skipped",
            file=sys.stderr,
        )
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
        chosen = [
            s
            for s in sweep(args.quick)
            if (not args.only or any(t in s.name for t in args.only))
            and (s.detector != DEFACE or walls)
        ]
        results = pool.map(_measure_all, chosen, chunksize=1)
    if args.only and args.out.exists():  # keep the other rows of an earlier full run, in order
        done = {r["setting"]: r for r in json.loads(args.out.read_text())["results"]}
        done.update({r["setting"]: r for r in results})
        results = [done[s.name] for s in sweep(args.quick) if s.name in done]
    thresholds = {
        str(score): {
            "faces_dev_recall": recall(sets["faces-dev"], score),
            **{n: misses(ds, score) for n, ds in sets.items()},
        }
        for score in (0.1, 0.2, 0.3, 0.4, 0.5)
    }
    routes = [DETECTOR, "centerface", "retinaface-flip", *ENSEMBLES]
    frontier = {
        r: {
            "cpu_ms_per_mp": {n: ds.cost(r) for n, ds in sets.items()},
            "faces_dev_recall": recall(sets["faces-dev"], score, r),
            **{n: misses(ds, score, r) for n, ds in sets.items()},
        }
        for r in routes
        for score in [0.1 if r.startswith("retinaface") else 0.2]
    }
    if args.only and args.out.exists():
        walls = walls or json.loads(args.out.read_text()).get("wall", {})
    doc = {
        "detector": DETECTOR,
        "wall": walls,
        "frontier": frontier,
        "same_person": SAME_PERSON,
        "min_face": MIN_FACE,
        "seconds": round(time.perf_counter() - started, 1),
        "results": results,
        "thresholds": thresholds,
    }
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(table(results, names))
    print()
    print(
        "| score threshold | faces-dev recall | "
        + " | ".join(f"{n} missed >=40 / >=24" for n in names)
        + " |"
    )
    print("|---:|---:|" + "---:|" * len(names))
    for score, t in thresholds.items():
        cells = [f"{100 * t[n]['missed_40']:.1f}% / {100 * t[n]['missed_24']:.1f}%" for n in names]
        print(f"| {score} | {t['faces_dev_recall']:.3f} | " + " | ".join(cells) + " |")
    print()
    print(frontier_table(frontier, names))
    if walls:
        w = walls
        print(f"\nwall time, {w['photos']} photos: deface {w['deface_s']} s, ours {w['ours_s']} s")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def _floors(args: argparse.Namespace, rec: Recogniser) -> int:
    """Measure `floor_sweep` and merge it into --out under "floors" (other rows kept)."""
    started = time.perf_counter()
    _WORKER["sets"] = {n: load(n, args.data, rec, members=()) for n in FLOOR_SETS}
    import multiprocessing

    chosen = [s for s in floor_sweep() if not args.only or any(t in s.name for t in args.only)]
    with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
        rows = pool.map(_measure_all, chosen, chunksize=1)
    for r in rows:
        r["hides"] = all(m["identified_24"] <= FLOOR_LIMIT for m in r["sets"].values())
    doc = json.loads(args.out.read_text()) if args.out.exists() else {}
    seconds = round(time.perf_counter() - started, 1)
    if args.only and "floors" in doc:  # keep the rows measured before, in the sweep's order
        done = {r["setting"]: r for r in doc["floors"]["results"]}
        done.update({r["setting"]: r for r in rows})
        rows = [done[s.name] for s in floor_sweep() if s.name in done]
        seconds = round(doc["floors"]["seconds"] + seconds, 1)
    doc["floors"] = {"limit_identified_24": FLOOR_LIMIT, "seconds": seconds, "results": rows}
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(table(rows, list(FLOOR_SETS)))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
