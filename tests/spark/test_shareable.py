"""A results folder can be shared: after real runs through local Spark, no file in it (rows,
state, summary, marker, gallery pages, images, the page's zip) names the input's or the
output's local folders; and a later run cannot write visible faces over the hidden ones."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from dataproc_faces.web.download import entries, stream_zip
from tests.images import astronaut, encode, write_tree
from tests.unit.videogen import make_clip

pytestmark = pytest.mark.spark

SECRET = "ann-secret-home-7731"  # a folder name that must not travel with the results


def run_job(src: Path, dst: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "dataproc_faces", "run", "--input", str(src), "--output", str(dst)]
    return subprocess.run(
        [*cmd, "--master", "local[2]", *extra],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYSPARK_PYTHON": sys.executable},
    )


def described_jpeg(src: Path) -> bytes:
    """A photo whose metadata names the folder it came from (a caption, an artist)."""
    exif = Image.Exif()
    exif[0x010F], exif[0x013B], exif[0x010E] = "Canon", SECRET, f"saved in {src}"
    out = io.BytesIO()
    Image.fromarray(astronaut()[:, :, ::-1]).save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def leaks(dst: Path, needles: list[str]) -> list[str]:
    """Every file under `dst`, and every entry and byte of the page's zip, holding a needle."""
    found = []
    for path in sorted(p for p in dst.rglob("*") if p.is_file()):
        data = path.read_bytes()
        found += [f"{path.relative_to(dst)}: {n}" for n in needles if n.encode() in data]
    archive = b"".join(stream_zip(str(dst), entries(str(dst)), "results"))
    with zipfile.ZipFile(io.BytesIO(archive)) as z:
        names = z.namelist()
        assert "results/summary.json" in names and any(
            n.startswith("results/images/") for n in names
        )
        for name in names:
            data = name.encode() + z.read(name)
            found += [f"zip {name}: {n}" for n in needles if n.encode() in data]
    return found


def test_no_local_path_in_a_results_folder_and_hidden_faces_stay_hidden(tmp_path_factory):
    base = tmp_path_factory.mktemp(SECRET)
    src, dst = base / "street-photos", base / "results"
    write_tree(
        src,
        {
            "astronaut.png": encode(astronaut(), ".png"),
            "trip/day one/described.jpg": described_jpeg(src),
            "broken.jpg": b"not a photo",
        },
    )
    # a video whose container tags name the folder it came from
    make_clip(src / "trip" / "clip.mp4", frames=12, audio=False, metadata={"comment": str(src)})
    first = run_job(src, dst, "--mode", "blur", "--keep-metadata")
    assert first.returncode == 0, first.stderr[-3000:]
    assert f"dataproc-faces: blurred images in {dst}/images," in first.stdout
    write_tree(src, {"later.png": encode(astronaut(), ".png")})  # resume: state and compaction
    second = run_job(src, dst, "--mode", "blur", "--keep-metadata")
    assert second.returncode == 0, second.stderr[-3000:]
    assert "this run processed 1 inputs and skipped 4" in second.stdout

    needles = [str(base), str(src), str(dst), SECRET]
    assert leaks(dst, needles) == []
    summary = (dst / "summary.json").read_text()
    assert '"input": "street-photos"' in summary and '"output": "results"' in summary

    blurred = (dst / "images" / "astronaut.png").read_bytes()
    refused = run_job(src, dst)  # outline, the default: it would show every hidden face
    assert refused.returncode == 2
    assert refused.stderr.splitlines() == [
        f"dataproc-faces: error: --output {dst} holds faces hidden by blur (mask ellipse x1.3, "
        "strength 0.5; ensemble at 0.1); this run would write them less hidden (--mode "
        "outline leaves every face visible): add --force to overwrite them, or choose another "
        "--output"
    ]
    assert (dst / "images" / "astronaut.png").read_bytes() == blurred
    forced = run_job(src, dst, "--force")
    assert forced.returncode == 0, forced.stderr[-3000:]
    assert f"dataproc-faces: outlined images in {dst}/images," in forced.stdout
    assert (dst / "images" / "astronaut.png").read_bytes() != blurred
    assert leaks(dst, needles) == []
