"""Composes the platform: APIs, network, storage, identities, artefacts, the runner (a cluster,
Serverless batches' image repository, or both: config `runner`), devhost, and optionally the
sample images (seed_samples) and the job (job_submit: a cluster job, or a batch when the stack
runs serverless only)."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from infra.apis import Apis
from infra.artifacts import ArtifactError, Artifacts, SourceTree, hashed_name
from infra.batch import FaceBatch
from infra.cluster import Cluster, cluster_name
from infra.config import StackConfig
from infra.devhost import WEB_PORT, Devhost
from infra.feed import Feed
from infra.identity import Identity
from infra.job import FaceJob
from infra.network import Network
from infra.registry import ImageRepository
from infra.samples import Samples
from infra.storage import IMAGES_PREFIX, Storage

# The results bucket's folder of runs (output results_uri).
RUNS_PREFIX = "runs/"
# Where Artifacts uploads the init action in the staging bucket (infra/artifacts.py).
INIT_ACTION_FOLDER = "artifacts/init/"


class Platform(pulumi.ComponentResource):
    """The whole stack as one component; `outputs` are what `pulumi up` prints."""

    outputs: dict[str, pulumi.Input[object]]

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        *,
        tree: SourceTree | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("dataproc-faces:infra:Platform", name, None, opts)
        tree = tree or SourceTree()
        child = pulumi.ResourceOptions(parent=self)

        apis = Apis(
            f"{name}-apis",
            project=cfg.project,
            serverless=cfg.uses_serverless,
            feed=cfg.feed.enabled,
            opts=child,
        )
        services = apis.services
        network = Network(f"{name}-net", cfg, web_port=WEB_PORT, depends_on=services, opts=child)
        storage = Storage(f"{name}-storage", cfg, depends_on=services, opts=child)
        identity = Identity(f"{name}-iam", cfg, storage, depends_on=services, opts=child)
        # What `submit` (and the page) needs to send a batch, as stack outputs and, through the
        # artefacts object the devhost follows, as the devhost's environment.
        batch_settings: dict[str, pulumi.Input[str] | None] = {}
        if identity.batch_sa is not None:
            batch_settings = {
                "batch_image": cfg.batch.image or None,
                "batch_runtime_version": cfg.batch.runtime_version,
                "batch_service_account": identity.batch_sa.email,
                "batch_subnetwork": network.subnet.self_link,
                "batch_staging_bucket": storage.temp.name,
                "batch_network_tag": network.cluster_tag,
                "batch_ttl": cfg.batch.ttl,
            }
        artifacts = Artifacts(
            f"{name}-artifacts",
            bucket=storage.staging,
            tree=tree,
            settings=runner_env(cfg, batch_settings),
            opts=child,
        )

        init_uri = init_action_uri(storage.staging, tree)
        cluster = None
        if identity.cluster_sa is not None:
            cluster = Cluster(
                f"{name}-cluster",
                cfg,
                subnet=network.subnet,
                network_tag=network.cluster_tag,
                service_account=identity.cluster_sa,
                staging_bucket=storage.staging,
                temp_bucket=storage.temp,
                init_action_uri=init_uri,
                # The artefacts by dependency only, not through the URI: see init_action_uri().
                depends_on=[
                    *services,
                    *identity.cluster_grants,
                    *network.egress,
                    *artifacts.objects,
                ],
                opts=child,
            )
        registry = None
        if identity.batch_sa is not None:
            registry = ImageRepository(
                f"{name}-registry",
                cfg,
                reader=identity.batch_sa,
                depends_on=services,
                opts=child,
            )
        images_uri = storage.input.name.apply(lambda b: f"gs://{b}/{IMAGES_PREFIX}")
        results_uri = storage.results.name.apply(lambda b: f"gs://{b}/{RUNS_PREFIX}")
        # With feed, the input bucket's changes reach a subscription `follow` drains
        # (infra/feed.py).
        feed = None
        feed_env: dict[str, pulumi.Input[str]] = {}
        if cfg.feed.enabled:
            from dataproc_faces.follow import FEED_FOLDER, LISTS_FOLDER
            from dataproc_faces.remote import env_name

            feed = Feed(
                f"{name}-feed",
                cfg,
                bucket=storage.input,
                prefix=IMAGES_PREFIX,
                results=storage.results,
                results_folders=[RUNS_PREFIX + FEED_FOLDER, RUNS_PREFIX + LISTS_FOLDER],
                subscriber=identity.devhost_sa,
                depends_on=services,
                opts=child,
            )
            feed_env = {env_name("feed_subscription"): feed.subscription.id}
        devhost = Devhost(
            f"{name}-devhost",
            cfg,
            subnet=network.subnet,
            network_tag=network.devhost_tag,
            service_account=identity.devhost_sa,
            current_uri=artifacts.current_uri,
            env={
                "DATAPROC_FACES_PROJECT": cfg.project,
                "DATAPROC_FACES_REGION": cfg.region,
                "DATAPROC_FACES_IMAGES": images_uri,
                "DATAPROC_FACES_RESULTS": results_uri,
                # The job's URIs change with every code change, the runner's settings with a
                # pushed image or a new runner: the devhost reads them from this fixed-name
                # object (infra/artifacts.py), never from its own metadata (read at boot only).
                "DATAPROC_FACES_CURRENT": artifacts.current_uri,
                **feed_env,
            },
            follow_every=cfg.feed.interval_seconds if feed else None,
            depends_on=[
                *services,
                *identity.devhost_grants,
                *network.egress,
                *(feed.grants if feed else []),
            ],
            opts=child,
        )

        # With seed_samples, the repository's sample images go to <upload_images_to>samples/,
        # so the first job has something to read (infra/samples.py).
        samples = None
        if cfg.seed_samples:
            samples = Samples(
                f"{name}-samples",
                bucket=storage.input,
                images_prefix=IMAGES_PREFIX,
                folder=tree.samples_dir,
                opts=child,
            )

        # With job_submit, `pulumi up` submits the job once the cluster is ready (infra/job.py),
        # the artefacts are uploaded and (seed_samples) the sample images are in place.
        job: FaceJob | FaceBatch | None = None
        if cfg.job.submit and cfg.job_as_batch and cfg.batch.image and registry:
            assert identity.batch_sa is not None
            job = FaceBatch(
                f"{name}-batch",
                cfg,
                service_account=identity.batch_sa.email,
                subnetwork=network.subnet.self_link,
                network_tag=network.cluster_tag,
                staging_bucket=storage.temp.name,
                main_uri=artifacts.job_main_uri,
                package_uri=artifacts.job_package_uri,
                images_uri=images_uri,
                results_uri=results_uri,
                # The account's grants first (IAM is eventually consistent), the code and images.
                depends_on=[
                    *identity.batch_grants,
                    registry.reader,
                    *network.egress,
                    *artifacts.objects,
                    *(samples.objects if samples else []),
                ],
                opts=child,
            )
        elif cfg.job.submit and cluster is not None:
            job = FaceJob(
                f"{name}-job",
                cfg,
                cluster=cluster.cluster,
                main_uri=artifacts.job_main_uri,
                package_uri=artifacts.job_package_uri,
                images_uri=images_uri,
                results_uri=results_uri,
                depends_on=[*artifacts.objects, *(samples.objects if samples else [])],
                opts=child,
            )

        self.outputs = {
            "project": cfg.project,
            "region": cfg.region,
            "input_bucket_url": storage.input.url,
            "results_bucket_url": storage.results.url,
            "staging_bucket_url": storage.staging.url,
            "upload_images_to": images_uri,
            "results_uri": results_uri,
            "runner": "serverless" if cfg.job_as_batch else "cluster",
            "cluster_name": cluster.cluster.name if cluster else None,
            "cluster_service_account": identity.cluster_sa.email if identity.cluster_sa else None,
            "image_repository": registry.path if registry else None,
            **batch_settings,
            "devhost_name": devhost.instance.name,
            "devhost_ssh_command": devhost.ssh_command,
            "devhost_web_tunnel_command": devhost.web_tunnel_command,
            "job_main_uri": artifacts.job_main_uri,
            "job_package_uri": artifacts.job_package_uri,
            "init_action_uri": _same_uri(init_uri, artifacts.init_action_uri),
            "zone": cfg.zone,
            "nat_router": network.router_name,
            "model_uris": artifacts.model_uris,
            "samples_uri": samples.uri if samples else None,
            "job_id": job.job_id if job else None,
            "job_state": job.state if job else _not_submitted(cfg),
            "job_results_uri": job.results_uri if job else None,
            "job_console_url": job.console_url if job else None,
            "feed_topic": feed.topic.id if feed else None,
            "feed_subscription": feed.subscription.id if feed else None,
            "feed_dead_letter_topic": feed.dead_letters.id if feed else None,
        }
        self.register_outputs(self.outputs)


def _not_submitted(cfg: StackConfig) -> str:
    if cfg.job.submit and cfg.job_as_batch:
        return "NOT_SUBMITTED (config batch_image is empty: push the image first)"
    return "NOT_SUBMITTED (config job_submit is false)"


def runner_env(
    cfg: StackConfig, settings: dict[str, pulumi.Input[str] | None]
) -> dict[str, pulumi.Input[str]]:
    """The devhost's DATAPROC_FACES_* variables for the runner: which one `submit` uses, the
    cluster's name, the batch settings (dataproc_faces/remote.py reads them)."""
    from dataproc_faces.remote import env_name

    env: dict[str, pulumi.Input[str]] = {
        env_name("runner"): "serverless" if cfg.job_as_batch else "cluster"
    }
    if cfg.uses_cluster:
        env[env_name("cluster")] = cluster_name(cfg)
    for key, value in settings.items():
        if value is not None:
            env[env_name(key)] = value
    return env


