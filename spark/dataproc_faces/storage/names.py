"""Object names are not paths: the one gate a listed name passes before it names a local file.

Cloud Storage accepts any UTF-8 string up to 1,024 bytes as an object name, so a results or
input bucket may hold `a//b`, `../x`, `/etc/passwd`, `a\\b` or names with control characters.
Joined to a local folder such a name can point outside it, and anybody able to write one object
into a bucket could then make a later `fetch` or job overwrite a file of the person running it.
Every name that becomes a local path or an output name goes through `safe_relative` first.
"""

from __future__ import annotations

import unicodedata

# A file name is at most 255 bytes on the filesystems we write to; the job appends at most
# ".png.jpg" (thumbnails of converted inputs) and LocalStore's temporary file adds "." + "." + 8.
MAX_SEGMENT_BYTES = 240
MAX_NAME_BYTES = 1024  # Cloud Storage's own limit on a whole object name


class UnsafeName(ValueError):
    """A listed name that cannot be used as a relative path; the message says why."""


def safe_relative(name: str) -> str:
    """`name` unchanged if it is a plain relative POSIX path, else UnsafeName.

    Refused: empty names and empty segments (`a//b`, a leading or trailing `/`), `.` and `..`
    segments, backslashes (a separator elsewhere), control characters (NUL, newlines, DEL, C1),
    and names or segments too long to be written as files. Nothing is rewritten or collapsed:
    what is accepted is exactly what was listed, so the bytes read are those of that object.
    """
    if not name:
        raise UnsafeName("empty name")
    if "\\" in name:
        raise UnsafeName(f"backslash in name {name!r}")
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        raise UnsafeName(f"control character in name {name!r}")
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise UnsafeName(f"name longer than {MAX_NAME_BYTES} bytes: {name[:60]!r}...")
    if name.startswith("/"):
        raise UnsafeName(f"absolute name {name!r}")
    for segment in name.split("/"):
        if segment == "":
            raise UnsafeName(f"empty segment in name {name!r}")
        if segment in (".", ".."):
            raise UnsafeName(f"'{segment}' segment in name {name!r}")
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise UnsafeName(f"a segment longer than {MAX_SEGMENT_BYTES} bytes in {name[:60]!r}...")
    return name
