"""A cluster that deleted itself (dev's idle_delete_ttl): the Dataproc stand-in answers NOT_FOUND,
as Dataproc does, and the CLI, the page and the program each say so in one sentence.

The real google-cloud-dataproc client (REST) talks to the stand-in; no job runs, so the module
takes seconds. `pulumi up`'s side is in tests/infra/test_job.py (the program under mocks, the
same stand-in).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from dataproc_faces import cli, remote
from dataproc_faces.web import create_app
from dataproc_faces.web.settings import Cloud, Settings
from tests.e2e.conftest import PROJECT, patched_env, upload
from tests.e2e.dataproc_standin import DataprocStandIn, _error
from tests.images import SAMPLES
from tests.web.helpers import token

pytestmark = pytest.mark.e2e

GONE, LIVE, REGION = "dpf-dev-cluster", "dpf-dev-other", "europe-west1"
SENTENCE = (
    f"cluster {GONE} no longer exists in project {PROJECT}, region {REGION} (a cluster with"
    " idle_delete_ttl deletes itself when idle): run `pulumi up --refresh` to create it again,"
    " then run this again"
)


@pytest.fixture(scope="module")
def standin(bucket, gcs_env) -> Iterator[DataprocStandIn]:
    """Knows LIVE only: GONE was deleted, as the idle TTL deletes dev's cluster."""
    server = DataprocStandIn(gcs_env, staging_bucket=bucket, clusters={LIVE})
    with server, patched_env({"DATAPROC_ENDPOINT": server.url}):
        yield server


@pytest.fixture(scope="module")
def outputs(bucket, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("stack") / "outputs.json"
    path.write_text(
        json.dumps(
            {
                "project": PROJECT,
                "region": REGION,
                "cluster_name": GONE,
                "upload_images_to": f"gs://{bucket}/images/",
                "results_uri": f"gs://{bucket}/runs/",
                "job_main_uri": f"gs://{bucket}/artifacts/main-1.py",
                "job_package_uri": f"gs://{bucket}/artifacts/dataproc_faces-1.zip",
            }
        )
    )
    return path.as_posix()


@pytest.fixture(autouse=True)
def fresh_outputs() -> None:
    remote.stack_outputs.cache_clear()


def test_the_cli_says_the_cluster_is_gone_and_how_to_bring_it_back(standin, outputs, capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["submit", "--stack-outputs", outputs, "--run-id", "gone"])
    out, err = capsys.readouterr()
    assert (done.value.code, out) == (2, "")
    assert err.splitlines() == [f"dataproc-faces: error: {SENTENCE}"]
    sent = [r for r in standin.requests if r[0] == "POST"]
    assert sent == [("POST", f"/v1/projects/{PROJECT}/regions/{REGION}/jobs:submit")]
    assert standin.jobs == {}


def test_the_same_submit_to_a_live_cluster_is_accepted(standin, outputs, capsys):
    """The NOT_FOUND is the cluster's, not something else about the submission."""
    with pytest.raises(SystemExit) as done:
        cli.main(["submit", "--stack-outputs", outputs, "--cluster", LIVE, "--run-id", "live"])
    assert done.value.code == 0, capsys.readouterr().err
    (job,) = standin.jobs.values()
    assert job["placement"]["clusterName"] == LIVE


def test_a_not_found_about_something_else_is_not_called_a_gone_cluster(
    standin, outputs, monkeypatch
):
    from google.api_core.exceptions import NotFound

    not_found = (404, _error(404, f"Not found: Region projects/{PROJECT}/regions/{REGION}"))
    monkeypatch.setattr(standin, "submit", lambda *job: not_found)
    args = cli.build_parser().parse_args(["submit", "--stack-outputs", outputs])
    with pytest.raises(NotFound, match="Not found: Region"):
        remote.submit(args)


def test_the_page_shows_the_sentence_instead_of_a_server_error(standin, outputs, bucket, tmp_path):
    cloud = Cloud(f"gs://{bucket}/images", f"gs://{bucket}/runs", ("--stack-outputs", outputs))
    upload(bucket, {"images/b1/camera.png": (SAMPLES / "camera.png").read_bytes()})
    client = create_app(Settings(data=tmp_path, cloud=cloud)).test_client()
    r = client.post("/runs", data={"csrf_token": token(client), "batch": "b1"})
    page = r.get_data(as_text=True)
    assert r.status_code == 409, page
    assert "Server error" not in page
    assert f"The job was not submitted: the {SENTENCE}." in page
    assert list((tmp_path / "runs").glob("*.json")) == []  # no run recorded


def test_cluster_exists_asks_dataproc_with_the_real_client(standin):
    assert remote.cluster_exists(PROJECT, REGION, LIVE) is True
    assert remote.cluster_exists(PROJECT, REGION, GONE) is False
    path = f"/v1/projects/{PROJECT}/regions/{REGION}/clusters/{GONE}"
    assert ("GET", path) in standin.requests
