"""remote.py without servers: its commands' options, where defaults come from, the job built."""

from __future__ import annotations

import argparse
import inspect
import json
import re
from pathlib import Path

import pytest

from dataproc_faces import jobspec, remote
from dataproc_faces.cli import MODE_HELP, UsageError, build_parser
from dataproc_faces.detectors.base import DEFAULT_SCORES, PRIVACY_SCORES, DetectOptions

LOCATION = [
    (
        "--project",
        "project",
        None,
        None,
        "GCP project (default: stack outputs, $GOOGLE_CLOUD_PROJECT)",
    ),
    ("--region", "region", None, None, "Dataproc region (default: stack outputs)"),
    (
        "--stack-outputs",
        "stack_outputs",
        None,
        "FILE",
        "JSON saved by `pulumi stack output --json`",
    ),
]
SERVERLESS_HELP = (
    " a Dataproc Serverless batch, not a cluster job (the default on a stack whose runner is"
    " serverless)"
)


def _serverless(what: str) -> tuple:
    return ("--serverless", "serverless", False, None, what + SERVERLESS_HELP)


WAITING = [
    ("--interval", "interval", 10.0, None, "seconds between polls"),
    ("--timeout", "timeout", None, None, "give up after this many seconds (exit 3)"),
]
OPTIONS = {
    "submit": [
        *LOCATION,
        ("--cluster", "cluster", None, None, "Dataproc cluster name"),
        ("--input", "input", None, None, "gs:// prefix of images (default: upload_images_to)"),
        ("--input-list", "input_list", None, "URI", "gs:// text file of image URIs"),
        (
            "--output",
            "output",
            None,
            None,
            "gs:// prefix for results (default: <results_uri>/<job id>)",
        ),
        (
            "--results",
            "results",
            None,
            None,
            "gs:// prefix holding one folder per run (results_uri)",
        ),
        ("--main-uri", "main_uri", None, None, "gs:// URI of main.py (default: job_main_uri)"),
        (
            "--package-uri",
            "package_uri",
            None,
            None,
            "gs:// URI of the package zip (default: job_package_uri)",
        ),
        (
            "--job-id",
            "job_id",
            None,
            None,
            "explicit job id (default: faces[-RUN]-<hash of what runs>)",
        ),
        ("--run-id", "run_id", "", None, "tag that forces a new job id for the same inputs"),
        ("--wait", "wait", False, None, "then wait for the job like `wait`"),
        _serverless("submit as"),
        ("--image", "batch_image", None, None, "batch container image (default: batch_image)"),
        *WAITING,
        ("--mode", "mode", "outline", None, MODE_HELP),
    ],
    "status": [("job_id", "job_id", None, None, None), *LOCATION, _serverless("JOB_ID names")],
    "wait": [
        ("job_id", "job_id", None, None, None),
        *LOCATION,
        _serverless("JOB_ID names"),
        *WAITING,
    ],
    "fetch": [
        ("uri", "uri", None, None, None),
        ("dir", "dir", None, None, None),
        ("--threads", "threads", 8, None, "parallel downloads"),
    ],
}
SUMMARIES = {
    "submit": "submit the job to a Dataproc cluster; prints the job id",
    "status": "print a job's (or a batch's) state",
    "wait": "wait for a job; exit 0 if DONE, 1 if ERROR or CANCELLED",
    "fetch": "copy a gs:// prefix (a run's results) into a local folder",
}
DESCRIPTIONS = {
    "submit": "Submit the face-outlining job to a Dataproc cluster. Cluster, region, project, "
    "input, results and the uploaded code come from options, else from --stack-outputs, else "
    "from the DATAPROC_FACES_* variables set on the devhost.",
    "status": None,
    "wait": "Poll a job (or, with --serverless, a batch) until it ends, printing each state "
    "change. When it fails, print the tail of its driver output. Exit 0 for DONE (a batch: "
    "SUCCEEDED), 1 for ERROR, FAILED or CANCELLED, 3 when --timeout passes first.",
    "fetch": "Copy every object under URI into DIR, keeping relative paths; files already "
    "there with the same size are skipped, so an interrupted fetch resumes.",
}
TYPES = {"interval": float, "timeout": float, "threads": int}
COMMANDS = {
    "submit": remote.cmd_submit,
    "status": remote.cmd_status,
    "wait": remote.cmd_wait,
    "fetch": remote.cmd_fetch,
}


def subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = argparse.ArgumentParser(prog="dataproc-faces")
    sub = parser.add_subparsers(dest="command")
    remote.register(sub)
    assert {a.dest: a.help for a in sub._choices_actions} == SUMMARIES
    return dict(sub.choices)


@pytest.mark.parametrize("command", list(OPTIONS))
def test_each_command_has_its_options_defaults_and_help(command):
    parser = subparsers()[command]
    assert parser.description == DESCRIPTIONS[command]
    assert inspect.unwrap(parser.get_default("func")) is COMMANDS[command]
    found = {
        a.dest: ((a.option_strings or [a.dest])[0], a.dest, a.default, a.metavar, a.help)
        for a in parser._actions
    }
    for option in OPTIONS[command]:
        assert found[option[1]] == option
        action = next(a for a in parser._actions if a.dest == option[1])
        assert action.type is TYPES.get(option[1]), option
        assert action.required == (not option[0].startswith("--")), option
    assert inspect.unwrap(parser.get_default("func")) is COMMANDS[command]


def test_submit_takes_the_detector_options_and_a_checked_mode():
    parser = subparsers()["submit"]
    args = parser.parse_args(["--detector", "haar", "--mode", "blur", "--wait", "--timeout", "5"])
    assert (args.detector, args.mode, args.wait, args.timeout, args.interval) == (
        "haar",
        "blur",
        True,
        5.0,
        10.0,
    )
    modes = next(a for a in parser._actions if a.dest == "mode").choices
    assert tuple(modes) == ("outline", "blur", "pixelate", "solid", "both")
    with pytest.raises(SystemExit):
        parser.parse_args(["--mode", "paint"])
    args = subparsers()["fetch"].parse_args(["gs://b/x", "dir", "--threads", "3"])
    assert (args.uri, args.dir, args.threads) == ("gs://b/x", "dir", 3)


# -- where values come from ------------------------------------------------------------------


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    remote.stack_outputs.cache_clear()
    for _, env in remote._SOURCES.values():
        monkeypatch.delenv(env, raising=False)
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    yield
    remote.stack_outputs.cache_clear()


def test_stack_outputs_are_read_once_and_must_be_a_json_object(tmp_path: Path):
    assert remote.stack_outputs(None) == {} and remote.stack_outputs("") == {}
    path = tmp_path / "out.json"
    path.write_text(json.dumps({"region": "europe-west1"}))
    assert remote.stack_outputs(str(path)) == {"region": "europe-west1"}
    path.write_text("{}")
    assert remote.stack_outputs(str(path)) == {"region": "europe-west1"}  # cached
    path.write_text("[1, 2]")
    remote.stack_outputs.cache_clear()
    with pytest.raises(UsageError) as err:
        remote.stack_outputs(str(path))
    assert str(err.value) == (
        f"--stack-outputs {path}: not a JSON object (pulumi stack output --json)"
    )
    path.write_text("{nope")
    with pytest.raises(UsageError) as err:
        remote.stack_outputs(str(path) + " ")  # a new argument: not cached
    assert str(err.value).startswith(f"--stack-outputs {path} : [Errno 2] No such file")
    with pytest.raises(UsageError) as err:
        remote.stack_outputs(str(path) + "/")
    assert type(err.value) is UsageError
    remote.stack_outputs.cache_clear()
    with pytest.raises(UsageError) as err:
        remote.stack_outputs(str(path))
    assert str(err.value) == (
        f"--stack-outputs {path}: Expecting property name enclosed in double quotes: "
        "line 1 column 2 (char 1)"
    )
    path.write_bytes('{"region": "é"}'.encode())
    remote.stack_outputs.cache_clear()
    assert remote.stack_outputs(str(path)) == {"region": "é"}


