"""`pulumi up` submits the dev run as a Dataproc Serverless batch (runner serverless, job_submit).

The same job as infra/job.py's cluster job (jobspec.py builds both: one spec, two runners), as the
provider's `gcp.dataproc.Batch`: the batch id is the content-derived job id with the image's
digest in the hash, so the same code, image, input and options make no diff and nothing runs
again; every input of a batch forces a replacement, the old record deleted first. Creating a
batch waits for it to end (the API's operation ends with the batch), so `job_wait` has no
effect here; a batch that ended FAILED or CANCELLED fails the update with one line
(`BatchFailed`), as a failed job does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_gcp as gcp

from dataproc_faces import jobspec
from infra.config import StackConfig

FAILED_STATES = frozenset({"FAILED", "CANCELLED"})
RUNNING_STATES = frozenset({"PENDING", "RUNNING", "CANCELLING"})


class BatchFailed(pulumi.RunError):
    """The batch the stack declares ended badly: Pulumi prints the one line."""


class BatchStillRunning(pulumi.RunError):
    """A batch an interrupted `up` left running holds the id: one line, no traceback."""


class FaceBatch(pulumi.ComponentResource):
    """One Serverless PySpark batch running spark/main.py in the stack's batch image."""

    batch: gcp.dataproc.Batch
    job_id: pulumi.Output[str]
    results_uri: pulumi.Output[str]
    state: pulumi.Output[str]
    console_url: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        *,
        service_account: pulumi.Input[str],
        subnetwork: pulumi.Input[str],
        network_tag: str,
        staging_bucket: pulumi.Input[str],
        main_uri: pulumi.Input[str],
        package_uri: pulumi.Input[str],
        images_uri: pulumi.Input[str],
        results_uri: pulumi.Input[str],
        depends_on: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("dataproc-faces:infra:FaceBatch", name, None, opts)
        render = jobspec.render_options(cfg.job.render)
        detect = jobspec.detect_options(cfg.job.detect, mode=render.mode)
        source: pulumi.Input[str] = cfg.job.input_prefix or images_uri
        image = cfg.batch.image

        def identify(values: list[Any]) -> str:
            main, package, prefix = values
            return jobspec.check_batch_id(
                jobspec.job_id(
                    main_uri=main,
                    package_uri=package,
                    input=prefix,
                    detect=detect,
                    run_id=cfg.job.run_id,
                    image=image,
                    render=render,
                )
            )

        self.job_id = pulumi.Output.all(main_uri, package_uri, source).apply(identify)
        self.results_uri = pulumi.Output.all(results_uri, self.job_id).apply(
            lambda v: jobspec.results_for(v[0], v[1])
        )

        # The message from the one job spec; what is known before `up` (the image, the runtime,
        # the properties, the network tag) stays known in a preview, for the policy pack.
        spec = jobspec.pyspark_batch(
            main_uri=main_uri,
            package_uri=package_uri,
            args=(),  # they name the results folder, known once the id is: below
            container_image=image,
            runtime_version=cfg.batch.runtime_version,
            service_account=service_account,
            subnetwork=subnetwork,
            staging_bucket=staging_bucket,
            network_tags=[network_tag],
            ttl=cfg.batch.ttl,
        )
        args = pulumi.Output.all(source, self.results_uri).apply(
            lambda v: jobspec.job_args(output=v[1], input=v[0], detect=detect, render=render)
        )
        pyspark = gcp.dataproc.BatchPysparkBatchArgs(**{**spec["pyspark_batch"], "args": args})
        runtime = gcp.dataproc.BatchRuntimeConfigArgs(**spec["runtime_config"])
        environment = gcp.dataproc.BatchEnvironmentConfigArgs(
            execution_config=gcp.dataproc.BatchEnvironmentConfigExecutionConfigArgs(
                **spec["environment_config"]["execution_config"]
            )
        )
        # Fixed labels only, as for the cluster job: editing the stack's labels must not re-run it.
        labels = {"app": "dataproc-faces", "env": cfg.stack}
        if cfg.job.run_id:
            labels["run"] = cfg.job.run_id
        self.batch = gcp.dataproc.Batch(
            name,
            # A batch an earlier `up` left FAILED is deleted first: see reusable_batch_id().
            batch_id=reusable_batch_id(cfg, self.job_id),
            project=cfg.project,
            location=cfg.region,
            pyspark_batch=pyspark,
            runtime_config=runtime,
            environment_config=environment,
            labels=labels,
            opts=pulumi.ResourceOptions(
                parent=self,
                delete_before_replace=True,  # `pulumi up --replace` reuses the id
                depends_on=list(depends_on),
                # The batch's own ttl ends it; the wait lasts a little longer, so Dataproc's
                # end (and its message) is what `up` reports, never a timeout of the wait.
                custom_timeouts=pulumi.CustomTimeouts(create=create_timeout(cfg.batch.ttl)),
            ),
        )
        self.console_url = self.job_id.apply(
            lambda j: jobspec.batch_console_url(cfg.project, cfg.region, j)
        )
        self.state = pulumi.Output.all(
            self.batch.state, self.batch.state_message, self.job_id, self.console_url
        ).apply(lambda v: checked_state(*v))
        self.register_outputs(
            {
                "job_id": self.job_id,
                "job_state": self.state,
                "job_results_uri": self.results_uri,
                "job_console_url": self.console_url,
            }
        )


