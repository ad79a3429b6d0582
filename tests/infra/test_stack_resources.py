"""What each stack declares, asserted over every resource the mocks recorded (dev and prod)."""

from __future__ import annotations

import ipaddress
import re
from collections import Counter

import pytest
from stackrun import REPO, Recorded

from infra.apis import SERVICES
from infra.config import IAP_SSH_RANGE, opencv_pin, requirement_pin
from infra.devhost import APP_DIR, WEB_ENV, WEB_PORT, WEB_UNIT
from infra.policy.validators import IAP_ONLY_PORTS

BUCKET = "gcp:storage/bucket:Bucket"
BUCKET_IAM = "gcp:storage/bucketIAMMember:BucketIAMMember"
PROJECT_IAM = "gcp:projects/iAMMember:IAMMember"
SA_IAM = "gcp:serviceaccount/iAMMember:IAMMember"
SA = "gcp:serviceaccount/account:Account"
CLUSTER = "gcp:dataproc/cluster:Cluster"
POLICY = "gcp:dataproc/autoscalingPolicy:AutoscalingPolicy"
INSTANCE = "gcp:compute/instance:Instance"
FIREWALL = "gcp:compute/firewall:Firewall"
SERVICE = "gcp:projects/service:Service"
OBJECT = "gcp:storage/bucketObject:BucketObject"
ROLE = "gcp:projects/iAMCustomRole:IAMCustomRole"
JOB = "gcp:dataproc/job:Job"
SAMPLE_IMAGES = sorted(p.name for p in (REPO / "samples").iterdir() if p.suffix == ".png")

EXPECTED_COUNTS = {
    "dev": {
        SERVICE: 7,
        "gcp:compute/network:Network": 1,
        "gcp:compute/subnetwork:Subnetwork": 1,
        "gcp:compute/router:Router": 1,
        "gcp:compute/routerNat:RouterNat": 1,
        FIREWALL: 3,
        BUCKET: 4,
        SA: 2,
        PROJECT_IAM: 2,
        ROLE: 1,
        SA_IAM: 0,  # no roles/iam.serviceAccountUser for the devhost: submitting needs none
        BUCKET_IAM: 8,
        CLUSTER: 1,
        INSTANCE: 1,
        JOB: 1,  # dev: job_submit true
    },
}
# prod runs the change feed (config feed): the Pub/Sub API, two topics, two subscriptions, the
# devhost's conditioned grant on the feed's results folders, and the feed's own grants.
EXPECTED_COUNTS["prod"] = {
    **EXPECTED_COUNTS["dev"],
    POLICY: 1,
    JOB: 0,
    SERVICE: 8,
    BUCKET_IAM: 9,
    "gcp:pubsub/topic:Topic": 2,
    "gcp:pubsub/subscription:Subscription": 2,
    "gcp:pubsub/topicIAMMember:TopicIAMMember": 2,
    "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember": 2,
    "gcp:storage/notification:Notification": 1,
    "gcp:projects/serviceIdentity:ServiceIdentity": 1,
}
EXPECTED_COUNTS["dev"] |= {"gcp:pubsub/topic:Topic": 0, "gcp:storage/notification:Notification": 0}
# Objects per stack: package, main, init action, requirements, constraints, one per model file
# (artefacts, staging bucket), the fixed-name object listing them for the devhost and, in dev
# (seed_samples), one per sample image (input bucket).
ARTEFACTS = 6 + sum(
    1 for p in (REPO / "spark" / "dataproc_faces" / "models").glob("*") if p.is_file()
)
EXPECTED_OBJECTS = {"dev": ARTEFACTS + len(SAMPLE_IMAGES), "prod": ARTEFACTS}


def _bucket(stack: Recorded, role: str) -> dict:
    return stack.named(BUCKET, f"-storage-{role}")


def _email(stack: Recorded, which: str) -> str:
    return stack.named(SA, f"-{which}-sa")["state"]["email"]


def test_resource_counts_per_stack(stack: Recorded) -> None:
    counts = Counter(r["type"] for r in stack.resources if r["custom"])
    expected = EXPECTED_COUNTS[stack.stack]
    for token, n in expected.items():
        assert counts[token] == n, f"{stack.stack}: {token}"
    assert len(SAMPLE_IMAGES) >= 4
    assert counts[OBJECT] == EXPECTED_OBJECTS[stack.stack]
    assert (POLICY in counts) == (stack.stack == "prod")


