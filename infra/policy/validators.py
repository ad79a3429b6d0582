"""Security-baseline checks as pure functions of (resource type, camelCase props) -> violations."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

IAP_RANGE = ipaddress.IPv4Network("35.235.240.0/20")
# Ports only IAP's TCP forwarders may reach: SSH, and the devhost's web page (infra/devhost.py).
IAP_ONLY_PORTS = (22, 8080)
PRIMITIVE_ROLES = frozenset({"roles/owner", "roles/editor", "roles/viewer"})
DEFAULT_SA_SUFFIX = "-compute@developer.gserviceaccount.com"

INSTANCE = "gcp:compute/instance:Instance"
CLUSTER = "gcp:dataproc/cluster:Cluster"
BUCKET = "gcp:storage/bucket:Bucket"
FIREWALL = "gcp:compute/firewall:Firewall"
BATCH = "gcp:dataproc/batch:Batch"
REPOSITORY = "gcp:artifactregistry/repository:Repository"
SUBSCRIPTION = "gcp:pubsub/subscription:Subscription"
NOTIFICATION = "gcp:storage/notification:Notification"
# A subscription that holds a dead-letter topic's messages has none of its own (infra/feed.py).
DEAD_LETTER_SUFFIX = "-dead-letters"
TOPIC_IAM = frozenset(
    {
        "gcp:pubsub/topicIAMMember:TopicIAMMember",
        "gcp:pubsub/topicIAMBinding:TopicIAMBinding",
    }
)
SUBSCRIPTION_IAM = frozenset(
    {
        "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember",
        "gcp:pubsub/subscriptionIAMBinding:SubscriptionIAMBinding",
    }
)
IAM_TYPES = frozenset(
    {
        "gcp:projects/iAMMember:IAMMember",
        "gcp:projects/iAMBinding:IAMBinding",
        "gcp:storage/bucketIAMMember:BucketIAMMember",
        "gcp:storage/bucketIAMBinding:BucketIAMBinding",
        "gcp:serviceaccount/iAMMember:IAMMember",
        "gcp:serviceaccount/iAMBinding:IAMBinding",
        "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember",
        "gcp:artifactregistry/repositoryIamBinding:RepositoryIamBinding",
        *TOPIC_IAM,
        *SUBSCRIPTION_IAM,
    }
)
PUBLIC_MEMBERS = frozenset({"allUsers", "allAuthenticatedUsers"})
# An image Serverless pulls: Artifact Registry (`<location>-docker.pkg.dev/...`), by digest.
_REGISTRY_IMAGE = re.compile(r"^[a-z0-9-]+-docker\.pkg\.dev/[^@:]+@sha256:[0-9a-f]{64}$")

Props = Mapping[str, Any]
Check = Callable[[str, Props], list[str]]


@dataclass(frozen=True)
class Validator:
    """One policy: a name, what it enforces, the resource types it looks at, and the check."""

    name: str
    description: str
    types: frozenset[str]
    check: Check

    def __call__(self, resource_type: str, props: Props) -> list[str]:
        return self.check(resource_type, props) if resource_type in self.types else []


def _gce(props: Props) -> Props:
    return (props.get("clusterConfig") or {}).get("gceClusterConfig") or {}


def no_external_ip(resource_type: str, props: Props) -> list[str]:
    """Cluster nodes and VMs are reachable only privately (IAP, NAT for egress)."""
    if resource_type == CLUSTER:
        if _gce(props).get("internalIpOnly") is not True:
            return ["Dataproc cluster must set gceClusterConfig.internalIpOnly = true"]
        return []
    bad = [
        i for i, nic in enumerate(props.get("networkInterfaces") or []) if nic.get("accessConfigs")
    ]
    return [f"network interface {i} has an external IP (accessConfigs)" for i in bad]


def _execution(props: Props) -> Props:
    return (props.get("environmentConfig") or {}).get("executionConfig") or {}


def no_default_compute_sa(resource_type: str, props: Props) -> list[str]:
    """Workloads run as dedicated service accounts, never the default compute SA."""
    if resource_type == CLUSTER:
        email = _gce(props).get("serviceAccount") or ""
    elif resource_type == BATCH:
        email = _execution(props).get("serviceAccount") or ""
    else:
        email = (props.get("serviceAccount") or {}).get("email") or ""
    if not email or email == "default" or email.endswith(DEFAULT_SA_SUFFIX):
        return [f"uses the default compute service account ({email or 'unset'})"]
    return []


def no_primitive_roles(resource_type: str, props: Props) -> list[str]:
    """Owner/Editor/Viewer are far broader than anything this platform needs, and nothing is
    granted to everyone (allUsers, allAuthenticatedUsers)."""
    role = props.get("role") or ""
    out = [f"grants primitive role {role}"] if role in PRIMITIVE_ROLES else []
    members = [props.get("member") or "", *(props.get("members") or [])]
    out += [f"grants {role} to {m} (everyone)" for m in members if m in PUBLIC_MEMBERS]
    return out


def batch_private_and_pinned(resource_type: str, props: Props) -> list[str]:
    """Serverless batches run in the stack's subnet (Private Google Access, no default network)
    from an Artifact Registry image pinned by digest, so what runs is exactly what was pushed."""
    out = []
    execution = _execution(props)
    if not execution.get("subnetworkUri"):
        out.append("batch must set environmentConfig.executionConfig.subnetworkUri")
    if execution.get("networkUri"):
        out.append(f"batch must not run on a whole network ({execution['networkUri']})")
    image = str((props.get("runtimeConfig") or {}).get("containerImage") or "")
    if not _REGISTRY_IMAGE.match(image):
        out.append(
            f"batch image must come from Artifact Registry pinned by digest, got {image or 'none'}"
        )
    return out


def repository_immutable_tags(resource_type: str, props: Props) -> list[str]:
    """Image repositories hold Docker images whose tags never move once pushed."""
    out = []
    if props.get("format") != "DOCKER":
        out.append(f"repository format must be DOCKER, got {props.get('format')}")
    if (props.get("dockerConfig") or {}).get("immutableTags") is not True:
        out.append("repository must set dockerConfig.immutableTags = true")
    return out


def subscription_dead_letters(resource_type: str, props: Props) -> list[str]:
    """A pulled subscription hands a message that keeps failing to a dead-letter topic after a
    bounded number of deliveries (instead of retrying it for its whole retention), is never
    pushed to an endpoint, and is not deleted for inactivity. Only the subscription holding a
    dead-letter topic's own messages has no dead-letter policy."""
    out = []
    topic = str(props.get("topic") or "")
    if not topic.endswith(DEAD_LETTER_SUFFIX):
        policy = props.get("deadLetterPolicy") or {}
        if not policy.get("deadLetterTopic"):
            out.append("subscription must set deadLetterPolicy.deadLetterTopic")
        attempts = policy.get("maxDeliveryAttempts")
        if attempts is None or not 5 <= int(attempts) <= 100:
            out.append(
                f"subscription must set deadLetterPolicy.maxDeliveryAttempts 5-100, got {attempts}"
            )
    if (props.get("pushConfig") or {}).get("pushEndpoint"):
        out.append(f"subscription must not push to {props['pushConfig']['pushEndpoint']}")
    if (props.get("expirationPolicy") or {}).get("ttl", "missing") != "":
        out.append('subscription must set expirationPolicy.ttl = "" (never expires)')
    return out


