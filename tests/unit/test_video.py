"""The video room on videos the tests make: probe by content, segments split and joined with
frame count, timing and audio kept, the memory of boxes, metadata, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

from dataproc_faces.detectors.base import Face
from dataproc_faces.imaging.metadata import KEPT
from dataproc_faces.imaging.render import RenderOptions
from dataproc_faces.results import review
from dataproc_faces.video.probe import VideoError, probe, sniff
from dataproc_faces.video.process import Fixes, FrameBox, VideoOptions, drawer, process_video
from dataproc_faces.video.segments import plan
from dataproc_faces.video.track import GapFiller
from tests.unit.videogen import audio_packets, decoded_times, make_clip

BLACK = RenderOptions(mode="solid", mask="box", mask_scale=1.0)


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="bgr24") for f in c.decode(c.streams.video[0])]


@pytest.mark.parametrize(
    ("container", "codec", "found"),
    [
        ("mp4", "libx264", "h264"),
        ("mov", "libx264", "h264"),
        ("matroska", "libx264", "h264"),
        ("webm", "libvpx-vp9", "vp9"),
        ("avi", "mpeg4", "mpeg4"),
    ],
)
def test_each_container_is_recognised_by_content_and_round_trips(
    tmp_path: Path, container: str, codec: str, found: str
) -> None:
    clip = make_clip(tmp_path / "clip", container, codec)  # no extension: content decides
    info = probe(str(clip.path))
    assert (info.container, info.codec, info.frames) == (container, found, 24)
    assert (info.width, info.height, info.fps) == (160, 120, 12)
    assert info.duration == pytest.approx(2.0, abs=0.1)
    assert info.audio is not None
    out = tmp_path / "out"
    result = process_video(
        str(clip.path),
        str(out),
        str(tmp_path / "b.jsonl"),
        lambda _: [],
        drawer(BLACK),
        VideoOptions(segment_seconds=0.5),
    )
    assert result.segments == 4 and result.frames == 24 and result.audio == "copied"
    again = probe(str(out))
    assert (again.container, again.codec, again.width, again.height) == (container, found, 160, 120)
    assert decoded_times(out) == pytest.approx(decoded_times(clip.path), abs=1e-3)
    assert audio_packets(out) == audio_packets(clip.path)  # copied, not re-encoded


def test_sniff_refuses_photos_and_text() -> None:
    assert sniff(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00") is None
    assert sniff(b"\xff\xd8\xff\xe0" + b"\x00" * 20) is None
    assert sniff(b"hello world, not a video") is None
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") is None
    assert sniff(b"RIFF\x00\x00\x00\x00AVI LIST") == "avi"


def test_segments_at_keyframes_and_by_time_cover_every_frame_once(tmp_path: Path) -> None:
    info = probe(str(make_clip(tmp_path / "c.mp4", audio=False).path))
    assert info.keyframes == [0, 6, 12, 18]
    for segs in (plan(info, 1.0, 2), plan(info, 0.75, 2, at_keyframes=False)):
        owned = [i for s in segs for i in range(s.first, s.last)]
        assert owned == list(range(24))
        for s in segs:
            assert s.seek in info.keyframes and s.seek <= s.first - s.lead
            assert s.lead == min(2, s.first) and s.tail == min(2, 24 - s.last)
    assert [(s.first, s.last) for s in plan(info, 1.0, 2)] == [(0, 12), (12, 24)]
    assert [(s.first, s.last) for s in plan(info, 0.75, 2, False)] == [(0, 9), (9, 18), (18, 24)]


def test_gap_filler_interpolates_a_missed_frame_and_holds_only_its_memory() -> None:
    filler = GapFiller(memory=2)
    a, b = Face(0, 0, 20, 20), Face(8, 4, 20, 20)
    out = []
    out += filler.push(0, [a], "f0")
    out += filler.push(1, [], "f1")  # missed
    assert [o.index for o in out] == []  # frame 0 waits for two frames of future
    out += filler.push(2, [b], "f2")
    out += filler.push(3, None, "f3")  # not looked at (stride)
    assert [o.index for o in out] == [0, 1]
    out += filler.finish()
    assert out[1].faces == [Face(4, 2, 20, 20, by="track")] and out[1].added == 1
    assert out[3].faces == [] and out[0].added == 0
    assert out[1].payload == "f1"
    assert filler.track_count == 1  # one face, one track through the gap


def test_frames_stamped_with_one_time_are_filled_halfway_not_divided_by_zero() -> None:
    filler = GapFiller(memory=2)  # a file whose frames all carry one timestamp: one index
    out = list(filler.push(5, [Face(0, 0, 20, 20)]))
    out += filler.push(5, [])
    out += filler.push(5, [Face(8, 4, 20, 20)])
    out += filler.finish()
    assert [o.faces for o in out][1] == [Face(4, 2, 20, 20, by="track")]


def test_gap_filler_does_not_bridge_a_gap_longer_than_its_memory() -> None:
    filler = GapFiller(memory=1)
    out = list(filler.push(0, [Face(0, 0, 20, 20)]))
    out += filler.push(1, [])
    out += filler.push(2, [])
    out += filler.push(3, [Face(0, 0, 20, 20)])
    out += filler.finish()
    assert [len(o.faces) for o in out] == [1, 0, 0, 1]


def _stub(clip_boxes: list, missed: set[int]):
    """A detector that finds the true box except in the frames `missed` (by frame order)."""
    seen = iter(range(10**6))

    def detect(_: np.ndarray) -> list[Face]:
        i = next(seen)
        return [] if i in missed else [Face(*clip_boxes[i])]

    return detect


def _dark(frame: np.ndarray, box: tuple[int, int, int, int]) -> float:
    x, y, w, h = box
    return float(frame[y + 4 : y + h - 4, x + 4 : x + w - 4].mean())


def test_a_face_missed_in_one_frame_is_still_hidden_there(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4", audio=False)
    out, boxes = tmp_path / "o.mp4", tmp_path / "b.jsonl"
    # one segment: frames are decoded in order, so the stub's call count is the frame index
    result = process_video(
        str(clip.path),
        str(out),
        str(boxes),
        _stub(clip.boxes, {10}),
        drawer(BLACK),
        VideoOptions(segment_seconds=100),
    )
    frames = _frames(out)
    assert all(_dark(f, b) < 30 for f, b in zip(frames, clip.boxes, strict=True))
    assert result.filled == 1 and result.tracks == 1 and len(result.faces) == 1
    lines = [json.loads(line) for line in boxes.read_text().splitlines()]
    assert [ln["frame"] for ln in lines] == list(range(24))
    assert lines[10]["faces"][0]["by"] == "track" and lines[9]["faces"][0]["by"] == "detector"
    assert lines[10]["time"] == pytest.approx(10 / 12)


def test_without_the_memory_the_missed_frame_shows_the_face(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4", audio=False)
    out = tmp_path / "o.mp4"
    process_video(
        str(clip.path),
        str(out),
        str(tmp_path / "b.jsonl"),
        _stub(clip.boxes, {10}),
        drawer(BLACK),
        VideoOptions(segment_seconds=100, memory=0),
    )
    assert _dark(_frames(out)[10], clip.boxes[10]) > 60  # the control: the face is visible


def test_the_overlap_fills_a_miss_at_a_segment_boundary(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4", audio=False)
    info = probe(str(clip.path))
    segs = plan(info, 1.0, 2)
    assert segs[1].first == 12
    missed = {12}  # the first frame of the second segment
    # Segments decode from their own keyframe: the stub tells frames by their pixels.
    originals = _frames(clip.path)

    def by_pixels(image: np.ndarray) -> list[Face]:
        i = min(range(24), key=lambda k: float(np.abs(originals[k].astype(int) - image).mean()))
        return [] if i in missed else [Face(*clip.boxes[i])]

    out = tmp_path / "o.mp4"
    result = process_video(
        str(clip.path),
        str(out),
        str(tmp_path / "b.jsonl"),
        by_pixels,
        drawer(BLACK),
        VideoOptions(segment_seconds=1.0),
    )
    assert result.segments == 2 and result.filled == 1
    assert result.tracks == 1 and len(result.faces) == 1  # one face across the boundary
    assert _dark(_frames(out)[12], clip.boxes[12]) < 30


def test_stride_detects_on_every_other_frame_and_the_memory_covers_the_rest(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4", audio=False)
    looked: list[int] = []
    originals = _frames(clip.path)

    def detect(image: np.ndarray) -> list[Face]:
        i = min(range(24), key=lambda k: float(np.abs(originals[k].astype(int) - image).mean()))
        looked.append(i)
        return [Face(*clip.boxes[i])]

    out = tmp_path / "o.mp4"
    result = process_video(
        str(clip.path),
        str(out),
        str(tmp_path / "b.jsonl"),
        detect,
        drawer(BLACK),
        VideoOptions(segment_seconds=1.0, stride=2, memory=1),
    )
    assert sorted(set(looked)) == list(range(0, 24, 2))
    frames = _frames(out)
    assert all(_dark(f, b) < 30 for f, b in zip(frames[:23], clip.boxes, strict=False))
    assert result.filled == 11  # frames 1, 3, ..., 21 between two looks; 23 has no future


def test_metadata_is_stripped_by_default_and_only_describing_tags_kept(tmp_path: Path) -> None:
    tags = {
        "title": "interview",
        "comment": "source meeting, do not publish",
        "artist": "Ann Example",
        "copyright": "Ann Example",
        "location": "+48.8577+002.2950/",
        "make": "Apple",
    }
    clip = make_clip(tmp_path / "c.mov", "mov", metadata=tags, audio=False)
    with av.open(str(clip.path)) as c:
        assert c.metadata.get("location") == tags["location"]  # the sample carries it
    for keep, want in ((False, None), (True, "Apple")):
        out = tmp_path / f"o{keep}.mov"
        r = process_video(
            str(clip.path),
            str(out),
            str(tmp_path / "b.jsonl"),
            lambda _: [],
            drawer(BLACK),
            VideoOptions(keep_metadata=keep),
        )
        with av.open(str(out)) as c:
            assert c.metadata.get("make") == want
            for tag in ("title", "comment", "artist", "copyright", "location"):
                assert tag not in c.metadata, tag
        assert r.metadata == (KEPT if keep else "stripped")


def test_bogus_zero_length_and_truncated_videos_are_video_errors(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.mp4"
    bogus.write_bytes(b"\x00\x00\x00\x18ftypisom" + b"\x00garbage" * 50)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    clip = make_clip(tmp_path / "c.mkv", "matroska", audio=False)
    cut = tmp_path / "cut.mkv"
    data = clip.path.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    for path in (bogus, empty):
        with pytest.raises(VideoError) as err:
            process_video(
                str(path), str(tmp_path / "o.mp4"), str(tmp_path / "b"), lambda _: [], drawer(BLACK)
            )
        assert "\n" not in str(err.value)
    # a Matroska cut in half: the decodable part is processed
    r = process_video(
        str(cut), str(tmp_path / "o.mkv"), str(tmp_path / "b"), lambda _: [], drawer(BLACK)
    )
    assert 0 < r.frames < 24 and len(decoded_times(tmp_path / "o.mkv")) == r.frames
    assert r.warning and r.warning.startswith("truncated: frames end at ")
    assert f"({r.frames} frames processed)" in r.warning and "of the 2.0" in r.warning


def test_a_portrait_phone_video_is_detected_upright_and_keeps_its_rotation(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "p.mov", "mov", size=(120, 160), side=48, rotation=90)
    info = probe(str(clip.path))
    assert (info.rotation, info.width, info.height) == (90, 160, 120)  # stored turned
    shapes: list[tuple[int, ...]] = []
    calls = iter(range(24))

    def detect(image: np.ndarray) -> list[Face]:
        shapes.append(image.shape)
        return [Face(*clip.boxes[next(calls)])]  # where a viewer sees the face

    out = tmp_path / "o.mov"
    process_video(
        str(clip.path), str(out), str(tmp_path / "b.jsonl"), detect, drawer(BLACK),
        VideoOptions(segment_seconds=100),
    )  # fmt: skip
    assert set(shapes) == {(160, 120, 3)}  # upright: 120 wide, 160 tall
    with av.open(str(out)) as c:
        decoded = list(c.decode(c.streams.video[0]))
    assert {f.rotation for f in decoded} == {90}
    upright = [np.rot90(f.to_ndarray(format="bgr24"), 1) for f in decoded]
    assert all(_dark(f, b) < 30 for f, b in zip(upright, clip.boxes, strict=True))


def _by_pixels(clip_path: Path, frames: int = 24):
    """Which frame an image is (segments decode from their own keyframes, so frames arrive
    out of call order): the nearest original by pixels."""
    originals = _frames(clip_path)

    def index(image: np.ndarray) -> int:
        return min(
            range(frames), key=lambda k: float(np.abs(originals[k].astype(int) - image).mean())
        )

    return index


def test_a_persons_boxes_hide_their_frames_and_a_removed_find_is_neither_hidden_nor_tracked(
    tmp_path: Path,
) -> None:
    clip = make_clip(tmp_path / "c.mp4", audio=False)
    which = _by_pixels(clip.path)
    fixes = Fixes(
        add=(FrameBox(100, 0, 40, 30, 5, 9),),  # a face the detector never finds, frames 5-9
        remove=(FrameBox(*clip.boxes[15], 14, 16),),  # "not a face" in frames 14-16
    )
    out, boxes = tmp_path / "o.mp4", tmp_path / "b.jsonl"
    result = process_video(
        str(clip.path), str(out), str(boxes), lambda im: [Face(*clip.boxes[which(im)])],
        drawer(BLACK), VideoOptions(segment_seconds=0.5), fixes=fixes,
    )  # fmt: skip
    frames = _frames(out)
    added = (100, 0, 40, 30)
    assert [i for i in range(24) if _dark(frames[i], added) < 30] == [5, 6, 7, 8, 9]
    shown = [i for i in range(24) if _dark(frames[i], clip.boxes[i]) > 60]
    assert shown == [14, 15, 16]  # removed there, and the memory does not bridge 3 frames
    lines = {json.loads(ln)["frame"]: json.loads(ln) for ln in boxes.read_text().splitlines()}
    person = [f for f in lines[7]["faces"] if f["by"] == "person"]
    assert person == [{"x": 100, "y": 0, "w": 40, "h": 30, "by": "person", "track": None}]
    assert (
        15 not in lines and 4 in lines and not any(f["by"] == "person" for f in lines[4]["faces"])
    )
    # the person's box is listed once (across two segments), and is not a track
    assert [f.by for f in result.faces].count("person") == 1
    assert result.tracks == 2  # the face before and after the removed frames


def test_fixes_that_do_not_fit_the_video_are_refused_in_one_line(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4", audio=False)
    info = probe(str(clip.path))
    with pytest.raises(VideoError, match=r"^corrections: add\[0\] \(170, 0, 10x10\) lies outside "
                       r"the 160x120 video$"):  # fmt: skip
        Fixes(add=(FrameBox(170, 0, 10, 10),)).check(info)
    with pytest.raises(VideoError, match=r"^corrections: remove\[1\].from_frame 24 is past the "
                       r"video's last frame 23$"):  # fmt: skip
        Fixes(remove=(FrameBox(0, 0, 9, 9), FrameBox(0, 0, 9, 9, 24))).check(info)
    Fixes(add=(FrameBox(150, 110, 30, 30, 0, 99),)).check(info)  # partly inside: clipped


def test_review_counts_frames_per_reason_across_segments_and_flags_short_tracks_once(
    tmp_path: Path,
) -> None:
    clip = make_clip(tmp_path / "c.mp4", audio=False)
    which = _by_pixels(clip.path)
    flicker = Face(0, 0, 30, 30)  # frames 17-18: a two-frame track across a segment boundary

    def detect(image: np.ndarray) -> list[Face]:
        i = which(image)
        found = [] if i == 7 else [Face(*clip.boxes[i], weak=i == 3)]
        if i == 2:
            found.append(Face(120, 90, 30, 30))  # one frame: a short track
        if i == 9:
            found.append(Face(140, 100, 10, 10))  # one frame, and small
        if i in (17, 18):
            found.append(flicker)
        return found

    def look(faces: list[Face]) -> list[str]:
        return review.reasons([f.to_dict() for f in faces], 160, 120, False, False)

    result = process_video(
        str(clip.path), str(tmp_path / "o.mp4"), str(tmp_path / "b.jsonl"), detect,
        drawer(BLACK), VideoOptions(segment_seconds=0.5), look=look,
    )  # fmt: skip
    assert result.segments == 4
    assert result.review_at == {"filled": [7], "short": [2, 9, 17], "small": [9], "weak": [3]}
    assert result.review == {"filled": 1, "short": 3, "small": 1, "weak": 1}
    assert review.video_reasons(result.review, False, False) == ["weak", "small", "filled", "short"]
    assert review.video_reasons(result.review, True, False)[-1] == "corrected"
    assert review.video_reasons(result.review, True, True) == []
