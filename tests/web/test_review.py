"""The review step through Flask's test client: the photos in review order, the original served
by the page only, every box checked on the server, the corrections file written under the
results' lock into the results folder, a second apply of the same boxes doing nothing.

Results folders are made as the job leaves them (manifest rows, output images); the apply's run
is the real `run --corrections` child, stopped at the end (its outcome is the browser test's)."""

from __future__ import annotations

import html
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient

from dataproc_faces.results.corrections import keep, parse
from dataproc_faces.results.layout import Results
from dataproc_faces.results.ownership import acquire, release
from dataproc_faces.web import create_app, review
from dataproc_faces.web.runs import Run
from dataproc_faces.web.settings import Settings
from tests.conftest import SAMPLES
from tests.web.helpers import token

RUN = "web-20260101-000000-abcd"
FLAGS = ["--detector", "retinaface", "--score-threshold", "0.3", "--mode", "blur"]


def _png(image: np.ndarray) -> bytes:
    return cv2.imencode(".png", image)[1].tobytes()


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    app = create_app(Settings(data=tmp_path / "data", master="local[1]"))
    yield app
    app.extensions["faces_runs"].stop_all()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def finished(
    app: Flask, run_id: str = RUN, extra_rows: list[dict[str, Any]] = (), absolute: bool = False
) -> Run:
    """A DONE blur run over batch b1 (calm.png: one sure face; busy.png: a weak and a small
    find; bad.jpg: failed), its originals under the input root. Its rows name files below the
    input and results folders as the job writes them, or whole (`absolute`: older results)."""
    s = app.config["FACES_SETTINGS"]
    source, out = Path(s.input_root) / "b1", Path(s.results_root) / run_id
    _finished_rows(source, out, extra_rows, absolute)
    run = Run(run_id, "local", str(source), str(out), "retinaface", "blur", "DONE", flags=FLAGS)
    app.extensions["faces_runs"].save(run)
    return run