def test_an_option_wins_then_the_stack_output_then_the_environment(tmp_path: Path, monkeypatch):
    path = tmp_path / "out.json"
    path.write_text(json.dumps({"cluster_name": "from-stack", "region": "r-stack", "port": 1}))
    args = argparse.Namespace(cluster="given", region="", stack_outputs=str(path))
    monkeypatch.setenv("DATAPROC_FACES_CLUSTER", "from-env")
    monkeypatch.setenv("DATAPROC_FACES_REGION", "r-env")
    monkeypatch.setenv("DATAPROC_FACES_RESULTS", "gs://b/env")
    assert remote.resolve(args, "cluster") == "given"
    assert remote.resolve(args, "region") == "r-stack"
    assert remote.resolve(args, "results") == "gs://b/env"
    assert remote.resolve(argparse.Namespace(), "cluster") == "from-env"


def test_the_project_falls_back_to_google_cloud_project(monkeypatch):
    args = argparse.Namespace(project=None)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "gcp-p")
    assert remote.resolve(args, "project") == "gcp-p"
    assert remote.resolve(args, "region", required=False) is None
    monkeypatch.setenv("DATAPROC_FACES_PROJECT", "dev-p")
    assert remote.resolve(args, "project") == "dev-p"
    monkeypatch.setenv("DATAPROC_FACES_CLUSTER", "")
    monkeypatch.setenv("DATAPROC_FACES_REGION", "gcp-p")
    with pytest.raises(UsageError):
        remote.resolve(args, "cluster")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "main_uri",
            "--main-uri is required (or --stack-outputs with 'job_main_uri', or "
            "$DATAPROC_FACES_JOB_MAIN)",
        ),
        (
            "package_uri",
            "--package-uri is required (or --stack-outputs with 'job_package_uri', "
            "or $DATAPROC_FACES_JOB_PACKAGE)",
        ),
        (
            "project",
            "--project is required (or --stack-outputs with 'project', or $DATAPROC_FACES_PROJECT)",
        ),
        (
            "input",
            "--input is required (or --stack-outputs with 'upload_images_to', or "
            "$DATAPROC_FACES_IMAGES)",
        ),
    ],
)
def test_a_missing_value_names_all_three_sources(name, message):
    with pytest.raises(UsageError) as err:
        remote.resolve(argparse.Namespace(), name)
    assert str(err.value) == message
    assert remote.resolve(argparse.Namespace(), name, required=False) is None


def test_values_from_json_become_strings(tmp_path: Path):
    path = tmp_path / "out.json"
    path.write_text(json.dumps({"project": 1234}))
    assert remote.resolve(argparse.Namespace(stack_outputs=str(path)), "project") == "1234"


# -- the job ----------------------------------------------------------------------------------

STACK = {
    "project": "p",
    "region": "europe-west1",
    "cluster_name": "c1",
    "upload_images_to": "gs://b/images/",
    "results_uri": "gs://b/runs/",
    "job_main_uri": "gs://b/artifacts/main-abc.py",
    "job_package_uri": "gs://b/artifacts/dataproc_faces-abc.zip",
}


def submit_args(tmp_path: Path, *extra: str) -> argparse.Namespace:
    path = tmp_path / "out.json"
    path.write_text(json.dumps(STACK))
    return build_parser().parse_args(["submit", "--stack-outputs", str(path), *extra])


