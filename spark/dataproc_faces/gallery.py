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
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .manifest import Summary
from .storage import is_remote, join

INDEX_FILE = "index.html"
PAGES_DIR = "gallery"
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
}


def relative_url(uri: str | None, output: str) -> str | None:
    """`uri` as a link relative to DST/index.html, or None if it does not lie under DST."""
    if not uri:
        return None
    root = output.rstrip("/") + "/"
    if not uri.startswith(root):
        return None
    rel = uri[len(root) :]
    return "/".join(quote(part, safe="") for part in rel.split("/"))


def display_name(path: str, input_root: str) -> str:
    """The input's path relative to the input folder: what a person recognises."""
    root = input_root.rstrip("/") + "/"
    return path[len(root) :] if input_root and path.startswith(root) else path


def page_row(r: dict[str, Any], input_root: str, output: str) -> dict[str, Any]:
    """The few fields a card needs, with short keys: the JSON is most of a page file's weight."""
    return {
        "n": display_name(r["path"], input_root),
        "s": r["status"],
        "f": len(r.get("faces") or []),
        "t": relative_url(r.get("thumbnail"), output),
        "o": relative_url(r.get("output"), output),
        "e": r.get("error"),
        "w": r.get("width"),
        "h": r.get("height"),
        "ms": r.get("millis"),
    }


def page_rows(rows: list[dict[str, Any]], summary: Summary, output: str) -> list[dict[str, Any]]:
    return [page_row(r, summary.input, output) for r in sorted(rows, key=lambda r: r["path"])]


def page_file(view: str, number: int, rows: list[dict[str, Any]]) -> str:
    """One page file: a call the index page's script answers; JSON escaped as in the page."""
    return f"galleryPage({script_json(view)},{number},{script_json(rows)});\n"


def page_uri(output: str, view: str, number: int) -> str:
    return join(join(join(output, PAGES_DIR), view), f"{number}.js")


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
        f'<dl class="stats">{tiles}</dl>{where}{_ignored_html(summary.ignored)}'
        f'<div class="detector"><span>detector</span> <strong>{_e(name)}</strong>'
        f'<dl class="options">{option_html}</dl></div>'
    )


def _ignored_html(ignored: dict[str, int] | None) -> str:
    """What the listing left out of the inputs, and why: no photo disappears without a word."""
    if not ignored:
        return ""
    from .storage import SKIP_REASONS

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
    "status": ("Status", [("all", "all"), ("ok", "ok"), ("error", "error")]),
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
        {"pageSize": page_size, "fileRows": file_rows, "counts": counts, "dir": PAGES_DIR}
    )
    csp = (
        "default-src 'none'; img-src 'self' file: data: https: http:; "
        f"style-src {_csp_hash(STYLE)}; script-src 'self' {_csp_hash(SCRIPT)}; "
        "base-uri 'none'; form-action 'none'"
    )
    title = f"Faces: {summary.faces} in {summary.inputs} image{'s' if summary.inputs != 1 else ''}"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{_e(csp)}">
<meta name="referrer" content="no-referrer">
<title>{_e(title)}</title>
<style>{STYLE}</style>
</head>
<body>
<header>
<h1>{_e(title)}</h1>
{_summary_html(summary)}
</header>
<main>
{_errors_html(errors, counts.get("error", 0))}
<section id="gallery" aria-label="images">
{_controls_html()}
<nav class="pager" aria-label="pages"></nav>
<div id="cards"></div>
<nav class="pager" aria-label="pages"></nav>
<noscript><p class="note">{NOSCRIPT}</p></noscript>
</section>
</main>
<script type="application/json" id="gallery-data">{data}</script>
<script>{SCRIPT}</script>
</body>
</html>
"""


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


def _write_page(
    output: str, protect: str, key: tuple[str, int], rows: Iterable[tuple[int, dict]]
) -> int:
    from .storage import store_for

    body = [r for _, r in sorted(rows, key=lambda x: x[0])]
    view, number = key
    data = page_file(view, number, body).encode()
    store = store_for(output, protect=[protect])
    store.write(page_uri(output, view, number), data, "text/javascript")
    return 1


def write_gallery(
    spark: Any,
    output: str,
    pids: list[str],
    summary: Summary,
    page_size: int = PAGE_SIZE,
    file_rows: int = FILE_ROWS,
) -> str:
    """Page files from the manifest parts on the executors, then DST/index.html from counts.

    The driver holds one count per view and partition and at most ERRORS_LISTED error rows.
    """
    from .ledger import read_rows
    from .storage import store_for

    sc = spark.sparkContext
    root = summary.input
    slices = max(1, min(len(pids), sc.defaultParallelism * 4))
    rows = (
        sc.parallelize(sorted(pids), slices)
        .mapPartitions(lambda p: read_rows(output, p))
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
        lambda kv: _write_page(output, root, kv[0], kv[1])
    ).sum()
    errors = by_name.filter(lambda r: r["s"] != "ok").take(ERRORS_LISTED)
    by_name.unpersist()
    uri = join(output, INDEX_FILE)
    page = render(summary, counts, errors, page_size, file_rows)
    store_for(output, protect=[root]).write(uri, page.encode(), "text/html; charset=utf-8")
    return uri


def describe(uri: str) -> str:
    """The gallery's location for a person: local pages also as a file:// URL to click."""
    if is_remote(uri):
        return uri
    return f"{uri} ({Path(uri).resolve().as_uri()})"


