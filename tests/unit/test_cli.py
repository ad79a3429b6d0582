"""Usage errors: exit status 2 and one line on stderr, before Spark starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dataproc_faces import sparkenv
from dataproc_faces.cli import main
from dataproc_faces.remote import ENDPOINT_ENV


def run_cli(args: list[str], capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    return exit_info.value.code, capsys.readouterr().err


@pytest.fixture()
def src(tmp_path: Path, samples: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.png").write_bytes((samples / "astronaut.png").read_bytes())
    return folder


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--scale-factor", "0.5"], "--scale-factor: must be in (1, 2]"),
        (["--min-neighbors", "0"], "--min-neighbors: must be a positive integer"),
        (["--score-threshold", "2"], "--score-threshold: must be between 0 and 1"),
        (["--color", "plaid"], "--color: colour must be #rrggbb"),
        (["--detector", "nope"], "--detector: invalid choice"),
        (["--min-size", "50", "--max-size", "40"], "--max-size must not be smaller"),
        (["--mode", "sparkle"], "--mode: invalid choice"),
    ],
)
def test_bad_option_values(src: Path, tmp_path: Path, capsys, extra: list[str], message: str):
    code, err = run_cli(
        ["run", "--input", str(src), "--output", str(tmp_path / "o"), *extra], capsys
    )
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert message in err


def test_missing_input(tmp_path: Path, capsys):
    code, err = run_cli(["run", "--input", str(tmp_path / "nope"), "--output", "o"], capsys)
    assert (code, err.count("\n")) == (2, 1)
    assert "does not exist" in err


def test_output_inside_input(src: Path, capsys):
    code, err = run_cli(["run", "--input", str(src), "--output", str(src / "out")], capsys)
    assert (code, err.count("\n")) == (2, 1)
    assert "lies inside" in err


def test_missing_required_argument(capsys):
    code, err = run_cli(["run", "--input", "x"], capsys)
    assert (code, err.count("\n")) == (2, 1)
    assert "--output" in err


def test_missing_java_is_one_line_not_a_jvm_trace(src, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-java"))
    monkeypatch.delenv("PYSPARK_GATEWAY_PORT", raising=False)
    code, err = run_cli(["run", "--input", str(src), "--output", str(tmp_path / "o")], capsys)
    assert (code, err.count("\n")) == (2, 1)
    assert "Java not found: install Java 17" in err


def test_java_version_parsing():
    assert sparkenv.java_major('openjdk version "17.0.15" 2025-04-15') == 17
    assert sparkenv.java_major('java version "1.8.0_402"') == 8
    assert sparkenv.java_major("garbage") is None


def test_help_names_each_detectors_own_score_threshold(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "the detector's own, retinaface 0.4, centerface 0.3, ensemble 0.4;" in help_text
    assert (
        "for blur, pixelate, solid and both the lower privacy threshold, retinaface 0.1, "
        "centerface 0.2, ensemble 0.1, since a missed face stays recognisable)"
    ) in help_text


def test_anonymising_modes_default_to_the_privacy_threshold_and_a_given_one_wins():
    from dataproc_faces.cli import build_parser, detect_options_from_args
    from dataproc_faces.detectors.base import DEFAULT_SCORES, PRIVACY_SCORES

    def score(*flags: str) -> float:
        args = build_parser().parse_args(["run", "--output", "o", *flags])
        return detect_options_from_args(args).score()

    assert score() == DEFAULT_SCORES["retinaface"]
    for mode in ("blur", "pixelate", "solid", "both"):
        assert score("--mode", mode) == PRIVACY_SCORES["ensemble"]  # the hiding default
        assert score("--mode", mode, "--detector", "retinaface") == PRIVACY_SCORES["retinaface"]
    assert score("--mode", "blur", "--detector", "centerface") == PRIVACY_SCORES["centerface"]
    assert score("--mode", "blur", "--score-threshold", "0.65") == 0.65
    assert PRIVACY_SCORES["retinaface"] < DEFAULT_SCORES["retinaface"]


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--mask-scale", "0.2"),
        ("--pixelate-blocks", "1"),
        ("--blur-strength", "0"),
        ("--mask", "x"),
    ],
)
def test_anonymising_options_refuse_bad_values_in_one_line(flag, value, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--input", "i", "--output", "o", flag, value])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1 and flag in err


def _bare_command(*args: str) -> subprocess.CompletedProcess:
    """The command as a person without Google credentials runs it: no emulator, no stand-in."""
    env = {k: v for k, v in os.environ.items() if k not in ("STORAGE_EMULATOR_HOST",)}
    env.pop(ENDPOINT_ENV, None)
    env["GOOGLE_APPLICATION_CREDENTIALS"] = os.devnull  # unusable: nothing looks further
    return subprocess.run(
        [sys.executable, "-m", "dataproc_faces", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


@pytest.mark.parametrize(
    "args",
    [
        ["run", "--input", "gs://b/in", "--output", "gs://b/out"],
        ["fetch", "gs://b/out", "{tmp}/copy"],
        ["status", "job-1", "--project", "p", "--region", "europe-west1"],
    ],
    ids=["run", "fetch", "status"],
)
def test_no_credentials_is_one_line_naming_both_routes(args: list[str], tmp_path: Path) -> None:
    proc = _bare_command(*(a.format(tmp=tmp_path) for a in args))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [
        "dataproc-faces: error: no Google Cloud credentials found: run `gcloud auth "
        "application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a service "
        "account key file"
    ]
    assert proc.stdout == "" and list(tmp_path.iterdir()) == []  # nothing written


def test_faceless_link_with_hidden_faces_is_one_line(src: Path, tmp_path: Path, capsys):
    out = tmp_path / "o"
    code, err = run_cli(
        ["run", "--input", str(src), "--output", str(out), "--mode", "blur", "--faceless", "link"],
        capsys,
    )
    assert code == 2 and not out.exists()
    assert err.strip() == (
        "dataproc-faces: error: --faceless link needs --mode outline: with faces hidden, every "
        "photo is written, so none is shared with its original metadata"
    )
