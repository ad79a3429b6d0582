// The page's own script (served from /static, allowed by the page's policy): checks an upload
// before it is sent and keeps the chosen files when it is refused, preselects the privacy
// threshold for modes that hide faces, and updates a run's progress without reloading.
"use strict";

function checkUpload(form) {
  const problems = [];
  const batch = form.querySelector("#batch").value.trim();
  if (!new RegExp(`^(?:${form.dataset.batchPattern})$`).test(batch)) {
    problems.push(`The batch name '${batch}' is not allowed: use up to 64 letters, digits, ` +
      "'.', '_' and '-', starting with a letter or digit.");
  }
  const files = [...form.querySelector("#files").files];
  if (!files.length) problems.push("Choose photos or a zip of photos.");
  const maxFile = +form.dataset.maxFile, maxRequest = +form.dataset.maxRequest;
  const mb = (n) => `${+(n / 1048576).toFixed(1)} MB`;
  const types = form.dataset.types.split(",");
  const sidecars = (form.dataset.sidecars || "").split(",").filter(Boolean); // skipped by the server
  let total = 0;
  for (const f of files) {
    total += f.size;
    const ok = types.some((t) => (t.endsWith("/*") ? f.type.startsWith(t.slice(0, -1))
      : f.name.toLowerCase().endsWith(t))) || sidecars.some((t) => f.name.toLowerCase().endsWith(t));
    if (!ok) problems.push(`${f.name} is not a photo or a zip.`);
    if (f.size > maxFile) problems.push(`${f.name} is larger than the ${mb(maxFile)} limit per file.`);
  }
  if (total > maxRequest) problems.push(`The upload is larger than ${mb(maxRequest)}.`);
  if (files.length > +form.dataset.maxFiles) {
    problems.push(`The upload holds ${files.length} files; the limit is ${form.dataset.maxFiles}.`);
  }
  return problems;
}

function showProblems(box, sentence, reasons) {
  box.replaceChildren();
  if (sentence) box.append(Object.assign(document.createElement("p"), { textContent: sentence }));
  if (reasons.length) {
    const ul = document.createElement("ul");
    for (const r of reasons) ul.append(Object.assign(document.createElement("li"), { textContent: r }));
    box.append(ul);
  }
  if (sentence || reasons.length) box.focus();
}

function setUpUpload(form) {
  const box = form.querySelector("#upload-problems");
  box.tabIndex = -1;
  form.noValidate = true; // this script checks and says why; without it the browser's own checks run
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const problems = checkUpload(form);
    if (problems.length) return showProblems(box, "Nothing was sent:", problems);
    const button = form.querySelector("#upload");
    button.disabled = true;
    showProblems(box, "", []);
    try {
      const res = await fetch(form.action, { method: "POST", body: new FormData(form) });
      if (res.ok) return location.assign(res.url);
      const page = new DOMParser().parseFromString(await res.text(), "text/html");
      const reasons = [...page.querySelectorAll("#reasons li")].map((li) => li.textContent);
      showProblems(box, page.querySelector("#error")?.textContent || `Refused (${res.status}).`, reasons);
    } catch (err) {
      showProblems(box, `The upload did not reach the server (${err}).`, []);
    } finally {
      button.disabled = false;
    }
  });
}

function setUpOptions(fieldset) {
  const privacy = JSON.parse(fieldset.dataset.privacy);
  const byMode = JSON.parse(fieldset.dataset.byMode);
  const hiding = JSON.parse(fieldset.dataset.anonymising);
  const mode = fieldset.querySelector("#mode"), detector = fieldset.querySelector("#detector");
  const threshold = fieldset.querySelector("#score_threshold");
  let edited = false;
  threshold.addEventListener("input", () => { edited = true; });
  const update = () => {
    const anonymising = hiding.includes(mode.value);
    fieldset.classList.toggle("outline-mode", !anonymising);
    if (!edited) {
      const score = privacy[detector.value || byMode[mode.value]];
      threshold.value = anonymising && score !== undefined ? String(score) : "";
    }
  };
  mode.addEventListener("change", update);
  detector.addEventListener("change", update);
  update();
}

function clock(seconds) {
  if (seconds === null || seconds === undefined) return "";
  const t = Math.max(0, Math.round(seconds)), h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60), s = String(t % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

function setUpRun(section) {
  if (section.dataset.active !== "1") return;
  const $ = (id) => section.querySelector("#" + id);
  const poll = async () => {
    let run;
    try {
      run = await (await fetch(section.dataset.api, { cache: "no-store" })).json();
    } catch (err) {
      return setTimeout(poll, 3000);
    }
    $("state").textContent = run.state;
    $("state").className = `state state-${run.state}`;
    $("progress").textContent = run.total ? `${run.done}/${run.total}` : "";
    $("phase").textContent = run.active ? (run.phase_text || (run.total ? "processing" : "starting")) : "";
    $("seconds").textContent = clock(run.seconds);
    $("bar").max = run.total || 1;
    $("bar").value = run.done;
    $("message").textContent = run.message;
    $("failed").textContent = run.failed_text;
    if (run.state === "CANCELLING" && $("cancel")) $("cancel").disabled = true;
    if (run.active) setTimeout(poll, 1000);
    else location.reload(); // the links of a finished run; the browser keeps the scroll
  };
  setTimeout(poll, 1000);
}

document.addEventListener("DOMContentLoaded", () => {
  const upload = document.querySelector("#upload-form");
  if (upload) setUpUpload(upload);
  for (const f of document.querySelectorAll("fieldset.options")) setUpOptions(f);
  const run = document.querySelector("#run-status");
  if (run) setUpRun(run);
  const main = document.querySelector("main[data-refresh]");
  if (main && !run) setTimeout(() => location.reload(), 1000 * +main.dataset.refresh); // keeps the scroll
});
