"""The bench's breakdown of one photo's time: the job's own per-image code, every stage named,
outputs written where the job writes them, per photo and per megapixel."""

from __future__ import annotations

from pathlib import Path

import cv2

from bench import run
from tests.images import astronaut


def test_profile_times_every_stage_of_the_jobs_own_code(tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    face = astronaut()  # one face the cascade finds
    cv2.imwrite(str(images / "a.jpg"), face)
    cv2.imwrite(str(images / "b.jpg"), cv2.resize(face, (1024, 768)))
    cv2.imwrite(str(images / "c.png"), face)
    profile = run.profile_loop(images, tmp_path / "out", 3, "haar")
    stages = ["read", "decode", "detect", "mask", "encode", "thumbnail", "write", "total"]
    assert list(profile["ms_per_image"]) == stages == list(profile["ms_per_megapixel"])
    assert profile["images"] == 3 and profile["detector"] == "haar"
    megapixels = (512 * 512 * 2 + 1024 * 768) / 1e6
    assert profile["mean_megapixels"] == round(megapixels / 3, 2)
    assert profile["written"] == {"blocks": 2, "png": 1}
    per_image = profile["ms_per_image"]
    assert all(per_image[s] > 0 for s in stages if s != "mask")
    assert per_image["total"] >= sum(per_image[s] for s in stages[:-1]) - 0.5  # rounding
    per_mp = profile["ms_per_megapixel"]["detect"]
    assert abs(per_mp * megapixels / 3 - per_image["detect"]) < 0.1
    outputs = sorted(
        p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.*")
    )
    assert [p for p in outputs if p.startswith("images/")] == [
        "images/a.jpg", "images/b.jpg", "images/c.png"
    ]  # fmt: skip
    assert len([p for p in outputs if p.startswith("thumbs/")]) == 3
    text = run.profile_table(profile)
    assert "| detect | " in text and "written: blocks 2, png 1" in text
