"""CrossGuard baseline: every policy passes on both stacks, fails on a bad resource of its kind."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pulumi_policy import EnforcementLevel
from stackrun import STACKS, Recorded

from infra.policy import validators
from infra.policy.policies import PACK_NAME, build_policies
from infra.policy.validators import VALIDATORS, violations

NAMES = [v.name for v in VALIDATORS]


@pytest.fixture(scope="session")
def recorded(recorded: Callable[[str], Recorded]) -> Callable[[str], Recorded]:
    """The stacks, kept in POLICY_RECORDED_CACHE when set (scripts/mutate.sh sets it).

    A mutation run starts a pytest session per mutant; the program under mocks never imports
    infra.policy, so its stacks are the same for every policy mutant and are recorded once.
    """
    folder = os.environ.get("POLICY_RECORDED_CACHE")
    if not folder:
        return recorded

    def get(stack: str) -> Recorded:
        path = Path(folder) / f"{stack}.json"
        if path.exists():
            data = json.loads(path.read_text())
            return Recorded(stack, data["resources"], data["outputs"], data["warnings"])
        rec = recorded(stack)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(
            json.dumps({k: getattr(rec, k) for k in ("resources", "outputs", "warnings")})
        )
        tmp.replace(path)
        return rec

    return get


def test_every_policy_passes_on_both_stacks_and_a_serverless_one(
    recorded: Callable[[str], Recorded], serverless: Recorded
) -> None:
    checked = {name: 0 for name in NAMES}
    stacks = [(stack, recorded(stack)) for stack in STACKS] + [("serverless dev", serverless)]
    for stack, rec in stacks:
        for r in rec.resources:
            if not r["custom"]:
                continue
            assert violations(r["type"], r["inputs"]) == {}, f"{stack}: {r['name']}"
            for v in VALIDATORS:
                checked[v.name] += r["type"] in v.types
    # Each policy looked at real resources of its kind in the stacks (no vacuous pass).
    assert all(n >= 1 for n in checked.values()), checked
    assert sum(r["custom"] for r in serverless.resources) >= 40  # the whole stack was seen


def _first(rec: Recorded, token: str, pred: Callable[[dict[str, Any]], bool] = lambda r: True):
    return copy.deepcopy(next(r for r in rec.resources if r["type"] == token and pred(r))["inputs"])


def _bad_resources(rec: Recorded) -> list[tuple[str, str, dict[str, Any]]]:
    """(policy, type, props): one good resource from the stack, broken in one way."""
    inst, clus = "gcp:compute/instance:Instance", "gcp:dataproc/cluster:Cluster"
    fw, bucket = "gcp:compute/firewall:Firewall", "gcp:storage/bucket:Bucket"
    out = []

    vm = _first(rec, inst)
    vm["networkInterfaces"][0]["accessConfigs"] = [{}]
    out.append(("no-external-ip", inst, vm))
    cl = _first(rec, clus)
    cl["clusterConfig"]["gceClusterConfig"]["internalIpOnly"] = False
    out.append(("no-external-ip", clus, cl))

    vm = _first(rec, inst)
    vm["serviceAccount"]["email"] = "123456-compute@developer.gserviceaccount.com"
    out.append(("no-default-compute-service-account", inst, vm))
    cl = _first(rec, clus)
    del cl["clusterConfig"]["gceClusterConfig"]["serviceAccount"]
    out.append(("no-default-compute-service-account", clus, cl))

    for token in (
        "gcp:projects/iAMMember:IAMMember",
        "gcp:storage/bucketIAMMember:BucketIAMMember",
    ):
        grant = _first(rec, token)
        grant["role"] = "roles/editor"
        out.append(("no-primitive-roles", token, grant))

    b = _first(rec, bucket)
    b["uniformBucketLevelAccess"] = False
    out.append(("bucket-ubla-and-pap", bucket, b))
    b = _first(rec, bucket)
    b["publicAccessPrevention"] = "inherited"
    out.append(("bucket-ubla-and-pap", bucket, b))

    ssh = _first(rec, fw, lambda r: r["name"].endswith("-allow-iap-ssh"))
    ssh["sourceRanges"] = ["35.235.240.0/20", "203.0.113.0/24"]
    out.append(("ssh-and-web-only-from-iap", fw, ssh))
    internal = _first(rec, fw, lambda r: r["name"].endswith("-allow-internal"))
    internal["sourceRanges"] = ["0.0.0.0/0"]
    out.append(("ssh-and-web-only-from-iap", fw, internal))
    web = _first(rec, fw, lambda r: r["name"].endswith("-allow-iap-web"))
    web["sourceRanges"] = ["10.0.0.0/8"]  # the page open to the VPC, not only to IAP
    out.append(("ssh-and-web-only-from-iap", fw, web))

    vm = _first(rec, inst)
    vm["shieldedInstanceConfig"]["enableSecureBoot"] = False
    out.append(("shielded-vm", inst, vm))
    cl = _first(rec, clus)
    del cl["clusterConfig"]["gceClusterConfig"]["shieldedInstanceConfig"]
    out.append(("shielded-vm", clus, cl))
    return out


def _bad_serverless(rec: Recorded) -> list[tuple[str, str, dict[str, Any]]]:
    """(policy, type, props): the serverless stack's own resources, broken one way each."""
    batch, repo = validators.BATCH, validators.REPOSITORY
    reader = "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember"
    out = []
    b = _first(rec, batch)
    b["environmentConfig"]["executionConfig"]["serviceAccount"] = (
        "1-compute@developer.gserviceaccount.com"
    )
    out.append(("no-default-compute-service-account", batch, b))
    b = _first(rec, batch)
    del b["environmentConfig"]["executionConfig"]["serviceAccount"]
    out.append(("no-default-compute-service-account", batch, b))
    b = _first(rec, batch)
    del b["environmentConfig"]["executionConfig"]["subnetworkUri"]
    out.append(("batch-private-network-and-pinned-image", batch, b))
    b = _first(rec, batch)
    image = b["runtimeConfig"]["containerImage"]
    b["runtimeConfig"]["containerImage"] = image.split("@")[0] + ":latest"  # a tag can move
    out.append(("batch-private-network-and-pinned-image", batch, b))
    b = _first(rec, batch)
    b["runtimeConfig"]["containerImage"] = "docker.io/library/python@" + image.split("@")[1]
    out.append(("batch-private-network-and-pinned-image", batch, b))
    r = _first(rec, repo)
    r["dockerConfig"]["immutableTags"] = False
    out.append(("image-repository-immutable-tags", repo, r))
    g = _first(rec, reader)
    g["member"] = "allUsers"
    out.append(("no-primitive-roles", reader, g))
    g = _first(rec, reader)
    g["role"] = "roles/owner"
    out.append(("no-primitive-roles", reader, g))
    return out


