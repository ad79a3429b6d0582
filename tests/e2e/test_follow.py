"""`follow` against the Pub/Sub stand-in (real google-cloud-pubsub client over gRPC) and the
storage emulator: duplicates, an overwrite, a delete, a kill before the acknowledgement at each
step, a failed run, and a burst of thousands of messages grouped into few runs."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from dataproc_faces import follow
from dataproc_faces.follow import drain_once, local_runner
from dataproc_faces.storage import gcs
from tests.conftest import SAMPLES
from tests.e2e.conftest import patched_env, upload
from tests.e2e.pubsub_standin import PubSubStandIn

pytestmark = [pytest.mark.e2e]

TOPIC = "projects/test-project/topics/input-changes"


@pytest.fixture(scope="module")
def standin(gcs_env) -> Iterator[PubSubStandIn]:
    with PubSubStandIn() as server, patched_env({"PUBSUB_EMULATOR_HOST": server.url}):
        yield server


@pytest.fixture
def subscription(standin: PubSubStandIn) -> str:
    name = f"projects/test-project/subscriptions/follow-{uuid.uuid4().hex[:8]}"
    standin.subscribe(TOPIC, name)
    return name


@pytest.fixture
def folder(bucket: str) -> dict[str, str]:
    """A fresh input prefix, results folder and lists folder in the module's bucket."""
    tag = uuid.uuid4().hex[:8]
    return {
        "bucket": bucket,
        "root": f"gs://{bucket}/images-{tag}",
        "prefix": f"images-{tag}",
        "output": f"gs://{bucket}/runs-{tag}/feed",
        "lists": f"gs://{bucket}/runs-{tag}/_feed-lists",
    }


def notify(
    standin: PubSubStandIn,
    bucket: str,
    name: str,
    generation: int,
    event: str = "FINALIZE",
    **extra: str,
) -> None:
    """What Cloud Storage publishes (payload NONE: the attributes say it all)."""
    attributes = {
        "eventType": f"OBJECT_{event}",
        "bucketId": bucket,
        "objectId": name,
        "objectGeneration": str(generation),
        "payloadFormat": "NONE",
        **extra,
    }
    standin.put(TOPIC, attributes)


class Recorder:
    """A runner that records each input list it is given (read back from Cloud Storage)."""

    def __init__(self, status: int = 0) -> None:
        self.lists: list[list[str]] = []
        self.status = status

    def __call__(self, listing: str, root: str, output: str) -> int:
        text = gcs.GcsStore().read(listing).decode()
        self.lists.append(text.split())
        return self.status


def drain(
    sub: str, folder: dict[str, str], runner: Callable[..., int], client: Any = None, **kw: Any
):
    return drain_once(
        client or follow.subscriber_client(),
        sub,
        root=folder["root"],
        output=folder["output"],
        lists=folder["lists"],
        runner=runner,
        **kw,
    )


def test_duplicates_and_an_overwrite_make_one_run_over_each_photo_once(
    standin: PubSubStandIn, subscription: str, folder: dict[str, str]
) -> None:
    b, p = folder["bucket"], folder["prefix"]
    notify(standin, b, f"{p}/a.jpg", 1)
    notify(standin, b, f"{p}/a.jpg", 1)  # the same notification twice
    notify(standin, b, f"{p}/b.jpg", 1)
    notify(standin, b, f"{p}/b.jpg", 1, "DELETE", overwrittenByGeneration="2")  # an overwrite:
    notify(standin, b, f"{p}/b.jpg", 2, overwroteGeneration="1")  # ... its delete and finalize
    notify(standin, b, "elsewhere/c.jpg", 1)  # not under the input prefix
    notify(standin, b, f"{p}/_temporary/0/d.jpg", 1)  # Spark's marker folder
    runner = Recorder()
    done = drain(subscription, folder, runner)
    assert runner.lists == [[f"{folder['root']}/a.jpg", f"{folder['root']}/b.jpg"]]
    assert (done.messages, done.ignored, done.forgotten, done.status) == (7, 3, 0, 0)
    assert standin.outstanding(subscription) == 0
    assert drain(subscription, folder, runner).messages == 0 and len(runner.lists) == 1


def test_a_failed_run_acknowledges_nothing_and_hands_the_messages_back_at_once(
    standin: PubSubStandIn, subscription: str, folder: dict[str, str]
) -> None:
    notify(standin, folder["bucket"], f"{folder['prefix']}/a.jpg", 1)
    failing = Recorder(status=1)
    assert drain(subscription, folder, failing).status == 1
    assert standin.outstanding(subscription) == 1
    again = Recorder()
    done = drain(subscription, folder, again)  # no lease to wait for: handed back
    assert done.messages == 1 and again.lists == failing.lists
    assert standin.outstanding(subscription) == 0


class Dying:
    """The client of a process that is killed: after `die()` every call fails, so nothing is
    acknowledged or handed back; the leases end only when the stand-in says so."""

    def __init__(self) -> None:
        self.client = follow.subscriber_client()
        self.dead = False
        self.acks = 0

    def die(self) -> None:
        self.dead = True
        raise SystemExit("killed")

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            if self.dead:
                raise SystemExit("killed")
            if name == "acknowledge":
                self.acks += 1
                if self.acks == 2:  # killed half-way through the acknowledgement
                    self.die()
            return method(*args, **kwargs)

        return call


