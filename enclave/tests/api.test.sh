#!/usr/bin/env bash
# The Enclave API contract (DESIGN §7), exercised from inside the sandbox by
# tests/apiprobe/apiprobe.py: listing, decrypted files, POST form, Range, 404s, validate with
# json_data as object / JSON string / base64, the approved criteria only, body caps; then, from
# outside, the progress cap (1000 lines, one notice, long lines cut) and report.json decoded.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cek=$keys/cek.raw
"$ESCROW_BIN" encrypt --cek "$cek" "$examples/dataset" -o "$tmp/ds" >/dev/null
python3 - "$here/apiprobe/apiprobe.py" "$tmp/crit.json" <<'PY'
import json, re, sys
names = re.findall(r'^check\("([a-z_0-9]+)"', open(sys.argv[1]).read(), re.M)
assert len(names) > 20
true = {"type": "boolean", "allowed": [True]}
crit = {"report": {"type": "dict", "schema": {
    "checks": {"type": "dict", "require_all": True, "schema": {n: true for n in names}},
    "sample": {"type": "dict", "schema": {"x": true}}}}}   # what the probe's validate calls send
json.dump(crit, open(sys.argv[2], "w"))
PY
sha=$(sha256sum "$examples/dataset/patients.csv" | cut -d' ' -f1)
rc=0
"$ESCROW_ENCLAVE_BIN" run --package "$here/apiprobe" --dataset "$tmp/ds" --ds-cek "$cek" \
  --criteria "$tmp/crit.json" --param "EXPECT_PATIENTS_SHA256=$sha" -o "$tmp/out" \
  >"$tmp/stdout" 2>"$tmp/stderr" || rc=$?
if [[ $rc != 0 ]]; then
  grep -v '"message":"flood' "$tmp/out/logs.jsonl" >&2
  fail "api probe: exit $rc: $(cat "$tmp/out/result.json")"
fi
python3 - "$tmp/out/report.json" "$tmp/out/logs.jsonl" <<'PY' || fail "api probe outputs"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["name"] == "api probe" and r["status"] == "Completed"
c = r["json_data"]["report"]["checks"]   # base64 json_data decoded to the document
assert len(c) > 20 and all(v is True for v in c.values()), c
lines = [json.loads(l) for l in open(sys.argv[2])]
algo = [l for l in lines if l["source"] == "algorithm"]
assert len(algo) == 1000, len(algo)
assert sum("capped at 1000 lines" in l["message"] for l in lines) == 1
longl = [l for l in algo if l["message"].startswith("LLLL")]
assert len(longl) == 1 and len(longl[0]["message"]) == 1024 and longl[0]["truncated"] is True
assert any("status Failed" in l["message"] for l in lines if l["source"] == "platform")
assert all(l["simulated_tee"] is True for l in lines)
PY
grep -rqF APIPROBE-STDOUT "$tmp/out" "$tmp/stdout" "$tmp/stderr" && fail "the probe's stdout left the sandbox"
echo "api: ok"
