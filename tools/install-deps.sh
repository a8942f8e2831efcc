#!/usr/bin/env bash
# Install what escrow needs to build, test and run, from Debian's packages. Idempotent: it
# installs only what is missing, so it is cheap to call before every build.
#   tools/install-deps.sh          build + test dependencies
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libsodium-dev libssl-dev libcurl4-openssl-dev libyajl-dev libzip-dev libyaml-dev
  libcmocka-dev libpcre2-dev libexpat1-dev
  python3-cerberus python3-hypothesis   # the criteria engine's differential tests (/usr/bin/python3)
  clang libclang-rt-14-dev   # libFuzzer targets
  valgrind                   # memory checks in the test suite
  openssl zip unzip python3 nodejs
  libmicrohttpd-dev          # HTTP for escrowd and escrow-enclave
  bubblewrap libseccomp-dev iproute2   # the enclave's local sandbox runtime (a simulated TEE)
  python3-requests           # the manual's Enclave API snippets, run in the sandbox (/usr/bin/python3)
  libsqlite3-dev libpq-dev postgresql  # escrowd's stores (SQLite embedded; PostgreSQL for scale)
  postgresql-client          # psql, pg_dump: the server_*_pg tests (tools/pg-test-cluster.sh)
  wrk                        # bench/bench_server.sh: HTTP load at 200 connections
  # bindings: SWIG generates the Python wrapper (the Go one is committed); Debian's Python
  # pieces build and install the package offline in a venv the test makes under the build folder
  swig python3-dev python3-venv python3-pip python3-setuptools python3-wheel python3-pytest
  chromium                   # the web dashboard's browser tests (driven by playwright-core)
)

missing=()
for p in "${packages[@]}"; do
  # nodejs may come from outside Debian (a toolchain image): accept any working node >= 20.
  if [[ $p == nodejs ]] && command -v node >/dev/null &&
     node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)'; then
    continue
  fi
  if [[ $p == python3 ]] && command -v python3 >/dev/null; then continue; fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}" >&2
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

# --- Node test packages for the storage tests (tests/azure): the Azurite blob emulator and
# Microsoft's @azure/storage-blob SDK, pinned in tests/azure/package.json and package-lock.json.
# Installed once into tests/azure/node_modules (ignored by git); the Azurite tests fail with a
# clear message when they are missing.
azure_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/azure"
if [[ -f $azure_dir/package-lock.json && ! -d $azure_dir/node_modules ]] && command -v npm >/dev/null; then
  echo "install-deps: installing the Azurite test packages (npm ci in tests/azure)" >&2
  npm ci --prefix "$azure_dir" --no-audit --no-fund >/dev/null
fi

# --- The web dashboard (web/): Vite, TypeScript, Preact and playwright-core, pinned in
# web/package-lock.json; installed once into web/node_modules (ignored by git). The browser
# tests drive Debian's chromium: no browser is downloaded.
web_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/web"
if [[ -f $web_dir/package-lock.json && ! -d $web_dir/node_modules ]] && command -v npm >/dev/null; then
  echo "install-deps: installing the web dashboard's packages (npm ci in web)" >&2
  npm ci --prefix "$web_dir" --no-audit --no-fund >/dev/null
fi

# --- Go (bindings/go): not a Debian package on this kind of machine; the tests use `go` from
# PATH or /usr/local/go/bin. The Go module has no dependencies.
if ! command -v go >/dev/null && [[ ! -x /usr/local/go/bin/go ]]; then
  echo "install-deps: no Go toolchain (go on PATH or /usr/local/go/bin): go_bindings is skipped" >&2
fi

# --- Python packages for the tests run with the first python3 on PATH (escrowd's API-sample
# test signs JWTs as BeeKeeperAI's sample does, with PyJWT and requests; the vector generators
# and several tests use cryptography and PyYAML). Pinned; installed only when an import fails.
if ! python3 -c 'import jwt, requests, cryptography, yaml' 2>/dev/null; then
  echo "install-deps: installing the tests' Python packages (pip)" >&2
  python3 -m pip install --quiet --disable-pip-version-check \
    'PyJWT==2.15.1' 'requests==2.34.2' 'cryptography>=41' 'PyYAML>=6'
fi
# Schemathesis drives escrowd's API from docs/openapi.yaml (ctest server_schemathesis). Pinned.
if ! python3 -c 'import schemathesis' 2>/dev/null; then
  echo "install-deps: installing Schemathesis (pip)" >&2
  python3 -m pip install --quiet --disable-pip-version-check 'schemathesis==4.32.5'
fi
