"""The init action's libturbojpeg step (block-local JPEG outputs), run for real with stand-in
package managers: the node's python is this test's own, which already holds every Python package
the action checks, so each run ends at the libturbojpeg step or at "nothing to do"."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.init_actions.test_install_opencv import METADATA_STANDIN, SCRIPT, _pin


def _loaded(name: str) -> str | None:
    """The file this process maps for library `name` once ctypes has loaded it, or None."""
    try:
        ctypes.CDLL(name)
    except OSError:
        return None
    maps = Path("/proc/self/maps").read_text().splitlines()
    stem = name.split(".so")[0]
    return next((line.split()[-1] for line in maps if f"/{stem}.so" in line), None)


REAL_LIBRARY = _loaded("libturbojpeg.so.0")
pytestmark = pytest.mark.skipif(REAL_LIBRARY is None, reason="libturbojpeg0 is not installed here")

# A package manager stand-in: logs its arguments; `install` puts the real library where the
# action looks for it (LINK_TO), unless INSTALLS_NOTHING is set; FAILS makes every call fail.
MANAGER_STANDIN = """#!/bin/sh
echo "$(basename "$0") $*" >>"$CALLS"
[ -z "${FAILS:-}" ] || exit 100
case "$1" in
  install)
    [ -n "${INSTALLS_NOTHING:-}" ] || ln -sf "$REAL_LIBRARY" "$LINK_TO" ;;
esac
exit 0
"""


@pytest.fixture()
def node(tmp_path: Path) -> dict[str, Path]:
    """Metadata and package-manager stand-ins, and a library path that does not exist yet."""
    metadata = tmp_path / "get_metadata_value"
    metadata.write_text(METADATA_STANDIN)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("apt-get", "dnf"):
        (bin_dir / name).write_text(MANAGER_STANDIN)
    for path in [metadata, *bin_dir.iterdir()]:
        path.chmod(0o755)
    (tmp_path / "lib").mkdir()
    return {
        "metadata": metadata,
        "apt": bin_dir / "apt-get",
        "dnf": bin_dir / "dnf",
        "library": tmp_path / "lib" / "libturbojpeg.so.0",
        "calls": tmp_path / "calls.log",
    }


def _run(node: dict[str, Path], **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {
        **os.environ,
        "GET_METADATA_VALUE": str(node["metadata"]),
        "DATAPROC_PYTHON": sys.executable,
        "FAKE_OPENCV_VERSION": _pin("opencv-python-headless"),
        "FAKE_OPENVINO_VERSION": _pin("openvino"),
        "FAKE_HEIF_VERSION": _pin("pillow-heif"),
        "FAKE_AV_VERSION": _pin("av"),
        "PIP_INDEX_URL": "http://127.0.0.1:9/simple",  # nothing may be fetched from an index
        "PIP_MAX_ATTEMPTS": "3",
        "PIP_BACKOFF_SECONDS": "0",
        "APT_GET": str(node["apt"]),
        "DNF": str(node["dnf"]),
        "TURBOJPEG_LIBRARY": str(node["library"]),
        "CALLS": str(node["calls"]),
        "REAL_LIBRARY": str(REAL_LIBRARY),
        "LINK_TO": str(node["library"]),
        **env,
    }
    return subprocess.run(
        ["bash", str(SCRIPT)], env=full_env, capture_output=True, text=True, timeout=300
    )


def _calls(node: dict[str, Path]) -> list[str]:
    return node["calls"].read_text().splitlines() if node["calls"].exists() else []


def test_missing_library_is_installed_with_apt_get_then_left_alone(node: dict[str, Path]) -> None:
    proc = _run(node)
    assert proc.returncode == 0, proc.stderr
    assert _calls(node) == [
        "apt-get update -qq",
        "apt-get install -y -qq --no-install-recommends libturbojpeg0",
    ]
    assert "installing libturbojpeg0 (libturbojpeg, block-local JPEG outputs)" in proc.stderr
    assert f"libturbojpeg ({node['library']}) installed on Worker" in proc.stderr
    assert "nothing to do" in proc.stderr  # the Python packages' steps ran as before

    node["calls"].unlink()
    again = _run(node)
    assert again.returncode == 0, again.stderr
    assert _calls(node) == []  # idempotent: a node that loads it is not touched
    assert f"libturbojpeg ({node['library']}) already loads on Worker" in again.stderr


def test_without_apt_get_dnf_installs_turbojpeg(node: dict[str, Path], tmp_path: Path) -> None:
    proc = _run(node, APT_GET=str(tmp_path / "no-apt-get"))
    assert proc.returncode == 0, proc.stderr
    assert _calls(node) == ["dnf install -y -q turbojpeg"]
    assert "installing turbojpeg (libturbojpeg" in proc.stderr


def test_unreachable_mirror_retries_with_backoff_then_fails(node: dict[str, Path]) -> None:
    proc = _run(node, FAILS="1")
    assert proc.returncode == 1
    assert proc.stderr.count("apt-get install failed (attempt") == 2
    errors = [line for line in proc.stderr.splitlines() if "ERROR" in line]
    assert errors == [
        "install_opencv: ERROR: apt-get install libturbojpeg0 failed 3 times "
        "(can the node reach the package mirror through Cloud NAT?)"
    ]
    assert _calls(node) == ["apt-get update -qq"] * 3
    assert "nothing to do" not in proc.stderr and "installing opencv" not in proc.stderr


def test_install_that_leaves_no_loadable_library_fails_the_node(node: dict[str, Path]) -> None:
    proc = _run(node, INSTALLS_NOTHING="1")
    assert proc.returncode == 1
    assert f"ERROR: libturbojpeg installed but {node['library']} does not load" in proc.stderr
    assert "nothing to do" not in proc.stderr


def test_no_package_manager_fails_clearly(node: dict[str, Path], tmp_path: Path) -> None:
    proc = _run(node, APT_GET=str(tmp_path / "no-apt"), DNF=str(tmp_path / "no-dnf"))
    assert proc.returncode == 1
    assert "ERROR: libturbojpeg does not load and this image has neither" in proc.stderr
    assert _calls(node) == []


def test_a_library_without_the_transform_is_not_taken(node: dict[str, Path]) -> None:
    """The check finds the calls the job makes: another library under the name fails it."""
    other = _loaded("libm.so.6")
    if other is None:
        pytest.skip("no libm.so.6 to stand in for a wrong library")
    node["library"].symlink_to(other)
    proc = _run(node, INSTALLS_NOTHING="1")
    assert proc.returncode == 1
    assert _calls(node)[-1] == "apt-get install -y -qq --no-install-recommends libturbojpeg0"
    assert "does not load" in proc.stderr
