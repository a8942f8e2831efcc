#!/usr/bin/env bash
# escrow encrypt/decrypt/inspect: files and folders round-trip; the header carries the context;
# tampered, truncated, swapped or wrongly keyed input is refused with exit 1 and no output;
# legacy v0 round-trips and interoperates with an independent implementation.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
dataset=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../examples/dataset" && pwd)
# flip FILE OFFSET: change one bit of one byte
flip() {
  python3 -c 'import sys; f = open(sys.argv[1], "r+b"); o = int(sys.argv[2]); f.seek(o); b = f.read(1)[0]; f.seek(o); f.write(bytes([b ^ 1]))' "$1" "$2"
}
cek=$keys/cek.raw
other=$tmp/other.key
head -c 32 /dev/urandom >"$other"

# --- a file: round trip, JSON answer, context in the header ---------------------------------------
head -c 200000 /dev/urandom >"$tmp/data.bin"
expect 0 encrypt --cek "$cek" --project proj-1 --role ds --asset asset-9@v2 --key-id wcek-v3 \
  "$tmp/data.bin" -o "$tmp/data.bin.bkenc"
json_ok
[[ $(jget format) == v1 && $(jget files) == 1 && $(jget bytes) == 200000 && $(jget output) == "$tmp/data.bin.bkenc" ]] \
  || fail "encrypt answer: $(cat "$tmp/out")"
expect 0 inspect "$tmp/data.bin.bkenc"
json_ok
[[ $(jget context project_id) == proj-1 && $(jget context role) == ds && $(jget context asset) == asset-9@v2 \
  && $(jget context key_id) == wcek-v3 && $(jget context path) == data.bin ]] || fail "inspect context: $(cat "$tmp/out")"
[[ $(jget version) == 1 && $(jget log2cs) == 16 && $(jget chunk_size) == 65536 && $(jget chunks) == 4 \
  && $(jget plaintext_size) == 200000 && $(jget verified) == false ]] || fail "inspect fields: $(cat "$tmp/out")"
[[ $(jget suite) == AES-256-GCM/HKDF-SHA-256/HMAC-SHA-256 && $(jget salt) =~ ^[0-9a-f]{64}$ && $(jget hdrtag) =~ ^[0-9a-f]{64}$ ]] \
  || fail "inspect salt/hdrtag/suite"
hlen=$(jget header_length)
[[ $(( $(stat -c %s "$tmp/data.bin.bkenc") - hlen )) == $(( 200000 + 4 * 16 )) ]] || fail "header_length"
expect 0 inspect "$tmp/data.bin.bkenc" --cek "$cek"
[[ $(jget verified) == true ]] || fail "inspect --cek with the right key verifies"
expect 1 inspect "$tmp/data.bin.bkenc" --cek "$other"
json_ok
[[ $(jget verified) == false ]] || fail "inspect --cek with a wrong key"

# An independent reader (Python, from the format description) verifies what we wrote.
python3 - "$tmp/data.bin.bkenc" "$cek" "$tmp/data.bin" <<'PY'
import hmac, hashlib, struct, sys
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from cryptography.hazmat.primitives import hashes
f = open(sys.argv[1], "rb").read(); cek = open(sys.argv[2], "rb").read(); want = open(sys.argv[3], "rb").read()
assert f[:8] == b"\x89BKENC\r\n" and f[8] == 1 and f[9] == 1 and f[11] == 0
log2cs, salt = f[10], f[12:44]
ctxlen = struct.unpack(">H", f[44:46])[0]
hdr_end = 46 + ctxlen
tag = f[hdr_end:hdr_end + 32]
prk = hmac.new(salt, cek, hashlib.sha256).digest()
exp = lambda info: HKDFExpand(hashes.SHA256(), 32, info).derive(prk)
assert hmac.compare_digest(hmac.new(exp(b"libescrow/v1/header"), f[:hdr_end], hashlib.sha256).digest(), tag)
g = AESGCM(exp(b"libescrow/v1/payload" + tag))
body, cs, out, i = f[hdr_end + 32:], (1 << log2cs) + 16, b"", 0
while body:
    c, body = body[:cs], body[cs:]
    out += g.decrypt(i.to_bytes(11, "big") + (b"\x01" if not body else b"\x00"), c, None); i += 1
assert out == want, "plaintext differs"
PY

