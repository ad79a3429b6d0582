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


def corrections(tmp_path: Path, photos: object, version: object = 1) -> str:
    import json

    path = tmp_path / "fix.json"
    path.write_text(json.dumps({"version": version, "photos": photos}))
    return str(path)


BOX = {"x": 1, "y": 2, "w": 3, "h": 4}


@pytest.mark.parametrize(
    ("photos", "message"),
    [
        ({"a.png": {"add": [{**BOX, "w": -3}]}}, "photo 'a.png': add[0].w: must be at least 1"),
        ({"a.png": {"remove": [{**BOX, "y": None}]}}, "photo 'a.png': remove[0].y: missing"),
        ({"a.png": {"add": [BOX], "when": "now"}}, "photo 'a.png': unknown field 'when'"),
        ({"b.png": {"add": [BOX]}}, "photo 'b.png' is not under the input"),
        ({"../in2/a.png": {}}, "photo '../in2/a.png': not a path relative to the input"),
        ([], "photos: must be an object of photo path -> corrections"),
        ({".x/a.png": {}}, "photo '.x/a.png' is not read as an input (hidden (a name starting"),
    ],
)
def test_a_bad_corrections_file_is_one_line_naming_photo_and_field(
    src: Path, tmp_path: Path, capsys, photos, message: str
) -> None:
    fix = corrections(tmp_path, photos)
    code, err = run_cli(
        ["run", "--input", str(src), "--output", str(tmp_path / "o"), "--corrections", fix], capsys
    )
    assert (code, err.count("\n")) == (2, 1), err
    assert err.startswith(f"dataproc-faces: error: --corrections {fix}: ") and message in err
    assert not (tmp_path / "o").exists()  # refused before anything was written


def test_a_missing_corrections_file_is_one_line(src: Path, tmp_path: Path, capsys) -> None:
    gone = str(tmp_path / "gone.json")
    code, err = run_cli(
        ["run", "--input", str(src), "--output", str(tmp_path / "o"), "--corrections", gone], capsys
    )
    assert (code, err.count("\n")) == (2, 1)
    assert err.startswith(f"dataproc-faces: error: --corrections {gone}: cannot read it")


def test_help_documents_the_corrections_format(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for part in ('"version": 1', '"add"', '"remove"', "IoU >= 0.5", "OUTPUT/_corrections/"):
        assert part in text, part


def test_the_last_lines_report_privacy_and_corrections() -> None:
    from dataproc_faces.cli import privacy_lines
    from dataproc_faces.results.layout import Results
    from dataproc_faces.results.manifest import Summary

    s = Summary(inputs=5, ok=4, errors=1, faces=9, wall_seconds=1.0, images_per_second=5.0)
    s.render = {"mode": "blur", "fill": "blur"}
    s.privacy = {
        "faces_hidden": 9,
        "faces_weak": 2,
        "faces_by_person": 1,
        "photos_to_review": 3,
        "review_weak": 2,
        "review_small": 1,
        "review_error": 1,
    }
    s.corrected = 1
    assert privacy_lines(s, Results("/r")) == [
        "privacy: 9 faces hidden, 2 of them on weak evidence, 1 placed by a person; 3 photos "
        'need a look (2 weak, 1 small, 1 error): the gallery\'s Status "needs a look" lists them',
        "corrections: 1 photo corrected by a person, kept in /r/_corrections and applied by "
        "every later run",
    ]
    s.render, s.corrected = {"mode": "outline"}, 0
    assert privacy_lines(s, Results("/r")) == []


def test_damaged_kept_corrections_are_one_line_before_any_work(
    src: Path, tmp_path: Path, capsys
) -> None:
    kept = tmp_path / "o" / "_corrections" / "current.json"
    kept.parent.mkdir(parents=True)
    kept.write_text('{"version": 1, "photos": {"a.png": {"add": [{"x": 1}]}}}')
    code, err = run_cli(["run", "--input", str(src), "--output", str(tmp_path / "o")], capsys)
    assert (code, err.count("\n")) == (2, 1)
    assert err == f"dataproc-faces: error: corrections: {kept}: photo 'a.png': add[0].y: missing\n"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--fill-color", "red"], "--fill-color does not apply to --mode outline"),
        (
            ["--mode", "blur", "--fill-color", "#000000"],
            "--fill-color does not apply to --mode blur",
        ),
        (["--mode", "pixelate", "--blur-strength", "0.5"], "--blur-strength does not apply"),
        (["--mode", "blur", "--pixelate-blocks", "6"], "--pixelate-blocks does not apply"),
        (["--mask-scale", "1.3"], "--mask-scale does not apply to --mode outline"),
        (["--mode", "outline", "--mask", "box"], "--mask does not apply to --mode outline"),
    ],
)
def test_a_flag_for_another_mode_is_one_line_even_at_its_default(
    src: Path, tmp_path: Path, capsys, flags: list[str], message: str
):
    out = tmp_path / "o"
    code, err = run_cli(["run", "--input", str(src), "--output", str(out), *flags], capsys)
    assert code == 2 and err.count("\n") == 1 and not out.exists()
    assert message in err and "drop it or choose such a mode" in err