def test_one_component_per_concern_children_parented_and_named(stack: Recorded) -> None:
    components = {r["type"].rsplit(":", 1)[-1]: r for r in stack.resources if not r["custom"]}
    base = {"Platform", "Apis", "Network", "Storage", "Identity", "Artifacts", "Cluster", "Devhost"}
    # dev seeds the sample images and submits the job (config seed_samples, job_submit).
    # dev seeds and submits; prod runs the change feed (config feed).
    extra = {"Samples", "FaceJob"} if stack.stack == "dev" else {"Feed"}
    assert set(components) == base | extra
    platform = components["Platform"]
    for kind, comp in components.items():
        if kind != "Platform":
            assert comp["parent"] == platform["urn"]
            assert comp["name"].startswith(platform["name"] + "-")
    customs = [r for r in stack.resources if r["custom"]]
    assert len(customs) > 30
    for r in customs:
        parent = stack.by_urn[r["parent"]]
        assert not parent["custom"] and parent["type"] != "dataproc-faces:infra:Platform"
        # FaceJob's one Job has the component's own name (kept: renaming would replace the job).
        assert r["name"].startswith(parent["name"] + "-") or r["type"] == JOB, r["name"]


def test_apis_enabled_and_everything_depends_on_them(stack: Recorded) -> None:
    services = stack.of_type(SERVICE, at_least=len(SERVICES))
    assert {s["inputs"]["service"] for s in services} >= {
        "compute.googleapis.com",
        "dataproc.googleapis.com",
        "storage.googleapis.com",
        "iam.googleapis.com",
    }
    assert all(s["inputs"]["disableOnDestroy"] is False for s in services)
    urns = {s["inputs"]["service"].split(".")[0]: s["urn"] for s in services}
    needs = {
        "gcp:compute/": "compute",
        "gcp:storage/": "storage",
        "gcp:serviceaccount/": "iam",
        "gcp:projects/iAM": "cloudresourcemanager",
        "gcp:dataproc/": "dataproc",
    }
    checked = 0
    for r in stack.resources:
        for prefix, api in needs.items():
            if r["custom"] and r["type"].startswith(prefix):
                assert stack.depends_on(r, urns[api]), f"{r['name']} does not wait for {api}"
                checked += 1
    assert checked > 25
    # The cluster and the devhost wait directly for every API.
    for token in (CLUSTER, INSTANCE):
        assert set(urns.values()) <= set(stack.one(token)["dependencies"])


def test_network_private_access_and_nat(stack: Recorded) -> None:
    net = stack.one("gcp:compute/network:Network")["inputs"]
    assert net["autoCreateSubnetworks"] is False
    subnet = stack.one("gcp:compute/subnetwork:Subnetwork")["inputs"]
    assert subnet["privateIpGoogleAccess"] is True
    assert ipaddress.IPv4Network(subnet["ipCidrRange"]).is_private
    nat = stack.one("gcp:compute/routerNat:RouterNat")["inputs"]
    router = stack.one("gcp:compute/router:Router")["inputs"]
    assert nat["router"] == router["name"]
    assert nat["sourceSubnetworkIpRangesToNat"] == "LIST_OF_SUBNETWORKS"
    subnet_id = stack.one("gcp:compute/subnetwork:Subnetwork")["state"]
    assert [s["name"] for s in nat["subnetworks"]] == [
        f"projects/faces-test-project/regions/{subnet['region']}/subnetworks/{subnet_id['name']}"
    ]


def test_firewall_internal_by_tag_ssh_only_from_iap_no_open_ingress(stack: Recorded) -> None:
    rules = stack.of_type(FIREWALL, at_least=2)
    cluster_tags = stack.one(CLUSTER)["inputs"]["clusterConfig"]["gceClusterConfig"]["tags"]
    devhost_tags = stack.one(INSTANCE)["inputs"]["tags"]
    internal = stack.named(FIREWALL, "-allow-internal")["inputs"]
    assert internal["sourceTags"] == internal["targetTags"] == cluster_tags
    assert "sourceRanges" not in internal
    ssh = stack.named(FIREWALL, "-allow-iap-ssh")["inputs"]
    assert ssh["sourceRanges"] == [IAP_SSH_RANGE] and ssh["targetTags"] == devhost_tags
    assert ssh["allows"] == [{"protocol": "tcp", "ports": ["22"]}]
    web = stack.named(FIREWALL, "-allow-iap-web")["inputs"]
    assert web["sourceRanges"] == [IAP_SSH_RANGE] and web["targetTags"] == devhost_tags
    assert web["allows"] == [{"protocol": "tcp", "ports": [str(WEB_PORT)]}]
    assert "sourceTags" not in web and "sourceTags" not in ssh
    assert WEB_PORT in IAP_ONLY_PORTS  # the policy pack guards the port the devhost serves on
    assert len(rules) == 3
    for rule in rules:
        assert "0.0.0.0/0" not in rule["inputs"].get("sourceRanges", [])
        assert rule["inputs"]["direction"] == "INGRESS"
        assert rule["inputs"].get("targetTags"), "every rule targets a tag, never all instances"