expect 0 decrypt --cek "$cek" "$tmp/data.bin.bkenc" -o "$tmp/data.out"
json_ok
[[ $(jget format) == v1 && $(jget files) == 1 && $(jget bytes) == 200000 ]] || fail "decrypt answer"
cmp "$tmp/data.bin" "$tmp/data.out" || fail "round trip"
expect 0 decrypt --cek "$keys/cek.b64" --expect-path data.bin "$tmp/data.bin.bkenc" -o "$tmp/data.out2"
expect 1 decrypt --cek "$cek" --expect-path other.bin "$tmp/data.bin.bkenc" -o "$tmp/data.out3"
[[ ! -e $tmp/data.out3 ]] || fail "--expect-path mismatch left output"

# -o an existing folder: the file keeps its name (+ .bkenc when encrypting, - .bkenc when decrypting)
mkdir "$tmp/enc-here" "$tmp/dec-here"
expect 0 encrypt --cek "$cek" "$tmp/data.bin" -o "$tmp/enc-here"
[[ $(jget output) == "$tmp/enc-here/data.bin.bkenc" && -f $tmp/enc-here/data.bin.bkenc ]] || fail "encrypt into a folder"
expect 0 decrypt --cek "$cek" "$tmp/enc-here/data.bin.bkenc" -o "$tmp/dec-here/"
[[ $(jget output) == "$tmp/dec-here/data.bin" ]] || fail "decrypt into a folder: $(cat "$tmp/out")"
cmp "$tmp/data.bin" "$tmp/dec-here/data.bin" || fail "decrypt into a folder: content"
expect 2 decrypt --cek "$cek" "$tmp/data.bin" -o "$tmp/dec-here"

# --path, --chunk-size-log2, an empty file, --key-id=VALUE form
expect 0 encrypt --cek="$cek" --path dir/name.csv --chunk-size-log2 14 "$tmp/data.bin" -o "$tmp/small-chunks.bkenc"
expect 0 inspect "$tmp/small-chunks.bkenc"
[[ $(jget context path) == dir/name.csv && $(jget chunk_size) == 16384 && $(jget chunks) == 13 \
  && $(jget context project_id) == null ]] || fail "--path/--chunk-size-log2: $(cat "$tmp/out")"
expect 2 encrypt --cek "$cek" --chunk-size-log2 30 "$tmp/data.bin" -o "$tmp/x.bkenc"
: >"$tmp/empty"
expect 0 encrypt --cek "$cek" "$tmp/empty" -o "$tmp/empty.bkenc"
expect 0 inspect "$tmp/empty.bkenc"
[[ $(jget plaintext_size) == 0 && $(jget chunks) == 1 ]] || fail "empty file inspect"
expect 0 decrypt --cek "$cek" "$tmp/empty.bkenc" -o "$tmp/empty.out"
[[ -f $tmp/empty.out && ! -s $tmp/empty.out ]] || fail "empty round trip"

# --- refusals: each exit 1, no output file -------------------------------------------------------
size=$(stat -c %s "$tmp/data.bin.bkenc")
for where in 20 "$hlen" 70000 $((size - 5)); do
  cp "$tmp/data.bin.bkenc" "$tmp/tampered.bkenc"
  flip "$tmp/tampered.bkenc" "$where"
  expect 1 decrypt --cek "$cek" "$tmp/tampered.bkenc" -o "$tmp/tampered.out"
  [[ ! -e $tmp/tampered.out ]] || fail "tampered at $where: output left"
  grep -q '^escrow: ' "$tmp/err" || fail "tampered: no message"
