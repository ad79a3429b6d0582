"""The routes: upload, start a run, list runs, serve a run's files and manifest, /healthz."""

from __future__ import annotations

import mimetypes
import secrets
import time
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    stream_with_context,
    url_for,
)

from dataproc_faces.results.layout import Results
from dataproc_faces.storage import store_for
from dataproc_faces.storage.base import Store, is_remote, is_within, join
from dataproc_faces.storage.names import UnsafeName, safe_relative
from dataproc_faces.web import options
from dataproc_faces.web.delete import NotDeleted, delete_tree
from dataproc_faces.web.download import entries, stream_zip
from dataproc_faces.web.pages import static_file as static_file_data
from dataproc_faces.web.runs import RunBook, RunRefused, failed_text, run_dict
from dataproc_faces.web.settings import MB, Settings
from dataproc_faces.web.uploads import (
    ACCEPT,
    BATCH_PATTERN,
    SIDECAR_NAMES,
    SIDECARS,
    Limits,
    Refused,
    check_batch,
    expand,
    store_batch,
)

web = Blueprint("web", __name__)


def settings() -> Settings:
    return current_app.config["FACES_SETTINGS"]


def book() -> RunBook:
    return current_app.extensions["faces_runs"]


def limits() -> Limits:
    s = settings()
    return Limits(s.max_file_bytes, s.max_request_bytes, s.max_files, s.max_pixels)


def input_store() -> Store:
    return store_for(settings().input_root)


def batches(store: Store, root: str) -> list[str]:
    """Folders directly under the input root, newest names first."""
    if not is_remote(root):
        base = Path(root)
        found = [p.name for p in base.iterdir() if p.is_dir()] if base.is_dir() else []
    else:
        found = list({rel.split("/", 1)[0] for rel in store.list_files(root) if "/" in rel})
    return sorted((b for b in found if not b.startswith((".", "_"))), reverse=True)


@web.get("/healthz")
def healthz() -> Response:
    return Response("ok\n", mimetype="text/plain")


@web.get("/favicon.ico")
def favicon() -> Response:
    """No icon, and no 404 in the browser's console for the one it asks for."""
    return Response(status=204)


def _page_choices() -> dict[str, Any]:
    s = settings()
    return {
        "choices": options.choices(),
        "target": "on Dataproc" if s.cloud else f"on local Spark, {s.master}",
    }


@web.get("/static/<name>")
def static_file(name: str) -> Response:
    """The page's stylesheet and script, read from the package (a folder or a zip)."""
    found = static_file_data(name)
    if found is None:
        abort(404)
    response = Response(found[0], mimetype=found[1])
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


@web.get("/")
def index() -> str:
    s = settings()
    return render_template(
        "index.html",
        title="Upload and run",
        default_batch=time.strftime("batch-%Y%m%d-%H%M%S", time.gmtime()),
        batches=batches(input_store(), s.input_root),
        chosen=request.args.get("batch", ""),
        input_root=s.input_root,
        max_file_mb=f"{s.max_file_bytes / MB:g}",
        max_request_mb=f"{s.max_request_bytes / MB:g}",
        max_file_bytes=s.max_file_bytes,
        max_request_bytes=s.max_request_bytes,
        max_files=s.max_files,
        batch_pattern=BATCH_PATTERN,
        accept=ACCEPT,
        sidecars=",".join([*SIDECARS, *SIDECAR_NAMES]),
        feed=_feed_line(s.results_root),
        **_page_choices(),
    )


def _feed_line(results_root: str) -> str | None:
    """The change feed's backlog as `follow` last saw it (follow.py), when the stack has one."""
    from dataproc_faces.follow import describe_status, feed_status

    status = feed_status(results_root)
    return describe_status(status, time.time()) if status else None


@web.post("/upload")
def upload() -> Any:
    batch = (request.form.get("batch") or "").strip() or time.strftime(
        "batch-%Y%m%d-%H%M%S", time.gmtime()
    )
    parts = [(f.filename or "", f.stream) for f in request.files.getlist("files")]
    parts = [(name, stream) for name, stream in parts if name]  # an empty file input sends ""
    skipped: list[str] = []
    try:
        check_batch(batch)
        files = expand(parts, limits(), skipped)
        names = store_batch(input_store(), settings().input_root, batch, files, limits())
    except Refused as exc:
        return error_page("Upload refused", str(exc), 400, exc.reasons)
    except UnsafeName as exc:
        return error_page("Upload refused", f"The batch name is not allowed: {exc}.", 400)
    # After a post, a page of its own: reloading it does not send the photos again. The notes
    # ride in the signed session cookie (a few names, then a count: cookies are small).
    # The page's script follows the redirect with fetch and then loads it again: the notes stay
    # (for this one upload's address) rather than being read once.
    args: dict[str, Any] = {"batch": batch, "added": len(names)}
    if skipped:
        args["notes"] = secrets.token_hex(4)
        session["skipped"] = {
            "id": args["notes"],
            "notes": skipped[:SHOWN_SKIPPED]
            + (
                [f"and {len(skipped) - SHOWN_SKIPPED} more files next to photos skipped."]
                if len(skipped) > SHOWN_SKIPPED
                else []
            ),
        }
    return redirect(url_for("web.batch_page", **args), code=303)


