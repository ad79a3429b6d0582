"""`follow`: drain the input bucket's change feed into one run over exactly the photos it names.

Cloud Storage publishes a notification per new, overwritten or deleted object under the stack's
images prefix (infra/feed.py). `follow` pulls what the subscription holds, keeps the newest event
per object, removes the results of deleted photos (results/forget.py), writes the others to an
input list and runs the job over that list (the stack's cluster or a Serverless batch, as
`submit` would; `--local` runs it here). Only after the run has ended well does it acknowledge
the messages.

Messages are at least once: one may come twice, or again after `follow` was killed before its
acknowledgement. Results are exactly once through the ledger: a photo whose version (generation)
was already processed with the same options is skipped by the run, an overwritten one has a new
generation and is processed again. A failed run acknowledges nothing and hands the messages back
at once; after the subscription's delivery attempts they go to its dead-letter topic.

With `PUBSUB_EMULATOR_HOST=127.0.0.1:PORT` the client talks to that address without credentials
(the tests' stand-in); the subscription comes from `--subscription`, `--stack-outputs`
(`feed_subscription`) or DATAPROC_FACES_FEED_SUBSCRIPTION, as the devhost sets it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

FINALIZE, DELETE = "OBJECT_FINALIZE", "OBJECT_DELETE"
PULL_BATCH = 1000  # the most messages one Pull returns
ACK_BATCH = 500  # ack ids per Acknowledge / ModifyAckDeadline request (request size limit)
PULL_TIMEOUT = 30.0
DEFAULT_MAX_MESSAGES = 20_000
DEFAULT_LEASE = 600  # seconds: the subscription's ack deadline (infra/feed.py)
FEED_FOLDER = "feed"  # the feed's results folder below results_uri
LISTS_FOLDER = "_feed-lists"  # its input lists, beside it ('_': never a run of its own)
STATUS_FILE = "status.json"  # in the lists folder: the last drain, for the web page

# runner(input list URI, input root, output) -> exit status; 0 once the run recorded every entry
Runner = Callable[[str, str, str], int]


@dataclass(frozen=True)
class Event:
    """One notification: which object, which generation, and whether it is gone."""

    uri: str
    generation: int
    deleted: bool


def event_of(attributes: dict[str, str]) -> Event | None:
    """The event a Cloud Storage notification describes, or None when it changes no photo.

    A delete that is half of an overwrite (it names `overwrittenByGeneration`) is left out: the
    new generation's finalize says all there is to say."""
    kind = attributes.get("eventType")
    bucket, name = attributes.get("bucketId", ""), attributes.get("objectId", "")
    if kind not in (FINALIZE, DELETE) or not bucket or not name or name.endswith("/"):
        return None
    if kind == DELETE and attributes.get("overwrittenByGeneration"):
        return None
    try:
        generation = int(attributes.get("objectGeneration") or 0)
    except ValueError:
        generation = 0
    return Event(f"gs://{bucket}/{name}", generation, kind == DELETE)


def newest(events: Iterable[Event]) -> dict[str, Event]:
    """Per object, the event of its newest generation; a delete wins over the finalize of the
    same generation (it came after it), whatever order the messages arrived in."""
    out: dict[str, Event] = {}
    for e in events:
        seen = out.get(e.uri)
        if seen is None or (e.generation, e.deleted) > (seen.generation, seen.deleted):
            out[e.uri] = e
    return out


@dataclass
class Plan:
    """What one drain does: the photos to run, the photos to forget, the messages it covers."""

    run: list[str] = field(default_factory=list)
    forget: list[str] = field(default_factory=list)
    ignored: int = 0  # messages naming no photo under the input (or a skipped name)


def plan(
    events: Iterable[Event | None], root: str, exists: Callable[[str], bool] | None = None
) -> Plan:
    """The newest event per photo under `root`. A photo whose newest event is a delete is
    forgotten only if it is still gone (`exists`): a delete that arrives after the photo was
    uploaded again must not remove the new photo's results."""
    from dataproc_faces.storage.base import is_within
    from dataproc_faces.storage.skips import is_ignored

    out = Plan()
    kept: list[Event] = []
    for e in events:
        inside = e is not None and is_within(e.uri, root) and e.uri.rstrip("/") != root.rstrip("/")
        if e is None or not inside or is_ignored(e.uri[len(root.rstrip("/")) + 1 :]):
            out.ignored += 1
        else:
            kept.append(e)
    latest = newest(kept)
    deleted = sorted(u for u, e in latest.items() if e.deleted)
    back: set[str] = set()
    if deleted and exists is not None:
        with ThreadPoolExecutor(16) as pool:
            back = {u for u, there in zip(deleted, pool.map(exists, deleted), strict=True) if there}
    out.run = sorted(u for u, e in latest.items() if not e.deleted or u in back)
    out.forget = [u for u in deleted if u not in back]
    return out


