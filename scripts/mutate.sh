#!/usr/bin/env bash
# Mutation testing (`make mutate`): mutmut on the modules `[tool.mutmut] only_mutate` lists.
#
# mutmut names a mutant after its file's path, stripping only a leading `src/`. The package
# lives in spark/dataproc_faces, so run in place its mutants would be `spark.dataproc_faces.*`
# while the tests import `dataproc_faces.*`, and no test would ever reach them. So this stages
# a copy of the tree under build/mutate/ with the package at src/dataproc_faces, and runs
# mutmut there; PYTHONPATH=src makes the tests import the mutated copy rather than the
# editable install of spark/. The configuration is [tool.mutmut] in pyproject.toml.
#
# Usage: scripts/mutate.sh [MUTANT-NAME-GLOB ...]   e.g. 'dataproc_faces.detectors.base*'
# One worker only: the machines have 2 cores shared with Spark tests.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
STAGE="${MUTATE_STAGE:-$ROOT/build/mutate}"  # a second stage lets two runs go side by side
MUTMUT="$ROOT/.venv/bin/mutmut"

rm -rf "$STAGE"
mkdir -p "$STAGE/src"
cp -r "$ROOT/spark/dataproc_faces" "$STAGE/src/"
find "$STAGE/src" -name __pycache__ -prune -exec rm -rf {} +
# spark/ and init_actions/ unmutated too: the program run under mocks by the infra tests reads
# the job's files (package, main.py, weights, init action) from there.
for item in infra tests samples requirements.txt constraints.txt pyproject.toml Pulumi.yaml Pulumi.dev.yaml \
    Pulumi.prod.yaml __main__.py spark init_actions scripts; do
    cp -r "$ROOT/$item" "$STAGE/"
done
find "$STAGE" -name __pycache__ -prune -exec rm -rf {} +
# The policy tests' stacks, recorded once per run: that program never imports infra.policy.
export POLICY_RECORDED_CACHE="$STAGE/recorded-stacks"

cd "$STAGE"
export PYTHONPATH=src
"$MUTMUT" run --max-children 1 "$@"
"$MUTMUT" results --all true > results.txt || true
# The score per module, in mutmut's own terms, from its per-mutant results.
"$ROOT/.venv/bin/python" "$ROOT/scripts/mutate_summary.py" results.txt