SHOWN_NAMES = 200  # a batch page lists this many names, then a count
SHOWN_SKIPPED = 8  # skipped sidecars named after an upload, then a count


def _notes(ident: str) -> list[str]:
    kept = session.get("skipped") or {}
    return list(kept.get("notes") or []) if ident and kept.get("id") == ident else []


@web.get("/batches/<batch>")
def batch_page(batch: str) -> Any:
    s = settings()
    try:
        folder = join(s.input_root, check_batch(batch))
    except (Refused, UnsafeName):
        abort(404)
    store = input_store()
    if not store.exists(folder):
        abort(404)
    names = store.list_files(folder)
    added = request.args.get("added", type=int) or 0
    return render_template(
        "batch.html",
        title=f"Batch {batch}",
        batch=batch,
        names=names[:SHOWN_NAMES],
        more=max(0, len(names) - SHOWN_NAMES),
        added=added,
        skipped=_notes(request.args.get("notes", "")),
        **_page_choices(),
    )


@web.get("/batches/<batch>/delete")
def confirm_delete_batch(batch: str) -> Any:
    try:
        check_batch(batch)
    except (Refused, UnsafeName):
        abort(404)
    return render_template(
        "confirm.html",
        title=f"Delete batch {batch}?",
        question=f"Delete every uploaded file of batch {batch} from {settings().input_root}? "
        "Results of runs over it are kept until you delete them.",
        action=url_for("web.delete_batch", batch=batch),
        button="Delete the batch",
        back=url_for("web.batch_page", batch=batch),
    )


@web.post("/batches/<batch>/delete")
def delete_batch(batch: str) -> Any:
    s = settings()
    try:
        folder = join(s.input_root, check_batch(batch))
    except (Refused, UnsafeName) as exc:
        return error_page("Not deleted", str(exc), 400)
    if any(r.active and is_within(r.source, folder) for r in book().all()):
        return error_page("Not deleted", f"A run is reading batch {batch}; wait for it.", 409)
    try:
        count = delete_tree(s.input_root, folder, protect=(s.results_root,))
    except NotDeleted as exc:
        return error_page("Not deleted", str(exc), 400)
    return render_template(
        "deleted.html",
        title="Batch deleted",
        sentence=f"Deleted batch {batch}: {count} file{'s' if count != 1 else ''}.",
    )


@web.post("/runs")
def start() -> Any:
    s = settings()
    batch = (request.form.get("batch") or "").strip()
    prefix = (request.form.get("prefix") or "").strip().strip("/")
    try:
        detect, render = options.read(request.form)
        source, shown = s.input_root, f"upload folder {s.input_root}"
        if batch:
            source, shown = join(s.input_root, check_batch(batch)), f"batch {batch}"
        elif prefix:
            source = join(s.input_root, safe_relative(prefix))
            shown = f"folder {prefix} under {s.input_root}"
        if not input_store().exists(source):
            raise Refused(f"There is no {shown}: upload photos to it first, or choose another.")
        run = book().start(source, detect, render, options.described(detect, render))
    except (Refused, RunRefused) as exc:
        return error_page("Run refused", str(exc), 409 if isinstance(exc, RunRefused) else 400)
    except (ValueError, UnsafeName) as exc:
        return error_page("Run refused", f"The run's options are not valid: {exc}.", 400)
    return redirect(url_for("web.run_page", run_id=run.id), code=303)


@web.get("/runs")
def runs() -> str:
    found = book().all()
    return render_template(
        "runs.html", title="Runs", runs=found, refresh=5 if any(r.active for r in found) else None
    )


def _run_or_404(run_id: str) -> Any:
    run = book().get(run_id)
    if run is None:
        abort(404)
    return run


@web.get("/runs/<run_id>")
def run_page(run_id: str) -> str:
    run = _run_or_404(run_id)
    return render_template(
        "run.html",
        title=f"Run {run.id}",
        r=run,
        failed=failed_text(run),
        refresh=3 if run.active else None,
    )


@web.post("/runs/<run_id>/cancel")
def cancel_run(run_id: str) -> Any:
    """Stop a run from its page (the form carries the session's token like every post)."""
    _run_or_404(run_id)
    try:
        book().cancel(run_id)
    except RunRefused as exc:
        return error_page("Not stopped", str(exc), 409)
    return redirect(url_for("web.run_page", run_id=run_id), code=303)


@web.get("/api/runs/<run_id>")
def run_json(run_id: str) -> dict[str, Any]:
    return run_dict(_run_or_404(run_id))


@web.get("/runs/<run_id>/files/<path:name>")
def run_file(run_id: str, name: str) -> Response:
    """A file of the run's results; gs:// objects go through this server, the bucket stays
    private."""
    run = _run_or_404(run_id)
    try:
        data = _read_result(run.output, safe_relative(name))
    except (UnsafeName, FileNotFoundError, IsADirectoryError):
        abort(404)
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if name == "index.html":
        data = _with_way_back(data, run.id)
    response = Response(data, mimetype=kind)
    if kind == "application/octet-stream":
        response.headers["Content-Disposition"] = "attachment"
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


