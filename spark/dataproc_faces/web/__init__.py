"""The web page the devhost (or a laptop, or the container) serves: upload photos, run the job,
browse each run's gallery. `create_app` builds it; `dataproc-faces serve` puts it behind
waitress."""

from __future__ import annotations

import logging
import secrets

from flask import Flask, request
from werkzeug.exceptions import HTTPException

from dataproc_faces.web import csrf
from dataproc_faces.web.pages import LOADER
from dataproc_faces.web.review_views import pages as review_pages
from dataproc_faces.web.runs import RunBook
from dataproc_faces.web.settings import Settings
from dataproc_faces.web.views import CSRF_SENTENCE, SENTENCES, error_page, web

LOG = logging.getLogger("dataproc_faces.web")

# Our own pages: our own stylesheet and script only (no inline code), fetches to this server,
# forms post here, never framed.
PAGE_CSP = (
    "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; "
    "img-src 'self'; media-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def create_app(settings: Settings) -> Flask:
    app = Flask(__name__, static_folder=None)  # static files come from the package: pages.py
    app.jinja_loader = LOADER
    app.jinja_env.autoescape = True
    app.config.update(
        SECRET_KEY=settings.secret_key or secrets.token_bytes(32),
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        FACES_SETTINGS=settings,
    )
    app.extensions["faces_runs"] = RunBook(settings)
    app.jinja_env.globals.update(csrf_token=csrf.token, where=settings.input_root, seconds=_secs)
    app.before_request(csrf.check)
    app.register_blueprint(web)
    app.register_blueprint(review_pages)

    @app.after_request
    def headers(response):  # type: ignore[no-untyped-def]
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if "/files/" not in request.path:  # a run's gallery carries its own policy
            response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
            response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):  # type: ignore[no-untyped-def]
        code = exc.code or 500
        if code == 400 and exc.description == "csrf":
            return error_page("Form refused", CSRF_SENTENCE, 400)
        if code == 413:
            limit = f"{settings.max_request_bytes / (1024 * 1024):g} MB"
            return error_page("Upload refused", f"The upload is larger than {limit}.", 413)
        return error_page(exc.name, SENTENCES.get(code, exc.name + "."), code)

    @app.errorhandler(Exception)
    def server_error(exc: Exception):  # type: ignore[no-untyped-def]
        from dataproc_faces.cloud_errors import cloud_errors, cloud_sentence

        if isinstance(exc, cloud_errors()):  # Google Cloud's answer (or none): one sentence
            LOG.warning("Google Cloud error on %s %s: %s", request.method, request.path, exc)
            text = cloud_sentence(exc)
            return error_page("Google Cloud refused", text[:1].upper() + text[1:], 502)
        LOG.exception("unhandled error on %s %s", request.method, request.path)
        sentence = f"The server could not do that ({type(exc).__name__}); its log has the details."
        return error_page("Server error", sentence, 500)

    return app


def _secs(value: float | None) -> str:
    if value is None:
        return ""
    from dataproc_faces.progress import format_duration

    return format_duration(value)
