#!/usr/bin/env bash
# Build the dashboard: type-check, then bundle with Vite into $ESCROW_WEB_OUT (default dist/).
# The packages come from package-lock.json (npm ci, as tools/install-deps.sh runs it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
if [[ ! -x node_modules/.bin/vite ]]; then
  echo "web: installing the pinned packages (npm ci)" >&2
  npm ci --no-audit --no-fund >/dev/null
fi
out=${ESCROW_WEB_OUT:-dist}
node_modules/.bin/tsc --noEmit -p tsconfig.json
node_modules/.bin/vite build --logLevel warn --outDir "$out" --emptyOutDir
