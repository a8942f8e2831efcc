#!/usr/bin/env bash
# Egress (DESIGN §7, issue 5's proof list), from an algorithm that tries every way out:
# a report that breaks the criteria never reaches OUTDIR and its values (and unknown field
# names) do not appear in the reason; progress floods are capped in lines and bytes; stdout and
# stderr never leave, however much is written; files written outside the output folder do not
# leave; in a training run whose report is refused, no model leaves. A model leaves only
# encrypted to the AO's CEK (see training.test.sh for its content).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cek=$keys/cek.raw
"$ESCROW_BIN" encrypt --cek "$cek" "$examples/dataset" -o "$tmp/ds" >/dev/null
"$ESCROW_BIN" cek generate -o "$tmp/ao.key" >/dev/null
secret=S3CR3T$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
crit='{"report":{"type":"dict","schema":{"patients":{"type":"integer","min":10,"required":true}}}}'
echo "$crit" >"$tmp/crit.json"
no_secret() { # OUTDIR
  if grep -rqF "$secret" "$1"; then
    grep -rF "$secret" "$1" | cut -c1-300 >&2
    fail "the secret left the enclave in $1"
  fi
}
for type in validation training; do
  out=$tmp/out-$type
  run_enclave 1 run --package "$here/egressprobe" --dataset "$tmp/ds" --ds-cek "$cek" --ao-cek "$tmp/ao.key" \
    --criteria "$tmp/crit.json" --type "$type" --param "SECRET=$secret" -o "$out"
  # the parameters are hashed in the certificate, never written out: the secret must not be found
  no_secret "$out"
  [[ ! -e $out/report.json ]] || fail "$type: a report that broke the criteria reached OUTDIR"
  [[ ! -e $out/model.zip.bkenc ]] || fail "$type: a model left a run whose report was refused"
  reason=$(jfield "$out/result.json" reason)
  [[ $reason == *"failed the criteria"* && $reason == *"min value is 10"* ]] || fail "$type: reason: $reason"
  [[ $reason == *"<redacted field"* ]] || fail "$type: the unknown field name must be redacted: $reason"
  ls "$out" | sort | tr '\n' ' ' | grep -qx 'certificate.json logs.jsonl result.json ' ||
    fail "$type: unexpected outputs: $(ls "$out")"
  python3 - "$out/logs.jsonl" <<'PY' || fail "$type: progress cap"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
algo = [l for l in lines if l["source"] == "algorithm"]
assert len(algo) == 1000, len(algo)                                   # 3000 posted
assert all(len(l["message"].encode()) <= 1024 and l["truncated"] for l in algo)
assert sum(len(l["message"].encode()) for l in algo) <= 1000 * 1024
assert {l["source"] for l in lines} <= {"platform", "algorithm"}, {l["source"] for l in lines}
assert sum("capped at 1000 lines" in l.get("message", "") for l in lines) == 1
PY
  "$ESCROW_ENCLAVE_BIN" verify-certificate "$out/certificate.json" --outdir "$out" >/dev/null ||
    fail "$type: the certificate of a failed run does not verify"
done
[[ -z $(ls -A "$TMPDIR") ]] || fail "a run folder (with /tmp's files or the code) was left behind"
echo "egress: ok"
