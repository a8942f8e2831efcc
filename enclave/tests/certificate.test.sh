#!/usr/bin/env bash
# The signed run certificate: certificate.json carries the hashes of the package, criteria,
# dataset (URL, listing, manifest), parameters and every output, with a per-run Ed25519 key's
# signature over its canonical form; `escrow-enclave verify-certificate CERT --outdir OUTDIR`
# accepts it as written (exit 0) and refuses a tampered certificate, a tampered or swapped
# output, and an output added to OUTDIR after the run (exit 1).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cek=$keys/cek.raw
cp -r "$examples/algorithm" "$tmp/alg"
"$ESCROW_BIN" algorithm pack "$tmp/alg" --cek "$cek" --encrypt model -o "$tmp/alg.zip" >/dev/null
"$ESCROW_BIN" encrypt --cek "$cek" "$examples/dataset" -o "$tmp/ds" >/dev/null
crit=$examples/algorithm/schema.json
run_enclave 0 run --package "$tmp/alg.zip" --dataset "$tmp/ds" --criteria "$crit" \
  --ao-cek "$cek" --ds-cek "$cek" --param ALPHA=1 -o "$tmp/out"
verify() { # WANT CERT OUTDIR
  local want=$1 rc=0
  "$ESCROW_ENCLAVE_BIN" verify-certificate "$2" --outdir "$3" >"$tmp/v.json" 2>"$tmp/v.err" || rc=$?
  [[ $rc == "$want" ]] || fail "verify-certificate: exit $rc, wanted $want: $(cat "$tmp/v.json" "$tmp/v.err")"
}
verify 0 "$tmp/out/certificate.json" "$tmp/out"
[[ $(jfield "$tmp/v.json" outputs_checked) == 3 ]] || fail "outputs checked: $(cat "$tmp/v.json")"
[[ $(jfield "$tmp/v.json" simulated_tee) == true ]] || fail "verify-certificate must say the TEE was simulated"

# what the certificate holds: every hash DESIGN §7 lists, recomputed here
python3 - "$tmp/out/certificate.json" "$tmp/alg.zip" "$crit" "$tmp/ds" "$tmp/out" <<'PY' || fail "certificate content"
import hashlib, json, os, sys
c = json.load(open(sys.argv[1]))
h = lambda p: hashlib.sha256(open(p, "rb").read()).hexdigest()
assert c["format"] == "escrow-run-certificate/1" and c["simulated_tee"] is True
assert c["status"] == "Completed" and c["exit_code"] == 0 and c["type"] == "validation"
assert c["package_sha256"] == h(sys.argv[2]) and c["criteria_sha256"] == h(sys.argv[3])
assert c["dataset"]["manifest_sha256"] == h(os.path.join(sys.argv[4], ".escrow-manifest.bkenc"))
assert c["dataset"]["url_sha256"] == hashlib.sha256(("file://" + os.path.realpath(sys.argv[4])).encode()).hexdigest()
lines = []
for root, _, files in os.walk(sys.argv[4]):
    for f in files:
        p = os.path.join(root, f)
        lines.append(f"{os.path.relpath(p, sys.argv[4])}\t{os.path.getsize(p)}\n")
assert c["dataset"]["listing_sha256"] == hashlib.sha256("".join(sorted(lines)).encode()).hexdigest()
assert c["parameters_sha256"] == hashlib.sha256(b"ALPHA=1\n").hexdigest()
assert set(c["outputs"]) == {"report.json", "result.json", "logs.jsonl"}
for n, v in c["outputs"].items():
    assert v == h(os.path.join(sys.argv[5], n)), n
assert c["started"] <= c["ended"] and len(c["run_public_key"]) == 44 and c["signature_alg"] == "ed25519"
PY

# a tampered certificate: a changed status, a removed member, an output hash replaced
for edit in 'c["status"] = "Failed"' 'del c["criteria_sha256"]' \
            'c["outputs"]["report.json"] = "0" * 64' 'c["simulated_tee"] = False'; do
  python3 - "$tmp/out/certificate.json" "$tmp/bad.json" "$edit" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
exec(sys.argv[3])
json.dump(c, open(sys.argv[2], "w"))
PY
  verify 1 "$tmp/bad.json" "$tmp/out"
  grep -q "does not verify" "$tmp/v.json" || fail "$edit: $(cat "$tmp/v.json")"
done
# the same certificate re-signed with another key is refused too (the key is in the signed body)
python3 - "$tmp/out/certificate.json" "$tmp/bad.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["run_public_key"] = "A" * 43 + "="
json.dump(c, open(sys.argv[2], "w"))
PY
verify 1 "$tmp/bad.json" "$tmp/out"
# member order and whitespace do not matter: the canonical form is what is signed
python3 -c 'import json, sys; c = json.load(open(sys.argv[1])); json.dump(dict(reversed(list(c.items()))), open(sys.argv[2], "w"), indent=2)' \
  "$tmp/out/certificate.json" "$tmp/pretty.json"
verify 0 "$tmp/pretty.json" "$tmp/out"

# a tampered output: report.json changed by one byte; logs.jsonl with a line removed
cp -r "$tmp/out" "$tmp/out2"
sed -i 's/"patients":12/"patients":13/' "$tmp/out2/report.json"
cmp -s "$tmp/out/report.json" "$tmp/out2/report.json" && fail "the test did not change report.json"
verify 1 "$tmp/out2/certificate.json" "$tmp/out2"
grep -q "report.json: its SHA-256 differs" "$tmp/v.json" || fail "tampered report: $(cat "$tmp/v.json")"
cp "$tmp/out/report.json" "$tmp/out2/report.json"
sed -i '1d' "$tmp/out2/logs.jsonl"
verify 1 "$tmp/out2/certificate.json" "$tmp/out2"

# a failed run has no report; one put into its OUTDIR afterwards is caught
python3 - "$crit" "$tmp/strict.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["report"]["schema"]["patients"]["min"] = 1000
json.dump(c, open(sys.argv[2], "w"))
PY
run_enclave 1 run --package "$tmp/alg.zip" --dataset "$tmp/ds" --criteria "$tmp/strict.json" \
  --ao-cek "$cek" --ds-cek "$cek" -o "$tmp/out-f"
verify 0 "$tmp/out-f/certificate.json" "$tmp/out-f"
[[ $(jfield "$tmp/out-f/certificate.json" status) == Failed ]] || fail "failed run: certificate status"
cp "$tmp/out/report.json" "$tmp/out-f/report.json"
verify 1 "$tmp/out-f/certificate.json" "$tmp/out-f"
grep -q "report.json is in OUTDIR but not in the certificate" "$tmp/v.json" || fail "injected report: $(cat "$tmp/v.json")"

# usage: no certificate is exit 2; an unreadable one too
rc=0; "$ESCROW_ENCLAVE_BIN" verify-certificate 2>/dev/null || rc=$?
[[ $rc == 2 ]] || fail "verify-certificate without CERT: exit $rc"
rc=0; "$ESCROW_ENCLAVE_BIN" verify-certificate "$tmp/missing.json" 2>/dev/null || rc=$?
[[ $rc == 2 ]] || fail "verify-certificate of a missing file: exit $rc"
echo "certificate: ok"
