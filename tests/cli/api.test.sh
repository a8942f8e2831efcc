#!/usr/bin/env bash
# escrow api ...: the Platform API from the command line, against a real escrowd (built beside
# the escrow command) on a free loopback port: KEK download, each upload kind, the versions
# listing, refusals (exit 1 with the platform's error document), usage and network errors
# (exit 2), and the run endpoints' errors naming the endpoint.
source "$(dirname "$0")/lib.sh"
escrowd=$(cd "$(dirname "$ESCROW_BIN")/../../server" 2>/dev/null && pwd)/escrowd
[[ -x $escrowd ]] || { echo "escrowd is not built: skipped"; exit 0; }
data=$tmp/data
adm() { "$escrowd" admin --data "$data" "$@"; }
adm create-org --name AO >/dev/null
adm create-org --name DS >/dev/null
adm create-user --org AO --email ao@x.test --public-key "$keys/kek3072.pub.pem" >/dev/null
adm create-user --org DS --email ds@x.test --public-key "$keys/kek4096.pub.pem" >/dev/null
pid=$(adm create-project --name "CLI Test" --ao-org AO --ds-org DS --kek-bits 3072 \
      --ao-user ao@x.test --ds-user ds@x.test | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
coproc SRV { exec "$escrowd" serve --data "$data" --listen 127.0.0.1:0 --runners 0 2>"$tmp/escrowd.log"; }
srv_pid=$SRV_PID
trap 'kill "$srv_pid" 2>/dev/null; wait "$srv_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
read -r -t 30 line <&"${SRV[0]}" || fail "escrowd did not start: $(cat "$tmp/escrowd.log")"
addr=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["listening"])' "$line")
base=http://$addr/api/v1
AO=(--base-url "$base" --key "$keys/kek3072.key.pem" --email ao@x.test --project "$pid")
DS=(--base-url "$base" --key "$keys/kek4096.key.pem" --email ds@x.test --project "$pid")

# KEK download: one JSON answer, and -o saves the key under the platform's name in a folder
mkdir "$tmp/keys"
expect 0 api kek-download "${AO[@]}" -o "$tmp/keys"
json_ok
[[ $(jget role) == ao ]] || fail "role"
kekfile=$tmp/keys/$(jget file_name)
grep -q 'BEGIN PUBLIC KEY' "$kekfile" || fail "the KEK was not saved"

# the environment works as well as the options
ESCROW_API_URL=$base ESCROW_API_KEY_FILE=$keys/kek4096.key.pem ESCROW_API_EMAIL=ds@x.test \
  ESCROW_PROJECT_ID=$pid expect 0 api kek-download
[[ $(jget role) == ds ]] || fail "role from the environment"

# uploads: a WCEK made with escrow itself, criteria, specification, attestation, algorithm
expect 0 wcek wrap --kek "$kekfile" --cek "$keys/cek.raw" -o "$tmp/wcek_1.key.bkenc"
expect 0 api upload wcek "$tmp/wcek_1.key.bkenc" --name "AO WCEK" --version-tag w1 "${AO[@]}"
[[ $(jget artifact_type) == wcek ]] || fail "wcek answer"
echo '{"accuracy": {"type": "float", "min": 0, "max": 1}}' >"$tmp/criteria.json"
expect 0 api upload validation-criteria "$tmp/criteria.json" --name Criteria --version-tag v1 "${AO[@]}"
[[ $(jget version_tag) == v1 ]] || fail "criteria answer"
printf '%%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%%%EOF\n' >"$tmp/spec.pdf"
expect 0 api upload data-specification "$tmp/spec.pdf" --name Spec --version-tag s1 "${AO[@]}"
expect 0 api upload data-attestation "$tmp/spec.pdf" --name Att --version-tag a1 "${DS[@]}"
expect 0 api accept-criteria v1 "${DS[@]}"
[[ $(jget validation_criteria_version) == v1 ]] || fail "acceptance answer"
expect 0 api upload algorithm "$ESCROW_TEST_VECTORS/packages/ours-v1.zip" --name Model \
  --version-tag alg1 --algorithm-type validation --criteria-version v1 --attestation-version a1 "${AO[@]}"
[[ $(jget details upload_status 0 status) == "File Validation Succeeded" ]] || fail "algorithm answer"

# the DS's own WCEK, then a dataset, its SAS URL read from standard input (never in the process list)
expect 0 api kek-download "${DS[@]}" -o "$tmp/keys"
expect 0 wcek wrap --kek "$tmp/keys/$(jget file_name)" --cek "$keys/cek.raw" -o "$tmp/wcek_2.key.bkenc"
expect 0 api upload wcek "$tmp/wcek_2.key.bkenc" --name "DS WCEK" --version-tag w1 "${DS[@]}"
se=$(date -u -d '+7 days' +%Y-%m-%dT%H:%M:%SZ)
url="https://acct.blob.core.windows.net/data?sv=2022-11-02&sr=c&sp=rl&spr=https&se=$se&sig=AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE%3D"
rc=0
"$ESCROW_BIN" api dataset - --name Xrays --version-tag d1 --specification-version s1 \
  --attestation-version a1 "${DS[@]}" <<<"$url" >"$tmp/out" 2>"$tmp/err" || rc=$?
[[ $rc == 0 ]] || fail "dataset: $(cat "$tmp/err")"
[[ $(jget details sas_status) == valid ]] || fail "dataset answer"
grep -q 'sig=' "$tmp/out" && fail "the SAS token came back"

