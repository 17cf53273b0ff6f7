#!/usr/bin/env bash
# Screenshots of every page at 390, 1280 and 1920 px wide (full page), with index.txt.
# Starts the site on a temporary data folder, signs in as a fresh Admin, runs one half-size phantom
# sample job and one job whose QC fails, then shoots each page with Debian's /usr/bin/chromium.
# Usage: scripts/screenshots.sh OUT_DIR   (nothing is left running; the temporary data is removed)
set -euo pipefail
out="$(realpath -m "${1:?usage: scripts/screenshots.sh OUT_DIR}")"
cd "$(dirname "$0")/.."
dotnet build KneeWeb.Benchmarks/KneeWeb.Benchmarks.csproj -c Release --nologo -v quiet
exec dotnet run -c Release --no-build --project KneeWeb.Benchmarks -- screenshots --out "$out"
