"""DST/index.html plus page files: look at a run's outlined faces, from disk or from a bucket.

Why pages: one page embedding every row grows with the collection (300,000 rows made a 50 MB
page). Here index.html holds only the summary, the view counts, at most ERRORS_LISTED error lines,
the first FOLDERS_LISTED folders and one entry per folder-list file, so the first view costs
about the same for 100 or 10 million photos. The rows live in page files of FILE_ROWS rows each,
loaded on demand with `<script src>` (browsers refuse `fetch()` next to a page opened from
`file://` but load scripts).

Why per folder: each folder (results/folders.py: the top-level folder below the input, or a flat
bucket's hashed shard) keeps its own page files `gallery/folders/<dir>/<view>/<n>.js`, its rows
(`rows.jsonl`, the cards' fields only; its views' heads are its top lists) and its counts
(`folder.json`), so a run rewrites only the folders it changed (its new manifest parts' rows, and
rows forget.py removed), the folder list files `gallery/list/<n>.js`, the merged top lists and
index.html. Views: all rows, `ok`, `error`, `none`, `some`, `two`, `five`, `review` by name, and
`faces` (most faces first, errors last), whose prefixes are the face-count filters sorted by faces.
Across folders a view is the folders' views one after the other (folders by key): the script finds
a position's folder from the list files' running counts. "Most faces" across folders is the merged
top list (`gallery/top/faces/<n>.js`, TOP_ROWS rows), in one folder its own `faces` view; the
index's errors are the merged first errors. The name filter applies to the page shown.

Safety: file names are data, never markup. Server-side text goes through `html.escape`, JSON in
the page and in page files has every `<`, `>` and `&` written as a \\u escape, the script builds
cards with `textContent` and `setAttribute` only, links are relative URLs percent-encoded segment
by segment, and a Content-Security-Policy admits only this page's own inline script and style (by
hash) and script files from the page's own origin. Folder names are data too: a folder's
directory is `folder_dir` (letters, digits, `_`, `-` and a hash; the script refuses any other
before building a URL from it), and its name reaches the page only escaped or as `textContent`.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import heapq
import html
import json
import os
import re
import string
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

from dataproc_faces.results.folders import TOP, folder_of
from dataproc_faces.results.layout import Results
from dataproc_faces.results.manifest import Summary
from dataproc_faces.storage.base import is_remote, join


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
    # keys sorted: a row read back from the gallery's state gives the same bytes as a new one
    return f"galleryPage({script_json(view)},{number},{script_json(rows, sort_keys=True)});\n"


def faces_key(r: dict[str, Any]) -> tuple[int, int, str]:
    """Most faces first, errors after every ok row, then by name."""
    return (-r["f"], r["s"] != "ok", r["n"])


def script_json(value: Any, sort_keys: bool = False) -> str:
    """JSON that cannot end or confuse the <script> block holding it (`</`, `<!--`, `]]>`)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=sort_keys)
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
        '<span id="folder-chosen" hidden>Folder <strong></strong> '
        '<button type="button" id="f-all">all folders</button></span>'
        '<output id="shown" aria-live="polite"></output></form>'
    )


TOP_LEVEL_ROWS = 20_000  # up to this many rows, a collection's top-level photos are one folder
TOP_LEVEL = f"{TOP}/all"


def gallery_folder(name: str, sharded: bool) -> str:
    """The gallery folder of a row's name: its input folder (results/folders.py); photos at the
    top of the input are one folder, "top level", in name order, unless the collection is past
    TOP_LEVEL_ROWS, when they keep the listing's hashed shards (each shard rewritten alone)."""
    key = folder_of(name)
    return key if sharded or not key.startswith(f"{TOP}/") else TOP_LEVEL


def folder_label(key: str) -> str:
    """How the folder list names a folder: the top level, or a flat bucket's hashed shard
    (`_top/3a`: a real folder's key has no '/'), as what it is."""
    if key == TOP_LEVEL:
        return "top level"
    return f"top level, part {key.split('/', 1)[1]}" if "/" in key else key