def _bad_feed(rec: Recorded) -> list[tuple[str, str, dict[str, Any]]]:
    """(policy, type, props): the change feed's resources (prod enables it), broken one way each."""
    sub, note = validators.SUBSCRIPTION, validators.NOTIFICATION
    topic_grant = "gcp:pubsub/topicIAMMember:TopicIAMMember"
    sub_grant = "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember"
    follow = lambda r: r["name"].endswith("-follow")  # noqa: E731
    out = []
    s = _first(rec, sub, follow)
    del s["deadLetterPolicy"]
    out.append(("subscription-dead-letters", sub, s))
    s = _first(rec, sub, follow)
    s["deadLetterPolicy"]["maxDeliveryAttempts"] = 1000.0
    out.append(("subscription-dead-letters", sub, s))
    s = _first(rec, sub, follow)
    s["pushConfig"] = {"pushEndpoint": "https://example.com/push"}
    out.append(("subscription-dead-letters", sub, s))
    s = _first(rec, sub, follow)
    del s["expirationPolicy"]  # the default: deleted after 31 idle days
    out.append(("subscription-dead-letters", sub, s))
    g = _first(rec, topic_grant)
    g["role"] = "roles/pubsub.admin"
    out.append(("pubsub-grants-scoped", topic_grant, g))
    g = _first(rec, sub_grant)
    g["role"] = "roles/pubsub.publisher"
    out.append(("pubsub-grants-scoped", sub_grant, g))
    g = _first(rec, sub_grant)
    g["member"] = "allAuthenticatedUsers"
    out.append(("no-primitive-roles", sub_grant, g))
    n = _first(rec, note)
    n["payloadFormat"] = "JSON_API_V1"
    out.append(("notification-attributes-and-prefix", note, n))
    n = _first(rec, note)
    del n["objectNamePrefix"]
    out.append(("notification-attributes-and-prefix", note, n))
    n = _first(rec, note)
    n["eventTypes"] = ["OBJECT_METADATA_UPDATE"]
    out.append(("notification-attributes-and-prefix", note, n))
    return out


