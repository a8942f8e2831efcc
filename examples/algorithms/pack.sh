#!/usr/bin/env bash
# Pack an example algorithm into an encrypted algorithm zip, as its owner would upload it.
#   examples/algorithms/pack.sh validation|training --cek CEK -o OUT.zip
#                               [--model FILE] [--start-model FILE]
# --model replaces the validation package's model/model.json (e.g. a model a training run made);
# --start-model puts a previous run's model.json in the training package as model/start.json.
# The algorithm code and model/ are encrypted with CEK; Dockerfile and run.sh stay in plaintext.
# EnclaveSDK is not put in the package: escrow-enclave ships it into every run (its sandbox
# backend does not execute the Dockerfile's `RUN pip install EnclaveSDK`).
# The escrow command is $ESCROW_BIN, else `escrow` on PATH.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
usage() { echo "usage: pack.sh validation|training --cek CEK -o OUT.zip [--model FILE] [--start-model FILE]" >&2; exit 2; }
[[ $# -ge 1 ]] || usage
kind=$1; shift
case $kind in validation) code=validate.py ;; training) code=train.py ;; *) usage ;; esac
cek= out= model= start=
while [[ $# -gt 0 ]]; do
  case $1 in
    --cek) cek=${2:?}; shift 2 ;;
    -o|--output) out=${2:?}; shift 2 ;;
    --model) model=${2:?}; shift 2 ;;
    --start-model) start=${2:?}; shift 2 ;;
    *) usage ;;
  esac
done
[[ -n $cek && -n $out ]] || usage
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pkg=$work/$kind
cp -r "$here/$kind" "$pkg"
rm -f "$pkg/criteria.json"   # the criteria are the DS's artifact, not part of the package
[[ -z $model ]] || { mkdir -p "$pkg/model"; cp "$model" "$pkg/model/model.json"; }
[[ -z $start ]] || { mkdir -p "$pkg/model"; cp "$start" "$pkg/model/start.json"; }
secrets=("$code")
[[ -d $pkg/model ]] && secrets+=(model)
"${ESCROW_BIN:-escrow}" algorithm pack "$pkg" --cek "$cek" --encrypt "${secrets[@]}" -o "$out"