def list_name(entries: Sequence[str]) -> str:
    """Named by what it holds: the same photos give the same list (and the same job id)."""
    digest = hashlib.sha256("\n".join(entries).encode()).hexdigest()[:20]
    return f"list-{digest}.txt"


class Lease:
    """Keeps the pulled messages leased while the run goes on (ModifyAckDeadline every third of
    the deadline), so Pub/Sub does not hand them to another `follow` meanwhile."""

    def __init__(self, client: Any, subscription: str, ack_ids: list[str], seconds: int) -> None:
        self.client, self.subscription, self.ack_ids = client, subscription, ack_ids
        self.seconds = seconds
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._keep, daemon=True)

    def _keep(self) -> None:
        while not self.stop.wait(max(1.0, self.seconds / 3)):
            try:
                modify(self.client, self.subscription, self.ack_ids, self.seconds)
            except Exception as exc:  # a lost lease means a redelivery, never a lost photo
                print(
                    f"dataproc-faces: follow: could not extend the lease ({exc})", file=sys.stderr
                )

    def __enter__(self) -> Lease:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def modify(client: Any, subscription: str, ack_ids: list[str], seconds: int) -> None:
    for chunk in _chunks(ack_ids, ACK_BATCH):
        client.modify_ack_deadline(
            request={
                "subscription": subscription,
                "ack_ids": chunk,
                "ack_deadline_seconds": seconds,
            }
        )


def acknowledge(client: Any, subscription: str, ack_ids: list[str]) -> None:
    for chunk in _chunks(ack_ids, ACK_BATCH):
        client.acknowledge(request={"subscription": subscription, "ack_ids": chunk})


def pull(client: Any, subscription: str, limit: int) -> list[Any]:
    """Up to `limit` messages: Pull until the subscription answers with none."""
    from google.api_core.exceptions import DeadlineExceeded

    got: list[Any] = []
    while len(got) < limit:
        try:
            response = client.pull(
                request={
                    "subscription": subscription,
                    "max_messages": min(PULL_BATCH, limit - len(got)),
                },
                timeout=PULL_TIMEOUT,
            )
        except DeadlineExceeded:  # nothing arrived while the Pull waited
            break
        if not response.received_messages:
            break
        got.extend(response.received_messages)
    return got


@dataclass
class Drained:
    """What one drain did (printed by the command, asserted by the tests)."""

    messages: int = 0
    ran: list[str] = field(default_factory=list)
    forgotten: int = 0
    ignored: int = 0
    status: int = 0
    oldest: float | None = None  # seconds the oldest message pulled had waited, when known


def _waited(received: list[Any], now: float) -> float | None:
    """How long the oldest pulled message had waited since Pub/Sub took it (publish time)."""
    times = []
    for m in received:
        published = getattr(m.message, "publish_time", None)
        stamp = published.timestamp() if published is not None else 0.0
        if stamp > 86_400:  # an unset time reads as the epoch
            times.append(stamp)
    return round(max(0.0, now - min(times)), 1) if times else None


def write_status(lists: str, protect: str, done: Drained, limit: int, now: float) -> None:
    """The last drain, where the web page reads it (`feed_status`): when, what it pulled, and
    whether it stopped at its limit with more waiting. Pub/Sub's count of undelivered messages
    is a Cloud Monitoring metric, not an API field, and a peek by Pull would lease the messages
    and count a delivery attempt towards the dead letters: so the page shows what the last
    drain saw, and its time, honestly."""
    from dataproc_faces.storage import store_for
    from dataproc_faces.storage.base import join

    status = {
        "time": now,
        "messages": done.messages,
        "photos": len(done.ran),
        "forgotten": done.forgotten,
        "ignored": done.ignored,
        "status": done.status,
        "more": done.messages >= limit,  # stopped at --max-messages: more were waiting
        "oldest_seconds": done.oldest,
    }
    data = json.dumps(status, sort_keys=True).encode()
    store_for(lists, protect=[protect]).write(join(lists, STATUS_FILE), data, "application/json")


