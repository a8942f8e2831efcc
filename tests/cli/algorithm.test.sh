#!/usr/bin/env bash
# escrow algorithm pack/check: the sample algorithm packs into a zip whose secret is encrypted
# (no plaintext model inside) and listed in secrets.yaml; the upload checks pass with a WCEK
# and fail (exit 1) without a Dockerfile, with a missing or empty WCEK, or on a non-zip.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# check_status NAME: the status of the named check in the last answer
check_status() {
  python3 - "$tmp/out" "$1" <<'PY'
import json, sys
print(next(c["status"] for c in json.load(open(sys.argv[1]))["checks"] if c["name"] == sys.argv[2]))
PY
}
zip_names() { python3 -c 'import sys, zipfile; print("\n".join(zipfile.ZipFile(sys.argv[1]).namelist()))' "$1"; }
cek=$keys/cek.raw
cp -r "$examples/algorithm" "$tmp/alg"

# --- pack ----------------------------------------------------------------------------------------
expect 0 algorithm pack "$tmp/alg" --cek "$cek" --encrypt model --project proj-1 --role ao -o "$tmp/alg.zip"
json_ok
[[ $(jget zip) == "$tmp/alg.zip" ]] || fail "pack answer: $(cat "$tmp/out")"
[[ $(jget secrets) == '[["model/weights.json.bkenc", "model/weights.json"]]' ]] || fail "secrets: $(jget secrets)"
names=$(zip_names "$tmp/alg.zip")
for n in Dockerfile run.sh algo.py requirements.txt schema.json secrets.yaml model/weights.json.bkenc; do
  grep -qx "$n" <<<"$names" || fail "$n missing from the package: $names"
done
grep -qx model/weights.json <<<"$names" && fail "the secret's plaintext is in the package"
python3 - "$tmp/alg.zip" <<'PY' || fail "the secret's content leaked into the package"
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
assert not any(b"0.045" in z.read(n) for n in z.namelist())
PY
[[ ! -e $tmp/alg/secrets.yaml ]] || fail "pack must not write into the algorithm folder"

# the secret decrypts (bound to its path) to the original
mkdir "$tmp/x" && (cd "$tmp/x" && unzip -q "$tmp/alg.zip")
grep -q 'model/weights.json' "$tmp/x/secrets.yaml" || fail "secrets.yaml does not list the secret"
expect 0 inspect "$tmp/x/model/weights.json.bkenc"
[[ $(jget context path) == model/weights.json && $(jget context role) == ao ]] || fail "secret context"
expect 0 decrypt --cek "$cek" --expect-path model/weights.json "$tmp/x/model/weights.json.bkenc" -o "$tmp/weights.json"
cmp "$tmp/weights.json" "$examples/algorithm/model/weights.json" || fail "secret round trip"

# --- check ---------------------------------------------------------------------------------------
expect 0 wcek wrap --kek "$keys/kek4096.pub.der" --cek "$cek" -o "$tmp/alg.wcek"
expect 0 algorithm check "$tmp/alg.zip" --wcek "$tmp/alg.wcek"
json_ok
[[ $(jget passed) == true ]] || fail "a good package fails: $(cat "$tmp/out")"
for c in "Dockerfile is present" "Secrets file is present" "WCEK file is present" "Secret files are present" "Entry point is present"; do
  [[ $(check_status "$c") == passed ]] || fail "check '$c': $(cat "$tmp/out")"
done
expect 0 algorithm check "$tmp/alg.zip"
json_ok
[[ $(check_status "WCEK file is present") == "not checked" ]] || fail "WCEK without --wcek"
expect 1 algorithm check "$tmp/alg.zip" --wcek "$tmp/no-such.wcek"
json_ok
[[ $(jget passed) == false && $(check_status "WCEK file is present") == failed ]] || fail "missing WCEK"
: >"$tmp/empty.wcek"
expect 1 algorithm check "$tmp/alg.zip" --wcek "$tmp/empty.wcek"
[[ $(check_status "WCEK file is present") == failed ]] || fail "empty WCEK"

# a package without a Dockerfile (zipped by hand) fails its check
cp -r "$tmp/x" "$tmp/nodocker" && rm "$tmp/nodocker/Dockerfile"
(cd "$tmp/nodocker" && zip -qr "$tmp/nodocker.zip" .)
expect 1 algorithm check "$tmp/nodocker.zip" --wcek "$tmp/alg.wcek"
json_ok
[[ $(jget passed) == false && $(check_status "Dockerfile is present") == failed ]] || fail "no Dockerfile"
# a listed secret missing from the zip
cp -r "$tmp/x" "$tmp/nosecret" && rm "$tmp/nosecret/model/weights.json.bkenc"
(cd "$tmp/nosecret" && zip -qr "$tmp/nosecret.zip" .)
expect 1 algorithm check "$tmp/nosecret.zip" --wcek "$tmp/alg.wcek"
[[ $(check_status "Secret files are present") == failed ]] || fail "missing secret file"

head -c 3000 /dev/urandom >"$tmp/not.zip"
expect 1 algorithm check "$tmp/not.zip"
expect 2 algorithm check "$tmp/missing.zip"

# --- pack refusals leave no zip -----------------------------------------------------------------
expect 2 algorithm pack "$tmp/alg" --cek "$cek" --encrypt model -o "$tmp/alg.zip" --format v3
expect 1 algorithm pack "$tmp/alg" --cek "$keys/weak2048.pub.pem" --encrypt model -o "$tmp/bad1.zip"
[[ ! -e $tmp/bad1.zip ]] || fail "bad CEK: zip left"
rc=0; "$ESCROW_BIN" algorithm pack "$tmp/alg" --cek "$cek" --encrypt Dockerfile -o "$tmp/bad2.zip" >/dev/null 2>&1 || rc=$?
[[ $rc != 0 && ! -e $tmp/bad2.zip ]] || fail "encrypting the Dockerfile must be refused"
rc=0; "$ESCROW_BIN" algorithm pack "$tmp/alg" --cek "$cek" --encrypt no-such-file -o "$tmp/bad3.zip" >/dev/null 2>&1 || rc=$?
[[ $rc != 0 && ! -e $tmp/bad3.zip ]] || fail "a missing secret must be refused"
expect 2 algorithm pack "$tmp/no-such-dir" --cek "$cek" --encrypt model -o "$tmp/bad4.zip"
[[ ! -e $tmp/bad4.zip ]] || fail "missing folder: zip left"

# --- legacy v0 package ---------------------------------------------------------------------------
expect 0 algorithm pack "$tmp/alg" --cek "$cek" --encrypt model/weights.json --format v0 -o "$tmp/alg.v0.zip"
json_ok
grep -qi legacy "$tmp/err" || fail "v0 must warn that it is legacy"
mkdir "$tmp/y" && (cd "$tmp/y" && unzip -q "$tmp/alg.v0.zip")
[[ $(head -c 8 "$tmp/y/model/weights.json.bkenc") == Salted__ ]] || fail "v0 secret"
expect 0 decrypt --cek "$cek" "$tmp/y/model/weights.json.bkenc" -o "$tmp/weights.v0.json"
cmp "$tmp/weights.v0.json" "$examples/algorithm/model/weights.json" || fail "v0 secret round trip"
expect 0 algorithm check "$tmp/alg.v0.zip" --wcek "$tmp/alg.wcek"
echo "algorithm: ok"
