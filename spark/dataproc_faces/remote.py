"""Runs after `pulumi up`: `submit`, `status`, `wait` and `fetch`, on the cluster or as batches.

One job spec, two runners: `submit` builds the same files, arguments and Spark properties
(jobspec.py) and sends them either as a job to the stack's cluster (JobController) or, with
`--serverless` or on a stack whose runner is serverless, as a Dataproc Serverless batch
(BatchController) running in the stack's container image as the batch service account.

The Dataproc client talks to the regional endpoint ({region}-dataproc.googleapis.com) with ADC
credentials. With `DATAPROC_ENDPOINT=http://127.0.0.1:PORT` set it uses a REST transport to that
address with anonymous credentials instead (the tests' stand-in server); Cloud Storage likewise
follows `STORAGE_EMULATOR_HOST`. Defaults come from `--stack-outputs` (the JSON of
`pulumi stack output --json`) and then from the DATAPROC_FACES_* variables the devhost sets.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from dataproc_faces import jobspec
from dataproc_faces.cli import UsageError
from dataproc_faces.imaging.render import MODES

ENDPOINT_ENV = "DATAPROC_ENDPOINT"
# The devhost's gs:// URI of the object naming the artefacts the stack last deployed
# (infra/artifacts.py writes it): `submit` reads it each time, so it never names deleted code.
CURRENT_ENV = "DATAPROC_FACES_CURRENT"
TAIL_BYTES = 1024
EXIT_FAILED = 1
EXIT_TIMEOUT = 3

# option -> (stack output key, devhost environment variable)
_SOURCES = {
    "project": ("project", "DATAPROC_FACES_PROJECT"),
    "region": ("region", "DATAPROC_FACES_REGION"),
    "cluster": ("cluster_name", "DATAPROC_FACES_CLUSTER"),
    "input": ("upload_images_to", "DATAPROC_FACES_IMAGES"),
    "results": ("results_uri", "DATAPROC_FACES_RESULTS"),
    "main_uri": ("job_main_uri", "DATAPROC_FACES_JOB_MAIN"),
    "package_uri": ("job_package_uri", "DATAPROC_FACES_JOB_PACKAGE"),
    "runner": ("runner", "DATAPROC_FACES_RUNNER"),
    "batch_image": ("batch_image", "DATAPROC_FACES_BATCH_IMAGE"),
    "batch_runtime_version": ("batch_runtime_version", "DATAPROC_FACES_BATCH_RUNTIME"),
    "batch_service_account": ("batch_service_account", "DATAPROC_FACES_BATCH_SA"),
    "batch_subnetwork": ("batch_subnetwork", "DATAPROC_FACES_BATCH_SUBNETWORK"),
    "batch_staging_bucket": ("batch_staging_bucket", "DATAPROC_FACES_BATCH_STAGING"),
    "batch_network_tag": ("batch_network_tag", "DATAPROC_FACES_BATCH_NETWORK_TAG"),
    "batch_ttl": ("batch_ttl", "DATAPROC_FACES_BATCH_TTL"),
    "feed_subscription": ("feed_subscription", "DATAPROC_FACES_FEED_SUBSCRIPTION"),
}
# What the devhost reads from the object the stack last deployed, at each use: the code, and
# the runner's settings (a pushed image, a new runner reach it without a reboot).
_CURRENT = frozenset(("main_uri", "package_uri", "runner", "cluster")) | {
    name for name in _SOURCES if name.startswith("batch_")
}
SERVERLESS = "serverless"
_FLAGS = {"batch_image": "--image", "feed_subscription": "--subscription"}
# What only the stack knows (its batch account, subnet, ...): no option on the command line.
_NO_FLAG = frozenset(
    ("batch_runtime_version", "batch_service_account", "batch_subnetwork", "runner", "batch_ttl")
)


def env_name(option: str) -> str:
    """The devhost's environment variable for an option (the Pulumi program sets them)."""
    return _SOURCES[option][1]


def _usage(message: str) -> Exception:
    return UsageError(message)


def cluster_gone_sentence(cluster: str, project: str, region: str) -> str:
    """What to say when Dataproc answers NOT_FOUND for the stack's cluster: one sentence."""
    return (
        f"cluster {cluster} no longer exists in project {project}, region {region} (a cluster with"
        " idle_delete_ttl deletes itself when idle): run `pulumi up --refresh` to create it"
        " again, then run this again"
    )