STYLE = """
:root{--bg:#f6f7f9;--fg:#1d2330;--muted:#667085;--card:#fff;--line:#e3e6eb;--accent:#1f7a4d;
--accent-bg:#e3f4ea;--bad:#b42318;--bad-bg:#fdecea;--none-bg:#eef0f3;--thumb:#e9ecf0;
color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--bg:#14171c;--fg:#e6e8eb;--muted:#98a2b3;--card:#1d2127;
--line:#2c323a;--accent:#6fd39b;--accent-bg:#1c3326;--bad:#ff8a80;--bad-bg:#3a1f1d;
--none-bg:#272c33;--thumb:#252a31}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.45 system-ui,-apple-system,
"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans","Liberation Sans",sans-serif}
header,main{max-width:1400px;margin:0 auto;padding:0 24px}
header{padding-top:28px}
h1{font-size:26px;margin:0 0 16px;font-weight:650;letter-spacing:-.01em}
h2{font-size:17px;margin:0 0 10px}
code{font:13px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;
word-break:break-all}
.stats{display:grid;grid-template-columns:repeat(auto-fit,minmax(140px,1fr));gap:12px;margin:0}
.stat{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px 16px;
display:flex;flex-direction:column-reverse}
.stat dd{margin:0;font-size:24px;font-weight:650;font-variant-numeric:tabular-nums}
.stat dt{color:var(--muted);font-size:13px}
.stat.bad dd{color:var(--bad)}
.where{color:var(--muted);margin:14px 0 8px}
.where span{font-size:13px}
.detector{display:flex;flex-wrap:wrap;align-items:baseline;gap:6px 10px;margin:0 0 20px;
color:var(--muted);font-size:13px}
.detector strong{color:var(--fg);font-size:15px;margin-right:4px}
.options{display:contents}
.options div{display:flex;gap:5px;background:var(--card);border:1px solid var(--line);
border-radius:999px;padding:1px 10px}
.options dd{margin:0;color:var(--fg);font-variant-numeric:tabular-nums}
#errors{background:var(--bad-bg);border:1px solid var(--bad);border-radius:10px;
padding:14px 18px;margin:0 0 20px}
#errors h2{color:var(--bad)}
.errors{list-style:none;margin:0;padding:0;max-height:16em;overflow:auto}
.errors li{display:flex;flex-wrap:wrap;gap:4px 12px;padding:4px 0;border-top:1px solid
color-mix(in srgb,var(--bad) 20%,transparent)}
.errors li:first-child{border-top:0}
.errors .msg{color:var(--fg)}
#controls{display:flex;flex-wrap:wrap;align-items:end;gap:10px 16px;padding:12px 16px;
background:var(--card);border:1px solid var(--line);border-radius:10px;position:sticky;top:0;
z-index:1}
#controls label{display:flex;flex-direction:column;font-size:12px;color:var(--muted);gap:3px}
#controls label.grow{flex:1 1 180px}
select,input{font:inherit;font-size:14px;padding:5px 8px;border:1px solid var(--line);
border-radius:6px;background:var(--bg);color:var(--fg)}
#shown{color:var(--muted);font-size:13px;margin-left:auto;align-self:center}
.pager{display:flex;justify-content:center;align-items:center;gap:12px;margin:16px 0}
.pager:empty{display:none}
#cards{margin:16px 0 32px}
.pager button{font:inherit;font-size:14px;padding:5px 14px;border:1px solid var(--line);
border-radius:6px;background:var(--card);color:var(--fg);cursor:pointer}
.pager button:disabled{opacity:.4;cursor:default}
.pager span{color:var(--muted);font-size:14px}
#cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));gap:16px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;overflow:hidden;
display:flex;flex-direction:column;min-width:0}
.card.error{border-color:var(--bad)}
.thumb{display:flex;align-items:center;justify-content:center;aspect-ratio:4/3;
background:var(--thumb);overflow:hidden}
.thumb img{width:100%;height:100%;object-fit:contain;display:block}
a.thumb:hover img{opacity:.9}
.thumb.broken{color:var(--bad);font-size:34px;font-weight:700;background:var(--bad-bg)}
.meta{display:flex;align-items:center;gap:8px;padding:9px 11px 4px}
.name{flex:1;min-width:0;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;
font-size:13px}
.badge{flex:none;font-size:12px;font-weight:600;padding:2px 8px;border-radius:999px;
background:var(--accent-bg);color:var(--accent);font-variant-numeric:tabular-nums}
.badge.zero{background:var(--none-bg);color:var(--muted)}
.badge.err{background:var(--bad-bg);color:var(--bad)}
.sub{padding:0 11px 10px;font-size:12px;color:var(--muted)}
.card .msg{color:var(--bad);word-break:break-word}
.note,.empty{color:var(--muted);text-align:center;padding:30px}
"""

