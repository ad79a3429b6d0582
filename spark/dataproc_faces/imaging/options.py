"""The output-image options shared by `run` and `submit`: parsing, checking, and spelling them
back out as main.py flags, so the cluster runs exactly what the command line asked for.

Two checks keep a hiding setting from failing silently: a flag given for a mode it does not
apply to (`--fill-color` with outline) is refused, and so is a setting below its floor (a blur
too weak, a mosaic too fine, a mask too small to hide a face when the detector found it), unless
`--allow-weak` is given. The floors are measured: `make bench-privacy` with `--floors` hides
the true boxes of masks-dev and wider-dev (perfect detection, so the fill alone is measured) and
dlib's recogniser tries to tell who each face was (bench/privacy.json, "floors").
"""

from __future__ import annotations

import argparse
from typing import Any

from dataproc_faces.imaging.anonymise import MASKS
from dataproc_faces.imaging.codec import parse_color
from dataproc_faces.imaging.render import FACELESS, FILL_OF_MODE, RenderOptions

# The allowed ranges, also offered by the web page's form (its inputs' min and max).
MASK_SCALE_RANGE = (0.5, 3.0)
PIXELATE_BLOCKS_RANGE = (2, 64)
# The weakest settings that still hide (at most 1% of faces >= 24 px identified on masks-dev
# and on wider-dev, true boxes): `python -m bench.privacy --floors`, README's privacy table.
BLUR_STRENGTH_FLOOR = 0.3
PIXELATE_BLOCKS_CEILING = 10
MASK_SCALE_FLOOR = 1.0
# flag -> the fills (FILL_OF_MODE's values) it applies to
_APPLIES = {
    "--mask": ("blur", "pixelate", "solid"),
    "--mask-scale": ("blur", "pixelate", "solid"),
    "--blur-strength": ("blur",),
    "--pixelate-blocks": ("pixelate",),
    "--fill-color": ("solid",),
}
_MODES_FOR = {
    "--mask": "blur, pixelate, solid or both",
    "--mask-scale": "blur, pixelate, solid or both",
    "--blur-strength": "blur or both",
    "--pixelate-blocks": "pixelate",
    "--fill-color": "solid",
}


class Given(argparse.Action):
    """Stores the value and notes that the flag was given (`args.given`), so a flag meant for
    another mode is refused even when its value equals the default."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option: Any = None) -> None:
        setattr(namespace, self.dest, values)
        given = set(getattr(namespace, "given", None) or ())
        given.add(self.option_strings[-1])
        namespace.given = given


def not_applicable(mode: str, given: set[str] | None) -> str | None:
    """One sentence when a flag was given that `mode` does not use, else None."""
    fill = FILL_OF_MODE.get(mode)
    for flag in _APPLIES:
        if flag in (given or ()) and fill not in _APPLIES[flag]:
            return (
                f"{flag} does not apply to --mode {mode}: it is for --mode "
                f"{_MODES_FOR[flag]}; drop it or choose such a mode"
            )
    return None


def too_weak(render: RenderOptions) -> str | None:
    """One sentence when a hiding setting is below its measured floor and --allow-weak was not
    given, else None."""
    fill = FILL_OF_MODE.get(render.mode)
    if fill is None or render.allow_weak:
        return None
    how = "(make bench-privacy); add --allow-weak to use it anyway"
    if fill == "blur" and render.blur_strength < BLUR_STRENGTH_FLOOR:
        return (
            f"--blur-strength {render.blur_strength:g} leaves faces recognisable: at least "
            f"{BLUR_STRENGTH_FLOOR:g} hides them on the dev sets {how}"
        )
    if fill == "pixelate" and render.pixelate_blocks > PIXELATE_BLOCKS_CEILING:
        return (
            f"--pixelate-blocks {render.pixelate_blocks} leaves faces recognisable: at most "
            f"{PIXELATE_BLOCKS_CEILING} hides them on the dev sets {how}"
        )
    if render.mask_scale < MASK_SCALE_FLOOR:
        return (
            f"--mask-scale {render.mask_scale:g} leaves faces recognisable: at least "
            f"{MASK_SCALE_FLOOR:g} hides them on the dev sets {how}"
        )
    return None


def check_render(args: argparse.Namespace, render: RenderOptions) -> str | None:
    """The two checks of `run` and `submit`: a flag for another mode, then a weak setting."""
    return not_applicable(render.mode, getattr(args, "given", None)) or too_weak(render)


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
        action=Given,
        choices=MASKS,
        default=r.mask,
        help="shape hidden by blur, pixelate, solid and both (default %(default)s)",
    )
    group.add_argument(
        "--mask-scale",
        action=Given,
        type=parse_mask_scale,
        default=r.mask_scale,
        help="grow each face's box by this factor about its centre before hiding it, so hair, "
        "ears and chin are hidden too (default %(default)s, chosen by `make bench-privacy`)",
    )
    group.add_argument(
        "--blur-strength",
        action=Given,
        type=positive_float,
        default=r.blur_strength,
        help="blur: box-filter side as a share of the mask's side (default %(default)s)",
    )
    group.add_argument(
        "--pixelate-blocks",
        action=Given,
        type=parse_blocks,
        default=r.pixelate_blocks,
        help="pixelate: mosaic cells across the mask's longer side (default %(default)s)",
    )
    group.add_argument(
        "--fill-color",
        action=Given,
        type=color,
        default=r.fill_color,
        help="solid: #rrggbb or a name",
    )
    group.add_argument(
        "--allow-weak",
        action="store_true",
        help="accept a blur strength, pixelate blocks or mask scale below the floor measured "
        f"to hide faces (blur strength {BLUR_STRENGTH_FLOOR:g}, at most "
        f"{PIXELATE_BLOCKS_CEILING} blocks, mask scale {MASK_SCALE_FLOOR:g})",
    )
    group.add_argument(
        "--keep-metadata",
        action="store_true",
        help="keep what describes the picture (camera and lens models, exposure, dates, colour "
        "profile) from the input's EXIF, ICC profile and XMP; never a location, a name, a "
        "caption, a serial number or an edit history (README lists both; default: every "
        "output image is written without metadata)",
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
        "allow_weak": getattr(args, "allow_weak", False),
    }


def render_flags(render: RenderOptions) -> list[str]:
    """The flags `run` needs to rebuild `render`'s mode and anonymising options; the ones at
    their defaults are left out, so the arguments of an outline job stay what they were, and so
    are those the mode does not use (`run` refuses them)."""
    d = RenderOptions()
    fill = FILL_OF_MODE.get(render.mode)
    flags: list[str] = []
    if render.mode != d.mode:
        flags += ["--mode", render.mode]
    if render.mask != d.mask and fill:
        flags += ["--mask", render.mask]
    for name in ("mask_scale", "blur_strength", "pixelate_blocks"):
        value = getattr(render, name)
        if value != getattr(d, name) and fill in _APPLIES["--" + name.replace("_", "-")]:
            flags += ["--" + name.replace("_", "-"), repr(value)]
    if render.allow_weak and fill:
        flags.append("--allow-weak")
    if render.fill_color != d.fill_color and fill == "solid":
        b, g, r = render.fill_color
        flags += ["--fill-color", f"#{r:02x}{g:02x}{b:02x}"]
    if render.keep_metadata:
        flags.append("--keep-metadata")
    if not render.thumbnails:
        flags.append("--no-thumbnails")
    if render.faceless != d.faceless:
        flags += ["--faceless", render.faceless]
    return flags
