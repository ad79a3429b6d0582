"""The Dataproc job, as plain data: shared by `dataproc-faces submit` and the Pulumi program.

No network and no cloud imports here, so both sides (and unit tests) build the same job from
the same options: one place decides the main file, the package archive and main.py's arguments.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from dataproc_faces.detectors.base import DetectOptions
from dataproc_faces.imaging.options import render_flags
from dataproc_faces.imaging.render import (
    RenderOptions,
    detector_for,
    privacy_detect,
)

JOB_ID_PREFIX = "faces"
_JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
_RUN_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
# Serverless batch ids: 4-63 of a-z, 0-9 and '-' (Batches API); content-derived job ids fit.
_BATCH_ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,61}[a-z0-9]$")
TERMINAL_STATES = ("DONE", "ERROR", "CANCELLED")
# Batch.State: the ends of a Serverless batch, and the one that means it worked.
BATCH_TERMINAL_STATES = ("SUCCEEDED", "FAILED", "CANCELLED")
BATCH_DONE = "SUCCEEDED"
# A batch's `execution_config.ttl`: on runtime 2.1 and later a batch without one is ended after
# 4 hours; Dataproc accepts 10 minutes to 14 days (pulumi-gcp's BatchEnvironmentConfig
# ExecutionConfig `ttl` documentation, from the Batches API reference). One day by default.
BATCH_TTL_RANGE = (600, 1_209_600)
DEFAULT_BATCH_TTL = "86400s"

# Spark settings for the cluster run; spark.task.maxFailures > 1 lets a lost executor's tasks
# run again (writes are idempotent), speculation stays off so no image is detected twice at once.
DEFAULT_PROPERTIES: dict[str, str] = {
    "spark.task.maxFailures": "4",
    "spark.speculation": "false",
}


def detector_flags(detect: DetectOptions) -> list[str]:
    """Every detector option spelled out, so a run does not depend on the cluster's defaults."""
    flags = [
        "--detector",
        detect.detector,
        "--scale-factor",
        repr(float(detect.scale_factor)),
        "--min-neighbors",
        str(detect.min_neighbors),
        "--min-size",
        str(detect.min_size),
        "--detect-max-side",
        str(detect.detect_max_side),
        "--score-threshold",
        repr(float(detect.score())),
    ]
    if detect.max_size is not None:
        flags += ["--max-size", str(detect.max_size)]
    return flags


def detect_options(values: Mapping[str, Any], *, mode: str = "outline") -> DetectOptions:
    """DetectOptions from a config map (`{"detector": "centerface", "min_neighbors": 6}`).

    Values are checked with the same rules as the command-line flags; raises ValueError. A
    `mode` that hides faces fills in the detector's privacy threshold when none is given, as
    `run` and `submit` do (a missed face stays recognisable).
    """

    from dataproc_faces.cli import _positive_int, _scale_factor, _unit_float
    from dataproc_faces.detectors.base import DETECTORS

    def detector(text: str) -> str:
        if text not in DETECTORS:
            raise ValueError(f"must be one of {', '.join(sorted(DETECTORS))}, got {text}")
        return text

    checks = {
        "detector": detector,
        "scale_factor": _scale_factor,
        "min_neighbors": _positive_int,
        "min_size": _positive_int,
        "max_size": _positive_int,
        "detect_max_side": _positive_int,
        "score_threshold": _unit_float,
    }
    chosen = _checked(values, checks, "detector")
    # a mode that hides faces: the ensemble at its privacy threshold unless named, as `run` does
    chosen["detector"] = detector_for(mode, chosen.get("detector"))
    options = privacy_detect(DetectOptions(**chosen), mode)
    if options.max_size is not None and options.max_size < options.min_size:
        raise ValueError("max_size must not be smaller than min_size")
    return options


def render_options(values: Mapping[str, Any]) -> RenderOptions:
    """RenderOptions from a config map (`{"mode": "blur", "mask_scale": 1.5}`): what `run`'s
    --mode, --mask, --mask-scale, ... flags set, by the same rules; raises ValueError."""

    from dataproc_faces.imaging.anonymise import MASKS
    from dataproc_faces.imaging.options import (
        color,
        parse_blocks,
        parse_mask_scale,
        positive_float,
        too_weak,
    )
    from dataproc_faces.imaging.render import FACELESS, MODES

    def one_of(choices: Sequence[str]) -> Any:
        def check(text: str) -> str:
            if text not in choices:
                raise ValueError(f"must be one of {', '.join(choices)}, got {text}")
            return text

        return check

    def boolean(text: str) -> bool:
        if text.lower() not in ("true", "false"):
            raise ValueError(f"must be true or false, got {text}")
        return text.lower() == "true"

    checks = {
        "mode": one_of(MODES),
        "mask": one_of(MASKS),
        "mask_scale": parse_mask_scale,
        "blur_strength": positive_float,
        "pixelate_blocks": parse_blocks,
        "fill_color": color,
        "keep_metadata": boolean,
        "thumbnails": boolean,
        "faceless": one_of(FACELESS),
        "allow_weak": boolean,
    }
    render = RenderOptions(**_checked(values, checks, "output"))  # ValueError: do not go together
    weak = too_weak(render)
    if weak:  # in the config's words: the map's keys, not run's flags
        key = weak.split(" ", 1)[0].removeprefix("--").replace("-", "_")
        raise ValueError(
            f"{key}: " + weak.split(" ", 1)[1].replace("add --allow-weak", "set allow_weak: true")
        )
    return render


