"""Service accounts for the cluster and the devhost, and every IAM grant, scoped narrowly."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_gcp as gcp

from infra.config import StackConfig
from infra.storage import Storage

# What the devhost needs to submit, watch and cancel jobs on the stack's cluster, and nothing
# about creating, changing or deleting clusters (which roles/dataproc.editor would also grant).
JOB_SUBMITTER_PERMISSIONS: tuple[str, ...] = (
    "dataproc.clusters.get",
    "dataproc.clusters.list",
    "dataproc.clusters.use",
    "dataproc.jobs.cancel",
    "dataproc.jobs.create",
    "dataproc.jobs.get",
    "dataproc.jobs.list",
    "dataproc.operations.get",
)


ROLE_ID_PREFIX = "dataprocFacesJobSubmitter"


def submitter_role_id(stack: str, devhost_unique_id: str) -> str:
    """A role id that a redeploy after `destroy` never reuses.

    Google keeps a deleted custom role's id for 37 days: undeletable for 7, then reserved for 30
    more, so creating the same id again fails from day 7 to day 37. The devhost account's unique
    id is new whenever the account is created again, and stays the same across updates.
    """
    return f"{ROLE_ID_PREFIX}_{stack.replace('-', '_')}_{devhost_unique_id}"


class Identity(pulumi.ComponentResource):
    """Dedicated identities: never the default compute SA, never a primitive role."""

    cluster_sa: gcp.serviceaccount.Account
    devhost_sa: gcp.serviceaccount.Account
    cluster_grants: list[pulumi.CustomResource]
    devhost_grants: list[pulumi.CustomResource]

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        storage: Storage,
        *,
        depends_on: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("dataproc-faces:infra:Identity", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=list(depends_on))

        self.cluster_sa = gcp.serviceaccount.Account(
            f"{name}-cluster-sa",
            account_id=f"{cfg.prefix}-cluster",
            project=cfg.project,
            display_name=f"dataproc-faces {cfg.stack} cluster nodes",
            opts=child,
        )
        self.devhost_sa = gcp.serviceaccount.Account(
            f"{name}-devhost-sa",
            account_id=f"{cfg.prefix}-devhost",
            project=cfg.project,
            display_name=f"dataproc-faces {cfg.stack} devhost (uploads images, submits jobs)",
            opts=child,
        )
        cluster = self.cluster_sa.email.apply(lambda e: f"serviceAccount:{e}")
        devhost = self.devhost_sa.email.apply(lambda e: f"serviceAccount:{e}")

        # The cluster: the one project role Dataproc VMs need, then storage per bucket.
        self.cluster_grants = [
            gcp.projects.IAMMember(
                f"{name}-cluster-dataproc-worker",
                project=cfg.project,
                role="roles/dataproc.worker",
                member=cluster,
                opts=child,
            ),
            self._bucket_grant(
                name,
                "cluster",
                "input",
                storage.input,
                "roles/storage.objectViewer",
                cluster,
                child,
            ),
            self._bucket_grant(
                name,
                "cluster",
                "results",
                storage.results,
                "roles/storage.objectAdmin",
                cluster,
                child,
            ),
            self._bucket_grant(
                name,
                "cluster",
                "staging",
                storage.staging,
                "roles/storage.objectAdmin",
                cluster,
                child,
            ),
            self._bucket_grant(
                name, "cluster", "temp", storage.temp, "roles/storage.objectAdmin", cluster, child
            ),
        ]

        role = gcp.projects.IAMCustomRole(
            f"{name}-job-submitter-role",
            project=cfg.project,
            role_id=self.devhost_sa.unique_id.apply(lambda uid: submitter_role_id(cfg.stack, uid)),
            title=f"dataproc-faces job submitter ({cfg.stack})",
            description="Submit, watch and cancel Dataproc jobs; no cluster changes.",
            permissions=list(JOB_SUBMITTER_PERMISSIONS),
            stage="GA",
            opts=child,
        )
        self.devhost_grants = [
            gcp.projects.IAMMember(
                f"{name}-devhost-job-submitter",
                project=cfg.project,
                role=role.name,
                member=devhost,
                opts=child,
            ),
            # No roles/iam.serviceAccountUser on the cluster's account: a submitted job runs as
            # the cluster's account without it (only creating clusters or workflows needs actAs).
            # Create and read inputs, never delete or replace them: an upload cannot destroy an
            # image an earlier run read (objectAdmin would allow both).
            self._bucket_grant(
                name,
                "devhost",
                "input",
                storage.input,
                "roles/storage.objectCreator",
                devhost,
                child,
            ),
            self._bucket_grant(
                name,
                "devhost",
                "input",
                storage.input,
                "roles/storage.objectViewer",
                devhost,
                child,
            ),
            self._bucket_grant(
                name,
                "devhost",
                "results",
                storage.results,
                "roles/storage.objectViewer",
                devhost,
                child,
            ),
            self._bucket_grant(
                name,
                "devhost",
                "staging",
                storage.staging,
                "roles/storage.objectViewer",
                devhost,
                child,
            ),
        ]
        self.register_outputs(
            {"cluster_sa": self.cluster_sa.email, "devhost_sa": self.devhost_sa.email}
        )

    @staticmethod
    def _bucket_grant(
        name: str,
        who: str,
        label: str,
        bucket: gcp.storage.Bucket,
        role: str,
        member: pulumi.Input[str],
        opts: pulumi.ResourceOptions,
    ) -> gcp.storage.BucketIAMMember:
        short = role.split(".")[-1].lower()
        return gcp.storage.BucketIAMMember(
            f"{name}-{who}-{label}-{short}",
            bucket=bucket.name,
            role=role,
            member=member,
            opts=opts,
        )
