"""Deploying a stack again after `pulumi destroy`: the kept results bucket and the custom role."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

from stackrun import REPO, Recorded
from test_job import program

BUCKET = "gcp:storage/bucket:Bucket"
ROLE = "gcp:projects/iAMCustomRole:IAMCustomRole"
SA = "gcp:serviceaccount/account:Account"
PROJECT_IAM = "gcp:projects/iAMMember:IAMMember"
ADOPT = {"dataproc-faces:adopt_results_bucket": "true"}


def engine_urn(rec: Recorded, resource: dict[str, Any]) -> str:
    """The URN the Pulumi engine gives (the mocks' URNs name only the nearest parent's type)."""
    types, node = [resource["type"]], resource
    while node["parent"] in rec.by_urn:
        node = rec.by_urn[node["parent"]]
        types.append(node["type"])
    qualified = "$".join(reversed(types))
    return f"urn:pulumi:{rec.stack}::dataproc-faces::{qualified}::{resource['name']}"


def test_no_resource_is_imported_by_default(stack: Recorded) -> None:
    assert len(stack.resources) > 30
    assert [r["name"] for r in stack.resources if r["import_id"]] == []


def test_adopt_results_bucket_imports_the_kept_bucket_by_its_name(tmp_path: Path) -> None:
    rec = program(tmp_path, ADOPT, stack="prod")
    results = rec.named(BUCKET, "-storage-results")
    name = "faces-test-project-dpf-prod-results"
    assert results["import_id"] == results["inputs"]["name"] == name
    assert results["retain_on_delete"] is True
    others = [b for b in rec.of_type(BUCKET, at_least=4) if b is not results]
    assert len(others) == 3 and all(b["import_id"] == "" for b in others)


def test_the_documented_import_command_names_the_results_bucket(recorded) -> None:
    prod = recorded("prod")
    results = prod.named(BUCKET, "-storage-results")
    text = (REPO / "docs" / "deploy.md").read_text()
    match = re.search(r"^pulumi import (.+?)\n(?!  )", text.replace("\\\n", ""), re.M)
    assert match, "docs/deploy.md shows no `pulumi import` command"
    args = shlex.split(match.group(1).replace('"$PROJECT', '"faces-test-project'))
    assert args[:3] == [results["type"], results["name"], results["inputs"]["name"]]
    parent = prod.by_urn[results["parent"]]
    assert args[args.index("--parent") + 1] == f"storage={engine_urn(prod, parent)}"
    assert "--protect=false" in args


def test_role_id_carries_the_devhost_account_unique_id(stack: Recorded) -> None:
    role = stack.one(ROLE)["inputs"]
    devhost = stack.named(SA, "-devhost-sa")["state"]
    assert re.fullmatch(r"[0-9]{21}", devhost["uniqueId"])
    assert role["roleId"] == f"dataprocFacesJobSubmitter_{stack.stack}_{devhost['uniqueId']}"
    assert re.fullmatch(r"[a-zA-Z0-9_.]{3,64}", role["roleId"])  # IAM's rule for role ids


def test_a_redeploy_gets_a_new_role_id_an_update_keeps_it(tmp_path: Path) -> None:
    first, again = program(tmp_path, {}), program(tmp_path, {})
    recreated = program(tmp_path, {}, "sa_generation=2")
    ids = [r.one(ROLE)["inputs"]["roleId"] for r in (first, again, recreated)]
    assert ids[0] == ids[1]  # same account: no replacement of the role or its grant
    assert ids[2] != ids[0] and ids[2].startswith("dataprocFacesJobSubmitter_dev_")
    # The devhost's project grant follows the role it names.
    grant = next(
        g["inputs"]["role"]
        for g in recreated.of_type(PROJECT_IAM)
        if g["inputs"]["member"].startswith("serviceAccount:dpf-dev-devhost@")
    )
    assert grant == f"projects/faces-test-project/roles/{ids[2]}"
