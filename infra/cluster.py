"""The Dataproc cluster: pinned 2.3 image, internal IPs, own SA, Shielded VM, OpenCV init action."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_gcp as gcp

from infra.config import StackConfig

# The provider reports a diff on scopes on every update, which would replace the cluster
# (upstream issue, open): ignore it. Pulumi property paths use the engine's camelCase names.
IGNORE_SCOPES = "clusterConfig.gceClusterConfig.serviceAccountScopes"
# With autoscaling, the autoscaler owns these counts; `pulumi up` must not resize them back.
IGNORE_AUTOSCALED = (
    "clusterConfig.workerConfig.numInstances",
    "clusterConfig.preemptibleWorkerConfig.numInstances",
)
OPENCV_METADATA_KEY = "opencv-version"
PILLOW_METADATA_KEY = "pillow-version"  # used by the init action only if the image lacks PIL
OPENVINO_METADATA_KEY = "openvino-version"  # the default detector's runtime
HEIF_METADATA_KEY = "pillow-heif-version"  # HEIC/HEIF inputs
AV_METADATA_KEY = "av-version"  # videos (PyAV)


class Cluster(pulumi.ComponentResource):
    """One cluster per stack; nearly immutable, so most config changes replace it."""

    cluster: gcp.dataproc.Cluster
    autoscaling_policy: gcp.dataproc.AutoscalingPolicy | None

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        *,
        subnet: gcp.compute.Subnetwork,
        network_tag: str,
        service_account: gcp.serviceaccount.Account,
        staging_bucket: gcp.storage.Bucket,
        temp_bucket: gcp.storage.Bucket,
        init_action_uri: pulumi.Input[str],
        depends_on: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("dataproc-faces:infra:Cluster", name, None, opts)
        c = cfg.cluster
        deps = list(depends_on)

        self.autoscaling_policy = None
        if c.autoscaling:
            # Primary workers stay fixed (they hold HDFS/shuffle); only spot secondaries scale.
            self.autoscaling_policy = gcp.dataproc.AutoscalingPolicy(
                f"{name}-autoscaling",
                policy_id=f"{cfg.prefix}-autoscaling",
                project=cfg.project,
                location=cfg.region,
                worker_config=gcp.dataproc.AutoscalingPolicyWorkerConfigArgs(
                    min_instances=c.worker_count, max_instances=c.worker_count, weight=1
                ),
                secondary_worker_config=gcp.dataproc.AutoscalingPolicySecondaryWorkerConfigArgs(
                    min_instances=0, max_instances=c.autoscaling_max_secondary_workers, weight=1
                ),
                basic_algorithm=gcp.dataproc.AutoscalingPolicyBasicAlgorithmArgs(
                    cooldown_period="120s",
                    yarn_config=gcp.dataproc.AutoscalingPolicyBasicAlgorithmYarnConfigArgs(
                        graceful_decommission_timeout="600s",
                        scale_up_factor=0.5,
                        scale_down_factor=1.0,
                    ),
                ),
                opts=pulumi.ResourceOptions(parent=self, depends_on=deps),
            )

        disk = {"boot_disk_type": c.boot_disk_type, "boot_disk_size_gb": c.boot_disk_size_gb}
        properties = {
            # Workers run the same conda python the init action installs OpenCV into.
            "spark:spark.pyspark.python": "/opt/conda/default/bin/python",
            "spark:spark.pyspark.driver.python": "/opt/conda/default/bin/python",
        }
        if c.single_node:
            properties["dataproc:dataproc.allow.zero.workers"] = "true"

        ignore = [IGNORE_SCOPES, *(IGNORE_AUTOSCALED if c.autoscaling else ())]
        self.cluster = gcp.dataproc.Cluster(
            f"{name}-dataproc",
            name=cluster_name(cfg),
            project=cfg.project,
            region=cfg.region,
            labels=cfg.labels,
            graceful_decommission_timeout="120s",
            cluster_config=gcp.dataproc.ClusterClusterConfigArgs(
                staging_bucket=staging_bucket.name,
                temp_bucket=temp_bucket.name,
                gce_cluster_config=gcp.dataproc.ClusterClusterConfigGceClusterConfigArgs(
                    zone=cfg.zone,
                    subnetwork=subnet.self_link,
                    internal_ip_only=True,
                    service_account=service_account.email,
                    service_account_scopes=["https://www.googleapis.com/auth/cloud-platform"],
                    tags=[network_tag],
                    metadata={
                        OPENCV_METADATA_KEY: cfg.opencv_version,
                        PILLOW_METADATA_KEY: cfg.pillow_version,
                        OPENVINO_METADATA_KEY: cfg.openvino_version,
                        HEIF_METADATA_KEY: cfg.pillow_heif_version,
                        AV_METADATA_KEY: cfg.av_version,
                        "enable-oslogin": "TRUE",
                        "block-project-ssh-keys": "TRUE",
                    },
                    shielded_instance_config=gcp.dataproc.ClusterClusterConfigGceClusterConfigShieldedInstanceConfigArgs(
                        enable_secure_boot=True, enable_vtpm=True, enable_integrity_monitoring=True
                    ),
                ),
                master_config=gcp.dataproc.ClusterClusterConfigMasterConfigArgs(
                    num_instances=1,
                    machine_type=c.master_machine_type,
                    disk_config=gcp.dataproc.ClusterClusterConfigMasterConfigDiskConfigArgs(**disk),
                ),
                # Single node: no worker group at all. Dataproc returns none for 0 workers, so a
                # declared one reads back empty and its machine type and disks force a replacement
                # on every `up` (the provider's own single-node test sets no worker_config).
                worker_config=(
                    None
                    if c.single_node
                    else gcp.dataproc.ClusterClusterConfigWorkerConfigArgs(
                        num_instances=c.worker_count,
                        machine_type=c.worker_machine_type,
                        disk_config=gcp.dataproc.ClusterClusterConfigWorkerConfigDiskConfigArgs(
                            **disk
                        ),
                    )
                ),
                preemptible_worker_config=(
                    gcp.dataproc.ClusterClusterConfigPreemptibleWorkerConfigArgs(
                        num_instances=c.secondary_worker_count,
                        preemptibility=c.secondary_worker_preemptibility,
                        disk_config=gcp.dataproc.ClusterClusterConfigPreemptibleWorkerConfigDiskConfigArgs(
                            **disk
                        ),
                    )
                    if c.secondary_worker_count or c.autoscaling
                    else None
                ),
                software_config=gcp.dataproc.ClusterClusterConfigSoftwareConfigArgs(
                    image_version=c.image_version, override_properties=properties
                ),
                initialization_actions=[
                    gcp.dataproc.ClusterClusterConfigInitializationActionArgs(
                        script=init_action_uri, timeout_sec=c.init_action_timeout_sec
                    )
                ],
                lifecycle_config=(
                    gcp.dataproc.ClusterClusterConfigLifecycleConfigArgs(
                        idle_delete_ttl=c.idle_delete_ttl
                    )
                    if c.idle_delete_ttl
                    else None
                ),
                autoscaling_config=(
                    gcp.dataproc.ClusterClusterConfigAutoscalingConfigArgs(
                        policy_uri=self.autoscaling_policy.id
                    )
                    if self.autoscaling_policy
                    else None
                ),
                # Component Gateway: Spark/YARN UIs through the console, no firewall opening.
                endpoint_config=gcp.dataproc.ClusterClusterConfigEndpointConfigArgs(
                    enable_http_port_access=True
                ),
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                # The SA's grants must exist first: IAM is eventually consistent.
                depends_on=deps,
                custom_timeouts=pulumi.CustomTimeouts(
                    create=c.create_timeout, update=c.create_timeout, delete="30m"
                ),
                ignore_changes=ignore,
            ),
        )
        self.register_outputs({"name": self.cluster.name})


def cluster_name(cfg: StackConfig) -> str:
    """The cluster's fixed name: known before `up`, so what names it need not wait for it."""
    return f"{cfg.prefix}-cluster"
