"""The change feed: the input bucket's notifications into Pub/Sub, a subscription for `follow`
with a dead-letter topic, and only the grants each party needs (config `feed`)."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_gcp as gcp

from infra.config import StackConfig

# What `follow` reads: new or overwritten objects, and deleted ones (an overwrite also sends a
# delete naming overwrittenByGeneration, which follow leaves out). Metadata updates change no
# pixels; archive events come only from versioned buckets (the input bucket is not).
EVENT_TYPES = ["OBJECT_FINALIZE", "OBJECT_DELETE"]
ACK_DEADLINE_SECONDS = 600  # the longest Pub/Sub allows; follow extends it while a run goes on
RETENTION = "604800s"  # seven days: a devhost stopped over a weekend loses nothing
DEAD_LETTER_SUFFIX = "-dead-letters"  # the policy pack knows dead-letter topics by this suffix
PUBLISHER = "roles/pubsub.publisher"
SUBSCRIBER = "roles/pubsub.subscriber"


def folders_condition(bucket: str, folders: Sequence[str]) -> str:
    """An IAM condition admitting the objects below these folders of one bucket, nothing else."""
    return " || ".join(
        f'resource.name.startsWith("projects/_/buckets/{bucket}/objects/{f.strip("/")}/")'
        for f in folders
    )


class Feed(pulumi.ComponentResource):
    """Topic, notification, subscription, dead letters and their IAM; outputs their names."""

    topic: gcp.pubsub.Topic
    subscription: gcp.pubsub.Subscription
    dead_letters: gcp.pubsub.Topic
    grants: list[pulumi.Resource]

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        *,
        bucket: gcp.storage.Bucket,
        prefix: str,
        results: gcp.storage.Bucket,
        results_folders: Sequence[str],
        subscriber: gcp.serviceaccount.Account,
        depends_on: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("dataproc-faces:infra:Feed", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=list(depends_on))
        base = f"{cfg.prefix}-input-changes"
        labels = {**cfg.labels, "role": "feed"}
        self.topic = gcp.pubsub.Topic(
            f"{name}-topic", name=base, project=cfg.project, labels=labels, opts=child
        )
        self.dead_letters = gcp.pubsub.Topic(
            f"{name}-dead-letters",
            name=f"{base}{DEAD_LETTER_SUFFIX}",
            project=cfg.project,
            labels=labels,
            opts=child,
        )
        # Messages that failed feed_max_deliveries runs wait here for a person (seven days).
        self.dead_letter_subscription = gcp.pubsub.Subscription(
            f"{name}-dead-letters-held",
            name=f"{base}{DEAD_LETTER_SUFFIX}",
            project=cfg.project,
            topic=self.dead_letters.id,
            message_retention_duration=RETENTION,
            expiration_policy=gcp.pubsub.SubscriptionExpirationPolicyArgs(ttl=""),
            labels=labels,
            opts=child,
        )
        self.subscription = gcp.pubsub.Subscription(
            f"{name}-follow",
            name=f"{cfg.prefix}-follow",
            project=cfg.project,
            topic=self.topic.id,
            ack_deadline_seconds=ACK_DEADLINE_SECONDS,
            message_retention_duration=RETENTION,
            retain_acked_messages=False,
            # Never deleted for inactivity (the default deletes it after 31 idle days).
            expiration_policy=gcp.pubsub.SubscriptionExpirationPolicyArgs(ttl=""),
            dead_letter_policy=gcp.pubsub.SubscriptionDeadLetterPolicyArgs(
                dead_letter_topic=self.dead_letters.id,
                max_delivery_attempts=cfg.feed.max_deliveries,
            ),
            retry_policy=gcp.pubsub.SubscriptionRetryPolicyArgs(
                minimum_backoff="10s", maximum_backoff="600s"
            ),
            labels=labels,
            opts=child,
        )

        # IAM apart from the resources: each grant on one topic or subscription, never the project.
        grant = pulumi.ResourceOptions(parent=self)
        gcs_agent = gcp.storage.get_project_service_account_output(project=cfg.project)
        gcs_publishes = gcp.pubsub.TopicIAMMember(
            f"{name}-storage-publishes",
            project=cfg.project,
            topic=self.topic.name,
            role=PUBLISHER,
            member=gcs_agent.email_address.apply(lambda e: f"serviceAccount:{e}"),
            opts=grant,
        )
        # Pub/Sub's own service agent moves undeliverable messages: it publishes to the dead-letter
        # topic and acknowledges them on the source subscription.
        pubsub_agent = gcp.projects.ServiceIdentity(
            f"{name}-pubsub-agent",
            project=cfg.project,
            service="pubsub.googleapis.com",
            opts=child,
        )
        agent = pubsub_agent.email.apply(lambda e: f"serviceAccount:{e}")
        self.grants = [
            gcs_publishes,
            gcp.pubsub.TopicIAMMember(
                f"{name}-agent-dead-letters",
                project=cfg.project,
                topic=self.dead_letters.name,
                role=PUBLISHER,
                member=agent,
                opts=grant,
            ),
            gcp.pubsub.SubscriptionIAMMember(
                f"{name}-agent-acks",
                project=cfg.project,
                subscription=self.subscription.name,
                role=SUBSCRIBER,
                member=agent,
                opts=grant,
            ),
            # The devhost pulls and acknowledges on this subscription, nothing else.
            gcp.pubsub.SubscriptionIAMMember(
                f"{name}-devhost-follows",
                project=cfg.project,
                subscription=self.subscription.name,
                role=SUBSCRIBER,
                member=subscriber.email.apply(lambda e: f"serviceAccount:{e}"),
                opts=grant,
            ),
        ]
        # follow forgets deleted photos' results and writes its input lists: the devhost may
        # change objects in those folders of the results bucket only (it reads the rest).
        self.grants.append(
            gcp.storage.BucketIAMMember(
                f"{name}-devhost-feed-results",
                bucket=results.name,
                role="roles/storage.objectAdmin",
                member=subscriber.email.apply(lambda e: f"serviceAccount:{e}"),
                condition=gcp.storage.BucketIAMMemberConditionArgs(
                    title="feed folders only",
                    description="follow's results folder and its input lists",
                    expression=results.name.apply(lambda b: folders_condition(b, results_folders)),
                ),
                opts=grant,
            )
        )
        # The notification is checked when created: Cloud Storage must be allowed to publish.
        self.notification = gcp.storage.Notification(
            f"{name}-notification",
            bucket=bucket.name,
            topic=self.topic.id,
            payload_format="NONE",  # follow reads the attributes; no object JSON to pay for
            event_types=EVENT_TYPES,
            object_name_prefix=prefix,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[gcs_publishes]),
        )
        self.register_outputs(
            {
                "topic": self.topic.id,
                "subscription": self.subscription.id,
                "dead_letter_topic": self.dead_letters.id,
            }
        )
