#!/usr/bin/env bash
# escrow sas check/sign/verify exit codes and JSON, and escrow blob ls/get/put on a file://
# dataset folder (no network): put refuses plaintext, uploads an encrypted folder, skips it the
# second time; get decrypts; ls lists; bad names and missing blobs fail without output files.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
KEY=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==

# --- sas ---------------------------------------------------------------------------------------
expect 0 sas sign --account datasteward --key "$KEY" --container ds-q-a-demo --permissions lr \
  --start 2024-01-01T00:00:00Z --expiry 2099-12-31T23:59:59Z --https-only --version 2021-12-02
url=$(cat "$tmp/out")
[[ $url == https://datasteward.blob.core.windows.net/ds-q-a-demo\?sv=2021-12-02\&spr=https\&* ]] || fail "sign: $url"
[[ $url == *"&sp=rl&"* ]] || fail "permissions not canonical: $url"
expect 0 sas check "$url" --now 2024-06-01T00:00:00Z
[[ $(jget status) == valid && $(jget message) == "Valid dataset URL link." ]] || fail "check: $(cat "$tmp/out")"
expect 1 sas check "$url" --now 2099-12-31T00:00:00Z
[[ $(jget status) == expiring ]] || fail "expiring: $(cat "$tmp/out")"
expect 1 sas check "$url" --now 2100-01-01T01:00:00+01:00
[[ $(jget status) == expired ]] || fail "expired: $(cat "$tmp/out")"
expect 1 sas check "$url" --now 2023-12-31T23:59:59Z
[[ $(jget status) == "not yet valid" ]] || fail "not yet valid: $(cat "$tmp/out")"
expect 1 sas check "${url/sp=rl/sp=r}"
[[ $(jget status) == invalid && $(jget message) == "SAS Token Not Provided Or Invalid URI" ]] || fail "invalid: $(cat "$tmp/out")"
expect 2 sas check "$url" --now yesterday
# the URL on standard input keeps the token out of the process list
rc=0; printf '%s\n' "$url" | "$ESCROW_BIN" sas check - --now 2024-06-01T00:00:00Z >"$tmp/out" || rc=$?
[[ $rc == 0 && $(jget status) == valid ]] || fail "sas check - (stdin): $rc $(cat "$tmp/out")"
rc=0; printf '%s\n' "$url" | "$ESCROW_BIN" sas verify - --key "$KEY" >"$tmp/out" || rc=$?
[[ $rc == 0 && $(jget valid) == true ]] || fail "sas verify - (stdin)"
rc=0; "$ESCROW_BIN" sas check - </dev/null >/dev/null 2>&1 || rc=$?
[[ $rc == 2 ]] || fail "sas check - with nothing on stdin: $rc"
expect 0 sas verify "$url" --key "$KEY"
[[ $(jget valid) == true ]] || fail "verify"
printf '%s\n' "$KEY" >"$tmp/key"
expect 0 sas verify "$url" --key "@$tmp/key"
expect 1 sas verify "${url/sp=rl/sp=rlw}" --key "$KEY"
[[ $(jget valid) == false ]] || fail "verify tampered"
grep -q "$KEY" "$tmp/out" "$tmp/err" && fail "the key was printed"
expect 0 sas sign --account datasteward --key "$KEY" --container ds --permissions rl --expiry 2099-01-01 --string-to-sign
[[ $(jget string_to_sign) == rl* ]] || fail "string-to-sign"
expect 1 sas sign --account datasteward --key "$KEY" --container ds --permissions rl --expiry 2099-01-01 --version 2026-04-06
expect 2 sas sign --account datasteward --key "$KEY" --permissions rl --expiry 2099-01-01

# --- blob on a file:// folder --------------------------------------------------------------------
cek=$ESCROW_TEST_VECTORS/keys/cek.raw
mkdir -p "$tmp/plain/sub" "$tmp/store"
printf 'id,value\n1,42\n' >"$tmp/plain/a.csv"
head -c 300000 /dev/urandom >"$tmp/plain/sub/b.bin"
expect 1 blob put "$tmp/plain" "file://$tmp/store"
grep -q "not encrypted" "$tmp/err" || fail "plaintext upload not refused"
[[ -z $(ls -A "$tmp/store") ]] || fail "something was uploaded"
expect 0 encrypt --cek "$cek" "$tmp/plain" -o "$tmp/enc"
expect 0 blob put "$tmp/enc" "file://$tmp/store"
n=$(find "$tmp/enc" -type f | wc -l)
[[ $(jget uploaded) == "$n" && $(jget skipped) == 0 ]] || fail "put: $(cat "$tmp/out")"
expect 0 blob put "$tmp/enc" "file://$tmp/store"
[[ $(jget uploaded) == 0 && $(jget skipped) == "$n" ]] || fail "second put: $(cat "$tmp/out")"
expect 0 blob ls "file://$tmp/store"
[[ $(jget count) == "$n" ]] || fail "ls: $(cat "$tmp/out")"
rc=0; printf 'file://%s\n' "$tmp/store" | "$ESCROW_BIN" blob ls - >"$tmp/out" || rc=$?
[[ $rc == 0 && $(jget count) == "$n" ]] || fail "blob ls - (stdin)"
expect 0 blob ls "file://$tmp/store" --prefix sub/
[[ $(jget count) == 1 && $(jget blobs 0 name) == sub/b.bin.bkenc ]] || fail "ls prefix: $(cat "$tmp/out")"
mkdir "$tmp/got"
expect 0 blob get "file://$tmp/store" sub/b.bin.bkenc -o "$tmp/got" --cek "$cek"
cmp "$tmp/got/b.bin" "$tmp/plain/sub/b.bin" || fail "decrypted download differs"
expect 0 blob get "file://$tmp/store" sub/b.bin.bkenc -o "$tmp/got/raw.bkenc"
cmp "$tmp/got/raw.bkenc" "$tmp/enc/sub/b.bin.bkenc" || fail "raw download differs"
expect 1 blob get "file://$tmp/store" sub/b.bin.bkenc -o "$tmp/got/x.bin" --cek "$cek" --expect-path other.bin
expect 2 blob get "file://$tmp/store" nope.bkenc -o "$tmp/got/y.bin"
expect 2 blob get "file://$tmp/store" ../etc/passwd -o "$tmp/got/z.bin"
[[ ! -e $tmp/got/x.bin && ! -e $tmp/got/y.bin && ! -e $tmp/got/z.bin ]] || fail "an output was left after a failure"
[[ $(ls "$tmp/got" | wc -l) == 2 ]] || fail "stray files in the output folder: $(ls "$tmp/got")"
expect 2 blob ls "http://10.0.0.1/acct/ds?sv=2021-12-02&sig=x" --allow-loopback-http
expect 2 blob ls "file://$tmp/missing"
echo "blob_file: all passed"
