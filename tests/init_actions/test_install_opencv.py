"""The OpenCV + OpenVINO (+ Pillow) init action: shellcheck clean, run for real."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "init_actions" / "install_opencv.sh"
NUMPY = "1.26.4"  # what the Dataproc 2.3 image's conda base carries, and what must survive

METADATA_STANDIN = """#!/bin/sh
# Stand-in for /usr/share/google/get_metadata_value: answers from environment variables.
case "$1" in
  attributes/opencv-version)
    [ -n "${FAKE_OPENCV_VERSION+x}" ] || exit 1
    printf '%s' "$FAKE_OPENCV_VERSION" ;;
  attributes/pillow-version)
    [ -n "${FAKE_PILLOW_VERSION+x}" ] || exit 1
    printf '%s' "$FAKE_PILLOW_VERSION" ;;
  attributes/openvino-version)
    [ -n "${FAKE_OPENVINO_VERSION+x}" ] || exit 1
    printf '%s' "$FAKE_OPENVINO_VERSION" ;;
  attributes/pillow-heif-version)
    [ -n "${FAKE_HEIF_VERSION+x}" ] || exit 1
    printf '%s' "$FAKE_HEIF_VERSION" ;;
  attributes/av-version)
    [ -n "${FAKE_AV_VERSION+x}" ] || exit 1
    printf '%s' "$FAKE_AV_VERSION" ;;
  attributes/dataproc-role) printf 'Worker' ;;
  *) exit 1 ;;
esac
"""


def _pin(name: str) -> str:
    sys.path.insert(0, str(REPO))
    from infra.config import requirement_pin

    return requirement_pin(name)


def _opencv_pin() -> str:
    return _pin("opencv-python-headless")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A temp venv standing in for the image's conda python (numpy, no Pillow), plus metadata."""
    root = tmp_path_factory.mktemp("node")
    venv = root / "conda"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            f"numpy=={NUMPY}",
        ],
        check=True,
        timeout=300,
    )
    metadata = root / "get_metadata_value"
    metadata.write_text(METADATA_STANDIN)
    metadata.chmod(0o755)
    return {"python": python, "metadata": metadata}


_PIN = object()  # the openvino pin of requirements.txt


