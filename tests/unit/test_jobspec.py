"""The Dataproc job built from options: shared by the CLI's submit and the Pulumi program."""

from __future__ import annotations

import pytest

from dataproc_faces import jobspec
from dataproc_faces.cli import build_parser, detect_options_from_args
from dataproc_faces.detectors.base import DetectOptions
from dataproc_faces.imaging.render import RenderOptions

BASE = {
    "main_uri": "gs://s/artifacts/main-1.py",
    "package_uri": "gs://s/artifacts/p-1.zip",
    "input": "gs://in/images/",
}


def test_job_id_is_stable_for_the_same_inputs_and_changes_with_what_matters():
    first = jobspec.job_id(**BASE)
    assert first == jobspec.job_id(**BASE)
    assert first.startswith("faces-") and len(first) == 18
    changed = [
        jobspec.job_id(**{**BASE, "main_uri": "gs://s/artifacts/main-2.py"}),
        jobspec.job_id(**{**BASE, "package_uri": "gs://s/artifacts/p-2.zip"}),
        jobspec.job_id(**{**BASE, "input": "gs://in/other/"}),
        jobspec.job_id(**BASE, detect=DetectOptions(min_neighbors=6)),
        jobspec.job_id(**BASE, run_id="again"),
    ]
    assert len({first, *changed}) == 6
    assert changed[-1].startswith("faces-again-")


def test_run_id_is_checked():
    with pytest.raises(ValueError):
        jobspec.job_id(**BASE, run_id="Not OK")


def test_args_round_trip_through_the_run_parser():
    detect = DetectOptions(detector="haar", scale_factor=1.2, min_neighbors=3, max_size=400)
    args = jobspec.job_args(output="gs://r/runs/x", input="gs://in/images/", detect=detect)
    parsed = build_parser().parse_args(args)
    assert parsed.command == "run" and parsed.input == "gs://in/images/"
    assert parsed.output == "gs://r/runs/x"
    assert detect_options_from_args(parsed).to_dict() == detect.to_dict()  # the options in force


def test_args_need_an_input():
    with pytest.raises(ValueError):
        jobspec.job_args(output="gs://r/x")
    args = jobspec.job_args(output="gs://r/x", input_list="gs://in/list.txt")
    assert args[:3] == ["run", "--input-list", "gs://in/list.txt"]


def test_pyspark_job_is_a_valid_dataproc_message():
    from google.cloud import dataproc_v1

    message = jobspec.pyspark_job(
        cluster="c",
        main_uri="gs://s/m.py",
        package_uri="gs://s/p.zip",
        args=["run"],
        job_id="faces-abc",
        labels={"run": "r1"},
    )
    job = dataproc_v1.Job(message)
    assert job.placement.cluster_name == "c"
    assert job.pyspark_job.main_python_file_uri == "gs://s/m.py"
    assert list(job.pyspark_job.python_file_uris) == ["gs://s/p.zip"]
    assert job.reference.job_id == "faces-abc"
    assert job.labels["app"] == "dataproc-faces" and job.labels["run"] == "r1"
    assert job.pyspark_job.properties["spark.speculation"] == "false"


def test_bad_job_id_is_refused():
    with pytest.raises(ValueError):
        jobspec.pyspark_job(cluster="c", main_uri="m", package_uri="p", args=[], job_id="a b")


def test_endpoint_console_and_results():
    assert jobspec.regional_endpoint("europe-west1") == "europe-west1-dataproc.googleapis.com:443"
    assert "dataproc/jobs/j?region=r&project=p" in jobspec.console_url("p", "r", "j")
    assert jobspec.results_for("gs://b/runs/", "j") == "gs://b/runs/j"


def test_detect_options_from_a_config_map_are_checked_like_flags():
    got = jobspec.detect_options({"detector": "centerface", "min_neighbors": "6", "max_size": None})
    assert got == DetectOptions(detector="centerface", min_neighbors=6)
    assert jobspec.detect_options({}) == DetectOptions()
    for bad in (
        {"detector": "yolo"},
        {"scale_factor": 3},
        {"min_size": 0},
        {"colour": 1},
        {"min_size": 50, "max_size": 40},
    ):
        with pytest.raises(ValueError):
            jobspec.detect_options(bad)


