"""One secret token per browser session, required in every form that changes something.

The session cookie is signed, HttpOnly and SameSite=Lax; a page on another site can make the
browser send it, but cannot read the token out of our pages to put it in its form.
"""

from __future__ import annotations

import hmac
import secrets

from flask import abort, request, session

FIELD = "csrf_token"
HEADER = "X-CSRF-Token"


def token() -> str:
    if FIELD not in session:
        session[FIELD] = secrets.token_urlsafe(32)
    return session[FIELD]


def check() -> None:
    """Refuse a state-changing request without this session's token (400, with a sentence)."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    sent = request.form.get(FIELD) or request.headers.get(HEADER) or ""
    known = session.get(FIELD, "")
    if not known or not hmac.compare_digest(sent.encode(), known.encode()):
        abort(400, description="csrf")
