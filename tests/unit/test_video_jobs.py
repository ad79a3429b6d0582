"""A video's segments as tasks, without Spark: probe and plan, segment tasks that a rerun finds
done, the join that writes the output, its row and state, and removes the segments."""

from __future__ import annotations

import json
from pathlib import Path

import av
import pytest

from dataproc_faces import video_jobs
from dataproc_faces.imaging.render import RenderOptions
from dataproc_faces.pipeline import JobSpec
from dataproc_faces.results import corrections as fixes_file
from dataproc_faces.results.folders import folder_of
from dataproc_faces.results.ledger import photo_options
from dataproc_faces.video_task import DEFAULT_VIDEO
from tests.unit.videogen import audio_packets, decoded_times, make_clip


def test_videos_are_told_apart_by_name() -> None:
    pending = [(f"/in/{n}", (n, "v")) for n in ("a.MP4", "b.png", "c.mkv", "d.webm", "e.jpg")]
    photos, videos = video_jobs.split_named(pending)
    assert [p[1][0] for p in photos] == ["b.png", "e.jpg"]
    assert [v[1][0] for v in videos] == ["a.MP4", "c.mkv", "d.webm"]


def test_segments_run_apart_a_rerun_skips_finished_ones_and_the_join_writes_the_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    clip = make_clip(src / "walk.mp4", size=(320, 240), side=96)
    spec = JobSpec(str(src), str(dst), render=RenderOptions(mode="solid"))
    entry = (str(clip.path), ("walk.mp4", "v1"))
    planned = video_jobs.probe_entry(entry, "opts", 0.5, DEFAULT_VIDEO)
    assert planned.error is None and len(planned.segments) == 4
    done = [(s, video_jobs.run_segment(spec, planned, s, DEFAULT_VIDEO)) for s in planned.segments]
    assert [r.frames for _, r in done] == [6, 6, 6, 6]
    work = dst / "_work" / "videos" / planned.key
    assert len(list(work.glob("*.result"))) == 4

    def killed(*_: object, **__: object) -> None:
        raise AssertionError("a finished segment was processed again")

    monkeypatch.setattr(video_jobs, "process_segment", killed)
    again = video_jobs.run_segment(spec, planned, planned.segments[2], DEFAULT_VIDEO)
    assert again.frames == 6 and again.faces == done[2][1].faces
    summary = video_jobs.join_video(spec, "run1", planned, 0.5)
    assert summary["inputs"] == 1 and summary["ok"] == 1 and summary["video_segments"] == 4
    out = dst / "images" / "walk.mp4"
    assert decoded_times(out) == pytest.approx(decoded_times(clip.path), abs=1e-3)
    assert audio_packets(out) == audio_packets(clip.path)
    assert not list(work.iterdir())  # the segments are gone once joined
    # Spark retries a join that finished (its worker died before saying so): the row stands.
    assert video_jobs.join_video(spec, "run1", planned, 0.5) == summary
    (part,) = (dst / "manifest").glob("part-*~run1-*.json")  # the video's folder's part
    row = json.loads(part.read_text())
    assert row["status"] == "ok" and row["video"]["frames"] == 24 and row["video"]["tracks"] == 1
    state = json.loads(next((dst / "_state").glob("*/part-run1-*.json")).read_text())
    assert state == {"path": "walk.mp4", "version": "v1", "options": "opts"}  # below the input
    lines = (dst / "frames" / "walk.mp4.jsonl").read_text().splitlines()
    assert [json.loads(line)["frame"] for line in lines] == list(range(24))


def test_an_unreadable_video_becomes_an_error_row_with_its_state(tmp_path: Path) -> None:
    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    (src / "bad.avi").write_bytes(b"RIFF\x00\x00\x00\x00AVI LIST" + b"\x00" * 40)
    spec = JobSpec(str(src), str(dst))
    planned = video_jobs.probe_entry(
        (str(src / "bad.avi"), ("bad.avi", "v")), "o", 10, DEFAULT_VIDEO
    )
    assert planned.segments == [] and planned.error
    summary = video_jobs.join_video(spec, "r", planned, 10)
    assert summary["ok"] == 0
    row = json.loads(next((dst / "manifest").glob("*.json")).read_text())
    assert row["status"] == "error" and row["error"].startswith("unreadable avi: ")


def _video_row(dst: Path) -> dict:
    (part,) = (dst / "manifest").glob("part-*.json")
    return json.loads(part.read_text())


def test_a_corrected_video_gets_its_boxes_its_reasons_and_a_resume_key_of_its_own(
    tmp_path: Path,
) -> None:
    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    clip = make_clip(src / "walk.mp4", size=(320, 240), side=96)
    spec = JobSpec(str(src), str(dst), render=RenderOptions(mode="solid", mask="box"))
    text = json.dumps({"version": 1, "photos": {"walk.mp4": {"add": [
        {"x": 250, "y": 0, "w": 60, "h": 40, "from_frame": 3, "to_frame": 14}]}}})  # fmt: skip
    corrections = fixes_file.parse(text)
    entry = (str(clip.path), ("walk.mp4", "v1"))
    plain = video_jobs.probe_entry(entry, "opts", 0.5, DEFAULT_VIDEO)
    planned = video_jobs.probe_entry(entry, "opts", 0.5, DEFAULT_VIDEO, corrections)
    assert planned.key != plain.key and planned.corrected and not planned.reviewed
    assert planned.state == photo_options("opts", corrections["walk.mp4"].digest())
    for seg in planned.segments:
        video_jobs.run_segment(spec, planned, seg, DEFAULT_VIDEO)
    video_jobs.join_video(spec, "run1", planned, 0.5)
    row = _video_row(dst)
    assert row["review"] == ["corrected"], row
    assert [f["by"] for f in row["faces"]].count("person") == 1
    assert row["video"]["tracks"] == 1 and row["video"]["review_frames"] == {}
    state = json.loads(next((dst / "_state").glob("*/part-*.json")).read_text())
    assert state["options"] == planned.state  # the driver's resume check expects this key
    frames = []
    with av.open(str(dst / "images" / "walk.mp4")) as c:
        frames = [f.to_ndarray(format="bgr24") for f in c.decode(c.streams.video[0])]
    dark = [i for i, f in enumerate(frames) if f[4:36, 254:306].mean() < 30]
    assert dark == list(range(3, 15))


