"""GcsStore's details against gcp-storage-emulator, fast enough to run for every mutant.

The real google-cloud-storage client talks to the emulator, directly or through a scripted proxy
that answers chosen requests with 503 or never answers them. With the retry budget at 0 s
(DATAPROC_FACES_GCS_RETRY_SECONDS) and a 0.3 s read timeout, a call that passes this module's
retry and timeout gives up at once with RetryError; a call without them raises the bare error, or
hangs, which the tests bound.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from dataproc_faces.storage import gcs
from tests.e2e.conftest import names, upload
from tests.e2e.faultproxy import FaultProxy

pytestmark = pytest.mark.e2e


def selected(value: Any, fields: str) -> Any:
    """What Cloud Storage answers for `fields` (a partial response, e.g. `items(name),prefixes`),
    which the emulator ignores: only the named keys, nested ones inside parentheses."""
    wanted: dict[str, str] = {}
    depth, start = 0, 0
    for i, ch in enumerate(fields + ","):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            name, _, inner = fields[start:i].partition("(")
            wanted[name.strip()] = inner[:-1]
            start = i + 1
    if isinstance(value, list):
        return [selected(v, fields) for v in value]
    return {
        k: (selected(v, wanted[k]) if wanted[k] else v) for k, v in value.items() if k in wanted
    }


class ScriptedProxy(FaultProxy):
    """Forwards to the emulator, except requests matching a rule: '503' or 'stall' (no answer).
    With `partial`, a listing that names `fields` gets only those, as from Cloud Storage."""

    def __init__(self, upstream_port: int) -> None:
        super().__init__(upstream_port)
        self.rules: list[tuple[str, str]] = []  # (regex on "METHOD path", action), each used once
        self.seen: list[str] = []
        self.partial = False

    def _decide(self, method: str, path: str, body: bytes) -> str | None:
        request = f"{method} {path}"
        with self._lock:
            self.seen.append(request)
            hits = [i for i, (pattern, _) in enumerate(self.rules) if re.search(pattern, request)]
            if not hits:
                return None
            _, action = self.rules.pop(hits[0])
        if action == "stall":
            time.sleep(8)
            return "drop-before"
        return action

    def _forward(self, method, path, headers, body):  # type: ignore[no-untyped-def]
        # media links in object metadata name the emulator: point them at the proxy
        status, head, data = super()._forward(method, path, headers, body)
        upstream, here = f"127.0.0.1:{self.upstream_port}", f"127.0.0.1:{self.port}"
        fields = parse_qs(urlparse(path).query).get("fields")
        if self.partial and fields and status == 200:
            data = json.dumps(selected(json.loads(data), fields[0])).encode()
        return status, head, data.replace(upstream.encode(), here.encode())


@pytest.fixture(scope="module")
def tree(bucket) -> str:
    upload(
        bucket,
        {
            "in/b.png": b"bb",
            "in/a.png": b"a",
            "in/empty.png": b"",
            "in/_SUCCESS": b"",
            "in/.tmp": b"t",
            "in/folder/": b"",
            "in/z/1.png": b"1",
            "in/z/_skip/2.png": b"2",
            "in/z/.x/3.png": b"3",
            "in/z/deep/4.png": b"4444",
            "in/z/placeholder/": b"",
            "in/y/5.png": b"5",
            "in/_hidden/6.png": b"6",
            # what a walk leaves out, and tells: hidden, Spark's, results folders (new, old)
            "in/w/_DSC0001.JPG": b"d",
            "in/w/.cache/x.png": b"x",
            "in/w/.cache/y.png": b"y",
            "in/w/job/_SUCCESS": b"",
            "in/w/job/_temporary/0/p.png": b"p",
            "in/w/res/A.png": b"A",  # sorts before the marker: read, as documented
            "in/w/res/_dataproc_faces.json": b"{}",
            "in/w/res/images/a.png": b"a",
            "in/w/res/thumbs/a.png.jpg": b"a",
            "in/w/old/_state/part-1.json": b"{}",
            "in/w/old/images/b.png": b"b",
            "in/w/old/manifest/part-1.json": b"{}",
            "in/w/zz.png": b"z",
            "in/.git/7": b"7",
            "in//slash.png": b"s",
            "in-not/8.png": b"8",
            "top.png": b"top",
        },
    )
    return f"gs://{bucket}"


def generation(bucket: str, name: str) -> str:
    return str(gcs.client().bucket(bucket).get_blob(name).generation)


# -- names --------------------------------------------------------------------------------------


def test_split_keeps_the_name_exactly_less_trailing_slashes():
    assert gcs.split("gs://b/a/b/") == ("b", "a/b")
    assert gcs.split("gs://b//x//") == ("b", "/x")
    assert gcs.split("gs://b/a b/X") == ("b", "a b/X")
    assert gcs.split("gs://b") == ("b", "")
    assert gcs.split("gs://b/") == ("b", "")
    with pytest.raises(ValueError) as err:
        gcs.split("s3://b/k")
    assert str(err.value) == "not a gs:// URI: 's3://b/k'"
    with pytest.raises(ValueError) as err:
        gcs.split("gs:///k")
    assert str(err.value) == "no bucket in 'gs:///k'"


# -- the client and its retry policy --------------------------------------------------------------


def test_retry_policy_is_exponential_backoff_with_a_budget(monkeypatch):
    from google.api_core.exceptions import NotFound, ServiceUnavailable, TooManyRequests
    from google.cloud.storage.retry import DEFAULT_RETRY

    monkeypatch.delenv(gcs.RETRY_SECONDS_ENV, raising=False)
    policy = gcs._retry()
    assert (policy._initial, policy._maximum, policy._multiplier) == (0.5, 32.0, 2.0)
    assert policy._timeout == 300.0
    assert policy._predicate is DEFAULT_RETRY._predicate
    assert policy._predicate(ServiceUnavailable("x")) and policy._predicate(TooManyRequests("x"))
    assert not policy._predicate(NotFound("x"))
    monkeypatch.setenv(gcs.RETRY_SECONDS_ENV, "")
    assert gcs._retry()._timeout == 300.0
    monkeypatch.setenv(gcs.RETRY_SECONDS_ENV, "8.5")
    assert gcs._retry()._timeout == 8.5


def test_one_client_per_process_and_endpoint(gcs_env, monkeypatch):
    from google.auth.credentials import AnonymousCredentials

    first = gcs.client()
    assert gcs.client() is first
    assert type(first._credentials) is AnonymousCredentials
    assert first.project == gcs_env["GOOGLE_CLOUD_PROJECT"]
    assert gcs_env["STORAGE_EMULATOR_HOST"] == first._connection.API_BASE_URL
    monkeypatch.setenv(gcs.EMULATOR_ENV, "http://127.0.0.1:9")
    other = gcs.client()
    assert other is not first and other is gcs.client()
    assert other._connection.API_BASE_URL == "http://127.0.0.1:9"
    assert (os.getpid(), "http://127.0.0.1:9") in gcs._CLIENTS
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT")
    monkeypatch.setenv(gcs.EMULATOR_ENV, "http://127.0.0.1:10")
    assert gcs.client().project == "local"
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "")
    monkeypatch.setenv(gcs.EMULATOR_ENV, "http://127.0.0.1:11")
    assert gcs.client().project == "local"


def test_a_forked_worker_makes_its_own_client(gcs_env):
    parent = gcs.client()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a Spark worker forked from a process that had a client
        try:
            mine = gcs.client()
            ok = mine is not parent and mine is gcs.client()
            os.write(write, b"new" if ok else b"shared")
        finally:
            os._exit(0)
    os.close(write)
    answer = os.read(read, 16)
    os.close(read)
    os.waitpid(pid, 0)
    assert answer == b"new"


def test_without_an_emulator_the_client_uses_application_default_credentials(monkeypatch):
    from google.auth.exceptions import DefaultCredentialsError

    monkeypatch.delenv(gcs.EMULATOR_ENV, raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", os.devnull)  # sealed: no real ADC
    with pytest.raises(DefaultCredentialsError):
        gcs.client()
    monkeypatch.setenv(gcs.EMULATOR_ENV, "")
    with pytest.raises(DefaultCredentialsError):
        gcs.client()


# -- listing -----------------------------------------------------------------------------------


def test_exists(tree):
    store = gcs.GcsStore()
    assert store.exists(f"{tree}/in") and store.exists(f"{tree}/in/")
    assert store.exists(f"{tree}/in/z/deep")
    assert not store.exists(f"{tree}/in/a")  # a name prefix, not a folder
    assert not store.exists(f"{tree}/top.png")  # an object, not a folder
    assert store.exists(tree) and store.exists(f"{tree}/")
    assert not store.exists("gs://no-such-bucket-here")


def test_objects_are_every_object_below_with_sizes_sorted(tree):
    assert gcs.GcsStore().objects(f"{tree}/in/z") == [
        (".x/3.png", 1),
        ("1.png", 1),
        ("_skip/2.png", 1),
        ("deep/4.png", 4),
    ]
    assert gcs.GcsStore().list_files(f"{tree}/in/z/") == ["1.png", "_skip/2.png", "deep/4.png"]
    everything = gcs.GcsStore().objects(tree)
    assert ("top.png", 3) in everything and ("in/empty.png", 0) in everything
    assert ("in/b.png", 2) in everything and ("in//slash.png", 1) in everything
    assert all(not rel.endswith("/") for rel, _ in everything)
    assert everything == sorted(everything)


def test_objects_with_a_small_page_size(tree, monkeypatch):
    monkeypatch.setattr(gcs, "PAGE_SIZE", 2)
    assert [rel for rel, _ in gcs.GcsStore().objects(f"{tree}/in/z")] == [
        ".x/3.png",
        "1.png",
        "_skip/2.png",
        "deep/4.png",
    ]


def test_top_level_is_files_with_generations_then_folders(tree, bucket):
    got = list(gcs.GcsStore().top_level(f"{tree}/in"))
    files = [(n, generation(bucket, f"in/{n}")) for n in ["a.png", "b.png", "empty.png"]]
    folders = [("", None), ("_hidden", None), ("folder", None), ("w", None), ("y", None)]
    assert got == [*files, *folders, ("z", None)]
    # other tests add folders at the root: look at the ones made here, in the order given
    at_root = [e for e in gcs.GcsStore().top_level(tree) if e[0] in ("top.png", "in", "in-not")]
    assert at_root == [("top.png", generation(bucket, "top.png")), ("in-not", None), ("in", None)]


def test_top_level_with_a_small_page_size(tree, bucket, monkeypatch):
    monkeypatch.setattr(gcs, "PAGE_SIZE", 2)
    got = list(gcs.GcsStore().top_level(f"{tree}/in/"))
    assert sorted(got, key=lambda e: (e[1] is None, e[0])) == [
        ("a.png", generation(bucket, "in/a.png")),
        ("b.png", generation(bucket, "in/b.png")),
        ("empty.png", generation(bucket, "in/empty.png")),
        ("", None),
        ("_hidden", None),
        ("folder", None),
        ("w", None),
        ("y", None),
        ("z", None),
    ]


def test_top_range_lists_the_names_in_one_slice_and_slices_add_up_to_the_top_level(tree, bucket):
    """[low, high) of names below the prefix (startOffset / endOffset): files and folders whose
    names fall there, the left-out ones told as `top_level` tells them; slices cut at any names
    together list what `top_level` lists, each entry once."""
    store = gcs.GcsStore()
    top = list(store.top_level(f"{tree}/in"))
    told: list[tuple[str, str]] = []
    got = list(store.top_range(f"{tree}/in", "b.png", "x", lambda *t: told.append(t)))
    assert got == [
        ("b.png", generation(bucket, "in/b.png")),
        ("empty.png", generation(bucket, "in/empty.png")),
        ("folder", None),
        ("w", None),
    ]
    assert told == []  # `.tmp` and `_SUCCESS` sort before b.png
    assert [n for n, _ in store.top_range(f"{tree}/in", None, "b.png")] == ["a.png", "", "_hidden"]
    assert [n for n, _ in store.top_range(f"{tree}/in", "x", None)] == ["y", "z"]
    for cuts in ([], ["b"], ["a.png", "empty.png", "y"], ["_", "f", "folder", "folder0", "zz"]):
        edges = [None, *cuts, None]
        sliced = [
            e
            for i in range(len(edges) - 1)
            for e in store.top_range(f"{tree}/in", *edges[i : i + 2])
        ]
        assert sorted(sliced, key=str) == sorted(top, key=str), cuts


def test_walk_yields_every_file_below_one_folder_with_generations(tree, bucket):
    got = list(gcs.GcsStore().walk(f"{tree}/in", "z"))
    expected = ["in/z/1.png", "in/z/_skip/2.png", "in/z/deep/4.png"]
    assert got == [(n.removeprefix("in/"), generation(bucket, n)) for n in expected]
    assert [rel for rel, _ in gcs.GcsStore().walk(tree, "in-not")] == ["in-not/8.png"]
    assert list(gcs.GcsStore().walk(f"{tree}/in", "")) == [
        ("/slash.png", generation(bucket, "in//slash.png"))
    ]


def test_walk_leaves_out_hidden_spark_and_results_names_and_tells_each_once(tree, monkeypatch):
    from dataproc_faces.storage.skips import HIDDEN, RESULTS, SPARK_MARKER

    for page_size in (1000, 2):  # a skipped folder spread over pages is still told once
        monkeypatch.setattr(gcs, "PAGE_SIZE", page_size)
        told: list[tuple[str, str]] = []
        walk = gcs.GcsStore().walk(f"{tree}/in", "w", lambda r, w, told=told: told.append((r, w)))
        got = [r for r, _ in walk]
        assert got == ["w/_DSC0001.JPG", "w/res/A.png", "w/zz.png"]
        assert told == [
            ("w/.cache", HIDDEN),
            ("w/job/_SUCCESS", SPARK_MARKER),
            ("w/job/_temporary", SPARK_MARKER),
            ("w/old", RESULTS),
            ("w/res", RESULTS),
        ]
    assert gcs.GcsStore().list_files(f"{tree}/in/w") == ["_DSC0001.JPG", "res/A.png", "zz.png"]


def test_top_level_tells_what_it_leaves_out(tree):
    told: list[tuple[str, str]] = []
    list(gcs.GcsStore().top_level(f"{tree}/in", lambda *t: told.append(t)))
    assert told == [(".tmp", "hidden"), ("_SUCCESS", "spark-marker"), (".git", "hidden")]


def test_a_store_with_protect_never_writes_or_deletes_below_the_input(tree):
    from dataproc_faces.storage import store_for
    from dataproc_faces.storage.base import OutsideRoot, ProtectedInput

    store = store_for(f"{tree}/in", protect=[f"{tree}/in/z/"])
    for uri in (f"{tree}/in/z/1.png", f"{tree}/in/z/new.png", f"{tree}/in/z"):
        with pytest.raises(ProtectedInput, match="lies in the input"):
            store.write(uri, b"outlined")
        with pytest.raises(ProtectedInput):
            store.create(uri, b"x")
        with pytest.raises(ProtectedInput):
            store.delete(uri)
    with pytest.raises(OutsideRoot):
        store.write(f"{tree}/in-not/9.png", b"x")  # a sibling sharing the prefix: outside
    assert gcs.GcsStore().read(f"{tree}/in/z/1.png") == b"1"
    store.write(f"{tree}/in/zz/1.png", b"fine")  # shares a prefix with the input, not below it
    assert gcs.GcsStore().read(f"{tree}/in/zz/1.png") == b"fine"
    store.delete(f"{tree}/in/zz/1.png")


class PreconditionProxy(ScriptedProxy):
    """gcp-storage-emulator ignores `ifGenerationMatch`; this answers 412 as Cloud Storage does
    when an upload asks for generation 0 and the object exists."""

    def _decide(self, method: str, path: str, body: bytes) -> str | None:
        from urllib.parse import parse_qs, quote, urlsplit

        query = parse_qs(urlsplit(path).query)
        if method == "POST" and query.get("ifGenerationMatch") == ["0"]:
            self.seen.append(f"{method} {path}")
            bucket = path.split("/b/")[1].split("/")[0]
            found = re.search(rb'"name":\s*"([^"]+)"', body)
            name = found.group(1).decode() if found else query["name"][0]
            status, _, _ = self._forward(
                "GET", f"/storage/v1/b/{bucket}/o/{quote(name, '')}", {}, b""
            )
            return "412" if status == 200 else None
        return super()._decide(method, path, body)


def test_create_asks_for_generation_0_and_writes_only_when_absent(emulator, tree, monkeypatch):
    with PreconditionProxy(emulator.port) as px:
        monkeypatch.setenv(gcs.EMULATOR_ENV, px.url)
        store = gcs.GcsStore()
        uri = f"{tree}/locks/one.json"
        assert store.create(uri, b"first") is True
        assert store.create(uri, b"second") is False
        assert store.read(uri) == b"first"
        asked = [r for r in px.seen if "ifGenerationMatch=0" in r]
        assert len(asked) == 2, px.seen  # both uploads carried the precondition
        store.delete(uri)
        assert store.is_empty(f"{tree}/locks") and not store.is_empty(f"{tree}/in")


# -- objects ------------------------------------------------------------------------------------


def test_version_is_the_generation_or_none(tree, bucket):
    store = gcs.GcsStore()
    assert store.version(f"{tree}/in/b.png") == generation(bucket, "in/b.png")
    assert store.version(f"{tree}/in/missing.png") is None
    before = store.version(f"{tree}/top.png")
    store.write(f"{tree}/top.png", b"top")
    assert store.version(f"{tree}/top.png") != before


def test_read_and_read_tail(tree):
    from google.api_core.exceptions import NotFound

    store = gcs.GcsStore()
    store.write(f"{tree}/tail/log.txt", b"0123456789")
    assert store.read(f"{tree}/tail/log.txt") == b"0123456789"
    assert store.read_tail(f"{tree}/tail/log.txt", 3) == b"789"
    assert store.read_tail(f"{tree}/tail/log.txt", 9) == b"123456789"
    assert store.read_tail(f"{tree}/tail/log.txt", 10) == b"0123456789"
    assert store.read_tail(f"{tree}/tail/log.txt", 11) == b"0123456789"
    assert store.read_tail(f"{tree}/in/empty.png", 5) == b""
    with pytest.raises(NotFound) as err:
        store.read_tail(f"{tree}/tail/none.txt", 3)
    assert err.value.message == f"{tree}/tail/none.txt not found"
    with pytest.raises(NotFound):
        store.read(f"{tree}/tail/none.txt")


def test_write_sets_the_content_type(tree, bucket):
    store = gcs.GcsStore()
    store.write(f"{tree}/ct/a.png", b"p")
    store.write(f"{tree}/ct/b.html", b"<p>")
    store.write(f"{tree}/ct/m.json", b"{}", "application/x-ndjson")
    store.write(f"{tree}/ct/blob.unknownext", b"?")
    store.write(f"{tree}/ct/noext", b"?")
    blobs = {b.name: b.content_type for b in gcs.client().list_blobs(bucket, prefix="ct/")}
    assert blobs == {
        "ct/a.png": "image/png",
        "ct/b.html": "text/html",
        "ct/m.json": "application/x-ndjson",
        "ct/blob.unknownext": "application/octet-stream",
        "ct/noext": "application/octet-stream",
    }


def test_delete_removes_and_tolerates_missing(tree, bucket):
    store = gcs.GcsStore()
    store.write(f"{tree}/del/x", b"x")
    store.write(f"{tree}/del/y", b"y")
    store.delete(f"{tree}/del/x")
    assert names(bucket, "del/") == ["del/y"]
    store.delete(f"{tree}/del/x")


# -- retries and timeouts on every call ------------------------------------------------------------


@pytest.fixture(scope="module")
def module_proxy(emulator):
    with ScriptedProxy(emulator.port) as px:
        yield px


@pytest.fixture
def proxy(module_proxy, tree, monkeypatch):
    module_proxy.rules = []
    module_proxy.partial = False
    monkeypatch.setenv(gcs.EMULATOR_ENV, module_proxy.url)
    return module_proxy


def bounded(call: Callable[[], Any], seconds: float = 4.0) -> tuple[str, Any]:
    """('ok', value) or ('raised', exception); fails the test if the call is still running."""
    out: list[tuple[str, Any]] = []

    def run() -> None:
        try:
            out.append(("ok", call()))
        except Exception as exc:  # returned to the test to look at
            out.append(("raised", exc))

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert out, f"still waiting after {seconds} s: no timeout on the request"
    return out[0]


CALLS: dict[str, tuple[str, Callable[[str], Any], Any]] = {
    # name: (request to disturb, the call on the tree's root, its result when it succeeds)
    "exists": (r"GET .*/o\?maxResults=1&", lambda t: gcs.GcsStore().exists(f"{t}/in"), True),
    "exists-bucket": (r"GET /storage/v1/b/[^/]+\?", lambda t: gcs.GcsStore().exists(t), True),
    "objects": (
        r"GET .*/o\?.*prefix=in%2Fy",
        lambda t: gcs.GcsStore().objects(f"{t}/in/y"),
        [("5.png", 1)],
    ),
    "top_level": (
        r"GET .*/o\?.*prefix=in%2Fy%2F&delimiter",
        lambda t: list(gcs.GcsStore().top_level(f"{t}/in/y")),
        [("5.png", "GEN:in/y/5.png")],
    ),
    "walk": (
        r"GET .*/o\?.*prefix=in%2Fy%2F",
        lambda t: list(gcs.GcsStore().walk(f"{t}/in", "y")),
        [("y/5.png", "GEN:in/y/5.png")],
    ),
    "version": (
        r"GET .*/o/in%2Fy%2F5.png\?",
        lambda t: gcs.GcsStore().version(f"{t}/in/y/5.png"),
        "GEN:in/y/5.png",
    ),
    "read": (r"alt=media", lambda t: gcs.GcsStore().read(f"{t}/in/b.png"), b"bb"),
    "read_tail-metadata": (
        r"GET .*/o/in%2Fb.png\?",
        lambda t: gcs.GcsStore().read_tail(f"{t}/in/b.png", 1),
        b"b",
    ),
    "read_tail-download": (
        r"alt=media",
        lambda t: gcs.GcsStore().read_tail(f"{t}/in/b.png", 1),
        b"b",
    ),
    "write": (
        r"POST /upload/",
        lambda t: gcs.GcsStore().write(f"{t}/w/x.txt", b"x"),
        None,
    ),
    "delete": (r"DELETE ", lambda t: gcs.GcsStore().delete(f"{t}/in/.tmp"), None),
}


def expected(result: Any, bucket: str) -> Any:
    if isinstance(result, str) and result.startswith("GEN:"):
        return generation(bucket, result[4:])
    if isinstance(result, list):
        return [tuple(expected(v, bucket) for v in item) for item in result]
    return result


@pytest.mark.parametrize("name", ["read", "write"])
def test_a_transient_503_is_retried(name, proxy, tree, bucket, monkeypatch):
    """A write too: retrying it is safe (see gcs.py), and it matters most for outputs."""
    pattern, call, result = CALLS[name]
    monkeypatch.setenv(gcs.RETRY_SECONDS_ENV, "20")
    if name == "delete":
        upload(bucket, {"in/.tmp": b"t"})
    proxy.rules = [(pattern, "503")]
    assert bounded(lambda: call(tree)) == ("ok", expected(result, bucket))
    assert proxy.rules == [], proxy.seen  # the fault was met, and the call went through anyway


@pytest.mark.parametrize("name", list(CALLS))
def test_a_stalled_request_times_out_and_the_retry_budget_ends_it(
    name, proxy, tree, bucket, monkeypatch
):
    from google.api_core.exceptions import RetryError

    pattern, call, _ = CALLS[name]
    monkeypatch.setenv(gcs.RETRY_SECONDS_ENV, "0")
    monkeypatch.setattr(gcs, "TIMEOUT", (2.0, 0.3))
    if name == "delete":
        upload(bucket, {"in/.tmp": b"t"})
    proxy.rules = [(pattern, "stall")]
    outcome, value = bounded(lambda: call(tree), seconds=3.0)
    assert proxy.rules == [], proxy.seen
    assert outcome == "raised" and type(value) is RetryError, value
    assert "Timeout of 0.0s exceeded" in str(value)


def test_listings_ask_for_pages_of_page_size(proxy, tree, monkeypatch):
    """Each listing asks for PAGE_SIZE names a page and follows every page to the end (the
    stand-in answers page by page, as Cloud Storage does: storage_emulator.py)."""
    store = gcs.GcsStore()
    calls = {
        "objects": lambda: store.objects(f"{tree}/in/z"),
        "top_level": lambda: list(store.top_level(f"{tree}/in")),
        "walk": lambda: list(store.walk(f"{tree}/in", "z")),
    }
    whole = {name: sorted(call(), key=str) for name, call in calls.items()}  # one page each
    monkeypatch.setattr(gcs, "PAGE_SIZE", 2)
    for name, call in calls.items():
        proxy.seen.clear()
        assert sorted(call(), key=str) == whole[name], name
        lists = [r for r in proxy.seen if re.match(r"GET /storage/v1/b/[^/]+/o\?", r)]
        assert lists and all("maxResults=2&" in r for r in lists), (name, lists)
        assert len(lists) > 1 and all("pageToken=" in r for r in lists[1:]), (name, lists)


def test_listings_read_only_the_fields_they_ask_for(proxy, tree, bucket):
    """Each listing names its fields (a tenth of the bytes of whole object resources) and gets
    the same answer from a partial response as from whole resources."""
    store = gcs.GcsStore()
    calls = {
        "exists": lambda: store.exists(f"{tree}/in"),
        "is_empty": lambda: store.is_empty(f"{tree}/in/y"),
        "objects": lambda: store.objects(f"{tree}/in"),
        "top_level": lambda: list(store.top_level(f"{tree}/in")),
        "walk": lambda: list(store.walk(f"{tree}/in", "z")),
    }
    whole = {name: call() for name, call in calls.items()}
    assert ("z/deep/4.png", 4) in whole["objects"]  # sizes and generations: asked for
    assert ("z/deep/4.png", generation(bucket, "in/z/deep/4.png")) in whole["walk"]
    proxy.partial = True
    for name, call in calls.items():
        proxy.seen.clear()
        assert call() == whole[name], name
        lists = [r for r in proxy.seen if re.match(r"GET /storage/v1/b/[^/]+/o\?", r)]
        assert lists and all("fields=items%28name" in r for r in lists), (name, proxy.seen)