def create_timeout(ttl: str) -> str:
    """How long `up` waits for the batch: its ttl and 30 minutes for startup and teardown,
    never less than the 12 hours it always allowed."""
    seconds = int(ttl.rstrip("s"))
    return f"{max(12 * 60, -(-seconds // 60) + 30)}m"


def reusable_batch_id(cfg: StackConfig, batch_id: pulumi.Input[str]) -> pulumi.Output[str]:
    """The batch id, once no ended-badly batch of an earlier `up` holds it (`up` only).

    When a batch's create operation fails, the provider drops the resource from the stack (its
    create clears the id on an operation error), while Dataproc keeps the FAILED batch under
    that id: the next `up` creates the same id again and Dataproc answers ALREADY_EXISTS. So a
    FAILED or CANCELLED batch under this id is deleted first, with a warning carrying its own
    message. A batch that worked is left alone; one that still runs (an interrupted `up`) stops
    the update with one line saying what to do; any other answer only warns.
    """
    from google.api_core.exceptions import NotFound

    from dataproc_faces import remote

    def check(found_id: str) -> str:
        if pulumi.runtime.is_dry_run():  # a preview plans; nothing is deleted then
            return found_id
        name = remote.batch_name(cfg.project, cfg.region, found_id)
        try:
            client = remote.batch_client(cfg.region)
            old = client.get_batch(name=name)
            state = old.state.name
            if state in RUNNING_STATES:  # never in the stack: only an interrupted `up` leaves one
                raise BatchStillRunning(
                    f"batch {found_id} of an earlier, interrupted `up` is still {state}, and"
                    " Dataproc refuses a second batch under its id: wait for it"
                    f" (`dataproc-faces wait --serverless {found_id}`) or cancel it (`gcloud"
                    f" dataproc batches cancel {found_id} --region {cfg.region}`), then run"
                    " `pulumi up --refresh` again (a batch that ended badly is then run again;"
                    " or set a new dataproc-faces:job_run_id to run under a new id now)"
                )
            if state not in FAILED_STATES:
                return found_id
            client.delete_batch(name=name)
        except NotFound:
            return found_id
        except BatchStillRunning:
            raise
        except Exception as exc:  # a courtesy: the provider still decides
            pulumi.log.warn(f"could not check for an earlier batch {found_id}: {exc}")
            return found_id
        details = " ".join((old.state_message or "").split())
        pulumi.log.warn(
            f"batch {found_id} of an earlier `up` ended in {state}"
            + (f" ({details})" if details else "")
            + ": deleted its record, so this `up` runs it again under the same id"
        )
        return found_id

    return pulumi.Output.from_input(batch_id).apply(check)


def checked_state(state: str | None, message: str | None, batch_id: str, console: str) -> str:
    """The batch's state, or `BatchFailed` when it ended without its result."""
    state = state or "SUBMITTED"
    if state not in FAILED_STATES:
        return state
    details = " ".join((message or "").split())
    raise BatchFailed(
        f"Dataproc Serverless batch {batch_id} ended in {state}"
        + (f" ({details})" if details else "")
        + f"; see {console} or `dataproc-faces wait --serverless {batch_id}`; to run it again,"
        " set a new dataproc-faces:job_run_id (or `pulumi up --replace` the batch) and run"
        " `pulumi up`"
    )
