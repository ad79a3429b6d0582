#!/usr/bin/env bash
# Dataproc initialization action: installs the pinned opencv-python-headless, OpenVINO (the
# default detector's runtime), pillow-heif (HEIC/HEIF inputs) and PyAV (`av`: videos, FFmpeg's
# libraries in its wheel, checked by its H.264 encoder) into the Python that Spark uses
# on the node (the image's conda base), on every node role, and makes sure that Python can
# `import PIL` (the job reads image headers with Pillow).
#
# The OpenCV version comes from the cluster metadata attribute `opencv-version`, OpenVINO's from
# `openvino-version`, pillow-heif's from `pillow-heif-version` (it needs Pillow 11.1 or later: pip
# upgrades an older image Pillow), PyAV's from `av-version`, the Pillow version from `pillow-version` (all set by the Pulumi program
# from requirements.txt). OpenVINO is checked by compiling nothing: it must import and list the
# CPU device; the log line says whether this CPU gives it bf16 (AVX512-BF16/AMX) or fp32. Pillow is
# only installed if `import PIL` fails: an image that already carries a Pillow keeps it, and the
# `pillow-version` attribute is then not needed. The image's numpy is pinned while installing, so
# pip never upgrades it under the image's own packages; each pip install is retried with
# exponential backoff. Idempotent: a node that already has the OpenCV version (and a working
# cascade), the OpenVINO version (with its CPU device) and an importable PIL is left alone. Exits non-zero with one clear line on any failure.
#
# libturbojpeg (libjpeg-turbo's TurboJPEG library, a system package, not a wheel): the job writes a
# JPEG's output block-locally through it (imaging/jpegblocks.py) and, without it, encodes every JPEG
# whole. Installed with apt-get (`libturbojpeg0`, Debian and Ubuntu images) or dnf (`turbojpeg`,
# Rocky images) only when the node's python cannot load it already; checked by loading it the way
# the job does (ctypes) and finding its lossless transform. The package index is reached through
# the stack's Cloud NAT (infra/network.py), like pip's; retried with the same backoff.
#
# Overridable for tests: GET_METADATA_VALUE (metadata command), DATAPROC_PYTHON (the python),
# PIP_MAX_ATTEMPTS and PIP_BACKOFF_SECONDS (retry policy, pip and the system package), APT_GET and
# DNF (the package managers), TURBOJPEG_LIBRARY (the library's file name, as ctypes loads it).
set -euo pipefail

readonly METADATA_KEY="opencv-version"
readonly PILLOW_METADATA_KEY="pillow-version"
readonly OPENVINO_METADATA_KEY="openvino-version"
readonly HEIF_METADATA_KEY="pillow-heif-version"
readonly AV_METADATA_KEY="av-version"
readonly GET_METADATA_VALUE="${GET_METADATA_VALUE:-/usr/share/google/get_metadata_value}"
readonly DATAPROC_PYTHON="${DATAPROC_PYTHON:-/opt/conda/default/bin/python}"
readonly PIP_MAX_ATTEMPTS="${PIP_MAX_ATTEMPTS:-5}"
readonly PIP_BACKOFF_SECONDS="${PIP_BACKOFF_SECONDS:-5}"
readonly CASCADE="haarcascade_frontalface_default.xml"
readonly APT_GET="${APT_GET:-apt-get}"
readonly DNF="${DNF:-dnf}"
readonly TURBOJPEG_LIBRARY="${TURBOJPEG_LIBRARY:-libturbojpeg.so.0}"
readonly VERSION_RE='^[0-9]+\.[0-9]+\.[0-9]+(\.[0-9]+)?$'

log() { echo "install_opencv: $*" >&2; }
die() {
  echo "install_opencv: ERROR: $*" >&2
  exit 1
}