# the listing
expect 0 api versions "${AO[@]}"
[[ $(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["versions"]))' "$tmp/out") -ge 6 ]] || fail "listing"
expect 0 api versions --type wcek "${DS[@]}"

# refusals: exit 1, the platform's error document on stdout, the message on stderr
echo '{"accuracy": {"type": "flaot"}}' >"$tmp/bad.json"
expect 1 api upload validation-criteria "$tmp/bad.json" --name Criteria --version-tag v2 "${AO[@]}"
json_ok
grep -q flaot "$tmp/out" || fail "the schema errors are not on stdout"
grep -q 'HTTP 422' "$tmp/err" || fail "the status is not in the message"
expect 1 api upload data-specification "$tmp/spec.pdf" --name Spec --version-tag s2 "${DS[@]}"
grep -q 'HTTP 403' "$tmp/err" || fail "a DS uploading a specification"
expect 1 api kek-download --base-url "$base" --key "$keys/kek4096.key.pem" --email ao@x.test --project "$pid"
grep -q 'HTTP 401' "$tmp/err" || fail "a token signed with another key"

# usage and runtime errors: exit 2
expect 2 api kek-download --base-url "$base"
expect 2 api upload nonsense "$tmp/spec.pdf" --name a --version-tag b "${AO[@]}"
expect 2 api upload wcek "$tmp/missing" --name a --version-tag b "${AO[@]}"
expect 2 api kek-download --base-url http://example.com/api/v1 --key "$keys/kek3072.key.pem" --email a --project p
expect 2 api kek-download --base-url http://127.0.0.1:9/api/v1 --key "$keys/kek3072.key.pem" --email a --project p
expect 2 api run-status "${AO[@]}"
expect 2 api run-status --algorithm-version a --dataset-version d --run-number x "${AO[@]}"

# runs: a configuration, a request with runtime parameters, its status, the DS's rejection,
# then no report (exit 1, the platform's refusal)
R=(--algorithm-version alg1 --dataset-version d1)
expect 0 api run-configuration "${R[@]}" --name "first" "${AO[@]}"
expect 0 api run-request "${R[@]}" --machine-type cpu-standard-2 --param EPOCHS=3 "${AO[@]}"
[[ $(jget status) == "Run Requested" && $(jget runtime_parameters EPOCHS) == 3 ]] || fail "run-request answer: $(cat "$tmp/out")"
expect 0 api run-status "${R[@]}" "${DS[@]}"
[[ $(jget status) == "Run Requested" && $(jget simulated_tee) == true ]] || fail "run-status answer"
expect 2 api run-reject "${R[@]}" "${DS[@]}"
expect 0 api run-reject "${R[@]}" --reason "not now" "${DS[@]}"
[[ $(jget status) == Rejected && $(jget reason) == "not now" ]] || fail "run-reject answer"
expect 1 api report-download "${R[@]}" -o "$tmp/report.json" "${AO[@]}"
grep -q 'GET /report-download/' "$tmp/err" || fail "report-download refusal: $(cat "$tmp/err")"
[[ ! -e $tmp/report.json ]] || fail "a refused report left a file"
expect 1 api model-download "${R[@]}" -o "$tmp/model.zip.bkenc" "${AO[@]}"
[[ ! -e $tmp/model.zip.bkenc ]] || fail "a refused model download left a file"
expect 2 api model-download "${R[@]}" "${AO[@]}"
rc=0
"$ESCROW_BIN" api log-download "${R[@]}" -o "$tmp/logs.json" "${DS[@]}" >"$tmp/out" 2>"$tmp/err" || rc=$?
case $rc in
  0) python3 -m json.tool "$tmp/logs.json" >/dev/null || fail "the log download is not JSON" ;;
  1) [[ ! -e $tmp/logs.json ]] || fail "a refused log download left a file" ;;
  *) fail "log-download: exit $rc: $(cat "$tmp/err")" ;;
esac
expect 0 api notifications "${AO[@]}"
grep -q 'not now' "$tmp/out" || fail "the AO was not notified"
# nothing secret in escrowd's log or our messages
grep -q 'eyJ' "$tmp/escrowd.log" "$tmp/err" && fail "a token was logged"

# TLS: the same data served over https with a certificate for 127.0.0.1; it verifies only
# with its CA given (--ca-file), never without
if command -v openssl >/dev/null; then
  kill "$srv_pid"; wait "$srv_pid" 2>/dev/null || true
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$tmp/tls.key" -out "$tmp/tls.pem" 2>/dev/null
  coproc TLS { exec "$escrowd" serve --data "$data" --listen 127.0.0.1:0 --runners 0 \
                 --tls-cert "$tmp/tls.pem" --tls-key "$tmp/tls.key" 2>"$tmp/escrowd-tls.log"; }
  srv_pid=$TLS_PID
  read -r -t 30 line <&"${TLS[0]}" || fail "escrowd (TLS) did not start: $(cat "$tmp/escrowd-tls.log")"
  addr=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["listening"])' "$line")
  S=(--base-url "https://$addr/api/v1" --key "$keys/kek3072.key.pem" --email ao@x.test --project "$pid")
  expect 0 api kek-download "${S[@]}" --ca-file "$tmp/tls.pem"
  [[ $(jget role) == ao ]] || fail "kek-download over TLS"
  expect 2 api kek-download "${S[@]}"
  grep -qi 'certificate' "$tmp/err" || fail "an untrusted certificate: $(cat "$tmp/err")"
  expect 2 api kek-download --base-url "http://$addr/api/v1" --key "$keys/kek3072.key.pem" \
    --email ao@x.test --project "$pid"
fi
echo "api CLI: ok"