def test_a_mode_other_than_outline_reaches_the_run_and_the_job_id():
    args = jobspec.job_args(output="gs://r/x", input="gs://in/i", mode="blur")
    assert build_parser().parse_args(args).mode == "blur"
    assert "--mode" not in jobspec.job_args(output="gs://r/x", input="gs://in/i")
    outline = jobspec.job_id(**BASE)
    assert jobspec.job_id(**BASE, mode="outline") == outline  # ids of existing runs unchanged
    assert jobspec.job_id(**BASE, mode="blur") != outline


def test_job_id_of_existing_runs_is_pinned():
    # The id names a run's results folder: a change to how it is computed orphans old runs.
    assert jobspec.job_id(**BASE) == "faces-581f6f999875"
    assert (
        jobspec.job_id(**BASE, run_id="r1", mode="blur", input_list="gs://in/l.txt")
        == "faces-r1-dcbe7c303ac0"  # a blur run without detector options runs the ensemble
    )


def test_job_id_changes_with_the_input_list_and_every_detector_option():
    first = jobspec.job_id(**BASE)
    others = [
        jobspec.job_id(**BASE, input_list="gs://in/list.txt"),
        jobspec.job_id(**{**BASE, "input": None}, input_list="gs://in/list.txt"),
        jobspec.job_id(**BASE, mode="both"),
    ]
    for change in (
        {"detector": "haar"},
        {"scale_factor": 1.2},
        {"min_neighbors": 6},
        {"min_size": 21},
        {"max_size": 500},
        {"detect_max_side": 2048},
        {"score_threshold": 0.41},
    ):
        others.append(jobspec.job_id(**BASE, detect=DetectOptions(**change)))
    assert len({first, *others}) == len(others) + 1
    # The threshold in force counts, not how it was spelled.
    assert jobspec.job_id(**BASE, detect=DetectOptions(score_threshold=0.4)) == first


# Every option away from the parser's default, so a flag left out cannot round-trip by luck.
NON_DEFAULT = DetectOptions(
    detector="centerface",
    scale_factor=1.25,
    min_neighbors=7,
    min_size=33,
    max_size=444,
    detect_max_side=777,
    score_threshold=0.61,
)


def test_detector_flags_spell_out_every_option():
    assert jobspec.detector_flags(NON_DEFAULT) == [
        "--detector",
        "centerface",
        "--scale-factor",
        "1.25",
        "--min-neighbors",
        "7",
        "--min-size",
        "33",
        "--detect-max-side",
        "777",
        "--score-threshold",
        "0.61",
        "--max-size",
        "444",
    ]
    assert "--max-size" not in jobspec.detector_flags(DetectOptions())
    assert jobspec.detector_flags(DetectOptions())[-2:] == ["--score-threshold", "0.4"]


def test_non_default_options_and_both_inputs_round_trip_through_the_run_parser():
    args = jobspec.job_args(
        output="gs://r/x", input="gs://in/i/", input_list="gs://in/l.txt", detect=NON_DEFAULT
    )
    assert args[:7] == [
        "run",
        "--input",
        "gs://in/i/",
        "--input-list",
        "gs://in/l.txt",
        "--output",
        "gs://r/x",
    ]
    parsed = build_parser().parse_args(args)
    assert (parsed.input, parsed.input_list) == ("gs://in/i/", "gs://in/l.txt")
    assert detect_options_from_args(parsed) == NON_DEFAULT
    assert parsed.mode == "outline"
    with pytest.raises(ValueError, match="a job needs an input prefix, an input list, or both"):
        jobspec.job_args(output="gs://r/x", input="", input_list="")


def test_run_id_edges():
    assert jobspec.check_run_id("") == ""
    assert jobspec.check_run_id("a" * 40) == "a" * 40
    assert jobspec.check_run_id("0-a") == "0-a"
    for bad in ("a" * 41, "-a", "A", "a_b", "a.b"):
        with pytest.raises(ValueError, match="use 1-40 of a-z, 0-9 and '-'"):
            jobspec.check_run_id(bad)


