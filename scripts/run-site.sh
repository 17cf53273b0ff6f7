#!/usr/bin/env bash
# Starts KneeWeb: installs what it needs, then serves the site with an embedded SQLite database
# and a data/ folder beside the repository (override with KneeWeb__DataRoot=/path).
# URL: KNEEWEB_URLS (default http://127.0.0.1:5000); extra arguments go to the server.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh site
urls="${KNEEWEB_URLS:-http://127.0.0.1:5000}"
export KneeWeb__DataRoot="${KneeWeb__DataRoot:-$PWD/data}"
export KneeWeb__ModelsPath="${KneeWeb__ModelsPath:-$PWD/models}"
dotnet build KneeWeb/KneeWeb.csproj -c Release --nologo -v quiet
echo "KneeWeb: data folder $KneeWeb__DataRoot"
echo "KneeWeb: open $urls in a browser (Ctrl+C stops the server)"
echo "KneeWeb: sign-in is required; on the first start an Admin is created and its password printed below (also in $KneeWeb__DataRoot/initial-admin.txt)"
# Framework-dependent build output (runs on the installed .NET 10 runtime).
cd KneeWeb/bin/Release/net10.0
exec ./KneeWeb --urls "$urls" "$@"
