"""The page templates (templates/*.html, Jinja) and static files (static/), read as package data
through importlib.resources: the devhost and the cluster run the package from a zip, where a
folder-based loader cannot look. Jinja escapes every value (autoescape on)."""

from __future__ import annotations

import mimetypes
from importlib import resources

import jinja2

LOADER = jinja2.PackageLoader("dataproc_faces.web", "templates")
STATIC = {"page.css", "page.js", "review.js"}  # everything this page serves from static/, by name


def static_file(name: str) -> tuple[bytes, str] | None:
    """(content, media type) of one of our static files, or None for any other name."""
    if name not in STATIC:
        return None
    data = resources.files("dataproc_faces.web").joinpath("static", name).read_bytes()
    return data, mimetypes.guess_type(name)[0] or "application/octet-stream"
