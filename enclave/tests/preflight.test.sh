#!/usr/bin/env bash
# Pre-flight (DESIGN §11): the sample algorithm runs on the sample dataset through the sandbox
# and the Enclave API; only a report that passes the criteria leaves; a refused report's reason
# quotes no value of the report; wrong keys and bad arguments fail with the documented codes.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cek=$keys/cek.raw
cp -r "$examples/algorithm" "$tmp/alg"
"$ESCROW_BIN" algorithm pack "$tmp/alg" --cek "$cek" --encrypt model -o "$tmp/alg.zip" >/dev/null
"$ESCROW_BIN" encrypt --cek "$cek" "$examples/dataset" -o "$tmp/ds" >/dev/null
crit=$examples/algorithm/schema.json

# --- the sample runs and its report leaves -------------------------------------------------------
run_enclave 0 run --package "$tmp/alg.zip" --dataset "$tmp/ds" --criteria "$crit" \
  --ao-cek "$cek" --ds-cek "$cek" -o "$tmp/out"
python3 -m json.tool "$tmp/stdout" >/dev/null || fail "stdout is not one JSON document"
[[ $(jfield "$tmp/out/result.json" status) == Completed ]] || fail "result: $(cat "$tmp/out/result.json")"
[[ $(jfield "$tmp/out/result.json" simulated_tee) == true ]] || fail "result.json must say simulated_tee"
[[ $(jfield "$tmp/out/certificate.json" simulated_tee) == true ]] || fail "certificate must say simulated_tee"
logs_ok "$tmp/out/logs.jsonl"
python3 - "$tmp/out/report.json" "$examples/dataset" <<'PY' || fail "report.json: $(cat "$tmp/out/report.json")"
import csv, json, sys
r = json.load(open(sys.argv[1]))
assert r["status"] == "Completed" and r["name"] == "Sample risk model validation report"
rep = r["json_data"]["report"]
patients = list(csv.DictReader(open(sys.argv[2] + "/patients.csv")))
labs = list(csv.DictReader(open(sys.argv[2] + "/labs/results.csv")))
assert rep["patients"] == len(patients), rep
assert rep["lab_results"] == len(labs), rep
assert rep["mean_age"] == round(sum(float(p["age"]) for p in patients) / len(patients), 2), rep
assert rep["model"] == "demo-logistic-v1"
PY
grep -q '"source":"algorithm".*Validation started' "$tmp/out/logs.jsonl" || fail "progress lines missing"
# the algorithm's stdout (it prints the API's answer) never reaches the outputs
grep -rq 'successful' "$tmp/out" && fail "algorithm stdout leaked into the outputs"
# the run folder (decrypted code, sockets) is gone
[[ -z $(ls -A "$TMPDIR") ]] || fail "a run folder was left behind"

# a plaintext algorithm folder works too (pre-flight on the AO's machine)
run_enclave 0 run --package "$examples/algorithm" --dataset "$tmp/ds" --criteria "$crit" \
  --ds-cek "$cek" -o "$tmp/out-dir"
[[ -f $tmp/out-dir/report.json ]] || fail "folder package: no report"

# --- a report that fails the criteria never leaves ----------------------------------------------
python3 - "$crit" "$tmp/strict.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["report"]["schema"]["patients"]["min"] = 1000
c["report"]["schema"]["model"]["allowed"] = ["another-model"]
json.dump(c, open(sys.argv[2], "w"))
PY
run_enclave 1 run --package "$tmp/alg.zip" --dataset "$tmp/ds" --criteria "$tmp/strict.json" \
  --ao-cek "$cek" --ds-cek "$cek" -o "$tmp/out-strict"
[[ ! -e $tmp/out-strict/report.json ]] || fail "a refused report reached the output"
[[ $(jfield "$tmp/out-strict/result.json" status) == Failed ]] || fail "strict: not Failed"
reason=$(jfield "$tmp/out-strict/result.json" reason)
[[ $reason == *"failed the criteria"* && $reason == *patients* && $reason == *"min value is 1000"* ]] ||
  fail "reason: $reason"
[[ $reason == *redacted* ]] || fail "the unallowed model name must be redacted: $reason"
# no value of the refused report appears anywhere in the outputs (12 patients, 0.5833, the name)
for v in demo-logistic-v1 0.5833 51.67; do
  grep -rqF -- "$v" "$tmp/out-strict" && fail "value $v of a refused report leaked"
done
logs_ok "$tmp/out-strict/logs.jsonl"