def test_the_job_comes_from_the_stack_outputs(tmp_path: Path):
    message, output = remote.build_job(submit_args(tmp_path))
    job = jobspec.job_id(
        main_uri=STACK["job_main_uri"],
        package_uri=STACK["job_package_uri"],
        input="gs://b/images/",
        input_list=None,
        detect=DetectOptions(),
        run_id="",
        mode="outline",
    )
    assert output == f"gs://b/runs/{job}"
    assert message == jobspec.pyspark_job(
        cluster="c1",
        main_uri=STACK["job_main_uri"],
        package_uri=STACK["job_package_uri"],
        args=jobspec.job_args(output=output, input="gs://b/images/", detect=DetectOptions()),
        job_id=job,
    )
    assert message["pyspark_job"]["args"][:5] == [
        "run",
        "--input",
        "gs://b/images/",
        "--output",
        f"gs://b/runs/{job}",
    ]


def test_every_option_reaches_the_job(tmp_path: Path):
    args = submit_args(
        tmp_path,
        "--input-list",
        "gs://b/list.txt",
        "--run-id",
        "again",
        "--mode",
        "both",
        "--detector",
        "haar",
        "--min-size",
        "30",
        "--cluster",
        "c2",
        "--main-uri",
        "gs://b/m.py",
        "--package-uri",
        "gs://b/p.zip",
        "--results",
        "gs://b/elsewhere",
    )
    message, output = remote.build_job(args)
    detect = DetectOptions(detector="haar", min_size=30)
    job = jobspec.job_id(
        main_uri="gs://b/m.py",
        package_uri="gs://b/p.zip",
        input="gs://b/images/",
        input_list="gs://b/list.txt",
        detect=detect,
        run_id="again",
        mode="both",
    )
    assert job.startswith("faces-again-")
    assert output == f"gs://b/elsewhere/{job}"
    assert message == jobspec.pyspark_job(
        cluster="c2",
        main_uri="gs://b/m.py",
        package_uri="gs://b/p.zip",
        args=jobspec.job_args(
            output=output,
            input="gs://b/images/",
            input_list="gs://b/list.txt",
            detect=detect,
            mode="both",
        ),
        job_id=job,
    )


def test_anonymising_options_and_the_privacy_threshold_reach_the_cluster_run(tmp_path: Path):
    flags = ["--mode", "pixelate", "--mask", "box", "--mask-scale", "1.7"]
    flags += ["--pixelate-blocks", "5", "--keep-metadata"]
    message, _ = remote.build_job(submit_args(tmp_path, *flags))
    run_args = build_parser().parse_args(message["pyspark_job"]["args"])
    assert (run_args.mode, run_args.mask, run_args.mask_scale) == ("pixelate", "box", 1.7)
    assert run_args.pixelate_blocks == 5
    solid, _ = remote.build_job(submit_args(tmp_path, "--mode", "solid", "--fill-color", "#102030"))
    solid_args = build_parser().parse_args(solid["pyspark_job"]["args"])
    assert solid_args.fill_color == (0x30, 0x20, 0x10)
    assert run_args.keep_metadata is True
    # the hiding default, spelled out for the cluster
    assert (run_args.detector, run_args.score_threshold) == ("ensemble", PRIVACY_SCORES["ensemble"])
    plain, _ = remote.build_job(submit_args(tmp_path, "--mode", "pixelate"))
    assert plain["reference"]["job_id"] != message["reference"]["job_id"]
    assert "--mask" not in plain["pyspark_job"]["args"]  # defaults are not spelled out
    outline_args = build_parser().parse_args(
        remote.build_job(submit_args(tmp_path))[0]["pyspark_job"]["args"]
    )
    assert outline_args.score_threshold == DEFAULT_SCORES["retinaface"]
    assert outline_args.detector == "retinaface"