class ClusterGone(UsageError):
    """The cluster a job was sent to is gone; the CLI prints it like any usage error."""

    def __init__(self, cluster: str, project: str, region: str) -> None:
        self.cluster = cluster
        super().__init__(cluster_gone_sentence(cluster, project, region))


def _names_a_cluster(exc: Exception) -> bool:
    """Dataproc's NOT_FOUND for a job's placement reads "Not found: Cluster projects/..."."""
    return "cluster" in str(getattr(exc, "message", "") or exc).lower()


@functools.cache  # `resolve` asks once per option: read and parse the file once
def stack_outputs(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise _usage(f"--stack-outputs {path}: {exc}") from None
    if not isinstance(data, dict):
        raise _usage(f"--stack-outputs {path}: not a JSON object (pulumi stack output --json)")
    return data


def resolve(args: argparse.Namespace, name: str, required: bool = True) -> str | None:
    """An option, else the stack output, else the devhost's environment variable."""
    value = getattr(args, name, None)
    key, env = _SOURCES[name]
    if not value:
        value = stack_outputs(getattr(args, "stack_outputs", None)).get(key)
    if not value and name in _CURRENT and os.environ.get(CURRENT_ENV):
        value = _current_of(args).get(env)
    if not value:
        value = os.environ.get(env)
    if not value and name == "project":
        value = os.environ.get("GOOGLE_CLOUD_PROJECT")
    if required and not value:
        if name in _NO_FLAG:
            raise _usage(
                f"a batch needs '{key}' from --stack-outputs (or ${env}): the stack's runner"
                " must be serverless or both"
            )
        flag = _FLAGS.get(name, "--" + name.replace("_", "-"))
        hint = ""
        if name == "batch_image":  # the usual reason: the stack's first `up`, before a push
            hint = (
                "; a stack gets its image after `make batch-image-push` and `pulumi config set"
                " dataproc-faces:batch_image`, then `pulumi up` (the devhost follows within"
                " 2 minutes)"
            )
        raise _usage(f"{flag} is required (or --stack-outputs with '{key}', or ${env}){hint}")
    return str(value) if value else None


def _current_of(args: argparse.Namespace) -> dict[str, str]:
    """The deployed object's settings, read once per command (every option asks)."""
    found = getattr(args, "_current_env", None)
    if found is None:
        found = current_artifacts(os.environ[CURRENT_ENV])
        args._current_env = found
    return found


def parse_env_lines(text: str) -> dict[str, str]:
    """`KEY=VALUE` lines (the artefacts object, infra/artifacts.py); other lines are ignored."""
    found = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key.isidentifier() and value:
            found[key] = value.strip().strip("'\"")
    return found


def current_artifacts(uri: str) -> dict[str, str]:
    """The artefact URIs the stack last deployed, read now; {} (and one line) if unreadable."""
    from dataproc_faces.storage.gcs import GcsStore

    try:
        return parse_env_lines(GcsStore().read(uri).decode("utf-8"))
    except Exception as exc:  # the environment's URIs remain as the fallback
        print(
            f"dataproc-faces: cannot read {uri} ({type(exc).__name__}); using"
            " $DATAPROC_FACES_JOB_MAIN and $DATAPROC_FACES_JOB_PACKAGE",
            file=sys.stderr,
        )
        return {}


def _rest_transport(module: Any, endpoint: str) -> Any:
    """A REST transport of `module` (a dataproc_v1 service) to the stand-in at `endpoint`."""
    from google.auth.credentials import AnonymousCredentials

    parsed = urlparse(endpoint if "://" in endpoint else f"http://{endpoint}")
    return module(host=parsed.netloc, url_scheme=parsed.scheme, credentials=AnonymousCredentials())


def _client(service: str, region: str) -> Any:
    """A dataproc_v1 `service` client (ClusterController, JobController) for the region, or a
    REST one to the stand-in at $DATAPROC_ENDPOINT."""
    import importlib

    from google.cloud import dataproc_v1

    client = getattr(dataproc_v1, f"{service}Client")
    endpoint = os.environ.get(ENDPOINT_ENV)
    if endpoint:
        module = importlib.import_module(
            f"google.cloud.dataproc_v1.services.{_snake(service)}.transports.rest"
        )
        transport = _rest_transport(getattr(module, f"{service}RestTransport"), endpoint)
        return client(transport=transport)
    return client(client_options={"api_endpoint": jobspec.regional_endpoint(region)})


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def cluster_client(region: str) -> Any:
    return _client("ClusterController", region)


def cluster_exists(project: str, region: str, cluster: str) -> bool:
    """False when Dataproc answers NOT_FOUND for the cluster; other errors propagate."""
    from google.api_core.exceptions import NotFound

    try:
        cluster_client(region).get_cluster(project_id=project, region=region, cluster_name=cluster)
    except NotFound:
        return False
    return True


def job_client(region: str) -> Any:
    return _client("JobController", region)


def batch_client(region: str) -> Any:
    return _client("BatchController", region)


def _state(job: Any) -> str:
    return job.status.state.name


def serverless(args: argparse.Namespace) -> bool:
    """Batches with `--serverless`, or by default on a stack whose runner is serverless."""
    if getattr(args, "serverless", False):
        return True
    return resolve(args, "runner", required=False) == SERVERLESS


def batch_name(project: str, region: str, batch_id: str) -> str:
    return f"projects/{project}/locations/{region}/batches/{batch_id}"


@dataclass(frozen=True)
class Look:
    """A job or a batch as `status`, `wait` and the page see it: one shape for both runners."""

    state: str
    details: str
    output_uri: str  # where the driver's output is written (a prefix of numbered parts)
    where: str  # the cluster, or "serverless"
    ok: bool
    ended: bool


def look(client: Any, project: str, region: str, work_id: str, batch: bool = False) -> Look:
    """Ask Dataproc for a job (JobController) or a batch (BatchController) and read it."""
    if batch:
        found = client.get_batch(name=batch_name(project, region, work_id))
        state = found.state.name
        return Look(
            state,
            found.state_message,
            found.runtime_info.output_uri,
            SERVERLESS,
            state == jobspec.BATCH_DONE,
            state in jobspec.BATCH_TERMINAL_STATES,
        )
    found = client.get_job(project_id=project, region=region, job_id=work_id)
    state = _state(found)
    return Look(
        state,
        found.status.details,
        found.driver_output_resource_uri,
        found.placement.cluster_name,
        state == "DONE",
        state in jobspec.TERMINAL_STATES,
    )


def console_url(project: str, region: str, work_id: str, batch: bool = False) -> str:
    if batch:
        return jobspec.batch_console_url(project, region, work_id)
    return jobspec.console_url(project, region, work_id)


def add_location(p: argparse.ArgumentParser) -> None:
    """Where the stack lives: project, region, and the saved stack outputs (follow shares them)."""
    p.add_argument("--project", help="GCP project (default: stack outputs, $GOOGLE_CLOUD_PROJECT)")
    p.add_argument("--region", help="Dataproc region (default: stack outputs)")
    p.add_argument(
        "--stack-outputs", metavar="FILE", help="JSON saved by `pulumi stack output --json`"
    )


def _add_serverless(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--serverless",
        action="store_true",
        help=f"{what} a Dataproc Serverless batch, not a cluster job (the default on a stack"
        " whose runner is serverless)",
    )


def _add_wait_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--interval", type=float, default=10.0, help="seconds between polls")
    p.add_argument(
        "--timeout",
        type=float,
        default=None,
        help=f"give up after this many seconds (exit {EXIT_TIMEOUT})",
    )


def _one_line(command: Any) -> Any:
    """Google Cloud's refusals (a 403 while a grant propagates, a quota, a 5xx) as one usage
    line in the page's words (web/runs.py), not a traceback."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except Exception as exc:
            from google.auth.exceptions import DefaultCredentialsError

            from dataproc_faces.cloud_errors import cloud_errors, cloud_sentence

            # No credentials: the CLI's own sentence says how to log in.
            if isinstance(exc, DefaultCredentialsError) or not isinstance(exc, cloud_errors()):
                raise
            raise _usage(cloud_sentence(exc).rstrip(".")) from None

    return run


def register(subparsers: argparse._SubParsersAction) -> None:
    from dataproc_faces.cli import MODE_HELP, add_detector_arguments
    from dataproc_faces.imaging.options import add_anonymise_arguments

    p = subparsers.add_parser(
        "submit",
        help="submit the job to a Dataproc cluster; prints the job id",
        description="Submit the face-outlining job to a Dataproc cluster. Cluster, region, "
        "project, input, results and the uploaded code come from options, else from "
        "--stack-outputs, else from the DATAPROC_FACES_* variables set on the devhost.",
    )
    add_location(p)
    p.add_argument("--cluster", help="Dataproc cluster name")
    p.add_argument("--input", help="gs:// prefix of images (default: upload_images_to)")
    p.add_argument("--input-list", metavar="URI", help="gs:// text file of image URIs")
    p.add_argument("--output", help="gs:// prefix for results (default: <results_uri>/<job id>)")
    p.add_argument("--results", help="gs:// prefix holding one folder per run (results_uri)")
    p.add_argument("--main-uri", help="gs:// URI of main.py (default: job_main_uri)")
    p.add_argument("--package-uri", help="gs:// URI of the package zip (default: job_package_uri)")
    p.add_argument("--job-id", help="explicit job id (default: faces[-RUN]-<hash of what runs>)")
    p.add_argument("--run-id", default="", help="tag that forces a new job id for the same inputs")
    p.add_argument(
        "--force",
        action="store_true",
        help="the job processes every input again, and may write faces less hidden than "
        "--output already holds (outline after blur, a weaker setting)",
    )
    p.add_argument("--wait", action="store_true", help="then wait for the job like `wait`")
    p.add_argument(
        "--corrections",
        metavar="FILE",
        help="a corrections file (local, uploaded next to the job's staged files, or gs://) for "
        "the run to apply: the job writes into the results folder of the run it corrects "
        "(README, Corrections)",
    )
    _add_serverless(p, "submit as")
    p.add_argument(
        "--image", dest="batch_image", help="batch container image (default: batch_image)"
    )
    _add_wait_options(p)
    add_detector_arguments(p)
    p.add_argument("--mode", choices=MODES, default="outline", help=MODE_HELP)
    add_anonymise_arguments(p)
    p.set_defaults(func=_one_line(cmd_submit))

    p = subparsers.add_parser("status", help="print a job's (or a batch's) state")
    p.add_argument("job_id")
    add_location(p)
    _add_serverless(p, "JOB_ID names")
    p.set_defaults(func=_one_line(cmd_status))

    p = subparsers.add_parser(
        "wait",
        help="wait for a job; exit 0 if DONE, 1 if ERROR or CANCELLED",
        description="Poll a job (or, with --serverless, a batch) until it ends, printing each "
        "state change. When it fails, print the tail of its driver output. Exit 0 for DONE "
        "(a batch: SUCCEEDED), 1 for ERROR, FAILED or CANCELLED, 3 when --timeout passes first.",
    )
    p.add_argument("job_id")
    add_location(p)
    _add_serverless(p, "JOB_ID names")
    _add_wait_options(p)
    p.set_defaults(func=_one_line(cmd_wait))

    p = subparsers.add_parser(
        "fetch",
        help="copy a gs:// prefix (a run's results) into a local folder",
        description="Copy every object under URI into DIR, keeping relative paths; files "
        "already there with the same size are skipped, so an interrupted fetch resumes.",
    )
    p.add_argument("uri")
    p.add_argument("dir")
    p.add_argument("--threads", type=int, default=8, help="parallel downloads")
    p.set_defaults(func=cmd_fetch)


def build_job(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    """The Job message (a Batch message when serverless, without its id: that is `batch_id`)
    and its output prefix, from options / stack outputs / environment."""
    from dataproc_faces.cli import check_apart, detect_options_from_args
    from dataproc_faces.imaging.options import anonymise_options, check_render
    from dataproc_faces.imaging.render import RenderOptions
    from dataproc_faces.storage.base import normalise

    detect = detect_options_from_args(args)
    mode = getattr(args, "mode", "outline")
    render = RenderOptions(mode=mode)
    if hasattr(args, "mask"):
        try:
            render = RenderOptions(mode=mode, **anonymise_options(args))
        except ValueError as exc:  # options that do not go together
            raise _usage(str(exc)) from None
        problem = check_render(args, render)  # a flag for another mode, or a setting too weak
        if problem:
            raise _usage(problem)
    main_uri = resolve(args, "main_uri")
    package_uri = resolve(args, "package_uri")
    input_list = args.input_list
    source = resolve(args, "input", required=not input_list)
    batch = serverless(args)
    image = str(resolve(args, "batch_image")) if batch else ""
    try:
        job = args.job_id or jobspec.job_id(
            main_uri=str(main_uri),
            package_uri=str(package_uri),
            input=source,
            input_list=input_list,
            detect=detect,
            run_id=args.run_id,
            render=render,
            image=image,
        )
        if batch:
            jobspec.check_batch_id(job)
    except ValueError as exc:
        raise _usage(str(exc)) from None
    output = args.output or jobspec.results_for(str(resolve(args, "results")), job)
    fixes = read_corrections(args)
    if fixes is not None and not args.job_id:  # a new job, into the folder of the run it corrects
        job = jobspec.corrected_job_id(job, fixes[1])
        try:
            if batch:
                jobspec.check_batch_id(job)
        except ValueError as exc:
            raise _usage(str(exc)) from None
    if source:  # refused here, before a job is made, as the job itself would refuse it
        check_apart(normalise(str(source)), normalise(output), str(source), output)
    force = bool(getattr(args, "force", False))
    if args.output:  # a folder named by hand may hold hidden faces: never undo them by accident
        _check_hiding(normalise(output), detect, render, force)
    staged = None
    if fixes is not None:
        staged = fixes[0] or jobspec.staged_corrections(str(main_uri), fixes[1])
    main_args = jobspec.job_args(
        output=output,
        input=source,
        input_list=input_list,
        detect=detect,
        render=render,
        corrections=staged,
    )
    if force:
        main_args.append("--force")
    if batch:
        tag = resolve(args, "batch_network_tag", required=False)
        try:  # a day unless the stack says otherwise (config batch_ttl)
            ttl = jobspec.check_batch_ttl(
                resolve(args, "batch_ttl", required=False) or jobspec.DEFAULT_BATCH_TTL
            )
        except ValueError as exc:
            raise _usage(str(exc)) from None
        message = jobspec.pyspark_batch(
            main_uri=main_uri,
            package_uri=package_uri,
            args=main_args,
            container_image=image,
            runtime_version=str(resolve(args, "batch_runtime_version")),
            service_account=resolve(args, "batch_service_account"),
            subnetwork=resolve(args, "batch_subnetwork"),
            staging_bucket=resolve(args, "batch_staging_bucket", required=False),
            network_tags=[tag] if tag else [],
            ttl=ttl,
        )
        message["batch_id"] = job
        return message, output
    message = jobspec.pyspark_job(
        cluster=resolve(args, "cluster"),
        main_uri=main_uri,
        package_uri=package_uri,
        args=main_args,
        job_id=job,
    )
    return message, output


def read_corrections(args: argparse.Namespace) -> tuple[str | None, bytes] | None:
    """`--corrections` read and checked before anything is sent: (its gs:// URI, or None for a
    local file `submit` uploads; its bytes), or None without the option."""
    given = getattr(args, "corrections", None)
    if not given:
        return None
    from dataproc_faces.results.corrections import CorrectionsError, parse

    try:
        if given.startswith("gs://"):
            from dataproc_faces.storage.gcs import GcsStore

            data = GcsStore().read(given)
        else:
            data = Path(given).read_bytes()
    except OSError as exc:
        raise _usage(f"--corrections {given}: cannot read it ({exc.strerror or exc})") from None
    except Exception as exc:  # a gs:// object missing or not readable
        if _is_missing_credentials(exc):
            raise
        raise _usage(f"--corrections {given}: cannot read it ({type(exc).__name__})") from None
    try:
        parse(data)
    except CorrectionsError as exc:
        raise _usage(f"--corrections {given}: {exc}") from None
    return (given if given.startswith("gs://") else None), data


def _is_missing_credentials(exc: BaseException) -> bool:
    from dataproc_faces.cli import _credentials_missing

    return _credentials_missing(exc)


def stage_corrections(args: argparse.Namespace, main_args: list[str]) -> None:
    """Upload a local corrections file to the URI the job's arguments name (once per content)."""
    fixes = read_corrections(args)
    if fixes is None or fixes[0] is not None:
        return
    from dataproc_faces.storage.gcs import GcsStore

    uri = main_args[main_args.index("--corrections") + 1]
    store = GcsStore()
    if store.version(uri) is None:
        store.write(uri, fixes[1], "application/json")


def _check_hiding(output: str, detect: Any, render: Any, force: bool) -> None:
    """The job's own refusal (ownership.check_hiding), before a job is made. A folder that
    cannot be read from here is left to the job, which checks it again before writing."""
    from dataproc_faces.results import ownership
    from dataproc_faces.results.layout import Results

    now = ownership.hiding(render.mode, render.hidden(), detect.to_dict())
    try:
        ownership.check_hiding(Results(output), now, force)
    except ownership.Weaker as exc:
        raise _usage(str(exc).replace("add --force", "add --force to submit")) from None
    except Exception:  # no credentials or no network here: the cluster's run refuses it
        return


@dataclass(frozen=True)
class Submitted:
    """A job Dataproc accepted: where it runs and where its results will be."""

    client: Any
    project: str
    region: str
    job_id: str
    output: str
    batch: bool = False


def submit(args: argparse.Namespace) -> Submitted:
    """Build and submit the job from `submit`'s options: the CLI and the web page share this."""
    from google.api_core.exceptions import Conflict, NotFound
    from google.cloud import dataproc_v1

    project, region = str(resolve(args, "project")), str(resolve(args, "region"))
    message, output = build_job(args)
    run = message.get("pyspark_batch") or message["pyspark_job"]
    stage_corrections(args, run["args"])
    if "batch_id" in message:
        return _submit_batch(project, region, message, output)
    job_id = message["reference"]["job_id"]
    client = job_client(region)
    try:
        submitted = client.submit_job(
            project_id=project, region=region, job=dataproc_v1.Job(message)
        )
    except Conflict:  # 409: ALREADY_EXISTS for a job id in use
        raise _usage(
            f"job {job_id} exists already (same code, input and options): "
            f"see `dataproc-faces status {job_id}`, or pass --run-id to run it again"
        ) from None
    except NotFound as exc:  # 404: the placement's cluster is gone (dev's idle deletion)
        if not _names_a_cluster(exc):
            raise
        raise ClusterGone(message["placement"]["cluster_name"], project, region) from None
    return Submitted(client, project, region, submitted.reference.job_id, output)


def _submit_batch(project: str, region: str, message: dict[str, Any], output: str) -> Submitted:
    """Create the batch; a batch id in use is refused the way a job id in use is."""
    from google.api_core.exceptions import Conflict
    from google.cloud import dataproc_v1

    batch_id = message.pop("batch_id")
    client = batch_client(region)
    try:
        client.create_batch(
            parent=f"projects/{project}/locations/{region}",
            batch=dataproc_v1.Batch(message),
            batch_id=batch_id,
        )
    except Conflict:  # 409: ALREADY_EXISTS for a batch id in use
        raise _usage(
            f"batch {batch_id} exists already (same code, image, input and options): see"
            f" `dataproc-faces status --serverless {batch_id}`, or pass --run-id to run it again"
        ) from None
    return Submitted(client, project, region, batch_id, output, batch=True)


def cmd_submit(args: argparse.Namespace) -> int:
    done = submit(args)
    print(done.job_id)
    print(f"dataproc-faces: submitted; results will be in {done.output}", file=sys.stderr)
    print(
        f"dataproc-faces: {console_url(done.project, done.region, done.job_id, done.batch)}",
        file=sys.stderr,
    )
    if args.wait:
        return wait_for(
            done.client,
            done.project,
            done.region,
            done.job_id,
            args.interval,
            args.timeout,
            batch=done.batch,
        )
    return 0


def _client_for(args: argparse.Namespace, region: str) -> tuple[Any, bool]:
    batch = serverless(args)
    return (batch_client(region) if batch else job_client(region)), batch


def cmd_status(args: argparse.Namespace) -> int:
    project, region = str(resolve(args, "project")), str(resolve(args, "region"))
    client, batch = _client_for(args, region)
    seen = look(client, project, region, args.job_id, batch)
    print(f"{args.job_id}: {seen.state}" + (f" ({seen.details})" if seen.details else ""))
    print(f"cluster: {seen.where}" if not batch else "runs on: Dataproc Serverless")
    if seen.output_uri:
        print(f"driver output: {seen.output_uri}")
    print(f"console: {console_url(project, region, args.job_id, batch)}")
    return 0


def cmd_wait(args: argparse.Namespace) -> int:
    project, region = str(resolve(args, "project")), str(resolve(args, "region"))
    client, batch = _client_for(args, region)
    return wait_for(client, project, region, args.job_id, args.interval, args.timeout, batch=batch)


def wait_for(
    client: Any,
    project: str,
    region: str,
    job_id: str,
    interval: float,
    timeout: float | None,
    *,
    batch: bool = False,
) -> int:
    """Poll until the job (or batch) ends; one progress line per state change (and a heartbeat)."""
    started = time.monotonic()
    last, last_line = "", 0.0
    while True:
        seen = look(client, project, region, job_id, batch)
        state = seen.state
        elapsed = time.monotonic() - started
        if state != last or elapsed - last_line >= 60:
            print(f"dataproc-faces: {job_id} {state} after {elapsed:.0f} s", file=sys.stderr)
            last, last_line = state, elapsed
        if seen.ended:
            break
        if timeout is not None and elapsed >= timeout:
            print(f"dataproc-faces: {job_id} still {state} after {timeout:.0f} s", file=sys.stderr)
            return EXIT_TIMEOUT
        time.sleep(interval)
    if seen.ok:
        return 0
    if seen.details:
        print(f"dataproc-faces: {seen.details}", file=sys.stderr)
    tail = driver_output_tail(seen.output_uri)
    if tail:
        print(f"--- last {TAIL_BYTES} bytes of the driver output ---", file=sys.stderr)
        print(tail, file=sys.stderr)
    return EXIT_FAILED


def driver_output_tail(uri: str, nbytes: int = TAIL_BYTES) -> str:
    """The end of the driver's output: Dataproc writes it as URI.000000000, .000000001, ..."""
    if not uri:
        return ""
    from dataproc_faces.storage.gcs import NAMES, GcsStore, client, split

    try:
        bucket, prefix = split(uri)
        blobs = sorted(b.name for b in client().list_blobs(bucket, prefix=prefix, fields=NAMES))
        if not blobs:
            return f"(no driver output at {uri})"
        data = GcsStore().read_tail(f"gs://{bucket}/{blobs[-1]}", nbytes)
    except Exception as exc:  # the tail is a courtesy: report, don't hide the job's own error
        return f"(cannot read the driver output at {uri}: {type(exc).__name__}: {exc})"
    return data.decode("utf-8", errors="replace")


def cmd_fetch(args: argparse.Namespace) -> int:
    """Copy a results prefix down; names that are not plain relative paths are skipped, loudly."""
    from dataproc_faces.results.layout import Results
    from dataproc_faces.results.ownership import NotOurs, claim
    from dataproc_faces.storage.base import join, normalise
    from dataproc_faces.storage.gcs import GcsStore
    from dataproc_faces.storage.local import LocalStore
    from dataproc_faces.storage.names import UnsafeName, safe_relative

    if not args.uri.startswith("gs://"):
        raise _usage(f"fetch copies from gs://, got {args.uri}")
    src, dst = normalise(args.uri), Path(args.dir)
    remote, local = GcsStore(), LocalStore(root=str(dst))
    if dst.exists() and not dst.is_dir():
        raise _usage(f"{args.dir} is a file: choose a new or empty folder")
    objects, skipped = [], 0
    for rel, size in remote.objects(src):
        try:
            objects.append((safe_relative(rel), size))
        except UnsafeName as exc:
            skipped += 1
            print(f"dataproc-faces: skipped {join(src, rel)!r}: {exc}", file=sys.stderr)
    try:  # a copy of results goes where results are, or nowhere that holds other files
        note = claim(Results(str(dst.resolve())), src)
    except NotOurs as exc:
        raise _usage(str(exc).replace("--output ", "", 1)) from None
    if note:
        print(f"dataproc-faces: {note}", file=sys.stderr)
    todo = [
        rel
        for rel, size in objects
        if not ((dst / rel).is_file() and (dst / rel).stat().st_size == size)
    ]

    def copy(rel: str) -> bool:
        try:
            local.write(str(dst / rel), remote.read(join(src, rel)))
        except (OSError, ValueError) as exc:  # a file/folder clash, a symlink out of dst, ...
            print(f"dataproc-faces: not copied {join(src, rel)!r}: {exc}", file=sys.stderr)
            return False
        return True

    with ThreadPoolExecutor(max_workers=max(1, args.threads)) as pool:
        failed = sum(not ok for ok in pool.map(copy, todo))
    print(
        f"dataproc-faces: {len(todo) - failed} copied, {len(objects) - len(todo)} already there, "
        f"{skipped} skipped, {failed} failed, from {src} to {dst}",
        file=sys.stderr,
    )
    return EXIT_FAILED if failed else 0