def _run(
    sandbox: dict[str, Path],
    version: str | None,
    *,
    pillow: str | None = None,
    openvino: object = _PIN,
    heif: object = _PIN,
    av: object = _PIN,
    **env: str,
) -> subprocess.CompletedProcess[str]:
    full_env = {
        **os.environ,
        "GET_METADATA_VALUE": str(sandbox["metadata"]),
        "DATAPROC_PYTHON": str(sandbox["python"]),
        **env,
    }
    full_env.pop("FAKE_OPENCV_VERSION", None)
    full_env.pop("FAKE_PILLOW_VERSION", None)
    full_env.pop("FAKE_OPENVINO_VERSION", None)
    full_env.pop("FAKE_HEIF_VERSION", None)
    full_env.pop("FAKE_AV_VERSION", None)
    if av is _PIN:
        av = _pin("av")
    if av is not None:
        full_env["FAKE_AV_VERSION"] = str(av)
    if heif is _PIN:
        heif = _pin("pillow-heif")
    if heif is not None:
        full_env["FAKE_HEIF_VERSION"] = str(heif)
    if openvino is _PIN:
        openvino = _pin("openvino")
    if openvino is not None:
        full_env["FAKE_OPENVINO_VERSION"] = str(openvino)
    if version is not None:
        full_env["FAKE_OPENCV_VERSION"] = version
    if pillow is not None:
        full_env["FAKE_PILLOW_VERSION"] = pillow
    return subprocess.run(
        ["bash", str(SCRIPT)],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _py(sandbox: dict[str, Path], code: str) -> str:
    return subprocess.run(
        [str(sandbox["python"]), "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


def _pil_version(sandbox: dict[str, Path]) -> str | None:
    """Pillow's version as the sandbox python imports it, or None when `import PIL` fails."""
    proc = subprocess.run(
        [str(sandbox["python"]), "-c", "import PIL; print(PIL.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() if proc.returncode == 0 else None


@pytest.mark.skipif(
    shutil.which("shellcheck") is None, reason="shellcheck not on PATH (apt-get install shellcheck)"
)
def test_shellcheck_clean() -> None:
    proc = subprocess.run(
        ["shellcheck", "--severity=style", str(SCRIPT)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout


def test_script_is_executable_bash_with_strict_mode() -> None:
    text = SCRIPT.read_text()
    assert text.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in text
    assert os.access(SCRIPT, os.X_OK)


@pytest.mark.parametrize("bad", ["latest", "4.11", "4.11.0.86; rm -rf /", "", "4.11.0.86\n5.0.0"])
def test_bad_version_in_metadata_fails_clearly_before_pip(
    sandbox: dict[str, Path], bad: str
) -> None:
    proc = _run(sandbox, bad, PIP_INDEX_URL="http://127.0.0.1:9/")
    assert proc.returncode != 0
    assert "install_opencv: ERROR: metadata attribute 'opencv-version' is" in proc.stderr
    assert "expected an exact version such as" in proc.stderr
    assert "installing" not in proc.stderr


def test_missing_metadata_fails_clearly(sandbox: dict[str, Path]) -> None:
    proc = _run(sandbox, None)
    assert proc.returncode != 0
    assert "ERROR: cannot read metadata attribute 'opencv-version'" in proc.stderr


def test_missing_python_fails_clearly(sandbox: dict[str, Path], tmp_path: Path) -> None:
    proc = _run(sandbox, "4.11.0.86", DATAPROC_PYTHON=str(tmp_path / "nope" / "python"))
    assert proc.returncode != 0 and "ERROR: no python at" in proc.stderr


def test_unreachable_index_retries_with_backoff_then_fails(sandbox: dict[str, Path]) -> None:
    proc = _run(
        sandbox,
        "4.10.0.84",
        pillow="11.3.0",
        PIP_INDEX_URL="http://127.0.0.1:9/simple",
        PIP_RETRIES="0",
        PIP_TIMEOUT="2",
        PIP_NO_CACHE_DIR="1",
        PIP_MAX_ATTEMPTS="3",
        PIP_BACKOFF_SECONDS="0",
    )
    assert proc.returncode != 0
    assert proc.stderr.count("pip install failed (attempt") == 2
    assert "ERROR: pip install opencv-python-headless==4.10.0.84 failed 3 times" in proc.stderr
    assert _py(sandbox, "import numpy; print(numpy.__version__)") == NUMPY


@pytest.mark.parametrize("bad", [None, "latest", "11.3", "11.3.0 && true", ""])
def test_pil_missing_and_bad_pillow_version_fails_clearly_before_pip(
    sandbox: dict[str, Path], bad: str | None
) -> None:
    assert _pil_version(sandbox) is None, "the sandbox must not have Pillow yet"
    proc = _run(sandbox, _opencv_pin(), pillow=bad, PIP_INDEX_URL="http://127.0.0.1:9/")
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if "ERROR" in line]
    if bad is None:
        assert errors == [
            "install_opencv: ERROR: cannot read metadata attribute 'pillow-version'"
            " (set it on the cluster's gce_cluster_config.metadata)"
        ]
    else:
        assert len(errors) == 1
        assert errors[0].startswith("install_opencv: ERROR: metadata attribute 'pillow-version' is")
        assert errors[0].endswith("expected an exact version such as 11.3.0")
    assert "installing" not in proc.stderr


def test_installs_pinned_opencv_and_pillow_keeps_numpy_and_is_idempotent(
    sandbox: dict[str, Path],
) -> None:
    version, pillow, heif = _opencv_pin(), _pin("pillow"), _pin("pillow-heif")
    assert _pil_version(sandbox) is None
    proc = _run(sandbox, version, pillow=pillow)
    assert proc.returncode == 0, proc.stderr
    assert f"done: cv2 {'.'.join(version.split('.')[:3])}" in proc.stderr
    assert f"installing pillow=={pillow}" in proc.stderr
    assert f"installing openvino=={_pin('openvino')}" in proc.stderr
    assert f"installing pillow-heif=={heif}" in proc.stderr
    openvino = f"OpenVINO {_pin('openvino')} {_precision()}"
    assert f"installing av=={_pin('av')}" in proc.stderr
    assert f", {openvino}, pillow-heif {heif}, av {_pin('av')}, Pillow {pillow} on Worker" in (
        proc.stderr
    )
    assert _py(sandbox, "import av; print(av.codec.Codec('libx264', 'w').name)") == "libx264"
    assert _pil_version(sandbox) == pillow
    opens = "import pillow_heif as h; h.register_heif_opener(); print(h.__version__)"
    assert _py(sandbox, opens) == heif
    ov = "import openvino as ov; print(ov.__version__.split('-')[0], ov.Core().available_devices)"
    assert _py(sandbox, ov) == f"{_pin('openvino')} ['CPU']"
    check = (
        "import cv2, numpy, os; "
        "p = os.path.join(cv2.data.haarcascades, 'haarcascade_frontalface_default.xml'); "
        "print(cv2.__version__, numpy.__version__, cv2.CascadeClassifier(p).empty())"
    )
    cv_version, numpy_version, empty = _py(sandbox, check).split()
    assert version.startswith(cv_version) and numpy_version == NUMPY and empty == "False"

    start = time.monotonic()
    # No index and no pillow-version needed: both are present.
    again = _run(sandbox, version, PIP_INDEX_URL="http://127.0.0.1:9/simple")
    assert again.returncode == 0, again.stderr
    assert f"and Pillow {pillow} already installed on Worker; nothing to do" in again.stderr
    openvino_heif = f"OpenVINO {_pin('openvino')} {_precision()}, pillow-heif {heif}"
    assert f"{openvino_heif}, av {_pin('av')} and Pillow" in again.stderr
    assert time.monotonic() - start < 20


def test_importable_pillow_is_left_alone(sandbox: dict[str, Path]) -> None:
    pillow = _pil_version(sandbox)
    assert pillow is not None, "runs after the install test"
    # A different OpenCV forces the install path; the (bad) pillow-version must not matter.
    proc = _run(
        sandbox,
        "4.10.0.84",
        pillow="not-a-version",
        PIP_INDEX_URL="http://127.0.0.1:9/simple",
        PIP_RETRIES="0",
        PIP_TIMEOUT="2",
        PIP_NO_CACHE_DIR="1",
        PIP_MAX_ATTEMPTS="1",
    )
    assert f"Pillow {pillow} already importable on Worker; leaving the image's Pillow alone" in (
        proc.stderr
    )
    assert "pillow-version" not in proc.stderr and "pillow==" not in proc.stderr
    assert "ERROR: pip install opencv-python-headless==4.10.0.84 failed 1 times" in proc.stderr
    assert _pil_version(sandbox) == pillow
    assert _py(sandbox, "import numpy; print(numpy.__version__)") == NUMPY


def test_opencv_present_pil_missing_installs_only_pillow(sandbox: dict[str, Path]) -> None:
    version, pillow = _opencv_pin(), _pin("pillow")
    subprocess.run(
        [str(sandbox["python"]), "-m", "pip", "uninstall", "-y", "-q", "pillow"], check=True
    )
    assert _pil_version(sandbox) is None
    proc = _run(sandbox, version, pillow=pillow)
    assert proc.returncode == 0, proc.stderr
    assert f"opencv-python-headless {version} (cv2" in proc.stderr
    assert "installing opencv-python-headless" not in proc.stderr
    assert f"installing pillow=={pillow}" in proc.stderr
    assert _pil_version(sandbox) == pillow
    assert _py(sandbox, "import numpy; print(numpy.__version__)") == NUMPY


def _precision() -> str:
    """What the init action should report for this CPU: bf16 where OpenVINO can use it."""
    import openvino as ov

    return (
        "bf16" if "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES") else "fp32"
    )


def test_bad_or_missing_pillow_heif_version_fails_clearly_before_pip(
    sandbox: dict[str, Path],
) -> None:
    bad = _run(sandbox, _opencv_pin(), heif="1.8")
    assert bad.returncode == 1
    assert "ERROR: metadata attribute 'pillow-heif-version' is '1.8'" in bad.stderr
    missing = _run(sandbox, _opencv_pin(), heif=None)
    assert missing.returncode == 1
    assert "ERROR: cannot read metadata attribute 'pillow-heif-version'" in missing.stderr
    assert "installing" not in bad.stderr + missing.stderr


def test_bad_or_missing_av_version_fails_clearly_before_pip(sandbox: dict[str, Path]) -> None:
    bad = _run(sandbox, _opencv_pin(), av="18")
    assert bad.returncode == 1
    assert "ERROR: metadata attribute 'av-version' is '18'" in bad.stderr
    missing = _run(sandbox, _opencv_pin(), av=None)
    assert missing.returncode == 1
    assert "ERROR: cannot read metadata attribute 'av-version'" in missing.stderr
    assert "installing" not in bad.stderr + missing.stderr


def test_bad_or_missing_openvino_version_fails_clearly_before_pip(sandbox: dict[str, Path]) -> None:
    bad = _run(sandbox, _opencv_pin(), openvino="latest")
    assert bad.returncode == 1
    assert "install_opencv: ERROR: metadata attribute 'openvino-version' is 'latest'" in bad.stderr
    missing = _run(sandbox, _opencv_pin(), openvino=None)
    assert missing.returncode == 1
    assert "ERROR: cannot read metadata attribute 'openvino-version'" in missing.stderr
    assert "installing" not in bad.stderr + missing.stderr


@pytest.mark.parametrize(
    ("module", "message"),
    [
        ("openvino", "ERROR: openvino {openvino} installed but it does not import"),
        ("cv2", "ERROR: opencv-python-headless {opencv} installed but cv2 does not import"),
        ("PIL", "ERROR: PIL (Pillow) does not import from"),
        ("pillow_heif", "ERROR: pillow-heif {heif} installed but it does not import"),
        ("av", "ERROR: av {av} installed but it does not import"),
    ],
)
def test_a_package_that_does_not_import_fails_the_node(
    sandbox: dict[str, Path], module: str, message: str
) -> None:
    """The final checks run the real imports: a broken install is an error, not a green node."""
    pillow = _pin("pillow")
    installed = _run(sandbox, _opencv_pin(), pillow=pillow)  # a healthy node (no-op if it is)
    assert installed.returncode == 0, installed.stderr
    site = Path(_py(sandbox, f"import {module}, os; print(os.path.dirname({module}.__file__))"))
    init = site / "__init__.py"
    saved = init.read_bytes()
    try:
        init.write_text("raise ImportError('damaged on purpose')\n")
        proc = _run(
            sandbox,
            _opencv_pin(),
            pillow=pillow,
            PIP_INDEX_URL="http://127.0.0.1:9/simple",
            PIP_RETRIES="0",
            PIP_TIMEOUT="2",
            PIP_MAX_ATTEMPTS="1",
            PIP_BACKOFF_SECONDS="0",
        )
    finally:
        init.write_bytes(saved)
    assert proc.returncode == 1, proc.stderr
    # pip finds the pinned version already there: only the final import check can catch it
    expected = message.format(
        openvino=_pin("openvino"), opencv=_opencv_pin(), heif=_pin("pillow-heif"), av=_pin("av")
    )
    assert expected in proc.stderr
    assert "done:" not in proc.stderr