# Prints the exact version held by metadata attribute $1, or dies (example version in $2).
metadata_version() {
  local key="$1" example="$2" value
  value="$("${GET_METADATA_VALUE}" "attributes/${key}" 2>/dev/null)" \
    || die "cannot read metadata attribute '${key}' (set it on the cluster's gce_cluster_config.metadata)"
  if [[ ! "${value}" =~ ${VERSION_RE} ]]; then
    die "metadata attribute '${key}' is '${value}': expected an exact version such as ${example}"
  fi
  printf '%s' "${value}"
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

# Prints the installed openvino version, or nothing.
installed_openvino() {
  "${DATAPROC_PYTHON}" -c 'import importlib.metadata as m; print(m.version("openvino"))' \
    2>/dev/null || true
}

# Imports openvino and checks its CPU device; prints "VERSION PRECISION" (bf16 or fp32).
verify_openvino() {
  "${DATAPROC_PYTHON}" - <<'PY'
import sys

import openvino as ov

core = ov.Core()
if "CPU" not in core.available_devices:
    sys.exit(f"OpenVINO sees no CPU device: {core.available_devices}")
caps = core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
print(ov.__version__.split("-")[0], "bf16" if "BF16" in caps else "fp32")
PY
}

# Imports PIL (and PIL.Image, what the job uses); prints Pillow's version on success.
verify_pil() {
  "${DATAPROC_PYTHON}" -c 'import PIL, PIL.Image; print(PIL.__version__)'
}

# Prints the installed pillow-heif version, or nothing.
installed_heif() {
  "${DATAPROC_PYTHON}" -c 'import importlib.metadata as m; print(m.version("pillow-heif"))' \
    2>/dev/null || true
}

# Imports pillow_heif and registers its Pillow opener; prints its version on success.
verify_heif() {
  "${DATAPROC_PYTHON}" -c \
    'import pillow_heif; pillow_heif.register_heif_opener(); print(pillow_heif.__version__)'
}

# Prints the installed av (PyAV) version, or nothing.
installed_av() {
  "${DATAPROC_PYTHON}" -c 'import importlib.metadata as m; print(m.version("av"))' \
    2>/dev/null || true
}

# Imports av and finds the encoders videos need (libx264, AAC); prints its version on success.
verify_av() {
  "${DATAPROC_PYTHON}" -c \
    'import av; [av.codec.Codec(c, "w") for c in ("libx264", "aac")]; print(av.__version__)'
}

# Loads libturbojpeg as the job does and finds the calls it makes; prints the library's name.
verify_turbojpeg() {
  "${DATAPROC_PYTHON}" - "${TURBOJPEG_LIBRARY}" <<'PY'
import ctypes
import sys

lib = ctypes.CDLL(sys.argv[1])
for name in ("tjInitTransform", "tjTransform", "tjInitDecompress", "tjDecompress2", "tjFree"):
    getattr(lib, name)
print(sys.argv[1])
PY
}

# Installs the system package that carries libturbojpeg with apt-get or dnf, retrying with
# exponential backoff; dies after PIP_MAX_ATTEMPTS failures or without either package manager.
system_install_turbojpeg() {
  local package tool
  local -a update=() install=()
  if command -v "${APT_GET}" >/dev/null 2>&1; then
    package=libturbojpeg0 tool=apt-get
    update=("${APT_GET}" update -qq)
    install=("${APT_GET}" install -y -qq --no-install-recommends "${package}")
  elif command -v "${DNF}" >/dev/null 2>&1; then
    package=turbojpeg tool=dnf
    update=(true)
    install=("${DNF}" install -y -q "${package}")
  else
    die "libturbojpeg does not load and this image has neither ${APT_GET} nor ${DNF} to install it"
  fi
  log "installing ${package} (libturbojpeg, block-local JPEG outputs) with ${tool} on ${role}"
  with_backoff "${tool} install" "${package}" \
    "can the node reach the package mirror through Cloud NAT?" \
    update_then_install "${update[@]}" -- "${install[@]}"
}

# update_then_install <update command...> -- <install command...>: one attempt of a system
# package install (the package lists refreshed first, no prompts).
update_then_install() {
  local -a update=()
  while [[ "$1" != "--" ]]; do
    update+=("$1")
    shift
  done
  shift
  "${update[@]}" && DEBIAN_FRONTEND=noninteractive "$@"
}

# with_backoff <what> <item> <hint> <command...>: runs the command until it succeeds, waiting
# PIP_BACKOFF_SECONDS and then twice as long after each failure; dies after PIP_MAX_ATTEMPTS
# failures with one line naming the item and what to check.
with_backoff() {
  local what="$1" item="$2" hint="$3" attempt=1 delay="${PIP_BACKOFF_SECONDS}"
  shift 3
  until "$@"; do
    if ((attempt >= PIP_MAX_ATTEMPTS)); then
      die "${what} ${item} failed ${attempt} times (${hint})"
    fi
    log "${what} failed (attempt ${attempt}/${PIP_MAX_ATTEMPTS}); retrying in ${delay}s"
    sleep "${delay}"
    attempt=$((attempt + 1))
    delay=$((delay * 2))
  done
}

# pip_install <requirement> <constraints file> <numpy version>: installs under the numpy
# constraint, retrying with exponential backoff; dies after PIP_MAX_ATTEMPTS failures.
pip_install() {
  local requirement="$1" constraints="$2" numpy_version="$3"
  with_backoff "pip install" "${requirement}" \
    "is the version published and compatible with numpy ${numpy_version}? can the node reach the package index through Cloud NAT?" \
    "${DATAPROC_PYTHON}" -m pip install --quiet --no-input --disable-pip-version-check \
    --constraint "${constraints}" "${requirement}"
}

main() {
  local role version pillow_version="" pil_version="" opencv_ok=false
  local openvino_version openvino_ok=false ov_info=""
  local heif_version heif_ok=false heif_info=""
  local av_version av_ok=false av_info=""
  local numpy_version constraints cv_version tj_info
  role="$("${GET_METADATA_VALUE}" attributes/dataproc-role 2>/dev/null || echo unknown)"

  version="$(metadata_version "${METADATA_KEY}" 4.11.0.86)" || exit 1
  openvino_version="$(metadata_version "${OPENVINO_METADATA_KEY}" 2026.4.1)" || exit 1
  heif_version="$(metadata_version "${HEIF_METADATA_KEY}" 1.8.1)" || exit 1
  av_version="$(metadata_version "${AV_METADATA_KEY}" 18.1.0)" || exit 1
  [[ -x "${DATAPROC_PYTHON}" ]] || die "no python at ${DATAPROC_PYTHON} (set DATAPROC_PYTHON)"

  # libturbojpeg first: a system package, whatever the Python packages' state
  if tj_info="$(verify_turbojpeg 2>/dev/null)"; then
    log "libturbojpeg (${tj_info}) already loads on ${role}"
  else
    system_install_turbojpeg
    tj_info="$(verify_turbojpeg)" \
      || die "libturbojpeg installed but ${TURBOJPEG_LIBRARY} does not load from ${DATAPROC_PYTHON}"
    log "libturbojpeg (${tj_info}) installed on ${role}"
  fi

  # Pillow: the image's own is kept if it imports; otherwise the pinned one is installed below.
  if pil_version="$("${DATAPROC_PYTHON}" -c 'import PIL; print(PIL.__version__)' 2>/dev/null)"; then
    log "Pillow ${pil_version} already importable on ${role}; leaving the image's Pillow alone"
  else
    pil_version=""
    pillow_version="$(metadata_version "${PILLOW_METADATA_KEY}" 11.3.0)" || exit 1
  fi

  if [[ "$(installed_openvino)" == "${openvino_version}" ]] \
    && ov_info="$(verify_openvino 2>/dev/null)"; then
    openvino_ok=true
  fi
  if [[ "$(installed_heif)" == "${heif_version}" ]] && heif_info="$(verify_heif 2>/dev/null)"; then
    heif_ok=true
  fi
  if [[ "$(installed_av)" == "${av_version}" ]] && av_info="$(verify_av 2>/dev/null)"; then
    av_ok=true
  fi
  if [[ "$(installed_version)" == "${version}" ]] && cv_version="$(verify_cv2 2>/dev/null)"; then
    if [[ -n "${pil_version}" && "${openvino_ok}" == true && "${heif_ok}" == true && "${av_ok}" == true ]]; then
      log "opencv-python-headless ${version} (cv2 ${cv_version}), OpenVINO ${ov_info}, pillow-heif ${heif_info}, av ${av_info} and Pillow ${pil_version} already installed on ${role}; nothing to do"
      return 0
    fi
    opencv_ok=true
  fi

  numpy_version="$("${DATAPROC_PYTHON}" -c 'import numpy; print(numpy.__version__)' 2>/dev/null)" \
    || die "the python at ${DATAPROC_PYTHON} has no numpy; refusing to let pip choose one"
  constraints="$(mktemp)"
  # shellcheck disable=SC2064  # expand now: the path is fixed once created
  trap "rm -f '${constraints}'" EXIT
  echo "numpy==${numpy_version}" >"${constraints}"

  if [[ "${opencv_ok}" == true ]]; then
    log "opencv-python-headless ${version} (cv2 ${cv_version}) already installed on ${role}"
  else
    log "installing opencv-python-headless==${version} into ${DATAPROC_PYTHON} on ${role} (numpy stays ${numpy_version})"
    pip_install "opencv-python-headless==${version}" "${constraints}" "${numpy_version}"
  fi

  if [[ "${openvino_ok}" == true ]]; then
    log "OpenVINO ${ov_info} already installed on ${role}"
  else
    log "installing openvino==${openvino_version} into ${DATAPROC_PYTHON} on ${role} (numpy stays ${numpy_version})"
    pip_install "openvino==${openvino_version}" "${constraints}" "${numpy_version}"
  fi

  if [[ -n "${pillow_version}" ]]; then
    log "PIL does not import; installing pillow==${pillow_version} into ${DATAPROC_PYTHON} on ${role} (numpy stays ${numpy_version})"
    pip_install "pillow==${pillow_version}" "${constraints}" "${numpy_version}"
  fi

  if [[ "${heif_ok}" == true ]]; then
    log "pillow-heif ${heif_info} already installed on ${role}"
  else
    log "installing pillow-heif==${heif_version} into ${DATAPROC_PYTHON} on ${role} (numpy stays ${numpy_version})"
    pip_install "pillow-heif==${heif_version}" "${constraints}" "${numpy_version}"
  fi

  if [[ "${av_ok}" == true ]]; then
    log "av ${av_info} already installed on ${role}"
  else
    log "installing av==${av_version} into ${DATAPROC_PYTHON} on ${role} (numpy stays ${numpy_version})"
    pip_install "av==${av_version}" "${constraints}" "${numpy_version}"
  fi

  cv_version="$(verify_cv2)" \
    || die "opencv-python-headless ${version} installed but cv2 does not import or ${CASCADE} does not load"
  ov_info="$(verify_openvino)" \
    || die "openvino ${openvino_version} installed but it does not import or sees no CPU device"
  pil_version="$(verify_pil)" \
    || die "PIL (Pillow) does not import from ${DATAPROC_PYTHON} after the install step"
  heif_info="$(verify_heif)" \
    || die "pillow-heif ${heif_version} installed but it does not import or register with Pillow"
  av_info="$(verify_av)" \
    || die "av ${av_version} installed but it does not import or lacks the libx264/AAC encoders"
  log "done: cv2 ${cv_version} with ${CASCADE}, OpenVINO ${ov_info}, pillow-heif ${heif_info}, av ${av_info}, Pillow ${pil_version} on ${role}"
}

main "$@"
