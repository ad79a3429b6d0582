"""Detection cost per megapixel of the input photo, at 2, 6 and 12 MP, one thread; and the cost
per photo of each machine family the stacks offer (`--families`, docs/scale.md).

    python -m bench.cost --images DIR --truth FILE [--detector NAME ...] [--repeat 3]
    python -m bench.cost --families

Every annotated photo is scaled up (cubic) to each size, its truth boxes with it, and each
detector runs on it as the job runs it (one OpenCV thread, the detector built once). Reported:
CPU milliseconds per megapixel of the input photo (the best of --repeat runs, which removes
other processes' interference) and recall / precision at IoU 0.3, so a faster configuration that
finds less shows up as such.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "spark"))

SIZES = (2.0, 6.0, 12.0)

# -- cost per photo by machine family ---------------------------------------------------------
# Measured here (`python -m bench.run --repeat 1`, 2026-11-27, RetinaFace on OpenVINO): 0.32
# core-seconds per photo with bf16 (this CPU has AMX), 0.241 s of it detection. Since then the
# network takes uint8 pixels and drops its landmarks: `make bench-detector` (2026-12-03, routes
# side by side on the same photos) measured 39.8 against 53.5 ms/MP with bf16, so detection is
# 0.241 x 39.8 / 53.5 = 0.179 s; CPUs without bf16 (N2's) run the int8 network at 34.5 ms/MP
# with this CPU held to their instruction set, 0.867x bf16's (fp32 there was 74.3).
DETECT_SECONDS_BF16 = round(0.241 * 39.8 / 53.5, 4)
PHOTO_SECONDS_BF16 = round(0.32 - 0.241 + DETECT_SECONDS_BF16, 4)
NO_BF16_DETECT_FACTOR = round(34.5 / 39.8, 3)
DATAPROC_PER_VCPU_HOUR = 0.010  # the Dataproc premium, the same for every family
GIB_PER_VCPU = 4  # the *-standard shapes of every family offered


@dataclass(frozen=True)
class Family:
    """A machine family as the model sees it; prices are spot, us-central1, USD, or None."""

    name: str
    bf16: bool  # AMX: OpenVINO runs bf16 (C3 is the measured CPU's generation, Sapphire Rapids)
    vcpu_hour: float | None
    gib_hour: float | None
    source: str


FAMILIES = (
    Family(
        "c3",
        True,
        0.00513,
        0.000687,
        "Cloud Billing Catalog SKUs 4F6C-A177-846C / EBA2-EC70-D742, read 2025-11-15",
    ),
    Family("c4", True, None, None, "no price read; Hyperdisk boot disks on top"),
    Family("n4", True, None, None, "no price read; Hyperdisk boot disks on top"),
    Family(
        "n2",
        False,
        0.006655,
        0.000892,
        "OpenCost's GCP us-central1 defaults (spotCPU, spotRAM)",
    ),
    Family("n2d", False, None, None, "no price read"),
)


def photo_seconds(bf16: bool) -> float:
    """Core-seconds per photo: the measured bf16 time, detection scaled for the int8 network."""
    if bf16:
        return PHOTO_SECONDS_BF16
    return PHOTO_SECONDS_BF16 + DETECT_SECONDS_BF16 * (NO_BF16_DETECT_FACTOR - 1)


def all_in_hour(family: Family) -> float | None:
    """What one vCPU with its 4 GiB costs per hour, without the Dataproc premium."""
    if family.vcpu_hour is None or family.gib_hour is None:
        return None
    return family.vcpu_hour + GIB_PER_VCPU * family.gib_hour


def cost_per_million(family: Family) -> float | None:
    """Compute plus Dataproc premium for a million photos, in USD (None: no price)."""
    hour = all_in_hour(family)
    if hour is None:
        return None
    return photo_seconds(family.bf16) * 1e6 / 3600 * (hour + DATAPROC_PER_VCPU_HOUR)


def break_even_hour(family: Family, target_per_million: float) -> float:
    """The vCPU-hour price (4 GiB included) at which `family` costs `target_per_million`."""
    hours = photo_seconds(family.bf16) * 1e6 / 3600
    return target_per_million / hours - DATAPROC_PER_VCPU_HOUR


def cheapest(families: tuple[Family, ...] = FAMILIES) -> Family:
    """The family with the lowest cost per photo among those with a price."""
    priced = [f for f in families if cost_per_million(f) is not None]
    return min(priced, key=lambda f: cost_per_million(f) or math.inf)


def family_table(families: tuple[Family, ...] = FAMILIES) -> list[str]:
    """One line per family: seconds and cost per photo, or the price it would need to match."""
    best = cheapest(families)
    best_cost = cost_per_million(best) or math.inf
    lines = []
    for f in families:
        cost = cost_per_million(f)
        seconds = f"{photo_seconds(f.bf16):.3f} s/photo ({'bf16' if f.bf16 else 'int8'})"
        if cost is None:
            need = break_even_hour(f, best_cost)
            verdict = f"matches {best.name} below ${need:.5f}/vCPU-h with 4 GiB"
        else:
            verdict = f"${cost:.2f} per million photos (${all_in_hour(f):.5f}/vCPU-h with 4 GiB)"
        lines.append(f"{f.name:4} {seconds}: {verdict}  [{f.source}]")
    return lines


# -- everything per million photos: compute, premium and Cloud Storage operations -------------
# Cloud Storage, Standard class, us-central1 (cloud.google.com/storage/pricing, read 2026-11-27).
CLASS_A_PER_OP = 0.005 / 1000  # writes and listings
CLASS_B_PER_OP = 0.0004 / 1000  # reads
# Per million photos besides the photos' own objects: listing pages, a part and a state object
# per task, about 3.5 gallery page files per 500 rows (docs/scale.md).
OTHER_CLASS_A_PER_MILLION = 8_000


def writes_per_photo(thumbnails: bool, faceless_link: bool, face_share: float) -> float:
    """Object writes per photo: the output image (unless a faceless photo is only linked) and
    its thumbnail (unless --no-thumbnails)."""
    image = face_share if faceless_link else 1.0
    return image + (1.0 if thumbnails else 0.0)


def total_per_million(
    family: Family, thumbnails: bool, faceless_link: bool, face_share: float
) -> float | None:
    """USD per million photos: compute and premium, one read and the writes per photo."""
    compute = cost_per_million(family)
    if compute is None:
        return None
    writes = writes_per_photo(thumbnails, faceless_link, face_share) * 1e6
    return (
        compute
        + writes * CLASS_A_PER_OP
        + 1e6 * CLASS_B_PER_OP
        + OTHER_CLASS_A_PER_MILLION * CLASS_A_PER_OP
    )


def break_even_share(family: Family, target: float) -> float | None:
    """The share of photos with a face up to which both write-saving options keep the cost per
    million photos at or below `target` (None: not even with no face at all)."""
    floor = total_per_million(family, False, True, 0.0)
    if floor is None or floor > target:
        return None
    return min(1.0, (target - floor) / (1e6 * CLASS_A_PER_OP))


OPTION_SETS = (
    ("defaults (image + thumbnail)", True, False),
    ("--no-thumbnails", False, False),
    ("--faceless link", True, True),
    ("both", False, True),
)
SHARES = (1.0, 0.5, 0.25)


def total_table(family: Family, shares: tuple[float, ...] = SHARES) -> list[str]:
    """Cost per million photos for each write-saving option set and share of photos with faces."""
    head = "options".ljust(30) + "".join(f"{f'{s:.0%} with faces':>17}" for s in shares)
    lines = [head]
    for label, thumbs, link in OPTION_SETS:
        cells = []
        for share in shares:
            total = total_per_million(family, thumbs, link, share)
            cells.append(f"{'n/a' if total is None else f'${total:.2f}':>17}")
        lines.append(label.ljust(30) + "".join(cells))
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.cost", description=__doc__.split("\n")[0])
    p.add_argument("--families", action="store_true", help="cost per photo by machine family")
    p.add_argument("--images", type=Path)
    p.add_argument("--truth", type=Path)
    p.add_argument("--detector", action="append", help="default: retinaface, centerface, haar")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument(
        "--total",
        action="store_true",
        help="cost per million photos with the write-saving options, on the cheapest family",
    )
    args = p.parse_args(argv)
    if args.total:
        family = cheapest()
        print(f"per million photos, spot {family.name}, compute + premium + Cloud Storage:")
        print("\n".join(total_table(family)))
        share = break_even_share(family, 4.0)
        print(
            "both options stay at or below $4.00 up to "
            + (f"{share:.0%} of photos with faces" if share is not None else "no share of faces")
        )
        return 0
    if args.families:
        print("\n".join(family_table()))
        print(f"cheapest per photo: {cheapest().name}")
        return 0
    if args.images is None or args.truth is None:
        p.error("--images and --truth are required (or --families)")
    import cv2

    sys.path.insert(0, str(ROOT / "spark"))
    from dataproc_faces.detectors.base import DetectOptions, make_detector
    from dataproc_faces.evaluate import match, read_image, read_truth, scores

    cv2.setNumThreads(1)
    truth = read_truth(args.truth)
    photos = [(t, read_image(args.images / t.file)) for t in truth]
    for name in args.detector or ["retinaface", "centerface", "haar"]:
        detector = make_detector(DetectOptions(detector=name))
        for mp in SIZES:
            best, matches = math.inf, []
            for _ in range(args.repeat):
                cpu, matches = 0.0, []
                for item, photo in photos:
                    h, w = photo.shape[:2]
                    k = math.sqrt(mp * 1e6 / (w * h))
                    big = cv2.resize(photo, (round(w * k), round(h * k)), cv2.INTER_CUBIC)
                    start = time.process_time()
                    faces = detector.detect(big)
                    cpu += time.process_time() - start
                    boxes = [(x * k, y * k, fw * k, fh * k) for x, y, fw, fh in item.faces]
                    found = [(f.x, f.y, f.w, f.h) for f in faces]
                    matches.append(match(boxes, found, 0.3))
                best = min(best, cpu)
            s = scores(matches)
            print(
                f"{name:11} {mp:4.0f} MP: {best * 1000 / (mp * len(photos)):7.1f} ms/MP "
                f"({best * 1000 / len(photos):7.0f} ms per photo)  recall {s.recall:.3f}  "
                f"precision {s.precision:.3f}  [{getattr(detector, 'runtime', '')}]",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