done
head -c $((size - 1000)) "$tmp/data.bin.bkenc" >"$tmp/truncated.bkenc"
expect 1 decrypt --cek "$cek" "$tmp/truncated.bkenc" -o "$tmp/truncated.out"
[[ ! -e $tmp/truncated.out ]] || fail "truncated: output left"
head -c $((hlen + 65552 + 5)) "$tmp/data.bin.bkenc" >"$tmp/odd.bkenc"
expect 1 inspect "$tmp/odd.bkenc"
json_ok
[[ $(jget plaintext_size) == null ]] || fail "a size no plaintext has must show as null"
head -c 60 "$tmp/data.bin.bkenc" >"$tmp/header-cut.bkenc"
expect 1 inspect "$tmp/header-cut.bkenc"
head -c $((hlen + 65536 + 16)) "$tmp/data.bin.bkenc" >"$tmp/cut.bkenc"
expect 1 decrypt --cek "$cek" "$tmp/cut.bkenc" -o "$tmp/cut.out"
[[ ! -e $tmp/cut.out ]] || fail "cut at a chunk boundary: output left"
expect 1 decrypt --cek "$other" "$tmp/data.bin.bkenc" -o "$tmp/wrong.out"
[[ ! -e $tmp/wrong.out ]] || fail "wrong CEK: output left"
grep -qi 'key' "$tmp/err" || fail "wrong CEK: the message should point at the key"
expect 1 decrypt --cek "$cek" "$tmp/data.bin" -o "$tmp/plain.out"
[[ ! -e $tmp/plain.out ]] || fail "not encrypted: output left"
expect 1 inspect "$tmp/data.bin"
head -c 31 "$cek" >"$tmp/short.key"
expect 1 decrypt --cek "$tmp/short.key" "$tmp/data.bin.bkenc" -o "$tmp/s.out"
expect 2 decrypt --cek "$cek" "$tmp/missing.bkenc" -o "$tmp/m.out"
expect 2 encrypt --cek "$cek" "$tmp/missing" -o "$tmp/m.bkenc"
expect 2 decrypt --cek "$tmp/missing.key" "$tmp/data.bin.bkenc" -o "$tmp/m.out"
expect 2 inspect "$tmp/missing.bkenc"
expect 2 decrypt --cek "$cek" --require-manifest "$tmp/data.bin.bkenc" -o "$tmp/m.out"
[[ ! -e $tmp/m.out && ! -e $tmp/m.bkenc ]] || fail "failed runs left output"

# --- a folder: file by file + manifest -----------------------------------------------------------
expect 0 encrypt --cek "$cek" --project proj-1 --role ds --dataset-version 2026-11 "$dataset" -o "$tmp/ds.enc"
json_ok
[[ $(jget files) == 2 && $(jget format) == v1 ]] || fail "folder encrypt answer: $(cat "$tmp/out")"
[[ $(jget bytes) == $(( $(stat -c %s "$dataset/patients.csv") + $(stat -c %s "$dataset/labs/results.csv") )) ]] || fail "bytes"
[[ -f $tmp/ds.enc/patients.csv.bkenc && -f $tmp/ds.enc/labs/results.csv.bkenc && -f $tmp/ds.enc/.escrow-manifest.bkenc ]] \
  || fail "folder layout: $(find "$tmp/ds.enc")"
expect 0 inspect "$tmp/ds.enc/labs/results.csv.bkenc"
[[ $(jget context path) == labs/results.csv && $(jget context project_id) == proj-1 ]] || fail "dataset file context"
expect 0 decrypt --cek "$cek" --require-manifest "$tmp/ds.enc" -o "$tmp/ds.out"
json_ok
[[ $(jget files) == 2 && $(jget format) == v1 ]] || fail "folder decrypt answer: $(cat "$tmp/out")"
diff -r "$dataset" "$tmp/ds.out" || fail "folder round trip"
expect 0 decrypt --cek "$cek" "$tmp/ds.enc/patients.csv.bkenc" -o "$tmp/one.csv"
cmp "$tmp/one.csv" "$dataset/patients.csv" || fail "a dataset file decrypts on its own"

cp -r "$tmp/ds.enc" "$tmp/swapped"
mv "$tmp/swapped/patients.csv.bkenc" "$tmp/swapped/x"
mv "$tmp/swapped/labs/results.csv.bkenc" "$tmp/swapped/patients.csv.bkenc"
mv "$tmp/swapped/x" "$tmp/swapped/labs/results.csv.bkenc"
expect 1 decrypt --cek "$cek" "$tmp/swapped" -o "$tmp/swapped.out"
[[ ! -e $tmp/swapped.out ]] || fail "swapped files: output left"
cp -r "$tmp/ds.enc" "$tmp/removed" && rm "$tmp/removed/labs/results.csv.bkenc"
expect 1 decrypt --cek "$cek" "$tmp/removed" -o "$tmp/removed.out"
[[ ! -e $tmp/removed.out ]] || fail "removed file: output left"
cp -r "$tmp/ds.enc" "$tmp/nomanifest" && rm "$tmp/nomanifest/.escrow-manifest.bkenc"
expect 1 decrypt --cek "$cek" --require-manifest "$tmp/nomanifest" -o "$tmp/nm.out"
[[ ! -e $tmp/nm.out ]] || fail "--require-manifest: output left"
expect 1 decrypt --cek "$other" "$tmp/ds.enc" -o "$tmp/wrongds.out"
[[ ! -e $tmp/wrongds.out ]] || fail "wrong CEK on a folder: output left"
cp -r "$tmp/ds.enc" "$tmp/flipped" && flip "$tmp/flipped/patients.csv.bkenc" 200
expect 1 decrypt --cek "$cek" "$tmp/flipped" -o "$tmp/flipped.out"
[[ ! -e $tmp/flipped.out ]] || fail "tampered folder: output left"