def _finished_rows(
    source: Path, out: Path, extra_rows: list[dict[str, Any]], absolute: bool
) -> None:
    astronaut = cv2.imread(str(SAMPLES / "astronaut.png"))
    originals = {"calm.png": astronaut, "trip/busy.png": astronaut[::2, ::2].copy()}
    for rel, image in originals.items():
        for root in (source, out / "images"):
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(_png(image))
    (source / "bad.jpg").write_bytes(b"\xff\xd8\xff")
    face = {"x": 177, "y": 66, "w": 95, "h": 95, "score": 0.99, "by": "detector"}
    rows = [
        {"path": f"{source}/calm.png", "status": "ok", "output": f"{out}/images/calm.png",
         "width": 512, "height": 512, "faces": [face], "review": []},
        {"path": f"{source}/trip/busy.png", "status": "ok",
         "output": f"{out}/images/trip/busy.png", "width": 256, "height": 256,
         "faces": [{"x": 88, "y": 33, "w": 47, "h": 47, "score": 0.31, "by": "detector",
                    "weak": True}, {"x": 10, "y": 10, "w": 12, "h": 12, "by": "detector"}],
         "review": ["weak", "small"]},
        {"path": f"{source}/bad.jpg", "status": "error", "error": "truncated JPEG <b>",
         "output": None, "width": None, "height": None, "faces": [], "review": ["error"]},
        *extra_rows,
    ]  # fmt: skip
    if not absolute:
        for row in rows[:3]:
            row["path"] = row["path"].removeprefix(f"{source}/")
            row["output"] = row["output"] and row["output"].removeprefix(f"{out}/")
    (out / "manifest").mkdir(parents=True, exist_ok=True)
    (out / "manifest" / "part-0.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (out / "_dataproc_faces.json").write_text("{}")


def post(client: FlaskClient, body: Any, run_id: str = RUN, **headers: str):
    return client.post(
        f"/runs/{run_id}/review/apply",
        json=body,
        headers={"X-CSRF-Token": token(client), **headers},
    )


@pytest.mark.parametrize("absolute", [False, True], ids=["as-written", "older-absolute"])
def test_photos_come_in_review_order_with_their_boxes_and_failed_inputs(
    app: Flask, client: FlaskClient, absolute: bool
) -> None:
    finished(app, absolute=absolute)
    data = client.get(f"/runs/{RUN}/review.json").get_json()
    assert [p["path"] for p in data["photos"]] == ["trip/busy.png", "calm.png"]
    busy = data["photos"][0]
    assert busy["reasons"] == ["weak", "small"]
    assert busy["faces"][0] == {"x": 88, "y": 33, "w": 47, "h": 47, "score": 0.31,
                                "by": "detector", "weak": True}  # fmt: skip
    assert (busy["width"], busy["height"], busy["saved"]) == (256, 256, {})
    assert busy["image"] == f"/runs/{RUN}/review/output/images/trip/busy.png"
    assert busy["original"] == f"/runs/{RUN}/review/original/trip/busy.png"
    assert (data["total"], data["to_look_at"]) == (2, 1)
    assert data["failed"] == [{"path": "bad.jpg", "error": "truncated JPEG <b>"}]
    page = client.get(f"/runs/{RUN}/review").get_data(as_text=True)
    assert f'data-api="/runs/{RUN}/review.json"' in page and 'id="apply"' in page
    for control in ("prev", "next", "toggle", "add-box", "delete-box", "mark-reviewed", "apply"):
        assert f'id="{control}"' in page, control
    run_page = html.unescape(client.get(f"/runs/{RUN}").get_data(as_text=True))
    assert f'href="/runs/{RUN}/review">Review the photos</a>' in run_page


def test_rows_without_review_reasons_are_ordered_by_their_weak_and_small_finds() -> None:
    assert review.reasons_of({"faces": [{"x": 0, "y": 0, "w": 20, "h": 30, "weak": True}]}) == [
        "weak"
    ]
    assert review.reasons_of({"faces": [{"x": 0, "y": 0, "w": 20, "h": 23}]}) == ["small"]
    assert review.reasons_of({"faces": [{"x": 0, "y": 0, "w": 20, "h": 30}], "review": []}) == []


def test_the_original_is_served_by_the_page_upright_without_metadata_and_never_written(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = finished(app)
    before = sorted(p.relative_to(run.output) for p in Path(run.output).rglob("*"))
    r = client.get(f"/runs/{RUN}/review/original/calm.png")
    assert r.status_code == 200 and r.mimetype == "image/jpeg"
    assert r.headers["Cache-Control"] == "private, no-store"
    shown = cv2.imdecode(np.frombuffer(r.data, np.uint8), cv2.IMREAD_COLOR)
    assert shown.shape == (512, 512, 3)
    assert sorted(p.relative_to(run.output) for p in Path(run.output).rglob("*")) == before
    monkeypatch.setattr(review, "SHOWN_SIDE", 200)  # a large original is shown smaller
    small = client.get(f"/runs/{RUN}/review/original/calm.png")
    assert cv2.imdecode(np.frombuffer(small.data, np.uint8), cv2.IMREAD_COLOR).shape == (
        200, 200, 3)  # fmt: skip
    for bad in ("../b1/calm.png", "%2e%2e/secret.png", "nothere.png", "bad.jpg"):
        assert client.get(f"/runs/{RUN}/review/original/{bad}").status_code == 404, bad
    out = client.get(f"/runs/{RUN}/review/output/images/calm.png")
    assert (
        out.status_code == 200 and out.data == (Path(run.output) / "images/calm.png").read_bytes()
    )
    assert client.get(f"/runs/{RUN}/review/output/../../x").status_code == 404


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"photos": {"calm.png": {"add": [{"x": 500, "y": 10, "w": 20, "h": 20}]}}},
         "photo 'calm.png': add[0]: (500, 10, 20x20) is not inside the 512x512 photo"),
        ({"photos": {"calm.png": {"add": [{"x": -1, "y": 0, "w": 20, "h": 20}]}}},
         "is not inside the 512x512 photo"),
        ({"photos": {"calm.png": {"add": [{"x": 1, "y": 0, "w": 3, "h": 20}]}}},
         "add[0]: 3x20 is smaller than 4 px a side"),
        ({"photos": {"calm.png": {"add": [{"x": 1.5, "y": 0, "w": 9, "h": 9}]}}},
         "add[0].x: must be a whole number of pixels, got 1.5"),
        ({"photos": {"calm.png": {"remove": [{"x": 1, "y": 0, "w": 9, "h": 9}] * 201}}},
         "remove: 201 boxes, at most 200"),
        ({"photos": {"calm.png": {"reviewed": "yes"}}}, "reviewed: must be true or false"),
        ({"photos": {"bad.jpg": {"add": []}}}, "photo 'bad.jpg': not a photo of this run"),
        ({"photos": {"../b1/calm.png": {}}}, "not a photo of this run"),
        ({"photos": {"<img src=x>": {}}}, "photo '<img src=x>': not a photo of this run"),
        ({"pictures": {}}, 'must be a JSON object with "photos"'),
    ],
    ids=["outside", "negative", "tiny", "not-whole", "too-many", "reviewed-type", "failed-row",
         "path", "hostile-name", "shape"],
)  # fmt: skip
def test_bad_boxes_are_refused_naming_photo_and_field_and_nothing_is_written(
    app: Flask, client: FlaskClient, body: Any, reason: str
) -> None:
    run = finished(app)
    r = post(client, body)
    assert r.status_code == 400
    assert reason in r.get_json()["message"]
    assert not (Path(run.output) / review.CORRECTIONS_DIR).exists()
    assert [x.id for x in app.extensions["faces_runs"].all()] == [RUN]


