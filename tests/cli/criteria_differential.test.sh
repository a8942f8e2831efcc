#!/usr/bin/env bash
# Differential test of `escrow criteria validate --jsonl` against Cerberus 1.3.2:
#  1. the committed corpora (tests/vectors/criteria/cases.jsonl, and cerberus_suite.jsonl:
#     the calls of Cerberus's own test suite; answers recorded from Cerberus in *expected.jsonl)
#     must agree exactly (modulo Python set order);
#  2. when Debian's python3-cerberus and python3-hypothesis are installed, N random cases
#     (CRITERIA_DIFF_CASES, default 1500) and N/2 schemas with mistakes are generated, answered
#     by both, and must agree on at least 99.5% of the cases Cerberus answers without crashing.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${ESCROW_BIN:?ESCROW_BIN must name the escrow command}"
py=/usr/bin/python3
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

"$bin" criteria validate --jsonl < "$here/vectors/criteria/cases.jsonl" > "$tmp/corpus.act"
"$py" "$here/criteria/compare.py" "$here/vectors/criteria/cases.jsonl" \
  "$here/vectors/criteria/expected.jsonl" "$tmp/corpus.act" --min-agreement 1.0

# Cerberus's own test suite, recorded with tests/criteria/record_cerberus_suite.py
"$bin" criteria validate --jsonl < "$here/vectors/criteria/cerberus_suite.jsonl" > "$tmp/suite.act"
"$py" "$here/criteria/compare.py" "$here/vectors/criteria/cerberus_suite.jsonl" \
  "$here/vectors/criteria/cerberus_suite.expected.jsonl" "$tmp/suite.act" --min-agreement 1.0

if "$py" -c 'import cerberus, hypothesis' 2>/dev/null; then
  n="${CRITERIA_DIFF_CASES:-1500}"
  "$py" "$here/criteria/gen_cases.py" "$n" > "$tmp/gen.jsonl"
  "$py" "$here/criteria/cerberus_oracle.py" < "$tmp/gen.jsonl" > "$tmp/gen.exp"
  "$bin" criteria validate --jsonl < "$tmp/gen.jsonl" > "$tmp/gen.act"
  "$py" "$here/criteria/compare.py" "$tmp/gen.jsonl" "$tmp/gen.exp" "$tmp/gen.act" \
    --min-agreement 0.995
  # schemas with mistakes: the SchemaError trees
  "$py" "$here/criteria/gen_cases.py" "$(( n / 2 ))" --schema-errors > "$tmp/bad.jsonl"
  "$py" "$here/criteria/cerberus_oracle.py" < "$tmp/bad.jsonl" > "$tmp/bad.exp"
  "$bin" criteria validate --jsonl < "$tmp/bad.jsonl" > "$tmp/bad.act"
  "$py" "$here/criteria/compare.py" "$tmp/bad.jsonl" "$tmp/bad.exp" "$tmp/bad.act" \
    --min-agreement 0.995
else
  echo "SKIP generated cases: /usr/bin/python3 lacks cerberus or hypothesis"
fi

# the command's own contract: exit statuses and the platform's answer
crit="$tmp/crit.json"
printf '%s' '{"report":{"type":"dict","schema":{"n":{"type":"integer","min":1}}}}' > "$crit"
printf '%s' '{"report":{"n":5}}' > "$tmp/ok.json"
printf '%s' '{"report":{"n":0}}' > "$tmp/bad.json"
out="$("$bin" criteria validate "$crit" "$tmp/ok.json")"
[ "$out" = '{"status":"successful","message":{}}' ] || { echo "unexpected: $out"; exit 1; }
set +e
out="$("$bin" criteria validate "$crit" "$tmp/bad.json")"; rc=$?
set -e
[ $rc -eq 1 ] || { echo "failed report should exit 1, got $rc"; exit 1; }
[ "$out" = '{"status":"failed","message":{"report":[{"n":["min value is 1"]}]}}' ] || { echo "unexpected: $out"; exit 1; }
# json_data as base64 of JSON, and as a JSON string
base64 -w0 "$tmp/ok.json" > "$tmp/ok.b64"
"$bin" criteria validate "$crit" "$tmp/ok.b64" > /dev/null
printf '"%s"' '{\"report\":{\"n\":5}}' > "$tmp/ok.str"
"$bin" criteria validate "$crit" "$tmp/ok.str" > /dev/null
printf '%s' '{"a":{"type":"flaot"}}' > "$tmp/badcrit.json"
set +e
"$bin" criteria check "$tmp/badcrit.json" > "$tmp/check.out" 2>/dev/null; rc=$?
set -e
[ $rc -eq 1 ] || { echo "bad criteria should exit 1, got $rc"; exit 1; }
grep -q 'Unsupported types: flaot' "$tmp/check.out"
"$bin" criteria check "$crit" > /dev/null
# --redact-values: what the enclave may send out
printf '%s' '{"a":{"allowed":["x"]}}' > "$tmp/enum.json"
printf '%s' '{"a":"secret value"}' > "$tmp/leak.json"
set +e
out="$("$bin" criteria validate --redact-values "$tmp/enum.json" "$tmp/leak.json")"
set -e
[ "$out" = '{"status":"failed","message":{"a":["unallowed value <redacted>"]}}' ] || { echo "unexpected: $out"; exit 1; }
"$bin" criteria audit "$crit" > /dev/null
echo "criteria differential: ok"
