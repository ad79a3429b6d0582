"""Helpers for the infra tests: run one stack's program under mocks and query what it declared."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HARNESS = Path(__file__).with_name("harness.py")
REPO = HARNESS.parents[2]
STACKS = ("dev", "prod")
# dev with runner serverless: no cluster, the job as a Serverless batch from a pushed image.
SERVERLESS_IMAGE = (
    "europe-west1-docker.pkg.dev/faces-test-project/dpf-dev-images/dataproc-faces-batch@sha256:"
    + "0123456789abcdef" * 4
)
SERVERLESS = {
    "dataproc-faces:runner": "serverless",
    "dataproc-faces:batch_image": SERVERLESS_IMAGE,
}


@dataclass
class Recorded:
    """Every resource the mocks saw for one stack, and the stack's outputs."""

    stack: str
    resources: list[dict[str, Any]]
    outputs: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    by_urn: dict[str, dict[str, Any]] = field(init=False)

    def __post_init__(self) -> None:
        self.by_urn = {r["urn"]: r for r in self.resources}

    def of_type(self, token: str, *, at_least: int = 1) -> list[dict[str, Any]]:
        """Resources of one type; asserts at least `at_least` exist, so no check is vacuous."""
        found = [r for r in self.resources if r["type"] == token]
        assert len(found) >= at_least, (
            f"{self.stack}: expected >= {at_least} {token}, got {len(found)}"
        )
        return found

    def one(self, token: str) -> dict[str, Any]:
        found = self.of_type(token)
        assert len(found) == 1, f"{self.stack}: expected exactly one {token}, got {len(found)}"
        return found[0]

    def named(self, token: str, suffix: str) -> dict[str, Any]:
        found = [r for r in self.of_type(token) if r["name"].endswith(suffix)]
        assert len(found) == 1, f"{self.stack}: no single {token} named *{suffix}"
        return found[0]

    def depends_on(self, resource: dict[str, Any], urn: str) -> bool:
        """True if `resource` depends on `urn` directly or through other resources."""
        seen: set[str] = set()
        todo = list(resource["dependencies"])
        while todo:
            dep = todo.pop()
            if dep == urn:
                return True
            if dep not in seen and dep in self.by_urn:
                seen.add(dep)
                todo.extend(self.by_urn[dep]["dependencies"])
        return False


def run_harness(
    stack: str, tmp_path: Path, overrides: dict[str, Any] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the program for `stack` (with config overrides) under mocks in a fresh process."""
    args = [sys.executable, str(HARNESS), stack, str(tmp_path / f"{stack}.json")]
    if overrides is not None:
        args.append(json.dumps(overrides))
    return subprocess.run(args, capture_output=True, text=True, cwd=REPO, timeout=120, check=False)
