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

# ONNX Runtime's native library and the viewer come from npm. --ignore-scripts: the package's
# postinstall downloads CUDA libraries from a host outside the registry (see STACK.md); a GPU server
# installs those separately.
if [ ! -f node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1 ] || [ ! -d node_modules/@niivue/niivue ]; then
  echo "Installing npm packages (onnxruntime-node, @niivue/niivue)"
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
fi
