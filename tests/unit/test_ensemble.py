"""The hiding ensemble: each member's finds are hidden, overlapping finds become one box, weak
finds are marked, and the mode decides which detector runs when none is named."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from dataproc_faces.detectors.base import (
    DEFAULT_SCORES,
    DETECTORS,
    PRIVACY_SCORES,
    DetectOptions,
    DetectorError,
    Face,
    make_detector,
)
from dataproc_faces.detectors.ensemble import TINY_SHARE, EnsembleDetector, make_member, merge
from dataproc_faces.imaging.render import RenderOptions, outline
from tests.images import encode
from tests.unit.facegen import astronaut_source, background, paste_face, read_sample

R, C = DEFAULT_SCORES["retinaface"], DEFAULT_SCORES["centerface"]


def test_overlapping_finds_of_two_members_become_one_box_covering_both_with_the_best_score():
    faces = merge(
        {
            "retinaface": [Face(100, 100, 50, 60, 0.9)],
            "centerface": [Face(110, 95, 50, 50, 0.6)],  # IoU about 0.5
        },
        640,
        480,
    )
    assert faces == [Face(100, 95, 60, 65, 0.9)]
    assert not faces[0].weak  # both found it, each above its own threshold


def test_a_box_mostly_inside_another_merges_though_their_iou_is_small():
    # IoU 0.16 (100 inside 625), but the small box lies wholly inside the large one
    faces = merge(
        {"retinaface": [Face(0, 0, 25, 25, 0.3)], "centerface": [Face(5, 5, 10, 10, 0.8)]},
        640,
        480,
    )
    assert faces == [Face(0, 0, 25, 25, 0.8)]


def test_separate_finds_are_each_kept_and_weak_when_one_member_alone_found_them():
    faces = merge(
        {
            "retinaface": [Face(10, 10, 40, 40, 0.99), Face(300, 10, 40, 40, 0.98)],
            "centerface": [Face(12, 12, 38, 38, 0.9), Face(150, 200, 40, 40, 0.95)],
        },
        640,
        480,
    )
    assert [(f.x, f.y, f.weak) for f in faces] == [
        (10, 10, False),  # both members
        (300, 10, True),  # RetinaFace alone: still hidden, marked weak
        (150, 200, True),  # CenterFace alone: likewise
    ]
    assert all(f.by == "detector" for f in faces)


def test_a_face_both_found_under_their_own_thresholds_is_weak():
    below = {
        "retinaface": [Face(10, 10, 40, 40, R - 0.1)],
        "centerface": [Face(10, 10, 40, 40, C - 0.1)],
    }
    assert [f.weak for f in merge(below, 640, 480)] == [True]
    one_sure = {**below, "centerface": [Face(10, 10, 40, 40, C)]}
    assert [f.weak for f in merge(one_sure, 640, 480)] == [False]


def test_the_ensembles_threshold_applies_to_every_member():
    finds = {"retinaface": [Face(10, 10, 40, 40, 0.15)], "centerface": [Face(99, 9, 40, 40, 0.3)]}
    assert [f.x for f in merge(finds, 640, 480, threshold=0.2)] == [99]


def test_tiny_weak_finds_are_kept_by_default_and_dropped_below_a_given_share():
    width, height = 6000, 4000  # 24 MP: 0.01 of it is 60 px
    lone = Face(100, 100, 59, 59, 0.9)
    assert TINY_SHARE == 0.0  # off: every floor measured cost recall on sharp crowds
    assert len(merge({"retinaface": [lone], "centerface": []}, width, height)) == 1
    one = {"retinaface": [lone], "centerface": []}
    assert merge(one, width, height, tiny_share=0.01) == []
    agreed = merge({"retinaface": [lone], "centerface": [lone]}, width, height, tiny_share=0.01)
    assert [(f.x, f.weak) for f in agreed] == [(100, False)]
    # the same find on a small photo is not tiny
    assert len(merge(one, 640, 480, tiny_share=0.01)) == 1


@pytest.fixture(scope="module")
def small_face_photo() -> Iterator[tuple[np.ndarray, tuple[int, int, int, int]]]:
    """A 19-px face on a real background: CenterFace finds it, RetinaFace (reliable from
    about 24 px) does not."""
    image = background(320, 240, np.random.default_rng(1))
    box = paste_face(image, astronaut_source(), 100, 80, 19)
    yield image, box


def _covers(face: Face, box: tuple[int, int, int, int]) -> bool:
    x, y, w, h = box
    return face.x <= x + w / 2 <= face.x + face.w and face.y <= y + h / 2 <= face.y + face.h


def test_a_face_only_centerface_finds_is_still_hidden_by_the_ensemble(small_face_photo):
    image, box = small_face_photo
    options = DetectOptions(detector="ensemble", score_threshold=0.2)
    retina = make_detector(DetectOptions(detector="retinaface", score_threshold=0.2))
    centre = make_detector(DetectOptions(detector="centerface", score_threshold=0.2))
    assert not any(_covers(f, box) for f in retina.detect(image))
    assert any(_covers(f, box) for f in centre.detect(image))
    ensemble = EnsembleDetector(options)
    found = [f for f in ensemble.detect(image) if _covers(f, box)]
    assert len(found) == 1 and found[0].weak
    # end to end: the region is blurred in what the job writes
    result = outline(encode(image, ".png"), ensemble, RenderOptions(mode="blur"))
    after = _decode(result.data)
    x, y, w, h = box
    assert np.abs(after[y : y + h, x : x + w].astype(int) - image[y : y + h, x : x + w]).mean() > 8


def test_a_face_only_retinaface_finds_is_still_hidden_by_the_ensemble():
    # At 0.95 RetinaFace still scores the astronaut (0.999), CenterFace (about 0.93) does not.
    image = read_sample("astronaut.png")
    options = DetectOptions(detector="ensemble", score_threshold=0.95)
    assert (
        make_detector(DetectOptions(detector="centerface", score_threshold=0.95)).detect(image)
        == []
    )
    # no faint finds: by default CenterFace's 0.93 would count as agreeing (above half of 0.95)
    found = EnsembleDetector(options, agree=0.95).detect(image)
    assert len(found) == 1 and found[0].weak
    assert _covers(found[0], (177, 66, 95, 95))
    agreed = EnsembleDetector(options).detect(image)
    assert len(agreed) == 1 and not agreed[0].weak and _covers(agreed[0], (177, 66, 95, 95))


def test_both_members_finding_the_astronaut_give_one_sure_face():
    image = read_sample("astronaut.png")
    ensemble = make_detector(DetectOptions(detector="ensemble", score_threshold=0.2))
    assert ensemble.name == "ensemble" and "retinaface" in ensemble.runtime
    found = ensemble.detect(image)
    assert len(found) == 1 and not found[0].weak
    assert _covers(found[0], (177, 66, 95, 95))
    assert found[0].to_dict()["by"] == "detector" and "weak" not in found[0].to_dict()


def _decode(data: bytes) -> np.ndarray:
    import cv2

    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


# --- which detector runs: the mode decides when none is named -----------------------------


def _cli(*flags: str) -> DetectOptions:
    from dataproc_faces.cli import build_parser, detect_options_from_args

    return detect_options_from_args(build_parser().parse_args([*flags]))


def test_outline_keeps_the_single_detector_and_its_threshold():
    chosen = _cli("run", "--output", "o")
    assert (chosen.detector, chosen.score()) == ("retinaface", DEFAULT_SCORES["retinaface"])
    assert chosen == DetectOptions()  # exactly today's options: the same outlined images


def test_anonymising_modes_default_to_the_ensemble_and_a_named_detector_runs_alone():
    assert "ensemble" in DETECTORS
    for mode in ("blur", "pixelate", "solid", "both"):
        chosen = _cli("run", "--output", "o", "--mode", mode)
        assert (chosen.detector, chosen.score()) == ("ensemble", PRIVACY_SCORES["ensemble"])
        single = _cli("run", "--output", "o", "--mode", mode, "--detector", "retinaface")
        assert (single.detector, single.score()) == ("retinaface", PRIVACY_SCORES["retinaface"])
    submitted = _cli("submit", "--mode", "blur")
    assert submitted.detector == "ensemble"
    assert _cli("submit").detector == "retinaface"


def test_the_page_and_the_job_spec_default_to_the_ensemble_when_hiding():
    from dataproc_faces import jobspec
    from dataproc_faces.web import options

    assert options.choices().detector == ""  # "by mode" preselected
    assert options.choices().detector_by_mode == {
        "outline": "retinaface",
        "blur": "ensemble",
        "pixelate": "ensemble",
        "solid": "ensemble",
        "both": "ensemble",
    }
    for form, detector in [
        ({"mode": "blur"}, "ensemble"),
        ({"mode": "blur", "detector": ""}, "ensemble"),
        ({"mode": "outline"}, "retinaface"),
        ({"mode": "solid", "detector": "centerface"}, "centerface"),
    ]:
        assert options.read(form)[0].detector == detector, form
    args = jobspec.job_args(output="gs://r/x", input="gs://in/i", mode="blur")
    assert args[args.index("--detector") + 1] == "ensemble"
    assert args[args.index("--score-threshold") + 1] == str(PRIVACY_SCORES["ensemble"])
    args = jobspec.job_args(output="gs://r/x", input="gs://in/i")
    assert args[args.index("--detector") + 1] == "retinaface"


def test_faint_finds_are_kept_only_where_both_members_agree_when_asked():
    finds = {
        "retinaface": [Face(10, 10, 40, 40, 0.07), Face(300, 10, 40, 40, 0.08)],
        "centerface": [Face(12, 12, 38, 38, 0.06)],
    }
    assert merge(finds, 640, 480, threshold=0.1) == []  # no agreement asked: all below 0.1
    kept = merge(finds, 640, 480, threshold=0.1, agree=0.05)
    # the face both found is kept (weak: neither scored at its own); the lone faint find is not
    assert [(f.x, f.y, f.score, f.weak) for f in kept] == [(10, 10, 0.07, True)]
    # a faint find agreeing with a sure one vouches for it (not weak) but does not widen its box
    wide = {"retinaface": [Face(10, 10, 40, 40, 0.9)], "centerface": [Face(0, 0, 56, 56, 0.06)]}
    assert [(f.x, f.w, f.weak) for f in merge(wide, 640, 480, threshold=0.1, agree=0.05)] == [
        (10, 40, False)
    ]
    # a find at the threshold needs no agreement
    lone = {"retinaface": [Face(300, 10, 40, 40, 0.2)], "centerface": []}
    assert [f.x for f in merge(lone, 640, 480, threshold=0.1, agree=0.05)] == [300]


@pytest.fixture(scope="module")
def large_photo() -> np.ndarray:
    """2400 x 1800: above RetinaFace's tile and CenterFace's bounded copy, so both would tile."""
    return background(2400, 1800, np.random.default_rng(2))


def test_a_coarse_member_looks_once_where_its_default_also_tiles(large_photo):
    options = DetectOptions(score_threshold=0.2)
    for net in ("retinaface", "centerface"):
        full, coarse = make_member(net, options), make_member(f"{net}-coarse", options)
        full.detect(large_photo)
        coarse.detect(large_photo)
        assert full.runs > 1, net  # the bounded copy, then tiles of a finer copy
        assert coarse.runs == 1, net  # the bounded copy only


def test_the_ensemble_builds_the_looks_it_is_given(large_photo):
    options = DetectOptions(detector="ensemble", score_threshold=0.2)
    ensemble = EnsembleDetector(options, members=("retinaface-coarse", "centerface-coarse"))
    ensemble.detect(large_photo)
    assert [d.runs for _, d in ensemble._members] == [1, 1]
    assert ensemble.runtime.startswith("retinaface-coarse (")
    with pytest.raises(DetectorError, match="'sharp' in 'retinaface-sharp'"):
        EnsembleDetector(options, members=("retinaface-sharp",))


def test_a_mirrored_member_returns_boxes_in_the_photos_own_pixels():
    image = read_sample("astronaut.png")  # the face is left of the middle
    options = DetectOptions(score_threshold=0.2)
    for look in ("retinaface-flip", "retinaface-flip-side640"):
        found = make_member(look, options).detect(image)
        assert len(found) == 1 and _covers(found[0], (177, 66, 95, 95)), look
    # the agreeing route's members look down to its lower threshold
    options = DetectOptions(detector="ensemble", score_threshold=0.2)
    ensemble = EnsembleDetector(options, agree=0.05)
    assert [d._threshold for _, d in ensemble._members] == [0.05, 0.05]
    # by default down to half the threshold, and merged with that agreement
    default = EnsembleDetector(options)
    assert [d._threshold for _, d in default._members] == [0.1, 0.1]
    assert default._agree == 0.1


def test_a_member_on_a_shrunk_copy_misses_small_faces_and_maps_its_boxes_back(small_face_photo):
    options = DetectOptions(score_threshold=0.2)
    image = read_sample("astronaut.png")  # 512 px: a 256-px copy still shows the 95-px face
    found = make_member("retinaface-side256", options).detect(image)
    assert len(found) == 1 and _covers(found[0], (177, 66, 95, 95))
    assert 70 <= found[0].w <= 130  # in the photo's pixels, not the copy's
    photo, box = small_face_photo  # the 19-px face is 10 px in a 160-px copy: below CenterFace
    assert any(_covers(f, box) for f in make_member("centerface", options).detect(photo))
    assert not any(
        _covers(f, box) for f in make_member("centerface-side160", options).detect(photo)
    )


def test_the_default_ensemble_tiles_a_large_photo_once_with_centerface_only(large_photo):
    ensemble = make_detector(DetectOptions(detector="ensemble", score_threshold=0.2))
    ensemble.detect(large_photo)
    runs = {member: d.runs for member, d in ensemble._members}
    assert runs["retinaface-coarse"] == 1  # the bounded copy only
    assert runs["centerface"] > 1  # the bounded copy, then the finer copy's tiles
