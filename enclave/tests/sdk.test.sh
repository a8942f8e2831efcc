#!/usr/bin/env bash
# The manual's Python code runs inside the sandbox against the Enclave API and gets the
# documented answers (issue 5's proof): the template algo-template.py (manual 7.3.5.1.3) with
# the manual's run.sh and Dockerfile, through the clean-room EnclaveSDK; and the four
# requests-based snippets (7.3.1.1.1, 7.3.1.1.2, 7.3.1.2.1, 7.3.1.2.2) driven by
# tests/manual/run_snippets.py. The code is in tests/manual/, copied from the manual with only
# missing imports added (and PDF line breaks repaired: tests/manual/README.md).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cek=$keys/cek.raw
manual=$(cd "$here/../../tests/manual" && pwd)
"$ESCROW_BIN" encrypt --cek "$cek" "$examples/dataset" -o "$tmp/ds" >/dev/null

# The package as an algorithm owner builds it: the manual's three files and nothing else. The
# Dockerfile's `RUN pip install EnclaveSDK` is not executed by the sandbox backend; escrow-enclave
# ships the SDK into the run (what the pip line would have put in the image).

# --- algo-template.py: lists, fetches one file, posts the Completed report ------------------------
mkdir "$tmp/tpl"
cp "$manual/Dockerfile" "$manual/run.sh" "$manual/algo-template.py" "$tmp/tpl/"
# the published template's schema.json; the template's script is the AO's secret
echo '{"report": {"type": "string"}}' >"$tmp/tpl-crit.json"
"$ESCROW_BIN" algorithm pack "$tmp/tpl" --cek "$cek" --encrypt algo-template.py -o "$tmp/tpl.zip" >/dev/null
run_enclave 0 run --package "$tmp/tpl.zip" --dataset "$tmp/ds" --criteria "$tmp/tpl-crit.json" \
  --ao-cek "$cek" --ds-cek "$cek" -o "$tmp/out-tpl"
[[ $(jfield "$tmp/out-tpl/result.json" status) == Completed ]] || fail "template: $(cat "$tmp/out-tpl/result.json")"
python3 - "$tmp/out-tpl/report.json" "$tmp/out-tpl/logs.jsonl" <<'PY' || fail "template outputs"
import json, sys
r = json.load(open(sys.argv[1]))
assert r == {"name": "EscrowAI Algorithm Package", "status": "Completed",
             "json_data": {"report": "Performance Report"}}, r
logs = open(sys.argv[2]).read()
# the template's three calls reached the API: the listing, one file, the report
assert "; 3 Enclave API request(s);" in logs, logs
assert "2 RUN line(s) NOT executed" in logs, "the build log must say RUN lines were not executed"
assert "EnclaveSDK provided: " in logs, "the build log must say the SDK was shipped"
PY
logs_ok "$tmp/out-tpl/logs.jsonl"

# the template against a criteria it does not meet: the SDK raises, the run fails, no report
echo '{"report": {"type": "integer"}}' >"$tmp/tpl-crit-int.json"
run_enclave 1 run --package "$tmp/tpl.zip" --dataset "$tmp/ds" --criteria "$tmp/tpl-crit-int.json" \
  --ao-cek "$cek" --ds-cek "$cek" -o "$tmp/out-tpl-int"
[[ ! -e $tmp/out-tpl-int/report.json ]] || fail "a refused report left the sandbox"
grep -q "must be of integer type" "$tmp/out-tpl-int/result.json" || fail "reason: $(cat "$tmp/out-tpl-int/result.json")"

# the SDK verifies TLS: a configuration trusting another CA cannot reach the API
mkdir "$tmp/tls"
cp "$manual/Dockerfile" "$manual/run.sh" "$tmp/tls/"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=other -days 1 \
  -keyout "$tmp/other.key" -out "$tmp/tls/other-ca.pem" 2>/dev/null
cat >"$tmp/tls/algo-template.py" <<'PY'
import json, os, urllib.request
import EnclaveSDK
c = EnclaveSDK.Configuration("https://localhost:5000")
c.ssl_ca_cert = "other-ca.pem"
try:
    EnclaveSDK.DataApi(EnclaveSDK.ApiClient(c)).api_v1_data_files_get()
    outcome = "connected"
except EnclaveSDK.ApiException as e:
    outcome = "refused" if e.status == 0 and "certificate verification failed" in e.reason else repr(e)
# the default configuration (SSL_CERT_FILE, the run's CA) works
n = EnclaveSDK.DataApi(EnclaveSDK.ApiClient()).api_v1_data_files_get().total_files
EnclaveSDK.ReportApi(EnclaveSDK.ApiClient()).api_v1_report_post(EnclaveSDK.Report(
    name="tls", status="Completed", json_data={"outcome": outcome, "files": n}))
PY
run_enclave 0 run --package "$tmp/tls" --dataset "$tmp/ds" --ds-cek "$cek" -o "$tmp/out-tls"
[[ $(jfield "$tmp/out-tls/report.json" json_data outcome) == refused ]] || fail "TLS: $(cat "$tmp/out-tls/report.json")"
[[ $(jfield "$tmp/out-tls/report.json" json_data files) == 2 ]] || fail "TLS: $(cat "$tmp/out-tls/report.json")"

