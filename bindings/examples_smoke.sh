#!/usr/bin/env bash
# Run one language's examples on the repository's fixtures (called by the run_tests.sh
# scripts). usage: bindings/examples_smoke.sh <repo> <bin dir> <scratch dir>
# <bin dir> holds executables named encrypt_dataset, wrap_cek, validate_report, check_sas.
set -euo pipefail
repo=$1 bin=$2 tmp=$3
rm -rf "$tmp" && mkdir -p "$tmp/w"
sas='https://datasteward.blob.core.windows.net/ds-q-a-opensslv2?sp=rl&st=2024-01-01T00:00:00Z&se=2099-12-31T23:59:59Z&spr=https&sv=2021-12-02&sr=c&sig=rOnxwrokznZXJDgc0oKhicHe92s4kFdQhXPiWe7buew%3D'

"$bin/encrypt_dataset" --version v1 "$repo/examples/dataset" "$tmp/ds.enc"
test -f "$tmp/ds.enc/.escrow-manifest.bkenc"
"$bin/wrap_cek" --out "$tmp/w" "$repo/tests/vectors/keys/kek4096.pub.pem"
ls "$tmp/w"/wcek_*.key.bkenc "$tmp/w"/cek_*.key >/dev/null
echo '{"accuracy": {"type": "float", "min": 0, "max": 1}}' >"$tmp/criteria.json"
echo '{"accuracy": 0.9}' >"$tmp/good.json"
echo '{"accuracy": 1.9}' >"$tmp/bad.json"
"$bin/validate_report" "$tmp/criteria.json" "$tmp/good.json"
rc=0
"$bin/validate_report" "$tmp/criteria.json" "$tmp/bad.json" || rc=$?
[[ $rc == 1 ]] || { echo "a breaking report must exit 1, got $rc" >&2; exit 1; }
"$bin/check_sas" --now 2024-06-01T12:00:00Z "$sas"
rc=0
"$bin/check_sas" --now 2100-01-01T00:00:00Z "$sas" || rc=$?
[[ $rc == 1 ]] || { echo "an expired SAS must exit 1, got $rc" >&2; exit 1; }
rm -rf "$tmp"
echo "examples ok"