@pytest.mark.parametrize("stack_name", STACKS)
def test_every_policy_fails_on_a_bad_resource_of_its_kind(
    stack_name: str, recorded: Callable[[str], Recorded], serverless: Recorded
) -> None:
    bad = _bad_resources(recorded(stack_name)) + _bad_serverless(serverless)
    bad += _bad_feed(recorded("prod"))
    assert {policy for policy, _, _ in bad} == set(NAMES)
    for policy, token, props in bad:
        found = violations(token, props)
        assert list(found) == [policy], (policy, token, found)


def test_serverless_policy_messages() -> None:
    f = validators.batch_private_and_pinned
    digest = "@sha256:" + "a" * 64
    good = {
        "environmentConfig": {"executionConfig": {"subnetworkUri": "s"}},
        "runtimeConfig": {"containerImage": f"europe-west1-docker.pkg.dev/p/r/i{digest}"},
    }
    assert f(validators.BATCH, good) == []
    assert f(validators.BATCH, {}) == [
        "batch must set environmentConfig.executionConfig.subnetworkUri",
        "batch image must come from Artifact Registry pinned by digest, got none",
    ]
    execution = {"subnetworkUri": "s", "networkUri": "default"}
    wide = {**good, "environmentConfig": {"executionConfig": execution}}
    assert f(validators.BATCH, wide) == ["batch must not run on a whole network (default)"]
    tagged = {**good, "runtimeConfig": {"containerImage": "gcr.io/p/i:1"}}
    assert f(validators.BATCH, tagged) == [
        "batch image must come from Artifact Registry pinned by digest, got gcr.io/p/i:1"
    ]
    g = validators.repository_immutable_tags
    assert (
        g(validators.REPOSITORY, {"format": "DOCKER", "dockerConfig": {"immutableTags": True}})
        == []
    )
    assert g(validators.REPOSITORY, {"format": "MAVEN"}) == [
        "repository format must be DOCKER, got MAVEN",
        "repository must set dockerConfig.immutableTags = true",
    ]
    h = validators.no_primitive_roles
    assert h("t", {"role": "roles/viewer", "members": ["user:a", "allAuthenticatedUsers"]}) == [
        "grants primitive role roles/viewer",
        "grants roles/viewer to allAuthenticatedUsers (everyone)",
    ]


class _Args:
    """The two fields of ResourceValidationArgs the policies read."""

    def __init__(self, resource_type: str, props: dict[str, Any]) -> None:
        self.resource_type = resource_type
        self.props = props


def test_crossguard_policies_report_through_report_violation(
    recorded: Callable[[str], Recorded],
) -> None:
    policies = {p.name: p for p in build_policies()}
    assert set(policies) == set(NAMES)
    for policy, token, props in _bad_resources(recorded("prod")):
        reported: list[str] = []
        validate = policies[policy].validate
        validate(_Args(token, props), lambda msg, urn=None, r=reported: r.append(msg))
        assert reported, policy


def test_ssh_rules_edge_cases() -> None:
    fw = "gcp:compute/firewall:Firewall"
    iap = {"direction": "INGRESS", "sourceRanges": ["35.235.240.0/24"]}
    assert violations(fw, {**iap, "allows": [{"protocol": "tcp", "ports": ["22"]}]}) == {}
    wide = {"direction": "INGRESS", "sourceRanges": ["10.0.0.0/8"]}
    assert "ssh-and-web-only-from-iap" in violations(
        fw, {**wide, "allows": [{"protocol": "tcp", "ports": ["20-30"]}]}
    )
    assert "ssh-and-web-only-from-iap" in violations(fw, {**wide, "allows": [{"protocol": "all"}]})
    assert violations(fw, {**wide, "allows": [{"protocol": "tcp", "ports": ["443"]}]}) == {}
    assert violations(fw, {"direction": "EGRESS", "destinationRanges": ["0.0.0.0/0"]}) == {}


