"""Private network: VPC, subnet with Private Google Access, Cloud NAT, tag-scoped firewall."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_gcp as gcp

from infra.config import IAP_SSH_RANGE, StackConfig


class Network(pulumi.ComponentResource):
    """No ingress from the internet: nodes talk to each other by tag; SSH and the devhost's web
    page arrive only through IAP's TCP forwarding."""

    network: gcp.compute.Network
    subnet: gcp.compute.Subnetwork
    egress: list[pulumi.Resource]
    router_name: pulumi.Output[str]
    cluster_tag: str
    devhost_tag: str

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        *,
        web_port: int,
        depends_on: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("dataproc-faces:infra:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=list(depends_on))
        self.cluster_tag = f"{cfg.prefix}-cluster"
        self.devhost_tag = f"{cfg.prefix}-devhost"

        self.network = gcp.compute.Network(
            f"{name}-vpc",
            name=f"{cfg.prefix}-vpc",
            project=cfg.project,
            auto_create_subnetworks=False,
            routing_mode="REGIONAL",
            description="dataproc-faces: private network for the cluster and the devhost",
            opts=child,
        )
        self.subnet = gcp.compute.Subnetwork(
            f"{name}-subnet",
            name=f"{cfg.prefix}-subnet",
            project=cfg.project,
            region=cfg.region,
            network=self.network.id,
            ip_cidr_range=cfg.subnet_cidr,
            # Internal-IP-only nodes reach Cloud Storage and Google APIs through this.
            private_ip_google_access=True,
            log_config=gcp.compute.SubnetworkLogConfigArgs(
                aggregation_interval="INTERVAL_10_MIN", flow_sampling=0.5
            ),
            opts=child,
        )
        router = gcp.compute.Router(
            f"{name}-router",
            name=f"{cfg.prefix}-router",
            project=cfg.project,
            region=cfg.region,
            network=self.network.id,
            opts=child,
        )
        # Image 2.2+ nodes have no external IP: the init action's pip install needs NAT egress.
        nat = gcp.compute.RouterNat(
            f"{name}-nat",
            name=f"{cfg.prefix}-nat",
            project=cfg.project,
            region=cfg.region,
            router=router.name,
            nat_ip_allocate_option="AUTO_ONLY",
            source_subnetwork_ip_ranges_to_nat="LIST_OF_SUBNETWORKS",
            subnetworks=[
                gcp.compute.RouterNatSubnetworkArgs(
                    name=self.subnet.id, source_ip_ranges_to_nats=["ALL_IP_RANGES"]
                )
            ],
            log_config=gcp.compute.RouterNatLogConfigArgs(enable=True, filter="ERRORS_ONLY"),
            opts=child,
        )
        # Dataproc nodes need all ports between each other (YARN, HDFS, Spark shuffle).
        internal = gcp.compute.Firewall(
            f"{name}-allow-internal",
            name=f"{cfg.prefix}-allow-cluster-internal",
            project=cfg.project,
            network=self.network.id,
            direction="INGRESS",
            priority=1000,
            source_tags=[self.cluster_tag],
            target_tags=[self.cluster_tag],
            allows=[
                gcp.compute.FirewallAllowArgs(protocol="tcp", ports=["0-65535"]),
                gcp.compute.FirewallAllowArgs(protocol="udp", ports=["0-65535"]),
                gcp.compute.FirewallAllowArgs(protocol="icmp"),
            ],
            opts=child,
        )
        ssh = gcp.compute.Firewall(
            f"{name}-allow-iap-ssh",
            name=f"{cfg.prefix}-allow-iap-ssh",
            project=cfg.project,
            network=self.network.id,
            direction="INGRESS",
            priority=1000,
            source_ranges=[IAP_SSH_RANGE],
            target_tags=[self.devhost_tag],
            allows=[gcp.compute.FirewallAllowArgs(protocol="tcp", ports=["22"])],
            log_config=gcp.compute.FirewallLogConfigArgs(metadata="INCLUDE_ALL_METADATA"),
            opts=child,
        )
        # The devhost's web page: only IAP's forwarders, only its port, only the devhost tag.
        web = gcp.compute.Firewall(
            f"{name}-allow-iap-web",
            name=f"{cfg.prefix}-allow-iap-web",
            project=cfg.project,
            network=self.network.id,
            direction="INGRESS",
            priority=1000,
            source_ranges=[IAP_SSH_RANGE],
            target_tags=[self.devhost_tag],
            allows=[gcp.compute.FirewallAllowArgs(protocol="tcp", ports=[str(web_port)])],
            log_config=gcp.compute.FirewallLogConfigArgs(metadata="INCLUDE_ALL_METADATA"),
            opts=child,
        )
        # What a VM needs before it boots: NAT for apt/pip (the init action, the devhost's
        # startup script), the firewall between nodes. VMs referencing only the subnet would race
        # these, so they depend on this list.
        self.egress = [router, nat, internal, ssh, web]
        self.router_name = router.name
        self.register_outputs({"network": self.network.self_link, "subnet": self.subnet.self_link})
