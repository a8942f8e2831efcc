#!/usr/bin/env bash
# The example algorithms (examples/algorithms) run through pre-flight as their owners would use
# them: packed and encrypted with pack.sh (the escrow command), on a synthetic cohort from
# make_dataset.py encrypted by the DS; the validation report is checked against figures computed
# here from the plaintext, the training model is read back with the AO's CEK (and not with the
# DS's), and a second training run continues from the first run's model.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
alg=$examples/algorithms
ds_cek=$keys/cek.raw
"$ESCROW_BIN" cek generate -o "$tmp/ao.key" >/dev/null
ao_cek=$tmp/ao.key
export ESCROW_BIN

# --- the dataset generator is deterministic by seed -----------------------------------------------
python3 "$alg/make_dataset.py" -o "$tmp/plain" --seed 11 --rows 400 --files 2 >/dev/null
python3 "$alg/make_dataset.py" -o "$tmp/plain-again" --seed 11 --rows 400 --files 2 >/dev/null
python3 "$alg/make_dataset.py" -o "$tmp/plain-other" --seed 12 --rows 400 --files 2 >/dev/null
diff -r "$tmp/plain" "$tmp/plain-again" >/dev/null || fail "make_dataset.py: same seed, different files"
cmp -s "$tmp/plain/cohort-001.csv" "$tmp/plain-other/cohort-001.csv" && fail "make_dataset.py: the seed changes nothing"
[[ $(wc -l <"$tmp/plain/cohort-001.csv") == 201 && $(wc -l <"$tmp/plain/cohort-002.csv") == 201 ]] ||
  fail "make_dataset.py: 400 rows over 2 files"
"$ESCROW_BIN" encrypt --cek "$ds_cek" "$tmp/plain" -o "$tmp/ds" >/dev/null

# figures computed here, independently of the algorithm: confusion counts and Wilson intervals
expect_metrics() {  # MODEL.json -> JSON of the report the validation package must post
  python3 - "$1" "$tmp/plain" <<'PY'
import csv, glob, json, math, sys
m = json.load(open(sys.argv[1]))
c = {"tp": 0, "tn": 0, "fp": 0, "fn": 0}
for path in sorted(glob.glob(sys.argv[2] + "/*.csv")):
    for r in csv.DictReader(open(path)):
        z = m["bias"] + sum(w * (float(r[f]) - mu) / s
                            for f, w, mu, s in zip(m["features"], m["weights"], m["mean"], m["std"]))
        pred, y = int(1 / (1 + math.exp(-z)) >= 0.5), int(r["label"])
        c[("t" if pred == y else "f") + ("p" if pred else "n")] += 1
z = 1.959963984540054
def met(k, n):
    p = k / n
    hw = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return {"value": p, "CI": round(hw, 6), "n": n}
print(json.dumps({"report": {
    "accuracy": met(c["tp"] + c["tn"], sum(c.values())),
    "sensitivity": met(c["tp"], c["tp"] + c["fn"]),
    "specificity": met(c["tn"], c["tn"] + c["fp"])}}))
PY
}
check_report() {  # REPORT.json EXPECTED-JSON
  python3 - "$1" "$2" <<'PY' || fail "validation report: $(cat "$1")"
import json, sys
r = json.load(open(sys.argv[1]))
want = json.loads(sys.argv[2])
assert r["name"] == "Binary classifier validation" and r["status"] == "Completed", r
got = r["json_data"]["report"]
assert set(got) == {"accuracy", "sensitivity", "specificity"}, got
for k, w in want["report"].items():
    g = got[k]
    assert g["n"] == w["n"] and abs(g["value"] - w["value"]) < 1e-12 and abs(g["CI"] - w["CI"]) < 1e-9, (k, g, w)
    assert 0 < g["CI"] < 0.2 and isinstance(g["value"], float), (k, g)
PY
}

