"""The change feed as declared (prod enables it, dev does not): notification, topic, subscription
with dead letters, each grant on one topic or subscription, the devhost's timer, the outputs."""

from __future__ import annotations

import pytest
from harness import STORAGE_AGENT, TEST_PROJECT
from stackrun import Recorded

from dataproc_faces.follow import FEED_FOLDER, LISTS_FOLDER
from dataproc_faces.storage.base import join
from infra.config import ConfigError, parse
from infra.devhost import FOLLOW_TIMER

TOPIC = "gcp:pubsub/topic:Topic"
SUB = "gcp:pubsub/subscription:Subscription"
TOPIC_IAM = "gcp:pubsub/topicIAMMember:TopicIAMMember"
SUB_IAM = "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember"
NOTE = "gcp:storage/notification:Notification"
BUCKET_IAM = "gcp:storage/bucketIAMMember:BucketIAMMember"
PUBSUB_AGENT = "serviceAccount:service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com"


@pytest.fixture(scope="module")
def prod(recorded) -> Recorded:
    return recorded("prod")


def _grants(rec: Recorded, token: str) -> set[tuple[str, str, str]]:
    key = "topic" if token == TOPIC_IAM else "subscription"
    return {
        (g["inputs"][key], g["inputs"]["role"], g["inputs"]["member"]) for g in rec.of_type(token)
    }


def test_storage_notifies_the_topic_of_new_and_deleted_images_only(prod: Recorded) -> None:
    topic = prod.named(TOPIC, "-feed-topic")
    note = prod.one(NOTE)["inputs"]
    input_bucket = prod.named("gcp:storage/bucket:Bucket", "-storage-input")["inputs"]["name"]
    assert note == {
        "bucket": input_bucket,
        "topic": f"projects/{TEST_PROJECT}/topics/{topic['inputs']['name']}",
        "payloadFormat": "NONE",
        "eventTypes": ["OBJECT_FINALIZE", "OBJECT_DELETE"],
        "objectNamePrefix": "images/",
    }
    assert prod.outputs["upload_images_to"].endswith("/" + note["objectNamePrefix"])
    # Created only once Cloud Storage may publish (GCS checks it when the notification is made).
    publishes = prod.named(TOPIC_IAM, "-feed-storage-publishes")
    assert publishes["urn"] in prod.one(NOTE)["dependencies"]
    assert publishes["inputs"]["member"] == f"serviceAccount:{STORAGE_AGENT}"


def test_the_subscription_dead_letters_after_bounded_deliveries(prod: Recorded) -> None:
    follow = prod.named(SUB, "-feed-follow")["inputs"]
    topic = prod.named(TOPIC, "-feed-topic")["inputs"]["name"]
    dead = prod.named(TOPIC, "-feed-dead-letters")["inputs"]["name"]
    assert follow["topic"] == f"projects/{TEST_PROJECT}/topics/{topic}"
    assert follow["deadLetterPolicy"] == {
        "deadLetterTopic": f"projects/{TEST_PROJECT}/topics/{dead}",
        "maxDeliveryAttempts": 5,
    }
    assert follow["ackDeadlineSeconds"] == 600 and follow["expirationPolicy"] == {"ttl": ""}
    held = prod.named(SUB, "-feed-dead-letters-held")["inputs"]
    assert held["topic"] == f"projects/{TEST_PROJECT}/topics/{dead}"
    assert held["messageRetentionDuration"] == "604800s"


def test_each_party_holds_one_role_on_one_topic_or_subscription(prod: Recorded) -> None:
    topic = prod.named(TOPIC, "-feed-topic")["inputs"]["name"]
    dead = prod.named(TOPIC, "-feed-dead-letters")["inputs"]["name"]
    follow = prod.named(SUB, "-feed-follow")["inputs"]["name"]
    devhost = (
        f"serviceAccount:{prod.outputs['devhost_name']}@{TEST_PROJECT}.iam.gserviceaccount.com"
    )
    assert _grants(prod, TOPIC_IAM) == {
        (topic, "roles/pubsub.publisher", f"serviceAccount:{STORAGE_AGENT}"),
        (dead, "roles/pubsub.publisher", PUBSUB_AGENT),
    }
    assert _grants(prod, SUB_IAM) == {
        (follow, "roles/pubsub.subscriber", PUBSUB_AGENT),
        (follow, "roles/pubsub.subscriber", devhost),
    }
    project_roles = {g["inputs"]["role"] for g in prod.of_type("gcp:projects/iAMMember:IAMMember")}
    assert not any("pubsub" in role for role in project_roles)


