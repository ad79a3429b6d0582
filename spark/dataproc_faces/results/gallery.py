"""DST/index.html plus page files: look at a run's outlined faces, from disk or from a bucket.

Why pages: one page embedding every row grows with the collection (300,000 rows made a 50 MB
page). Here index.html holds only the summary, the number of rows in each view and at most
ERRORS_LISTED error lines, so the first view costs the same for 100 or 10 million photos. The rows
live in `gallery/<view>/<n>.js` files of FILE_ROWS rows each, written by Spark executors and
loaded on demand with `<script src>` (browsers refuse `fetch()` next to a page opened from
`file://` but load scripts). Filters and sorts work across pages because every combination the
page offers reads from a precomputed, sorted view: all rows, `ok`, `error`, `none`, `some`,
`two`, `five` by name, and `faces` (most faces first, errors last), whose prefixes are the
face-count filters sorted by faces. The name filter applies to the page shown.

Safety: file names are data, never markup. Server-side text goes through `html.escape`, JSON in
the page and in page files has every `<`, `>` and `&` written as a \\u escape, the script builds
cards with `textContent` and `setAttribute` only, links are relative URLs percent-encoded segment
by segment, and a Content-Security-Policy admits only this page's own inline script and style (by
hash) and script files from the page's own origin.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import string
from collections.abc import Callable, Iterable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

from dataproc_faces.results.layout import Results
from dataproc_faces.results.manifest import Summary
from dataproc_faces.storage.base import is_remote


def _asset(name: str) -> str:
    """A file under results/assets/, read through importlib.resources: it works from the zip the
    cluster and the devhost run, as from a folder or a wheel."""
    return resources.files("dataproc_faces.results").joinpath("assets", name).read_text("utf-8")


STYLE = _asset("gallery.css")
SCRIPT = _asset("gallery.js")
INDEX_PAGE = string.Template(_asset("index.html"))  # ${name} placeholders, filled by render()
PAGE_SIZE = 100  # cards on screen
FILE_ROWS = 500  # rows per page file
ERRORS_LISTED = 100
# view -> which rows it holds (all sorted by name but `faces`)
VIEWS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "name": lambda r: True,
    "ok": lambda r: r["s"] == "ok",
    "error": lambda r: r["s"] != "ok",
    "none": lambda r: r["s"] == "ok" and r["f"] == 0,
    "some": lambda r: r["f"] >= 1,
    "two": lambda r: r["f"] >= 2,
    "five": lambda r: r["f"] >= 5,
    "review": lambda r: bool(r.get("r")),  # needs a look (review.py), by name
}


def relative_url(uri: str | None, output: str) -> str | None:
    """`uri` as a link relative to DST/index.html, or None if it does not lie under DST."""
    if not uri:
        return None
    if not is_remote(uri) and not uri.startswith("/"):  # a row's name below DST (layout.py)
        if uri.split("/", 1)[0] == "..":
            return None
        return "/".join(quote(part, safe="") for part in uri.split("/"))
    root = output.rstrip("/") + "/"
    if not uri.startswith(root):
        return None
    rel = uri[len(root) :]
    return "/".join(quote(part, safe="") for part in rel.split("/"))


CONSOLE_OBJECT = "https://storage.cloud.google.com/"  # a signed-in browser opens objects here


def link_url(uri: str | None, output: str) -> str | None:
    """Like `relative_url`, and for a photo left where it was (`--faceless link`) a link to the
    original: relative to DST/index.html on disk, the signed-in browser URL for an object."""
    if not uri:
        return None
    inside = relative_url(uri, output)
    if inside is not None:
        return inside
    if is_remote(uri):
        bucket_and_name = uri.split("://", 1)[1]
        return CONSOLE_OBJECT + quote(bucket_and_name, safe="/")
    if is_remote(output):
        return None
    rel = uri if not os.path.isabs(uri) else os.path.relpath(uri, output)
    return "/".join(quote(part, safe="") for part in rel.split(os.sep))


def display_name(path: str, input_root: str) -> str:
    """The input's path relative to the input folder: what a person recognises."""
    if "/" not in input_root:  # a label (layout.py): rows already name inputs below it
        return path
    root = input_root.rstrip("/") + "/"
    return path[len(root) :] if path.startswith(root) else path