@pytest.mark.parametrize("when", ["before the run", "after the run", "during the ack"])
def test_killed_at_any_step_the_messages_come_back_and_the_next_drain_finishes(
    standin: PubSubStandIn, subscription: str, folder: dict[str, str], when: str
) -> None:
    b, p = folder["bucket"], folder["prefix"]
    count = 2 * follow.ACK_BATCH + 1  # three Acknowledge requests
    for i in range(count):
        notify(standin, b, f"{p}/{i:04d}.jpg", 1)
    client = Dying()
    ran: list[int] = []

    def runner(listing: str, root: str, output: str) -> int:
        if when == "before the run":
            client.die()
        ran.append(len(gcs.GcsStore().read(listing).split()))
        if when == "after the run":
            client.die()
        return 0

    with pytest.raises(SystemExit):
        drain(subscription, folder, runner, client=client)
    acked_before = count - standin.outstanding(subscription)
    assert acked_before == (follow.ACK_BATCH if when == "during the ack" else 0)
    assert standin.expire() == count - acked_before  # the rest were still leased
    rerun = Recorder()
    done = drain(subscription, folder, rerun)
    assert done.messages == count - acked_before
    assert len(rerun.lists) == 1 and len(rerun.lists[0]) == count - acked_before
    assert standin.outstanding(subscription) == 0


def test_a_burst_of_thousands_of_messages_is_a_few_runs(
    standin: PubSubStandIn, subscription: str, folder: dict[str, str]
) -> None:
    b, p = folder["bucket"], folder["prefix"]
    photos = 2500
    for _ in range(2):  # every notification twice: 5,000 messages
        for i in range(photos):
            notify(standin, b, f"{p}/day/{i:05d}.jpg", 1)
    runner = Recorder()
    rounds = 0
    while drain(subscription, folder, runner, max_messages=2000).messages:
        rounds += 1
    assert rounds == 3 and len(runner.lists) == 3
    assert {u for lst in runner.lists for u in lst} == {
        f"{folder['root']}/day/{i:05d}.jpg" for i in range(photos)
    }
    assert standin.outstanding(subscription) == 0
    for _ in range(2):
        for i in range(photos):
            notify(standin, b, f"{p}/day/{i:05d}.jpg", 2)
    one = Recorder()
    assert drain(subscription, folder, one).messages == 2 * photos
    assert len(one.lists) == 1 and len(one.lists[0]) == photos


def test_a_delete_is_forgotten_only_while_the_photo_is_gone(
    standin: PubSubStandIn, subscription: str, folder: dict[str, str]
) -> None:
    b, p = folder["bucket"], folder["prefix"]
    upload(b, {f"{p}/back.jpg": b"uploaded again after its delete"})
    notify(standin, b, f"{p}/back.jpg", 1)
    notify(standin, b, f"{p}/back.jpg", 1, "DELETE")  # the delete arrives late
    notify(standin, b, f"{p}/gone.jpg", 3, "DELETE")
    runner = Recorder()
    done = drain(subscription, folder, runner)
    assert runner.lists == [[f"{folder['root']}/back.jpg"]]
    assert done.forgotten == 0  # gone.jpg had no results; nothing else was removed


def test_a_delete_only_drain_recounts_the_summary_totals(
    standin: PubSubStandIn, subscription: str, folder: dict[str, str]
) -> None:
    """No run follows the forget: summary.json's totals are recounted (results/totals.py), the
    last run's own fields kept."""
    from dataproc_faces.results.folders import folder_of
    from dataproc_faces.results.layout import Results
    from dataproc_faces.results.ledger import folder_pid, write_part

    b, p, root, out = folder["bucket"], folder["prefix"], folder["root"], folder["output"]
    results = Results(out, protect=root)
    store = results.store()
    done = [
        {"path": f"{root}/{x}.png", "status": "ok", "faces": [{}] * n, "runtime": "cv2"}
        for x, n in (("a", 2), ("b", 1))
    ]
    states = [{"path": r["path"], "version": "1", "options": "k"} for r in done]
    write_part(store, results, folder_pid(folder_of("a.png"), "0001-aa"), done, states)
    before = {"inputs": 2, "ok": 2, "errors": 0, "faces": 3, "processed": 2, "runtime": ["cv2"]}
    store.write(results.summary, json.dumps(before).encode())
    notify(standin, b, f"{p}/a.png", 1, "DELETE")  # never uploaded: gone
    runner = Recorder()
    drained = drain(subscription, folder, runner)
    assert drained.forgotten == 1 and runner.lists == []
    after = json.loads(store.read(results.summary))
    assert (after["inputs"], after["ok"], after["faces"], after["processed"]) == (1, 1, 1, 2)