def _folders_html(folders: list[dict[str, Any]], total: int) -> str:
    """The first folders with their counts, readable without JavaScript: a link chooses one
    (its rows alone, in every view); the script pages through the rest from the list files.
    Folder names are data: escaped here, `textContent` in the script."""
    if not total:
        return ""
    rows = "".join(
        f'<tr data-folder="{_e(e["d"])}"><td><a href="#folder={_e(e["d"])}&amp;fi={i}">'
        f"{_e(folder_label(e['k']))}</a></td>"
        + "".join(f"<td>{_e(e['c'].get(v, 0))}</td>" for v in ("name", "found", "error", "review"))
        + "</tr>"
        for i, e in enumerate(folders)
    )
    return (
        f'<section id="folders" aria-labelledby="folders-title"><h2 id="folders-title">'
        f"{total} folder{'s' if total != 1 else ''}</h2>"
        '<table class="folders"><thead><tr><th>folder</th><th>photos</th><th>faces</th>'
        f"<th>errors</th><th>needs a look</th></tr></thead><tbody>{rows}</tbody></table>"
        '<nav class="pager" id="folder-pager" aria-label="folder pages"></nav></section>'
    )


def render(
    summary: Summary,
    counts: dict[str, int],
    errors: list[dict[str, Any]],
    page_size: int = PAGE_SIZE,
    file_rows: int = FILE_ROWS,
    folders: list[dict[str, Any]] | None = None,
    folder_count: int | None = None,
    starts: list[dict[str, int]] | None = None,
    top: int = 0,
) -> str:
    """index.html as text: the same size whatever the number of rows (one entry per list file
    of LIST_ROWS folders, and FOLDERS_LISTED folders); pure, for tests."""
    folders = folders or []
    total_folders = len(folders) if folder_count is None else folder_count
    data = script_json(
        {
            "pageSize": page_size,
            "fileRows": file_rows,
            "counts": counts,
            "dir": Results.PAGES,
            "listRows": LIST_ROWS,
            "listed": FOLDERS_LISTED,
            "folders": total_folders,
            "starts": starts or [],
            "top": top,
        }
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
        folders=_folders_html(folders, total_folders),
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


# -- per-folder pages -------------------------------------------------------------------------
FOLDERS_DIR, TOP_DIR, LIST_DIR, FORGOTTEN_DIR = "folders", "top", "list", "forgotten"
CATALOGUE, MERGED, FOLDED = "folders.json", "top.json", "folded.json"
ROWS_FILE, FOLDER_FILE = "rows.jsonl", "folder.json"
SHOWN_FILE = "shown.json"  # {"rows": digest}: the page files show the rows file of that digest
ALL_VIEWS = [*VIEWS, "faces"]
TOP_ROWS = 5_000  # the merged "most faces" view: the collection's first TOP_ROWS rows by faces
LIST_ROWS = 500  # folders per folder-list file
FOLDERS_LISTED = 50  # folders in index.html's table; the script pages through the rest
LAYOUT = 3  # the gallery's state format: another value (or none) rebuilds every folder
Tops = dict[str, list[list[Any]]]  # list name -> [folder key, card] pairs, best first


def folder_dir(key: str) -> str:
    """A folder key as one safe path segment: letters, digits, `_` and `-` only (no `.`, `/`,
    `%` or markup; never a leading `_` or `.`, which listings skip), readable, and made unique by
    a hash of the whole key, so a hostile or 10,000-character name is a short plain segment."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", key).strip("_-")[:40] or "f"
    return f"{slug}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def _tops_order(top_rows: int) -> dict[str, tuple[int, Callable[[list[Any]], Any]]]:
    """The merged lists: how many rows each keeps and in what order (folder, then name for
    the index's errors, as the all-rows views list them)."""
    return {
        "faces": (top_rows, lambda kc: faces_key(kc[1])),
        "error": (ERRORS_LISTED, lambda kc: (kc[0], kc[1]["n"])),
    }


def _no_tops() -> Tops:
    return {"faces": [], "error": []}


def merge_tops(a: Tops, b: Tops, top_rows: int = TOP_ROWS) -> Tops:
    """Two top lists as one, each list cut to its length: the global views' whole merge."""
    return {
        name: heapq.nsmallest(limit, [*a[name], *b[name]], key=order)
        for name, (limit, order) in _tops_order(top_rows).items()
    }


class _Merging:
    """Top lists merged as they come, cut only when four times too long: each row's sort key
    is computed about once, not once per folder merged."""

    def __init__(self, top_rows: int) -> None:
        self.top_rows = top_rows
        self.held: Tops = _no_tops()

    def add(self, tops: Tops) -> None:
        for name, (limit, order) in _tops_order(self.top_rows).items():
            self.held[name].extend(tops[name])
            if len(self.held[name]) > 4 * limit:
                self.held[name] = heapq.nsmallest(limit, self.held[name], key=order)

    def result(self) -> Tops:
        return merge_tops(self.held, _no_tops(), self.top_rows)


def folder_counts(
    cards: list[dict[str, Any]], views: dict[str, list[dict[str, Any]]] | None = None
) -> dict[str, int]:
    """Rows per view, and `found`: the faces found in the folder (the folder list shows it).
    `views`: the folder's views of `cards` when made already (`_folder_views`): counted, not
    filtered again."""
    counts = next(_view_counts(cards)) if views is None else {v: len(views[v]) for v in VIEWS}
    return {**counts, "faces": counts["name"], "found": sum(c["f"] for c in cards)}


def _files(count: int, file_rows: int) -> int:
    return -(-count // file_rows)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:20]


def _folder_views(cards: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """One folder's rows (sorted by name) in each view. `faces` is their `faces_key` order: the
    rows grouped by faces and status, each group in name order as given (no sort by name).
    One pass: VIEWS look only at a card's status, faces and review flag, so cards alike in
    those go to the same lists, worked out once (a third of the time of a filter per view)."""
    views: dict[str, list[dict[str, Any]]] = {view: [] for view in VIEWS}
    ranks: dict[tuple[int, bool], list[dict[str, Any]]] = {}
    into: dict[tuple[Any, Any, bool], list[list[dict[str, Any]]]] = {}
    for c in cards:
        alike = (c["s"], c["f"], bool(c.get("r")))
        lists = into.get(alike)
        if lists is None:
            lists = into[alike] = [views[v] for v, keep in VIEWS.items() if keep(c)]
            lists.append(ranks.setdefault((-c["f"], c["s"] != "ok"), []))
        for held in lists:
            held.append(c)
    views["faces"] = [c for rank in sorted(ranks) for c in ranks[rank]]
    return views


def _folder_tops(key: str, views: dict[str, list[dict[str, Any]]], top_rows: int) -> Tops:
    """A folder's top lists: its sorted views' heads."""
    return {
        "faces": [[key, c] for c in views["faces"][:top_rows]],
        "error": [[key, c] for c in views["error"][:ERRORS_LISTED]],
    }


def _stored_cards(results: Results, d: str) -> tuple[bytes, list[str], list[dict[str, Any]]]:
    """A folder's rows file: its bytes, its lines and their cards (empty when there is none)."""
    from dataproc_faces.results.ledger import json_values

    store, stored = results.store(), results.in_gallery(FOLDERS_DIR, d, ROWS_FILE)
    if store.version(stored) is None:
        return b"", [], []
    data = store.read(stored)
    texts = [line for line in data.decode("utf-8").splitlines() if line.strip()]
    return data, texts, json_values(texts)


def _folder_pages(
    d: str,
    views: dict[str, list[dict[str, Any]]],
    file_rows: int,
    shown: dict[str, list[dict[str, Any]]] | None = None,
) -> dict[tuple[str, int], str]:
    """One folder's page files; given `shown` (the views its page files hold now), only those
    whose rows differ: a photo changed in a folder of 10,000 rewrites a file or two per view,
    not the 160 files of its views (which cost most of a spread change's gallery)."""
    return {
        (view, i // file_rows + 1): page_file(
            f"{FOLDERS_DIR}/{d}/{view}", i // file_rows + 1, held[i : i + file_rows]
        )
        for view, held in views.items()
        for i in range(0, len(held), file_rows)
        if shown is None or held[i : i + file_rows] != shown[view][i : i + file_rows]
    }


def _read_json(results: Results, *parts: str) -> Any:
    uri = results.in_gallery(*parts)
    store = results.store()
    if store.version(uri) is None:
        return None
    try:
        return json.loads(store.read(uri))
    except ValueError:  # damaged: rebuilt from the manifest as if absent
        return None


def _write_json(results: Results, value: Any, *parts: str) -> None:
    data = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
    results.store().write(results.in_gallery(*parts), data, "application/json")


def _alike(c: dict[str, Any]) -> int:
    """All a card's places in its folder's views depend on besides its name (VIEWS and
    `faces_key` look at its faces, whether it is ok, and whether it needs a look), as a number."""
    return c["f"] * 4 + (c["s"] == "ok") * 2 + bool(c.get("r"))


def _like(alike: int) -> dict[str, Any]:
    """A card with that `_alike` number, to ask the views about."""
    return {"n": "", "f": alike // 4, "s": "ok" if alike // 2 % 2 else "error", "r": alike % 2}


def _index(cards: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """shown.json's index of the rows file: its names in order and their `_alike` numbers."""
    return {"n": [c["n"] for c in cards], "a": [_alike(c) for c in cards]}


def _replaced_in_place(
    results: Results,
    d: str,
    new: list[dict[str, Any]],
    old: dict[str, Any],
    marker: dict[str, Any],
    file_rows: int,
) -> dict[str, dict[str, Any]] | None:
    """Cards replaced without moving (the photos kept their faces, status and review flag): the
    page files showing them and their rows' lines are rewritten from shown.json's index of the
    rows file, parsing only those pages' rows, not the folder's 10,000. Returns the replaced
    cards by name, or None when any card is new or moved, or the index is not the rows file's:
    then the whole folder is made again."""
    import numpy as np

    from dataproc_faces.results.ledger import json_values

    store = results.store()
    stored = results.in_gallery(FOLDERS_DIR, d, ROWS_FILE)
    names, alike = marker.get("n"), marker.get("a")
    if names is None or alike is None or old.get("fileRows") != file_rows or "c" not in old:
        return None
    if store.version(stored) is None:
        return None
    data = store.read(stored)
    lines = data.decode("utf-8").split("\n")[:-1]  # the file ends with a newline
    if _digest(data) != marker.get("rows") or len(lines) != len(names):
        return None
    changed: dict[int, dict[str, Any]] = {}
    for card in new:
        i = bisect_left(names, card["n"])
        if i == len(names) or names[i] != card["n"] or alike[i] != _alike(card):
            return None
        changed[i] = card
    changed = {i: c for i, c in changed.items() if json.loads(lines[i]) != c}
    if not changed:
        return {}
    numbers = np.asarray(alike)
    kinds = np.unique(numbers)
    held = {
        view: np.flatnonzero(np.isin(numbers, [k for k in kinds if keep(_like(int(k)))]))
        for view, keep in VIEWS.items()
    }
    held["faces"] = np.argsort(-(numbers // 4) * 2 + (numbers // 2 % 2 == 0), kind="stable")
    texts = {}
    for view, order in held.items():
        at = order if view != "faces" else np.argsort(order, kind="stable")
        for i in changed:
            spot = int(np.searchsorted(at, i)) if view != "faces" else int(at[i])
            if view != "faces" and (spot == len(at) or at[spot] != i):
                continue  # not in this view
            number = spot // file_rows + 1
            if (view, number) in texts:
                continue
            rows = order[(number - 1) * file_rows : number * file_rows].tolist()
            cards = json_values([lines[j] for j in rows])
            cards = [changed.get(j, c) for j, c in zip(rows, cards, strict=True)]
            texts[view, number] = page_file(f"{FOLDERS_DIR}/{d}/{view}", number, cards)
    store.delete(results.in_gallery(FOLDERS_DIR, d, SHOWN_FILE))
    for (view, number), text in sorted(texts.items()):
        uri = results.in_gallery(FOLDERS_DIR, d, view, f"{number}.js")
        store.write(uri, text.encode(), "text/javascript")
    for i, card in changed.items():
        lines[i] = json.dumps(card, sort_keys=True)
    data = "".join(f"{line}\n" for line in lines).encode()
    store.write(stored, data, "application/x-ndjson")
    marker = {**marker, "rows": _digest(data)}
    _write_json(results, marker, FOLDERS_DIR, d, SHOWN_FILE)
    return {c["n"]: c for c in changed.values()}


def update_folder(
    results: Results,
    key: str,
    new: Iterable[dict[str, Any]],
    drops: Iterable[str],
    full: bool,
    file_rows: int,
    top_rows: int = TOP_ROWS,
) -> tuple[dict[str, Any], Tops | None, dict[str, dict[str, Any]]]:
    """One folder's rows file, page files and top lists after adding `new` cards (replacing rows
    of the same name) and dropping `drops` (names forgotten); `full`: `new` is the whole folder.
    Returns its list entry ({"k", "d", "c"}, "c" None once empty), its top lists, and {}; or,
    when the cards were replaced in place (`_replaced_in_place`), None for the tops and the
    replaced cards by name (the merged lists take them where they are). Order for a kill: pages
    and rows first, then folder.json (its counts); doing it again is safe.

    Only the page files whose rows changed are written (one photo changed among 10,000 is a file
    or two per view, not the 160 of its views), and only when shown.json says the page files
    show the rows file as it is: it is removed before the first page is written and written
    after folder.json, so after a killed update every page is written again."""
    store, d = results.store(), folder_dir(key)
    old = _read_json(results, FOLDERS_DIR, d, FOLDER_FILE) or {}
    marker = _read_json(results, FOLDERS_DIR, d, SHOWN_FILE)
    new, drops = list(new), list(drops)
    if not full and not drops and marker is not None:
        replaced = _replaced_in_place(results, d, new, old, marker, file_rows)
        if replaced is not None:
            return {"k": key, "d": d, "c": old["c"]}, None, replaced
    rows: dict[str, dict[str, Any]] = {}
    lines: dict[str, str] = {}  # a kept card's stored line: `json.dumps` of it, written as is
    stored = results.in_gallery(FOLDERS_DIR, d, ROWS_FILE)
    shown = None  # the views the page files hold, when the update that wrote them finished
    if not full:
        data, texts, values = _stored_cards(results, d)
        for r, line in zip(values, texts, strict=True):
            if r:
                rows[r["n"]], lines[r["n"]] = r, line
        if (marker or {}).get("rows") == _digest(data) and old.get("fileRows") == file_rows:
            shown = _folder_views([rows[n] for n in sorted(rows)])
    if marker is not None:
        store.delete(results.in_gallery(FOLDERS_DIR, d, SHOWN_FILE))
    for name in drops:
        rows.pop(name, None)
    for card in new:
        rows[card["n"]] = card
        lines.pop(card["n"], None)
    cards = [rows[n] for n in sorted(rows)]
    if not cards:
        folder = results.in_gallery(FOLDERS_DIR, d)
        for name in store.list_files(folder) if store.exists(folder) else []:
            store.delete(join(folder, name))
        return {"k": key, "d": d, "c": None}, _no_tops(), {}
    views = _folder_views(cards)
    counts = folder_counts(cards, views)
    for (view, number), text in _folder_pages(d, views, file_rows, shown).items():
        uri = results.in_gallery(FOLDERS_DIR, d, view, f"{number}.js")
        store.write(uri, text.encode(), "text/javascript")
    for view in ALL_VIEWS:  # page files a shrunken view no longer has
        had = _files(old.get("c", {}).get(view, 0), old.get("fileRows", file_rows))
        for number in range(_files(counts[view], file_rows) + 1, had + 1):
            store.delete(results.in_gallery(FOLDERS_DIR, d, view, f"{number}.js"))
    body = "".join((lines.get(c["n"]) or json.dumps(c, sort_keys=True)) + "\n" for c in cards)
    data = body.encode()
    store.write(stored, data, "application/x-ndjson")
    info = {"k": key, "d": d, "c": counts}
    _write_json(results, {**info, "fileRows": file_rows}, FOLDERS_DIR, d, FOLDER_FILE)
    _write_json(results, {"rows": _digest(data), **_index(cards)}, FOLDERS_DIR, d, SHOWN_FILE)
    return info, _folder_tops(key, views, top_rows), {}


Done = tuple[list[dict[str, Any]], Tops, dict[str, dict[str, dict[str, Any]]]]


def _combine(a: Done, b: Done, top_rows: int) -> Done:
    return a[0] + b[0], merge_tops(a[1], b[1], top_rows), {**a[2], **b[2]}


def _folders_in_task(
    results: Results,
    groups: Iterable[tuple[str, Iterable[Any]]],
    drops: dict[str, list[str]],
    full: bool,
    file_rows: int,
    top_rows: int,
) -> Iterator[Done]:
    """A Spark task's folders, each updated whole; one (entries, merged tops, cards replaced in
    place by folder) per task."""
    infos, merging, replaced = [], _Merging(top_rows), {}
    for key, cards in groups:
        info, tops, mine = update_folder(
            results, key, (c for c in cards if c), drops.get(key, []), full, file_rows, top_rows
        )
        infos.append(info)
        if tops is None:
            replaced[key] = mine
        else:
            merging.add(tops)
    yield infos, merging.result(), replaced


def note_forgotten(results: Results, paths: Iterable[str]) -> None:
    """Rows forget.py removes (their stored `path`s): the next gallery drops them from their
    folders' pages. A file per call, named by its content, so a repeated forget is one file."""
    names = sorted(set(paths))
    if not names:
        return
    data = json.dumps(names).encode()
    digest = _digest(data)
    results.store().write(
        results.in_gallery(FORGOTTEN_DIR, f"{digest}.json"), data, "application/json"
    )


def _forgotten(results: Results) -> tuple[list[str], list[str]]:
    """(the stored paths forgotten since the last gallery, the note files naming them)."""
    store, folder = results.store(), results.in_gallery(FORGOTTEN_DIR)
    notes = [join(folder, n) for n in store.list_files(folder)] if store.exists(folder) else []
    paths = [p for uri in notes for p in json.loads(store.read(uri))]
    return paths, notes


def _exact(old: list[list[Any]], new: list[list[Any]], limit: int, order: Callable) -> bool:
    """Whether a merge of the old list (changed folders taken out) with the changed folders'
    tops is the true top: yes when the old list held every row there was, or when the new list
    is full and ends no later than the old one did (a row the old list left out ranks after its
    end). A forgotten row can break this; then every folder's tops are read again."""
    if len(old) < limit:
        return True
    return len(new) == limit and order(new[-1]) <= order(old[-1])


def write_gallery(
    spark: Any,
    results: Results,
    pids: list[str],
    summary: Summary,
    page_size: int = PAGE_SIZE,
    file_rows: int = FILE_ROWS,
    rows: list[dict[str, Any]] | None = None,
    top_rows: int = TOP_ROWS,
    recount: bool = False,
    bound: int = 0,
) -> str:
    """The gallery, updating only the folders that changed: those holding rows of manifest
    parts not yet in the gallery (this run's, or a killed run's) and those of forgotten rows.

    A first run (or a gallery of another layout or file size) builds every folder. Given a small
    collection's `rows` (pipeline.SMALL_RUN) the driver does it all; so it does, in a larger
    one, when the new rows and the changed folders' rows are at most `bound` (the driver's
    bound: a few photos added). Otherwise each changed folder is one group of one shuffle, its
    pages numbered in its task, and the driver holds one list entry per folder and the merged
    top lists (TOP_ROWS + ERRORS_LISTED rows).
    """
    from dataproc_faces.results.ledger import bookkeeping_slices, capped, read_rows

    catalogue = _read_json(results, CATALOGUE)
    full = catalogue is None or (catalogue.get("layout"), catalogue.get("fileRows")) != (
        LAYOUT,
        file_rows,
    )
    sharded = summary.inputs > TOP_LEVEL_ROWS
    full = full or catalogue.get("topRows") != top_rows or catalogue.get("sharded") != sharded
    folded = set() if full else set(_read_json(results, FOLDED) or [])
    source = sorted(pids) if full else sorted(set(pids) - folded)
    forgotten, notes = _forgotten(results)
    root, output = summary.input, results.root
    drops: dict[str, list[str]] = {}
    for path in [] if full else forgotten:
        name = display_name(path, root)
        drops.setdefault(gallery_folder(name, sharded), []).append(name)
    combine = functools.partial(_combine, top_rows=top_rows)
    done: Done = ([], _no_tops(), {})
    groups = spread = None
    if rows is not None:  # a small collection: the driver alone
        picked = rows if full else list(read_rows(results, source))
        groups = _grouped(picked, drops, root, output, sharded)
    elif not full and bound:  # a few rows into a large collection: the driver, if they are few
        picked = capped(read_rows(results, source), bound)
        groups = None if picked is None else _grouped(picked, drops, root, output, sharded)
        kept = catalogue["folders"]
        if (
            groups is not None
            and len(picked or ()) + sum(kept[k]["c"]["name"] for k in groups if k in kept) > bound
        ):  # the changed folders' own rows are read too: their tasks read them, no shuffle
            groups, spread = None, groups
    if groups is not None:
        done = next(
            _folders_in_task(results, sorted(groups.items()), drops, full, file_rows, top_rows)
        )
    elif spread is not None:
        sc = spark.sparkContext
        slices = bookkeeping_slices(sc, len(spread))
        done = (
            sc.parallelize(sorted(spread.items()), slices)
            .mapPartitions(lambda g: _folders_in_task(results, g, drops, full, file_rows, top_rows))
            .treeReduce(combine)
        )
    elif source or drops:
        sc = spark.sparkContext
        slices = max(1, min(len(source), sc.defaultParallelism * 4))
        cards = (
            sc.parallelize(source, slices)
            .mapPartitions(lambda p: read_rows(results, p))
            .map(lambda r: page_row(r, root, output))
            .map(lambda c: (gallery_folder(c["n"], sharded), c))
        )
        if drops:
            cards = cards.union(sc.parallelize([(k, None) for k in sorted(drops)], 1))
        done = (
            cards.groupByKey(slices)
            .mapPartitions(lambda g: _folders_in_task(results, g, drops, full, file_rows, top_rows))
            .treeReduce(combine)
        )
    infos, tops, replaced = done
    old = {} if full else catalogue["folders"]
    folders = dict(old)
    for info in infos:
        if info["c"] is None:
            folders.pop(info["k"], None)
        else:
            folders[info["k"]] = {"d": info["d"], "c": info["c"]}
    if full:
        _clear_stale(results, folders, catalogue)
    changed = {i["k"] for i in infos if i["k"] not in replaced}
    merged = _merged(results, folders, tops, changed, full, top_rows, replaced)
    return _finish(
        results, summary, catalogue, folders, merged, page_size, file_rows, top_rows,
        sorted(pids), notes, recount,
    )  # fmt: skip


def _grouped(
    picked: Iterable[dict[str, Any]],
    drops: dict[str, list[str]],
    root: str,
    output: str,
    sharded: bool,
) -> dict[str, list[dict[str, Any]]]:
    """Rows as page cards by gallery folder, with the folders that only lose rows."""
    groups: dict[str, list[dict[str, Any]]] = {k: [] for k in drops}
    for r in picked:
        card = page_row(r, root, output)
        groups.setdefault(gallery_folder(card["n"], sharded), []).append(card)
    return groups


def refresh(results: Results) -> bool:
    """The gallery after forget.py without a run (the feed named only deletes): on the driver,
    the forgotten rows' folders and the index; the totals shown are the folders' (summary.json
    is the last run's). False, and nothing written, when there is no gallery of this layout."""
    catalogue = _read_json(results, CATALOGUE)
    store = results.store()
    if catalogue is None or catalogue.get("layout") != LAYOUT or not store.version(results.summary):
        return False
    from dataproc_faces.results.ledger import part_ids

    fields = json.loads(store.read(results.summary))
    summary = Summary(**{k: v for k, v in fields.items() if k in Summary.__dataclass_fields__})
    if catalogue.get("sharded") != (summary.inputs > TOP_LEVEL_ROWS):
        return False  # a full build needs the rows: the next run does it
    pids = sorted(part_ids(store, results.manifest))
    write_gallery(
        None, results, pids, summary, file_rows=catalogue["fileRows"],
        top_rows=catalogue["topRows"], rows=[], recount=True,
    )  # fmt: skip
    return True


def _merged(
    results: Results,
    folders: dict[str, dict[str, Any]],
    tops: Tops,
    changed: set[str],
    full: bool,
    top_rows: int,
    replaced: dict[str, dict[str, dict[str, Any]]] | None = None,
) -> Tops:
    """The global top lists: the changed folders' tops merged into the kept rest of the old
    lists, where cards `replaced` in place (folder key -> name -> card) take their places; made
    again from every folder's rows file when that cannot be exact (_exact: rare)."""
    old = None if full else _read_json(results, MERGED)
    if old is None or full:
        if full:
            return tops
        old = {"faces": [], "error": [], "complete": False}
    swap = replaced or {}
    kept = {
        name: [
            [kc[0], swap[kc[0]].get(kc[1]["n"], kc[1])] if kc[0] in swap else kc
            for kc in old.get(name, [])
            if kc[0] not in changed
        ]
        for name in tops
    }
    merged = merge_tops(kept, tops, top_rows)
    orders = _tops_order(top_rows)
    if old.get("complete", True) and all(
        _exact(old.get(name, []), merged[name], *orders[name]) for name in merged
    ):
        return merged
    merging = _Merging(top_rows)
    for key, entry in sorted(folders.items()):
        cards = [c for c in _stored_cards(results, entry["d"])[2] if c]
        merging.add(_folder_tops(key, _folder_views(cards), top_rows))
    return merging.result()


def _clear_stale(
    results: Results, folders: dict[str, dict[str, Any]], catalogue: dict[str, Any] | None
) -> None:
    """A full build: the folders no longer there, and an older layout's gallery/<view>/ files."""
    store = results.store()
    gone = [e["d"] for k, e in (catalogue or {}).get("folders", {}).items() if k not in folders]
    dirs = [results.in_gallery(FOLDERS_DIR, d) for d in gone]
    dirs += [results.in_gallery(view) for view in ALL_VIEWS]
    for folder in dirs:
        if store.exists(folder):
            for name in store.list_files(folder):
                store.delete(join(folder, name))


def _write_changed(results: Results, texts: list[str], had: list[str], *where: str) -> list[str]:
    """Page files `<where>/<n>.js` whose text changed since (digests `had`); the extra removed.
    Returns the new digests: an unchanged file is not written again."""
    store = results.store()
    digests = [_digest(t.encode()) for t in texts]
    for number, (text, digest) in enumerate(zip(texts, digests, strict=True), 1):
        if number > len(had) or had[number - 1] != digest:
            uri = results.in_gallery(*where, f"{number}.js")
            store.write(uri, text.encode(), "text/javascript")
    for number in range(len(texts) + 1, len(had) + 1):
        store.delete(results.in_gallery(*where, f"{number}.js"))
    return digests


def _finish(
    results: Results,
    summary: Summary,
    catalogue: dict[str, Any] | None,
    folders: dict[str, dict[str, Any]],
    merged: Tops,
    page_size: int,
    file_rows: int,
    top_rows: int,
    pids: list[str],
    notes: list[str],
    recount: bool = False,
) -> str:
    """The folder list, the merged view, the index, then the state that says what is done.
    `recount`: the index's totals from the folders (no run has counted them)."""
    old = catalogue or {}
    store = results.store()
    keys = sorted(folders)
    entries = [{"k": k, "d": folders[k]["d"], "c": folders[k]["c"]} for k in keys]
    chunks = [entries[i : i + LIST_ROWS] for i in range(0, len(entries), LIST_ROWS)]
    lists = _write_changed(
        results,
        [page_file(LIST_DIR, n, chunk) for n, chunk in enumerate(chunks, 1)],
        old.get("lists", []),
        LIST_DIR,
    )
    faces = [c for _, c in merged["faces"]]
    top_files = [faces[i : i + file_rows] for i in range(0, len(faces), file_rows)]
    old_merged = (_read_json(results, MERGED) or {}) if catalogue is not None else {}
    top_digests = _write_changed(
        results,
        [page_file(f"{TOP_DIR}/faces", n, rows) for n, rows in enumerate(top_files, 1)],
        old_merged.get("digests", []),
        TOP_DIR,
        "faces",
    )
    counts = dict.fromkeys([*ALL_VIEWS, "found"], 0)
    starts = []
    for chunk in chunks:
        starts.append(dict(counts))
        for e in chunk:
            counts = {v: counts[v] + e["c"].get(v, 0) for v in counts}
    errors = [c for _, c in merged["error"]]
    if recount:
        n, bad = counts["name"], counts["error"]
        summary = dataclasses.replace(
            summary, inputs=n, errors=bad, ok=n - bad, faces=counts["found"]
        )
    page = render(
        summary, counts, errors, page_size, file_rows,
        folders=entries[:FOLDERS_LISTED], folder_count=len(entries), starts=starts,
        top=len(faces),
    )  # fmt: skip
    _write_json(results, {**merged, "digests": top_digests, "complete": True}, MERGED)
    _write_json(
        results,
        {"layout": LAYOUT, "fileRows": file_rows, "topRows": top_rows, "folders": folders,
         "lists": lists, "sharded": summary.inputs > TOP_LEVEL_ROWS},
        CATALOGUE,
    )  # fmt: skip
    store.write(results.index, page.encode(), "text/html; charset=utf-8")
    _write_json(results, pids, FOLDED)
    for uri in notes:
        store.delete(uri)
    return results.index


def describe(uri: str) -> str:
    """The gallery's location for a person: local pages also as a file:// URL to click."""
    if is_remote(uri):
        return uri
    return f"{uri} ({Path(uri).resolve().as_uri()})"
