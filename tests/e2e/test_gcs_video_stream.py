"""A video in a bucket is read in ranges and written from files, never held whole: the tasks
that probe it, process its segments and join it read the source through a seekable reader of
small chunks (ranged requests), and outputs and segments go up from local files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dataproc_faces.imaging.render import RenderOptions
from dataproc_faces.pipeline import JobSpec
from dataproc_faces.storage import gcs
from dataproc_faces.storage.gcs import client
from dataproc_faces.video_jobs import join_video, probe_entry, run_segment
from dataproc_faces.video_task import DEFAULT_VIDEO
from tests.e2e.conftest import upload
from tests.unit.videogen import audio_packets, decoded_times, make_clip

pytestmark = pytest.mark.e2e


def test_a_stored_video_is_read_in_ranges_and_written_from_files(
    bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from google.cloud.storage import Blob

    clip = make_clip(tmp_path / "walk.mp4", size=(320, 240), frames=96, side=96)
    data = clip.path.read_bytes()
    upload(bucket, {"in/walk.mp4": data})
    source = f"gs://{bucket}/in/walk.mp4"
    whole: list[str] = []
    real_read = gcs.GcsStore.read

    def read(self: gcs.GcsStore, uri: str) -> bytes:
        whole.append(uri)
        return real_read(self, uri)

    ranges: list[tuple[str, int, int]] = []
    real_download = Blob.download_as_bytes

    def download(self: Blob, *args: object, **kwargs: object) -> bytes:
        got = real_download(self, *args, **kwargs)
        ranges.append((self.name, int(kwargs.get("start") or 0), len(got)))
        return got

    uploaded: list[str] = []
    real_upload = Blob.upload_from_filename

    def upload_file(self: Blob, *args: object, **kwargs: object) -> None:
        uploaded.append(self.name)
        real_upload(self, *args, **kwargs)

    monkeypatch.setattr(gcs.GcsStore, "read", read)
    monkeypatch.setattr(Blob, "download_as_bytes", download)
    monkeypatch.setattr(Blob, "upload_from_filename", upload_file)
    monkeypatch.setattr(gcs, "READ_CHUNK", 16 * 1024)
    assert len(data) > 8 * gcs.READ_CHUNK  # the video is many chunks

    spec = JobSpec(f"gs://{bucket}/in", f"gs://{bucket}/out", render=RenderOptions(mode="blur"))
    planned = probe_entry((source, ("walk.mp4", "g1")), "o", 1.0, DEFAULT_VIDEO)
    assert planned.error is None and len(planned.segments) == 8
    ranges.clear()
    last = planned.segments[-1]
    run_segment(spec, planned, last, DEFAULT_VIDEO)
    read_by_last = sum(n for name, _, n in ranges if name == "in/walk.mp4")
    # a request is a chunk, or what FFmpeg asks for at once (its 32 KiB buffer) if larger
    assert ranges and max(n for _, _, n in ranges) <= 32 * 1024 + 1
    # the last segment's task reads its own eighth, the index and FFmpeg's first look
    assert read_by_last < len(data) / 2, (read_by_last, len(data))
    for seg in planned.segments[:-1]:
        run_segment(spec, planned, seg, DEFAULT_VIDEO)
    summary = join_video(spec, "run1", planned, 1.0)
    assert summary["ok"] == 1
    assert source not in whole and not [u for u in whole if u.endswith(".nut")]
    assert {"out/images/walk.mp4", "out/frames/walk.mp4.jsonl"} <= set(uploaded)
    assert sum(n.endswith(".nut") for n in uploaded) == 8  # segments went up from files
    out = tmp_path / "got.mp4"
    out.write_bytes(client().bucket(bucket).blob("out/images/walk.mp4").download_as_bytes())
    assert decoded_times(out) == pytest.approx(decoded_times(clip.path), abs=1e-3)
    assert audio_packets(out) == audio_packets(clip.path)
    boxes = client().bucket(bucket).blob("out/frames/walk.mp4.jsonl").download_as_text()
    assert [json.loads(line)["frame"] for line in boxes.splitlines()] == list(range(96))
