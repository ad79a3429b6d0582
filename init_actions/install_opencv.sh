#!/usr/bin/env bash
# Dataproc initialization action: installs the pinned opencv-python-headless into the Python
# that Spark uses on the node (the image's conda base), on every node role.
#
# The version comes from the cluster metadata attribute `opencv-version` (set by the Pulumi
# program from requirements.txt). The image's numpy is pinned while installing, so pip never
# upgrades it under the image's own packages. Idempotent: a node that already has the version
# (and a working cascade) is left alone. Exits non-zero with one clear line on any failure.
#
# Overridable for tests: GET_METADATA_VALUE (metadata command), DATAPROC_PYTHON (the python),
# PIP_MAX_ATTEMPTS and PIP_BACKOFF_SECONDS (retry policy).
set -euo pipefail

readonly METADATA_KEY="opencv-version"
readonly GET_METADATA_VALUE="${GET_METADATA_VALUE:-/usr/share/google/get_metadata_value}"
readonly DATAPROC_PYTHON="${DATAPROC_PYTHON:-/opt/conda/default/bin/python}"
readonly PIP_MAX_ATTEMPTS="${PIP_MAX_ATTEMPTS:-5}"
readonly PIP_BACKOFF_SECONDS="${PIP_BACKOFF_SECONDS:-5}"
readonly CASCADE="haarcascade_frontalface_default.xml"

log() { echo "install_opencv: $*" >&2; }
die() {
  echo "install_opencv: ERROR: $*" >&2
  exit 1
}

# Prints the installed opencv-python-headless version, or nothing.
installed_version() {
  "${DATAPROC_PYTHON}" -c \
    'import importlib.metadata as m; print(m.version("opencv-python-headless"))' 2>/dev/null || true
}

# Imports cv2 and loads the frontal-face cascade; prints cv2's version on success.
verify_cv2() {
  "${DATAPROC_PYTHON}" - "${CASCADE}" <<'PY'
import os
import sys

import cv2

path = os.path.join(cv2.data.haarcascades, sys.argv[1])
if cv2.CascadeClassifier(path).empty():
    sys.exit(f"cascade {path} is missing or empty")
print(cv2.__version__)
PY
}

main() {
  local role version numpy_version constraints attempt delay cv_version
  role="$("${GET_METADATA_VALUE}" attributes/dataproc-role 2>/dev/null || echo unknown)"

  version="$("${GET_METADATA_VALUE}" "attributes/${METADATA_KEY}" 2>/dev/null)" \
    || die "cannot read metadata attribute '${METADATA_KEY}' (set it on the cluster's gce_cluster_config.metadata)"
  if [[ ! "${version}" =~ ^[0-9]+\.[0-9]+\.[0-9]+(\.[0-9]+)?$ ]]; then
    die "metadata attribute '${METADATA_KEY}' is '${version}': expected an exact version such as 4.11.0.86"
  fi
  [[ -x "${DATAPROC_PYTHON}" ]] || die "no python at ${DATAPROC_PYTHON} (set DATAPROC_PYTHON)"

  if [[ "$(installed_version)" == "${version}" ]] && cv_version="$(verify_cv2 2>/dev/null)"; then
    log "opencv-python-headless ${version} (cv2 ${cv_version}) already installed on ${role}; nothing to do"
    return 0
  fi

  numpy_version="$("${DATAPROC_PYTHON}" -c 'import numpy; print(numpy.__version__)' 2>/dev/null)" \
    || die "the python at ${DATAPROC_PYTHON} has no numpy; refusing to let pip choose one"
  constraints="$(mktemp)"
  # shellcheck disable=SC2064  # expand now: the path is fixed once created
  trap "rm -f '${constraints}'" EXIT
  echo "numpy==${numpy_version}" >"${constraints}"

  log "installing opencv-python-headless==${version} into ${DATAPROC_PYTHON} on ${role} (numpy stays ${numpy_version})"
  attempt=1
  delay="${PIP_BACKOFF_SECONDS}"
  until "${DATAPROC_PYTHON}" -m pip install --quiet --no-input --disable-pip-version-check \
    --constraint "${constraints}" "opencv-python-headless==${version}"; do
    if ((attempt >= PIP_MAX_ATTEMPTS)); then
      die "pip install opencv-python-headless==${version} failed ${attempt} times (is the version published and compatible with numpy ${numpy_version}? can the node reach the package index through Cloud NAT?)"
    fi
    log "pip install failed (attempt ${attempt}/${PIP_MAX_ATTEMPTS}); retrying in ${delay}s"
    sleep "${delay}"
    attempt=$((attempt + 1))
    delay=$((delay * 2))
  done

  cv_version="$(verify_cv2)" \
    || die "opencv-python-headless ${version} installed but cv2 does not import or ${CASCADE} does not load"
  log "done: cv2 ${cv_version} with ${CASCADE} on ${role}"
}

main "$@"