@pytest.mark.parametrize("source", ["::/0", "2001:db8::/32", "35.235.240.0/19", "not-a-range"])
def test_ssh_from_ipv6_or_outside_iap_is_a_violation_not_a_crash(source: str) -> None:
    fw = "gcp:compute/firewall:Firewall"
    props = {"direction": "INGRESS", "sourceRanges": [source]}
    found = violations(fw, {**props, "allows": [{"protocol": "tcp", "ports": ["22"]}]})
    assert "ssh-and-web-only-from-iap" in found
    messages = " ".join(found["ssh-and-web-only-from-iap"])
    assert f"port 22 allowed from ['{source}']" in messages
    if source == "::/0":
        assert "ingress from ::/0 (the whole internet)" in messages


# Each validator on hand-written props: exact messages, both sides of every edge.

INST, CLUS = "gcp:compute/instance:Instance", "gcp:dataproc/cluster:Cluster"
FW, BUCKET = "gcp:compute/firewall:Firewall", "gcp:storage/bucket:Bucket"
ONLY_IAP = "only 35.235.240.0/20 (IAP) may"
SHIELDED = {"enableSecureBoot": True, "enableVtpm": True, "enableIntegrityMonitoring": True}


def _gce(**gce: Any) -> dict[str, Any]:
    return {"clusterConfig": {"gceClusterConfig": gce}}


def test_validators_look_only_at_their_types_and_pass_type_and_props_through() -> None:
    seen: list[tuple[str, Any]] = []

    def check(resource_type: str, props: Any) -> list[str]:
        seen.append((resource_type, props))
        return ["bad"]

    v = validators.Validator("n", "d", frozenset({FW}), check)
    props = {"k": 1}
    assert v(BUCKET, props) == []
    assert seen == []
    assert v(FW, props) == ["bad"]
    assert seen == [(FW, props)]
    assert [(x.name, x.types) for x in VALIDATORS] == [
        ("no-external-ip", frozenset({INST, CLUS})),
        ("no-default-compute-service-account", frozenset({INST, CLUS, validators.BATCH})),
        ("no-primitive-roles", validators.IAM_TYPES),
        ("bucket-ubla-and-pap", frozenset({BUCKET})),
        ("ssh-and-web-only-from-iap", frozenset({FW})),
        ("shielded-vm", frozenset({INST, CLUS})),
        ("batch-private-network-and-pinned-image", frozenset({validators.BATCH})),
        ("image-repository-immutable-tags", frozenset({validators.REPOSITORY})),
        ("subscription-dead-letters", frozenset({validators.SUBSCRIPTION})),
        ("pubsub-grants-scoped", validators.TOPIC_IAM | validators.SUBSCRIPTION_IAM),
        ("notification-attributes-and-prefix", frozenset({validators.NOTIFICATION})),
    ]
    assert validators.TOPIC_IAM | validators.SUBSCRIPTION_IAM <= validators.IAM_TYPES
    for x in VALIDATORS:
        assert x.description == x.check.__doc__ and x.description


