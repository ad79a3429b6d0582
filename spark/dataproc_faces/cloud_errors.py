"""Google Cloud's refusals in the page's and the command line's words: one sentence each,
never a traceback (the page, `submit`, `status` and `wait` share them)."""

from __future__ import annotations

import re


def cloud_errors() -> tuple[type[BaseException], ...]:
    """What the Google client libraries raise for an answer (or none) from Google Cloud."""
    from google.api_core.exceptions import GoogleAPIError
    from google.auth.exceptions import GoogleAuthError
    from requests.exceptions import RequestException

    return (GoogleAPIError, GoogleAuthError, RequestException)


# HTTP status -> what it means for a run, in the page's words.
_CLOUD_SENTENCES = {
    400: "Dataproc refused the job as sent",
    401: "Google Cloud did not accept the page's credentials",
    403: "Google Cloud refused the devhost's account a permission; a stack's new grants"
    " take up to 7 minutes to apply, so try again in a few minutes, and if it persists run"
    " `pulumi up` again",
    404: "Google Cloud does not know something the run needs (was it deleted?); run"
    " `pulumi up` to put the stack back",
    409: "Dataproc holds a run under the same name already",
    412: "Dataproc refused the job in the state the stack is in",
    429: "a Google Cloud quota is used up (docs/deploy.md, Quotas); try again later or ask"
    " for an increase",
}


def cloud_sentence(exc: BaseException) -> str:
    """One sentence for an error from Google Cloud, with its own message, never a traceback."""
    from google.api_core.exceptions import GoogleAPICallError, RetryError
    from google.auth.exceptions import GoogleAuthError, TransportError
    from requests.exceptions import RequestException

    code = getattr(exc, "code", None) if isinstance(exc, GoogleAPICallError) else None
    said = exc.message if isinstance(exc, GoogleAPICallError) else str(exc)
    detail = " ".join(str(said or "").split())
    # The REST transport puts the request first ("POST https://...: <message>"): not for a page.
    detail = re.sub(r"^(GET|POST|PUT|PATCH|DELETE) \S+: ", "", detail)[:300].rstrip(".")
    if isinstance(exc, RetryError | TransportError | RequestException):
        text = "Google Cloud could not be reached from here (the network, or Cloud NAT)"
    elif isinstance(exc, GoogleAuthError):
        text = (
            "no usable Google Cloud credentials were found (on the devhost, its service"
            " account; elsewhere, `gcloud auth application-default login`)"
        )
    elif isinstance(code, int) and code >= 500:
        text = "Google Cloud did not answer properly just now; try again in a minute"
    else:
        text = _CLOUD_SENTENCES.get(code or 0, "Google Cloud refused the request")
    where = f"{code} " if code else ""
    return f"{text} ({where}{type(exc).__name__}: {detail})." if detail else f"{text}."