def test_buckets_secure_labelled_and_lifecycle(stack: Recorded) -> None:
    buckets = stack.of_type(BUCKET, at_least=4)
    for b in buckets:
        i = b["inputs"]
        assert i["uniformBucketLevelAccess"] is True
        assert i["publicAccessPrevention"] == "enforced"
        assert i["labels"]["app"] == "dataproc-faces" and i["labels"]["env"] == stack.stack
        assert i["location"] == "EUROPE-WEST1"
    temp = _bucket(stack, "temp")["inputs"]
    rules = temp["lifecycleRules"]
    assert rules and rules[0]["action"]["type"] == "Delete" and rules[0]["condition"]["age"] > 0


def test_dev_buckets_force_destroy_and_not_retained(recorded) -> None:
    dev = recorded("dev")
    buckets = dev.of_type(BUCKET, at_least=4)
    assert all(b["inputs"]["forceDestroy"] is True and not b["retain_on_delete"] for b in buckets)


def test_prod_results_bucket_kept_on_destroy_and_versioned(recorded) -> None:
    prod = recorded("prod")
    results = _bucket(prod, "results")
    assert results["retain_on_delete"] is True
    assert results["inputs"]["forceDestroy"] is False
    assert results["inputs"]["versioning"] == {"enabled": True}
    others = [b for b in prod.of_type(BUCKET, at_least=4) if b is not results]
    assert len(others) == 3 and all(b["inputs"]["forceDestroy"] is False for b in others)


def test_cluster_identity_roles_are_dataproc_worker_plus_bucket_scoped(stack: Recorded) -> None:
    member = f"serviceAccount:{_email(stack, 'cluster')}"
    project_roles = [
        r["inputs"]["role"] for r in stack.of_type(PROJECT_IAM) if r["inputs"]["member"] == member
    ]
    assert project_roles == ["roles/dataproc.worker"]
    grants = {
        (r["inputs"]["bucket"], r["inputs"]["role"])
        for r in stack.of_type(BUCKET_IAM)
        if r["inputs"]["member"] == member
    }
    name = {
        role: _bucket(stack, role)["inputs"]["name"]
        for role in ("input", "results", "staging", "temp")
    }
    assert grants == {
        (name["input"], "roles/storage.objectViewer"),
        (name["results"], "roles/storage.objectAdmin"),
        (name["staging"], "roles/storage.objectAdmin"),
        (name["temp"], "roles/storage.objectAdmin"),
    }


def test_devhost_identity_can_submit_jobs_without_broad_roles(stack: Recorded) -> None:
    member = f"serviceAccount:{_email(stack, 'devhost')}"
    role = stack.one(ROLE)
    perms = set(role["inputs"]["permissions"])
    assert {"dataproc.jobs.create", "dataproc.clusters.use", "dataproc.jobs.get"} <= perms
    assert not any(
        p.startswith(
            ("dataproc.clusters.create", "dataproc.clusters.delete", "dataproc.clusters.update")
        )
        for p in perms
    )
    name = {
        role: _bucket(stack, role)["inputs"]["name"] for role in ("input", "results", "staging")
    }
    # Every grant the devhost holds, of every IAM kind, exactly. Submitting a job needs no
    # roles/iam.serviceAccountUser on the cluster's account (creating clusters would).
    # Uploads create objects and read them back; nothing may delete or replace an input.
    # With the change feed (prod): subscribing on its one subscription, and changing objects
    # in the feed's folders of the results bucket only (an IAM condition; tests/infra/test_feed.py).
    grants = sorted(
        (
            r["type"],
            r["inputs"].get("bucket")
            or r["inputs"].get("subscription")
            or r["inputs"].get("project"),
            r["inputs"]["role"],
            bool(r["inputs"].get("condition")),
        )
        for r in stack.resources
        if "IAMMember" in r["type"] and r["inputs"]["member"] == member
    )
    feed = [
        (BUCKET_IAM, name["results"], "roles/storage.objectAdmin", True),
        (
            "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember",
            "dpf-prod-follow",
            "roles/pubsub.subscriber",
            False,
        ),
    ]
    assert grants == sorted(
        [
            (PROJECT_IAM, "faces-test-project", role["state"]["name"], False),
            (BUCKET_IAM, name["input"], "roles/storage.objectCreator", False),
            (BUCKET_IAM, name["input"], "roles/storage.objectViewer", False),
            (BUCKET_IAM, name["results"], "roles/storage.objectViewer", False),
            (BUCKET_IAM, name["staging"], "roles/storage.objectViewer", False),
            *(feed if stack.stack == "prod" else []),
        ]
    )