def _checked(values: Mapping[str, Any], checks: Mapping[str, Any], what: str) -> dict[str, Any]:
    """A config map's values through the command line's own checks: `key: why` on the first bad
    one, and unknown keys named with the known ones."""
    import argparse

    chosen: dict[str, Any] = {}
    for key, raw in values.items():
        if key not in checks:
            raise ValueError(f"unknown {what} option {key!r} (known: {', '.join(checks)})")
        if raw is None:
            continue
        try:
            chosen[key] = checks[key](str(raw).strip())
        except (ValueError, argparse.ArgumentTypeError) as exc:
            raise ValueError(f"{key}: {exc}") from None
    return chosen


def job_args(
    *,
    output: str,
    input: str | None = None,
    input_list: str | None = None,
    detect: DetectOptions | None = None,
    mode: str = "outline",
    render: RenderOptions | None = None,
    corrections: str | None = None,
) -> list[str]:
    """main.py's arguments: `run --input ... --output ... <detector flags> [--mode M ...]`;
    `render` (which supersedes `mode`) adds the output options that differ from the defaults;
    `corrections`: the gs:// URI of a corrections file (README, Corrections)."""
    if not input and not input_list:
        raise ValueError("a job needs an input prefix, an input list, or both")
    args = ["run"]
    if input:
        args += ["--input", input]
    if input_list:
        args += ["--input-list", input_list]
    args += ["--output", output]
    if corrections:
        args += ["--corrections", corrections]
    render = render or RenderOptions(mode=mode)
    args += detector_flags(detect or default_detect(render.mode))
    return args + render_flags(render)


def default_detect(mode: str) -> DetectOptions:
    """The detector options a mode gets when none are given: the ensemble at its privacy
    threshold when faces are hidden, today's single detector to outline."""
    return privacy_detect(DetectOptions(detector=detector_for(mode)), mode)


def check_run_id(run_id: str) -> str:
    """A user's tag for a new run: lowercase letters, digits and dashes (it goes in the job id)."""
    if run_id and not _RUN_ID.match(run_id):
        raise ValueError(f"run id {run_id!r}: use 1-40 of a-z, 0-9 and '-', starting alphanumeric")
    return run_id


def job_id(
    *,
    main_uri: str,
    package_uri: str,
    input: str | None,
    input_list: str | None = None,
    detect: DetectOptions | None = None,
    run_id: str = "",
    mode: str = "outline",
    render: RenderOptions | None = None,
    image: str = "",
) -> str:
    """`faces[-RUN]-<hash>`: the same for the same code, inputs and options, new otherwise.

    The output location is left out on purpose: results go to a folder named after the job id.
    The code is identified by the artefact URIs, which carry content hashes in their names, and
    for a Serverless batch by its container `image` too (the Python packages it runs on).
    """
    check_run_id(run_id)
    what = {
        "main": main_uri,
        "package": package_uri,
        "input": input or "",
        "input_list": input_list or "",
        "detect": (detect or default_detect((render or RenderOptions(mode=mode)).mode)).to_dict(),
        "run": run_id,
    }
    if image:  # only then: ids of cluster jobs stay what they were
        what["image"] = image
    render = render or RenderOptions(mode=mode)
    if render.mode != "outline":  # only then: ids of outline runs stay what they were
        what["mode"] = render.mode
    others = render_flags(replace(render, mode="outline"))
    if others:  # likewise: options at their defaults leave the id alone
        what["render"] = others
    digest = hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:12]
    return "-".join(p for p in (JOB_ID_PREFIX, run_id, digest) if p)


