"""Runs the real Pulumi program for one stack under mocks and dumps every resource as JSON.

Run in a subprocess per stack (pulumi's runtime state is process-global):
    python tests/infra/harness.py STACK OUT.json [OVERRIDES_JSON]
OVERRIDES_JSON maps full config keys to a value, or to null to remove the key.
Dataproc calls the program makes itself go to the stand-in (tests/e2e/dataproc_standin.py), which
knows each cluster the mocks create; with HARNESS_CLUSTER_GONE=1 set it knows none, as after dev's
idle deletion. Build output goes next to OUT.json, never into the repository.
The JSON has `resources`, `outputs` and `warnings` (what the program passed to pulumi.log.warn).
A pulumi.RunError is printed as one `error:` line with exit status 32, like Pulumi's language
host does; any other exception prints its traceback (exit 1), so tests can tell them apart.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import runpy
import sys
import traceback
import warnings
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
TEST_PROJECT = "faces-test-project"
PROJECT_NUMBER = "123456789012"
# The one provider function the program calls: Cloud Storage's service agent (infra/feed.py).
STORAGE_AGENT_CALL = "gcp:storage/getProjectServiceAccount:getProjectServiceAccount"
STORAGE_AGENT = f"service-{PROJECT_NUMBER}@gs-project-accounts.iam.gserviceaccount.com"
CLUSTER_GONE_ENV = "HARNESS_CLUSTER_GONE"
# The state the provider reads back for a Serverless batch (a failed one: FAILED).
BATCH_STATE_ENV = "HARNESS_BATCH_STATE"
# HARNESS_PREVIEW=1: run as `pulumi preview` does (is_dry_run; what the provider computes on
# create, such as a batch's state, is unknown).
PREVIEW_ENV = "HARNESS_PREVIEW"
# HARNESS_FAILED_BATCH=ID: Dataproc already holds a FAILED batch ID that the stack does not (an
# earlier `up` whose create failed: the provider drops such a resource). As Dataproc does, the
# mocks then refuse to create a batch under an id in use (ALREADY_EXISTS).
FAILED_BATCH_ENV = "HARNESS_FAILED_BATCH"


def stack_config(stack: str, overrides: dict[str, Any] | None = None) -> dict[str, str]:
    """The stack file's config as Pulumi hands it to programs: strings, maps as JSON."""
    raw = yaml.safe_load((REPO / f"Pulumi.{stack}.yaml").read_text())["config"]
    values: dict[str, Any] = {"gcp:project": TEST_PROJECT, **raw, **(overrides or {})}
    out: dict[str, str] = {}
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, dict | list):
            out[key] = json.dumps(value)
        else:
            out[key] = str(value)
    return out


def _plain(value: Any) -> Any:
    """Deserialized property values -> JSON-able (assets become their path)."""
    import pulumi

    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, pulumi.FileAsset):
        return {"__file_asset": str(value.path)}
    if isinstance(value, pulumi.asset.Asset | pulumi.asset.Archive):
        return {"__asset": type(value).__name__}
    if isinstance(value, pulumi.Resource):
        return {"__resource": type(value).__name__}
    return value


def unique_id(email: str, generation: int = 1) -> str:
    """A service account's numeric unique id (21 digits), new each time the account is created."""
    digest = hashlib.sha256(f"{email}#{generation}".encode()).hexdigest()
    return "1" + str(int(digest, 16))[:20]


