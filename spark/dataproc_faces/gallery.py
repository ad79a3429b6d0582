"""DST/index.html: one static page to look at a run's outlined faces, from disk or from a bucket.

Why one page with the rows embedded as JSON and drawn in the browser, 100 cards a page: it is a
single object to write through the Store (no page files to keep in step with the manifest), it
sorts and filters across every row instantly with no server, and it stays light because the
heavy part, the images, are the job's 320-px thumbnails loaded lazily, only for the visible page.
About 150 bytes of JSON per input: 10,000 inputs make a page of about 1.5 MB.

Safety: file names are data, never markup. Server-side text goes through `html.escape`, the JSON
block has every `<`, `>` and `&` written as a \\u escape (so no `</script>` or `<!--` can end it),
the script builds cards with `textContent` and `setAttribute` only, links are relative URLs
percent-encoded segment by segment, and a Content-Security-Policy admits only this page's own
script and style (by hash), so even an escaping slip could not run injected code.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .manifest import Summary
from .storage import Store, is_remote, join

INDEX_FILE = "index.html"
PAGE_SIZE = 100


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


def page_rows(rows: list[dict[str, Any]], summary: Summary, output: str) -> list[dict[str, Any]]:
    """The few fields the page needs, with short keys: the JSON is most of the page's weight."""
    out = []
    for r in sorted(rows, key=lambda r: r["path"]):
        out.append(
            {
                "n": display_name(r["path"], summary.input),
                "s": r["status"],
                "f": len(r.get("faces") or []),
                "t": relative_url(r.get("thumbnail"), output),
                "o": relative_url(r.get("output"), output),
                "e": r.get("error"),
                "w": r.get("width"),
                "h": r.get("height"),
                "ms": r.get("millis"),
            }
        )
    return out


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
        f'<dl class="stats">{tiles}</dl>{where}'
        f'<div class="detector"><span>detector</span> <strong>{_e(name)}</strong>'
        f'<dl class="options">{option_html}</dl></div>'
    )


def _errors_html(page: list[dict[str, Any]]) -> str:
    errors = [r for r in page if r["s"] != "ok"]
    if not errors:
        return ""
    items = "".join(
        f'<li><code class="path">{_e(r["n"])}</code><span class="msg">{_e(r["e"] or "")}</span>'
        "</li>"
        for r in errors
    )
    return (
        f'<section id="errors" aria-labelledby="errors-title"><h2 id="errors-title">'
        f"{len(errors)} input{'s' if len(errors) != 1 else ''} failed</h2>"
        f'<ul class="errors">{items}</ul></section>'
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
            ("faces-asc", "fewest faces"),
            ("status", "errors first"),
            ("slowest", "slowest"),
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
        '<input id="f-q" type="search" placeholder="filter by name" autocomplete="off"></label>'
        '<output id="shown" aria-live="polite"></output></form>'
    )


def render(
    rows: list[dict[str, Any]], summary: Summary, output: str, page_size: int = PAGE_SIZE
) -> str:
    """The whole page as text; pure, so tests need neither Spark nor a Store."""
    page = page_rows(rows, summary, output)
    data = script_json({"pageSize": page_size, "rows": page})
    csp = (
        "default-src 'none'; img-src 'self' file: data: https: http:; "
        f"style-src {_csp_hash(STYLE)}; script-src {_csp_hash(SCRIPT)}; "
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
{_errors_html(page)}
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


def write_gallery(store: Store, output: str, rows: list[dict[str, Any]], summary: Summary) -> str:
    """Write DST/index.html through the Store (local folder or bucket); returns its path or URI."""
    uri = join(output, INDEX_FILE)
    store.write(uri, render(rows, summary, output).encode(), "text/html; charset=utf-8")
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
  const rows = data.rows, pageSize = data.pageSize;
  const ui = {
    status: document.getElementById("f-status"), faces: document.getElementById("f-faces"),
    sort: document.getElementById("f-sort"), q: document.getElementById("f-q"),
    shown: document.getElementById("shown"), cards: document.getElementById("cards"),
    pagers: document.querySelectorAll(".pager"),
  };
  const byName = new Intl.Collator(undefined, {numeric: true, sensitivity: "base"});
  const name = (a, b) => byName.compare(a.n, b.n);
  const FACES = {
    any: () => true, none: r => r.s === "ok" && r.f === 0, some: r => r.f >= 1,
    two: r => r.f >= 2, five: r => r.f >= 5,
  };
  const SORTS = {
    name, "faces-desc": (a, b) => b.f - a.f || name(a, b),
    "faces-asc": (a, b) => a.f - b.f || name(a, b),
    status: (a, b) => (a.s === b.s ? 0 : a.s === "ok" ? 1 : -1) || name(a, b),
    slowest: (a, b) => (b.ms || 0) - (a.ms || 0) || name(a, b),
  };
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

  function render() {
    const q = ui.q.value.trim().toLowerCase();
    const status = ui.status.value, faces = FACES[ui.faces.value] || FACES.any;
    const picked = rows.filter(r => (status === "all" || r.s === status) && faces(r)
      && (!q || r.n.toLowerCase().includes(q)));
    picked.sort(SORTS[ui.sort.value] || name);
    const pages = Math.max(1, Math.ceil(picked.length / pageSize));
    page = Math.min(page, pages);
    const slice = picked.slice((page - 1) * pageSize, page * pageSize);
    ui.cards.replaceChildren(...slice.map(card));
    if (!picked.length) ui.cards.appendChild(el("p", "empty", "No images match."));
    ui.shown.textContent = picked.length === rows.length
      ? plural(rows.length, "image") : picked.length + " of " + plural(rows.length, "image");
    ui.pagers.forEach(nav => pager(nav, pages));
    writeHash();
    document.body.dataset.page = String(page);
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
