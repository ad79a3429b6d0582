"""`dataproc-faces follow` on the stack's cluster: the real Pub/Sub and Dataproc clients against
their stand-ins. One job per drain over the feed's input list, acknowledged once DONE; a `follow`
killed while its job ran finds that job again instead of submitting a second one."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from dataproc_faces import remote
from dataproc_faces.follow import FEED_FOLDER, LISTS_FOLDER, list_name
from dataproc_faces.storage import gcs
from tests.e2e.conftest import PROJECT, patched_env
from tests.e2e.pubsub_standin import PubSubStandIn
from tests.e2e.test_remote_fast import CLUSTER, REGION, FakeClock, ScriptedStandIn, run

pytestmark = pytest.mark.e2e

TOPIC = "projects/test-project/topics/input-changes"
SUBSCRIPTION = "projects/test-project/subscriptions/dpf-test-follow"


@pytest.fixture(scope="module")
def servers(bucket, gcs_env) -> Iterator[tuple[ScriptedStandIn, PubSubStandIn]]:
    dataproc = ScriptedStandIn(gcs_env, staging_bucket=bucket, clusters={CLUSTER})
    with (
        dataproc,
        PubSubStandIn() as pubsub,
        patched_env({"DATAPROC_ENDPOINT": dataproc.url, "PUBSUB_EMULATOR_HOST": pubsub.url}),
    ):
        pubsub.subscribe(TOPIC, SUBSCRIPTION)
        yield dataproc, pubsub


@pytest.fixture
def outputs(bucket, tmp_path) -> str:
    path = tmp_path / "outputs.json"
    path.write_text(
        json.dumps(
            {
                "project": PROJECT,
                "region": REGION,
                "cluster_name": CLUSTER,
                "upload_images_to": f"gs://{bucket}/images/",
                "results_uri": f"gs://{bucket}/runs/",
                "job_main_uri": f"gs://{bucket}/artifacts/main-1.py",
                "job_package_uri": f"gs://{bucket}/artifacts/dataproc_faces-1.zip",
                "feed_subscription": SUBSCRIPTION,
            }
        )
    )
    remote.stack_outputs.cache_clear()
    return str(path)


@pytest.fixture(autouse=True)
def clock(monkeypatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(remote, "time", fake)
    return fake


def _notify(pubsub: PubSubStandIn, bucket: str, names: list[str]) -> list[str]:
    for name in names:
        pubsub.put(
            TOPIC,
            {
                "eventType": "OBJECT_FINALIZE",
                "bucketId": bucket,
                "objectId": f"images/{name}",
                "objectGeneration": "1",
            },
        )
    return sorted({f"gs://{bucket}/images/{n}" for n in names})


def test_a_drain_is_one_cluster_job_over_the_feeds_list_acked_once_done(
    servers, outputs, bucket, capsys
) -> None:
    dataproc, pubsub = servers
    uris = _notify(pubsub, bucket, ["a.jpg", "b.jpg", "a.jpg"])
    job_id = "feed-" + list_name(uris)[len("list-") : -len(".txt")]
    dataproc.script[job_id] = [("RUNNING", ""), ("DONE", "")]
    code, _, err = run(capsys, "follow", "--stack-outputs", outputs, "--once", "--interval", "0")
    assert code == 0, err
    job = dataproc.jobs[job_id]
    args = job["pysparkJob"]["args"]
    listing = f"gs://{bucket}/runs/{LISTS_FOLDER}/{list_name(uris)}"
    assert args[args.index("--input-list") + 1] == listing
    assert args[args.index("--output") + 1] == f"gs://{bucket}/runs/{FEED_FOLDER}"
    assert args[args.index("--input") + 1] == f"gs://{bucket}/images"
    assert gcs.GcsStore().read(listing).decode().split() == uris
    assert job["status"]["state"] == "DONE"
    assert pubsub.outstanding(SUBSCRIPTION) == 0
    assert err[-1] == "dataproc-faces: follow: 3 messages, 2 photos run, 0 forgotten, 0 ignored"


def test_killed_while_its_job_ran_the_next_follow_waits_for_that_job(
    servers, outputs, bucket, capsys
) -> None:
    dataproc, pubsub = servers
    uris = _notify(pubsub, bucket, ["c.jpg"])
    job_id = "feed-" + list_name(uris)[len("list-") : -len(".txt")]
    dataproc.add(job_id, "RUNNING")  # submitted by a follow that was then killed
    dataproc.script[job_id] = [("DONE", "")]
    code, _, err = run(capsys, "follow", "--stack-outputs", outputs, "--interval", "0")
    assert code == 0, err
    assert len([j for j in dataproc.jobs if j == job_id]) == 1
    assert pubsub.outstanding(SUBSCRIPTION) == 0


def test_a_failed_job_acknowledges_nothing(servers, outputs, bucket, capsys) -> None:
    dataproc, pubsub = servers
    uris = _notify(pubsub, bucket, ["d.jpg"])
    job_id = "feed-" + list_name(uris)[len("list-") : -len(".txt")]
    dataproc.script[job_id] = [("ERROR", "Job failed")]
    code, _, err = run(capsys, "follow", "--stack-outputs", outputs, "--interval", "0")
    assert code == 1
    assert err[-1] == "dataproc-faces: follow: the run failed; messages handed back"
    assert pubsub.outstanding(SUBSCRIPTION) == 1
    # Redelivered: the same list, so the same job id; Dataproc keeps the failed job, so the list
    # goes to a new one rather than waiting for the failure again.
    dataproc.script[f"{job_id}-2"] = [("DONE", "")]
    code, _, err = run(capsys, "follow", "--stack-outputs", outputs, "--interval", "0")
    assert code == 0, err
    assert dataproc.jobs[job_id]["status"]["state"] == "ERROR"
    assert dataproc.jobs[f"{job_id}-2"]["status"]["state"] == "DONE"
    assert pubsub.outstanding(SUBSCRIPTION) == 0


def test_a_gone_cluster_pulls_nothing_so_no_delivery_counts_towards_the_dead_letters(
    servers, outputs, bucket, capsys
) -> None:
    dataproc, pubsub = servers
    _notify(pubsub, bucket, ["e.jpg"])
    pulls = pubsub.calls.get("Pull", 0)
    dataproc.clusters.discard(CLUSTER)  # dev's idle deletion, a maintenance, ...
    try:
        code, _, err = run(capsys, "follow", "--stack-outputs", outputs, "--interval", "0")
    finally:
        dataproc.clusters.add(CLUSTER)
    assert code == 2
    assert err == [
        f"dataproc-faces: error: {remote.cluster_gone_sentence(CLUSTER, PROJECT, REGION)}"
    ]
    assert pubsub.calls.get("Pull", 0) == pulls
    assert pubsub.outstanding(SUBSCRIPTION) == 1
    uris = sorted({f"gs://{bucket}/images/e.jpg"})
    dataproc.script["feed-" + list_name(uris)[len("list-") : -len(".txt")]] = [("DONE", "")]
    code, _, err = run(capsys, "follow", "--stack-outputs", outputs, "--interval", "0")
    assert code == 0, err
    assert pubsub.outstanding(SUBSCRIPTION) == 0
