#!/usr/bin/env bash
# Installs what KneeWeb needs on a fresh Debian machine that has the .NET SDK, Node/npm and apt.
#   scripts/install-deps.sh site   - to run the site (dcm2niix, npm packages)
#   scripts/install-deps.sh test   - to run the test suite (also Chromium and the Python reference tools)
set -euo pipefail
cd "$(dirname "$0")/.."
purpose="${1:-site}"

packages=(dcm2niix)
if [ "$purpose" = "test" ]; then
  # chromium: browser tests; python3-*: the field's reference tools that tests cross-check against.
  packages+=(chromium python3 python3-numpy python3-nibabel python3-scipy python3-skimage python3-pydicom python3-mrcfile)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "Installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The viewer and the SignalR JS client come from npm (ONNX Runtime comes with `dotnet build`, from
# NuGet). --ignore-scripts: nothing here needs an install script, and none may download from elsewhere.
if [ ! -d node_modules/@niivue/niivue ]; then
  echo "Installing npm packages (@niivue/niivue and the rest of package.json)"
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
fi