def test_feed_policy_messages() -> None:
    f = validators.subscription_dead_letters
    sub = validators.SUBSCRIPTION
    good = {
        "topic": "projects/p/topics/t",
        "deadLetterPolicy": {"deadLetterTopic": "projects/p/topics/t-dead-letters"},
        "expirationPolicy": {"ttl": ""},
    }
    good["deadLetterPolicy"]["maxDeliveryAttempts"] = 5.0
    assert f(sub, good) == []
    assert f(sub, {"topic": "projects/p/topics/t"}) == [
        "subscription must set deadLetterPolicy.deadLetterTopic",
        "subscription must set deadLetterPolicy.maxDeliveryAttempts 5-100, got None",
        'subscription must set expirationPolicy.ttl = "" (never expires)',
    ]
    # Only a dead-letter topic's own subscription goes without a dead-letter policy.
    held = {"topic": "projects/p/topics/t-dead-letters", "expirationPolicy": {"ttl": ""}}
    assert f(sub, held) == []
    assert f(sub, {**held, "topic": "projects/p/topics/t-dead-letters-not"}) != []
    g = validators.pubsub_grants_scoped
    topic_grant = "gcp:pubsub/topicIAMMember:TopicIAMMember"
    assert g(topic_grant, {"role": "roles/pubsub.publisher"}) == []
    assert g(topic_grant, {"role": "roles/pubsub.subscriber"}) == [
        "grants roles/pubsub.subscriber; only roles/pubsub.publisher belongs here"
    ]
    n = validators.notification_payload
    note = validators.NOTIFICATION
    ok = {"payloadFormat": "NONE", "objectNamePrefix": "images/", "eventTypes": ["OBJECT_DELETE"]}
    assert n(note, ok) == []
    assert n(note, {**ok, "objectNamePrefix": ""}) == [
        "notification must set objectNamePrefix (the whole bucket would feed itself)"
    ]


def test_no_external_ip_messages() -> None:
    f = validators.no_external_ip
    msg = "Dataproc cluster must set gceClusterConfig.internalIpOnly = true"
    assert f(CLUS, _gce(internalIpOnly=True)) == []
    for props in (_gce(internalIpOnly=False), _gce(internalIpOnly="true"), _gce(), {}):
        assert f(CLUS, props) == [msg], props
    assert f(CLUS, {"clusterConfig": None}) == [msg]
    assert f(CLUS, {"clusterConfig": {"gceClusterConfig": None}}) == [msg]
    # A cluster is judged by its gceClusterConfig, not by VM-style network interfaces.
    assert (
        f(CLUS, {**_gce(internalIpOnly=True), "networkInterfaces": [{"accessConfigs": [{}]}]}) == []
    )
    nics = [{"accessConfigs": []}, {"accessConfigs": [{}]}, {}, {"accessConfigs": [{"natIp": "x"}]}]
    assert f(INST, {"networkInterfaces": nics}) == [
        "network interface 1 has an external IP (accessConfigs)",
        "network interface 3 has an external IP (accessConfigs)",
    ]
    assert f(INST, {"networkInterfaces": None}) == []
    assert f(INST, {}) == []
    assert validators.violations(INST, {"networkInterfaces": [{"accessConfigs": [{}]}]})[
        "no-external-ip"
    ] == ["network interface 0 has an external IP (accessConfigs)"]


def test_no_default_compute_sa_messages() -> None:
    f = validators.no_default_compute_sa
    own = "faces-worker@p.iam.gserviceaccount.com"
    default = "123456-compute@developer.gserviceaccount.com"

    def msg(shown: str) -> list[str]:
        return [f"uses the default compute service account ({shown})"]

    assert f(CLUS, _gce(serviceAccount=own)) == []
    assert f(CLUS, _gce(serviceAccount=default)) == msg(default)
    assert f(CLUS, _gce(serviceAccount="default")) == msg("default")
    assert f(CLUS, _gce(serviceAccount="")) == msg("unset")
    assert f(CLUS, _gce()) == msg("unset")
    assert f(CLUS, {}) == msg("unset")
    # Each kind reads its own field: a cluster's is a string under gceClusterConfig.
    assert f(CLUS, {"serviceAccount": {"email": own}}) == msg("unset")
    assert f(INST, {"serviceAccount": {"email": own}}) == []
    assert f(INST, {"serviceAccount": {"email": default}}) == msg(default)
    assert f(INST, {"serviceAccount": {"email": "default"}}) == msg("default")
    assert f(INST, {"serviceAccount": {"email": None}}) == msg("unset")
    assert f(INST, {"serviceAccount": None}) == msg("unset")
    assert f(INST, _gce(serviceAccount=own)) == msg("unset")
    # The suffix with its dash: an account merely named "compute" is not the default one.
    assert f(INST, {"serviceAccount": {"email": "compute@developer.gserviceaccount.com"}}) == []
    assert f(INST, {"serviceAccount": {"email": "x-compute@developer.gserviceaccount.co"}}) == []