def test_no_primitive_roles_and_no_default_compute_sa(stack: Recorded) -> None:
    iam = [r for r in stack.resources if "IAMMember" in r["type"]]
    assert len(iam) >= 10
    for r in iam:
        assert r["inputs"]["role"] not in ("roles/owner", "roles/editor", "roles/viewer")
        assert "-compute@developer" not in r["inputs"]["member"]
    assert _email(stack, "cluster") == stack.outputs["cluster_service_account"]
    assert not _email(stack, "cluster").endswith("-compute@developer.gserviceaccount.com")


def test_cluster_secure_and_pinned(stack: Recorded) -> None:
    cluster = stack.one(CLUSTER)
    cc = cluster["inputs"]["clusterConfig"]
    gce = cc["gceClusterConfig"]
    assert gce["internalIpOnly"] is True
    assert gce["serviceAccount"] == _email(stack, "cluster")
    assert gce["shieldedInstanceConfig"] == {
        "enableSecureBoot": True,
        "enableVtpm": True,
        "enableIntegrityMonitoring": True,
    }
    assert gce["subnetwork"] == stack.one("gcp:compute/subnetwork:Subnetwork")["state"]["selfLink"]
    assert cc["softwareConfig"]["imageVersion"] == "2.3-debian12"
    assert cc["stagingBucket"] == _bucket(stack, "staging")["inputs"]["name"]
    assert cc["tempBucket"] == _bucket(stack, "temp")["inputs"]["name"]
    assert cc["endpointConfig"]["enableHttpPortAccess"] is True
    assert cluster["inputs"]["labels"]["env"] == stack.stack
    assert "clusterConfig.gceClusterConfig.serviceAccountScopes" in cluster["ignore_changes"]
    assert re.fullmatch(r"[0-9]+m", cluster["custom_timeouts"]["create"])
    assert int(cluster["custom_timeouts"]["create"][:-1]) >= 45


def test_cluster_init_action_is_content_hashed_upload_with_pins(stack: Recorded) -> None:
    cc = stack.one(CLUSTER)["inputs"]["clusterConfig"]
    (action,) = cc["initializationActions"]
    staging = _bucket(stack, "staging")["inputs"]["name"]
    assert re.fullmatch(
        rf"gs://{staging}/artifacts/init/install_opencv-[0-9a-f]{{16}}\.sh", action["script"]
    )
    assert 60 <= action["timeoutSec"] <= 3600
    uploaded = [
        o
        for o in stack.of_type(OBJECT)
        if f"gs://{staging}/{o['inputs']['name']}" == action["script"]
    ]
    assert len(uploaded) == 1
    assert uploaded[0]["inputs"]["source"]["__file_asset"].endswith(
        "init_actions/install_opencv.sh"
    )
    metadata = cc["gceClusterConfig"]["metadata"]
    assert metadata["opencv-version"] == opencv_pin() == "4.11.0.86"
    assert metadata["pillow-version"] == requirement_pin("pillow") == "11.3.0"
    assert metadata["openvino-version"] == requirement_pin("openvino") == "2026.4.1"
    assert metadata["pillow-heif-version"] == requirement_pin("pillow-heif") == "1.8.1"
    assert metadata["av-version"] == requirement_pin("av") == "18.1.0"
    # Nodes take SSH only through OS Login (IAM), never from keys pasted into project metadata.
    assert metadata["enable-oslogin"] == "TRUE"
    assert metadata["block-project-ssh-keys"] == "TRUE"