def rows(output: str) -> dict[str, dict[str, Any]]:
    store = gcs.GcsStore()
    found = {}
    for name in store.list_files(f"{output}/manifest"):
        for line in store.read(f"{output}/manifest/{name}").decode().splitlines():
            row = json.loads(line)
            assert row["path"] not in found, "one row per photo"
            found[row["path"]] = row
    return found


def states(output: str) -> dict[str, tuple[str, str]]:
    """Per photo: (the part that recorded it, the version it recorded)."""
    store = gcs.GcsStore()
    found = {}
    for name in store.list_files(f"{output}/_state"):
        if name.startswith(("_digests/", "_totals/")):  # the folders' digests, parts' totals
            continue
        for line in store.read(f"{output}/_state/{name}").decode().splitlines():
            s = json.loads(line)
            found[s["path"]] = (name, s["version"])
    return found


@pytest.mark.spark
def test_real_runs_record_each_photo_once_through_a_kill_an_overwrite_and_a_delete(
    standin: PubSubStandIn, subscription: str, folder: dict[str, str]
) -> None:
    b, p, root, out = folder["bucket"], folder["prefix"], folder["root"], folder["output"]
    face = (SAMPLES / "astronaut.png").read_bytes()
    names = {x: f"{p}/{x}.png" for x in ("a", "b", "c")}
    upload(b, {n: face for n in names.values()})
    bucket = gcs.client().bucket(b)
    generation = {x: bucket.get_blob(n).generation for x, n in names.items()}
    for x, n in names.items():
        notify(standin, b, n, generation[x])
    notify(standin, b, names["a"], generation["a"])  # a duplicate
    client = Dying()
    real = local_runner([], "local[2]")

    def run_then_killed(listing: str, root: str, output: str) -> int:
        assert real(listing, root, output) == 0
        client.die()  # killed after the run recorded them, before the acknowledgement
        return 0

    with pytest.raises(SystemExit):
        drain(subscription, folder, run_then_killed, client=client)
    first = states(out)
    assert {u: v for u, (_, v) in first.items()} == {
        f"gs://{b}/{n}": str(generation[x]) for x, n in names.items()
    }
    assert standin.expire() == 4
    # While the lease was lost: b overwritten, c deleted.
    upload(b, {names["b"]: (SAMPLES / "coffee.png").read_bytes()})
    new_b = bucket.get_blob(names["b"]).generation
    notify(standin, b, names["b"], new_b, overwroteGeneration=str(generation["b"]))
    bucket.blob(names["c"]).delete()
    notify(standin, b, names["c"], generation["c"], "DELETE")
    c_row = rows(out)[f"{root}/c.png"]
    assert gcs.GcsStore().version(c_row["output"]) is not None

    done = drain(subscription, folder, real)
    assert done.status == 0 and done.messages == 6 and done.forgotten == 1
    assert done.ran == [f"{root}/a.png", f"{root}/b.png"]
    after = states(out)
    assert after[f"{root}/a.png"] == first[f"{root}/a.png"]  # skipped: recorded once
    assert after[f"{root}/b.png"][1] == str(new_b)  # the overwrite, processed again
    assert f"{root}/c.png" not in after and f"{root}/c.png" not in rows(out)
    for uri in (c_row["output"], c_row["thumbnail"]):
        assert uri is None or gcs.GcsStore().version(uri) is None
    assert set(rows(out)) == {f"{root}/a.png", f"{root}/b.png"}
    assert standin.outstanding(subscription) == 0
    # the gallery's pages: the deleted photo gone from its folder's pages and the merged lists
    store = gcs.GcsStore()
    pages = [
        store.read(f"gs://{b}/{n}").decode()
        for n in names_under(b, out.split("/", 3)[3] + "/gallery/")
        if n.endswith(".js")
    ]
    assert pages and not any("c.png" in text for text in pages)
    assert any('"n":"a.png"' in text for text in pages)
    assert any('"n":"b.png"' in text for text in pages)


def names_under(bucket: str, prefix: str) -> list[str]:
    return [blob.name for blob in gcs.client().list_blobs(bucket, prefix=prefix)]


def test_each_drain_leaves_its_status_for_the_page(
    standin: PubSubStandIn, subscription: str, folder: dict[str, str]
) -> None:
    b, p = folder["bucket"], folder["prefix"]
    for i in range(5):
        notify(standin, b, f"{p}/x{i}.png", 1)
    recorder = Recorder()
    done = drain(subscription, folder, recorder, max_messages=3)
    assert done.messages == 3
    status = follow.feed_status(folder["output"].rsplit("/", 1)[0])
    assert status is not None
    assert (status["messages"], status["photos"], status["more"]) == (3, 3, True)
    assert status["oldest_seconds"] is not None and 0 <= status["oldest_seconds"] < 600
    drain(subscription, folder, recorder, max_messages=3)
    status = follow.feed_status(folder["output"].rsplit("/", 1)[0])
    assert (status["messages"], status["more"]) == (2, False)
    drain(subscription, folder, recorder)  # an empty subscription: says so, with its time
    status = follow.feed_status(folder["output"].rsplit("/", 1)[0])
    assert (status["messages"], status["more"], status["oldest_seconds"]) == (0, False, None)
