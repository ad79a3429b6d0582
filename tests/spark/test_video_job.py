"""Videos through the whole job on local Spark: a video beside a photo and a corrupt video; one
row each, the output plays with every frame, the face is hidden in every frame, resume skips it."""

from __future__ import annotations

import json
from pathlib import Path

import av
import pytest

from dataproc_faces.video_jobs import SEGMENT_SECONDS_ENV
from tests.images import astronaut, encode
from tests.spark.test_job import run_job
from tests.unit.videogen import audio_packets, decoded_times, make_clip

pytestmark = pytest.mark.spark


def _rows(dst: Path) -> dict[str, dict]:
    rows = [
        json.loads(line)
        for part in sorted((dst / "manifest").glob("*.json"))
        for line in part.read_text().splitlines()
    ]
    return {Path(r["path"]).name: r for r in rows}


def test_a_video_is_processed_by_the_job_and_resumed_as_done(tmp_path: Path) -> None:
    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    clip = make_clip(src / "walk.mp4", size=(320, 240), side=96)
    (src / "broken.mov").write_bytes(b"\x00\x00\x00\x14ftypqt  " + b"\x00junk" * 40)
    (src / "astronaut.png").write_bytes(encode(astronaut(), ".png"))
    segmented = {SEGMENT_SECONDS_ENV: "0.5"}  # 4 segments of 6 frames: 4 Spark tasks
    first = run_job(src, dst, "--mode", "solid", env=segmented)
    assert first.returncode == 0, first.stderr[-3000:]
    rows = _rows(dst)
    assert set(rows) == {"walk.mp4", "broken.mov", "astronaut.png"}
    video, broken = rows["walk.mp4"], rows["broken.mov"]
    assert broken["status"] == "error" and broken["error"].startswith("unreadable mov: ")
    assert video["status"] == "ok" and video["format"] == "mp4"
    v = video["video"]
    assert (v["frames"], v["fps"], v["duration"], v["audio"]) == (24, 12.0, 2.0, "copied")
    assert v["segments"] == 4 and v["boxes_total"] == 24
    # one face crossing three segment boundaries: one track (the overlap links them)
    assert v["tracks"] == 1 and len(video["faces"]) == 1
    assert not list((dst / "_work").rglob("*.nut"))  # segments deleted once joined
    assert (video["output"], video["video"]["boxes"]) == (
        "images/walk.mp4",
        "frames/walk.mp4.jsonl",
    )
    out = dst / video["output"]  # below the results folder: a shareable row
    assert decoded_times(out) == pytest.approx(decoded_times(clip.path), abs=1e-3)
    assert audio_packets(out) == audio_packets(clip.path)
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="bgr24") for f in c.decode(c.streams.video[0])]
    for frame, (x, y, w, h) in zip(frames, clip.boxes, strict=True):  # hidden in every frame
        assert frame[y + w // 4 : y + h - h // 4, x + w // 4 : x + w - w // 4].mean() < 30
    lines = (dst / "frames" / "walk.mp4.jsonl").read_text().splitlines()
    assert [json.loads(line)["frame"] for line in lines] == list(range(24))
    assert video["thumbnail"] == "thumbs/walk.mp4.jpg"
    assert (dst / "thumbs" / "walk.mp4.jpg").read_bytes()[:2] == b"\xff\xd8"
    page = (dst / "index.html").read_text() + "".join(
        p.read_text() for p in (dst / "gallery").rglob("*.js")
    )
    assert '"v":1' in page.replace(" ", "")  # the card plays the video
    second = run_job(src, dst, "--mode", "solid", env=segmented)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "3 inputs: 2 ok, 1 errors" in second.stdout
    assert "nothing new to process" in second.stdout  # a video is done, as a photo is


def test_a_run_planned_on_the_executors_runs_a_videos_segments_as_tasks_with_corrections(
    tmp_path: Path,
) -> None:
    from dataproc_faces.pipeline import SMALL_RUN_ENV

    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    clip = make_clip(src / "walk.mp4", size=(320, 240), side=96)
    (src / "astronaut.png").write_bytes(encode(astronaut(), ".png"))
    fix = tmp_path / "fix.json"
    box = {"x": 250, "y": 0, "w": 60, "h": 40, "from_frame": 3, "to_frame": 14}
    fix.write_text(json.dumps({"version": 1, "photos": {"walk.mp4": {"add": [box]}}}))
    env = {SEGMENT_SECONDS_ENV: "0.5", SMALL_RUN_ENV: "0"}  # planned and counted by Spark
    first = run_job(src, dst, "--mode", "solid", "--corrections", str(fix), env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    rows = _rows(dst)
    video = rows["walk.mp4"]
    assert video["status"] == "ok", video
    # joined from segment tasks (a video processed whole in one task has no segment_seconds)
    assert video["video"]["segment_seconds"] == 0.5 and video["video"]["segments"] == 4
    assert video["video"]["frames"] == 24 and video["video"]["tracks"] == 1
    assert video["review"] == ["corrected"]
    assert rows["astronaut.png"]["status"] == "ok"
    assert not [p for p in (dst / "_work").rglob("*") if p.is_file()]  # segments and plan gone
    phases = json.loads((dst / "summary.json").read_text())["phases"]
    assert {"video_probe", "video_segments", "video_join"} <= set(phases)
    out = dst / video["output"]
    assert decoded_times(out) == pytest.approx(decoded_times(clip.path), abs=1e-3)
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="bgr24") for f in c.decode(c.streams.video[0])]
    assert [i for i, f in enumerate(frames) if f[4:36, 254:306].mean() < 30] == list(range(3, 15))
    second = run_job(src, dst, "--mode", "solid", env=env)  # the corrections are kept
    assert second.returncode == 0, second.stderr[-3000:]
    assert "nothing new to process" in second.stdout
