"""`pulumi up` submits the face-outlining job once the cluster is ready (config job_submit).

Why the provider's `gcp.dataproc.Job` and not a dynamic provider: Python dynamic providers are
pickled into the state (with whatever they capture), which breaks on refactors and Python
upgrades (CONVENTIONS.md); the provider resource keeps only plain inputs in state, never runs
during `pulumi preview`, and can wait for the job (`wait_for_completion`, config job_wait).

Re-submission only on change: every input of a Dataproc job forces a replacement, so the job id
(`reference.job_id`) is derived from what matters, the content-hashed main file and package
URIs, the input prefix, the detector options and the optional job_run_id. Same inputs: same id,
no diff, nothing submitted. A new run for the same inputs: set a new job_run_id. A replaced job
is deleted before its successor is created (`delete_before_replace`; `force_delete` cancels it
first if still running), so `pulumi up --replace` can submit again under the same id instead of
failing with 409 ALREADY_EXISTS; results stay in the bucket, in a folder named after the job id.

A failed job fails the update: the provider's wait treats ERROR, CANCELLED and ATTEMPT_FAILURE
as ends like DONE and reports success, so `job_state` is checked here and a bad state raises
`JobFailed` (one line, no traceback). The state stays in the stack, so every later `up` fails
the same way until the job is submitted again.

A cluster that deleted itself (dev's `idle_delete_ttl`) is still in the stack's state until a
refresh: before the job is declared, `up` asks Dataproc for the cluster and, on NOT_FOUND, fails
with one sentence saying so and naming `pulumi up --refresh` (`ClusterGoneError`), instead of the
provider's 404 on the job. Any other answer (no credentials the client library finds, a denied
read) only warns: the check is a courtesy, the provider still decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_gcp as gcp

from dataproc_faces import jobspec
from infra.config import StackConfig

# Dataproc job states that end a job without its result (JobStatus.State).
FAILED_STATES = frozenset({"ERROR", "CANCELLED", "ATTEMPT_FAILURE"})


class JobFailed(pulumi.RunError):
    """The job the stack declares ended badly: Pulumi prints the one line and fails the update."""


class ClusterGoneError(pulumi.RunError):
    """The stack's cluster is in the state but not in Dataproc: one line, no traceback."""


def existing_cluster(cfg: StackConfig, name: pulumi.Input[str]) -> pulumi.Output[str]:
    """The cluster's name once Dataproc confirms it exists (`up` only; a preview plans first)."""
    from dataproc_faces import remote

    def check(cluster: str) -> str:
        if pulumi.runtime.is_dry_run():  # a new stack's cluster does not exist before `up`
            return cluster
        try:
            exists = remote.cluster_exists(cfg.project, cfg.region, cluster)
        except Exception as exc:  # a courtesy check must not block the deploy
            pulumi.log.warn(f"could not check that cluster {cluster} exists: {exc}")
            return cluster
        if not exists:
            raise ClusterGoneError(remote.cluster_gone_sentence(cluster, cfg.project, cfg.region))
        return cluster

    return pulumi.Output.from_input(name).apply(check)


