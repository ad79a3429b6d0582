"""Fixtures for the infra tests: each stack's program run once under mocks, in its own process."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from stackrun import SERVERLESS, STACKS, Recorded, run_harness


@pytest.fixture(scope="session")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Recorded]:
    """`recorded("dev")`: that stack's resources; both stacks run once per session, concurrently."""
    cache: dict[str, Recorded] = {}

    def run(stack: str) -> Recorded:
        tmp = tmp_path_factory.mktemp(f"stack-{stack}")
        proc = run_harness(stack, tmp)
        assert proc.returncode == 0, f"{stack} program failed under mocks:\n{proc.stderr}"
        data = json.loads((tmp / f"{stack}.json").read_text())
        return Recorded(stack, data["resources"], data["outputs"], data["warnings"])

    def get(stack: str) -> Recorded:
        if not cache:
            with ThreadPoolExecutor(len(STACKS)) as pool:
                cache.update(zip(STACKS, pool.map(run, STACKS), strict=True))
        return cache[stack]

    return get


@pytest.fixture(params=STACKS)
def stack(request: pytest.FixtureRequest, recorded: Callable[[str], Recorded]) -> Recorded:
    """Parametrises a test over both stacks."""
    return recorded(request.param)


@pytest.fixture(scope="session")
def serverless(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    """dev with `runner: serverless` and a pushed batch image, run once per session."""
    tmp = tmp_path_factory.mktemp("stack-serverless")
    proc = run_harness("dev", tmp, SERVERLESS)
    assert proc.returncode == 0, f"serverless dev failed under mocks:\n{proc.stderr}"
    data = json.loads((tmp / "dev.json").read_text())
    return Recorded("dev", data["resources"], data["outputs"], data["warnings"])
