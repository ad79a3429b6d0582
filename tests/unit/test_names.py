"""Listed object names become local paths only through names.safe_relative and a confined store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dataproc_faces.storage import store_for
from dataproc_faces.storage.base import OutsideRoot, join
from dataproc_faces.storage.local import LocalStore
from dataproc_faces.storage.names import MAX_SEGMENT_BYTES, UnsafeName, safe_relative

ACCEPTED = [
    "a.png",
    "nested/deeper/astronaut copy.png",
    "ünïcödé/фото.jpg",
    "...png",  # dots inside a segment are a name, not a step
    "a..b/c.d",
    ".hidden/x.png",  # hidden names are the listing's business (is_ignored), not a hazard
    "x" * MAX_SEGMENT_BYTES,
    "~/x.png",  # `~` is only special to shells; Path never expands it here
]

REFUSED = {
    "": "empty name",
    "/etc/passwd": "absolute name",
    "//tmp/x.png": "absolute name",
    "r1//tmp/x.png": "empty segment",
    "a/": "empty segment",
    "./a.png": "'.' segment",
    "a/./b.png": "'.' segment",
    "..": "'..' segment",
    "../outside.png": "'..' segment",
    "a/../../b.png": "'..' segment",
    "a/..": "'..' segment",
    "a\\..\\b.png": "backslash",
    "C:\\Windows\\x.png": "backslash",
    "a\x00b.png": "control character",
    "a\nb.png": "control character",
    "a\rb.png": "control character",
    "a\x1bb.png": "control character",
    "a\x7fb.png": "control character",
    "a\x85b.png": "control character",  # C1 next line
    "x" * (MAX_SEGMENT_BYTES + 1): "segment longer",
    "é" * (MAX_SEGMENT_BYTES // 2 + 1): "segment longer",  # bytes count, not characters
    "/".join(["d" * 200] * 6): "name longer than 1024",
}


@pytest.mark.parametrize("name", ACCEPTED)
def test_plain_relative_names_pass_unchanged(name: str):
    assert safe_relative(name) == name


@pytest.mark.parametrize(("name", "why"), REFUSED.items(), ids=[repr(n)[:40] for n in REFUSED])
def test_hostile_names_are_refused_with_the_reason(name: str, why: str):
    with pytest.raises(UnsafeName, match=why):
        safe_relative(name)


def test_every_accepted_name_stays_inside_its_root(tmp_path: Path):
    root = tmp_path / "dst"
    for name in ACCEPTED:
        assert root in (root / safe_relative(name)).resolve().parents


def test_a_confined_write_outside_its_root_raises_and_writes_nothing(tmp_path: Path):
    root, outside = tmp_path / "dst", tmp_path / "outside"
    store = LocalStore(root=str(root))
    for uri in (str(outside / "x.png"), str(root / ".." / "outside" / "x.png"), "/tmp/x"):
        with pytest.raises(OutsideRoot, match="outside"):
            store.write(uri, b"evil")
    assert not outside.exists()
    store.write(str(root / "a" / "ok.png"), b"fine")
    assert (root / "a" / "ok.png").read_bytes() == b"fine"


def test_a_symlink_inside_the_root_cannot_carry_a_write_out(tmp_path: Path):
    root, outside = tmp_path / "dst", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "link").symlink_to(outside, target_is_directory=True)
    (outside / "victim.txt").write_bytes(b"keep me")
    (root / "file-link").symlink_to(outside / "victim.txt")
    store = LocalStore(root=str(root))
    with pytest.raises(OutsideRoot):
        store.write(str(root / "link" / "new.png"), b"evil")
    with pytest.raises(OutsideRoot):
        store.write(str(root / "file-link"), b"evil")
    with pytest.raises(OutsideRoot):
        store.delete(str(root / "link" / "victim.txt"))
    assert sorted(os.listdir(outside)) == ["victim.txt"]
    assert (outside / "victim.txt").read_bytes() == b"keep me"


def test_a_root_reached_through_a_symlink_is_still_its_own_inside(tmp_path: Path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "alias").symlink_to(real, target_is_directory=True)
    store = store_for(str(tmp_path / "alias"))
    store.write(str(tmp_path / "alias" / "x" / "y.png"), b"ok")
    assert (real / "x" / "y.png").read_bytes() == b"ok"
    with pytest.raises(OutsideRoot):
        store.write(str(tmp_path / "elsewhere.png"), b"evil")


def test_remote_joins_keep_the_exact_name():
    assert join("gs://b/r1", "/tmp/x.png") == "gs://b/r1//tmp/x.png"
    assert join("gs://b/r1/", "a//b.png") == "gs://b/r1/a//b.png"
