"""The Dataproc job built from options: shared by the CLI's submit and the Pulumi program."""

from __future__ import annotations

import pytest

from dataproc_faces import jobspec
from dataproc_faces.cli import build_parser, detect_options_from_args
from dataproc_faces.detect import DetectOptions

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
