"""Service accounts for the cluster, the Serverless batches and the devhost, and every IAM grant,
scoped narrowly."""

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
# The same for Serverless batches (runner serverless or both): create, watch and cancel them.
# Creating a batch that runs as the batch account also needs actAs on that account (below).
BATCH_SUBMITTER_PERMISSIONS: tuple[str, ...] = (
    "dataproc.batches.cancel",
    "dataproc.batches.create",
    "dataproc.batches.get",
    "dataproc.batches.list",
    "dataproc.operations.get",
)


def submitter_permissions(cfg: StackConfig) -> list[str]:
    """What the devhost may do in Dataproc: only what the stack's runner needs."""
    wanted = set(JOB_SUBMITTER_PERMISSIONS) if cfg.uses_cluster else set()
    if cfg.uses_serverless:
        wanted |= set(BATCH_SUBMITTER_PERMISSIONS)
    return sorted(wanted)


ROLE_ID_PREFIX = "dataprocFacesJobSubmitter"


def submitter_role_id(stack: str, devhost_unique_id: str) -> str:
    """A role id that a redeploy after `destroy` never reuses.

    Google keeps a deleted custom role's id for 37 days: undeletable for 7, then reserved for 30
    more, so creating the same id again fails from day 7 to day 37. The devhost account's unique
    id is new whenever the account is created again, and stays the same across updates.
    """
    return f"{ROLE_ID_PREFIX}_{stack.replace('-', '_')}_{devhost_unique_id}"


class Identity(pulumi.ComponentResource):
    """Dedicated identities: never the default compute SA, never a primitive role.

    The cluster's account exists when the stack has a cluster, the batch account when it runs
    Serverless batches; each has only its own runner's grants.
    """

    cluster_sa: gcp.serviceaccount.Account | None
    batch_sa: gcp.serviceaccount.Account | None
    devhost_sa: gcp.serviceaccount.Account
    cluster_grants: list[pulumi.CustomResource]
    batch_grants: list[pulumi.CustomResource]
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

        self.devhost_sa = gcp.serviceaccount.Account(
            f"{name}-devhost-sa",
            account_id=f"{cfg.prefix}-devhost",
            project=cfg.project,
            display_name=f"dataproc-faces {cfg.stack} devhost (uploads images, submits jobs)",
            opts=child,
        )
        devhost = self.devhost_sa.email.apply(lambda e: f"serviceAccount:{e}")

        self.cluster_sa, self.cluster_grants = None, []
        if cfg.uses_cluster:
            # The cluster: the one project role Dataproc VMs need, then storage per bucket.
            self.cluster_sa, self.cluster_grants = self._runner_account(
                name, cfg, storage, "cluster", "cluster nodes", "objectAdmin", child
            )

        self.batch_sa, self.batch_grants = None, []
        if cfg.uses_serverless:
            # A batch's account needs Dataproc Worker (Serverless requires it), then storage per
            # bucket; the code in staging is only read (a cluster also writes its own files
            # there), Serverless's own staging goes to the temp bucket. The image repository's
            # reader role is granted next to the repository (infra/registry.py).
            self.batch_sa, self.batch_grants = self._runner_account(
                name, cfg, storage, "batch", "Serverless batches", "objectViewer", child
            )

        role = gcp.projects.IAMCustomRole(
            f"{name}-job-submitter-role",
            project=cfg.project,
            role_id=self.devhost_sa.unique_id.apply(lambda uid: submitter_role_id(cfg.stack, uid)),
            title=f"dataproc-faces job submitter ({cfg.stack})",
            description="Submit, watch and cancel Dataproc jobs or batches; no cluster changes.",
            permissions=submitter_permissions(cfg),
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
        if self.batch_sa is not None:
            # A batch's driver output (its own error line, its progress) is written under
            # Serverless's staging bucket, the temp bucket, not next to a cluster job's output
            # in staging: `wait --serverless` and the page read it there. Read only; the temp
            # bucket holds Spark's files about the same photos the devhost already reads.
            self.devhost_grants.append(
                self._bucket_grant(
                    name,
                    "devhost",
                    "temp",
                    storage.temp,
                    "roles/storage.objectViewer",
                    devhost,
                    child,
                )
            )
            # A batch that runs as the batch account is created only by who may act as it:
            # on that one account, not project-wide.
            self.devhost_grants.append(
                gcp.serviceaccount.IAMMember(
                    f"{name}-devhost-acts-as-batch",
                    service_account_id=self.batch_sa.name,
                    role="roles/iam.serviceAccountUser",
                    member=devhost,
                    opts=child,
                )
            )
        self.register_outputs(
            {
                "cluster_sa": self.cluster_sa.email if self.cluster_sa else None,
                "batch_sa": self.batch_sa.email if self.batch_sa else None,
                "devhost_sa": self.devhost_sa.email,
            }
        )

    def _runner_account(
        self,
        name: str,
        cfg: StackConfig,
        storage: Storage,
        kind: str,
        what: str,
        code: str,
        opts: pulumi.ResourceOptions,
    ) -> tuple[gcp.serviceaccount.Account, list[pulumi.CustomResource]]:
        """A runner's account (cluster nodes or batches): Dataproc Worker on the project, then
        storage per bucket, with `code` on the staging bucket."""
        account = gcp.serviceaccount.Account(
            f"{name}-{kind}-sa",
            account_id=f"{cfg.prefix}-{kind}",
            project=cfg.project,
            display_name=f"dataproc-faces {cfg.stack} {what}",
            opts=opts,
        )
        member = account.email.apply(lambda e: f"serviceAccount:{e}")
        worker = gcp.projects.IAMMember(
            f"{name}-{kind}-dataproc-worker",
            project=cfg.project,
            role="roles/dataproc.worker",
            member=member,
            opts=opts,
        )
        storage_grants = self._storage_grants(name, kind, storage, member, opts, code=code)
        return account, [worker, *storage_grants]

    def _storage_grants(
        self,
        name: str,
        who: str,
        storage: Storage,
        member: pulumi.Input[str],
        opts: pulumi.ResourceOptions,
        *,
        code: str,
    ) -> list[gcp.storage.BucketIAMMember]:
        """Read inputs, write results and temp files; `code`: the role on the staging bucket."""
        return [
            self._bucket_grant(
                name, who, "input", storage.input, "roles/storage.objectViewer", member, opts
            ),
            self._bucket_grant(
                name, who, "results", storage.results, "roles/storage.objectAdmin", member, opts
            ),
            self._bucket_grant(
                name, who, "staging", storage.staging, f"roles/storage.{code}", member, opts
            ),
            self._bucket_grant(
                name, who, "temp", storage.temp, "roles/storage.objectAdmin", member, opts
            ),
        ]

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