def pyspark_job(
    *,
    cluster: Any,
    main_uri: Any,
    package_uri: Any,
    args: Sequence[str],
    job_id: str | None = None,
    labels: Mapping[str, str] | None = None,
    properties: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The Dataproc `Job` message as a dict (proto field names): `dataproc_v1.Job(this)`."""
    if job_id is not None and not _JOB_ID.match(job_id):
        raise ValueError(f"job id {job_id!r}: use 1-100 of A-Z, a-z, 0-9, '_' and '-'")
    job: dict[str, Any] = {
        "placement": {"cluster_name": cluster},
        "pyspark_job": {
            **_pyspark_files(main_uri, package_uri, args),
            "properties": {**DEFAULT_PROPERTIES, **dict(properties or {})},
        },
        "labels": {"app": "dataproc-faces", **dict(labels or {})},
    }
    if job_id:
        job["reference"] = {"job_id": job_id}
    return job


def _pyspark_files(main_uri: Any, package_uri: Any, args: Sequence[str]) -> dict[str, Any]:
    """What both runners run: the main file, the package archive and main.py's arguments."""
    return {
        "main_python_file_uri": main_uri,
        "python_file_uris": [package_uri],
        "args": list(args),
    }


def check_batch_ttl(ttl: str) -> str:
    """A batch's time to live, "<seconds>s", within what Dataproc Serverless accepts."""
    found = re.fullmatch(r"([0-9]+)s", str(ttl).strip())
    low, high = BATCH_TTL_RANGE
    if not found or not low <= int(found.group(1)) <= high:
        raise ValueError(
            f"batch ttl {ttl!r}: use {low}s (10 minutes) to {high}s (14 days), in seconds with 's'"
        )
    return f"{int(found.group(1))}s"


def check_batch_id(batch_id: str) -> str:
    """A Serverless batch id: 4-63 of a-z, 0-9 and '-', starting and ending alphanumeric."""
    if not _BATCH_ID.match(batch_id):
        raise ValueError(
            f"batch id {batch_id!r}: use 4-63 of a-z, 0-9 and '-', starting and ending alphanumeric"
        )
    return batch_id


def pyspark_batch(
    *,
    main_uri: Any,
    package_uri: Any,
    args: Sequence[str],
    container_image: Any,
    runtime_version: str,
    service_account: Any,
    subnetwork: Any,
    staging_bucket: Any = None,
    network_tags: Sequence[str] = (),
    labels: Mapping[str, str] | None = None,
    properties: Mapping[str, str] | None = None,
    ttl: str = DEFAULT_BATCH_TTL,
) -> dict[str, Any]:
    """The Serverless `Batch` message as a dict (proto field names): `dataproc_v1.Batch(this)`.

    The same files, arguments and Spark properties as `pyspark_job`; what a cluster provides
    (Python packages, identity, network) comes from the container image and the execution config.
    `ttl` ("<seconds>s") always: without one, a batch on runtime 2.1+ is ended after 4 hours.
    """
    execution: dict[str, Any] = {
        "service_account": service_account,
        "subnetwork_uri": subnetwork,
        "ttl": check_batch_ttl(ttl),
    }
    if staging_bucket:
        execution["staging_bucket"] = staging_bucket
    if network_tags:
        execution["network_tags"] = list(network_tags)
    return {
        "pyspark_batch": _pyspark_files(main_uri, package_uri, args),
        "runtime_config": {
            "version": runtime_version,
            "container_image": container_image,
            "properties": {**DEFAULT_PROPERTIES, **dict(properties or {})},
        },
        "environment_config": {"execution_config": execution},
        "labels": {"app": "dataproc-faces", **dict(labels or {})},
    }


def regional_endpoint(region: str) -> str:
    """Jobs live in a region; the global endpoint does not serve them."""
    return f"{region}-dataproc.googleapis.com:443"


def console_url(project: str, region: str, job: str) -> str:
    return f"https://console.cloud.google.com/dataproc/jobs/{job}?region={region}&project={project}"


def batch_console_url(project: str, region: str, batch: str) -> str:
    return (
        f"https://console.cloud.google.com/dataproc/batches/{region}/{batch}/monitoring"
        f"?project={project}"
    )


def corrected_job_id(base: str, content: bytes) -> str:
    """The id of a run that applies a corrections file: the id of the run it corrects (whose
    results folder it writes into) and the file's content digest."""
    return f"{base}-c{hashlib.sha256(content).hexdigest()[:8]}"


def staged_corrections(main_uri: str, content: bytes) -> str:
    """Where `submit` uploads a local corrections file: next to the job's staged files, named by
    its content (the same file is one object, a new one never replaces what a job reads)."""
    folder = main_uri.rsplit("/", 1)[0]
    return f"{folder}/corrections/{hashlib.sha256(content).hexdigest()[:16]}.json"


def results_for(results_uri: str, job: str) -> str:
    """Where a run's outputs go: a folder named after its job id under the results prefix."""
    return results_uri.rstrip("/") + "/" + job