@pytest.mark.parametrize(
    ("which", "token", "count"),
    [("cluster", CLUSTER, 5), ("devhost", INSTANCE, 5)],
)
def test_each_machine_waits_for_its_iam_grants(
    stack: Recorded, which: str, token: str, count: int
) -> None:
    """The cluster's nodes read and write buckets at boot; the devhost's page submits jobs (and,
    with the change feed in prod, its timer drains the subscription: two grants more)."""
    if which == "devhost" and stack.stack == "prod":
        count += 2
    machine = stack.one(token)
    member = f"serviceAccount:{_email(stack, which)}"
    grants = [
        r["urn"]
        for r in stack.resources
        if "IAMMember" in r["type"] and r["inputs"]["member"] == member
    ]
    assert len(grants) == count, grants
    assert set(grants) <= set(machine["dependencies"])


def test_dev_cluster_single_node_without_worker_group_and_idle_delete(recorded) -> None:
    cc = recorded("dev").one(CLUSTER)["inputs"]["clusterConfig"]
    assert cc["softwareConfig"]["overrideProperties"]["dataproc:dataproc.allow.zero.workers"] == (
        "true"
    )
    assert cc["masterConfig"]["numInstances"] == 1
    # Dataproc returns no worker group for 0 workers: a declared one would read back empty and
    # force a replacement on every `up`.
    assert "workerConfig" not in cc
    assert "preemptibleWorkerConfig" not in cc and "autoscalingConfig" not in cc
    assert re.fullmatch(r"[0-9]+s", cc["lifecycleConfig"]["idleDeleteTtl"])


def test_prod_cluster_workers_autoscaling_and_spot(recorded) -> None:
    prod = recorded("prod")
    cluster = prod.one(CLUSTER)
    cc = cluster["inputs"]["clusterConfig"]
    assert cc["workerConfig"]["numInstances"] >= 2
    assert cc["preemptibleWorkerConfig"]["preemptibility"] == "SPOT"
    assert cc["preemptibleWorkerConfig"]["numInstances"] >= 1
    policy = prod.one(POLICY)
    assert cc["autoscalingConfig"]["policyUri"] == policy["state"]["name"]
    assert (
        policy["inputs"]["secondaryWorkerConfig"]["maxInstances"]
        > cc["preemptibleWorkerConfig"]["numInstances"]
    )
    assert policy["inputs"]["workerConfig"]["minInstances"] == cc["workerConfig"]["numInstances"]
    assert "clusterConfig.preemptibleWorkerConfig.numInstances" in cluster["ignore_changes"]
    assert "lifecycleConfig" not in cc


def test_devhost_private_shielded_oslogin(stack: Recorded) -> None:
    vm = stack.one(INSTANCE)["inputs"]
    assert vm["bootDisk"]["initializeParams"]["image"] == "debian-cloud/debian-12"
    (nic,) = vm["networkInterfaces"]
    assert not nic.get("accessConfigs"), "the devhost must have no external IP"
    assert vm["shieldedInstanceConfig"] == {
        "enableSecureBoot": True,
        "enableVtpm": True,
        "enableIntegrityMonitoring": True,
    }
    assert vm["metadata"]["enable-oslogin"] == "TRUE"
    assert vm["metadata"]["block-project-ssh-keys"] == "TRUE"
    assert vm["serviceAccount"]["email"] == _email(stack, "devhost")


def test_devhost_startup_script_installs_the_cli(stack: Recorded) -> None:
    script = stack.one(INSTANCE)["inputs"]["metadata"]["startup-script"]
    out = stack.outputs
    staging = _bucket(stack, "staging")["inputs"]["name"]
    assert "python3-venv" in script
    # The artefacts come through the fixed-name object (tests/infra/test_first_boot.py).
    assert f"gcloud storage cp gs://{staging}/artifacts/current.env" in script
    assert f"APP={APP_DIR}" in script
    assert (
        '"$APP/venv/bin/pip" install -q -r "$APP/requirements.txt" -c "$APP/constraints.txt"'
    ) in script
    assert "/usr/local/bin/dataproc-faces" in script and "-m dataproc_faces" in script
    # The runner's settings (the cluster) come through the same object, not the boot script.
    assert "DATAPROC_FACES_CLUSTER" not in script
    assert f"DATAPROC_FACES_CLUSTER={out['cluster_name']}\n" in _current_text(stack)
    assert f"export DATAPROC_FACES_CURRENT=gs://{staging}/artifacts/current.env" in script