def _with_way_back(page: bytes, run_id: str) -> bytes:
    """The gallery served by the page gets a link back to its run (the file itself stays as the
    job wrote it, for opening on its own)."""
    back = url_for("web.run_page", run_id=run_id).encode()
    nav = b'<nav id="back-to-app" aria-label="app"><a href="' + back + b'">Back to the run</a>'
    nav += b' &middot; <a href="' + url_for("web.download", run_id=run_id).encode()
    nav += b'">download all (zip)</a> &middot; <a id="review-link" href="'
    nav += url_for("review.view", run_id=run_id).encode() + b'">review the photos</a></nav>'
    head, sep, rest = page.partition(b"<body>")
    return head + sep + b"\n" + nav + rest if sep else page


@web.get("/runs/<run_id>/download.zip")
def download(run_id: str) -> Response:
    """The run's output images, manifest and summary in one zip, streamed as it is made."""
    run = _run_or_404(run_id)
    if run.state != "DONE":
        abort(404)
    names = entries(run.output)
    if not names:
        abort(404)
    body = stream_with_context(stream_zip(run.output, names, run.id))
    response = Response(body, mimetype="application/zip")
    response.headers["Content-Disposition"] = f'attachment; filename="{run.id}.zip"'
    response.headers["Cache-Control"] = "no-store"
    return response


@web.get("/runs/<run_id>/delete")
def confirm_delete_run(run_id: str) -> Any:
    run = _run_or_404(run_id)
    others = [r.id for r in _sharing(run)]
    also = (
        f" The same results are those of run{'s' if len(others) > 1 else ''} "
        f"{', '.join(others)} (a review's corrections): their records go too."
        if others
        else ""
    )
    return render_template(
        "confirm.html",
        title=f"Delete run {run.id}?",
        question=f"Delete the results of run {run.id} ({run.output}) and its record? "
        f"The originals it read are not touched.{also}",
        action=url_for("web.delete_run", run_id=run.id),
        button="Delete the results",
        back=url_for("web.run_page", run_id=run.id),
    )


def _sharing(run: Any) -> list[Any]:
    """Other runs writing the same results: a review's corrections runs and the run they fix."""
    return [r for r in book().all() if r.output == run.output and r.id != run.id]


@web.post("/runs/<run_id>/delete")
def delete_run(run_id: str) -> Any:
    s = settings()
    run = _run_or_404(run_id)
    others = _sharing(run)
    for r in (run, *others):
        if r.active:
            return error_page("Not deleted", f"Run {r.id} is still going on; wait for it.", 409)
    count = 0
    if store_for(s.results_root).exists(run.output):
        try:
            count = delete_tree(s.results_root, run.output, protect=(s.input_root,))
        except NotDeleted as exc:
            return error_page("Not deleted", str(exc), 400)
    for r in (run, *others):  # no record is left pointing at deleted results
        book().delete(r.id)
    return render_template(
        "deleted.html",
        title="Run deleted",
        sentence=f"Deleted run {run.id}: {count} result file{'s' if count != 1 else ''}.",
    )


def _read_result(output: str, name: str) -> bytes:
    if is_remote(output):
        from google.api_core.exceptions import NotFound

        try:
            return store_for(output).read(join(output, name))
        except NotFound:
            raise FileNotFoundError(name) from None
    root = Path(output).resolve()
    path = (root / name).resolve()
    if root not in path.parents:  # a symlink out of the results folder
        raise FileNotFoundError(name)
    return path.read_bytes()


@web.get("/runs/<run_id>/manifest.jsonl")
def manifest(run_id: str) -> Response:
    """Every manifest part of the run, concatenated: one JSON object per input, per line."""
    run = _run_or_404(run_id)
    folder = Results(run.output).manifest
    store = store_for(run.output)
    if not store.exists(folder):
        abort(404)
    parts = [p for p in store.list_files(folder) if p.endswith((".json", ".jsonl"))]
    chunks = [store.read(join(folder, p)) for p in parts]
    body = b"".join(c if c.endswith(b"\n") or not c else c + b"\n" for c in chunks)
    response = Response(body, mimetype="application/x-ndjson")
    response.headers["Content-Disposition"] = f'attachment; filename="{run.id}-manifest.jsonl"'
    return response


SENTENCES = {
    400: "The request was not understood.",
    404: "There is no such page or file.",
    405: "This page does not take that kind of request.",
    413: "The upload is larger than the limit per upload.",
}
CSRF_SENTENCE = (
    "The form did not come from this site's page, or it has expired: reload the page and "
    "send it again."
)


def error_page(
    title: str, sentence: str, status: int, reasons: list[str] | None = None
) -> tuple[str, int]:
    return render_template(
        "error.html", title=title, sentence=sentence, reasons=reasons or [], refresh=None
    ), status
