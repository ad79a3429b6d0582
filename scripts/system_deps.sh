#!/usr/bin/env bash
# Installs the Debian packages the tests need (shellcheck, chromium and its fonts) when missing.
set -euo pipefail
packages=()
command -v shellcheck >/dev/null 2>&1 || packages+=(shellcheck)
command -v chromium >/dev/null 2>&1 || packages+=(chromium)
[[ -d /usr/share/fonts/truetype/liberation ]] || packages+=(fonts-liberation) # page screenshots
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