def test_devhost_serves_the_page_at_boot_as_an_unprivileged_service(stack: Recorded) -> None:
    script = stack.one(INSTANCE)["inputs"]["metadata"]["startup-script"]
    out = stack.outputs
    unit = script[script.index(f"cat > {WEB_UNIT} <<'EOS'") :].split("\nEOS\n", 1)[0]
    assert (
        "ExecStart=/usr/local/bin/dataproc-faces serve --cloud --host 0.0.0.0 "
        f"--port {WEB_PORT} \\\n  --data /var/lib/dataproc-faces-web"
    ) in unit
    assert "DynamicUser=yes" in unit and "NoNewPrivileges=yes" in unit
    assert "User=root" not in unit and "WantedBy=multi-user.target" in unit
    env = script[script.index(f"cat > {WEB_ENV} <<'EOS'") :].split("\nEOS\n", 1)[0]
    assert f"EnvironmentFile=-{APP_DIR}/current.env" in unit  # the cluster's name is there
    assert f"DATAPROC_FACES_IMAGES={out['upload_images_to']}" in env.splitlines()
    assert f"DATAPROC_FACES_RESULTS={out['results_uri']}" in env.splitlines()
    tail = script[script.index("systemctl daemon-reload") :]
    assert tail.splitlines()[:5] == [
        "systemctl daemon-reload",
        "systemctl enable dataproc-faces-web.service",
        "systemctl enable --now dataproc-faces-sync.timer",
        "/usr/local/sbin/dataproc-faces-sync",
        "systemctl start dataproc-faces-web.service",
    ]


def test_artifacts_uploaded_content_hashed(stack: Recorded) -> None:
    staging = _bucket(stack, "staging")["inputs"]["name"]
    input_bucket = _bucket(stack, "input")["inputs"]["name"]
    everything = stack.of_type(OBJECT, at_least=4)
    objects = [o for o in everything if o["inputs"]["bucket"] == staging]
    assert len(objects) >= 4
    # Every other object is a sample image in the input bucket (tested in test_job.py).
    assert all(o["inputs"]["bucket"] == input_bucket for o in everything if o not in objects)
    fixed = [o for o in objects if o["inputs"]["name"] == "artifacts/current.env"]
    assert len(fixed) == 1  # the one fixed name: which artefacts are current (test_first_boot)
    for o in objects:
        if o not in fixed:
            assert re.search(r"-[0-9a-f]{16}(\.[a-z.]+)?$", o["inputs"]["name"]), o["inputs"][
                "name"
            ]
    out = stack.outputs
    assert re.fullmatch(
        rf"gs://{staging}/artifacts/dataproc_faces-[0-9a-f]{{16}}\.zip", out["job_package_uri"]
    )
    assert re.fullmatch(rf"gs://{staging}/artifacts/main-[0-9a-f]{{16}}\.py", out["job_main_uri"])
    uris = {f"gs://{staging}/{o['inputs']['name']}" for o in objects}
    assert {out["job_package_uri"], out["job_main_uri"], *out["model_uris"].values()} <= uris


def test_outputs(stack: Recorded) -> None:
    out = stack.outputs
    required = {
        "input_bucket_url",
        "results_bucket_url",
        "staging_bucket_url",
        "upload_images_to",
        "results_uri",
        "cluster_name",
        "region",
        "project",
        "devhost_name",
        "devhost_ssh_command",
        "cluster_service_account",
        "job_main_uri",
        "job_package_uri",
    }
    assert required <= set(out)
    input_name = _bucket(stack, "input")["inputs"]["name"]
    assert out["input_bucket_url"] == f"gs://{input_name}"
    assert out["upload_images_to"] == f"gs://{input_name}/images/"
    assert out["results_uri"].startswith(out["results_bucket_url"] + "/")
    assert out["cluster_name"] == stack.one(CLUSTER)["inputs"]["name"]
    assert out["devhost_name"] == stack.one(INSTANCE)["inputs"]["name"]
    zone = stack.one(INSTANCE)["inputs"]["zone"]
    assert out["devhost_ssh_command"] == (
        f"gcloud compute ssh {out['devhost_name']} --tunnel-through-iap --zone {zone}"
        f" --project {out['project']}"
    )
    assert out["region"] == "europe-west1" and out["project"] == "faces-test-project"
    assert out["devhost_web_tunnel_command"] == (
        f"gcloud compute start-iap-tunnel {out['devhost_name']} {WEB_PORT}"
        f" --local-host-port=localhost:{WEB_PORT} --zone {zone} --project {out['project']}"
    )


def _current_text(stack: Recorded) -> str:
    """The fixed-name artefacts object the devhost's sync follows (its content is secret)."""
    content = stack.named("gcp:storage/bucketObject:BucketObject", "-artifacts-current")["inputs"][
        "content"
    ]
    return content["value"] if isinstance(content, dict) else content
