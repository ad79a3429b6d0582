"""What the page and the CLI say for each kind of answer (or silence) from Google Cloud."""

from __future__ import annotations

import pytest
from google.api_core import exceptions as api
from google.auth import exceptions as auth

from dataproc_faces.cloud_errors import cloud_errors, cloud_sentence


@pytest.mark.parametrize(
    ("exc", "sentence"),
    [
        (
            auth.TransportError("Connection refused"),
            "Google Cloud could not be reached from here (the network, or Cloud NAT)"
            " (TransportError: Connection refused).",
        ),
        (
            auth.RefreshError("invalid_grant"),
            "no usable Google Cloud credentials were found (on the devhost, its service account;"
            " elsewhere, `gcloud auth application-default login`) (RefreshError: invalid_grant).",
        ),
        (
            api.InternalServerError("POST https://x/v1/batches: backend error."),
            "Google Cloud did not answer properly just now; try again in a minute"
            " (500 InternalServerError: backend error).",
        ),
        (
            api.Unauthorized("token expired"),
            "Google Cloud did not accept the page's credentials (401 Unauthorized: token expired).",
        ),
        (api.Conflict(""), "Dataproc holds a run under the same name already."),
        (
            api.RequestRangeNotSatisfiable("no"),
            "Google Cloud refused the request (416 RequestRangeNotSatisfiable: no).",
        ),
    ],
)
def test_each_answer_is_one_sentence(exc: Exception, sentence: str) -> None:
    assert isinstance(exc, cloud_errors())
    assert cloud_sentence(exc) == sentence


def test_other_errors_are_not_cloud_errors() -> None:
    assert not isinstance(ValueError("x"), cloud_errors())
    assert not isinstance(OSError("disk"), cloud_errors())
