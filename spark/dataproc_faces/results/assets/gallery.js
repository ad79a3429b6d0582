
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
    // "needs a look" is its own view, by name: the faces and sort choices do not apply
    if (status === "review") return [["review", 0, counts.review || 0]];
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
      if (r.v && r.o) {  // a video plays in its card, its poster frame shown until then
        thumb = el("div", "thumb");
        const video = el("video");
        video.setAttribute("controls", "");
        video.setAttribute("preload", "none");
        video.setAttribute("src", r.o);
        if (r.t) video.setAttribute("poster", r.t);
        video.setAttribute("aria-label", r.n);
        thumb.appendChild(video);
      } else if (r.t || r.o) {  // no thumbnail (--no-thumbnails): the browser scales the output
        const img = el("img");
        img.setAttribute("loading", "lazy");
        img.setAttribute("decoding", "async");
        img.setAttribute("alt", r.n);
        img.setAttribute("src", r.t || r.o);
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
    if (r.r && r.r.length) {  // why a person should look at this photo first
      c.dataset.review = r.r.join(" ");
      c.appendChild(el("div", "look", "look: " + r.r.join(", ")));
    }
    const sub = el("div", "sub");
    if (ok) sub.textContent = (r.w && r.h ? r.w + "\u00d7" + r.h + " \u00b7 " : "")
      + (r.ms != null ? Math.round(r.ms) + " ms" : "");
    else sub.appendChild(el("span", "msg", r.e || "failed"));
    if (ok && r.o) {  // the output image itself, saved rather than opened
      const save = el("a", "save", "download");
      save.setAttribute("href", r.o);
      save.setAttribute("download", "");
      sub.append(" \u00b7 ", save);
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
    const prev = el("button", "", "\u2190 previous"), next = el("button", "", "next \u2192");
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
    ui.faces.disabled = ui.sort.disabled = ui.status.value === "review";
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