def pubsub_grants_scoped(resource_type: str, props: Props) -> list[str]:
    """On topics only publishing, on subscriptions only subscribing: no admin or editor role
    that could read, reroute or delete the feed."""
    role = str(props.get("role") or "")
    allowed = "roles/pubsub.publisher" if resource_type in TOPIC_IAM else "roles/pubsub.subscriber"
    return [] if role == allowed else [f"grants {role or 'no role'}; only {allowed} belongs here"]


def notification_payload(resource_type: str, props: Props) -> list[str]:
    """Bucket notifications carry attributes only (no object metadata copied into Pub/Sub) and
    are limited to an object prefix and to finalize and delete events."""
    out = []
    if props.get("payloadFormat") != "NONE":
        out.append(f"notification payloadFormat must be NONE, got {props.get('payloadFormat')}")
    if not props.get("objectNamePrefix"):
        out.append("notification must set objectNamePrefix (the whole bucket would feed itself)")
    events = set(props.get("eventTypes") or [])
    if not events or not events <= {"OBJECT_FINALIZE", "OBJECT_DELETE"}:
        out.append(f"notification eventTypes must be OBJECT_FINALIZE/OBJECT_DELETE, got {events}")
    return out


def bucket_ubla_pap(resource_type: str, props: Props) -> list[str]:
    """Buckets: IAM only (no ACLs) and never public."""
    out = []
    if props.get("uniformBucketLevelAccess") is not True:
        out.append("bucket must enable uniform bucket-level access")
    if props.get("publicAccessPrevention") != "enforced":
        out.append("bucket must set publicAccessPrevention = enforced")
    return out


