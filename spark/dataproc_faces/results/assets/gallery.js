
"use strict";
(() => {
  const data = JSON.parse(document.getElementById("gallery-data").textContent);
  const pageSize = data.pageSize, fileRows = data.fileRows, listRows = data.listRows;
  const starts = data.starts || [];
  const ui = {
    status: document.getElementById("f-status"), faces: document.getElementById("f-faces"),
    sort: document.getElementById("f-sort"), q: document.getElementById("f-q"),
    shown: document.getElementById("shown"), cards: document.getElementById("cards"),
    pagers: document.querySelectorAll("#gallery .pager"),
    chosen: document.getElementById("folder-chosen"), all: document.getElementById("f-all"),
    folderRows: document.querySelector("#folders tbody"),
    folderPager: document.getElementById("folder-pager"),
  };
  const total = data.counts.name;
  const SAFE = /^[A-Za-z0-9_-]+$/;  // a folder's directory (gallery.folder_dir); else refused
  // a flat bucket's hashed shard (a real folder's key has no "/"), as gallery.folder_label says
  const label = k => k === "_top/all" ? "top level"
    : k.includes("/") ? "top level, part " + k.slice(k.indexOf("/") + 1) : k;
  // Page files call galleryPage(key, n, rows); a script element loads them, from disk too.
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
        const path = view.split("/").map(encodeURIComponent).join("/");
        s.setAttribute("src", data.dir + "/" + path + "/" + n + ".js");
        s.addEventListener("error", () => {
          (waiting.get(key) || []).forEach(w => w.fail(new Error("cannot load " + key)));
          waiting.delete(key);
        });
        document.head.appendChild(s);
      }
      waiting.get(key).push({ok, fail});
    });
  }
  function folderKey(d, view) {
    if (!SAFE.test(d)) throw new Error("a folder entry names no folder");
    return "folders/" + d + "/" + view;
  }
  // Rows [start, end) of one view's own files (a folder's view, or the merged top list).
  async function slice(key, start, end) {
    const parts = [];
    for (let n = Math.floor(start / fileRows) + 1; (n - 1) * fileRows < end; n++) {
      const base = (n - 1) * fileRows;
      parts.push(load(key, n).then(rows =>
        rows.slice(Math.max(0, start - base), Math.max(0, end - base))));
    }
    return (await Promise.all(parts)).flat();
  }
  // Rows [start, end) of a view over every folder: the folders' own views one after the other
  // (folders by name); the folder-list files say how many rows each folder has in each view.
  async function across(view, start, end) {
    let f = 0;
    while (f + 1 < starts.length && starts[f + 1][view] <= start) f++;
    const parts = [];
    for (; f < starts.length && starts[f][view] < end; f++) {
      let at = starts[f][view];
      for (const e of await load("list", f + 1)) {
        const n = e.c[view] || 0, lo = Math.max(start, at), hi = Math.min(end, at + n);
        if (lo < hi) parts.push(slice(folderKey(e.d, view), lo - at, hi - at));
        at += n;
        if (at >= end) break;
      }
    }
    return (await Promise.all(parts)).flat();
  }
  let folder = null, wanted = null;  // the chosen folder's list entry; the hash's choice
  async function findFolder(d, i) {
    const at = Number.isInteger(i) && i >= 0 && i < data.folders ? i : -1;
    if (at >= 0) {
      const e = (await load("list", Math.floor(at / listRows) + 1))[at % listRows];
      if (e && e.d === d) return {...e, i: at};
    }
    for (let f = 1; (f - 1) * listRows < data.folders; f++) {  // a bookmark from before a change
      const rows = await load("list", f), j = rows.findIndex(e => e.d === d);
      if (j >= 0) return {...rows[j], i: (f - 1) * listRows + j};
    }
    return null;
  }
  // What the filters and sort select: consecutive segments [source, first, count]; a source
  // is a view over every folder ({all}), or one set of page files ({key}). Over every folder,
  // "most faces" is the merged top list (data.top rows); in one folder, all its rows.
  function segments() {
    const counts = folder ? folder.c : data.counts;
    const status = ui.status.value, faces = ui.faces.value, sort = ui.sort.value;
    const view = v => folder ? {key: folderKey(folder.d, v)} : {all: v};
    const most = n => folder ? [{key: folderKey(folder.d, "faces")}, 0, n]
      : [{key: "top/faces"}, 0, Math.min(n, data.top), n];  // [.., wanted]: past the top
    // "needs a look" is its own view, by name: the faces and sort choices do not apply
    if (status === "review") return [[view("review"), 0, counts.review || 0]];
    if (faces !== "any") {
      if (status === "error") return [];
      if (faces === "none") return [[view("none"), 0, counts.none]];
      return sort === "faces-desc" ? [most(counts[faces])] : [[view(faces), 0, counts[faces]]];
    }
    if (status === "error") return [[view("error"), 0, counts.error]];
    if (status === "ok") {
      return sort === "faces-desc" ? [most(counts.ok)] : [[view("ok"), 0, counts.ok]];
    }
    if (sort === "faces-desc") return [most(counts.name)];
    if (sort === "status") return [[view("error"), 0, counts.error], [view("ok"), 0, counts.ok]];
    return [[view("name"), 0, counts.name]];
  }
  async function pick(segs, start, end) {
    const out = [];
    let at = 0;
    for (const [source, first, count] of segs) {
      const lo = Math.max(start, at), hi = Math.min(end, at + count);
      if (lo < hi) {
        out.push(...await (source.all ? across(source.all, first + lo - at, first + hi - at)
          : slice(source.key, first + lo - at, first + hi - at)));
      }
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
    const d = p.get("folder");
    wanted = d && SAFE.test(d) ? {d, i: parseInt(p.get("fi") || "-1", 10)} : null;
  }

  function writeHash() {
    const p = new URLSearchParams();
    if (folder) { p.set("folder", folder.d); p.set("fi", String(folder.i)); }
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
    if (!wanted) folder = null;
    else if (!folder || folder.d !== wanted.d) {
      try { folder = await findFolder(wanted.d, wanted.i); } catch (e) { folder = null; }
      if (ticket !== drawn) return;
      if (!folder) wanted = null;
    }
    ui.chosen.hidden = !folder;
    ui.chosen.querySelector("strong").textContent = folder ? label(folder.k) : "";
    document.body.dataset.folder = folder ? folder.k : "";
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
    const whole = folder ? folder.c.name : total;
    const wanting = segs.reduce((n, s) => n + (s.length > 3 ? s[3] : s[2]), 0);
    ui.shown.textContent = (matched === whole ? plural(whole, "image")
      : matched + " of " + plural(whole, "image"))
      + (wanting > matched ? " (the " + matched + " with most faces of " + wanting + ")" : "")
      + (folder ? " in this folder" : "");
    ui.pagers.forEach(nav => pager(nav, pages));
    writeHash();
    document.body.dataset.page = String(page);
    document.body.dataset.pages = String(pages);
    document.body.dataset.ready = "1";
  }

  // The folder table: the index holds the first data.listed folders; the rest from list files.
  let folderPage = 1;
  async function drawFolders() {
    if (!ui.folderRows) return;
    const pages = Math.ceil(data.folders / data.listed);
    const first = (folderPage - 1) * data.listed;
    const last = Math.min(data.folders, first + data.listed);
    if (folderPage > 1 || ui.folderRows.dataset.drawn) {
      const rows = [];
      for (let i = first; i < last; i++) {
        const e = (await load("list", Math.floor(i / listRows) + 1))[i % listRows];
        if (!e || !SAFE.test(e.d)) continue;
        const tr = el("tr"), td = el("td"), a = el("a", "", label(e.k));
        tr.dataset.folder = e.d;
        a.setAttribute("href", "#folder=" + e.d + "&fi=" + i);
        td.appendChild(a);
        tr.appendChild(td);
        for (const v of ["name", "found", "error", "review"]) {
          tr.appendChild(el("td", "", String(e.c[v] || 0)));
        }
        rows.push(tr);
      }
      ui.folderRows.replaceChildren(...rows);
      ui.folderRows.dataset.drawn = "1";
    }
    ui.folderPager.replaceChildren();
    document.body.dataset.folderPage = String(folderPage);
    if (pages <= 1) return;
    const prev = el("button", "", "\u2190 folders"), next = el("button", "", "folders \u2192");
    prev.type = next.type = "button";
    prev.disabled = folderPage <= 1;
    next.disabled = folderPage >= pages;
    prev.addEventListener("click", () => { folderPage--; drawFolders(); });
    next.addEventListener("click", () => { folderPage++; drawFolders(); });
    ui.folderPager.append(
      prev, el("span", "", (first + 1) + "\u2013" + last + " of " + data.folders), next);
  }
  if (ui.all) ui.all.addEventListener("click", () => { wanted = null; page = 1; render(); });
  drawFolders();

  for (const key of ["status", "faces", "sort"]) {
    ui[key].addEventListener("change", () => { page = 1; render(); });
  }
  ui.q.addEventListener("input", () => { page = 1; render(); });
  document.getElementById("controls").addEventListener("submit", e => e.preventDefault());
  window.addEventListener("hashchange", () => { readHash(); render(); });
  readHash();
  render();
})();