def test_apply_without_the_token_is_refused(app: Flask, client: FlaskClient) -> None:
    run = finished(app)
    token(client)  # a session, but the form's token is not sent
    r = client.post(f"/runs/{RUN}/review/apply", json={"photos": {"calm.png": {"reviewed": True}}})
    assert r.status_code == 400 and "did not come from this site" in r.get_data(as_text=True)
    assert not (Path(run.output) / review.CORRECTIONS_DIR).exists()


def test_apply_writes_the_corrections_into_the_results_and_starts_a_run_of_those_photos(
    app: Flask, client: FlaskClient
) -> None:
    run = finished(app)
    originals = {p: p.read_bytes() for p in Path(run.source).rglob("*") if p.is_file()}
    body = {"photos": {
        "trip/busy.png": {"add": [{"x": 200, "y": 190, "w": 30, "h": 40}], "remove": [],
                          "reviewed": True},
        "calm.png": {"add": [], "remove": [{"x": 177, "y": 66, "w": 95, "h": 95}]},
    }}  # fmt: skip
    iap = {review_views_header(): "accounts.google.com:ada@example.com"}
    r = post(client, body, **iap)
    answer = r.get_json()
    assert r.status_code == 200, answer
    assert answer["message"].startswith("Applying corrections to 2 photos: run web-")
    written = list((Path(run.output) / "_corrections" / "page").iterdir())
    assert [Path(answer["file"])] == written
    data = json.loads(written[0].read_text())
    assert data["version"] == 1
    busy = data["photos"]["trip/busy.png"]
    assert busy["add"] == [{"x": 200, "y": 190, "w": 30, "h": 40}] and busy["remove"] == []
    assert busy["by"] == "ada@example.com" and busy["reviewed"] is True
    assert busy["at"].endswith("Z") and len(busy["at"]) == 20
    assert data["photos"]["calm.png"]["remove"] == [{"x": 177, "y": 66, "w": 95, "h": 95}]
    assert "reviewed" not in data["photos"]["calm.png"]
    assert {p: p.read_bytes() for p in Path(run.source).rglob("*") if p.is_file()} == originals
    assert not (Path(run.output) / "_lock.json").exists()  # held while writing, then let go

    book = app.extensions["faces_runs"]
    started = next(x for x in book.all() if x.id != RUN)
    assert (started.output, started.source) == (run.output, run.source)
    assert (started.corrections, started.review_of, started.flags) == (answer["file"], RUN, FLAGS)
    command = book._procs[started.id].args
    assert command[command.index("--corrections") + 1] == answer["file"]
    assert command[command.index("--output") + 1] == run.output
    assert command[command.index("--mode") + 1] == "blur"
    page = html.unescape(client.get(f"/runs/{started.id}").get_data(as_text=True))
    assert f"Applies a review's corrections to the results of run\n{RUN}" in page.replace(
        f'<a href="/runs/{RUN}">', ""
    ).replace("</a>", "")

    busy_again = post(client, {"photos": {"calm.png": {"reviewed": True}}})
    assert busy_again.status_code == 409
    assert (
        f"Run {started.id} is writing these results; wait for it to end."
        in (busy_again.get_json()["message"])
    )
    book.stop_all()
    book.get(started.id)
    not_kept = post(client, {"photos": {"calm.png": body["photos"]["calm.png"]}})
    assert not_kept.status_code == 200  # its run was stopped before keeping it: sent again
    assert not_kept.get_json()["message"].startswith("Applying corrections to 1 photo: run web-")
    book.stop_all()
    data = written[0].read_bytes()
    keep(Results(run.output), data, parse(data))  # what the corrections run does first
    again = post(client, body)  # the same boxes: nothing new, no file, no run
    assert again.status_code == 200
    assert again.get_json() == {
        "message": "Nothing new to apply: these corrections are applied already."
    }
    assert len(list((Path(run.output) / "_corrections" / "page").iterdir())) == 2
    assert len(book.all()) == 3