def test_flags_of_the_mode_in_use_are_accepted():
    from dataproc_faces.cli import _render_options, build_parser

    def render(*flags: str):
        return _render_options(build_parser().parse_args(["run", "--output", "o", *flags]))

    assert render("--mode", "solid", "--fill-color", "red", "--mask", "box").fill_color == (
        0,
        0,
        255,
    )
    assert render("--mode", "both", "--blur-strength", "0.7").blur_strength == 0.7
    assert render("--mode", "pixelate", "--pixelate-blocks", "8").pixelate_blocks == 8


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--mode", "blur", "--blur-strength", "0.02"], "--blur-strength 0.02 leaves faces"),
        (["--mode", "both", "--blur-strength", "0.05"], "--blur-strength 0.05 leaves faces"),
        (["--mode", "pixelate", "--pixelate-blocks", "32"], "--pixelate-blocks 32 leaves faces"),
        (["--mode", "solid", "--mask-scale", "0.6"], "--mask-scale 0.6 leaves faces"),
    ],
)
def test_a_setting_below_its_floor_is_one_line_unless_allowed(
    src: Path, tmp_path: Path, capsys, flags: list[str], message: str
):
    from dataproc_faces.cli import _render_options, build_parser

    out = tmp_path / "o"
    code, err = run_cli(["run", "--input", str(src), "--output", str(out), *flags], capsys)
    assert code == 2 and err.count("\n") == 1 and not out.exists()
    assert message in err
    assert "(make bench-privacy); add --allow-weak to use it anyway" in err
    allowed = build_parser().parse_args(["run", "--output", "o", *flags, "--allow-weak"])
    assert _render_options(allowed).allow_weak is True


def test_the_floors_sit_between_the_defaults_and_what_leaves_faces_recognisable():
    from dataproc_faces.imaging import options
    from dataproc_faces.imaging.render import RenderOptions

    d = RenderOptions()
    assert d.blur_strength >= options.BLUR_STRENGTH_FLOOR
    assert d.pixelate_blocks <= options.PIXELATE_BLOCKS_CEILING
    assert d.mask_scale >= options.MASK_SCALE_FLOOR
    at_floor = RenderOptions(
        mode="blur", blur_strength=options.BLUR_STRENGTH_FLOOR, mask_scale=options.MASK_SCALE_FLOOR
    )
    assert options.too_weak(at_floor) is None
    assert options.too_weak(RenderOptions(mode="outline", mask_scale=0.6)) is None  # hides none


def test_the_last_line_names_what_the_images_are():
    from dataproc_faces.cli import MADE
    from dataproc_faces.imaging.render import MODES

    assert MADE == {
        "outline": "outlined",
        "blur": "blurred",
        "pixelate": "pixelated",
        "solid": "filled",
        "both": "blurred and outlined",
    }
    assert set(MADE) == set(MODES)


