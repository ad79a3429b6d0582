#!/usr/bin/env bash
# Installs the Debian packages the tests need (shellcheck, chromium and its fonts, libturbojpeg) when missing,
# and, where root or sudo is at hand, Docker's daemon and debootstrap for the container test
# (without them that test is skipped, saying why; the other tests do not need them).
set -euo pipefail
packages=()
command -v shellcheck >/dev/null 2>&1 || packages+=(shellcheck)
command -v chromium >/dev/null 2>&1 || packages+=(chromium)
[[ -d /usr/share/fonts/truetype/liberation ]] || packages+=(fonts-liberation) # page screenshots
# block-local JPEG output (imaging/jpegblocks.py); without it every JPEG takes the full encode
ldconfig -p 2>/dev/null | grep 'libturbojpeg\.so\.0' >/dev/null || packages+=(libturbojpeg0) # no -q: pipefail
if [[ $(id -u) -eq 0 ]] || command -v sudo >/dev/null 2>&1; then
  command -v dockerd >/dev/null 2>&1 || packages+=(docker.io)
  command -v debootstrap >/dev/null 2>&1 || [[ -x /usr/sbin/debootstrap ]] || packages+=(debootstrap)
fi
[[ ${#packages[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -eq 0 ]]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "error: the tests need ${packages[*]}: install them (apt-get install ${packages[*]})" >&2
  exit 1
fi
echo "installing ${packages[*]} (Debian packages used by the tests)"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
