#!/usr/bin/env bash
# An outside project can use the installed library: install to a temporary prefix, build
# examples/c against it with find_package(escrow) and with pkg-config, and run it.
# Usage: consumer.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
libdir=$(ls -d "$tmp"/prefix/lib*/ | head -1)
test -f "$tmp/prefix/include/escrow/escrow.h"
test -L "$libdir/libescrow.so.0"   # SONAME link

cmake -S "$src/examples/c" -B "$tmp/cmake-build" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/cmake-build" >/dev/null
PKG_CONFIG_PATH="$libdir/pkgconfig" cc -std=c11 -Wall -Wextra -Werror \
  $(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags libescrow) \
  -o "$tmp/seal-pc" "$src/examples/c/seal.c" \
  $(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --libs libescrow)

export LD_LIBRARY_PATH=$libdir
head -c 32 /dev/urandom >"$tmp/cek"
head -c 300000 /dev/urandom >"$tmp/plain"
for seal in "$tmp/cmake-build/seal" "$tmp/seal-pc"; do
  "$seal" encrypt "$tmp/cek" <"$tmp/plain" >"$tmp/sealed"
  "$seal" decrypt "$tmp/cek" <"$tmp/sealed" >"$tmp/back"
  cmp "$tmp/plain" "$tmp/back"
  printf '\x42' | dd of="$tmp/sealed" bs=1 seek=100000 conv=notrunc status=none
  if "$seal" decrypt "$tmp/cek" <"$tmp/sealed" >"$tmp/back2"; then
    echo "tampered stream accepted" >&2
    exit 1
  fi
done
# Only the public API is exported from the shared library.
if nm -D --defined-only "$libdir/libescrow.so" | awk '{print $3}' | grep -vE '^escrow_[a-z0-9]' | grep -q .; then
  echo "libescrow.so exports symbols outside escrow_*:" >&2
  nm -D --defined-only "$libdir/libescrow.so" | awk '{print $3}' | grep -vE '^escrow_[a-z0-9]' >&2
  exit 1
fi
echo "installed library: find_package and pkg-config consumers build and run; exports are escrow_* only"