def _marked(tmp_path: Path, *flags: str) -> Path:
    """A results folder as a run with `flags` leaves it (marker only; no Spark)."""
    from dataproc_faces.cli import _hold, _render_options, build_parser, detect_options_from_args
    from dataproc_faces.pipeline import JobSpec
    from dataproc_faces.results.ownership import release

    out = tmp_path / "o"
    args = build_parser().parse_args(["run", "--output", str(out), *flags])
    spec = JobSpec(
        str(tmp_path / "in"), str(out), detect_options_from_args(args), _render_options(args)
    )
    release(*_hold(spec, args.force))
    return out


@pytest.mark.parametrize(
    ("first", "then", "why"),
    [
        (["--mode", "blur"], [], "--mode outline leaves every face visible"),
        (["--mode", "blur"], ["--mode", "blur", "--blur-strength", "0.3"], "is lower"),
        (["--mode", "pixelate"], ["--mode", "pixelate", "--pixelate-blocks", "8"], "is finer"),
        (["--mode", "solid"], ["--mode", "solid", "--mask-scale", "1.1"], "is smaller"),
        (["--mode", "blur"], ["--mode", "blur", "--score-threshold", "0.5"], "is higher"),
        (["--mode", "blur"], ["--mode", "blur", "--detector", "centerface"], "not the detector"),
    ],
)
def test_a_run_that_would_show_hidden_faces_is_refused_in_one_line(
    src: Path, tmp_path: Path, capsys, first: list[str], then: list[str], why: str
):
    out = _marked(tmp_path, *first)
    before = out.joinpath("_dataproc_faces.json").read_text()
    code, err = run_cli(["run", "--input", str(src), "--output", str(out), *then], capsys)
    assert code == 2 and err.count("\n") == 1, err
    assert f"--output {out} holds faces hidden by {first[1]} (mask ellipse x1.3" in err
    assert why in err and "add --force to overwrite them, or choose another --output" in err
    assert out.joinpath("_dataproc_faces.json").read_text() == before  # the record stands


def test_a_stronger_run_or_force_goes_on_and_the_marker_records_it(tmp_path: Path):
    import json

    from dataproc_faces.detectors.base import PRIVACY_SCORES

    out = _marked(tmp_path, "--mode", "blur", "--blur-strength", "0.5")
    marker = json.loads(out.joinpath("_dataproc_faces.json").read_text())
    assert marker["hiding"] == {
        "mode": "blur",
        "fill": "blur",
        "mask": "ellipse",
        "mask_scale": 1.3,
        "blur_strength": 0.5,
        "detector": "ensemble",
        "score_threshold": PRIVACY_SCORES["ensemble"],
    }
    assert "input" not in marker and len(marker["input_sha256"]) == 16  # no local path
    _marked(tmp_path, "--mode", "solid", "--mask-scale", "1.6")  # another fill, a larger mask
    hiding = json.loads(out.joinpath("_dataproc_faces.json").read_text())["hiding"]
    assert (hiding["mode"], hiding["mask_scale"]) == ("solid", 1.6)
    _marked(tmp_path, "--force")  # outline, forced: the marker now says nothing is hidden
    assert json.loads(out.joinpath("_dataproc_faces.json").read_text())["hiding"] is None
    _marked(tmp_path)  # outline over outline needs no force


def test_moving_to_the_ensemble_keeps_every_face_its_member_found(
    src: Path, tmp_path: Path, capsys
):
    """The ensemble looks with RetinaFace and CenterFace: after either alone it hides at least
    as much (no --force needed); back from it to one network is refused."""
    import json

    from dataproc_faces.detectors.ensemble import MEMBERS, network
    from dataproc_faces.results.ownership import COVERS

    # the results layer's copy of the members' networks
    assert set(COVERS["ensemble"]) == {network(m) for m in MEMBERS}
    out = _marked(tmp_path, "--mode", "blur", "--detector", "retinaface")
    _marked(tmp_path, "--mode", "blur")  # the default when hiding: the ensemble
    marker = json.loads(out.joinpath("_dataproc_faces.json").read_text())
    assert marker["hiding"]["detector"] == "ensemble"
    code, err = run_cli(
        ["run", "--input", str(src), "--output", str(out), "--mode", "blur", "--detector",
         "retinaface"],
        capsys,
    )  # fmt: skip
    assert code == 2 and "--detector retinaface is not the detector that found them" in err
