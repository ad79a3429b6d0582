"""The review step's routes: the view, its data, the photos (outputs and, only here, originals)
and applying a person's corrections."""

from __future__ import annotations

import mimetypes
import time
from typing import Any

from flask import Blueprint, Response, abort, current_app, render_template, request, url_for

from dataproc_faces.imaging.codec import ImageError
from dataproc_faces.results.ownership import Held
from dataproc_faces.storage import store_for
from dataproc_faces.storage.base import join
from dataproc_faces.storage.names import safe_relative
from dataproc_faces.web import review
from dataproc_faces.web.runs import Run, RunBook, RunRefused

pages = Blueprint("review", __name__)

IAP_EMAIL = "X-Goog-Authenticated-User-Email"  # set by Identity-Aware Proxy in front of the page


def _book() -> RunBook:
    return current_app.extensions["faces_runs"]


def _done_run(run_id: str) -> Run:
    run = _book().get(run_id)
    if run is None or run.state != "DONE":
        abort(404)
    return run


def who() -> str:
    """The IAP user's email ("accounts.google.com:" dropped), else "local"."""
    value = request.headers.get(IAP_EMAIL, "").strip()
    email = value.split(":", 1)[1] if ":" in value else value
    return email[:254] if "@" in email else "local"


@pages.get("/runs/<run_id>/review")
def view(run_id: str) -> str:
    run = _done_run(run_id)
    return render_template(
        "review.html",
        title=f"Review run {run.id}",
        r=run,
        data=url_for("review.data", run_id=run.id),
        apply=url_for("review.apply", run_id=run.id),
        refresh=None,
    )


@pages.get("/runs/<run_id>/review.json")
def data(run_id: str) -> dict[str, Any]:
    """The photos in review order (a bounded number), the failed inputs and what was saved."""
    run = _done_run(run_id)
    found, failed = review.photos(run.output, run.source)
    shown = found[: review.SHOWN]
    saved = review.current(run.output)
    return {
        "run": run.id,
        "total": len(found),
        "to_look_at": sum(1 for p in found if p.reasons),
        "photos": [
            {
                **p.to_dict(),
                "saved": saved.get(p.path) or {},
                "image": url_for("review.output_image", run_id=run.id, name=p.output),
                "original": url_for("review.original_image", run_id=run.id, name=p.path),
            }
            for p in shown
        ],
        "failed": failed[: review.SHOWN],
        "limits": {"min_box": review.MIN_BOX, "max_boxes": review.MAX_BOXES},
    }


def _image(data: bytes, name: str, always: bool) -> Response:
    try:
        body = review.viewable(data, name, current_app.config["FACES_SETTINGS"].max_pixels, always)
    except ImageError:
        abort(404)
    kind = "image/jpeg" if always or not name.lower().endswith(review.VIEWABLE) else None
    response = Response(body, mimetype=kind or _kind(name))
    response.headers["Cache-Control"] = "private, no-store" if always else "private, max-age=300"
    return response


def _kind(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


@pages.get("/runs/<run_id>/review/output/<path:name>")
def output_image(run_id: str, name: str) -> Response:
    run = _done_run(run_id)
    try:
        data = store_for(run.output).read(join(run.output, safe_relative(name)))
    except Exception:  # an unsafe name, no such file or object (a Cloud Storage NotFound)
        abort(404)
    return _image(data, name, always=False)


@pages.get("/runs/<run_id>/review/original/<path:name>")
def original_image(run_id: str, name: str) -> Response:
    """The original, for the before/after toggle: served by the page only (the shared results
    never hold it), upright and without its metadata."""
    run = _done_run(run_id)
    try:
        data = store_for(run.source).read(review.original_uri(run.source, name))
    except Exception:  # an unsafe name, no such file or object (a Cloud Storage NotFound)
        abort(404)
    return _image(data, name, always=True)


def _answer(status: int, message: str, **extra: Any) -> tuple[dict[str, Any], int]:
    return {"message": message, **extra}, status


@pages.post("/runs/<run_id>/review/apply")
def apply(run_id: str) -> Any:
    """Write the corrections that differ from what was applied, then redo those photos."""
    run = _done_run(run_id)
    body = request.get_json(silent=True)
    found, _ = review.photos(run.output, run.source)
    known = {p.path: p for p in found}
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    try:
        entries = review.checked(body, known, who(), at)
    except review.ReviewRefused as exc:
        return _answer(400, f"Not applied: {exc}.")
    saved = review.current(run.output)
    new = {path: e for path, e in entries.items() if not review.same(e, saved.get(path))}
    if not new:
        return _answer(200, "Nothing new to apply: these corrections are applied already.")
    try:
        _book().check_corrections(run)
        uri = review.write(run.output, run.source, new)
    except Held as exc:
        return _answer(409, f"Not applied: {exc}.")
    except RunRefused as exc:
        return _answer(409, f"Not applied: {exc}")
    try:
        started = _book().start_corrections(run, uri)
    except RunRefused as exc:  # not applied: the file goes, so the next apply sends it again
        store_for(run.output).delete(uri)
        return _answer(409, f"Not applied: {exc}")
    n = len(new)
    return _answer(
        200,
        f"Applying corrections to {n} photo{'s' if n != 1 else ''}: run {started.id} redoes "
        f"{'it' if n == 1 else 'them'}.",
        run=url_for("web.run_page", run_id=started.id),
        file=uri,
    )
