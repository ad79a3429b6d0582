"""The change feed's backlog on the page: what `follow`'s last drain wrote (follow.py's status
file under the results root), shown in one sentence; no file, no section; a damaged file, no
section and no error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from dataproc_faces.follow import Drained, describe_status, feed_status, write_status
from dataproc_faces.web import create_app
from dataproc_faces.web.settings import Settings

T = 1_790_000_000.0  # 2026-09-21 14:13:20 UTC


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    app = create_app(Settings(data=tmp_path / "data", master="local[1]"))
    yield app
    app.extensions["faces_runs"].stop_all()


def status_file(tmp_path: Path) -> Path:
    return tmp_path / "data" / "results" / "_feed-lists" / "status.json"


def drained(**kw: Any) -> Drained:
    return Drained(**{"messages": 12, "ran": ["a", "b", "c"], "forgotten": 2, **kw})


def test_follow_writes_its_last_drain_where_the_page_reads_it(tmp_path: Path) -> None:
    lists = str(tmp_path / "data" / "results" / "_feed-lists")
    write_status(lists, str(tmp_path / "in"), drained(oldest=95.0), 20_000, T)
    assert json.loads(status_file(tmp_path).read_text()) == {
        "time": T, "messages": 12, "photos": 3, "forgotten": 2, "ignored": 0, "status": 0,
        "more": False, "oldest_seconds": 95.0,
    }  # fmt: skip
    assert feed_status(str(tmp_path / "data" / "results"))["messages"] == 12
    write_status(lists, str(tmp_path / "in"), drained(messages=500), 500, T)
    assert feed_status(str(tmp_path / "data" / "results"))["more"] is True


def test_the_sentence_says_what_the_last_drain_saw() -> None:
    status = {"time": T, "messages": 12, "photos": 3, "forgotten": 2, "status": 0,
              "more": False, "oldest_seconds": 95.0}  # fmt: skip
    assert describe_status(status, T + 300) == (
        "Last drained 5 min ago (2026-09-21 14:13:20 UTC): 12 messages, 3 photos run, "
        "2 forgotten. Nothing else was waiting then. The oldest message had waited 95 s."
    )
    more = describe_status({**status, "more": True, "oldest_seconds": None}, T + 7300)
    assert "2 h 01 min ago" in more and "More were waiting: the drain stopped at its limit" in more
    assert "oldest" not in more
    failed = describe_status({**status, "status": 3}, T)
    assert "Its run failed: the messages went back to the subscription." in failed


def test_the_page_shows_the_backlog_only_when_there_is_a_feed(app: Flask, tmp_path: Path) -> None:
    client = app.test_client()
    assert 'id="feed"' not in client.get("/").get_data(as_text=True)
    path = status_file(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"time": 1.0e9, "messages": 7, "photos": 7, "more": True}))
    page = client.get("/").get_data(as_text=True)
    assert '<section id="feed"><h2>Change feed</h2><p id="feed-status">Last drained ' in page
    assert "2001-09-09 01:46:40 UTC): 7 messages, 7 photos run, 0 forgotten. More were" in page
    for damaged in ("{", '{"time": "<script>"}', "[]"):
        path.write_text(damaged)
        response = client.get("/")
        assert response.status_code == 200 and 'id="feed"' not in response.get_data(as_text=True)
