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

# --- a file whose ciphertext was altered is never served as a clean whole -------------------------
# big.bin spans several 64 KiB chunks: altering its last chunk cuts the stream short (the client
# sees an incomplete body); altering its first chunk gives 502 before any byte.
mkdir "$tmp/plain2"
head -c 400000 /dev/urandom >"$tmp/plain2/big.bin"
cp "$tmp/plain2/big.bin" "$tmp/plain2/first.bin"
"$ESCROW_BIN" encrypt --cek "$cek" "$tmp/plain2" -o "$tmp/ds2" >/dev/null
python3 - "$tmp/ds2/big.bin.bkenc" "$tmp/ds2/first.bin.bkenc" <<'PY'
import os, sys
for path, where in ((sys.argv[1], os.path.getsize(sys.argv[1]) - 100), (sys.argv[2], 200)):
    with open(path, "r+b") as f:
        f.seek(where); b = f.read(1); f.seek(where); f.write(bytes([b[0] ^ 1]))
PY
mkdir "$tmp/tamper"
printf 'FROM python:3.11-slim\nWORKDIR /app\nCOPY . /app\nCMD ["python3", "t.py"]\n' >"$tmp/tamper/Dockerfile"
cat >"$tmp/tamper/t.py" <<'PY'
import http.client, json, os, sys, urllib.error, urllib.request
U = os.environ["ENCLAVE_URL"]
def get(name):
    try:
        with urllib.request.urlopen(U + "/api/v1/data/file?filepath=" + name, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, None
    except (http.client.IncompleteRead, ConnectionError, OSError) as e:
        return "cut", None
big = get("big.bin.bkenc")
first = get("first.bin.bkenc")
ok = big[0] == "cut" and first[0] == 502
body = json.dumps({"name": "tamper", "status": "Completed", "json_data": {"ok": ok}}).encode()
req = urllib.request.Request(U + "/api/v1/report", data=body, method="POST",
                             headers={"Content-Type": "application/json"})
urllib.request.urlopen(req, timeout=30)
print(big[0], first[0])
PY
echo '{"ok": {"type": "boolean", "allowed": [true]}}' >"$tmp/tamper.json"
rc=0
"$ESCROW_ENCLAVE_BIN" run --package "$tmp/tamper" --dataset "$tmp/ds2" --ds-cek "$cek" \
  --criteria "$tmp/tamper.json" -o "$tmp/out-tamper" >/dev/null 2>&1 || rc=$?
[[ $rc == 0 ]] || fail "tampered files: $(cat "$tmp/out-tamper/result.json"; cat "$tmp/out-tamper/logs.jsonl")"
grep -q 'could not be served' "$tmp/out-tamper/logs.jsonl" || fail "the refused file is not in the platform log"
echo "api tamper: ok"
