"""CrossGuard baseline: every policy passes on both stacks, fails on a bad resource of its kind."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from stackrun import STACKS, Recorded

from infra.policy.policies import build_policies
from infra.policy.validators import VALIDATORS, violations

NAMES = [v.name for v in VALIDATORS]


@pytest.fixture(scope="session")
def recorded(recorded: Callable[[str], Recorded]) -> Callable[[str], Recorded]:
    """The stacks, kept in POLICY_RECORDED_CACHE when set (scripts/mutate.sh sets it).

    A mutation run starts a pytest session per mutant; the program under mocks never imports
    infra.policy, so its stacks are the same for every policy mutant and are recorded once.
    """
    folder = os.environ.get("POLICY_RECORDED_CACHE")
    if not folder:
        return recorded

    def get(stack: str) -> Recorded:
        path = Path(folder) / f"{stack}.json"
        if path.exists():
            data = json.loads(path.read_text())
            return Recorded(stack, data["resources"], data["outputs"], data["warnings"])
        rec = recorded(stack)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(
            json.dumps({k: getattr(rec, k) for k in ("resources", "outputs", "warnings")})
        )
        tmp.replace(path)
        return rec

    return get


def test_every_policy_passes_on_both_stacks(recorded: Callable[[str], Recorded]) -> None:
    checked = {name: 0 for name in NAMES}
    for stack in STACKS:
        for r in recorded(stack).resources:
            if not r["custom"]:
                continue
            assert violations(r["type"], r["inputs"]) == {}, f"{stack}: {r['name']}"
            for v in VALIDATORS:
                checked[v.name] += r["type"] in v.types
    # Each policy looked at real resources of its kind in the stacks (no vacuous pass).
    assert all(n >= 2 for n in checked.values()), checked


def _first(rec: Recorded, token: str, pred: Callable[[dict[str, Any]], bool] = lambda r: True):
    return copy.deepcopy(next(r for r in rec.resources if r["type"] == token and pred(r))["inputs"])


def _bad_resources(rec: Recorded) -> list[tuple[str, str, dict[str, Any]]]:
    """(policy, type, props): one good resource from the stack, broken in one way."""
    inst, clus = "gcp:compute/instance:Instance", "gcp:dataproc/cluster:Cluster"
    fw, bucket = "gcp:compute/firewall:Firewall", "gcp:storage/bucket:Bucket"
    out = []

    vm = _first(rec, inst)
    vm["networkInterfaces"][0]["accessConfigs"] = [{}]
    out.append(("no-external-ip", inst, vm))
    cl = _first(rec, clus)
    cl["clusterConfig"]["gceClusterConfig"]["internalIpOnly"] = False
    out.append(("no-external-ip", clus, cl))

    vm = _first(rec, inst)
    vm["serviceAccount"]["email"] = "123456-compute@developer.gserviceaccount.com"
    out.append(("no-default-compute-service-account", inst, vm))
    cl = _first(rec, clus)
    del cl["clusterConfig"]["gceClusterConfig"]["serviceAccount"]
    out.append(("no-default-compute-service-account", clus, cl))

    for token in (
        "gcp:projects/iAMMember:IAMMember",
        "gcp:storage/bucketIAMMember:BucketIAMMember",
    ):
        grant = _first(rec, token)
        grant["role"] = "roles/editor"
        out.append(("no-primitive-roles", token, grant))

    b = _first(rec, bucket)
    b["uniformBucketLevelAccess"] = False
    out.append(("bucket-ubla-and-pap", bucket, b))
    b = _first(rec, bucket)
    b["publicAccessPrevention"] = "inherited"
    out.append(("bucket-ubla-and-pap", bucket, b))

    ssh = _first(rec, fw, lambda r: r["name"].endswith("-allow-iap-ssh"))
    ssh["sourceRanges"] = ["35.235.240.0/20", "203.0.113.0/24"]
    out.append(("ssh-and-web-only-from-iap", fw, ssh))
    internal = _first(rec, fw, lambda r: r["name"].endswith("-allow-internal"))
    internal["sourceRanges"] = ["0.0.0.0/0"]
    out.append(("ssh-and-web-only-from-iap", fw, internal))
    web = _first(rec, fw, lambda r: r["name"].endswith("-allow-iap-web"))
    web["sourceRanges"] = ["10.0.0.0/8"]  # the page open to the VPC, not only to IAP
    out.append(("ssh-and-web-only-from-iap", fw, web))

    vm = _first(rec, inst)
    vm["shieldedInstanceConfig"]["enableSecureBoot"] = False
    out.append(("shielded-vm", inst, vm))
    cl = _first(rec, clus)
    del cl["clusterConfig"]["gceClusterConfig"]["shieldedInstanceConfig"]
    out.append(("shielded-vm", clus, cl))
    return out


@pytest.mark.parametrize("stack_name", STACKS)
def test_every_policy_fails_on_a_bad_resource_of_its_kind(
    stack_name: str, recorded: Callable[[str], Recorded]
) -> None:
    bad = _bad_resources(recorded(stack_name))
    assert {policy for policy, _, _ in bad} == set(NAMES)
    for policy, token, props in bad:
        found = violations(token, props)
        assert list(found) == [policy], (policy, token, found)


class _Args:
    """The two fields of ResourceValidationArgs the policies read."""

    def __init__(self, resource_type: str, props: dict[str, Any]) -> None:
        self.resource_type = resource_type
        self.props = props


def test_crossguard_policies_report_through_report_violation(
    recorded: Callable[[str], Recorded],
) -> None:
    policies = {p.name: p for p in build_policies()}
    assert set(policies) == set(NAMES)
    for policy, token, props in _bad_resources(recorded("prod")):
        reported: list[str] = []
        validate = policies[policy].validate
        validate(_Args(token, props), lambda msg, urn=None, r=reported: r.append(msg))
        assert reported, policy


def test_ssh_rules_edge_cases() -> None:
    fw = "gcp:compute/firewall:Firewall"
    iap = {"direction": "INGRESS", "sourceRanges": ["35.235.240.0/24"]}
    assert violations(fw, {**iap, "allows": [{"protocol": "tcp", "ports": ["22"]}]}) == {}
    wide = {"direction": "INGRESS", "sourceRanges": ["10.0.0.0/8"]}
    assert "ssh-and-web-only-from-iap" in violations(
        fw, {**wide, "allows": [{"protocol": "tcp", "ports": ["20-30"]}]}
    )
    assert "ssh-and-web-only-from-iap" in violations(fw, {**wide, "allows": [{"protocol": "all"}]})
    assert violations(fw, {**wide, "allows": [{"protocol": "tcp", "ports": ["443"]}]}) == {}
    assert violations(fw, {"direction": "EGRESS", "destinationRanges": ["0.0.0.0/0"]}) == {}


@pytest.mark.parametrize("source", ["::/0", "2001:db8::/32", "35.235.240.0/19", "not-a-range"])
def test_ssh_from_ipv6_or_outside_iap_is_a_violation_not_a_crash(source: str) -> None:
    fw = "gcp:compute/firewall:Firewall"
    props = {"direction": "INGRESS", "sourceRanges": [source]}
    found = violations(fw, {**props, "allows": [{"protocol": "tcp", "ports": ["22"]}]})
    assert "ssh-and-web-only-from-iap" in found
    messages = " ".join(found["ssh-and-web-only-from-iap"])
    assert f"port 22 allowed from ['{source}']" in messages
    if source == "::/0":
        assert "ingress from ::/0 (the whole internet)" in messages
