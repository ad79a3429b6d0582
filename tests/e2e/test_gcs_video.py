"""A video in a gs:// bucket through the emulator: segment tasks and the join read the source
and write segments, output, boxes and row through the real Cloud Storage client (no Spark: the
same functions the Spark tasks run; tests/spark/test_video_job.py runs them under Spark)."""

from __future__ import annotations

import json
from pathlib import Path

import av
import pytest

from dataproc_faces.imaging.render import RenderOptions
from dataproc_faces.pipeline import JobSpec, Task, process_partition
from dataproc_faces.storage.gcs import client
from dataproc_faces.video_jobs import join_video, probe_entry, run_segment
from dataproc_faces.video_task import DEFAULT_VIDEO
from tests.e2e.conftest import names, upload
from tests.unit.videogen import make_clip

pytestmark = pytest.mark.e2e


def _frames(data: bytes, tmp: Path) -> int:
    path = tmp / "got.mkv"
    path.write_bytes(data)
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(c.streams.video[0]))


def test_a_video_in_a_bucket_is_segmented_joined_and_written_back(
    bucket: str, tmp_path: Path
) -> None:
    clip = make_clip(tmp_path / "walk.mkv", "matroska", frames=12)
    upload(bucket, {"in/walk.mkv": clip.path.read_bytes(), "in/odd.bin": clip.path.read_bytes()})
    spec = JobSpec(f"gs://{bucket}/in", f"gs://{bucket}/out", render=RenderOptions(mode="blur"))
    source = f"gs://{bucket}/in/walk.mkv"
    planned = probe_entry((source, ("walk.mkv", "g1")), "o", 0.5, DEFAULT_VIDEO)
    assert planned.error is None and len(planned.segments) == 2
    for seg in planned.segments:
        assert run_segment(spec, planned, seg, DEFAULT_VIDEO).frames == 6
    assert any(n.startswith("out/_work/videos/") for n in names(bucket, "out/"))
    summary = join_video(spec, "run1", planned, 0.5)
    assert summary["ok"] == 1
    got = client().bucket(bucket).blob("out/images/walk.mkv").download_as_bytes()
    assert _frames(got, tmp_path) == 12
    assert not [n for n in names(bucket, "out/") if n.startswith("out/_work/")]
    boxes = client().bucket(bucket).blob("out/frames/walk.mkv.jsonl").download_as_text()
    assert [json.loads(line)["frame"] for line in boxes.splitlines()] == list(range(12))
    # A video under a name no one would guess: found by content in its task, processed whole.
    (row,) = process_partition(spec, [Task(f"gs://{bucket}/in/odd.bin", "odd.bin")])
    assert row["status"] == "ok" and row["format"] == "matroska", row
    assert row["output"] == f"gs://{bucket}/out/images/odd.bin.mkv"
    assert row["video"]["frames"] == 12 and row["video"]["audio"] == "copied"
