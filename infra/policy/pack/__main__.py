"""CrossGuard pack entry for `pulumi up --policy-pack infra/policy/pack`; never returns."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repo root, for `infra`

from pulumi_policy import PolicyPack

from infra.policy.policies import PACK_NAME, build_policies

PolicyPack(name=PACK_NAME, policies=build_policies())
