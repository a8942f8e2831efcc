#!/usr/bin/env bash
# escrow usage: help and version on stdout with exit 0; unknown commands, unknown or repeated
# options, missing arguments and bad values are usage errors (exit 2) with a message on stderr
# and nothing on stdout.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
usage_error() {
  expect 2 "$@"
  [[ ! -s $tmp/out ]] || fail "a usage error printed on stdout: escrow $*"
  grep -q '^escrow: ' "$tmp/err" || fail "no 'escrow: ' message for: escrow $*"
}

expect 0 --version
grep -Eq '^escrow [0-9]+\.[0-9]+\.[0-9]+' "$tmp/out" || fail "--version: $(cat "$tmp/out")"
expect 0 --help
for c in "cek generate" "kek generate" "wcek wrap" "wcek unwrap" encrypt decrypt inspect "algorithm pack" "algorithm check"; do
  grep -q "$c" "$tmp/out" || fail "overview lacks $c"
done
expect 0 help
for c in "cek generate" "kek generate" "wcek wrap" "wcek unwrap" encrypt decrypt inspect "algorithm pack" "algorithm check"; do
  # shellcheck disable=SC2086
  expect 0 $c --help
  grep -q "^usage: escrow $c" "$tmp/out" || fail "$c --help: $(cat "$tmp/out")"
  # shellcheck disable=SC2086
  expect 0 help $c
  grep -q "^usage: escrow $c" "$tmp/out" || fail "help $c"
done
expect 0 wcek --help
grep -q 'wcek unwrap' "$tmp/out" || fail "group help"

usage_error
usage_error frobnicate
usage_error frobnicate check x.json
usage_error cek frobnicate
usage_error wcek
usage_error wcek rewrap
usage_error help frobnicate
usage_error cek generate --bogus
usage_error cek generate -x
usage_error cek generate extra-argument
usage_error cek generate -o
usage_error cek generate --base64=yes
usage_error encrypt --cek "$keys/cek.raw" -o "$tmp/o"
usage_error encrypt --cek "$keys/cek.raw" "$keys/cek.raw"
usage_error encrypt "$keys/cek.raw" -o "$tmp/o"
usage_error encrypt --cek "$keys/cek.raw" --cek "$keys/cek.raw" "$keys/cek.raw" -o "$tmp/o"
usage_error encrypt --cek "$keys/cek.raw" --format v2 "$keys/cek.raw" -o "$tmp/o"
usage_error encrypt --cek= "$keys/cek.raw" -o "$tmp/o"
usage_error decrypt --cek "$keys/cek.raw" a b -o "$tmp/o"
usage_error inspect
usage_error wcek wrap --cek "$keys/cek.raw"
usage_error wcek unwrap --wcek x --oaep sha512 --private-key y
usage_error kek generate --project p --role ao --bits many
usage_error algorithm pack --cek "$keys/cek.raw" -o "$tmp/a.zip"
usage_error algorithm pack "$tmp" --cek "$keys/cek.raw" --encrypt -o "$tmp/a.zip"
[[ -z $(ls "$tmp" | grep -v -e '^out$' -e '^err$') ]] || fail "usage errors wrote files: $(ls "$tmp")"

# '--' ends options; '--x=V' and '--x V' are the same.
cp "$keys/cek.raw" "$tmp/-dash"
cd "$tmp"
expect 0 encrypt --cek="$keys/cek.raw" --output="$tmp/d.bkenc" -- -dash
expect 0 inspect -- d.bkenc
[[ $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["context"]["path"])' "$tmp/out") == -dash ]] \
  || fail "'--' then a name starting with '-'"
echo "usage: ok"
