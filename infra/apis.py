"""The Google APIs the platform uses, enabled before anything that needs them."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

# compute: VPC, NAT, VMs; dataproc: the cluster; storage: buckets; iam: service accounts and
# the custom role; cloudresourcemanager: project IAM; iap: SSH tunnels; oslogin: devhost logins.
SERVICES: tuple[str, ...] = (
    "cloudresourcemanager.googleapis.com",
    "compute.googleapis.com",
    "dataproc.googleapis.com",
    "iam.googleapis.com",
    "iap.googleapis.com",
    "oslogin.googleapis.com",
    "storage.googleapis.com",
)
# artifactregistry: the Serverless batch image's repository (runner serverless or both).
SERVERLESS_SERVICES: tuple[str, ...] = ("artifactregistry.googleapis.com",)
# pubsub: the change feed (config feed).
FEED_SERVICES: tuple[str, ...] = ("pubsub.googleapis.com",)


class Apis(pulumi.ComponentResource):
    """Enables each API once; other components depend on `services`."""

    services: list[gcp.projects.Service]

    def __init__(
        self,
        name: str,
        *,
        project: str,
        serverless: bool = False,
        feed: bool = False,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("dataproc-faces:infra:Apis", name, None, opts)
        self.services = [
            gcp.projects.Service(
                f"{name}-{api.split('.')[0]}",
                project=project,
                service=api,
                # Other workloads in the project may use these APIs: never disable them on destroy.
                disable_on_destroy=False,
                disable_dependent_services=False,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for api in (
                *SERVICES,
                *(SERVERLESS_SERVICES if serverless else ()),
                *(FEED_SERVICES if feed else ()),
            )
        ]
        self.register_outputs({"services": [s.service for s in self.services]})
