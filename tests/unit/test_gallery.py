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
    SCRIPT,
    STYLE,
    VIEWS,
    _placed,
    _view_counts,
    describe,
    faces_key,
    page_file,
    page_rows,
    relative_url,
    render,
    script_json,
)
from dataproc_faces.manifest import Summary, error_row

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


def views_of(rows: list[dict[str, Any]]) -> dict[str, int]:
    counts = next(_view_counts(page_rows(rows, summary_of(rows), DST)))
    return {**counts, "faces": counts["name"]}


def errors_of(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in page_rows(rows, summary_of(rows), DST) if r["s"] != "ok"]


def render_rows(rows: list[dict[str, Any]], **kwargs: Any) -> str:
    return render(summary_of(rows), views_of(rows), errors_of(rows), **kwargs)


@pytest.fixture(scope="module")
def page() -> str:
    return render_rows(ROWS)


def test_hostile_names_never_become_markup(page: str) -> None:
    # only the page's own two script elements; names appear escaped or \u-escaped only
    assert len(re.findall(r"<script", page, re.IGNORECASE)) == 2
    assert page.count("</script>") == 2
    assert "<script>.jpg" not in page
    assert "<img src=x" not in page
    assert "<b>bold</b>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;.png" in page  # the error list
    assert "not an image &lt;b&gt;bold&lt;/b&gt; &amp; more" in page


def test_the_page_holds_counts_per_view_not_rows(page: str) -> None:
    data = embedded(page)
    assert data["pageSize"] == 100 and data["dir"] == "gallery"
    assert data["counts"] == {
        "name": 6,
        "ok": 4,
        "error": 2,
        "none": 1,
        "some": 3,
        "two": 2,
        "five": 0,
        "faces": 6,
    }
    assert "rows" not in data


def test_page_rows_have_relative_links_and_short_keys() -> None:
    names = {r["n"]: r for r in page_rows(ROWS, summary_of(ROWS), DST)}
    assert names["<script>.jpg"]["t"] == "thumbs/%3Cscript%3E.jpg.jpg"
    assert names["<script>.jpg"]["o"] == "images/%3Cscript%3E.jpg"
    assert names["sub/b.jpg"]["t"] == "thumbs/sub/b.jpg.jpg"
    assert names["a.jpg"]["f"] == 2 and names["a.jpg"]["s"] == "ok"
    assert names["broken.jpg"] == {**names["broken.jpg"], "s": "error", "e": "truncated JPEG"}
    assert names["broken.jpg"]["t"] is None and names["broken.jpg"]["o"] is None


def test_a_page_file_is_one_call_whose_json_cannot_end_a_script() -> None:
    rows = page_rows(ROWS, summary_of(ROWS), DST)
    text = page_file("name", 3, rows)
    assert text.startswith('galleryPage("name",3,[') and text.endswith("]);\n")
    assert not set("<>&") & set(text)
    assert json.loads(text[len('galleryPage("name",3,') : -3]) == rows


def test_rows_are_placed_in_every_view_they_belong_to_at_running_offsets() -> None:
    rows = sorted(page_rows(ROWS, summary_of(ROWS), DST), key=lambda r: r["n"])
    first, second = rows[:3], rows[3:]
    offsets = [dict.fromkeys(VIEWS, 0), next(_view_counts(first))]
    placed = list(_placed(0, first, offsets, 2)) + list(_placed(1, second, offsets, 2))
    by_view: dict[str, list[tuple[int, int, str]]] = {}
    for (view, number), (at, row) in placed:
        by_view.setdefault(view, []).append((number, at, row["n"]))
    for view, keep in VIEWS.items():
        expected = [r["n"] for r in rows if keep(r)]
        got = sorted(by_view.get(view, []), key=lambda x: x[1])
        assert [n for _, _, n in got] == expected, view
        assert [at for _, at, _ in got] == list(range(len(expected)))
        assert [number for number, _, _ in got] == [at // 2 + 1 for at in range(len(expected))]


def test_the_faces_order_puts_errors_after_every_ok_row() -> None:
    rows = sorted(page_rows(ROWS, summary_of(ROWS), DST), key=faces_key)
    assert [r["f"] for r in rows] == [3, 2, 1, 0, 0, 0]
    assert [r["s"] for r in rows][-2:] == ["error", "error"]


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
    assert "more: choose" not in page
    assert "<strong>haar</strong>" in page and "<dd>1.1</dd>" in page
    assert "<dd>100,000,000</dd>" in page and "<dd>none</dd>" in page
    assert "<title>Faces: 6 in 6 images</title>" in page


def test_no_errors_section_when_all_ok() -> None:
    rows = [ok("a.jpg", 1)]
    assert 'id="errors"' not in render_rows(rows)


def test_the_error_list_is_bounded_and_says_how_many_more() -> None:
    rows = [error_row(f"{SRC}/e{i}.jpg", "bad", 1.0) for i in range(3)]
    page = render(summary_of(rows), views_of(rows), errors_of(rows)[:1])
    assert "3 inputs failed" in page and "and 2 more: choose" in page
    assert len(re.findall(r"<li><code class=\"path\">", page)) == 1


def test_an_empty_run_still_renders() -> None:
    page = render_rows([])
    assert embedded(page)["counts"]["name"] == 0
    assert "Faces: 0 in 0 images" in page


def test_csp_admits_exactly_the_page_own_script_and_style(page: str) -> None:
    def sha(text: str) -> str:
        return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()

    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page)
    assert csp
    policy = csp.group(1).replace("&#x27;", "'")
    assert f"script-src 'self' 'sha256-{sha(SCRIPT)}'" in policy
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


def test_describe_gives_local_pages_a_file_url(tmp_path: Path) -> None:
    uri = str(tmp_path / "index.html")
    assert describe(uri) == f"{uri} ({Path(uri).as_uri()})"
    assert describe("gs://b/run/index.html") == "gs://b/run/index.html"
