"""Job artefacts: the package zip is deterministic and names follow the content."""

from __future__ import annotations

import io
import os
import shutil
import zipfile
from pathlib import Path

import pytest

from dataproc_faces.detectors import weights
from infra.artifacts import ArtifactError, SourceTree, build_package_zip, content_hash, hashed_name


def _package(root: Path) -> Path:
    pkg = root / "dataproc_faces"
    (pkg / "models").mkdir(parents=True)
    (pkg / "__pycache__").mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "cli.py").write_text("print('hi')\n")
    (pkg / "models" / "w.bin").write_bytes(b"\x00\x01")
    (pkg / "__pycache__" / "cli.cpython-311.pyc").write_bytes(b"junk")
    (pkg / "stray.pyc").write_bytes(b"junk")
    return pkg


def test_zip_is_deterministic_sorted_and_skips_bytecode(tmp_path: Path) -> None:
    pkg = _package(tmp_path)
    first = build_package_zip(pkg)
    os.utime(pkg / "cli.py", (1_000_000_000, 1_000_000_000))
    assert build_package_zip(pkg) == first
    names = zipfile.ZipFile(io.BytesIO(first)).namelist()
    assert names == [
        "dataproc_faces/__init__.py",
        "dataproc_faces/cli.py",
        "dataproc_faces/models/w.bin",
    ]
    infos = zipfile.ZipFile(io.BytesIO(first)).infolist()
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    (pkg / "cli.py").write_text("print('changed')\n")
    assert content_hash(build_package_zip(pkg)) != content_hash(first)


def test_zip_of_real_package_is_importable_layout() -> None:
    data = build_package_zip(SourceTree().package_dir)
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert "dataproc_faces/__init__.py" in names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    assert data == build_package_zip(SourceTree().package_dir)


def test_hashed_names() -> None:
    assert hashed_name("main.py", b"x") == f"main-{content_hash(b'x')}.py"
    assert hashed_name("dataproc_faces.zip", b"").startswith("dataproc_faces-")
    assert len(content_hash(b"abc")) == 16
    assert hashed_name("install_opencv.sh", b"a") != hashed_name("install_opencv.sh", b"b")


def test_package_without_init_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match=r"has no __init__\.py"):
        build_package_zip(tmp_path)


def test_models_dir_is_optional(tmp_path: Path) -> None:
    pkg = _package(tmp_path)
    (pkg / "models" / "w.bin").unlink()
    (pkg / "models").rmdir()
    names = zipfile.ZipFile(io.BytesIO(build_package_zip(pkg))).namelist()
    assert names == ["dataproc_faces/__init__.py", "dataproc_faces/cli.py"]


@pytest.mark.parametrize("pinned", weights.ALL, ids=lambda w: w.detector)
def test_missing_or_wrong_detector_weights_stop_the_deploy(tmp_path: Path, pinned) -> None:
    from infra.artifacts import require_weights

    real = SourceTree().models_dir
    for other in weights.ALL:
        if other != pinned:
            shutil.copy(real / other.file, tmp_path / other.file)
    with pytest.raises(ArtifactError, match=rf"cannot read {pinned.model} weights .*make models"):
        require_weights(tmp_path)
    (tmp_path / pinned.file).write_bytes(b"not the model")
    with pytest.raises(ArtifactError, match=r"corrupt or not the pinned file.*make models"):
        require_weights(tmp_path)
    require_weights(real)  # the real, fetched weights pass


def test_sample_images_lists_images_only(tmp_path: Path) -> None:
    from infra.samples import CONTENT_TYPES, sample_images

    assert sample_images(tmp_path / "missing") == []
    for name in ("b.png", "A.JPG", "c.webp", "SOURCES.md", ".hidden.png", "_tmp.png", "x.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub.png").mkdir()  # a folder, whatever its name
    assert [p.name for p in sample_images(tmp_path)] == ["A.JPG", "b.png", "c.webp"]
    assert CONTENT_TYPES[".jpg"] == "image/jpeg" and CONTENT_TYPES[".png"] == "image/png"
    repo = [p.name for p in sample_images(SourceTree().samples_dir)]
    assert len(repo) >= 4 and all(n.endswith(".png") for n in repo)


def test_programs_run_by_the_tests_build_in_their_temporary_folder(stack) -> None:
    """A clean clone stays clean after `make test`: no zip lands in the repository's build/."""
    package = stack.named("gcp:storage/bucketObject:BucketObject", "-artifacts-package")
    path = Path(package["inputs"]["source"]["__file_asset"])
    assert path.is_file() and path.name.startswith("dataproc_faces-")
    assert not path.is_relative_to(SourceTree().root), path
    assert path.parent.name == "build"


def test_the_build_folder_is_the_repositorys_unless_overridden(tmp_path, monkeypatch) -> None:
    from infra.artifacts import BUILD_DIR_ENV

    monkeypatch.delenv(BUILD_DIR_ENV, raising=False)
    assert SourceTree().build_dir == SourceTree().root / "build" / "artifacts"
    monkeypatch.setenv(BUILD_DIR_ENV, str(tmp_path))
    assert SourceTree().build_dir == tmp_path