# --- legacy v0 -----------------------------------------------------------------------------------
expect 0 encrypt --cek "$cek" --format v0 "$tmp/data.bin" -o "$tmp/data.v0.bkenc"
json_ok
[[ $(jget format) == v0 ]] || fail "v0 answer"
grep -qi 'legacy' "$tmp/err" || fail "v0 must warn that it is legacy"
[[ $(head -c 8 "$tmp/data.v0.bkenc") == Salted__ && $(stat -c %s "$tmp/data.v0.bkenc") == 200032 ]] || fail "v0 layout"
expect 0 inspect "$tmp/data.v0.bkenc"
[[ $(jget format) == v0 && $(jget plaintext_size) == 200000 && $(jget verified) == false && $(jget salt) =~ ^[0-9a-f]{16}$ ]] \
  || fail "v0 inspect: $(cat "$tmp/out")"
expect 0 decrypt --cek "$cek" "$tmp/data.v0.bkenc" -o "$tmp/data.v0.out"
[[ $(jget format) == v0 ]] || fail "v0 decrypt answer"
cmp "$tmp/data.bin" "$tmp/data.v0.out" || fail "v0 round trip"
expect 0 encrypt --cek "$cek" --format v0 "$tmp/data.bin" -o "$tmp/data.v0b.bkenc"
cmp -s <(head -c 16 "$tmp/data.v0.bkenc") <(head -c 16 "$tmp/data.v0b.bkenc") && fail "v0 salt reused"
# independent v0: Python writes, escrow reads; escrow wrote, Python reads
python3 - "$cek" "$tmp/data.v0.bkenc" "$tmp/data.bin" "$tmp/py.v0.bkenc" <<'PY'
import hashlib, os, sys
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
cek = open(sys.argv[1], "rb").read(); f = open(sys.argv[2], "rb").read(); want = open(sys.argv[3], "rb").read()
def kiv(salt):
    d = hashlib.pbkdf2_hmac("sha256", cek, salt, 10000, 44); return d[:32], d[32:]
k, iv = kiv(f[8:16])
assert AESGCM(k).decrypt(iv, f[16:], None) == want
salt = os.urandom(8); k, iv = kiv(salt)
open(sys.argv[4], "wb").write(b"Salted__" + salt + AESGCM(k).encrypt(iv, b"written by python\n", None))
PY
expect 0 decrypt --cek "$cek" "$tmp/py.v0.bkenc" -o "$tmp/py.out"
[[ $(cat "$tmp/py.out") == "written by python" ]] || fail "independent v0"
cp "$tmp/data.v0.bkenc" "$tmp/v0.tampered" && flip "$tmp/v0.tampered" 5000
expect 1 decrypt --cek "$cek" "$tmp/v0.tampered" -o "$tmp/v0.tampered.out"
[[ ! -e $tmp/v0.tampered.out ]] || fail "tampered v0: output left"
expect 1 decrypt --cek "$other" "$tmp/data.v0.bkenc" -o "$tmp/v0.wrong.out"
[[ ! -e $tmp/v0.wrong.out ]] || fail "wrong CEK v0: output left"
expect 0 encrypt --cek "$cek" --format v0 "$dataset" -o "$tmp/ds.v0"
[[ ! -e $tmp/ds.v0/.escrow-manifest.bkenc ]] || fail "v0 folders have no manifest"
expect 0 decrypt --cek "$cek" "$tmp/ds.v0" -o "$tmp/ds.v0.out"
[[ $(jget format) == v0 ]] || fail "v0 folder decrypt format"
diff -r "$dataset" "$tmp/ds.v0.out" || fail "v0 folder round trip"

left=$(find "$tmp" -name '*.tmp*' -o -name '.*tmp*' | grep -v '^$' || true)
[[ -z $left ]] || fail "temporary files left behind: $left"
echo "files: ok"
