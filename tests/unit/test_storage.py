"""The local side of the I/O seam."""

from __future__ import annotations

from pathlib import Path

import pytest

from dataproc_faces.storage import LocalStore, is_ignored, is_within, join, normalise, store_for


def test_listing_is_recursive_sorted_and_skips_hidden_and_underscore_names(tmp_path: Path):
    for rel in ["b.jpg", "a/c.png", "a/.d.png", "_SUCCESS", "_tmp/e.png", ".git/f", "a/b/g.jpg"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    assert LocalStore().list_files(str(tmp_path)) == ["a/b/g.jpg", "a/c.png", "b.jpg"]


def test_is_ignored_looks_at_every_path_part():
    assert is_ignored("_staging/a.jpg") and is_ignored("a/.b.jpg") and not is_ignored("a/b_c.jpg")


def test_write_replaces_atomically_and_leaves_no_temporary_file(tmp_path: Path):
    store, target = LocalStore(), str(tmp_path / "out" / "x.bin")
    store.write(target, b"old")
    store.write(target, b"new")
    assert Path(target).read_bytes() == b"new"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["x.bin"]


def test_paths_and_uris_join_and_nest():
    assert join("gs://b/in/", "a/b.jpg") == "gs://b/in/a/b.jpg"
    assert is_within("gs://b/in/out", "gs://b/in") and not is_within("gs://b/input", "gs://b/in")
    assert is_within(normalise("/tmp/x/y"), normalise("/tmp/x/"))
    assert not is_within("/tmp/x", "gs://tmp/x")


def test_unknown_schemes_are_refused():
    with pytest.raises(ValueError, match="unsupported URI scheme"):
        store_for("s3://bucket/key")