def test_no_primitive_roles_messages() -> None:
    f = validators.no_primitive_roles
    for role in ("roles/owner", "roles/editor", "roles/viewer"):
        assert f("gcp:projects/iAMMember:IAMMember", {"role": role}) == [
            f"grants primitive role {role}"
        ]
    for role in ("roles/storage.objectViewer", "roles/Owner", "roles/owner ", "", None):
        assert f("gcp:projects/iAMMember:IAMMember", {"role": role}) == [], role
    assert f("gcp:projects/iAMMember:IAMMember", {}) == []
    assert {
        "gcp:projects/iAMMember:IAMMember",
        "gcp:projects/iAMBinding:IAMBinding",
        "gcp:storage/bucketIAMMember:BucketIAMMember",
        "gcp:storage/bucketIAMBinding:BucketIAMBinding",
        "gcp:serviceaccount/iAMMember:IAMMember",
        "gcp:serviceaccount/iAMBinding:IAMBinding",
        "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember",
        "gcp:artifactregistry/repositoryIamBinding:RepositoryIamBinding",
        "gcp:pubsub/topicIAMMember:TopicIAMMember",
        "gcp:pubsub/topicIAMBinding:TopicIAMBinding",
        "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember",
        "gcp:pubsub/subscriptionIAMBinding:SubscriptionIAMBinding",
    } == validators.IAM_TYPES


def test_bucket_messages() -> None:
    f = validators.bucket_ubla_pap
    ubla = "bucket must enable uniform bucket-level access"
    pap = "bucket must set publicAccessPrevention = enforced"
    good = {"uniformBucketLevelAccess": True, "publicAccessPrevention": "enforced"}
    assert f(BUCKET, good) == []
    assert f(BUCKET, {}) == [ubla, pap]
    assert f(BUCKET, {**good, "uniformBucketLevelAccess": "true"}) == [ubla]
    assert f(BUCKET, {**good, "publicAccessPrevention": "inherited"}) == [pap]
    assert f(BUCKET, {**good, "publicAccessPrevention": "ENFORCED"}) == [pap]


@pytest.mark.parametrize(
    ("spec", "port", "allowed"),
    [
        ("22", 22, True),
        ("21", 22, False),
        ("23", 22, False),
        (22, 22, True),
        ("22-23", 22, True),
        ("21-22", 22, True),
        ("23-30", 22, False),
        ("10-21", 22, False),
        ("1-65535", 22, True),
        ("1-65535", 8080, True),
        ("8080", 8080, True),
        ("8079", 8080, False),
        ("8081", 8080, False),
        ("8000-8080", 8080, True),
        ("8080-8090", 8080, True),
        ("8081-8090", 8080, False),
        ("8000-8079", 8080, False),
    ],
)
def test_allows_port_ranges(spec: Any, port: int, allowed: bool) -> None:
    assert validators._allows_port([{"protocol": "tcp", "ports": [spec]}], port) is allowed
    assert validators._allows_port([{"protocol": "tcp", "ports": ["443", spec]}], port) is allowed


def test_allows_port_protocols() -> None:
    f = validators._allows_port
    assert f([{"protocol": "tcp"}], 22) is True  # no ports: every port
    assert f([{"protocol": "tcp", "ports": []}], 22) is True
    assert f([{"protocol": "tcp", "ports": None}], 8080) is True
    assert f([{"protocol": "all"}], 8080) is True
    # GCP also takes TCP's IP protocol number, and names in any case.
    assert f([{"protocol": "6", "ports": ["22"]}], 22) is True
    assert f([{"protocol": "TCP", "ports": ["8080"]}], 8080) is True
    assert f([{"protocol": "ALL"}], 22) is True
    assert f([{"protocol": "17", "ports": ["22"]}], 22) is False  # UDP
    assert f([{"protocol": "all", "ports": ["443"]}], 22) is False
    for other in ("udp", "icmp", None, "sctp", "none", "60"):
        assert f([{"protocol": other}], 22) is False, other
        assert f([{"protocol": other, "ports": ["22"]}], 22) is False, other
    assert f([], 22) is False
    # A later rule still counts after a skipped or non-matching one.
    assert f([{"protocol": "udp", "ports": ["22"]}, {"protocol": "tcp", "ports": ["22"]}], 22)
    assert f([{"protocol": "tcp", "ports": ["443"]}, {"protocol": "tcp", "ports": ["22"]}], 22)