# --- validation: the AO's model scores the DS's cohort; the report meets manual 14.6.2 ------------
"$alg/pack.sh" validation --cek "$ao_cek" -o "$tmp/val.zip" >/dev/null
# (the listing goes to a file: `unzip | grep -q` under pipefail fails when grep stops reading early)
unzip -Z1 "$tmp/val.zip" >"$tmp/val.list"
grep -qx "model/model.json.bkenc" "$tmp/val.list" || fail "the model is not encrypted in the package"
grep -qx "model/model.json" "$tmp/val.list" && fail "the plaintext model is in the package"
# the package holds no EnclaveSDK: the run gets the one escrow-enclave ships
grep -q "EnclaveSDK" "$tmp/val.list" && fail "pack.sh put EnclaveSDK in the package"
run_enclave 0 run --package "$tmp/val.zip" --dataset "$tmp/ds" --criteria "$alg/validation/criteria.json" \
  --ao-cek "$ao_cek" --ds-cek "$ds_cek" -o "$tmp/out-val"
check_report "$tmp/out-val/report.json" "$(expect_metrics "$alg/validation/model/model.json")"
grep -q '"source":"algorithm".*Validation finished: 400 rows' "$tmp/out-val/logs.jsonl" || fail "progress lines"
grep -q '"message":"EnclaveSDK provided: ' "$tmp/out-val/logs.jsonl" || fail "the build log does not say the SDK was shipped"
logs_ok "$tmp/out-val/logs.jsonl"

# criteria stricter than the model's accuracy: the report does not leave, the reason names the rule
python3 - "$alg/validation/criteria.json" "$tmp/strict.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["report"]["schema"]["accuracy"]["schema"]["value"]["min"] = 0.99
json.dump(c, open(sys.argv[2], "w"))
PY
run_enclave 1 run --package "$tmp/val.zip" --dataset "$tmp/ds" --criteria "$tmp/strict.json" \
  --ao-cek "$ao_cek" --ds-cek "$ds_cek" -o "$tmp/out-strict"
[[ ! -e $tmp/out-strict/report.json ]] || fail "a report below the criteria left"
grep -q "min value is 0.99" "$tmp/out-strict/result.json" || fail "reason: $(cat "$tmp/out-strict/result.json")"

# --- training: ITERATIONS from the runtime parameters; the model leaves encrypted to the AO ------
"$alg/pack.sh" training --cek "$ao_cek" -o "$tmp/train.zip" >/dev/null
run_enclave 1 run --package "$tmp/train.zip" --dataset "$tmp/ds" --type training \
  --criteria "$alg/training/criteria.json" --ao-cek "$ao_cek" --ds-cek "$ds_cek" -o "$tmp/out-noiter"
[[ ! -e $tmp/out-noiter/model.zip.bkenc && ! -e $tmp/out-noiter/report.json ]] || fail "a run without ITERATIONS gave outputs"

read_model() {  # OUTDIR DEST.json: decrypt model.zip.bkenc with the AO's CEK, take model.json out
  "$ESCROW_BIN" decrypt --cek "$ao_cek" "$1/model.zip.bkenc" -o "$1/model.zip" >/dev/null ||
    fail "model.zip.bkenc does not decrypt with the AO's CEK"
  python3 - "$1/model.zip" "$2" <<'PY' || fail "model.zip holds no model.json"
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
names = [n for n in z.namelist() if n.endswith("/model.json") or n == "model.json"]
assert len(names) == 1, z.namelist()
open(sys.argv[2], "wb").write(z.read(names[0]))
PY
}
loss_of() {  # MODEL.json: the regularised log-loss on the plaintext cohort, computed here
  python3 - "$1" "$tmp/plain" <<'PY'
import csv, glob, json, math, sys
m = json.load(open(sys.argv[1]))
rows = [r for p in sorted(glob.glob(sys.argv[2] + "/*.csv")) for r in csv.DictReader(open(p))]
loss = 0.0
for r in rows:
    z = m["bias"] + sum(w * (float(r[f]) - mu) / s
                        for f, w, mu, s in zip(m["features"], m["weights"], m["mean"], m["std"]))
    p, y = 1 / (1 + math.exp(-z)), int(r["label"])
    loss -= y * math.log(p + 1e-12) + (1 - y) * math.log(1 - p + 1e-12)
print(loss / len(rows) + m["l2"] / 2 * sum(w * w for w in m["weights"]))
PY
}
run_enclave 0 run --package "$tmp/train.zip" --dataset "$tmp/ds" --type training --param ITERATIONS=25 \
  --criteria "$alg/training/criteria.json" --ao-cek "$ao_cek" --ds-cek "$ds_cek" -o "$tmp/out-t1"
