"""What a drain makes of the messages it pulled, without any server: events, newest, the plan."""

from __future__ import annotations

from dataproc_faces.follow import Event, event_of, list_name, newest, plan

ROOT = "gs://in/images"


def _attrs(kind: str, name: str, generation: int, **extra: str) -> dict[str, str]:
    return {
        "eventType": f"OBJECT_{kind}",
        "bucketId": "in",
        "objectId": name,
        "objectGeneration": str(generation),
        **extra,
    }


def test_events_of_notifications() -> None:
    assert event_of(_attrs("FINALIZE", "images/a.jpg", 7)) == Event(f"{ROOT}/a.jpg", 7, False)
    assert event_of(_attrs("DELETE", "images/a.jpg", 7)) == Event(f"{ROOT}/a.jpg", 7, True)
    # half of an overwrite, metadata changes, folder placeholders: no event
    assert event_of(_attrs("DELETE", "images/a.jpg", 7, overwrittenByGeneration="8")) is None
    assert event_of(_attrs("METADATA_UPDATE", "images/a.jpg", 7)) is None
    assert event_of(_attrs("FINALIZE", "images/folder/", 7)) is None
    assert event_of({"eventType": "OBJECT_FINALIZE", "bucketId": "in"}) is None


def test_the_newest_generation_wins_and_a_delete_beats_its_own_finalize() -> None:
    a1, a2 = Event("u", 1, False), Event("u", 2, False)
    d1, d2 = Event("u", 1, True), Event("u", 2, True)
    for order in ([a1, a2, d1], [d1, a2, a1], [a2, d1, a1]):
        assert newest(order) == {"u": a2}
    for order in ([a2, d2], [d2, a2]):
        assert newest(order) == {"u": d2}


def test_the_plan_runs_present_photos_and_forgets_only_photos_still_gone() -> None:
    events = [
        Event(f"{ROOT}/new.jpg", 1, False),
        Event(f"{ROOT}/new.jpg", 1, False),
        Event(f"{ROOT}/gone.jpg", 4, True),
        Event(f"{ROOT}/back.jpg", 2, True),  # deleted, then uploaded again since
        Event("gs://in/other/x.jpg", 1, False),  # outside the input
        Event(f"{ROOT}/.hidden.jpg", 1, False),
        None,
    ]
    asked: list[str] = []

    def exists(uri: str) -> bool:
        asked.append(uri)
        return uri.endswith("back.jpg")

    got = plan(events, ROOT, exists)
    assert got.run == [f"{ROOT}/back.jpg", f"{ROOT}/new.jpg"]
    assert got.forget == [f"{ROOT}/gone.jpg"]
    assert got.ignored == 3
    assert sorted(asked) == [f"{ROOT}/back.jpg", f"{ROOT}/gone.jpg"]  # only deletes are asked


def test_a_list_is_named_by_what_it_holds() -> None:
    assert list_name(["a", "b"]) == list_name(["a", "b"]) != list_name(["a", "c"])
    assert list_name(["a"]).startswith("list-") and list_name(["a"]).endswith(".txt")


def test_follow_without_a_subscription_is_one_line_naming_where_it_comes_from(
    monkeypatch, capsys
) -> None:
    import pytest

    from dataproc_faces.cli import main

    for name in ("DATAPROC_FACES_FEED_SUBSCRIPTION", "DATAPROC_FACES_CURRENT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SystemExit) as code:
        main(["follow", "--input", "gs://in/images", "--output", "gs://out/feed", "--local"])
    assert code.value.code == 2
    assert capsys.readouterr().err == (
        "dataproc-faces: error: --subscription is required (or --stack-outputs with"
        " 'feed_subscription', or $DATAPROC_FACES_FEED_SUBSCRIPTION)\n"
    )
    with pytest.raises(SystemExit):
        main(["follow", "--subscription", "projects/p/subscriptions/s", "--max-messages", "0"])
    assert capsys.readouterr().err == (
        "dataproc-faces: error: --max-messages must be a positive integer\n"
    )