def _allows_port(allows: list[Props], port: int) -> bool:
    for rule in allows:
        # GCP takes a protocol's name or its IP protocol number: TCP is also "6".
        if str(rule.get("protocol")).lower() not in ("tcp", "6", "all"):
            continue
        ports = rule.get("ports") or []
        if not ports:
            return True
        for spec in ports:
            lo, _, hi = str(spec).partition("-")
            if int(lo) <= port <= int(hi or lo):
                return True
    return False


def _within_iap(source_range: str) -> bool:
    """Whether a source range lies inside IAP's; IPv6 ranges and unparsable text never do."""
    try:
        net = ipaddress.ip_network(source_range, strict=False)
    except ValueError:
        return False
    return net.version == IAP_RANGE.version and net.subnet_of(IAP_RANGE)


def ssh_and_web_only_from_iap(resource_type: str, props: Props) -> list[str]:
    """No ingress from anywhere; SSH and the devhost's page only from IAP's TCP-forwarding range."""
    if (props.get("direction") or "INGRESS") != "INGRESS":
        return []
    ranges = list(props.get("sourceRanges") or [])
    out = [f"ingress from {r} (the whole internet)" for r in ranges if r in ("0.0.0.0/0", "::/0")]
    outside = [r for r in ranges if not _within_iap(r)]
    for port in IAP_ONLY_PORTS:
        if not _allows_port(list(props.get("allows") or []), port):
            continue
        if outside or (not ranges and not props.get("sourceTags")):
            out.append(
                f"port {port} allowed from {outside or 'anywhere'}; only {IAP_RANGE} (IAP) may"
            )
    return out


def shielded_vm(resource_type: str, props: Props) -> list[str]:
    """Secure Boot, vTPM and integrity monitoring on every VM and cluster node."""
    cfg = (
        _gce(props).get("shieldedInstanceConfig")
        if resource_type == CLUSTER
        else props.get("shieldedInstanceConfig")
    )
    cfg = cfg or {}
    missing = [
        k
        for k in ("enableSecureBoot", "enableVtpm", "enableIntegrityMonitoring")
        if cfg.get(k) is not True
    ]
    return [f"Shielded VM setting {k} must be true" for k in missing]


VALIDATORS: tuple[Validator, ...] = (
    Validator(
        "no-external-ip",
        no_external_ip.__doc__ or "",
        frozenset({INSTANCE, CLUSTER}),
        no_external_ip,
    ),
    Validator(
        "no-default-compute-service-account",
        no_default_compute_sa.__doc__ or "",
        frozenset({INSTANCE, CLUSTER, BATCH}),
        no_default_compute_sa,
    ),
    Validator(
        "no-primitive-roles", no_primitive_roles.__doc__ or "", IAM_TYPES, no_primitive_roles
    ),
    Validator(
        "bucket-ubla-and-pap", bucket_ubla_pap.__doc__ or "", frozenset({BUCKET}), bucket_ubla_pap
    ),
    Validator(
        "ssh-and-web-only-from-iap",
        ssh_and_web_only_from_iap.__doc__ or "",
        frozenset({FIREWALL}),
        ssh_and_web_only_from_iap,
    ),
    Validator(
        "shielded-vm", shielded_vm.__doc__ or "", frozenset({INSTANCE, CLUSTER}), shielded_vm
    ),
    Validator(
        "batch-private-network-and-pinned-image",
        batch_private_and_pinned.__doc__ or "",
        frozenset({BATCH}),
        batch_private_and_pinned,
    ),
    Validator(
        "image-repository-immutable-tags",
        repository_immutable_tags.__doc__ or "",
        frozenset({REPOSITORY}),
        repository_immutable_tags,
    ),
    Validator(
        "subscription-dead-letters",
        subscription_dead_letters.__doc__ or "",
        frozenset({SUBSCRIPTION}),
        subscription_dead_letters,
    ),
    Validator(
        "pubsub-grants-scoped",
        pubsub_grants_scoped.__doc__ or "",
        TOPIC_IAM | SUBSCRIPTION_IAM,
        pubsub_grants_scoped,
    ),
    Validator(
        "notification-attributes-and-prefix",
        notification_payload.__doc__ or "",
        frozenset({NOTIFICATION}),
        notification_payload,
    ),
)


def violations(resource_type: str, props: Props) -> dict[str, list[str]]:
    """Every policy's violations for one resource (empty lists dropped)."""
    found = {v.name: v(resource_type, props) for v in VALIDATORS}
    return {name: msgs for name, msgs in found.items() if msgs}
