"""`dataproc-faces serve`'s options: loopback unless told otherwise, cloud mode from the stack's
outputs resolved as `submit` resolves them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dataproc_faces.cli import UsageError, build_parser
from dataproc_faces.serve import settings_from_args
from dataproc_faces.web.settings import MB


def test_defaults_bind_to_loopback_on_flasks_port_in_local_mode(tmp_path: Path) -> None:
    args = build_parser().parse_args(["serve", "--data", str(tmp_path)])
    assert (args.host, args.port) == ("127.0.0.1", 5000)
    settings = settings_from_args(args)
    assert settings.cloud is None
    assert settings.input_root == str(tmp_path / "input")
    assert settings.results_root == str(tmp_path / "results")
    assert (settings.max_file_bytes, settings.max_request_bytes) == (50 * MB, 200 * MB)


def test_stack_outputs_mean_cloud_mode_with_the_stacks_prefixes(tmp_path: Path) -> None:
    outputs = tmp_path / "stack.json"
    outputs.write_text(
        json.dumps({"upload_images_to": "gs://in/images/", "results_uri": "gs://out/runs/"})
    )
    args = build_parser().parse_args(
        ["serve", "--data", str(tmp_path), "--stack-outputs", str(outputs), "--port", "8080"]
    )
    settings = settings_from_args(args)
    assert settings.cloud is not None
    assert (settings.input_root, settings.results_root) == ("gs://in/images", "gs://out/runs")
    assert settings.cloud.submit_args == ("--stack-outputs", str(outputs))


def test_cloud_mode_refuses_local_prefixes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATAPROC_FACES_IMAGES", str(tmp_path))
    monkeypatch.setenv("DATAPROC_FACES_RESULTS", "gs://out/runs/")
    args = build_parser().parse_args(["serve", "--cloud", "--data", str(tmp_path)])
    with pytest.raises(UsageError, match="cloud mode needs gs:// prefixes"):
        settings_from_args(args)
