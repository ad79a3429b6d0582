"""The output-image options shared by `run` and `submit`: parsing, and spelling them back out as
main.py flags, so the cluster runs exactly what the command line asked for."""

from __future__ import annotations

import argparse
from typing import Any

from dataproc_faces.imaging.anonymise import MASKS
from dataproc_faces.imaging.codec import parse_color
from dataproc_faces.imaging.render import FACELESS, RenderOptions

# The allowed ranges, also offered by the web page's form (its inputs' min and max).
MASK_SCALE_RANGE = (0.5, 3.0)
PIXELATE_BLOCKS_RANGE = (2, 64)


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def parse_mask_scale(text: str) -> float:
    value = float(text)
    low, high = MASK_SCALE_RANGE
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"must be between {low:g} and {high:g}, got {text}")
    return value


def parse_blocks(text: str) -> int:
    value = int(text)
    low, high = PIXELATE_BLOCKS_RANGE
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"must be between {low} and {high}, got {text}")
    return value


def color(text: str) -> tuple[int, int, int]:
    try:
        return parse_color(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_anonymise_arguments(group: Any) -> None:
    """Mask, fill strength, metadata and write-saving flags; the defaults are RenderOptions'."""
    r = RenderOptions()
    group.add_argument(
        "--mask",
        choices=MASKS,
        default=r.mask,
        help="shape hidden by blur, pixelate, solid and both (default %(default)s)",
    )
    group.add_argument(
        "--mask-scale",
        type=parse_mask_scale,
        default=r.mask_scale,
        help="grow each face's box by this factor about its centre before hiding it, so hair, "
        "ears and chin are hidden too (default %(default)s, chosen by `make bench-privacy`)",
    )
    group.add_argument(
        "--blur-strength",
        type=positive_float,
        default=r.blur_strength,
        help="blur: box-filter side as a share of the mask's side (default %(default)s)",
    )
    group.add_argument(
        "--pixelate-blocks",
        type=parse_blocks,
        default=r.pixelate_blocks,
        help="pixelate: mosaic cells across the mask's longer side (default %(default)s)",
    )
    group.add_argument(
        "--fill-color", type=color, default=r.fill_color, help="solid: #rrggbb or a name"
    )
    group.add_argument(
        "--keep-metadata",
        action="store_true",
        help="keep the input's EXIF, ICC profile and XMP in the output, except any GPS "
        "location (default: every output image is written without metadata)",
    )
    group.add_argument(
        "--no-thumbnails",
        dest="thumbnails",
        action="store_false",
        help="write no thumbs/ copy of each photo, one object write fewer per photo (the "
        "gallery shows the output image, scaled)",
    )
    group.add_argument(
        "--faceless",
        choices=FACELESS,
        default=r.faceless,
        help="a photo with no face: copy writes it under images/ like the others; link writes "
        "nothing and its manifest row and the gallery point to the original, which keeps "
        "its metadata (--mode outline only; default %(default)s)",
    )


def anonymise_options(args: argparse.Namespace) -> dict[str, Any]:
    """RenderOptions keywords from parsed flags."""
    return {
        "mask": args.mask,
        "mask_scale": args.mask_scale,
        "blur_strength": args.blur_strength,
        "pixelate_blocks": args.pixelate_blocks,
        "fill_color": args.fill_color,
        "keep_metadata": args.keep_metadata,
        "thumbnails": args.thumbnails,
        "faceless": args.faceless,
    }


def render_flags(render: RenderOptions) -> list[str]:
    """The flags `run` needs to rebuild `render`'s mode and anonymising options; the ones at
    their defaults are left out, so the arguments of an outline job stay what they were."""
    d = RenderOptions()
    flags: list[str] = []
    if render.mode != d.mode:
        flags += ["--mode", render.mode]
    if render.mask != d.mask:
        flags += ["--mask", render.mask]
    for name in ("mask_scale", "blur_strength", "pixelate_blocks"):
        value = getattr(render, name)
        if value != getattr(d, name):
            flags += ["--" + name.replace("_", "-"), repr(value)]
    if render.fill_color != d.fill_color:
        b, g, r = render.fill_color
        flags += ["--fill-color", f"#{r:02x}{g:02x}{b:02x}"]
    if render.keep_metadata:
        flags.append("--keep-metadata")
    if not render.thumbnails:
        flags.append("--no-thumbnails")
    if render.faceless != d.faceless:
        flags += ["--faceless", render.faceless]
    return flags