def test_the_devhost_may_change_only_the_feeds_folders_of_the_results(prod: Recorded) -> None:
    grant = prod.named(BUCKET_IAM, "-feed-devhost-feed-results")["inputs"]
    results = prod.named("gcp:storage/bucket:Bucket", "-storage-results")["inputs"]["name"]
    assert grant["bucket"] == results and grant["role"] == "roles/storage.objectAdmin"
    output = join(prod.outputs["results_uri"], FEED_FOLDER)  # follow's default output
    lists = join(output.rsplit("/", 1)[0], LISTS_FOLDER)
    prefix = f"gs://{results}/"
    expected = " || ".join(
        f'resource.name.startsWith("projects/_/buckets/{results}/objects/{u[len(prefix) :]}/")'
        for u in (output, lists)
    )
    assert grant["condition"]["expression"] == expected


def test_outputs_and_the_devhost_timer_follow_the_config(prod: Recorded, recorded) -> None:
    follow = prod.named(SUB, "-feed-follow")
    assert prod.outputs["feed_subscription"] == (
        f"projects/{TEST_PROJECT}/subscriptions/{follow['inputs']['name']}"
    )
    assert prod.outputs["feed_topic"].endswith("/topics/dpf-prod-input-changes")
    script = prod.one("gcp:compute/instance:Instance")["inputs"]["metadata"]["startup-script"]
    assert "OnUnitInactiveSec=300s" in script
    assert "ExecStart=/usr/local/bin/dataproc-faces follow" in script
    assert f"DATAPROC_FACES_FEED_SUBSCRIPTION={prod.outputs['feed_subscription']}" in script
    assert "systemctl enable --now dataproc-faces-follow.timer" in script
    pubsub = prod.named("gcp:projects/service:Service", "-apis-pubsub")
    for token in (TOPIC, SUB):
        for r in prod.of_type(token):
            assert prod.depends_on(r, pubsub["urn"]), r["name"]

    dev = recorded("dev")
    assert not [r for r in dev.resources if "pubsub" in r["type"] or r["type"] == NOTE]
    assert dev.outputs["feed_subscription"] is None
    script = dev.one("gcp:compute/instance:Instance")["inputs"]["metadata"]["startup-script"]
    assert "ExecStart=/usr/local/bin/dataproc-faces follow" not in script
    assert (
        f"systemctl disable --now dataproc-faces-follow.timer || true\n  rm -f {FOLLOW_TIMER}"
        in (script)
    )


def _values(**extra: object) -> dict[str, object]:
    return {"worker_count": 0, **extra}


def test_feed_keys_parse_and_refuse_in_one_line() -> None:
    cfg = parse(_values(), project="faces-test-project", stack="dev")
    assert (cfg.feed.enabled, cfg.feed.interval_seconds, cfg.feed.max_deliveries) == (False, 300, 5)
    cfg = parse(
        _values(feed="true", feed_interval="60s", feed_max_deliveries="100"),
        project="faces-test-project",
        stack="dev",
    )
    assert (cfg.feed.enabled, cfg.feed.interval_seconds, cfg.feed.max_deliveries) == (True, 60, 100)
    for key, bad in (("feed", "yes"), ("feed_interval", "59s"), ("feed_max_deliveries", "4")):
        with pytest.raises(ConfigError) as err:
            parse(_values(**{key: bad}), project="faces-test-project", stack="dev")
        assert str(err.value).startswith(f"config key 'dataproc-faces:{key}': ")
        assert "\n" not in str(err.value)