def test_job_message_without_id_and_with_property_overrides():
    args = ["run", "--input", "x"]
    message = jobspec.pyspark_job(
        cluster="c",
        main_uri="gs://s/m.py",
        package_uri="gs://s/p.zip",
        args=args,
        properties={"spark.speculation": "true", "spark.executor.cores": "2"},
    )
    assert "reference" not in message
    assert message["labels"] == {"app": "dataproc-faces"}
    assert message["pyspark_job"] == {
        "main_python_file_uri": "gs://s/m.py",
        "python_file_uris": ["gs://s/p.zip"],
        "args": ["run", "--input", "x"],
        "properties": {
            "spark.task.maxFailures": "4",
            "spark.speculation": "true",
            "spark.executor.cores": "2",
        },
    }
    assert message["pyspark_job"]["args"] is not args
    assert jobspec.pyspark_job(
        cluster="c", main_uri="m", package_uri="p", args=[], job_id="a" * 100
    )
    for bad in ("a" * 101, "a.b", ""):
        with pytest.raises(ValueError, match="use 1-100 of A-Z"):
            jobspec.pyspark_job(cluster="c", main_uri="m", package_uri="p", args=[], job_id=bad)


def test_results_folder_and_console_link():
    assert jobspec.results_for("gs://b/runs//", "j") == "gs://b/runs/j"
    assert jobspec.results_for("gs://b/runs", "j") == "gs://b/runs/j"
    assert (
        jobspec.console_url("p", "r", "j")
        == "https://console.cloud.google.com/dataproc/jobs/j?region=r&project=p"
    )


def test_detect_option_errors_name_the_key():
    with pytest.raises(ValueError, match=r"^unknown detector option 'colour' \(known: detector, "):
        jobspec.detect_options({"colour": "red"})
    with pytest.raises(
        ValueError, match=r"^detector: must be one of centerface, ensemble, haar, retinaface"
    ):
        jobspec.detect_options({"detector": "yolo"})
    with pytest.raises(ValueError, match=r"^scale_factor: must be in \(1, 2\]"):
        jobspec.detect_options({"scale_factor": "2.5"})
    with pytest.raises(ValueError, match=r"^max_size must not be smaller than min_size"):
        jobspec.detect_options({"min_size": 50, "max_size": 49})
    assert jobspec.detect_options({"min_size": 50, "max_size": 50}).max_size == 50
    got = jobspec.detect_options({"score_threshold": " 0.25 ", "detect_max_side": 512})
    assert (got.score_threshold, got.detect_max_side) == (0.25, 512)


def test_job_id_of_a_run_on_an_input_list_alone_is_pinned():
    only_list = {**BASE, "input": None}
    assert jobspec.job_id(**only_list, input_list="gs://in/l.txt") == "faces-7d7ebc92ccb1"
    assert jobspec.job_id(**{**only_list, "input": ""}, input_list="gs://in/l.txt") == (
        "faces-7d7ebc92ccb1"
    )


def test_an_unset_option_anywhere_in_the_map_leaves_the_rest_checked():
    got = jobspec.detect_options({"max_size": None, "min_size": "30", "detector": "haar"})
    assert got == DetectOptions(detector="haar", min_size=30)


def test_messages_and_results_folders_exactly():
    with pytest.raises(ValueError) as info:
        jobspec.job_args(output="gs://r/x")
    assert str(info.value) == "a job needs an input prefix, an input list, or both"
    assert jobspec.results_for("gs://b/BOX/", "j") == "gs://b/BOX/j"


def test_write_saving_options_round_trip_and_change_the_job_id():
    from dataproc_faces.cli import _render_options

    lean = RenderOptions(thumbnails=False, faceless="link")
    args = jobspec.job_args(output="gs://r/x", input="gs://in/i/", render=lean)
    assert args[-3:] == ["--no-thumbnails", "--faceless", "link"]
    assert _render_options(build_parser().parse_args(args)) == lean
    common = {"main_uri": "gs://a/m.py", "package_uri": "gs://a/p.zip", "input": "gs://in/i"}
    ids = {jobspec.job_id(**common, render=r) for r in (RenderOptions(), lean)}
    assert len(ids) == 2
    assert jobspec.job_id(**common) == jobspec.job_id(**common, render=RenderOptions())