# --- the four requests snippets --------------------------------------------------------------------
mkdir "$tmp/sn"
cp "$manual"/snippet_*.py "$manual/run_snippets.py" "$tmp/sn/"
printf 'FROM python:3.11-slim\nWORKDIR /app\nCOPY . .\nCMD ["python3", "run_snippets.py"]\n' >"$tmp/sn/Dockerfile"
s1=$(sha256sum "$examples/dataset/patients.csv" | cut -d' ' -f1)
s2=$(sha256sum "$examples/dataset/labs/results.csv" | cut -d' ' -f1)
# a pre-flight run without criteria, as a developer tries the snippets
run_enclave 0 run --package "$tmp/sn" --dataset "$tmp/ds" --ds-cek "$cek" \
  --param "EXPECT_SHA256=patients.csv.bkenc=$s1,labs/results.csv.bkenc=$s2" -o "$tmp/out-sn"
python3 - "$tmp/out-sn/report.json" "$tmp/out-sn/logs.jsonl" <<'PY' || fail "snippets: $(cat "$tmp/out-sn/report.json")"
import json, sys
s = json.load(open(sys.argv[1]))["json_data"]["snippets"]
for k in ("listing", "download", "validate", "report"):
    assert s[k]["error"] is None, (k, s[k]["error"])
