"""The video bench's per-frame hiding check: a blurred face counts as hidden, an untouched or
a merely re-encoded one does not (the bench's verdict against deface rests on it)."""

from __future__ import annotations

from pathlib import Path

import cv2

from bench.video_vs_deface import _cut, frames_of, hidden_per_frame
from tests.unit.videogen import make_clip


def test_blurred_faces_count_as_hidden_and_untouched_ones_do_not(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4", size=(320, 180), frames=6, fps=25, side=80, audio=False)
    _cut(tmp_path / "c.mp4", tmp_path / "same.mp4", 0, 6)
    ok, n, missed, _ = hidden_per_frame(tmp_path / "c.mp4", tmp_path / "same.mp4", clip.boxes)
    assert (ok, n, missed) == (0, 6, [0, 1, 2, 3, 4, 5])

    import av

    frames = frames_of(tmp_path / "c.mp4")
    with av.open(str(tmp_path / "b.mp4"), "w", format="mp4") as out:
        vs = out.add_stream("libx264", rate=25, options={"qp": "0"})
        vs.width, vs.height, vs.pix_fmt = 320, 180, "yuv420p"
        for i, (img, (x, y, w, h)) in enumerate(zip(frames, clip.boxes, strict=True)):
            if i != 3:  # frame 3 left as it is
                img[y : y + h, x : x + w] = cv2.GaussianBlur(img[y : y + h, x : x + w], (0, 0), 8)
            f = av.VideoFrame.from_ndarray(img, format="bgr24")
            for p in vs.encode(f):
                out.mux(p)
        for p in vs.encode(None):
            out.mux(p)
    ok, n, missed, _ = hidden_per_frame(tmp_path / "c.mp4", tmp_path / "b.mp4", clip.boxes)
    assert (ok, n, missed) == (5, 6, [3])
