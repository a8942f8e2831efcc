#!/usr/bin/env bash
# escrow attest: a development issuer signs a SIMULATED token for an enclave's runtime data;
# verify-token accepts it only with --allow-simulated, refuses another issuer, an expired
# token and runtime data that is not the bound one; policy-eval allows and denies (exit 1,
# naming the failed condition).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
v=$ESCROW_TEST_VECTORS/attest
iss=http://127.0.0.1:8443/sim
now=1767225600

expect 0 attest sim-issuer --out "$tmp/issuer.pem" --kid dev-1 --bits 2048
cp "$tmp/out" "$tmp/jwks.json"
[[ $(jget keys 0 kid) == dev-1 ]] || fail "jwks: $(cat "$tmp/jwks.json")"
[[ $(stat -c %a "$tmp/issuer.pem") == 600 ]] || fail "the issuer key is not mode 0600"
grep -q SIMULATED "$tmp/err" || fail "sim-issuer does not say its evidence is simulated"
expect 2 attest sim-issuer --out "$tmp/issuer.pem" # never replaced

expect 0 attest runtime-data --key "$v/enclave-a.key.pem" --nonce n-1 --project proj-1 --run run-1 --role ds
cp "$tmp/out" "$tmp/rd.json"
[[ $(jget run_id) == run-1 && $(jget keys 0 key_ops) == '["encrypt"]' ]] || fail "runtime data: $(cat "$tmp/rd.json")"
expect 0 attest runtime-data --key "$v/enclave-a.key.pem" --nonce n-2 --project proj-1 --run run-1 --role ds
cp "$tmp/out" "$tmp/rd2.json"

expect 0 attest sim-token "$tmp/rd.json" --issuer-key "$tmp/issuer.pem" --kid dev-1 --issuer "$iss" --now $now --package-digest sha256:aa
cp "$tmp/out" "$tmp/token"

expect 1 attest verify-token "$tmp/token" --issuer "$iss" --jwks "$tmp/jwks.json" --now $now
grep -q SIMULATED "$tmp/err" || fail "refusal does not say why: $(cat "$tmp/err")"
expect 0 attest verify-token "$tmp/token" --issuer "$iss/" --jwks "$tmp/jwks.json" --now $now --allow-simulated --runtime-data "$tmp/rd.json"
json_ok
cp "$tmp/out" "$tmp/claims.json"
[[ $(jget x-escrow-simulated) == true && $(jget x-ms-runtime run_id) == run-1 ]] || fail "claims: $(cat "$tmp/claims.json")"
grep -q SIMULATED "$tmp/err" || fail "verify-token does not warn that the evidence is simulated"
expect 0 attest verify-token - --issuer "$iss" --jwks "$tmp/jwks.json" --now $now --allow-simulated <"$tmp/token"

# refusals: another issuer, expired, other runtime data
expect 1 attest verify-token "$tmp/token" --issuer http://127.0.0.1:9/other --jwks "$tmp/jwks.json" --now $now --allow-simulated
expect 1 attest verify-token "$tmp/token" --issuer "$iss" --jwks "$tmp/jwks.json" --now $((now + 3600)) --allow-simulated
grep -q expired "$tmp/err" || fail "expiry not named: $(cat "$tmp/err")"
expect 1 attest verify-token "$tmp/token" --issuer "$iss" --jwks "$tmp/jwks.json" --now $now --allow-simulated --runtime-data "$tmp/rd2.json"

# policy
cat >"$tmp/policy.json" <<JSON
{"version":"1.0.0","anyOf":[{"authority":"$iss/","allOf":[
  {"claim":"x-ms-runtime.project_id","equals":"proj-1"},
  {"claim":"x-escrow-package-digest","equals":"sha256:aa"}]}]}
JSON
expect 0 attest policy-eval "$tmp/policy.json" "$tmp/claims.json"
[[ $(jget allowed) == true ]] || fail "policy: $(cat "$tmp/out")"
sed -i 's/proj-1/proj-2/' "$tmp/policy.json"
expect 1 attest policy-eval "$tmp/policy.json" "$tmp/claims.json"
[[ $(jget allowed) == false ]] || fail "policy: $(cat "$tmp/out")"
jget reason | grep -q 'x-ms-runtime.project_id' || fail "reason: $(cat "$tmp/out")"
echo '{"version":"9"}' >"$tmp/bad.json"
expect 1 attest policy-eval "$tmp/bad.json" "$tmp/claims.json"
expect 2 attest policy-eval "$tmp/missing.json" "$tmp/claims.json"
echo ok