SCRIPT = """
"use strict";
(() => {
  const data = JSON.parse(document.getElementById("gallery-data").textContent);
  const counts = data.counts, pageSize = data.pageSize, fileRows = data.fileRows;
  const ui = {
    status: document.getElementById("f-status"), faces: document.getElementById("f-faces"),
    sort: document.getElementById("f-sort"), q: document.getElementById("f-q"),
    shown: document.getElementById("shown"), cards: document.getElementById("cards"),
    pagers: document.querySelectorAll(".pager"),
  };
  const total = counts.name;
  // Page files call galleryPage(view, n, rows); a script element loads them, from disk too.
  const files = new Map(), waiting = new Map();
  window.galleryPage = (view, n, rows) => {
    const key = view + "/" + n;
    files.set(key, rows);
    (waiting.get(key) || []).forEach(w => w.ok(rows));
    waiting.delete(key);
  };
  function load(view, n) {
    const key = view + "/" + n;
    if (files.has(key)) return Promise.resolve(files.get(key));
    return new Promise((ok, fail) => {
      if (!waiting.has(key)) {
        waiting.set(key, []);
        const s = document.createElement("script");
        s.setAttribute("src", data.dir + "/" + view + "/" + n + ".js");
        s.addEventListener("error", () => {
          (waiting.get(key) || []).forEach(w => w.fail(new Error("cannot load " + key)));
          waiting.delete(key);
        });
        document.head.appendChild(s);
      }
      waiting.get(key).push({ok, fail});
    });
  }
  // Rows [start, end) of one view, from the one or two page files that hold them.
  async function slice(view, start, end) {
    const out = [];
    for (let n = Math.floor(start / fileRows) + 1; (n - 1) * fileRows < end; n++) {
      const rows = await load(view, n), base = (n - 1) * fileRows;
      out.push(...rows.slice(Math.max(0, start - base), Math.max(0, end - base)));
    }
    return out;
  }
  // What the filters and sort select: consecutive segments [view, first, count].
  function segments() {
    const status = ui.status.value, faces = ui.faces.value, sort = ui.sort.value;
    if (faces !== "any") {
      if (status === "error") return [];
      if (faces === "none") return [["none", 0, counts.none]];
      return sort === "faces-desc" ? [["faces", 0, counts[faces]]] : [[faces, 0, counts[faces]]];
    }
    if (status === "error") return [["error", 0, counts.error]];
    if (status === "ok") {
      return sort === "faces-desc" ? [["faces", 0, counts.ok]] : [["ok", 0, counts.ok]];
    }
    if (sort === "faces-desc") return [["faces", 0, total]];
    if (sort === "status") return [["error", 0, counts.error], ["ok", 0, counts.ok]];
    return [["name", 0, total]];
  }
  async function pick(segs, start, end) {
    const out = [];
    let at = 0;
    for (const [view, first, count] of segs) {
      const lo = Math.max(start, at), hi = Math.min(end, at + count);
      if (lo < hi) out.push(...await slice(view, first + lo - at, first + hi - at));
      at += count;
    }
    return out;
  }
  let page = 1;

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }
  const plural = (n, word) => n + " " + word + (n === 1 ? "" : "s");

  function card(r) {
    const ok = r.s === "ok";
    const c = el("article", "card " + (ok ? "ok" : "error"));
    c.dataset.status = r.s;
    c.dataset.faces = String(r.f);
    c.dataset.name = r.n;
    let thumb;
    if (ok) {
      thumb = el(r.o ? "a" : "div", "thumb");
      if (r.o) { thumb.setAttribute("href", r.o); thumb.setAttribute("title", "open " + r.n); }
      if (r.t) {
        const img = el("img");
        img.setAttribute("loading", "lazy");
        img.setAttribute("decoding", "async");
        img.setAttribute("alt", r.n);
        img.setAttribute("src", r.t);
        thumb.appendChild(img);
      }
    } else {
      thumb = el("div", "thumb broken", "!");
      thumb.setAttribute("aria-hidden", "true");
    }
    c.appendChild(thumb);
    const meta = el("div", "meta");
    const label = el("span", "name", r.n);
    label.setAttribute("title", r.n);
    meta.appendChild(label);
    meta.appendChild(ok
      ? el("span", "badge" + (r.f ? "" : " zero"), r.f ? plural(r.f, "face") : "no faces")
      : el("span", "badge err", "error"));
    c.appendChild(meta);
    const sub = el("div", "sub");
    if (ok) sub.textContent = (r.w && r.h ? r.w + "\\u00d7" + r.h + " \\u00b7 " : "")
      + (r.ms != null ? Math.round(r.ms) + " ms" : "");
    else sub.appendChild(el("span", "msg", r.e || "failed"));
    if (ok && r.o) {  // the output image itself, saved rather than opened
      const save = el("a", "save", "download");
      save.setAttribute("href", r.o);
      save.setAttribute("download", "");
      sub.append(" \\u00b7 ", save);
    }
    c.appendChild(sub);
    return c;
  }

  function readHash() {
    const p = new URLSearchParams(location.hash.slice(1));
    for (const key of ["status", "faces", "sort"]) {
      const v = p.get(key), select = ui[key];
      if (v && [...select.options].some(o => o.value === v)) select.value = v;
    }
    ui.q.value = p.get("q") || "";
    page = Math.max(1, parseInt(p.get("page") || "1", 10) || 1);
  }

  function writeHash() {
    const p = new URLSearchParams();
    if (ui.status.value !== "all") p.set("status", ui.status.value);
    if (ui.faces.value !== "any") p.set("faces", ui.faces.value);
    if (ui.sort.value !== "name") p.set("sort", ui.sort.value);
    if (ui.q.value) p.set("q", ui.q.value);
    if (page > 1) p.set("page", String(page));
    const hash = p.toString();
    try { history.replaceState(null, "", hash ? "#" + hash : location.pathname + location.search); }
    catch (e) { /* some file:// setups refuse; the page works without */ }
  }

  function pager(nav, pages) {
    nav.replaceChildren();
    if (pages <= 1) return;
    const prev = el("button", "", "\\u2190 previous"), next = el("button", "", "next \\u2192");
    prev.type = next.type = "button";
    prev.disabled = page <= 1;
    next.disabled = page >= pages;
    prev.addEventListener("click", () => go(page - 1));
    next.addEventListener("click", () => go(page + 1));
    nav.append(prev, el("span", "", "page " + page + " of " + pages), next);
  }

  function go(n) {
    page = n;
    render();
    ui.cards.scrollIntoView({block: "start"});
  }

  let drawn = 0;
  async function render() {
    const ticket = ++drawn;
    document.body.dataset.ready = "0";
    const segs = segments();
    const matched = segs.reduce((n, s) => n + s[2], 0);
    const pages = Math.max(1, Math.ceil(matched / pageSize));
    page = Math.min(page, pages);
    let rows;
    try {
      rows = await pick(segs, (page - 1) * pageSize, page * pageSize);
    } catch (e) {
      if (ticket !== drawn) return;
      ui.cards.replaceChildren(el("p", "empty", "This page could not be loaded: " + e.message));
      document.body.dataset.ready = "1";
      return;
    }
    if (ticket !== drawn) return;  // a newer choice was made while this page loaded
    const q = ui.q.value.trim().toLowerCase();
    const shownRows = q ? rows.filter(r => r.n.toLowerCase().includes(q)) : rows;
    ui.cards.replaceChildren(...shownRows.map(card));
    if (!shownRows.length) ui.cards.appendChild(el("p", "empty", "No images match."));
    ui.shown.textContent = matched === total
      ? plural(total, "image") : matched + " of " + plural(total, "image");
    ui.pagers.forEach(nav => pager(nav, pages));
    writeHash();
    document.body.dataset.page = String(page);
    document.body.dataset.pages = String(pages);
    document.body.dataset.ready = "1";
  }

  for (const key of ["status", "faces", "sort"]) {
    ui[key].addEventListener("change", () => { page = 1; render(); });
  }
  ui.q.addEventListener("input", () => { page = 1; render(); });
  document.getElementById("controls").addEventListener("submit", e => e.preventDefault());
  window.addEventListener("hashchange", () => { readHash(); render(); });
  readHash();
  render();
})();
"""
