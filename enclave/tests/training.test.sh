#!/usr/bin/env bash
# Training runs (--type training): the files the algorithm writes to ESCROW_OUTPUT_DIR and the
# artifacts it posts to /api/v1/report/artifact leave only as model.zip.bkenc, readable with the
# AO's CEK alone; links and FIFOs in the output folder are left out; the output folder and the
# artifacts are size-capped; a validation run has no output folder and its artifact endpoint
# refuses; a failed training run releases no model. The MLflow relay: the calls a client makes
# are answered and relayed as "source":"mlflow" lines, bounded keys and values, capped in number.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cek=$keys/cek.raw
"$ESCROW_BIN" encrypt --cek "$cek" "$examples/dataset" -o "$tmp/ds" >/dev/null
"$ESCROW_BIN" cek generate -o "$tmp/ao.key" >/dev/null
crit='{"report":{"type":"dict","schema":{"checks":{"type":"dict","keysrules":{"type":"string"},"valuesrules":{"type":"boolean","allowed":[true]}}}}}'
echo "$crit" >"$tmp/crit.json"
probe=$here/trainprobe
checks_ok() { # OUTDIR N: report.json holds N checks, all true
  python3 - "$1/report.json" "$2" <<'PY' || fail "checks: $(cat "$1/report.json" 2>/dev/null)"
import json, sys
c = json.load(open(sys.argv[1]))["json_data"]["report"]["checks"]
assert len(c) == int(sys.argv[2]) and all(v is True for v in c.values()), c
PY
}
no_stdio() { # OUTDIR: the algorithm's stdout and stderr never leave
  grep -rqF TRAINPROBE-STDOUT-MARKER "$1" && fail "stdout left the enclave"
  grep -rqF TRAINPROBE-STDERR-MARKER "$1" && fail "stderr left the enclave"
  return 0
}

# --- a training run: the model leaves, encrypted to the AO's CEK only ----------------------------
run_enclave 0 run --package "$probe" --dataset "$tmp/ds" --ds-cek "$cek" --ao-cek "$tmp/ao.key" \
  --type training --criteria "$tmp/crit.json" --param ITERATIONS=7 -o "$tmp/out"
checks_ok "$tmp/out" 9
[[ $(jfield "$tmp/out/result.json" type) == training ]] || fail "result.json: type"
logs_ok "$tmp/out/logs.jsonl"
no_stdio "$tmp/out"
"$ESCROW_BIN" decrypt --cek "$tmp/ao.key" "$tmp/out/model.zip.bkenc" -o "$tmp/model.zip" >/dev/null ||
  fail "the model does not decrypt with the AO's CEK"
python3 - "$tmp/model.zip" <<'PY' || fail "model.zip content"
import hashlib, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
names = sorted(z.namelist())
assert names == ["artifacts/model.pkl", "output/model.txt", "output/sub/w.bin"], names
assert z.read("output/model.txt") == b"weights-v1 7\n"
assert z.read("output/sub/w.bin") == hashlib.sha256(b"w").digest() * 1000
assert z.read("artifacts/model.pkl") == (b"PICKLED-MODEL-" * 300)[:3000]
PY
# readable with the AO's CEK only: the DS's CEK and any other key are refused
rc=0; "$ESCROW_BIN" decrypt --cek "$cek" "$tmp/out/model.zip.bkenc" -o "$tmp/m-ds.zip" 2>/dev/null || rc=$?
[[ $rc == 1 && ! -e $tmp/m-ds.zip ]] || fail "the model decrypted with the DS's CEK (exit $rc)"
"$ESCROW_BIN" cek generate -o "$tmp/other.key" >/dev/null
rc=0; "$ESCROW_BIN" decrypt --cek "$tmp/other.key" "$tmp/out/model.zip.bkenc" -o "$tmp/m-o.zip" 2>/dev/null || rc=$?
[[ $rc == 1 ]] || fail "the model decrypted with another key"
# nothing of the plaintext model is readable in OUTDIR
grep -rqF "weights-v1" "$tmp/out" && fail "plaintext model in OUTDIR"
grep -rqF "PICKLED-MODEL" "$tmp/out" && fail "plaintext artifact in OUTDIR"
[[ -z $(ls -A "$TMPDIR") ]] || fail "a run folder was left behind"
# the MLflow calls were relayed as mlflow lines with their values, and nothing refused was
python3 - "$tmp/out/logs.jsonl" <<'PY' || fail "mlflow lines"
import json, sys
ml = [json.loads(l) for l in open(sys.argv[1]) if '"source":"mlflow"' in l]
kinds = [(l["kind"], l.get("key")) for l in ml]
assert kinds == [("experiment", None), ("run", None), ("param", "lr"), ("metric", "loss"),
                 ("metric", "acc"), ("param", "epochs"), ("tag", "team"), ("run_status", None)], kinds
