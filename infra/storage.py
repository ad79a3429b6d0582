"""Buckets for input images, results, and Dataproc staging/temp: UBLA, PAP enforced, labelled."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_gcp as gcp

from infra.config import StackConfig

# Object prefix in the input bucket that the job reads by default (output `upload_images_to`).
IMAGES_PREFIX = "images/"
# What an adopting `up` leaves as the live bucket has it (see Storage._bucket).
ADOPT_IGNORED = ["labels", "pulumiLabels"]


class Storage(pulumi.ComponentResource):
    """Four buckets; IAM on them lives in identity.py, apart from the buckets themselves."""

    input: gcp.storage.Bucket
    results: gcp.storage.Bucket
    staging: gcp.storage.Bucket
    temp: gcp.storage.Bucket

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        *,
        depends_on: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("dataproc-faces:infra:Storage", name, None, opts)
        self._cfg = cfg
        self._deps = list(depends_on)

        self.input = self._bucket(name, "input")
        # Results are what a run produces: optionally versioned, and kept when the stack goes.
        self.results = self._bucket(
            name,
            "results",
            versioning=cfg.results_versioning,
            force_destroy=cfg.force_destroy_buckets and not cfg.retain_results_on_destroy,
            retain_on_delete=cfg.retain_results_on_destroy,
            # Kept by a `destroy` under its fixed name, the bucket makes the next create fail with
            # 409: adopt_results_bucket imports it instead (its id is its name; see _bucket).
            adopt=cfg.adopt_results_bucket,
            lifecycle_rules=(
                [
                    gcp.storage.BucketLifecycleRuleArgs(
                        action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
                        condition=gcp.storage.BucketLifecycleRuleConditionArgs(
                            days_since_noncurrent_time=30, with_state="ARCHIVED"
                        ),
                    )
                ]
                if cfg.results_versioning
                else []
            ),
        )
        # Staging holds the job artefacts and Dataproc's cluster metadata: no age-based deletion.
        self.staging = self._bucket(name, "staging")
        # Temp holds Spark/YARN history and shuffle spill: deleted after temp_retention_days.
        self.temp = self._bucket(
            name,
            "temp",
            lifecycle_rules=[
                gcp.storage.BucketLifecycleRuleArgs(
                    action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
                    condition=gcp.storage.BucketLifecycleRuleConditionArgs(
                        age=cfg.temp_retention_days
                    ),
                )
            ],
        )
        self.register_outputs(
            {
                "input": self.input.url,
                "results": self.results.url,
                "staging": self.staging.url,
                "temp": self.temp.url,
            }
        )

    def _bucket(
        self,
        component: str,
        role: str,
        *,
        versioning: bool = False,
        force_destroy: bool | None = None,
        retain_on_delete: bool = False,
        adopt: bool = False,
        lifecycle_rules: list[gcp.storage.BucketLifecycleRuleArgs] | None = None,
    ) -> gcp.storage.Bucket:
        cfg = self._cfg
        # Global names: the project ID makes them unique, the stack keeps dev/prod apart.
        name = f"{cfg.project}-{cfg.prefix}-{role}"
        # An import must match the live bucket, and the labels never do: the provider's read
        # keeps only label keys already in the configuration (none on import; they land in
        # effectiveLabels only), and pulumiLabels adds the provider's attribution label. So the
        # adopting `up` leaves the labels as they are; the next `up` (adopt_results_bucket back
        # to false) applies them as an ordinary update.
        ignore = ADOPT_IGNORED if adopt else None
        return gcp.storage.Bucket(
            f"{component}-{role}",
            name=name,
            project=cfg.project,
            location=cfg.region.upper(),
            storage_class="STANDARD",
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            force_destroy=cfg.force_destroy_buckets if force_destroy is None else force_destroy,
            versioning=gcp.storage.BucketVersioningArgs(enabled=versioning),
            lifecycle_rules=lifecycle_rules or [],
            labels={**cfg.labels, "role": role},
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=self._deps,
                retain_on_delete=retain_on_delete,
                import_=name if adopt else None,
                ignore_changes=ignore,
            ),
        )