@pytest.mark.parametrize(
    ("source", "inside"),
    [
        ("35.235.240.0/20", True),
        ("35.235.240.0/24", True),
        ("35.235.240.0/32", True),  # first address of the /20
        ("35.235.255.255/32", True),  # last address
        ("35.235.255.255", True),
        ("35.235.250.7/20", True),  # host bits set: read as its /20, not refused
        ("35.235.239.255/32", False),  # just before
        ("35.236.0.0/32", False),  # just after
        ("35.235.240.0/19", False),  # wider than IAP's
        ("35.235.224.0/20", False),  # the neighbouring /20
        ("0.0.0.0/0", False),
        ("::/0", False),
        ("2001:db8::/32", False),
        ("::ffff:35.235.240.0/116", False),  # IPv4-mapped IPv6 is still IPv6 to GCP
        ("not-a-range", False),
        ("", False),
    ],
)
def test_within_iap_edges(source: str, inside: bool) -> None:
    assert validators._within_iap(source) is inside


def test_ssh_and_web_messages() -> None:
    f = validators.ssh_and_web_only_from_iap
    tcp = {"allows": [{"protocol": "tcp", "ports": ["22", "8080"]}]}
    everything = {"allows": [{"protocol": "all"}]}
    assert f(FW, {"sourceRanges": ["35.235.240.0/20"], **tcp}) == []
    assert f(FW, {"direction": "INGRESS", "sourceRanges": ["35.235.240.0/20"], **everything}) == []
    outside = ["35.235.240.0/20", "10.0.0.0/8", "2001:db8::/32"]
    expected = [
        f"port 22 allowed from ['10.0.0.0/8', '2001:db8::/32']; {ONLY_IAP}",
        f"port 8080 allowed from ['10.0.0.0/8', '2001:db8::/32']; {ONLY_IAP}",
    ]
    assert f(FW, {"sourceRanges": outside, **tcp}) == expected  # no direction: ingress
    assert f(FW, {"direction": None, "sourceRanges": outside, **tcp}) == expected
    assert f(FW, {"direction": "INGRESS", "sourceRanges": outside, **everything}) == expected
    assert f(FW, {"direction": "EGRESS", "sourceRanges": outside, **everything}) == []
    only_web = {"allows": [{"protocol": "tcp", "ports": ["8080"]}]}
    assert f(FW, {"sourceRanges": ["10.0.0.0/8"], **only_web}) == [
        f"port 8080 allowed from ['10.0.0.0/8']; {ONLY_IAP}"
    ]
    # The whole internet, each way of writing it, whatever the ports.
    https = {"allows": [{"protocol": "tcp", "ports": ["443"]}]}
    assert f(FW, {"sourceRanges": ["0.0.0.0/0", "::/0"], **https}) == [
        "ingress from 0.0.0.0/0 (the whole internet)",
        "ingress from ::/0 (the whole internet)",
    ]
    assert f(FW, {"sourceRanges": ["10.0.0.0/8"], **https}) == []
    assert f(
        FW, {"sourceRanges": ["0.0.0.0/0"], "allows": [{"protocol": "tcp", "ports": ["22"]}]}
    ) == [
        "ingress from 0.0.0.0/0 (the whole internet)",
        f"port 22 allowed from ['0.0.0.0/0']; {ONLY_IAP}",
    ]
    # No source ranges and no source tags: GCP reads that as anywhere.
    assert f(FW, dict(tcp)) == [
        f"port 22 allowed from anywhere; {ONLY_IAP}",
        f"port 8080 allowed from anywhere; {ONLY_IAP}",
    ]
    assert f(FW, {"sourceRanges": None, "sourceTags": None, **tcp})[0].endswith(
        f"from anywhere; {ONLY_IAP}"
    )
    assert f(FW, {"sourceTags": ["faces-devhost"], **tcp}) == []  # from tagged VMs only
    assert f(FW, {"sourceTags": ["t"], "sourceRanges": ["10.0.0.0/8"], **tcp})[0] == (
        f"port 22 allowed from ['10.0.0.0/8']; {ONLY_IAP}"
    )
    assert f(FW, {"sourceRanges": ["10.0.0.0/8"], "allows": [{"protocol": "6"}]}) == [
        f"port 22 allowed from ['10.0.0.0/8']; {ONLY_IAP}",
        f"port 8080 allowed from ['10.0.0.0/8']; {ONLY_IAP}",
    ]
    assert f(FW, {"sourceRanges": ["10.0.0.0/8"]}) == []  # allows nothing
    assert f(FW, {"sourceRanges": ["10.0.0.0/8"], "allows": None}) == []


