#!/usr/bin/env bash
# Build the Python bindings against a just-built libescrow and run their tests.
#   bindings/python/run_tests.sh <repo> <cmake build dir>
# Steps: copy the package source into the build tree (the source checkout stays clean), make
# an sdist (SWIG generates the wrapper into it), pip-install that sdist offline into a venv
# under the build tree, then run pytest from outside the source tree.
set -euo pipefail
repo=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
py=${ESCROW_PYTHON:-/usr/bin/python3}
work=$build/bindings/python
command -v swig >/dev/null || { echo "python bindings: swig is missing (tools/install-deps.sh)" >&2; exit 1; }
"$py" -c 'import venv, setuptools, wheel, pytest' ||
  { echo "python bindings: $py needs venv, setuptools, wheel and pytest (tools/install-deps.sh)" >&2; exit 1; }

rm -rf "$work/src" "$work/dist"
mkdir -p "$work"
cp -r "$repo/bindings/python" "$work/src"
# never build from files an earlier in-tree build left (git-ignored) in the checkout
rm -rf "$work/src/build" "$work/src/src/escrow/escrow_wrap.c" "$work/src/src/escrow/core.py" \
  "$work/src"/src/*.egg-info "$work/src"/src/escrow/*.so
[[ -x $work/venv/bin/python ]] || "$py" -m venv --system-site-packages "$work/venv"

export ESCROW_INCLUDE_DIR=$repo/include ESCROW_LIBRARY_DIR=$build/libescrow
export ESCROW_ENCLAVE_BIN=$build/enclave/escrow-enclave
(cd "$work/src" && "$work/venv/bin/python" setup.py -q sdist -d "$work/dist" >/dev/null)
sdist=$(ls "$work"/dist/escrow-*.tar.gz)
listing=$(tar tzf "$sdist")
grep -q 'src/escrow/escrow_wrap.c$' <<<"$listing" || { echo "sdist lacks the wrapper" >&2; exit 1; }
grep -q 'src/escrow/core.py$' <<<"$listing" || { echo "sdist lacks core.py" >&2; exit 1; }
"$work/venv/bin/pip" install -q --no-build-isolation --no-index --force-reinstall --no-deps "$sdist"

cd "$work"
ESCROWD_BIN=$build/server/escrowd ESCROW_TEST_VECTORS=$repo/tests/vectors \
  "$work/venv/bin/python" -m pytest -q -p no:cacheprovider "$repo/bindings/python/tests"

# the examples, on the repository's fixtures
mkdir -p "$work/exbin"
for ex in encrypt_dataset wrap_cek validate_report check_sas; do
  printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$work/venv/bin/python" "$repo/examples/python/$ex.py" >"$work/exbin/$ex"
  chmod +x "$work/exbin/$ex"
done
bash "$repo/bindings/examples_smoke.sh" "$repo" "$work/exbin" "$work/extmp"