def _computed(typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """What the provider would compute: names, ids, emails, urls, self links."""
    project = inputs.get("project", TEST_PROJECT)
    rname = inputs.get("name") or name
    state: dict[str, Any] = {**inputs, "name": rname}
    compute = f"https://www.googleapis.com/compute/v1/projects/{project}"
    rid = f"{rname}-id"
    if typ == "gcp:storage/bucket:Bucket":
        state |= {
            "url": f"gs://{rname}",
            "selfLink": f"https://www.googleapis.com/storage/v1/b/{rname}",
        }
        rid = rname
    elif typ == "gcp:storage/bucketObject:BucketObject":
        state |= {"outputName": rname, "selfLink": f"https://storage/{inputs['bucket']}/{rname}"}
    elif typ == "gcp:serviceaccount/account:Account":
        email = f"{inputs['accountId']}@{project}.iam.gserviceaccount.com"
        rid = f"projects/{project}/serviceAccounts/{email}"
        state |= {
            "email": email,
            "name": rid,
            "member": f"serviceAccount:{email}",
            "uniqueId": unique_id(email),
        }
    elif typ == "gcp:projects/iAMCustomRole:IAMCustomRole":
        rid = f"projects/{project}/roles/{inputs['roleId']}"
        state |= {"name": rid}
    elif typ == "gcp:compute/network:Network":
        rid = f"projects/{project}/global/networks/{rname}"
        state |= {"selfLink": f"{compute}/global/networks/{rname}"}
    elif typ == "gcp:compute/subnetwork:Subnetwork":
        rid = f"projects/{project}/regions/{inputs['region']}/subnetworks/{rname}"
        state |= {"selfLink": f"{compute}/regions/{inputs['region']}/subnetworks/{rname}"}
    elif typ == "gcp:compute/instance:Instance":
        state |= {"selfLink": f"{compute}/zones/{inputs['zone']}/instances/{rname}"}
    elif typ == "gcp:dataproc/autoscalingPolicy:AutoscalingPolicy":
        location, policy = inputs["location"], inputs["policyId"]
        rid = f"projects/{project}/locations/{location}/autoscalingPolicies/{policy}"
        state |= {"name": rid}
    elif typ == "gcp:artifactregistry/repository:Repository":
        rid = f"projects/{project}/locations/{inputs['location']}/repositories/"
        rid += inputs["repositoryId"]
        state |= {"name": inputs["repositoryId"]}
    elif typ == "gcp:dataproc/batch:Batch":
        rid = f"projects/{project}/locations/{inputs['location']}/batches/{inputs['batchId']}"
        failed = os.environ.get(BATCH_STATE_ENV, "SUCCEEDED")
        state |= {"name": rid}
        if os.environ.get(PREVIEW_ENV) != "1":
            state |= {"state": failed, "uuid": "standin-batch-uuid"}
        if failed != "SUCCEEDED":
            state["stateMessage"] = "Job failed with message [main.py exited with status 2]."
    elif typ == "gcp:pubsub/topic:Topic":
        rid = f"projects/{project}/topics/{rname}"
    elif typ == "gcp:pubsub/subscription:Subscription":
        rid = f"projects/{project}/subscriptions/{rname}"
    elif typ == "gcp:projects/serviceIdentity:ServiceIdentity":
        agent = inputs["service"].split(".")[0]
        email = f"service-{PROJECT_NUMBER}@gcp-sa-{agent}.iam.gserviceaccount.com"
        state |= {"email": email, "member": f"serviceAccount:{email}"}
    elif typ.startswith("gcp:compute/"):
        state |= {"selfLink": f"{compute}/{typ.split('/')[1].split(':')[0]}/{rname}"}
    return rid, state


def run(stack: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run __main__.py for `stack` under mocks; return recorded resources and outputs."""
    sys.path.insert(0, str(REPO))
    import pulumi
    from pulumi.runtime import mocks
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    from tests.e2e.dataproc_standin import DataprocStandIn

    dataproc = DataprocStandIn({}, staging_bucket="unused", clusters=set())
    dataproc.__enter__()
    planted = os.environ.get(FAILED_BATCH_ENV)
    if planted:
        dataproc.batches[planted] = {
            "name": f"projects/{TEST_PROJECT}/locations/europe-west1/batches/{planted}",
            "uuid": "earlier-batch-uuid",
            "state": os.environ.get("HARNESS_FAILED_BATCH_STATE", "FAILED"),
            "stateMessage": "Job failed with message [main.py exited with status 2].",
            "stateTime": "2026-01-01T00:00:00Z",
            "stateHistory": [],
        }
    os.environ["DATAPROC_ENDPOINT"] = dataproc.url
    keep_clusters = os.environ.get(CLUSTER_GONE_ENV) != "1"

    records: list[dict[str, Any]] = []
    warnings: list[str] = []

    class Warnings(logging.Handler):
        """pulumi.log.warn under mocks goes to a logger: keep what the program warns about."""

        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno == logging.WARNING:
                warnings.append(record.getMessage())

    logger = logging.getLogger("dataproc-faces-harness")
    logger.propagate = False
    logger.addHandler(Warnings())

    class Mocks(mocks.Mocks):
        def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
            if args.typ == "gcp:dataproc/batch:Batch" and os.environ.get(PREVIEW_ENV) != "1":
                batch_id = args.inputs["batchId"]
                if batch_id in dataproc.batches:  # the provider's create: Dataproc's 409
                    raise pulumi.RunError(
                        f"Error creating Batch: googleapi: Error 409: Already exists: Failed to"
                        f" create batch: Batch projects/{TEST_PROJECT}/locations/europe-west1/"
                        f"batches/{batch_id}"
                    )
            rid, state = _computed(args.typ, args.name, dict(args.inputs))
            if args.typ == "gcp:dataproc/cluster:Cluster" and keep_clusters:
                dataproc.clusters.add(state["name"])
            return rid, state

        def call(self, args: mocks.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
            if args.token == STORAGE_AGENT_CALL:
                project = args.args.get("project") or TEST_PROJECT
                return {
                    "emailAddress": STORAGE_AGENT,
                    "member": f"serviceAccount:{STORAGE_AGENT}",
                    "project": project,
                    "id": project,
                }, []
            raise AssertionError(f"the program must not call provider functions: {args.token}")

    class Monitor(mocks.MockMonitor):
        """Records what RegisterResource receives, options included (mocks only see inputs)."""

        def RegisterResource(self, request: Any) -> Any:
            response = super().RegisterResource(request)
            if request.type != "pulumi:pulumi:Stack":
                reg = self.resources.get(response.urn)
                ct = request.customTimeouts
                records.append(
                    {
                        "type": request.type,
                        "name": request.name,
                        "urn": response.urn,
                        "parent": request.parent,
                        "custom": bool(request.custom),
                        "inputs": _plain(pulumi.runtime.rpc.deserialize_properties(request.object)),
                        "state": _plain(reg.state) if reg else None,
                        "dependencies": list(request.dependencies),
                        "ignore_changes": list(request.ignoreChanges),
                        "retain_on_delete": bool(request.retainOnDelete),
                        "delete_before_replace": bool(request.deleteBeforeReplace),
                        "import_id": request.importId,
                        "property_dependencies": {
                            key: list(deps.urns)
                            for key, deps in request.propertyDependencies.items()
                        },
                        "protect": bool(request.protect),
                        "custom_timeouts": {
                            "create": ct.create,
                            "update": ct.update,
                            "delete": ct.delete,
                        },
                    }
                )
            return response

    pulumi.runtime.set_all_config(stack_config(stack, overrides))
    mocks.set_mocks(
        Mocks(),
        project="dataproc-faces",
        stack=stack,
        preview=os.environ.get(PREVIEW_ENV) == "1",
        logger=logger,
        monitor=Monitor(Mocks()),
    )

    exports: dict[str, Any] = {}
    pulumi.export = lambda key, value: exports.__setitem__(key, value)  # type: ignore[assignment]
    outputs: dict[str, Any] = {}

    def program() -> None:
        runpy.run_path(str(REPO / "__main__.py"), run_name="__main__")
        outputs.update(_sync_await(pulumi.Output.from_input(exports).future()) or {})

    try:
        _sync_await(run_pulumi_func(program))
    finally:
        dataproc.__exit__(None, None, None)
    return {
        "resources": records,
        "outputs": _plain(outputs),
        "warnings": warnings,
        "standin_batches": sorted(dataproc.batches),
    }


def main(argv: list[str]) -> int:
    import pulumi

    stack, out = argv[1], Path(argv[2])
    overrides = json.loads(argv[3]) if len(argv) > 3 else None
    sys.path.insert(0, str(REPO))
    # As pyproject.toml's pytest filter: google.api_core's notice about Python 3.11 would be a
    # second line on stderr, which the tests read as the program's one error line.
    warnings.filterwarnings("ignore", "You are using a Python version", FutureWarning)
    from infra.artifacts import BUILD_DIR_ENV

    os.environ[BUILD_DIR_ENV] = str(out.parent / "build")
    try:
        result = run(stack, overrides)
    except pulumi.RunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 32
    except Exception:
        traceback.print_exc()
        return 1
    out.write_text(json.dumps(result, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
