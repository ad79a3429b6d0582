#!/usr/bin/env bash
# Builds the Serverless batch image, pushes it to the stack's Artifact Registry repository and
# prints the digest reference to set as dataproc-faces:batch_image (docs/deploy.md).
#  - Built for linux/amd64 whatever the machine: Dataproc Serverless runs x86-64 nodes, and an
#    image built on an Apple-silicon Mac without --platform is arm64 ("exec format error").
#  - Tagged with the commit. The repository's tags are immutable (a second push of a tag is
#    refused): a tag already there is not built or pushed again, its digest is printed (the
#    same commit built the same image). A working tree with uncommitted changes gets a tag of
#    its own, <commit>-dirty-<UTC time>, so each such build can be pushed.
# Usage: scripts/push-batch-image.sh REGISTRY [IMAGE]
#   REGISTRY: `pulumi stack output image_repository`; IMAGE: dataproc-faces-batch by default.
# Needs docker (logged in: gcloud auth configure-docker <region>-docker.pkg.dev), gcloud, git;
# run from the repository root.
set -euo pipefail

main() {
  local registry="${1:-}" image="${2:-dataproc-faces-batch}" commit tag ref existing pushed
  if [ -z "$registry" ]; then
    echo "usage: scripts/push-batch-image.sh REGISTRY (pulumi stack output image_repository)" >&2
    return 2
  fi
  commit="$(git rev-parse --short=12 HEAD 2>/dev/null || echo dev)"
  tag="$commit"
  if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    tag="$commit-dirty-$(date -u +%Y%m%d%H%M%S)"
  fi
  ref="$registry/$image:$tag"
  existing="$(gcloud artifacts docker images describe "$ref" \
    --format 'value(image_summary.digest)' 2>/dev/null)" || existing=""
  if [ -n "$existing" ]; then
    echo "$ref is in the repository already (its tags are immutable): not pushed again"
    pushed="$registry/$image@$existing"
  else
    docker build --platform linux/amd64 -f container/Dockerfile --target batch -t "$ref" .
    docker push "$ref"
    pushed="$(docker image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$ref" |
      grep "^$registry/" | head -n1)"
  fi
  echo "pushed $pushed"
  echo "next: pulumi config set dataproc-faces:batch_image $pushed && pulumi up"
}

main "$@"
