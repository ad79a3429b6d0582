// The review view: a run's photos (needing a look first) with their hidden regions as boxes; a
// person adds a box (drag, or the keys), deletes a false find, marks a photo reviewed, and
// applies: the changed photos go to the server, which checks every box and starts a run.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const REASON_TEXT = {
  weak: "uncertain finds", small: "small faces", many: "many finds",
  large: "a large find", corrected: "corrected by a person",
};

const key = (b) => `${b.x},${b.y},${b.w},${b.h}`;
const sameBoxes = (a, b) => JSON.stringify(a.map(key).sort()) === JSON.stringify(b.map(key).sort());

function setUpReview(section) {
  const $ = (id) => section.querySelector("#" + id);
  const state = { photos: [], index: 0, selected: null, original: false, minBox: 4, maxBoxes: 200 };
  let drag = null;

  const photo = () => state.photos[state.index];
  const changed = (p) => !sameBoxes(p.add, p.saved.add || []) ||
    !sameBoxes(p.remove, p.saved.remove || []) || p.reviewed !== !!p.saved.reviewed;

  function counter() {
    const reviewed = state.photos.filter((p) => p.reviewed).length;
    const toLook = state.photos.filter((p) => p.reasons.length && !p.reviewed).length;
    const pending = state.photos.filter(changed).length;
    $("counter").textContent = `${reviewed} reviewed / ${toLook} to review · ` +
      `${state.photos.length} photos · ${pending} changed, not applied`;
  }

  // The boxes of the current photo: found (detector), person (added), removed (not hidden).
  function boxes(p) {
    const list = [];
    const removed = new Set(p.remove.map(key));
    p.faces.filter((f) => f.by !== "person").forEach((f) => {
      list.push({ ...f, kind: removed.has(key(f)) ? "removed" : (f.weak ? "weak" : "found") });
    });
    const shown = new Set(list.map(key));
    p.remove.filter((r) => !shown.has(key(r))).forEach((r) => list.push({ ...r, kind: "removed" }));
    p.add.forEach((a, i) => list.push({ ...a, kind: "person", index: i }));
    return list;
  }

  const WHAT = {
    found: "found by the detector, hidden", weak: "found on weak evidence (uncertain), hidden",
    person: "placed by you, hidden", removed: "deleted: not a face, not hidden",
  };

  function draw(focusSelected = false) {
    const p = photo(), svg = $("boxes");
    const hadFocus = svg.contains(document.activeElement);
    svg.setAttribute("viewBox", `0 0 ${p.width} ${p.height}`);
    svg.replaceChildren();
    const stroke = Math.max(2, Math.round(Math.max(p.width, p.height) / 300));
    boxes(p).forEach((b, n) => {
      const g = document.createElementNS(SVG, "g");
      const r = document.createElementNS(SVG, "rect");
      for (const [k, v] of Object.entries({ x: b.x, y: b.y, width: b.w, height: b.h })) r.setAttribute(k, v);
      r.setAttribute("stroke-width", stroke);
      g.append(r);
      if (b.kind === "weak") {
        const t = document.createElementNS(SVG, "text");
        t.setAttribute("x", b.x + stroke);
        t.setAttribute("y", Math.max(b.y - stroke, stroke * 6));
        t.setAttribute("font-size", Math.max(12, stroke * 7));
        t.textContent = "?";
        g.append(t);
      }
      g.setAttribute("class", `box ${b.kind}` + (state.selected === key(b) ? " selected" : ""));
      g.setAttribute("tabindex", "0");
      g.setAttribute("role", "button");
      g.setAttribute("aria-pressed", state.selected === key(b) ? "true" : "false");
      g.setAttribute("aria-label", `Box ${n + 1}: ${WHAT[b.kind]}, at ${b.x}, ${b.y}, ` +
        `${b.w} by ${b.h} pixels`);
      g.dataset.key = key(b);
      g.addEventListener("focus", () => select(key(b), false));
      svg.append(g);
    });
    const sel = boxes(p).find((b) => key(b) === state.selected);
    $("delete-box").disabled = !sel;
    $("delete-box").textContent = sel && sel.kind === "removed" ? "Restore the selected find"
      : "Delete the selected box";
    if (sel && (hadFocus || focusSelected)) svg.querySelector(`g[data-key="${state.selected}"]`)?.focus();
    $("box-status").textContent = sel ? `Selected: ${WHAT[sel.kind]}, ${sel.w} by ${sel.h} pixels at ` +
      `${sel.x}, ${sel.y}.` : `${boxes(p).length} boxes. Drag on the photo to draw one.`;
    counter();
  }

  function select(k, refocus = true) {
    if (state.selected === k) return;
    state.selected = k;
    draw(refocus);
  }

  function show(index) {
    const hadFocus = $("boxes").contains(document.activeElement);
    state.index = (index + state.photos.length) % state.photos.length;
    state.selected = null;
    const p = photo();
    $("viewer").hidden = false;
    $("photo-name").textContent = `${state.index + 1} of ${state.photos.length}: ${p.path}`;
    $("photo-reasons").textContent = p.reasons.length
      ? "Needs a look: " + p.reasons.map((r) => REASON_TEXT[r] || r).join(", ") + "."
      : "Nothing flagged.";
    $("photo").alt = `${state.original ? "Original" : "Output"} of ${p.path}`;
    $("photo").src = state.original ? p.original : p.image;
    $("toggle").textContent = state.original ? "Show the output" : "Show the original";
    $("toggle").setAttribute("aria-pressed", state.original ? "true" : "false");
    $("mark-reviewed").textContent = p.reviewed ? "Reviewed ✓ (undo)" : "Mark reviewed";
    $("mark-reviewed").setAttribute("aria-pressed", p.reviewed ? "true" : "false");
    for (const [i, li] of [...$("photo-list").children].entries()) {
      li.querySelector("button").setAttribute("aria-current", i === state.index ? "true" : "false");
    }
    draw();
    if (hadFocus && !state.selected) $("stage").focus(); // the focused box is gone with its photo
  }

  function listItem(p, i) {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.className = p.reasons.length ? "needs-look" : "";
    b.textContent = p.path + (p.reasons.length ? ` (${p.reasons.map((r) => REASON_TEXT[r] || r).join(", ")})` : "");
    b.addEventListener("click", () => show(i));
    li.append(b);
    return li;
  }

  function markList() {
    [...$("photo-list").children].forEach((li, i) => {
      const p = state.photos[i];
      li.classList.toggle("reviewed", p.reviewed);
      li.classList.toggle("changed", changed(p));
    });
  }

  function edit(fn) {
    fn(photo());
    markList();
    draw();
  }

  function clamp(b, p) {
    const w = Math.max(state.minBox, Math.min(b.w, p.width)), h = Math.max(state.minBox, Math.min(b.h, p.height));
    return { x: Math.min(Math.max(0, b.x), p.width - w), y: Math.min(Math.max(0, b.y), p.height - h), w, h };
  }

  function addBox(b) {
    const p = photo();
    if (p.add.length >= state.maxBoxes) {
      $("box-status").textContent = `At most ${state.maxBoxes} boxes a photo.`;
      return;
    }
    const box = clamp(b, p);
    state.selected = key(box);
    edit((q) => q.add.push(box));
    draw(true);
  }

  function deleteSelected() {
    const p = photo(), sel = boxes(p).find((b) => key(b) === state.selected);
    if (!sel) return;
    edit((q) => {
      if (sel.kind === "person") q.add.splice(sel.index, 1);
      else if (sel.kind === "removed") q.remove = q.remove.filter((r) => key(r) !== key(sel));
      else q.remove.push({ x: sel.x, y: sel.y, w: sel.w, h: sel.h });
    });
    state.selected = sel.kind === "person" ? null : key(sel);
    draw(true);
    if (!state.selected) $("stage").focus();
  }

  function moveSelected(dx, dy, grow) {
    const p = photo(), sel = boxes(p).find((b) => key(b) === state.selected);
    if (!sel || sel.kind !== "person") {
      $("box-status").textContent = "Only boxes you placed move; select one, or press a to add one.";
      return;
    }
    const b = { ...p.add[sel.index] };
    if (grow) { b.w += dx; b.h += dy; } else { b.x += dx; b.y += dy; }
    const box = clamp(b, p);
    state.selected = key(box);
    edit((q) => { q.add[sel.index] = box; });
    draw(true);
  }

  // Pointer: drag on the photo draws a box; a press on a box selects it.
  const svg = $("boxes");
  const toImage = (event) => {
    const r = svg.getBoundingClientRect(), p = photo();
    return {
      x: Math.round(Math.min(Math.max(event.clientX - r.left, 0), r.width) * p.width / r.width),
      y: Math.round(Math.min(Math.max(event.clientY - r.top, 0), r.height) * p.height / r.height),
    };
  };
  svg.addEventListener("pointerdown", (event) => {
    const g = event.target.closest("g.box");
    if (g) { select(g.dataset.key); event.preventDefault(); return; }
    drag = { start: toImage(event), rect: document.createElementNS(SVG, "rect") };
    drag.rect.setAttribute("class", "drawing");
    svg.append(drag.rect);
    svg.setPointerCapture(event.pointerId);
    event.preventDefault();
  });
  svg.addEventListener("pointermove", (event) => {
    if (!drag) return;
    const at = toImage(event), s = drag.start;
    const b = { x: Math.min(s.x, at.x), y: Math.min(s.y, at.y), width: Math.abs(at.x - s.x), height: Math.abs(at.y - s.y) };
    for (const [k, v] of Object.entries(b)) drag.rect.setAttribute(k, v);
  });
  const finish = (event) => {
    if (!drag) return;
    const at = toImage(event), s = drag.start;
    drag.rect.remove();
    drag = null;
    const b = { x: Math.min(s.x, at.x), y: Math.min(s.y, at.y), w: Math.abs(at.x - s.x), h: Math.abs(at.y - s.y) };
    if (b.w >= state.minBox && b.h >= state.minBox) addBox(b);
    else select(null);
  };
  svg.addEventListener("pointerup", finish);
  svg.addEventListener("pointercancel", () => { drag?.rect.remove(); drag = null; });

  document.addEventListener("keydown", (event) => {
    if (!state.photos.length || event.ctrlKey || event.metaKey) return;
    if (event.target.closest?.("input, select, textarea")) return;
    if (event.target.closest("#photo-list, summary") && event.key === "Enter") return;
    const step = event.shiftKey ? 10 : 1;
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    const k = event.key;
    if (moves[k] && state.selected) moveSelected(...moves[k], false);
    else if ((k === "+" || k === "=" || k === "-") && state.selected) {
      const d = k === "-" ? -2 : 2; // "+" is typed with Shift: no larger step here
      moveSelected(d, d, true);
    }
    else if (k === "Delete" || k === "Backspace") deleteSelected();
    else if (k === "a") addDefault();
    else if (k === "n") show(state.index + 1);
    else if (k === "p") show(state.index - 1);
    else if (k === "r") toggleReviewed();
    else if (k === "o") toggleOriginal();
    else if (k === "Escape") select(null);
    else return;
    event.preventDefault();
  });

  function addDefault() {
    const p = photo(), side = Math.max(state.minBox, Math.round(Math.min(p.width, p.height) / 8));
    addBox({ x: Math.round((p.width - side) / 2), y: Math.round((p.height - side) / 2), w: side, h: side });
  }
  function toggleReviewed() {
    edit((p) => { p.reviewed = !p.reviewed; });
    show(state.index);
  }
  function toggleOriginal() {
    state.original = !state.original;
    const sel = state.selected;
    show(state.index);
    state.selected = sel;
    draw();
  }

  $("prev").addEventListener("click", () => show(state.index - 1));
  $("next").addEventListener("click", () => show(state.index + 1));
  $("toggle").addEventListener("click", toggleOriginal);
  $("add-box").addEventListener("click", addDefault);
  $("delete-box").addEventListener("click", deleteSelected);
  $("mark-reviewed").addEventListener("click", toggleReviewed);

  $("apply").addEventListener("click", async () => {
    const photos = {};
    for (const p of state.photos.filter(changed)) {
      photos[p.path] = { add: p.add, remove: p.remove, reviewed: p.reviewed };
    }
    $("apply").disabled = true;
    $("apply-status").textContent = "Sending…";
    try {
      const res = await fetch(section.dataset.apply, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": section.dataset.token },
        body: JSON.stringify({ photos }),
      });
      const answer = await res.json();
      $("apply-status").textContent = answer.message;
      if (answer.run) {
        const a = Object.assign(document.createElement("a"), { href: answer.run, id: "follow", textContent: " Follow the run" });
        $("apply-status").append(a);
        setTimeout(() => location.assign(answer.run), 1500);
      }
    } catch (err) {
      $("apply-status").textContent = `The corrections did not reach the server (${err}).`;
    } finally {
      $("apply").disabled = false;
    }
  });

  (async () => {
    let data;
    try {
      data = await (await fetch(section.dataset.api, { cache: "no-store" })).json();
    } catch (err) {
      $("counter").textContent = `The photos could not be loaded (${err}).`;
      return;
    }
    state.minBox = data.limits.min_box;
    state.maxBoxes = data.limits.max_boxes;
    state.photos = data.photos.map((p) => ({
      ...p,
      add: (p.saved.add || []).map(({ x, y, w, h }) => ({ x, y, w, h })),
      remove: (p.saved.remove || []).map(({ x, y, w, h }) => ({ x, y, w, h })),
      reviewed: !!p.saved.reviewed,
    }));
    $("photo-list").replaceChildren(...state.photos.map(listItem));
    if (data.failed.length) {
      $("failed-inputs").hidden = false;
      $("failed-list").replaceChildren(...data.failed.map((f) =>
        Object.assign(document.createElement("li"), { textContent: `${f.path}: ${f.error}` })));
    }
    if (!state.photos.length) {
      $("counter").textContent = "This run has no photos to review.";
      return;
    }
    if (data.total > state.photos.length) {
      $("apply-status").textContent = `Showing the first ${state.photos.length} of ${data.total} photos.`;
    }
    markList();
    show(0);
  })();
}

document.addEventListener("DOMContentLoaded", () => {
  const section = document.querySelector("#review");
  if (section) setUpReview(section);
});
