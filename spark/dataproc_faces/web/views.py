"""The routes: upload, start a run, list runs, serve a run's files and manifest, /healthz."""

from __future__ import annotations

import mimetypes
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
    url_for,
)

from dataproc_faces import jobspec
from dataproc_faces.detectors.base import DETECTORS, DetectOptions
from dataproc_faces.imaging.render import MODES, privacy_detect
from dataproc_faces.results.layout import Results
from dataproc_faces.storage import store_for
from dataproc_faces.storage.base import Store, is_remote, join
from dataproc_faces.storage.names import UnsafeName, safe_relative
from dataproc_faces.web.runs import RunBook, RunRefused, run_dict
from dataproc_faces.web.settings import MB, Settings
from dataproc_faces.web.uploads import Limits, Refused, check_batch, expand, store_batch

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


@web.get("/")
def index() -> str:
    s = settings()
    return render_template(
        "index",
        title="Upload and run",
        default_batch=time.strftime("batch-%Y%m%d-%H%M%S", time.gmtime()),
        batches=batches(input_store(), s.input_root),
        chosen=request.args.get("batch", ""),
        detectors=sorted(DETECTORS),
        detector=DetectOptions().detector,
        modes=MODES,
        input_root=s.input_root,
        target="on Dataproc" if s.cloud else f"on local Spark, {s.master}",
        max_file_mb=f"{s.max_file_bytes / MB:g}",
        max_request_mb=f"{s.max_request_bytes / MB:g}",
    )


@web.post("/upload")
def upload() -> tuple[str, int] | str:
    batch = (request.form.get("batch") or "").strip() or time.strftime(
        "batch-%Y%m%d-%H%M%S", time.gmtime()
    )
    parts = [(f.filename or "", f.stream) for f in request.files.getlist("files")]
    parts = [(name, stream) for name, stream in parts if name]  # an empty file input sends ""
    try:
        check_batch(batch)
        files = expand(parts, limits())
        names = store_batch(input_store(), settings().input_root, batch, files, limits())
    except Refused as exc:
        return error_page("Upload refused", str(exc), 400, exc.reasons)
    except UnsafeName as exc:
        return error_page("Upload refused", f"The batch name is not allowed: {exc}.", 400)
    return render_template(
        "uploaded",
        title="Uploaded",
        names=names,
        batch=batch,
        detector=DetectOptions().detector,
    )


@web.post("/runs")
def start() -> Any:
    s = settings()
    batch = (request.form.get("batch") or "").strip()
    prefix = (request.form.get("prefix") or "").strip().strip("/")
    mode = request.form.get("mode") or "outline"
    if mode not in MODES:
        return error_page("Run refused", f"Mode {mode!r} is not one of {', '.join(MODES)}.", 400)
    try:
        detect = jobspec.detect_options({"detector": request.form.get("detector") or None})
        detect = privacy_detect(detect, mode)
        source = s.input_root
        if batch:
            source = join(s.input_root, check_batch(batch))
        elif prefix:
            source = join(s.input_root, safe_relative(prefix))
        run = book().start(source, detect, mode)
    except (Refused, RunRefused) as exc:
        return error_page("Run refused", str(exc), 409 if isinstance(exc, RunRefused) else 400)
    except (ValueError, UnsafeName) as exc:
        return error_page("Run refused", f"The run's options are not valid: {exc}.", 400)
    return redirect(url_for("web.run_page", run_id=run.id), code=303)


@web.get("/runs")
def runs() -> str:
    found = book().all()
    return render_template(
        "runs", title="Runs", runs=found, refresh=5 if any(r.active for r in found) else None
    )


def _run_or_404(run_id: str) -> Any:
    run = book().get(run_id)
    if run is None:
        abort(404)
    return run


@web.get("/runs/<run_id>")
def run_page(run_id: str) -> str:
    run = _run_or_404(run_id)
    return render_template("run", title=f"Run {run.id}", r=run, refresh=3 if run.active else None)


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
    response = Response(data, mimetype=kind)
    if kind == "application/octet-stream":
        response.headers["Content-Disposition"] = "attachment"
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


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
        "error", title=title, sentence=sentence, reasons=reasons or [], refresh=None
    ), status
