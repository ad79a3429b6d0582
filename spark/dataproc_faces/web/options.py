"""The run form's choices and their reading, taken from the job's own definitions (modes, masks,
detectors, thresholds, ranges and checks), so an option added to `run` reaches the page."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from dataproc_faces import jobspec
from dataproc_faces.detectors.base import DEFAULT_SCORES, DETECTORS, PRIVACY_SCORES, DetectOptions
from dataproc_faces.imaging import options as render_args
from dataproc_faces.imaging.anonymise import MASKS
from dataproc_faces.imaging.render import (
    FILL_OF_MODE,
    MODES,
    RenderOptions,
    detector_for,
    privacy_detect,
)


@dataclass(frozen=True)
class Choices:
    """What the form offers, with the job's defaults preselected."""

    detectors: list[str]
    detector: str  # "": the mode's default (detector_for)
    detector_by_mode: dict[str, str]
    modes: tuple[str, ...]
    mode: str
    anonymising: list[str]
    masks: tuple[str, ...]
    render: RenderOptions
    privacy_scores: dict[str, float]
    default_scores: dict[str, float]
    mask_scale_range: tuple[float, float]
    blocks_range: tuple[int, int]
    floors: dict[str, float]


def choices() -> Choices:
    return Choices(
        detectors=sorted(DETECTORS),
        detector="",
        detector_by_mode={m: detector_for(m) for m in MODES},
        modes=MODES,
        mode=RenderOptions().mode,
        anonymising=[m for m in MODES if m in FILL_OF_MODE],
        masks=MASKS,
        render=RenderOptions(),
        privacy_scores=dict(PRIVACY_SCORES),
        default_scores=dict(DEFAULT_SCORES),
        mask_scale_range=render_args.MASK_SCALE_RANGE,
        blocks_range=render_args.PIXELATE_BLOCKS_RANGE,
        floors={
            "blur_strength": render_args.BLUR_STRENGTH_FLOOR,
            "pixelate_blocks": render_args.PIXELATE_BLOCKS_CEILING,
            "mask_scale": render_args.MASK_SCALE_FLOOR,
        },
    )


# form field -> (RenderOptions field, the command line's check for it)
_RENDER_FIELDS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "mask_scale": ("mask_scale", render_args.parse_mask_scale),
    "blur_strength": ("blur_strength", render_args.positive_float),
    "pixelate_blocks": ("pixelate_blocks", render_args.parse_blocks),
}


def read(form: Mapping[str, str]) -> tuple[DetectOptions, RenderOptions]:
    """Detector and output options from a posted form; ValueError with one sentence."""
    mode = (form.get("mode") or RenderOptions().mode).strip()
    if mode not in MODES:
        raise ValueError(f"mode {mode!r} is not one of {', '.join(MODES)}")
    mask = (form.get("mask") or RenderOptions().mask).strip()
    if mask not in MASKS:
        raise ValueError(f"mask {mask!r} is not one of {', '.join(MASKS)}")
    threshold = (form.get("score_threshold") or "").strip() or None
    detect = jobspec.detect_options(
        {"detector": detector_for(mode, form.get("detector")), "score_threshold": threshold}
    )
    chosen: dict[str, Any] = {"mode": mode, "mask": mask}
    for key, (name, check) in _RENDER_FIELDS.items():
        raw = (form.get(key) or "").strip()
        if raw:
            try:
                chosen[name] = check(raw)
            except (ValueError, argparse.ArgumentTypeError) as exc:
                raise ValueError(f"{key.replace('_', ' ')}: {exc}") from None
    chosen["allow_weak"] = (form.get("allow_weak") or "").strip() in ("1", "on", "true")
    render = replace(RenderOptions(), **chosen)
    weak = render_args.too_weak(render)
    if weak:
        raise ValueError(page_words(weak))
    return privacy_detect(detect, mode), render


def page_words(text: str) -> str:
    """A command line's sentence with its flags named as the page names them."""
    for flag, words in (
        ("add --allow-weak to use it anyway", "tick \"Allow weak settings\" to use it anyway"),
        ("(make bench-privacy)", "(measured by make bench-privacy)"),
        ("--blur-strength ", "blur strength "),
        ("--pixelate-blocks ", "pixelate blocks "),
        ("--mask-scale ", "mask scale "),
        ("add --force to overwrite them", "start the run from the command line with --force to "
         "overwrite them"),
        ("or choose another --output", "or let the page make a new results folder"),
    ):  # fmt: skip
        text = text.replace(flag, words)
    return text


def described(detect: DetectOptions, render: RenderOptions) -> dict[str, Any]:
    """The options a person chose, for the run's record and pages (mode-relevant ones only)."""
    shown: dict[str, Any] = (
        {"threshold": round(detect.score(), 3)} if detect.detector in (DEFAULT_SCORES) else {}
    )
    if render.mode in FILL_OF_MODE:
        shown["mask"] = render.mask
        shown["mask scale"] = render.mask_scale
        fill = FILL_OF_MODE[render.mode]
        if fill == "blur":
            shown["blur strength"] = render.blur_strength
        elif fill == "pixelate":
            shown["pixelate blocks"] = render.pixelate_blocks
    return shown
