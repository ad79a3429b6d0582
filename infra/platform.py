"""Composes the platform: APIs, network, storage, identities, artefacts, cluster, devhost, and
optionally the sample images (seed_samples) and the job (job_submit)."""

from __future__ import annotations

import pulumi

from infra.apis import Apis
from infra.artifacts import Artifacts, SourceTree
from infra.cluster import Cluster
from infra.config import StackConfig
from infra.devhost import Devhost
from infra.identity import Identity
from infra.job import FaceJob
from infra.network import Network
from infra.samples import Samples
from infra.storage import IMAGES_PREFIX, Storage


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

        apis = Apis(f"{name}-apis", project=cfg.project, opts=child)
        services = apis.services
        network = Network(f"{name}-net", cfg, depends_on=services, opts=child)
        storage = Storage(f"{name}-storage", cfg, depends_on=services, opts=child)
        identity = Identity(f"{name}-iam", cfg, storage, depends_on=services, opts=child)
        artifacts = Artifacts(f"{name}-artifacts", bucket=storage.staging, tree=tree, opts=child)

        cluster = Cluster(
            f"{name}-cluster",
            cfg,
            subnet=network.subnet,
            network_tag=network.cluster_tag,
            service_account=identity.cluster_sa,
            staging_bucket=storage.staging,
            temp_bucket=storage.temp,
            init_action_uri=artifacts.init_action_uri,
            depends_on=[*services, *identity.cluster_grants],
            opts=child,
        )
        images_uri = storage.input.name.apply(lambda b: f"gs://{b}/{IMAGES_PREFIX}")
        results_uri = storage.results.name.apply(lambda b: f"gs://{b}/runs/")
        devhost = Devhost(
            f"{name}-devhost",
            cfg,
            subnet=network.subnet,
            network_tag=network.devhost_tag,
            service_account=identity.devhost_sa,
            uris={
                "package": artifacts.job_package_uri,
                "main": artifacts.job_main_uri,
                "requirements": artifacts.requirements_uri,
            },
            env={
                "DATAPROC_FACES_PROJECT": cfg.project,
                "DATAPROC_FACES_REGION": cfg.region,
                "DATAPROC_FACES_CLUSTER": cluster.cluster.name,
                "DATAPROC_FACES_IMAGES": images_uri,
                "DATAPROC_FACES_RESULTS": results_uri,
                "DATAPROC_FACES_JOB_MAIN": artifacts.job_main_uri,
                "DATAPROC_FACES_JOB_PACKAGE": artifacts.job_package_uri,
            },
            depends_on=[*services, *identity.devhost_grants],
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
        job = None
        if cfg.job.submit:
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
            "cluster_name": cluster.cluster.name,
            "cluster_service_account": identity.cluster_sa.email,
            "devhost_name": devhost.instance.name,
            "devhost_ssh_command": devhost.ssh_command,
            "job_main_uri": artifacts.job_main_uri,
            "job_package_uri": artifacts.job_package_uri,
            "init_action_uri": artifacts.init_action_uri,
            "model_uris": artifacts.model_uris,
            "samples_uri": samples.uri if samples else None,
            "job_id": job.job_id if job else None,
            "job_state": job.state if job else "NOT_SUBMITTED (config job_submit is false)",
            "job_results_uri": job.results_uri if job else None,
            "job_console_url": job.console_url if job else None,
        }
        self.register_outputs(self.outputs)


def build(cfg: StackConfig, *, tree: SourceTree | None = None) -> Platform:
    """Declare everything for one stack and export its outputs."""
    platform = Platform(f"dpf-{cfg.stack}", cfg, tree=tree)
    for key, value in platform.outputs.items():
        pulumi.export(key, value)
    return platform