def _ago(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def describe_status(status: dict[str, Any], now: float) -> str:
    """The feed's backlog as the last drain saw it, in one sentence for the page."""
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(status["time"])))
    n = int(status.get("messages") or 0)
    text = (
        f"Last drained {_ago(now - float(status['time']))} ago ({when}): {n} message"
        f"{'s' if n != 1 else ''}, {int(status.get('photos') or 0)} photos run, "
        f"{int(status.get('forgotten') or 0)} forgotten. "
    )
    if int(status.get("status") or 0):
        text += "Its run failed: the messages went back to the subscription. "
    elif status.get("more"):
        text += "More were waiting: the drain stopped at its limit and goes on next time. "
    else:
        text += "Nothing else was waiting then. "
    if status.get("oldest_seconds") is not None:
        text += f"The oldest message had waited {_ago(float(status['oldest_seconds']))}."
    return text.strip()


def feed_status(results_root: str) -> dict[str, Any] | None:
    """The last drain `follow` recorded under a results root (None: no feed, or unreadable)."""
    from dataproc_faces.storage import store_for
    from dataproc_faces.storage.base import join

    uri = join(join(results_root, LISTS_FOLDER), STATUS_FILE)
    try:
        store = store_for(uri)
        if store.version(uri) is None:
            return None
        found = json.loads(store.read(uri))
    except Exception:  # the page still works without it
        return None
    if not isinstance(found, dict) or not isinstance(found.get("time"), int | float):
        return None
    return found


def drain_once(
    client: Any,
    subscription: str,
    *,
    root: str,
    output: str,
    lists: str,
    runner: Runner,
    max_messages: int = DEFAULT_MAX_MESSAGES,
    lease: int = DEFAULT_LEASE,
) -> Drained:
    """Pull, forget the deleted, run the rest, acknowledge: one round. Killed anywhere before
    the acknowledgement, the messages come back and the next round redoes only what the ledger
    has not recorded."""
    from dataproc_faces.results.forget import forget
    from dataproc_faces.results.gallery import refresh
    from dataproc_faces.results.layout import Results
    from dataproc_faces.results.totals import refresh_summary
    from dataproc_faces.storage import store_for
    from dataproc_faces.storage.base import join

    received = pull(client, subscription, max_messages)
    now = time.time()
    done = Drained(messages=len(received), oldest=_waited(received, now))
    if not received:
        write_status(lists, root, done, max_messages, now)
        return done
    ack_ids = [m.ack_id for m in received]
    with Lease(client, subscription, ack_ids, lease):
        try:
            store = store_for(root)
            todo = plan(
                (event_of(dict(m.message.attributes)) for m in received),
                root,
                exists=lambda uri: store.version(uri) is not None,
            )
            done.ignored = todo.ignored
            if todo.forget:
                # Before the run, so the run's summary and gallery no longer count them.
                done.forgotten = forget(Results(output, protect=root), todo.forget)
                if not todo.run:  # no run: the summary's totals and the gallery's pages now
                    refresh_summary(Results(output, protect=root))
                    refresh(Results(output, protect=root))
            if todo.run:
                listing = join(lists, list_name(todo.run))
                store_for(lists, protect=[root]).write(
                    listing, "".join(u + "\n" for u in todo.run).encode(), "text/plain"
                )
                done.status = runner(listing, root, output)
                done.ran = todo.run
        except BaseException:
            modify(client, subscription, ack_ids, 0)  # back at once; killed: after the deadline
            raise
    write_status(lists, root, done, max_messages, now)
    if done.status != 0:
        modify(client, subscription, ack_ids, 0)
        return done
    acknowledge(client, subscription, ack_ids)
    return done


def subscriber_client() -> Any:
    """The official client; PUBSUB_EMULATOR_HOST points it at a local server, no credentials."""
    from google.cloud import pubsub_v1

    return pubsub_v1.SubscriberClient()


def local_runner(extra: Sequence[str], master: str | None) -> Runner:
    """`run --input-list` in this process, on local Spark."""

    def run(listing: str, root: str, output: str) -> int:
        from dataproc_faces.cli import build_parser

        argv = ["run", "--input-list", listing, "--input", root, "--output", output, *extra]
        if master:
            argv += ["--master", master]
        args = build_parser().parse_args(argv)
        return int(args.func(args))

    return run


MAX_RESUBMITS = 20  # failed jobs of one list before follow gives up on it (dead letters next)


