"""The Artifact Registry repository the Serverless batch image is pushed to (runner serverless).

Building and pushing the image stays a `make` step (`make batch-image-push`), not a resource: a
Docker provider would build a multi-gigabyte image in every `pulumi preview`/`up` and needs a
Docker daemon wherever Pulumi runs; the image changes only with the pins, the package or the
weights. The stack creates the repository and takes the pushed image by digest (batch_image).
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_gcp as gcp

from infra.config import StackConfig


class ImageRepository(pulumi.ComponentResource):
    """A private Docker repository in the stack's region; the batch account may only read it."""

    repository: gcp.artifactregistry.Repository
    reader: gcp.artifactregistry.RepositoryIamMember
    path: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        *,
        reader: gcp.serviceaccount.Account,
        depends_on: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("dataproc-faces:infra:ImageRepository", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=list(depends_on))
        self.repository = gcp.artifactregistry.Repository(
            f"{name}-repo",
            repository_id=cfg.image_repository,
            project=cfg.project,
            location=cfg.region,
            format="DOCKER",
            description=f"dataproc-faces {cfg.stack}: the Serverless batch image",
            labels=cfg.labels,
            # A pushed tag never moves: what a tag named once is what it names for good.
            docker_config=gcp.artifactregistry.RepositoryDockerConfigArgs(immutable_tags=True),
            opts=child,
        )
        self.reader = gcp.artifactregistry.RepositoryIamMember(
            f"{name}-batch-reader",
            project=cfg.project,
            location=cfg.region,
            repository=self.repository.name,
            role="roles/artifactregistry.reader",
            member=reader.email.apply(lambda e: f"serviceAccount:{e}"),
            opts=child,
        )
        self.path = pulumi.Output.concat(
            cfg.region, "-docker.pkg.dev/", cfg.project, "/", self.repository.repository_id
        )
        self.register_outputs({"path": self.path})