class FaceJob(pulumi.ComponentResource):
    """One Dataproc PySpark job running spark/main.py from the uploaded artefacts."""

    job: gcp.dataproc.Job
    job_id: pulumi.Output[str]
    results_uri: pulumi.Output[str]
    state: pulumi.Output[str]
    console_url: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        *,
        cluster: gcp.dataproc.Cluster,
        main_uri: pulumi.Input[str],
        package_uri: pulumi.Input[str],
        images_uri: pulumi.Input[str],
        results_uri: pulumi.Input[str],
        depends_on: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("dataproc-faces:infra:FaceJob", name, None, opts)
        render = jobspec.render_options(cfg.job.render)
        detect = jobspec.detect_options(cfg.job.detect, mode=render.mode)
        source: pulumi.Input[str] = cfg.job.input_prefix or images_uri

        def identify(values: list[Any]) -> str:
            main, package, prefix = values
            return jobspec.job_id(
                main_uri=main,
                package_uri=package,
                input=prefix,
                detect=detect,
                run_id=cfg.job.run_id,
                render=render,
            )

        self.job_id = pulumi.Output.all(main_uri, package_uri, source).apply(identify)
        self.results_uri = pulumi.Output.all(results_uri, self.job_id).apply(
            lambda v: jobspec.results_for(v[0], v[1])
        )

        def pyspark(values: list[Any]) -> gcp.dataproc.JobPysparkConfigArgs:
            main, package, prefix, output = values
            spec = jobspec.pyspark_job(
                cluster="",  # placement is its own argument below
                main_uri=main,
                package_uri=package,
                args=jobspec.job_args(output=output, input=prefix, detect=detect, render=render),
            )["pyspark_job"]
            return gcp.dataproc.JobPysparkConfigArgs(
                main_python_file_uri=spec["main_python_file_uri"],
                python_file_uris=spec["python_file_uris"],
                args=spec["args"],
                properties=spec["properties"],
            )

        # Fixed labels only: a job's labels cannot change in place, and editing the stack's
        # `labels` must not re-run the job.
        labels = {"app": "dataproc-faces", "env": cfg.stack}
        if cfg.job.run_id:
            labels["run"] = cfg.job.run_id
        self.job = gcp.dataproc.Job(
            name,
            project=cfg.project,
            region=cfg.region,
            placement=gcp.dataproc.JobPlacementArgs(
                cluster_name=existing_cluster(cfg, cluster.name)
            ),
            reference=gcp.dataproc.JobReferenceArgs(job_id=self.job_id),
            pyspark_config=pulumi.Output.all(main_uri, package_uri, source, self.results_uri).apply(
                pyspark
            ),
            labels=labels,
            force_delete=True,
            wait_for_completion=cfg.job.wait,
            opts=pulumi.ResourceOptions(
                parent=self,
                # The id is reused by `pulumi up --replace`: the old record must go first.
                delete_before_replace=True,
                # The cluster, and what the job reads: the uploaded artefacts and (seed_samples)
                # the sample images; explicit, not only through the URIs in its inputs.
                depends_on=[cluster, *depends_on],
                custom_timeouts=pulumi.CustomTimeouts(create="12h" if cfg.job.wait else "20m"),
            ),
        )
        self.console_url = self.job_id.apply(
            lambda j: jobspec.console_url(cfg.project, cfg.region, j)
        )
        self.state = pulumi.Output.all(self.job.statuses, self.job_id, self.console_url).apply(
            lambda v: _checked_state(*v)
        )
        self.register_outputs(
            {
                "job_id": self.job_id,
                "job_state": self.state,
                "job_results_uri": self.results_uri,
                "job_console_url": self.console_url,
            }
        )


def _field(status: Any, key: str) -> str:
    value = status.get(key) if isinstance(status, dict) else getattr(status, key, None)
    return str(value or "")


def _state(statuses: list[Any] | None) -> str:
    """The state the provider last read (RUNNING when `up` did not wait; `status` for later)."""
    return (_field(statuses[0], "state") if statuses else "") or "SUBMITTED"


def _checked_state(statuses: list[Any] | None, job_id: str, console_url: str) -> str:
    """The state, or `JobFailed` when the job ended badly (the provider reports success)."""
    state = _state(statuses)
    if state not in FAILED_STATES:
        return state
    details = " ".join(_field(statuses[0], "details").split()) if statuses else ""
    raise JobFailed(
        f"Dataproc job {job_id} ended in {state}"
        + (f" ({details})" if details else "")
        + f"; see {console_url} or `dataproc-faces wait {job_id}`; to run it again, set a new"
        " dataproc-faces:job_run_id (or `pulumi up --replace` the job) and run `pulumi up`"
    )
