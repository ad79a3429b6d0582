"""sparkenv's class data sharing archive: where it lives and what makes it another one."""

from __future__ import annotations

from pathlib import Path

import pytest

from dataproc_faces import sparkenv

JAVA = '/usr/lib/jvm/java-17/bin/java\nopenjdk version "17.0.13" 2024-10-15\n'


def test_the_archive_is_per_java_build_and_goes_where_the_cache_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(sparkenv.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    first = sparkenv.class_archive(JAVA)
    assert first is not None and first.parent == tmp_path / "xdg" / "dataproc-faces"
    assert first.name.startswith("spark-classes-") and first.suffix == ".jsa"
    assert sparkenv.class_archive(JAVA) == first  # the same JVM and jars: the same archive
    other = sparkenv.class_archive(JAVA.replace("17.0.13", "17.0.14"))
    assert other is not None and other.parent == first.parent and other.name != first.name
    monkeypatch.setenv(sparkenv.CACHE_ENV, str(tmp_path / "mine"))
    mine = sparkenv.class_archive(JAVA)
    assert mine is not None and mine.parent == tmp_path / "mine" and mine.name == first.name
    monkeypatch.setenv(sparkenv.CACHE_ENV, "off")
    assert sparkenv.class_archive(JAVA) is None


def test_no_home_means_no_archive_not_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (sparkenv.CACHE_ENV, "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    assert sparkenv.class_archive(JAVA) is None