def test_corrections_that_do_not_fit_make_the_videos_error_row(tmp_path: Path) -> None:
    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    clip = make_clip(src / "walk.mp4", audio=False)
    spec = JobSpec(str(src), str(dst), render=RenderOptions(mode="blur"))
    box = {"x": 1, "y": 1, "w": 9, "h": 9, "from_frame": 30}
    corrections = fixes_file.parse(
        json.dumps({"version": 1, "photos": {"walk.mp4": {"remove": [box]}}})
    )
    planned = video_jobs.probe_entry(
        (str(clip.path), ("walk.mp4", "v")), "o", 0.5, DEFAULT_VIDEO, corrections
    )
    assert planned.segments == []
    video_jobs.join_video(spec, "r", planned, 0.5)
    row = _video_row(dst)
    assert row["status"] == "error" and row["review"] == ["error"]
    assert row["error"] == "corrections: remove[0].from_frame 30 is past the video's last frame 23"


def test_a_failing_segment_is_its_videos_error_row_not_a_failed_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    clip = make_clip(src / "walk.mp4", audio=False)
    spec = JobSpec(str(src), str(dst), render=RenderOptions(mode="blur"))
    planned = video_jobs.probe_entry((str(clip.path), ("walk.mp4", "v")), "o", 0.5, DEFAULT_VIDEO)
    real = video_jobs.process_segment

    def second_fails(source, target, info, seg, *rest):  # type: ignore[no-untyped-def]
        if seg.number == 1:
            raise MemoryError("out of memory")
        return real(source, target, info, seg, *rest)

    monkeypatch.setattr(video_jobs, "process_segment", second_fails)
    for seg in planned.segments:
        video_jobs.run_segment(spec, planned, seg, DEFAULT_VIDEO)
    video_jobs.join_video(spec, "r", planned, 0.5)
    row = _video_row(dst)
    assert row["status"] == "error" and row["error"] == "segment 1: MemoryError: out of memory"


def test_a_video_under_another_name_is_corrected_and_reviewed_in_its_task(tmp_path: Path) -> None:
    from dataproc_faces.pipeline import Task, process_partition

    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    clip = make_clip(src / "clip.bin", size=(320, 240), side=96, audio=False)
    spec = JobSpec(str(src), str(dst), render=RenderOptions(mode="solid", mask="box"))
    box = {"x": 250, "y": 0, "w": 60, "h": 40, "to_frame": 5}
    corrections = fixes_file.parse(
        json.dumps({"version": 1, "photos": {"clip.bin": {"add": [box]}}})
    )
    (row,) = process_partition(spec, [Task(str(clip.path), "clip.bin")], corrections)
    assert row["status"] == "ok" and row["format"] == "mp4", row
    assert row["review"] == ["corrected"] and row["video"]["review_frames"] == {}
    assert [f["by"] for f in row["faces"]].count("person") == 1
    with av.open(str(dst / "images" / "clip.bin.mp4")) as c:
        frames = [f.to_ndarray(format="bgr24") for f in c.decode(c.streams.video[0])]
    assert [i for i, f in enumerate(frames) if f[4:36, 254:306].mean() < 30] == list(range(6))


def test_the_tasks_find_the_plan_in_the_store_and_a_retried_join_finds_its_row(
    tmp_path: Path,
) -> None:
    class Count:
        value = 0

        def add(self, n: int) -> None:
            self.value += n

    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    clip = make_clip(src / "walk.mp4", audio=False)
    spec = JobSpec(str(src), str(dst), render=RenderOptions(mode="blur"))
    entry = (str(clip.path), ("walk.mp4", "v"))
    ticket = video_jobs.plan_video(spec, entry, "o", 0.5, DEFAULT_VIDEO)
    key, segments, source, folder = ticket
    assert (segments, source, folder) == (4, str(clip.path), folder_of("walk.mp4"))
    assert (dst / "_work" / "videos" / key / "plan").is_file()
    video_jobs._PLANS.clear()  # a fresh worker: the segments read the plan from the store
    for n in range(segments):
        video_jobs.segment_task(spec, key, n, DEFAULT_VIDEO)
    done = Count()
    first = video_jobs.join_task(spec, "r1", ticket, 0.5, done)
    assert first["ok"] == 1 and first["video_segments"] == 4
    assert not (dst / "_work" / "videos" / key).exists() or not any(
        (dst / "_work" / "videos" / key).iterdir()
    )
    again = video_jobs.join_task(spec, "r1", ticket, 0.5, done)  # Spark retried it
    assert again == first and done.value == 2
    assert len(list((dst / "manifest").glob("part-*~r1-*.json"))) == 1
