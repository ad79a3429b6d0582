"""Deploying a stack again after `pulumi destroy`: the kept results bucket and the custom role."""

from __future__ import annotations

import re
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
    # The import would fail on the labels (the provider reads back none of them, and its
    # attribution label in pulumiLabels): that one `up` leaves them as the bucket has them.
    assert results["ignore_changes"] == ["labels", "pulumiLabels"]
    assert results["inputs"]["labels"]["role"] == "results"  # still declared, for the next up
    others = [b for b in rec.of_type(BUCKET, at_least=4) if b is not results]
    assert len(others) == 3 and all(b["import_id"] == "" for b in others)
    assert all(b["ignore_changes"] == [] for b in others)
    (warning,) = rec.warnings
    assert warning.startswith("config key 'dataproc-faces:adopt_results_bucket' is true:")
    assert "set it to false and run `pulumi up --refresh` again" in warning


def test_without_adopting_the_results_bucket_labels_are_managed(stack: Recorded) -> None:
    results = stack.named(BUCKET, "-storage-results")
    assert results["import_id"] == "" and results["ignore_changes"] == []
    assert results["inputs"]["labels"] == {
        "app": "dataproc-faces",
        "env": stack.stack,
        "managed-by": "pulumi",
        "cost-center": f"faces-{stack.stack}",
        "role": "results",
    }


def test_the_docs_adopt_through_the_program_not_an_import_with_a_parent() -> None:
    """After a completed destroy the Storage component is gone from the state, so
    `pulumi import --parent <its URN>` fails ("unknown parent"): the docs must not offer it."""
    text = (REPO / "docs" / "deploy.md").read_text()
    start = text.index("### Deploying prod again after `destroy`")
    section = text[start : text.index("\n## ", start)]
    steps = [line for line in section.splitlines() if line.startswith("pulumi ")]
    assert steps == [
        "pulumi config set dataproc-faces:adopt_results_bucket true",
        "pulumi up --refresh",
        "pulumi config set dataproc-faces:adopt_results_bucket false",
        "pulumi up --refresh",
    ]
    assert "`up` then updates what differs" not in text


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
