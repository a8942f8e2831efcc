#!/usr/bin/env bash
# The main job: an end-to-end run of the escrow encryption tool, as an algorithm owner (AO) and
# a data steward (DS) would use it, on the sample algorithm and dataset in examples/.
#
#   1. the platform's vault makes a KEK pair per role (here: `escrow kek generate`);
#   2. each party makes its own CEK and wraps it with its KEK into a WCEK;
#   3. the AO packs the algorithm, encrypting its secret model; the upload checks run on the zip;
#   4. the DS encrypts its dataset folder file by file, with a MAC'd manifest;
#   5. inside the TEE (simulated here by this script): unwrap each WCEK with the KEK private
#      half, decrypt the package's secrets and the dataset, and compare with the originals;
#   6. tampering is caught: a flipped byte and a swapped file are refused, with no output.
#
# Everything lands in out/demo/. Later issues turn this into the full platform workflow.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash tools/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build escrow_cli >/dev/null
escrow=$root/build/tools/escrow/escrow

out=$root/out/demo
rm -rf "$out"
mkdir -p "$out"/{vault,ao,ds,tee}
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ escrow %s\n' "$*" >&2; "$escrow" "$@"; echo; }

step "1. The vault makes one KEK pair per role (public halves are what users download)"
run kek generate --project "Demo Project" --role ao -o "$out/vault" >"$out/vault/ao.json"
run kek generate --project "Demo Project" --role ds -o "$out/vault" >"$out/vault/ds.json"
json() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$@"; }
ao_kek=$(json "$out/vault/ao.json" public)
ao_priv=$(json "$out/vault/ao.json" private)
ds_kek=$(json "$out/vault/ds.json" public)
ds_priv=$(json "$out/vault/ds.json" private)
cat "$out/vault/ao.json" "$out/vault/ds.json"
echo

step "2. Each party makes a CEK and wraps it with its KEK (the WCEK is what it uploads)"
run cek generate -o "$out/ao/cek.key"
run wcek wrap --kek "$ao_kek" --cek "$out/ao/cek.key" -o "$out/ao/wcek.key.bkenc"
run cek generate -o "$out/ds/cek.key"
run wcek wrap --kek "$ds_kek" --cek "$out/ds/cek.key" -o "$out/ds/wcek.key.bkenc"

step "3. The AO packs the algorithm, encrypting its model; the upload checks run on the zip"
run algorithm pack examples/algorithm --cek "$out/ao/cek.key" --encrypt model \
  --project demo-project --role ao -o "$out/ao/algorithm.zip"
run algorithm check "$out/ao/algorithm.zip" --wcek "$out/ao/wcek.key.bkenc"
unzip -l "$out/ao/algorithm.zip"

step "4. The DS encrypts its dataset file by file (+ manifest) for its blob container"
run encrypt --cek "$out/ds/cek.key" --project demo-project --role ds --dataset-version v1 \
  examples/dataset -o "$out/ds/dataset.enc"
find "$out/ds/dataset.enc" -type f | sort
run inspect "$out/ds/dataset.enc/patients.csv.bkenc"

step "5. In the TEE (simulated by this script): unwrap the WCEKs, decrypt, compare"
run wcek unwrap --private-key "$ao_priv" --wcek "$out/ao/wcek.key.bkenc" -o "$out/tee/ao-cek.key"
run wcek unwrap --private-key "$ds_priv" --wcek "$out/ds/wcek.key.bkenc" -o "$out/tee/ds-cek.key"
mkdir -p "$out/tee/algorithm"
(cd "$out/tee/algorithm" && unzip -q "$out/ao/algorithm.zip")
for enc in $(cd "$out/tee/algorithm" && find . -name '*.bkenc' | sed 's|^\./||'); do
  orig=${enc%.bkenc}
  run decrypt --cek "$out/tee/ao-cek.key" --expect-path "$orig" \
    "$out/tee/algorithm/$enc" -o "$out/tee/algorithm/$orig"
  rm "$out/tee/algorithm/$enc"
  cmp "$out/tee/algorithm/$orig" "examples/algorithm/$orig"
  echo "algorithm secret $orig: decrypted in the TEE, identical to the AO's original"
done
run decrypt --cek "$out/tee/ds-cek.key" --require-manifest "$out/ds/dataset.enc" -o "$out/tee/dataset"
diff -r examples/dataset "$out/tee/dataset"
echo "dataset: decrypted in the TEE, identical to the DS's original"

step "6. Tampering is refused, and leaves no output behind"
cp -r "$out/ds/dataset.enc" "$out/tampered"
f=$out/tampered/patients.csv.bkenc
printf '\x01' | dd of="$f" bs=1 seek=$(( $(stat -c %s "$f") - 20 )) conv=notrunc status=none
if "$escrow" decrypt --cek "$out/tee/ds-cek.key" "$f" -o "$out/tampered.csv"; then
  echo "a tampered file decrypted: this must never happen" >&2
  exit 1
fi
[[ ! -e $out/tampered.csv ]] && echo "flipped byte: refused (exit 1), no output file"
rm -rf "$out/tampered" && cp -r "$out/ds/dataset.enc" "$out/tampered"
mv "$out/tampered/patients.csv.bkenc" "$out/tampered/swap.tmp"
mv "$out/tampered/labs/results.csv.bkenc" "$out/tampered/patients.csv.bkenc"
mv "$out/tampered/swap.tmp" "$out/tampered/labs/results.csv.bkenc"
if "$escrow" decrypt --cek "$out/tee/ds-cek.key" "$out/tampered" -o "$out/tampered.out"; then
  echo "a dataset with swapped files decrypted: this must never happen" >&2
  exit 1
fi
[[ ! -e $out/tampered.out ]] && echo "swapped files: refused (exit 1), no output folder"

step "Demo complete: outputs in out/demo/"