def init_action_uri(staging: gcp.storage.Bucket, tree: SourceTree) -> pulumi.Output[str]:
    """The init action's gs:// URI from its content hash, not from its BucketObject's outputs.

    A URI built on the object's outputs makes the cluster property-depend on the object; when the
    provider then wants to replace the object (BucketObject perpetual diffs are an open upstream
    issue, and a fixed-name object is deleted before it is replaced), the engine replaces every
    resource whose inputs depend on it: here, the cluster and the job, on every `up`. The name is
    content-hashed, so this URI changes exactly when the script does.
    """
    script = tree.init_action
    return pulumi.Output.concat(
        "gs://",
        staging.name,
        f"/{INIT_ACTION_FOLDER}",
        hashed_name(script.name, script.read_bytes()),
    )


def _same_uri(declared: pulumi.Output[str], uploaded: pulumi.Output[str]) -> pulumi.Output[str]:
    """Fails the update if the cluster's init action URI is not the object Artifacts uploads."""

    def check(values: list[str]) -> str:
        if values[0] != values[1]:
            raise ArtifactError(
                f"the cluster's init action {values[0]} is not the uploaded {values[1]}:"
                " keep infra/platform.py's init_action_uri() in step with infra/artifacts.py"
            )
        return values[1]

    return pulumi.Output.all(declared, uploaded).apply(check)


def build(cfg: StackConfig, *, tree: SourceTree | None = None) -> Platform:
    """Declare everything for one stack and export its outputs."""
    platform = Platform(f"dpf-{cfg.stack}", cfg, tree=tree)
    for key, value in platform.outputs.items():
        pulumi.export(key, value)
    return platform