def review_views_header() -> str:
    from dataproc_faces.web.review_views import IAP_EMAIL

    return IAP_EMAIL


def test_a_held_results_folder_is_not_written(app: Flask, client: FlaskClient) -> None:
    run = finished(app)
    results = Results(run.output)
    lock, _ = acquire(results, run.source)
    try:
        r = post(client, {"photos": {"calm.png": {"reviewed": True}}})
    finally:
        release(results, lock)
    assert r.status_code == 409
    assert "another run is writing into" in r.get_json()["message"]
    assert not (Path(run.output) / "_corrections").exists()
    assert len(app.extensions["faces_runs"].all()) == 1


def test_a_turned_camera_original_is_shown_upright_without_its_exif(
    app: Flask, client: FlaskClient
) -> None:
    import io

    from PIL import Image

    run = finished(app)
    pixels = np.zeros((40, 60, 3), np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: turned 90 degrees
    exif[0x010F] = "Canon"
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", exif=exif.tobytes(), quality=95)
    (Path(run.source) / "turned.jpg").write_bytes(buf.getvalue())
    r = client.get(f"/runs/{RUN}/review/original/turned.jpg")
    assert r.status_code == 200
    with Image.open(io.BytesIO(r.data)) as shown:
        assert shown.size == (40, 60)  # upright, as the boxes are
        assert dict(shown.getexif()) == {}  # no camera, no place


def test_a_run_that_does_not_record_its_options_is_not_corrected(
    app: Flask, client: FlaskClient
) -> None:
    run = finished(app)
    run.flags = []  # a record written before runs kept their flags
    app.extensions["faces_runs"].save(run)
    r = post(client, {"photos": {"calm.png": {"reviewed": True}}})
    assert r.status_code == 409
    assert f"Run {RUN} does not record its options (an older run)" in r.get_json()["message"]
    assert not (Path(run.output) / "_corrections").exists()


def test_deleting_a_corrections_run_deletes_the_shared_results_and_every_record_of_them(
    app: Flask, client: FlaskClient
) -> None:
    base = finished(app)
    fix = Run("web-20260101-000100-f1f1", "local", base.source, base.output, "retinaface",
              "blur", "DONE", flags=FLAGS, review_of=RUN)  # fmt: skip
    other = finished(app, "web-20260101-000200-0ther")
    book = app.extensions["faces_runs"]
    book.save(fix)
    confirm = html.unescape(client.get(f"/runs/{fix.id}/delete").get_data(as_text=True))
    assert f"The same results are those of run {RUN} (a review's corrections)" in confirm
    fix.state = "RUNNING"  # a corrections run going on: nothing is deleted
    book.save(fix)
    book._procs[fix.id] = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    r = client.post(f"/runs/{RUN}/delete", data={"csrf_token": token(client)})
    assert r.status_code == 409 and f"Run {fix.id} is still going on" in r.get_data(as_text=True)
    assert Path(base.output).is_dir()
    book.stop_all()
    book.get(fix.id)
    r = client.post(f"/runs/{fix.id}/delete", data={"csrf_token": token(client)})
    assert r.status_code == 200, r.get_data(as_text=True)
    assert not Path(base.output).exists()
    assert [x.id for x in book.all()] == [other.id]  # no record left pointing at nothing


def test_a_video_row_is_not_offered_as_a_photo_to_review(app: Flask, client: FlaskClient) -> None:
    face = {"x": 10, "y": 10, "w": 40, "h": 40, "by": "track"}
    video = {
        "path": "walk.mp4",
        "status": "ok",
        "output": "images/walk.mp4",
        "width": 320,
        "height": 240,
        "faces": [face],
        "review": ["filled"],
        "video": {"frames": 24},
    }
    finished(app, extra_rows=[video])
    data = client.get(f"/runs/{RUN}/review.json").get_json()
    assert [p["path"] for p in data["photos"]] == ["trip/busy.png", "calm.png"]
