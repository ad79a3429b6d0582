"""Fixtures for the infra tests: each stack's program run once under mocks, in its own process."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable

import pytest
from stackrun import STACKS, Recorded, run_harness


@pytest.fixture(scope="session")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Recorded]:
    """`recorded("dev")`: that stack's resources, computed once per test session."""
    cache: dict[str, Recorded] = {}

    def get(stack: str) -> Recorded:
        if stack not in cache:
            tmp = tmp_path_factory.mktemp(f"stack-{stack}")
            proc = run_harness(stack, tmp)
            assert proc.returncode == 0, proc.stderr
            data = json.loads((tmp / f"{stack}.json").read_text())
            cache[stack] = Recorded(stack, data["resources"], data["outputs"])
        return cache[stack]

    return get


@pytest.fixture(params=STACKS)
def stack(request: pytest.FixtureRequest, recorded: Callable[[str], Recorded]) -> Recorded:
    """Parametrises a test over both stacks."""
    return recorded(request.param)


@pytest.fixture
def harness() -> Callable[..., subprocess.CompletedProcess[str]]:
    return run_harness