def test_shielded_vm_messages() -> None:
    f = validators.shielded_vm
    assert f(INST, {"shieldedInstanceConfig": SHIELDED}) == []
    assert f(CLUS, _gce(shieldedInstanceConfig=SHIELDED)) == []
    every = [
        "Shielded VM setting enableSecureBoot must be true",
        "Shielded VM setting enableVtpm must be true",
        "Shielded VM setting enableIntegrityMonitoring must be true",
    ]
    assert f(INST, {}) == every
    assert f(INST, {"shieldedInstanceConfig": None}) == every
    assert f(CLUS, _gce()) == every
    assert f(CLUS, {}) == every
    # Each kind reads its own field.
    assert f(CLUS, {"shieldedInstanceConfig": SHIELDED}) == every
    assert f(INST, _gce(shieldedInstanceConfig=SHIELDED)) == every
    for i, key in enumerate(SHIELDED):
        assert f(INST, {"shieldedInstanceConfig": {**SHIELDED, key: False}}) == [every[i]]
        assert f(INST, {"shieldedInstanceConfig": {**SHIELDED, key: "true"}}) == [every[i]]


def test_violations_keep_validator_order_and_drop_empty_lists() -> None:
    bad_vm = {"networkInterfaces": [{"accessConfigs": [{}]}]}
    assert validators.violations(INST, bad_vm) == {
        "no-external-ip": ["network interface 0 has an external IP (accessConfigs)"],
        "no-default-compute-service-account": ["uses the default compute service account (unset)"],
        "shielded-vm": [
            "Shielded VM setting enableSecureBoot must be true",
            "Shielded VM setting enableVtpm must be true",
            "Shielded VM setting enableIntegrityMonitoring must be true",
        ],
    }
    assert list(validators.violations(INST, bad_vm)) == [
        "no-external-ip",
        "no-default-compute-service-account",
        "shielded-vm",
    ]
    assert validators.violations("gcp:compute/network:Network", {}) == {}


def test_crossguard_policy_fields_and_every_message_reported() -> None:
    policies = build_policies()
    assert [p.name for p in policies] == NAMES
    for p, v in zip(policies, VALIDATORS, strict=True):
        assert p.description == v.description
        assert p.enforcement_level == EnforcementLevel.MANDATORY
    web = {p.name: p for p in policies}["ssh-and-web-only-from-iap"]
    calls: list[tuple[str, Any]] = []
    props = {"sourceRanges": ["0.0.0.0/0"], "allows": [{"protocol": "all"}]}
    web.validate(_Args(FW, props), lambda msg, urn="unset": calls.append((msg, urn)))
    assert calls == [
        ("ingress from 0.0.0.0/0 (the whole internet)", None),
        (f"port 22 allowed from ['0.0.0.0/0']; {ONLY_IAP}", None),
        (f"port 8080 allowed from ['0.0.0.0/0']; {ONLY_IAP}", None),
    ]
    calls.clear()
    web.validate(_Args(BUCKET, props), lambda msg, urn="unset": calls.append((msg, urn)))
    assert calls == []
    assert PACK_NAME == "dataproc-faces-baseline"
