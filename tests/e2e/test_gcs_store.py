"""GcsStore against gcp-storage-emulator with the real client: listing, exists, reads, writes."""

from __future__ import annotations

import pytest

from dataproc_faces.storage import gcs, store_for
from tests.e2e.conftest import names, upload

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def tree(bucket) -> str:
    upload(
        bucket,
        {
            "in/a.png": b"a",
            "in/deep/er/b.jpg": b"bb",
            "in/_DSC0001.png": b"c",  # a camera's name: a photo
            "in/_temporary/0/c.png": b"c",  # Spark's: left out
            "in/.tmp": b"t",
            "in/deep/_SUCCESS": b"",
            "in/folder/": b"",  # a console-made folder placeholder
            "inside/not-under-in.png": b"x",
        },
    )
    return f"gs://{bucket}"


def test_store_for_gs_is_gcs(tree):
    assert isinstance(store_for(f"{tree}/in"), gcs.GcsStore)


def test_listing_is_recursive_skips_hidden_spark_names_and_placeholders(tree):
    assert gcs.GcsStore().list_files(f"{tree}/in") == ["_DSC0001.png", "a.png", "deep/er/b.jpg"]


def test_listing_many_objects_with_small_pages(bucket, monkeypatch):
    upload(bucket, {f"many/{i:04d}.png": b"x" for i in range(25)})
    monkeypatch.setattr(gcs, "PAGE_SIZE", 7)
    assert gcs.GcsStore().list_files(f"gs://{bucket}/many") == [f"{i:04d}.png" for i in range(25)]


def test_exists_means_an_object_under_the_prefix(tree, bucket):
    store = gcs.GcsStore()
    assert store.exists(f"{tree}/in")
    assert store.exists(f"{tree}/in/deep")
    assert not store.exists(f"{tree}/in/a")  # a name prefix, not a folder
    assert not store.exists(f"{tree}/nothing")
    assert store.exists(tree)  # the bare bucket
    assert not store.exists("gs://no-such-bucket-here")


def test_write_read_tail_delete(tree, bucket):
    store = gcs.GcsStore()
    uri = f"{tree}/out/x/y.txt"
    store.write(uri, b"0123456789")
    store.write(uri, b"0123456789abc")  # replaced, not duplicated
    assert store.read(uri) == b"0123456789abc"
    assert store.read_tail(uri, 4) == b"9abc"
    assert store.read_tail(uri, 100) == b"0123456789abc"
    assert names(bucket, "out/") == ["out/x/y.txt"]
    store.delete(uri)
    store.delete(uri)  # already gone: not an error
    assert names(bucket, "out/") == []


def test_content_type_is_guessed_or_given(tree, bucket):
    store = gcs.GcsStore()
    store.write(f"{tree}/ct/a.png", b"p")
    store.write(f"{tree}/ct/m.json", b"{}", "application/x-ndjson")
    blobs = {b.name: b.content_type for b in gcs.client().list_blobs(bucket, prefix="ct/")}
    assert blobs == {"ct/a.png": "image/png", "ct/m.json": "application/x-ndjson"}


def test_missing_object_raises(tree):
    from google.api_core.exceptions import NotFound

    with pytest.raises(NotFound):
        gcs.GcsStore().read(f"{tree}/in/missing.png")


def test_split_rejects_non_gs():
    with pytest.raises(ValueError):
        gcs.split("s3://b/k")
    assert gcs.split("gs://b/a/b/") == ("b", "a/b")
    assert gcs.split("gs://b") == ("b", "")
