#!/usr/bin/env bash
# Installs the Debian packages lstm.cpp needs to build and test, if any are missing.
# Runs apt-get as root (directly, or through sudo).
set -euo pipefail
# chromium and fonts-liberation: the report test renders an HTML report headless (with text);
# zlib1g-dev: that test decodes the PNG screenshot.
packages=(g++ cmake make pkg-config libgtest-dev nlohmann-json3-dev libcli11-dev python3-numpy
          chromium fonts-liberation zlib1g-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all packages present"
  exit 0
fi
echo "setup: installing ${missing[*]}"
as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo)
"${as_root[@]}" apt-get update -q
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
