"""The gallery page as text: escaping of hostile names, relative links, counts, where it goes."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from dataproc_faces.results.gallery import (
    CONSOLE_OBJECT,
    SCRIPT,
    STYLE,
    VIEWS,
    _view_counts,
    describe,
    display_name,
    faces_key,
    link_url,
    page_file,
    page_row,
    page_rows,
    relative_url,
    render,
    script_json,
)
from dataproc_faces.results.manifest import Summary, error_row

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


@pytest.fixture
def page() -> str:
    # Not module-scoped: mutmut maps a function to the tests during which it runs, and a
    # module-scoped fixture runs during the first test only.
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
        "review": 2,  # the two errors
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


@pytest.mark.parametrize(
    ("uri", "output", "url"),
    [
        ("/data/out/images/a.jpg", "/data/out", "images/a.jpg"),  # under DST: as before
        ("/data/in/a b/#1.jpg", "/data/out", "../in/a%20b/%231.jpg"),  # a linked original
        ("/data/out2/x.jpg", "/data/out", "../out2/x.jpg"),
        ("gs://in/a b/#1.jpg", "gs://b/run", CONSOLE_OBJECT + "in/a%20b/%231.jpg"),
        ("gs://in/x.jpg", "/data/out", CONSOLE_OBJECT + "in/x.jpg"),
        ("/data/in/x.jpg", "gs://b/run", None),  # a local file has no address for a bucket
        (None, "/data/out", None),
    ],
)
def test_link_url_points_inside_dst_or_to_the_original(uri, output, url) -> None:
    assert link_url(uri, output) == url


def test_a_linked_row_shows_the_original_and_has_no_thumbnail() -> None:
    row = {
        "path": "/data/in/a.jpg",
        "status": "ok",
        "faces": [],
        "output": "/data/in/a.jpg",
        "thumbnail": None,
        "width": 4,
        "height": 3,
        "millis": 1.0,
    }
    card = page_row(row, "/data/in", "/data/out")
    assert (card["n"], card["t"], card["o"]) == ("a.jpg", None, "../in/a.jpg")


def test_relative_url_under_a_bucket() -> None:
    assert relative_url("gs://b/run/thumbs/<x>.jpg", "gs://b/run") == "thumbs/%3Cx%3E.jpg"


def test_describe_gives_local_pages_a_file_url(tmp_path: Path) -> None:
    uri = str(tmp_path / "index.html")
    assert describe(uri) == f"{uri} ({Path(uri).as_uri()})"
    assert describe("gs://b/run/index.html") == "gs://b/run/index.html"


# -- the index page, piece by piece, exactly


def sha(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


BIG = Summary(
    inputs=1234,
    ok=1230,
    errors=4,
    faces=5678,
    wall_seconds=3725.4,
    images_per_second=0.33,
    input="/data/in",
    output="/data/out",
    master="yarn",
    detector={
        "detector": "retinaface",
        "score_threshold": 0.4,
        "min_size": 20,
        "tiles": True,
        "max_size": None,
    },
    render={"mode": "outline", "max_pixels": 100_000_000},
    runtime=["openvino bf16", "openvino fp32"],
)
BIG_ERRORS = [{"n": "a <1>.jpg", "e": "bad & worse"}, {"n": "b.jpg", "e": None}]
CONTROLS = (
    '<form id="controls" role="search">'
    '<label>Status <select id="f-status"><option value="all">all</option>'
    '<option value="ok">ok</option><option value="error">error</option>'
    '<option value="review">needs a look</option></select></label>'
    '<label>Faces <select id="f-faces"><option value="any">any</option>'
    '<option value="none">none</option><option value="some">1 or more</option>'
    '<option value="two">2 or more</option><option value="five">5 or more</option>'
    "</select></label>"
    '<label>Sort <select id="f-sort"><option value="name">name</option>'
    '<option value="faces-desc">most faces</option><option value="status">errors first</option>'
    "</select></label>"
    '<label class="grow">Name <input id="f-q" type="search" placeholder="filter this page by name"'
    ' autocomplete="off"></label><span id="folder-chosen" hidden>Folder <strong></strong> '
    '<button type="button" id="f-all">all folders</button></span>'
    '<output id="shown" aria-live="polite"></output></form>'
)


def test_the_whole_index_page_exactly() -> None:
    page = render(BIG, {"name": 1234, "error": 4}, BIG_ERRORS, page_size=7, file_rows=9)
    csp = (
        "default-src 'none'; img-src 'self' file: data: https: http:; "
        "media-src 'self' file: https: http:; "
        f"style-src {sha(STYLE)}; script-src 'self' {sha(SCRIPT)}; "
        "base-uri 'none'; form-action 'none'"
    ).replace("'", "&#x27;")
    title = "Faces: 5678 in 1234 images"
    stats = (
        '<dl class="stats">'
        '<div class="stat" data-stat="inputs"><dd>1234</dd><dt>images</dt></div>'
        '<div class="stat" data-stat="faces"><dd>5678</dd><dt>faces found</dt></div>'
        '<div class="stat bad" data-stat="errors"><dd>4</dd><dt>errors</dt></div>'
        '<div class="stat" data-stat="time"><dd>1 h 02 min</dd><dt>wall time</dt></div>'
        '<div class="stat" data-stat="rate"><dd>0.33</dd><dt>images / s</dt></div></dl>'
    )
    where = (
        '<p class="where"><span>from</span> <code>/data/in</code> <span>to</span> '
        "<code>/data/out</code> <span>on</span> <code>yarn</code></p>"
    )
    detector = (
        '<div class="detector"><span>detector</span> <strong>retinaface</strong>'
        '<dl class="options">'
        "<div><dt>max size</dt><dd>none</dd></div>"
        "<div><dt>min size</dt><dd>20</dd></div>"
        "<div><dt>score threshold</dt><dd>0.4</dd></div>"
        "<div><dt>tiles</dt><dd>True</dd></div>"
        "<div><dt>mode</dt><dd>outline</dd></div>"
        "<div><dt>max pixels</dt><dd>100,000,000</dd></div>"
        "<div><dt>runtime</dt><dd>openvino bf16, openvino fp32</dd></div>"
        "</dl></div>"
    )
    errors = (
        '<section id="errors" aria-labelledby="errors-title"><h2 id="errors-title">'
        '4 inputs failed</h2><ul class="errors">'
        '<li><code class="path">a &lt;1&gt;.jpg</code><span class="msg">bad &amp; worse</span></li>'
        '<li><code class="path">b.jpg</code><span class="msg"></span></li>'
        '</ul><p class="more">and 2 more: choose Status "error" below</p></section>'
    )
    data = (
        '{"pageSize":7,"fileRows":9,"counts":{"name":1234,"error":4},"dir":"gallery",'
        '"listRows":500,"listed":50,"folders":0,"starts":[],"top":0}'
    )
    assert page == (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n'
        "<head>\n"
        '<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f"<title>{title}</title>\n"
        f"<style>{STYLE}</style>\n"
        "</head>\n"
        "<body>\n"
        "<header>\n"
        f"<h1>{title}</h1>\n"
        f"{stats}{where}{detector}\n"
        "</header>\n"
        "<main>\n"
        f"{errors}\n"
        '<section id="gallery" aria-label="images">\n'
        f"{CONTROLS}\n"
        '<nav class="pager" aria-label="pages"></nav>\n'
        '<div id="cards"></div>\n'
        '<nav class="pager" aria-label="pages"></nav>\n'
        '<noscript><p class="note">The summary and the errors above need no JavaScript; turn it'
        " on to browse the images.</p></noscript>\n"
        "</section>\n"
        "</main>\n"
        f'<script type="application/json" id="gallery-data">{data}</script>\n'
        f"<script>{SCRIPT}</script>\n"
        "</body>\n"
        "</html>\n"
    )


def test_the_csp_exactly(page: str) -> None:
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page)
    assert csp
    assert csp.group(1).replace("&#x27;", "'") == (
        "default-src 'none'; img-src 'self' file: data: https: http:; "
        "media-src 'self' file: https: http:; "
        f"style-src {sha(STYLE)}; script-src 'self' {sha(SCRIPT)}; "
        "base-uri 'none'; form-action 'none'"
    )


def test_a_clean_run_has_no_bad_tile_no_master_no_runtime_and_no_error_section() -> None:
    summary = Summary(
        inputs=1, ok=1, errors=0, faces=1, wall_seconds=0.5, images_per_second=2.0,
        input="/in", output="/out", detector={"min_size": 20},
    )  # fmt: skip
    page = render(summary, {"name": 1, "error": 0}, [])
    assert "<title>Faces: 1 in 1 image</title>" in page and "<h1>Faces: 1 in 1 image</h1>" in page
    assert 'class="stat bad"' not in page
    assert '<div class="stat" data-stat="errors"><dd>0</dd><dt>errors</dt></div>' in page
    assert '<div class="stat" data-stat="time"><dd>0.5 s</dd><dt>wall time</dt></div>' in page
    assert (
        '<p class="where"><span>from</span> <code>/in</code> <span>to</span> <code>/out</code></p>'
        '<div class="detector"><span>detector</span> <strong>?</strong><dl class="options">'
        "<div><dt>min size</dt><dd>20</dd></div></dl></div>\n</header>\n<main>\n\n"
        '<section id="gallery"'
    ) in page


def test_no_error_count_means_no_error_section() -> None:
    summary = Summary(inputs=0, ok=0, errors=0, faces=0, wall_seconds=0, images_per_second=0)
    assert '<main>\n\n<section id="gallery"' in render(summary, {"name": 0}, [])


@pytest.mark.parametrize(
    ("inputs", "title"),
    [(0, "Faces: 3 in 0 images"), (1, "Faces: 3 in 1 image"), (2, "Faces: 3 in 2 images")],
)
def test_the_title_counts_images_in_the_singular_only_for_one(inputs: int, title: str) -> None:
    summary = Summary(inputs=inputs, ok=0, errors=0, faces=3, wall_seconds=0, images_per_second=0)
    page = render(summary, {"name": inputs}, [])
    assert f"<title>{title}</title>" in page and f"<h1>{title}</h1>" in page


@pytest.mark.parametrize(
    ("total", "listed", "expected"),
    [
        (1, 1, '<h2 id="errors-title">1 input failed</h2>'),
        (2, 2, '<h2 id="errors-title">2 inputs failed</h2>'),
        (2, 1, '<p class="more">and 1 more: choose Status "error" below</p></section>'),
        (2, 2, "</li></ul></section>"),
    ],
)
def test_the_error_heading_and_the_rest(total: int, listed: int, expected: str) -> None:
    summary = Summary(
        inputs=total, ok=0, errors=total, faces=0, wall_seconds=0, images_per_second=0
    )
    errors = [{"n": f"e{i}.jpg", "e": "bad"} for i in range(listed)]
    assert expected in render(summary, {"name": total, "error": total}, errors)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0, "0.0 s"),
        (59.94, "59.9 s"),
        (60.0, "1 min 00 s"),
        (60.5, "1 min 00 s"),
        (125.0, "2 min 05 s"),
        (3599.6, "1 h 00 min"),
        (3725.4, "1 h 02 min"),
        (7322.0, "2 h 02 min"),
    ],
)
def test_the_wall_time_tile(seconds: float, text: str) -> None:
    summary = Summary(inputs=0, ok=0, errors=0, faces=0, wall_seconds=seconds, images_per_second=0)
    page = render(summary, {"name": 0}, [])
    assert f'data-stat="time"><dd>{text}</dd>' in page


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, "none"), (0.4, "0.4"), (1e-05, "1e-05"), (2.0, "2"), (1234567, "1,234,567"),
     (0, "0"), (True, "True"), (False, "False"), ("outline", "outline")],
)  # fmt: skip
def test_detector_options_are_shown_by_type(value: Any, text: str) -> None:
    summary = Summary(
        inputs=0, ok=0, errors=0, faces=0, wall_seconds=0, images_per_second=0,
        detector={"detector": "haar", "some_option": value},
    )  # fmt: skip
    assert "<div><dt>some option</dt><dd>" + text + "</dd></div>" in render(summary, {}, [])


# -- names, links and the rows of page files


def test_display_name_is_relative_to_the_input_folder() -> None:
    assert display_name("/data/in/a/b.jpg", "/data/in") == "a/b.jpg"
    assert display_name("/data/in/a/b.jpg", "/data/in/") == "a/b.jpg"
    assert display_name("/data/inX/a.jpg", "/data/inX") == "a.jpg"
    assert display_name("/data/inbox/a.jpg", "/data/in") == "/data/inbox/a.jpg"
    assert display_name("/other/a.jpg", "/data/in") == "/other/a.jpg"
    assert display_name("/data/in/a.jpg", "") == "/data/in/a.jpg"
    assert display_name("gs://b/in/x.png", "gs://b/in") == "x.png"


def test_relative_url_takes_an_output_with_a_trailing_slash_or_ending_in_x() -> None:
    assert relative_url("/data/out/thumbs/a.jpg", "/data/out/") == "thumbs/a.jpg"
    assert relative_url("gs://b/run-X/thumbs/a.jpg", "gs://b/run-X") == "thumbs/a.jpg"
    assert relative_url("/data/output/a.jpg", "/data/out") is None
    assert relative_url("", "/data/out") is None


def test_a_page_row_exactly() -> None:
    row = {**ok("sub/a b.jpg", 2), "width": 640, "height": 480, "millis": 12.5}
    assert page_row(row, SRC, DST) == {
        "n": "sub/a b.jpg",
        "s": "ok",
        "f": 2,
        "t": "thumbs/sub/a%20b.jpg.jpg",
        "o": "images/sub/a%20b.jpg",
        "e": None,
        "w": 640,
        "h": 480,
        "ms": 12.5,
    }
    bad = error_row(f"{SRC}/x.jpg", "truncated", 3.0)
    assert page_row(bad, SRC, DST) == {
        "n": "x.jpg", "s": "error", "f": 0, "t": None, "o": None,
        "e": "truncated", "w": None, "h": None, "ms": 3.0, "r": ["error"],
    }  # fmt: skip
    looked = {**row, "review": ["weak", "small"]}  # reasons travel only when there are some
    assert page_row(looked, SRC, DST)["r"] == ["weak", "small"]
    assert "r" not in page_row({**row, "review": []}, SRC, DST)


def test_script_json_exactly() -> None:
    value = {"n": "é <a> & b\u2028c\u2029d", "k": [1, None]}
    assert script_json(value) == (
        '{"n":"é \\u003ca\\u003e \\u0026 b\\u2028c\\u2029d","k":[1,null]}'
    )


def test_a_page_file_exactly() -> None:
    rows = [{"n": "é>.jpg", "f": 1}]
    assert page_file("two", 4, rows) == 'galleryPage("two",4,[{"f":1,"n":"é\\u003e.jpg"}]);\n'


def test_a_run_that_hides_faces_shows_its_privacy_report() -> None:
    s = summary_of(ROWS)
    s.render = {"mode": "blur", "fill": "blur", "mask": "ellipse"}
    s.privacy = {
        "faces_hidden": 12,
        "faces_weak": 3,
        "faces_by_person": 1,
        "photos_to_review": 4,
        "review_weak": 2,
        "review_large": 1,
        "review_error": 2,
    }
    html = render(s, views_of(ROWS), [])
    assert (
        '<div class="privacy" data-review="4"><p>12 faces hidden, 3 of them on weak evidence, '
        "1 placed by a person. <strong>4 photos need a look</strong> (Status: needs a look)</p>"
        '<ul><li data-reason="weak">2 with a face hidden on weak evidence</li>'
        '<li data-reason="large">1 with a find covering a large share of the photo</li>'
        '<li data-reason="error">2 failed</li></ul>'
        "</div>"
    ) in html
    s.privacy = {**s.privacy, "photos_to_review": 1}
    assert "<strong>1 photo needs a look</strong>" in render(s, views_of(ROWS), [])
    s.render = {"mode": "outline"}  # outlined only: nothing was hidden, no report
    assert 'class="privacy"' not in render(s, views_of(ROWS), [])


def test_the_review_view_holds_rows_with_reasons_by_name() -> None:
    rows = [
        {**ok("b.jpg", 1), "review": ["weak"]},
        {**ok("a.jpg", 1), "review": []},
        error_row(f"{SRC}/c.jpg", "broken", 1.0),
    ]
    cards = page_rows(rows, summary_of(rows), DST)
    assert [c["n"] for c in cards if VIEWS["review"](c)] == ["b.jpg", "c.jpg"]
    assert next(_view_counts(cards))["review"] == 2


def test_every_review_reason_has_its_words_in_the_report_videos_too() -> None:
    from dataproc_faces.results import review
    from dataproc_faces.results.gallery import REVIEW_WORDS

    assert set(REVIEW_WORDS) == set(review.REASONS)
    s = summary_of(ROWS)
    s.render = {"mode": "blur", "fill": "blur", "mask": "ellipse"}
    s.privacy = {"photos_to_review": 2, "review_filled": 2, "review_short": 1}
    html = render(s, views_of(ROWS), [])
    assert (
        '<li data-reason="filled">2 with frames where a missed face was filled in (videos)</li>'
        '<li data-reason="short">1 with a track of one or two frames (videos)</li>'
    ) in html
