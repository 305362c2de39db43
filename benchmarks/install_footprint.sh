#!/usr/bin/env bash
# What `pip install turnscribe` (no extras) pulls: packages and megabytes in a fresh venv.
# Usage: benchmarks/install_footprint.sh [SOURCE_DIR] [OUT_JSON]
#   SOURCE_DIR  a turnscribe checkout (default: this one); e.g. an old commit from `git archive`
#   OUT_JSON    where the figures go (default results/install_footprint.json)
set -euo pipefail
src=$(cd "${1:-$(dirname "$0")/..}" && pwd)
out=${2:-results/install_footprint.json}
venv=$(mktemp -d)
trap 'rm -rf "$venv"' EXIT
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet "$src" 2>&1 | grep -v "^WARNING: Location" || true
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
packages=$("$venv/bin/python" -m pip list --format=freeze --exclude pip --exclude setuptools 2>/dev/null | grep -vc "^turnscribe=")
mb=$(du -sm "$site" | cut -f1)
mkdir -p "$(dirname "$out")"
printf '{"source": "%s", "packages_besides_turnscribe": %d, "site_packages_mb": %d}\n' "$src" "$packages" "$mb" | tee "$out"