def page_row(r: dict[str, Any], input_root: str, output: str) -> dict[str, Any]:
    """The few fields a card needs, with short keys: the JSON is most of a page file's weight."""
    return {
        "n": display_name(r["path"], input_root),
        "s": r["status"],
        "f": len(r.get("faces") or []),
        "t": relative_url(r.get("thumbnail"), output),
        "o": link_url(r.get("output"), output),
        "e": r.get("error"),
        "w": r.get("width"),
        "h": r.get("height"),
        "ms": r.get("millis"),
        **({"r": r["review"]} if r.get("review") else {}),  # why to look, only when there is
        **({"v": 1} if r.get("video") else {}),  # a video: the card plays it, poster first
    }


def page_rows(rows: list[dict[str, Any]], summary: Summary, output: str) -> list[dict[str, Any]]:
    return [page_row(r, summary.input, output) for r in sorted(rows, key=lambda r: r["path"])]


def page_file(view: str, number: int, rows: list[dict[str, Any]]) -> str:
    """One page file: a call the index page's script answers; JSON escaped as in the page."""
    return f"galleryPage({script_json(view)},{number},{script_json(rows)});\n"


def faces_key(r: dict[str, Any]) -> tuple[int, int, str]:
    """Most faces first, errors after every ok row, then by name."""
    return (-r["f"], r["s"] != "ok", r["n"])