m = [l for l in ml if l["kind"] == "metric"]
assert m[0]["value"] == 0.25 and m[0]["step"] == 1 and m[1]["value"] == 0.9, m
assert all(l["simulated_tee"] is True for l in ml)
PY
grep -qF "DROP" "$tmp/out/logs.jsonl" && fail "a refused metric value was relayed"
grep -qF "vvvvvvvvvv" "$tmp/out/logs.jsonl" && fail "an over-long param value was relayed"

# --- the output folder and the artifacts are capped (half the memory: 64 MiB here) ---------------
run_enclave 0 run --package "$probe" --dataset "$tmp/ds" --ds-cek "$cek" --ao-cek "$tmp/ao.key" \
  --type training --criteria "$tmp/crit.json" --param MODE=cap --memory-mib 128 -o "$tmp/out-cap"
checks_ok "$tmp/out-cap" 4
grep -q 'artifacts of a run are capped at 64 MiB' "$tmp/out-cap/logs.jsonl" || fail "no cap notice"
"$ESCROW_BIN" decrypt --cek "$tmp/ao.key" "$tmp/out-cap/model.zip.bkenc" -o "$tmp/cap.zip" >/dev/null
python3 -c 'import sys, zipfile; n = sorted(zipfile.ZipFile(sys.argv[1]).namelist()); assert n == ["artifacts/small.bin", "output/model.txt"], n' "$tmp/cap.zip" ||
  fail "cap run: model content"

# --- a validation run: no output folder, the artifact endpoint refuses, no model -----------------
run_enclave 0 run --package "$probe" --dataset "$tmp/ds" --ds-cek "$cek" --ao-cek "$tmp/ao.key" \
  --criteria "$tmp/crit.json" --param MODE=validation -o "$tmp/out-val"
checks_ok "$tmp/out-val" 3
[[ ! -e $tmp/out-val/model.zip.bkenc ]] || fail "a validation run wrote a model"

# --- a failed training run releases no model, and an earlier model does not survive --------------
echo '{"report":{"type":"dict","schema":{"checks":{"type":"dict","schema":{"never":{"type":"boolean","required":true}}}}}}' >"$tmp/strict.json"
run_enclave 1 run --package "$probe" --dataset "$tmp/ds" --ds-cek "$cek" --ao-cek "$tmp/ao.key" \
  --type training --criteria "$tmp/strict.json" -o "$tmp/out"
[[ ! -e $tmp/out/model.zip.bkenc ]] || fail "a failed training run left a model"
[[ $(jfield "$tmp/out/result.json" reason) == *"failed the criteria"* ]] || fail "failed run: reason"

# --- a training run that writes nothing has no model and fails, saying so --------------------------
mkdir "$tmp/empty"
printf 'FROM python:3.11-slim\nWORKDIR /app\nCOPY . /app\nCMD ["python3", "-c", "pass"]\n' >"$tmp/empty/Dockerfile"
run_enclave 1 run --package "$tmp/empty" --dataset "$tmp/ds" --ds-cek "$cek" --ao-cek "$tmp/ao.key" \
  --type training -o "$tmp/out-empty"
[[ $(jfield "$tmp/out-empty/result.json" reason) == *"produced no model"* ]] || fail "empty training run: reason"

# --- training needs the AO's CEK (usage error) ----------------------------------------------------
run_enclave 2 run --package "$probe" --dataset "$tmp/ds" --ds-cek "$cek" --type training -o "$tmp/out-x"

# --- MLflow lines are capped per run (11 batches of 1000 metrics: 10000 relayed, one notice) -----
run_enclave 0 run --package "$probe" --dataset "$tmp/ds" --ds-cek "$cek" --criteria "$tmp/crit.json" \
  --param MODE=flood -o "$tmp/out-flood"
checks_ok "$tmp/out-flood" 1
python3 - "$tmp/out-flood/logs.jsonl" <<'PY' || fail "mlflow cap"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert sum(l["source"] == "mlflow" for l in lines) == 10000
assert sum("MLflow lines capped at 10000" in l.get("message", "") for l in lines) == 1
PY
echo "training: ok"