def test_a_run_with_corrections_names_its_file_and_the_run_it_corrects() -> None:
    import hashlib

    args = jobspec.job_args(
        output="gs://b/r/faces-x", input="gs://b/in", corrections="gs://s/c.json"
    )
    assert args[:7] == [
        "run", "--input", "gs://b/in", "--output", "gs://b/r/faces-x",
        "--corrections", "gs://s/c.json",
    ]  # fmt: skip
    assert "--corrections" not in jobspec.job_args(output="o", input="i")
    data = b'{"version": 1, "photos": {}}'
    digest = hashlib.sha256(data).hexdigest()
    assert jobspec.corrected_job_id("faces-abc", data) == f"faces-abc-c{digest[:8]}"
    assert jobspec.staged_corrections("gs://s/artifacts/main-1.py", data) == (
        f"gs://s/artifacts/corrections/{digest[:16]}.json"
    )


def test_a_hiding_mode_fills_the_privacy_threshold_unless_one_is_given() -> None:
    from dataproc_faces.detectors.base import PRIVACY_SCORES

    hiding = jobspec.detect_options({}, mode="blur")
    assert (hiding.detector, hiding.score()) == ("ensemble", PRIVACY_SCORES["ensemble"])
    named = jobspec.detect_options({"detector": "retinaface"}, mode="blur")
    assert (named.detector, named.score()) == ("retinaface", PRIVACY_SCORES["retinaface"])
    assert (
        jobspec.detect_options({"detector": "centerface"}, mode="both").score()
        == (PRIVACY_SCORES["centerface"])
    )
    assert jobspec.detect_options({"score_threshold": 0.7}, mode="blur").score() == 0.7
    assert jobspec.detect_options({}, mode="outline").score_threshold is None
    assert jobspec.detect_options({}, mode="outline").detector == "retinaface"


def test_a_weak_setting_in_the_stacks_map_is_refused_by_its_key_unless_allowed() -> None:
    with pytest.raises(ValueError) as refused:
        jobspec.render_options({"mode": "blur", "blur_strength": "0.02"})
    assert str(refused.value) == (
        "blur_strength: 0.02 leaves faces recognisable: at least 0.3 hides them on the dev sets "
        "(make bench-privacy); set allow_weak: true to use it anyway"
    )
    allowed = jobspec.render_options({"mode": "blur", "blur_strength": 0.02, "allow_weak": True})
    assert allowed.allow_weak and allowed.blur_strength == 0.02


def test_render_options_from_a_config_map_spell_back_as_runs_flags() -> None:
    from dataproc_faces.imaging.options import render_flags

    render = jobspec.render_options(
        {"mode": "pixelate", "pixelate_blocks": "8", "keep_metadata": True, "thumbnails": "false"}
    )
    assert render_flags(render) == [
        "--mode", "pixelate", "--pixelate-blocks", "8", "--keep-metadata", "--no-thumbnails"
    ]  # fmt: skip
    assert jobspec.render_options({}) == RenderOptions()
    with pytest.raises(ValueError, match=r"^keep_metadata: must be true or false, got yes$"):
        jobspec.render_options({"keep_metadata": "yes"})


@pytest.mark.parametrize(
    "render",
    [
        RenderOptions(mode="blur", blur_strength=0.02, allow_weak=True),
        RenderOptions(mode="pixelate", pixelate_blocks=40, mask_scale=0.6, allow_weak=True),
        RenderOptions(mode="solid", fill_color=(1, 2, 3), blur_strength=0.9, pixelate_blocks=9),
        RenderOptions(mode="outline", mask="box", mask_scale=2.0, fill_color=(1, 2, 3)),
    ],
    ids=["weak blur", "weak pixelate", "solid", "outline"],
)
def test_render_flags_are_what_run_accepts_and_rebuild_the_same_hiding(render: RenderOptions):
    """Only the mode's own flags are spelled out (run refuses the others), and --allow-weak
    travels with a weak setting: the page and submit reach the job with what was chosen."""
    from dataproc_faces.cli import _render_options

    args = jobspec.job_args(output="gs://r/x", input="gs://in/", render=render)
    rebuilt = _render_options(build_parser().parse_args(args))  # raises on a refused flag
    assert rebuilt.hidden() == render.hidden() and rebuilt.mode == render.mode
    assert ("--allow-weak" in args) == render.allow_weak