"$ESCROW_BIN" decrypt --cek "$ds_cek" "$tmp/out-t1/model.zip.bkenc" -o "$tmp/nope.zip" >/dev/null 2>&1 &&
  fail "the model decrypts with the DS's CEK"
[[ ! -e $tmp/nope.zip ]] || fail "a failed decryption left a file"
read_model "$tmp/out-t1" "$tmp/model1.json"
l1=$(loss_of "$tmp/model1.json")
python3 - "$tmp/out-t1/report.json" "$tmp/model1.json" "$l1" <<'PY' || fail "training report/model: $(cat "$tmp/out-t1/report.json")"
import json, math, sys
t = json.load(open(sys.argv[1]))["json_data"]["training"]
m = json.load(open(sys.argv[2]))
loss = float(sys.argv[3])
assert t["iterations"] == 25 and t["iterations_total"] == 25 and m["iterations_total"] == 25, (t, m)
assert t["n"] == 400 and m["trained_rows"] == 400, t
assert abs(t["final_loss"] - loss) < 1e-5, (t, loss)   # the report matches the model it wrote
assert loss < math.log(2) - 0.05, loss                 # better than the all-zero start
PY

# a second run continues from the first run's model (model/start.json, encrypted in the package)
"$alg/pack.sh" training --cek "$ao_cek" --start-model "$tmp/model1.json" -o "$tmp/train2.zip" >/dev/null
run_enclave 0 run --package "$tmp/train2.zip" --dataset "$tmp/ds" --type training --param ITERATIONS=25 \
  --criteria "$alg/training/criteria.json" --ao-cek "$ao_cek" --ds-cek "$ds_cek" -o "$tmp/out-t2"
read_model "$tmp/out-t2" "$tmp/model2.json"
l2=$(loss_of "$tmp/model2.json")
python3 - "$tmp/out-t2/report.json" "$tmp/model1.json" "$tmp/model2.json" "$l1" "$l2" <<'PY' || fail "continued training"
import json, sys
t = json.load(open(sys.argv[1]))["json_data"]["training"]
m1, m2 = json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
assert t["iterations"] == 25 and t["iterations_total"] == 50 and m2["iterations_total"] == 50, t
assert m2["mean"] == m1["mean"] and m2["std"] == m1["std"], "the start model's scaling is kept"
assert float(sys.argv[5]) < float(sys.argv[4]), (sys.argv[4], sys.argv[5])
PY
grep -q "from model/start.json" "$tmp/out-t2/logs.jsonl" || fail "the second run did not say it started from the model"

# the trained model goes into the validation package and is validated on the same cohort
"$alg/pack.sh" validation --cek "$ao_cek" --model "$tmp/model2.json" -o "$tmp/val2.zip" >/dev/null
run_enclave 0 run --package "$tmp/val2.zip" --dataset "$tmp/ds" --criteria "$alg/validation/criteria.json" \
  --ao-cek "$ao_cek" --ds-cek "$ds_cek" -o "$tmp/out-val2"
check_report "$tmp/out-val2/report.json" "$(expect_metrics "$tmp/model2.json")"
[[ -z $(ls -A "$TMPDIR") ]] || fail "a run folder was left behind"
echo "sdk examples: ok"