def test_an_input_list_alone_needs_no_input_prefix(tmp_path: Path):
    stack = {k: v for k, v in STACK.items() if k != "upload_images_to"}
    path = tmp_path / "out.json"
    path.write_text(json.dumps(stack))
    args = build_parser().parse_args(
        ["submit", "--stack-outputs", str(path), "--input-list", "gs://b/l.txt"]
    )
    message, _ = remote.build_job(args)
    assert message["pyspark_job"]["args"][:3] == ["run", "--input-list", "gs://b/l.txt"]
    args = build_parser().parse_args(["submit", "--stack-outputs", str(path)])
    with pytest.raises(UsageError, match="--input is required"):
        remote.build_job(args)


def test_an_explicit_job_id_and_output_are_used_as_given(tmp_path: Path):
    args = submit_args(tmp_path, "--job-id", "mine_1", "--output", "gs://b/out")
    message, output = remote.build_job(args)
    assert output == "gs://b/out"
    assert message["reference"] == {"job_id": "mine_1"}
    assert message["pyspark_job"]["args"][3:5] == ["--output", "gs://b/out"]


def test_a_bad_run_id_is_a_usage_error(tmp_path: Path):
    with pytest.raises(UsageError) as err:
        remote.build_job(submit_args(tmp_path, "--run-id", "Bad Id"))
    assert str(err.value) == (
        "run id 'Bad Id': use 1-40 of a-z, 0-9 and '-', starting alphanumeric"
    )


# -- the Dataproc client --------------------------------------------------------------------------


def test_the_client_talks_rest_to_a_local_endpoint_anonymously(monkeypatch):
    from google.auth.credentials import AnonymousCredentials

    monkeypatch.setenv(remote.ENDPOINT_ENV, "127.0.0.1:5")
    client = remote.job_client("europe-west1")
    assert client.transport.kind == "rest"
    assert client._transport._host == "http://127.0.0.1:5"
    assert type(client._transport._credentials) is AnonymousCredentials
    monkeypatch.setenv(remote.ENDPOINT_ENV, "https://dataproc.example:7/ignored")
    assert remote.job_client("r")._transport._host == "https://dataproc.example:7"


def test_the_client_talks_to_the_regional_endpoint_with_adc(tmp_path: Path, monkeypatch):
    from google.oauth2.credentials import Credentials

    adc = tmp_path / "adc.json"
    adc.write_text(
        json.dumps(
            {
                "type": "authorized_user",
                "client_id": "i",
                "client_secret": "s",
                "refresh_token": "t",
            }
        )
    )
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc))
    for unset in (None, ""):
        if unset is None:
            monkeypatch.delenv(remote.ENDPOINT_ENV, raising=False)
        else:
            monkeypatch.setenv(remote.ENDPOINT_ENV, unset)
        client = remote.job_client("asia-east2")
        assert client.api_endpoint == "asia-east2-dataproc.googleapis.com:443"
        assert client.transport.kind == "grpc"
        assert type(client._transport._credentials) is Credentials


def test_a_caller_without_a_mode_gets_outlines(tmp_path: Path):
    args = submit_args(tmp_path)
    outline, _ = remote.build_job(args)
    del args.mode
    message, _ = remote.build_job(args)
    assert message == outline
    assert "--mode" not in message["pyspark_job"]["args"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--output", "gs://b/images/run1"], "--output gs://b/images/run1 lies inside the input"),
        (["--output", "gs://b/images"], "lies inside the input folder gs://b/images"),
        (["--input", "gs://b/runs/x/images", "--output", "gs://b/runs/x/"], "inside the output"),
        (["--input", "gs://b/in/", "--results", "gs://b/in"], "lies inside the input"),
    ],
)
def test_a_submit_whose_input_and_output_overlap_is_refused(
    tmp_path: Path, extra: list[str], message: str
) -> None:
    from dataproc_faces.cli import UsageError

    with pytest.raises(UsageError, match=re.escape(message)):
        remote.build_job(submit_args(tmp_path, *extra))


def test_a_submit_with_a_sibling_prefix_is_fine(tmp_path: Path) -> None:
    _, output = remote.build_job(submit_args(tmp_path, "--output", "gs://b/images-out"))
    assert output == "gs://b/images-out"