# 7.3.1.1.1: 200, {"files": [{"id","name","size","uploadDate"}], "totalFiles"}
l = s["listing"]
assert l["names"] == ["labs/results.csv.bkenc", "patients.csv.bkenc"], l
assert l["fields"] == ["id", "name", "size", "uploadDate"], l
assert l["printed_json"]["totalFiles"] == 2, l
# 7.3.1.1.2: 404 for the snippet's own "test_file.txt" (not in the dataset), 200 with the
# decrypted bytes for every listed name
d = s["download"]
assert d["module_printed"] == "File test_file.txt not found" and d["module_file_content_is_none"], d
assert d["sha256_ok"] is True, d
assert d["missing"] == {"returned_none": True, "printed": "File no/such/file.csv.bkenc not found"}, d
# 7.3.1.2.1: json_data = base64 of the JSON text of a string, status Completed: without criteria
# the documented 200 {"status": "successful", "message": {...}}
v = s["validate"]
assert v["answer"] == {"status": "successful", "message": {}}, v
assert v["printed"] == ["Validation was successful"], v
# 7.3.1.2.2: a report "In Progress" is answered 200 with a "message" (documented {"message": ...})
r = s["report"]
assert r["printed"] == ["Validation was successful"] and "message" in r["answer"], r
assert r["answer"]["status"] == "successful", r
# ...and it is not released: only a Completed report that passes the criteria leaves
logs = [json.loads(x) for x in open(sys.argv[2])]
assert sum("status In Progress: it is not released" in x["message"] for x in logs) == 2, logs
PY
logs_ok "$tmp/out-sn/logs.jsonl"
# the uploadDate of a folder dataset's file is its modification time, as the manual's date-time
python3 - "$tmp/out-sn/report.json" "$tmp/ds" <<'PY' || fail "uploadDate: $(cat "$tmp/out-sn/report.json")"
import datetime, json, os, sys
files = json.load(open(sys.argv[1]))["json_data"]["snippets"]["listing"]["printed_json"]["files"]
assert len(files) == 2, files
for f in files:
    d = f["uploadDate"]
    assert isinstance(d, str) and len(d) == 24 and d.endswith("Z") and d[10] == "T", f
    t = datetime.datetime.strptime(d, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    m = os.stat(os.path.join(sys.argv[2], f["name"])).st_mtime
    assert abs(t.timestamp() - m) < 0.002, (f, m)
PY

# with criteria, the same validate call is checked as Cerberus would: a document that is not a
# mapping fails with Cerberus's message (400, never a 500)
echo '{"snippets": {"type": "dict"}}' >"$tmp/sn-crit.json"
run_enclave 0 run --package "$tmp/sn" --dataset "$tmp/ds" --ds-cek "$cek" --criteria "$tmp/sn-crit.json" \
  --param "EXPECT_SHA256=patients.csv.bkenc=$s1,labs/results.csv.bkenc=$s2" -o "$tmp/out-sn-crit"
python3 - "$tmp/out-sn-crit/report.json" <<'PY' || fail "snippets with criteria: $(cat "$tmp/out-sn-crit/report.json")"
import json, sys
v = json.load(open(sys.argv[1]))["json_data"]["snippets"]["validate"]
assert v["error"] is None, v
assert v["answer"] == {"status": "failed", "message": "'Any object can be here... can be text, can be "
                       "dict, etc.' is not a document, must be a dict"}, v
assert v["printed"] == ["Bad request or validation failed"], v
PY
# --- the SDK escrow-enclave ships: where it comes from, and that a package's own copy wins -------
mkdir "$tmp/probe"
printf 'FROM python:3.11-slim\nWORKDIR /app\nCOPY . .\nCMD ["python3", "probe.py"]\n' >"$tmp/probe/Dockerfile"
cat >"$tmp/probe/probe.py" <<'PY'
import json, os, urllib.request
r = {"pythonpath": os.environ.get("PYTHONPATH")}
try:
    import EnclaveSDK
    r["origin"], r["file"] = getattr(EnclaveSDK, "ORIGIN", "shipped"), EnclaveSDK.__file__
except ImportError:
    r["origin"], r["file"] = None, None
try:
    open("/run/escrow-sdk/EnclaveSDK/added.py", "w").close()
    r["writable"] = True
except OSError:
    r["writable"] = False
r["files"] = sorted(os.path.relpath(os.path.join(d, f), "/run/escrow-sdk")
                    for d, _, fs in os.walk("/run/escrow-sdk") for f in fs)
body = json.dumps({"name": "sdk probe", "status": "Completed", "json_data": r}).encode()
req = urllib.request.Request(os.environ["ENCLAVE_URL"] + "/api/v1/report", data=body, method="POST",
                             headers={"Content-Type": "application/json"})
urllib.request.urlopen(req, timeout=60).read()
PY
probe() {  # OUT ARGS...: run the probe, print its report's json_data
  local out=$1; shift
  run_enclave 0 run --dataset "$tmp/ds" --ds-cek "$cek" -o "$tmp/$out" "$@"
  jfield "$tmp/$out/report.json" json_data
}
# found without being asked for (this build tree's copy), read-only, Python files only
probe out-p1 --package "$tmp/probe" | python3 -c '
import json, sys
r = json.load(sys.stdin)
assert r["origin"] == "shipped" and r["file"] == "/run/escrow-sdk/EnclaveSDK/__init__.py", r
assert r["pythonpath"] == "/run/escrow-sdk" and r["writable"] is False, r
assert {"EnclaveSDK/__init__.py", "EnclaveSDK/api/__init__.py", "EnclaveSDK/models/__init__.py"} <= set(r["files"]), r
assert all(f.endswith(".py") for f in r["files"]), r
' || fail "the shipped SDK: $(cat "$tmp/out-p1/report.json")"
grep -q '"message":"EnclaveSDK provided: ' "$tmp/out-p1/logs.jsonl" || fail "build log: no SDK line"

# a copy the package names in its own PYTHONPATH comes first; the shipped one is appended
cp -r "$tmp/probe" "$tmp/probe-own"
mkdir -p "$tmp/probe-own/vendor/EnclaveSDK"
echo 'ORIGIN = "package"' >"$tmp/probe-own/vendor/EnclaveSDK/__init__.py"
sed -i 's|^COPY . .$|COPY . .\nENV PYTHONPATH=/app/vendor|' "$tmp/probe-own/Dockerfile"
probe out-p2 --package "$tmp/probe-own" | python3 -c '
import json, sys
r = json.load(sys.stdin)
assert r["origin"] == "package" and r["file"] == "/app/vendor/EnclaveSDK/__init__.py", r
assert r["pythonpath"] == "/app/vendor:/run/escrow-sdk", r
' || fail "the package's own SDK: $(cat "$tmp/out-p2/report.json")"

# --sdk-dir names another copy: only its *.py files (no __pycache__, hidden files, links) are shipped
mkdir -p "$tmp/other-sdk/sub" "$tmp/other-sdk/__pycache__"
echo 'ORIGIN = "sdk-dir"' >"$tmp/other-sdk/__init__.py"
echo 'X = 1' >"$tmp/other-sdk/sub/m.py"
echo 'notes' >"$tmp/other-sdk/notes.txt"
echo 'X = 2' >"$tmp/other-sdk/.hidden.py"
echo 'x' >"$tmp/other-sdk/__pycache__/m.cpython-311.pyc"
ln -s /etc/passwd "$tmp/other-sdk/link.py"
probe out-p3 --package "$tmp/probe" --sdk-dir "$tmp/other-sdk" | python3 -c '
import json, sys
r = json.load(sys.stdin)
assert r["origin"] == "sdk-dir", r
assert r["files"] == ["EnclaveSDK/__init__.py", "EnclaveSDK/sub/m.py"], r
' || fail "--sdk-dir: $(cat "$tmp/out-p3/report.json")"

# no SDK where it is looked for: the run still works, the build log says it was not provided
probe out-p4 --package "$tmp/probe" --sdk-dir "$tmp/no-such-sdk" | python3 -c '
import json, sys
r = json.load(sys.stdin)
assert r["origin"] is None and r["pythonpath"] is None and r["files"] == [], r
' || fail "without an SDK: $(cat "$tmp/out-p4/report.json")"
grep -q '"message":"EnclaveSDK was NOT provided (.*no-such-sdk is not an EnclaveSDK package folder' \
  "$tmp/out-p4/logs.jsonl" || fail "build log: $(cat "$tmp/out-p4/logs.jsonl")"
grep -q "warning: EnclaveSDK not provided" "$tmp/stderr" || fail "no warning on stderr"

[[ -z $(ls -A "$TMPDIR") ]] || fail "a run folder was left behind"
echo "sdk: ok"
