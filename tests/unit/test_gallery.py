"""The gallery page as text: escaping of hostile names, relative links, counts, where it goes."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from dataproc_faces.gallery import (
    INDEX_FILE,
    SCRIPT,
    STYLE,
    describe,
    relative_url,
    render,
    script_json,
    write_gallery,
)
from dataproc_faces.manifest import Summary, error_row
from dataproc_faces.storage import LocalStore, Store

SRC, DST = "/data/in", "/data/out"


def ok(rel: str, faces: int, src: str = SRC, dst: str = DST) -> dict[str, Any]:
    return {
        "path": f"{src}/{rel}",
        "status": "ok",
        "error": None,
        "width": 640,
        "height": 480,
        "format": "jpeg",
        "faces": [{"x": 1, "y": 2, "w": 3, "h": 4}] * faces,
        "output": f"{dst}/images/{rel}",
        "thumbnail": f"{dst}/thumbs/{rel}.jpg",
        "millis": 12.5,
    }


def summary_of(rows: list[dict[str, Any]], src: str = SRC, dst: str = DST) -> Summary:
    return Summary.of(
        rows,
        4.0,
        input=src,
        output=dst,
        master="local[2]",
        detector={"detector": "haar", "scale_factor": 1.1, "min_neighbors": 5, "max_size": None},
        render={"mode": "outline", "max_pixels": 100_000_000},
    )


ROWS = [
    ok("a.jpg", 2),
    ok("sub/b.jpg", 0),
    ok("<script>.jpg", 1),
    ok("<img src=x onerror=alert(1)>.png", 3),
    error_row(f"{SRC}/<script>alert('x')</script>.png", "not an image <b>bold</b> & more", 1.0),
    error_row(f"{SRC}/broken.jpg", "truncated JPEG", 1.0),
]


def embedded(page: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="gallery-data">(.*?)</script>', page)
    assert match
    return json.loads(match.group(1))


@pytest.fixture(scope="module")
def page() -> str:
    return render(ROWS, summary_of(ROWS), DST)


def test_hostile_names_never_become_markup(page: str) -> None:
    # only the page's own two script elements; names appear escaped or \u-escaped only
    assert len(re.findall(r"<script", page, re.IGNORECASE)) == 2
    assert page.count("</script>") == 2
    assert "<script>.jpg" not in page
    assert "<img src=x" not in page
    assert "<b>bold</b>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;.png" in page  # the error list
    assert "not an image &lt;b&gt;bold&lt;/b&gt; &amp; more" in page


def test_embedded_rows_round_trip(page: str) -> None:
    data = embedded(page)
    assert data["pageSize"] == 100
    names = {r["n"]: r for r in data["rows"]}
    assert set(names) == {
        "a.jpg",
        "sub/b.jpg",
        "<script>.jpg",
        "<img src=x onerror=alert(1)>.png",
        "<script>alert('x')</script>.png",
        "broken.jpg",
    }
    assert names["<script>.jpg"]["t"] == "thumbs/%3Cscript%3E.jpg.jpg"
    assert names["<script>.jpg"]["o"] == "images/%3Cscript%3E.jpg"
    assert names["sub/b.jpg"]["t"] == "thumbs/sub/b.jpg.jpg"
    assert names["a.jpg"]["f"] == 2 and names["a.jpg"]["s"] == "ok"
    assert names["broken.jpg"] == {**names["broken.jpg"], "s": "error", "e": "truncated JPEG"}
    assert names["broken.jpg"]["t"] is None and names["broken.jpg"]["o"] is None


def test_script_json_cannot_close_its_block() -> None:
    value = {"n": "</script><!-- <script>alert(1)</script> ]]> & \u2028"}
    text = script_json(value)
    assert not set("<>&") & set(text)
    assert "\u2028" not in text
    assert json.loads(text) == value


def test_summary_counts(page: str) -> None:
    stats = dict(re.findall(r'data-stat="(\w+)"><dd>([^<]*)</dd>', page))
    assert stats == {"inputs": "6", "faces": "6", "errors": "2", "time": "4.0 s", "rate": "1.50"}
    assert "2 inputs failed" in page
    assert len(re.findall(r"<li><code class=\"path\">", page)) == 2
    assert "<strong>haar</strong>" in page and "<dd>1.1</dd>" in page
    assert "<dd>100,000,000</dd>" in page and "<dd>none</dd>" in page
    assert "<title>Faces: 6 in 6 images</title>" in page


def test_no_errors_section_when_all_ok() -> None:
    rows = [ok("a.jpg", 1)]
    assert 'id="errors"' not in render(rows, summary_of(rows), DST)


def test_an_empty_run_still_renders() -> None:
    page = render([], summary_of([]), DST)
    assert embedded(page)["rows"] == []
    assert "Faces: 0 in 0 images" in page


def test_csp_admits_exactly_the_page_own_script_and_style(page: str) -> None:
    def sha(text: str) -> str:
        return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()

    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page)
    assert csp
    policy = csp.group(1).replace("&#x27;", "'")
    assert f"script-src 'sha256-{sha(SCRIPT)}'" in policy
    assert f"style-src 'sha256-{sha(STYLE)}'" in policy
    assert "default-src 'none'" in policy
    assert f"<script>{SCRIPT}</script>" in page and f"<style>{STYLE}</style>" in page


def test_no_external_assets(page: str) -> None:
    assert not re.search(r"(src|href)=\"(https?:)?//", page)
    assert "@import" not in page and "url(" not in STYLE


@pytest.mark.parametrize(
    ("uri", "url"),
    [
        (f"{DST}/thumbs/a b#1?.jpg", "thumbs/a%20b%231%3F.jpg"),
        (f"{DST}/images/50%/x.png", "images/50%25/x.png"),
        ("/elsewhere/x.jpg", None),
        (None, None),
        ("gs://b/run/thumbs/<x>.jpg", None),
    ],
)
def test_relative_url(uri: str | None, url: str | None) -> None:
    assert relative_url(uri, DST) == url


def test_relative_url_under_a_bucket() -> None:
    assert relative_url("gs://b/run/thumbs/<x>.jpg", "gs://b/run") == "thumbs/%3Cx%3E.jpg"


def test_write_gallery_locally(tmp_path: Path) -> None:
    dst, src = str(tmp_path / "out"), str(tmp_path / "in")
    rows = [ok("a.jpg", 1, src, dst), error_row(f"{src}/b.jpg", "bad", 1.0)]
    uri = write_gallery(LocalStore(), dst, rows, summary_of(rows, src, dst))
    assert uri == f"{dst}/{INDEX_FILE}"
    page = Path(uri).read_text(encoding="utf-8")
    assert [r["n"] for r in embedded(page)["rows"]] == ["a.jpg", "b.jpg"]
    assert describe(uri) == f"{uri} ({Path(uri).as_uri()})"


class Recorder(Store):
    """A bucket stand-in: what was written, where, with which content type."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, bytes, str | None]] = []

    def exists(self, root: str) -> bool:
        return True

    def list_files(self, root: str) -> list[str]:
        return []

    def read(self, uri: str) -> bytes:
        raise FileNotFoundError(uri)

    def write(self, uri: str, data: bytes, content_type: str | None = None) -> None:
        self.writes.append((uri, data, content_type))

    def delete(self, uri: str) -> None:
        pass


def test_write_gallery_to_a_bucket_uses_relative_links() -> None:
    src, dst = "gs://in-bucket/photos", "gs://out-bucket/runs/1"
    rows = [ok("x/<y>.jpg", 1, src, dst)]
    store = Recorder()
    uri = write_gallery(store, dst, rows, summary_of(rows, src, dst))
    assert uri == "gs://out-bucket/runs/1/index.html"
    ((written, data, content_type),) = store.writes
    assert written == uri and content_type == "text/html; charset=utf-8"
    (row,) = embedded(data.decode())["rows"]
    assert row["n"] == "x/<y>.jpg"
    assert row["t"] == "thumbs/x/%3Cy%3E.jpg.jpg" and row["o"] == "images/x/%3Cy%3E.jpg"
    assert "gs://out-bucket/runs/1/thumbs" not in data.decode()
    assert describe(uri) == uri