def script_json(value: Any) -> str:
    """JSON that cannot end or confuse the <script> block holding it (`</`, `<!--`, `]]>`)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _csp_hash(source: str) -> str:
    digest = hashlib.sha256(source.encode()).digest()
    return "'sha256-" + base64.b64encode(digest).decode() + "'"


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def _option(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _summary_html(summary: Summary) -> str:
    stats = [
        ("inputs", "images", summary.inputs),
        ("faces", "faces found", summary.faces),
        ("errors", "errors", summary.errors),
        ("time", "wall time", _duration(summary.wall_seconds)),
        ("rate", "images / s", f"{summary.images_per_second:.2f}"),
    ]
    tiles = "".join(
        f'<div class="stat{" bad" if key == "errors" and summary.errors else ""}" '
        f'data-stat="{key}"><dd>{_e(value)}</dd><dt>{_e(label)}</dt></div>'
        for key, label, value in stats
    )
    detector = dict(summary.detector)
    name = detector.pop("detector", "?")
    options = [(k.replace("_", " "), _option(v)) for k, v in sorted(detector.items())]
    options += [(k.replace("_", " "), _option(v)) for k, v in summary.render.items()]
    if summary.runtime:  # which runtime and precision found the faces (bf16 or fp32)
        options.append(("runtime", ", ".join(summary.runtime)))
    option_html = "".join(f"<div><dt>{_e(k)}</dt><dd>{_e(v)}</dd></div>" for k, v in options)
    where = (
        f'<p class="where"><span>from</span> <code>{_e(summary.input)}</code> '
        f"<span>to</span> <code>{_e(summary.output)}</code>"
        + (f" <span>on</span> <code>{_e(summary.master)}</code>" if summary.master else "")
        + "</p>"
    )
    return (
        f'<dl class="stats">{tiles}</dl>{_privacy_html(summary)}{where}'
        f"{_ignored_html(summary.ignored)}"
        f'<div class="detector"><span>detector</span> <strong>{_e(name)}</strong>'
        f'<dl class="options">{option_html}</dl></div>'
    )


REVIEW_WORDS = {  # review.py's reasons, as the report lists photos by reason
    "weak": "with a face hidden on weak evidence",
    "small": "with a face under 24 px",
    "many": "with many finds for their size",
    "large": "with a find covering a large share of the photo",
    "filled": "with frames where a missed face was filled in (videos)",
    "short": "with a track of one or two frames (videos)",
    "corrected": "corrected by a person, not marked reviewed",
    "error": "failed",
}


def _privacy_html(summary: Summary) -> str:
    """The privacy report of a run that hides faces: what was hidden, on what evidence, and
    how many photos a person should look at first (the Status filter "needs a look")."""
    p = summary.privacy
    if not p or not summary.render.get("fill"):
        return ""
    why = "".join(
        f'<li data-reason="{_e(r)}">{_e(p[f"review_{r}"])} {_e(REVIEW_WORDS[r])}</li>'
        for r in REVIEW_WORDS
        if p.get(f"review_{r}")
    )
    look = p.get("photos_to_review", 0)
    return (
        f'<div class="privacy" data-review="{_e(look)}"><p>'
        f"{_e(p.get('faces_hidden', 0))} faces hidden, {_e(p.get('faces_weak', 0))} of them on "
        f"weak evidence, {_e(p.get('faces_by_person', 0))} placed by a person. <strong>"
        f"{_e(look)} photo{'s' if look != 1 else ''} need{'' if look != 1 else 's'} a look"
        "</strong> (Status: needs a look)</p>" + (f"<ul>{why}</ul>" if why else "") + "</div>"
    )


def _ignored_html(ignored: dict[str, int] | None) -> str:
    """What the listing left out of the inputs, and why: no photo disappears without a word."""
    if not ignored:
        return ""
    from dataproc_faces.storage.skips import SKIP_REASONS

    n = sum(ignored.values())
    items = "".join(f"<li>{c} {_e(SKIP_REASONS.get(r, r))}</li>" for r, c in ignored.items())
    return (
        f'<div class="ignored" data-ignored="{n}"><p>{n} name{"s" if n != 1 else ""} under '
        f"the input {'were' if n != 1 else 'was'} not read as images:</p><ul>{items}</ul></div>"
    )


def _errors_html(errors: list[dict[str, Any]], total: int) -> str:
    """The first ERRORS_LISTED failures, readable without JavaScript; the filter finds the rest."""
    if not total:
        return ""
    more = total - len(errors)
    items = "".join(
        f'<li><code class="path">{_e(r["n"])}</code><span class="msg">{_e(r["e"] or "")}</span>'
        "</li>"
        for r in errors
    )
    return (
        f'<section id="errors" aria-labelledby="errors-title"><h2 id="errors-title">'
        f"{total} input{'s' if total != 1 else ''} failed</h2>"
        f'<ul class="errors">{items}</ul>'
        + (f'<p class="more">and {more} more: choose Status "error" below</p>' if more > 0 else "")
        + "</section>"
    )


NOSCRIPT = "The summary and the errors above need no JavaScript; turn it on to browse the images."
FILTERS = {
    "status": (
        "Status",
        [("all", "all"), ("ok", "ok"), ("error", "error"), ("review", "needs a look")],
    ),
    "faces": (
        "Faces",
        [
            ("any", "any"),
            ("none", "none"),
            ("some", "1 or more"),
            ("two", "2 or more"),
            ("five", "5 or more"),
        ],
    ),
    "sort": (
        "Sort",
        [
            ("name", "name"),
            ("faces-desc", "most faces"),
            ("status", "errors first"),
        ],
    ),
}


def _controls_html() -> str:
    selects = "".join(
        f'<label>{label} <select id="f-{key}">'
        + "".join(f'<option value="{v}">{text}</option>' for v, text in options)
        + "</select></label>"
        for key, (label, options) in FILTERS.items()
    )
    return (
        f'<form id="controls" role="search">{selects}<label class="grow">Name '
        '<input id="f-q" type="search" placeholder="filter this page by name" '
        'autocomplete="off"></label>'
        '<output id="shown" aria-live="polite"></output></form>'
    )


def render(
    summary: Summary,
    counts: dict[str, int],
    errors: list[dict[str, Any]],
    page_size: int = PAGE_SIZE,
    file_rows: int = FILE_ROWS,
) -> str:
    """index.html as text: the same size whatever the number of rows; pure, for tests."""
    data = script_json(
        {"pageSize": page_size, "fileRows": file_rows, "counts": counts, "dir": Results.PAGES}
    )
    csp = (
        "default-src 'none'; img-src 'self' file: data: https: http:; "
        "media-src 'self' file: https: http:; "
        f"style-src {_csp_hash(STYLE)}; script-src 'self' {_csp_hash(SCRIPT)}; "
        "base-uri 'none'; form-action 'none'"
    )
    title = f"Faces: {summary.faces} in {summary.inputs} image{'s' if summary.inputs != 1 else ''}"
    return INDEX_PAGE.substitute(
        csp=_e(csp),
        title=_e(title),
        style=STYLE,
        summary=_summary_html(summary),
        errors=_errors_html(errors, counts.get("error", 0)),
        controls=_controls_html(),
        noscript=NOSCRIPT,
        data=data,
        script=SCRIPT,
    )


def _view_counts(rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, int]]:
    counts = dict.fromkeys(VIEWS, 0)
    for r in rows:
        for view, keep in VIEWS.items():
            counts[view] += keep(r)
    yield counts


def _placed(
    index: int, rows: Iterable[dict[str, Any]], offsets: list[dict[str, int]], file_rows: int
) -> Iterator[tuple[tuple[str, int], tuple[int, dict[str, Any]]]]:
    """((view, page file), (position, row)) for each view a name-sorted row belongs to."""
    at = dict(offsets[index])
    for r in rows:
        for view, keep in VIEWS.items():
            if keep(r):
                yield (view, at[view] // file_rows + 1), (at[view], r)
                at[view] += 1


def _write_page(results: Results, key: tuple[str, int], rows: Iterable[tuple[int, dict]]) -> int:
    body = [r for _, r in sorted(rows, key=lambda x: x[0])]
    view, number = key
    data = page_file(view, number, body).encode()
    results.store().write(results.page(view, number), data, "text/javascript")
    return 1


def write_gallery(
    spark: Any,
    results: Results,
    pids: list[str],
    summary: Summary,
    page_size: int = PAGE_SIZE,
    file_rows: int = FILE_ROWS,
    rows: list[dict[str, Any]] | None = None,
) -> str:
    """Page files from the manifest parts on the executors, then DST/index.html from counts.

    The driver holds one count per view and partition and at most ERRORS_LISTED error rows;
    given a small collection's `rows` (pipeline.SMALL_RUN), it writes the pages itself.
    """
    from dataproc_faces.results.ledger import read_rows

    if rows is not None:
        counts, errors = _pages_on_driver(results, rows, summary, file_rows)
        return _write_index(results, summary, counts, errors, page_size, file_rows)
    sc = spark.sparkContext
    root, output = summary.input, results.root
    slices = max(1, min(len(pids), sc.defaultParallelism * 4))
    rows = (
        sc.parallelize(sorted(pids), slices)
        .mapPartitions(lambda p: read_rows(results, p))
        .map(lambda r: page_row(r, root, output))
    )
    by_name = rows.sortBy(lambda r: r["n"]).persist()
    per_part = by_name.mapPartitions(_view_counts).collect()
    offsets, running = [], dict.fromkeys(VIEWS, 0)
    for counts in per_part:
        offsets.append(dict(running))
        running = {v: running[v] + counts[v] for v in VIEWS}
    counts = {**running, "faces": running["name"]}
    placed = by_name.mapPartitionsWithIndex(lambda i, p: _placed(i, p, offsets, file_rows))
    by_faces = (
        rows.sortBy(faces_key)
        .zipWithIndex()
        .map(lambda x: (("faces", x[1] // file_rows + 1), (x[1], x[0])))
    )
    files = max(1, sum(counts.values()) // file_rows + len(counts))
    placed.union(by_faces).groupByKey(min(files, slices * 4)).map(
        lambda kv: _write_page(results, kv[0], kv[1])
    ).sum()
    errors = by_name.filter(lambda r: r["s"] != "ok").take(ERRORS_LISTED)
    by_name.unpersist()
    return _write_index(results, summary, counts, errors, page_size, file_rows)


def _pages_on_driver(
    results: Results, rows: list[dict[str, Any]], summary: Summary, file_rows: int
) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """`write_gallery`'s page files for a small collection, without Spark jobs."""
    cards = page_rows(rows, summary, results.root)
    running = next(_view_counts(cards))
    pages: dict[tuple[str, int], list[tuple[int, dict[str, Any]]]] = {}
    for key, item in _placed(0, cards, [dict.fromkeys(VIEWS, 0)], file_rows):
        pages.setdefault(key, []).append(item)
    for i, card in enumerate(sorted(cards, key=faces_key)):
        pages.setdefault(("faces", i // file_rows + 1), []).append((i, card))
    for key, items in pages.items():
        _write_page(results, key, items)
    errors = [c for c in cards if c["s"] != "ok"][:ERRORS_LISTED]
    return {**running, "faces": running["name"]}, errors


def _write_index(
    results: Results,
    summary: Summary,
    counts: dict[str, int],
    errors: list[dict[str, Any]],
    page_size: int,
    file_rows: int,
) -> str:
    page = render(summary, counts, errors, page_size, file_rows)
    results.store().write(results.index, page.encode(), "text/html; charset=utf-8")
    return results.index


def describe(uri: str) -> str:
    """The gallery's location for a person: local pages also as a file:// URL to click."""
    if is_remote(uri):
        return uri
    return f"{uri} ({Path(uri).resolve().as_uri()})"