def remote_runner(args: argparse.Namespace, extra: Sequence[str]) -> Runner:
    """The stack's runner (a cluster job or a Serverless batch, as `submit` picks), waited for.
    The job id comes from the list's name: a `follow` killed while its job ran finds that job
    again and waits for it instead of submitting a second one. A job of that id that failed is
    not waited for again: the list goes to a new job, `<id>-2`, `<id>-3`, ..."""
    from dataproc_faces import remote
    from dataproc_faces.cli import UsageError, build_parser

    def run(listing: str, root: str, output: str) -> int:
        base = "feed-" + listing.rsplit("list-", 1)[1].removesuffix(".txt")
        argv = ["submit", "--input", root, "--input-list", listing, "--output", output, *extra]
        for name in ("project", "region", "cluster", "stack_outputs"):
            if getattr(args, name, None):
                argv += [f"--{name.replace('_', '-')}", getattr(args, name)]
        for attempt in range(1, MAX_RESUBMITS + 1):
            job_id = base if attempt == 1 else f"{base}-{attempt}"
            sub = build_parser().parse_args([*argv, "--job-id", job_id])
            project = str(remote.resolve(sub, "project"))
            region = str(remote.resolve(sub, "region"))
            batch = remote.serverless(sub)
            try:
                client = remote.submit(sub).client
                break
            except UsageError as exc:
                if "exists already" not in str(exc):
                    raise
            client = remote.batch_client(region) if batch else remote.job_client(region)
            seen = remote.look(client, project, region, job_id, batch)
            if not seen.ended or seen.ok:  # running or done: that job is this list's run
                break
        else:
            raise UsageError(f"{MAX_RESUBMITS} jobs over {listing} failed; see their logs")
        return remote.wait_for(client, project, region, job_id, args.interval, None, batch=batch)

    return run


def _check_cluster(args: argparse.Namespace) -> None:
    """Before pulling: a cluster that is gone would fail every run, and each failed delivery
    counts towards the dead letters; so nothing is pulled until it is back."""
    from dataproc_faces import remote

    if remote.serverless(args):
        return
    project, region = str(remote.resolve(args, "project")), str(remote.resolve(args, "region"))
    cluster = str(remote.resolve(args, "cluster"))
    if not remote.cluster_exists(project, region, cluster):
        raise remote.ClusterGone(cluster, project, region)


def register(subparsers: argparse._SubParsersAction) -> None:
    from dataproc_faces import remote

    p = subparsers.add_parser(
        "follow",
        help="run the photos the input bucket's change feed names (new, overwritten, deleted)",
        description="Drain the stack's change-feed subscription: forget the results of deleted "
        "photos, run the job over exactly the new and overwritten ones, then acknowledge. "
        "Repeats until the subscription is empty (or once, with --once).",
    )
    p.add_argument(
        "--subscription",
        dest="feed_subscription",
        help="projects/P/subscriptions/S (default: feed_subscription)",
    )
    p.add_argument("--input", help="gs:// prefix the feed covers (default: upload_images_to)")
    p.add_argument("--output", help="results folder (default: <results_uri>/feed)")
    p.add_argument("--lists", help="gs:// folder for the input lists (default: beside --output)")
    remote.add_location(p)
    p.add_argument("--cluster", help="Dataproc cluster name (default: stack outputs)")
    p.add_argument(
        "--max-messages",
        type=int,
        default=DEFAULT_MAX_MESSAGES,
        help="messages one run covers at most",
    )
    p.add_argument("--once", action="store_true", help="one round only")
    p.add_argument("--local", action="store_true", help="run on local Spark instead of Dataproc")
    p.add_argument("--master", help="Spark master for --local (default local[*])")
    p.add_argument("--interval", type=float, default=10.0, help="seconds between job polls")
    p.add_argument(
        "--mode", default=None, help="`run`'s --mode for the feed's runs (default outline)"
    )
    p.set_defaults(func=cmd_follow)


def cmd_follow(args: argparse.Namespace) -> int:
    from dataproc_faces import remote
    from dataproc_faces.cli import UsageError
    from dataproc_faces.storage.base import join, normalise

    if args.max_messages < 1:
        raise UsageError("--max-messages must be a positive integer")
    subscription = str(remote.resolve(args, "feed_subscription"))
    root = normalise(str(args.input or remote.resolve(args, "input")))
    output = args.output or join(str(remote.resolve(args, "results")), FEED_FOLDER)
    output = normalise(output)
    lists = normalise(args.lists or join(output.rsplit("/", 1)[0], LISTS_FOLDER))
    extra = ["--mode", args.mode] if args.mode else []
    runner = local_runner(extra, args.master) if args.local else remote_runner(args, extra)
    if not args.local:
        _check_cluster(args)
    client = subscriber_client()
    while True:
        done = drain_once(
            client,
            subscription,
            root=root,
            output=output,
            lists=lists,
            runner=runner,
            max_messages=args.max_messages,
        )
        print(
            f"dataproc-faces: follow: {done.messages} messages, {len(done.ran)} photos run, "
            f"{done.forgotten} forgotten, {done.ignored} ignored",
            file=sys.stderr,
        )
        if done.status != 0:
            print("dataproc-faces: follow: the run failed; messages handed back", file=sys.stderr)
            return done.status
        if args.once or done.messages == 0:
            return 0
