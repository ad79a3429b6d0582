"""The deployment docs say what a real `pulumi up` needs: refresh, pins, the URNs they quote, and
the first-deploy check reads outputs the program exports."""

from __future__ import annotations

import re
from pathlib import Path

from stackrun import REPO, STACKS
from test_redeploy import engine_urn

DEPLOY = (REPO / "docs" / "deploy.md").read_text()
CLOUD = (REPO / "docs" / "cloud.md").read_text()
README = (REPO / "README.md").read_text()
SCRIPT = (REPO / "scripts" / "first-deploy-check.sh").read_text()


def _readme_deploy_section() -> str:
    start = README.index("## Deploying to Google Cloud")
    return README[start : README.index("\n## ", start + 1)]


def _commands(markdown: str) -> list[str]:
    """Lines of fenced code blocks that run `pulumi up` or `pulumi preview`."""
    blocks = re.findall(r"^```(?:sh)?\n(.*?)^```", markdown, re.S | re.M)
    return [
        line.strip()
        for block in blocks
        for line in block.splitlines()
        if re.match(r"\s*pulumi (up|preview)\b", line)
    ]


def test_every_up_and_preview_refreshes_so_an_idle_deleted_cluster_is_seen() -> None:
    commands = [c for doc in (DEPLOY, CLOUD, _readme_deploy_section()) for c in _commands(doc)]
    assert len(commands) >= 8
    assert [c for c in commands if "--refresh" not in c] == []


def test_the_project_refreshes_on_every_operation_whatever_the_command_line() -> None:
    import yaml

    project = yaml.safe_load((Path(__file__).resolve().parents[2] / "Pulumi.yaml").read_text())
    assert project["options"] == {"refresh": "always"}


def test_pin_bump_is_documented_as_a_cluster_replacement() -> None:
    start = DEPLOY.index("The OpenCV version is **not** a config key")
    section = DEPLOY[start : DEPLOY.index("## What the program declares")]
    assert "**A pin bump replaces the cluster.**" in section
    assert "`opencv-python-headless==`, `openvino==` or `pillow==`" in section
    assert "`~ gcp:dataproc/cluster:Cluster (replace)`" in section


def test_the_documented_job_urn_is_the_jobs(recorded) -> None:
    dev = recorded("dev")
    job = dev.one("gcp:dataproc/job:Job")
    (urn,) = re.findall(r"pulumi up --refresh --replace '([^']+)'", CLOUD)
    assert urn == engine_urn(dev, job)


def test_first_deploy_check_reads_outputs_every_stack_exports(recorded) -> None:
    keys = set(re.findall(r'output ([a-z_]+)\)"', SCRIPT))
    assert {"zone", "nat_router", "job_state", "cluster_name"} <= keys
    for stack in STACKS:
        rec = recorded(stack)
        assert keys <= set(rec.outputs), stack
        assert rec.outputs["nat_router"] == f"dpf-{stack}-router"
        assert rec.outputs["zone"] == rec.one("gcp:compute/instance:Instance")["inputs"]["zone"]
        cc = rec.one("gcp:dataproc/cluster:Cluster")["inputs"]["clusterConfig"]
        assert cc["gceClusterConfig"]["zone"] == rec.outputs["zone"]


def test_first_deploy_checklist_has_an_entry_per_issue_point() -> None:
    start = DEPLOY.index("The first-deploy checklist")
    checklist = DEPLOY[start : DEPLOY.index("### The first `up` of dev")]
    assert re.findall(r"^([0-9]+)\. ", checklist, re.M) == [str(n) for n in range(1, 15)]
    # What only a real project can show: each has its entry.
    for needle in (
        "in two `up`s",
        "`code` line PASS",
        "no `roles/iam.serviceAccountUser`",
        "The `bf16` line PASS",
        "one sentence naming `pulumi up --refresh`",
        "API has not been used in project",  # a freshly enabled API: run `up` again
        "you need only the script above and items 6 and 13",
    ):
        assert needle in checklist, needle
    assert "scripts/first-deploy-check.sh" in DEPLOY and "scripts/first-deploy-check.sh" in (
        _readme_deploy_section()
    )


def test_every_config_key_is_in_the_deploy_table_and_the_defaults_are_todays() -> None:
    from infra.config import DEFAULTS

    table = DEPLOY[DEPLOY.index("| Key | Default |") : DEPLOY.index("`seed_samples`, `job_submit`")]
    assert [k for k in DEFAULTS if f"| `{k}` |" not in table] == []
    assert "BlazeFace" not in table  # RetinaFace has been the default detector since
    assert "| `batch_ttl` | `86400s`" in table and "**4 hours**" in table


def test_a_first_time_reader_creates_the_stack_and_sees_the_privacy_thresholds() -> None:
    short = _readme_deploy_section()
    assert "pulumi stack init dev" in short and "passphrase" in short
    assert "pulumi stack init dev" in CLOUD and "no stack named 'dev' found" in CLOUD
    assert "privacy threshold (0.2)" not in README
    assert "(RetinaFace 0.1, CenterFace 0.2)" in README
    # submit's reference names the hiding options, and the stack's job takes them too.
    for option in ("--mode outline|blur|pixelate|solid|both", "--mask-scale", "`job_render`"):
        assert option in CLOUD, option
    assert "python -m infra.quota" in DEPLOY and "python -m infra.quota" in short
    assert "What a stack costs while it stands" in DEPLOY
    assert "**An Owner of the project can skip this section**" in DEPLOY