# --- a previous run's report does not survive a failed run in the same folder --------------------
run_enclave 1 run --package "$tmp/alg.zip" --dataset "$tmp/ds" --criteria "$tmp/strict.json" \
  --ao-cek "$cek" --ds-cek "$cek" -o "$tmp/out"
[[ ! -e $tmp/out/report.json ]] || fail "a stale report.json was left in OUTDIR"

# --- wrong keys: the run fails, nothing of the dataset is served ---------------------------------
head -c 32 /dev/zero >"$tmp/zero.key"
run_enclave 1 run --package "$tmp/alg.zip" --dataset "$tmp/ds" --criteria "$crit" \
  --ao-cek "$cek" --ds-cek "$tmp/zero.key" -o "$tmp/out-wrongds"
[[ $(jfield "$tmp/out-wrongds/result.json" reason) == *manifest* ]] || fail "wrong DS CEK: $(cat "$tmp/out-wrongds/result.json")"
run_enclave 1 run --package "$tmp/alg.zip" --dataset "$tmp/ds" --criteria "$crit" \
  --ao-cek "$tmp/zero.key" --ds-cek "$cek" -o "$tmp/out-wrongao"
[[ $(jfield "$tmp/out-wrongao/result.json" reason) == *"could not be decrypted"* ]] || fail "wrong AO CEK"
[[ ! -e $tmp/out-wrongao/report.json ]] || fail "report after a wrong AO CEK"

# --- the timeout ends the run -------------------------------------------------------------------
mkdir "$tmp/sleeper"
printf 'FROM python:3.11-slim\nCMD ["sleep", "30"]\n' >"$tmp/sleeper/Dockerfile"
run_enclave 1 run --package "$tmp/sleeper" --dataset "$tmp/ds" --ds-cek "$cek" --timeout 1 -o "$tmp/out-slow"
[[ $(jfield "$tmp/out-slow/result.json" reason) == timeout* ]] || fail "timeout: $(cat "$tmp/out-slow/result.json")"

# --- SIGTERM cancels the run: the sandbox is killed, the outcome says so, nothing is left -------
"$ESCROW_ENCLAVE_BIN" run --package "$tmp/sleeper" --dataset "$tmp/ds" --ds-cek "$cek" \
  -o "$tmp/out-cancel" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q 'the algorithm starts' "$tmp/out-cancel/logs.jsonl" 2>/dev/null && break; sleep 0.05; done
sleep 0.3
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
[[ $rc == 1 ]] || fail "cancelled run: exit $rc"
[[ $(jfield "$tmp/out-cancel/result.json" reason) == cancelled* ]] || fail "cancel: $(cat "$tmp/out-cancel/result.json")"
[[ -z $(ls -A "$TMPDIR") ]] || fail "a cancelled run left its run folder"
pgrep -f "$tmp/sleeper" >/dev/null && fail "a process of the cancelled run is still alive"

# --- as root, a TMPDIR the sandbox user cannot traverse is named, not a mysterious failure -------
if [[ $(id -u) == 0 ]]; then
  mkdir -m 700 "$tmp/private"
  rc=0
  TMPDIR=$tmp/private "$ESCROW_ENCLAVE_BIN" run --package "$tmp/alg.zip" --dataset "$tmp/ds" \
    --ao-cek "$cek" --ds-cek "$cek" -o "$tmp/out-priv" >/dev/null 2>&1 || rc=$?
  [[ $rc == 1 && $(jfield "$tmp/out-priv/result.json" reason) == *"cannot reach"* ]] ||
    fail "private TMPDIR: exit $rc, $(cat "$tmp/out-priv/result.json")"
  [[ -z $(ls -A "$tmp/private") ]] || fail "a run folder was left in TMPDIR"
fi

# --- usage errors: exit 2 ------------------------------------------------------------------------
run_enclave 2 run --package "$tmp/alg.zip" --dataset "$tmp/ds"
run_enclave 2 run --package "$tmp/alg.zip" --dataset "$tmp/ds" --param PATH=/x -o "$tmp/o2"
run_enclave 2 run --package "$tmp/alg.zip" --dataset "$tmp/ds" --param 1bad=x -o "$tmp/o2"
run_enclave 2 run --package "$tmp/no-such.zip" --dataset "$tmp/ds" -o "$tmp/o2"
run_enclave 2 run --package "$tmp/alg.zip" --dataset "$tmp/ds" --criteria "$tmp/no-such.json" -o "$tmp/o2"
run_enclave 2 frobnicate
echo "preflight: ok"
