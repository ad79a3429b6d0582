"""The page takes videos as it takes photos: sniffed by content, under the per-file limit."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from tests.unit.videogen import make_clip
from tests.web.test_app import app, client, stored, text, upload  # noqa: F401 (fixtures)


def test_a_video_is_uploaded_and_a_fake_one_refused(
    app: Flask,  # noqa: F811
    client: FlaskClient,  # noqa: F811
    tmp_path: Path,
) -> None:
    clip = make_clip(tmp_path / "walk.mp4", frames=6, audio=False).path.read_bytes()
    r = upload(client, [("walk.mp4", clip)], batch="v")
    assert r.status_code == 200, text(r)
    assert stored(app) == ["v/walk.mp4"]
    r = upload(client, [("fake.mp4", b"not a video at all")], batch="w")
    assert r.status_code == 400
    assert "fake.mp4: not an image (unrecognised content)." in text(r)


def test_the_page_offers_videos_in_its_file_picker(client: FlaskClient) -> None:  # noqa: F811
    body = text(client.get("/"))
    assert ".mp4" in body and "video/*" in body
