#!/usr/bin/env bash
# escrow cek/kek/wcek: generated keys have the documented names, sizes and modes; a CEK wrapped
# with a KEK unwraps to the same bytes (SHA-256 and SHA-1 OAEP, and interoperably with OpenSSL);
# wrong keys, weak keys and wrong hashes are refused with exit 1 and leave no CEK behind.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# expect STATUS ARGS...: run escrow, stdout in $tmp/out, stderr in $tmp/err, check the status.
sha256_id() { echo "sha256:$(openssl dgst -sha256 -r "$1" | cut -d' ' -f1)"; }

# --- cek generate ---------------------------------------------------------------------------
mkdir "$tmp/keys"
expect 0 cek generate -o "$tmp/keys"
json_ok
cek=$(jget cek)
[[ $(basename "$cek") =~ ^cek_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.key$ ]] \
  || fail "CEK file name $cek is not cek_<uuid4>.key"
[[ $(dirname "$cek") -ef $tmp/keys ]] || fail "CEK not written in the folder given"
[[ $(stat -c %s "$cek") == 32 ]] || fail "a raw CEK is 32 bytes"
[[ $(stat -c %a "$cek") == 600 ]] || fail "a CEK file must be mode 0600"

(cd "$tmp/keys" && expect 0 cek generate --base64)
json_ok
b64=$tmp/keys/$(jget cek)
[[ -f $b64 ]] || fail "cek generate without -o writes in the current folder"
[[ $(base64 -d "$b64" | wc -c) == 32 && $(wc -c <"$b64") == 45 ]] || fail "--base64 writes base64 of 32 bytes and a newline"

expect 0 cek generate -o "$tmp/named.key"
[[ $(jget cek) == "$tmp/named.key" && $(stat -c %s "$tmp/named.key") == 32 ]] || fail "-o FILE"
cp "$tmp/named.key" "$tmp/named.copy"
expect 2 cek generate -o "$tmp/named.key"
cmp -s "$tmp/named.key" "$tmp/named.copy" || fail "an existing CEK file was replaced"
[[ -s $tmp/err && ! -s $tmp/out ]] || fail "errors go to stderr, nothing on stdout"
cmp -s "$cek" "$tmp/named.key" && fail "two generated CEKs are equal"

# --- kek generate (the one key generation of the suite: 3072 bits to keep it fast) ------------
mkdir "$tmp/vault"
expect 0 kek generate --project "Demo Project" --role ao --bits 3072 -o "$tmp/vault"
json_ok
pub=$(jget public); priv=$(jget private); kid=$(jget key_id)
[[ $(basename "$pub") =~ ^[Dd]emo-[Pp]roject[a-z0-9]{8}-ao\.der$ ]] || fail "public KEK name $pub"
[[ $(basename "$priv") == "$(basename "$pub" .der).key.pem" ]] || fail "private KEK name $priv"
[[ $(stat -c %a "$priv") == 600 ]] || fail "the private KEK must be mode 0600"
grep -q -- '-----BEGIN PRIVATE KEY-----' "$priv" || fail "the private KEK is PKCS#8 PEM"
openssl pkey -pubin -inform DER -in "$pub" -noout 2>/dev/null || fail "the public KEK is not DER SPKI"
openssl pkey -pubin -inform DER -in "$pub" -text -noout | grep -q '3072 bit' || fail "--bits 3072"
[[ $kid == "$(sha256_id "$pub")" ]] || fail "key_id is sha256 of the SPKI DER"
expect 2 kek generate --project x --role ds --bits 2048 -o "$tmp/vault"
expect 2 kek generate --project x --role auditor
expect 2 kek generate --role ao
expect 2 kek generate --project x --role ao -o "$tmp/no-such-folder"
[[ $(ls "$tmp/vault" | wc -l) == 2 ]] || fail "failed kek generate runs left files behind"

# --- wcek wrap / unwrap -----------------------------------------------------------------------
expect 0 wcek wrap --kek "$keys/kek4096.pub.der" --cek "$keys/cek.raw" -o "$tmp/keys"
json_ok
wcek=$(jget wcek)
[[ $(basename "$wcek") =~ ^wcek_[0-9a-f-]{36}\.key\.bkenc$ ]] || fail "WCEK name $wcek"
[[ $(jget oaep) == sha256 ]] || fail "new wraps use SHA-256"
[[ $(jget kek_key_id) == "$(sha256_id "$keys/kek4096.pub.der")" ]] || fail "kek_key_id"
[[ $(stat -c %s "$wcek") == 512 ]] || fail "an RSA-4096 WCEK is 512 bytes"

expect 0 wcek unwrap --private-key "$keys/kek4096.key.pem" --wcek "$wcek" -o "$tmp/unwrapped.key"
json_ok
[[ $(jget cek) == "$tmp/unwrapped.key" && $(jget oaep) == sha256 ]] || fail "unwrap answer"
cmp "$tmp/unwrapped.key" "$keys/cek.raw" || fail "unwrap did not give back the CEK"
[[ $(stat -c %a "$tmp/unwrapped.key") == 600 ]] || fail "an unwrapped CEK must be mode 0600"
expect 0 wcek unwrap --private-key "$keys/kek4096.key.pem" --wcek "$wcek" --base64 -o "$tmp/unwrapped.b64"
cmp "$tmp/unwrapped.b64" "$keys/cek.b64" || fail "--base64 unwrap"

# PEM public key and SHA-1 (BeeKeeperAI's tool): auto finds the hash, a wrong explicit one fails.
expect 0 wcek wrap --kek "$keys/kek4096.pub.pem" --cek "$keys/cek.b64" --oaep sha1 -o "$tmp/sha1.wcek"
[[ $(jget oaep) == sha1 ]] || fail "--oaep sha1"
expect 0 wcek unwrap --private-key "$keys/kek4096.key.pem" --wcek "$tmp/sha1.wcek" -o "$tmp/sha1.key"
[[ $(jget oaep) == sha1 ]] || fail "auto unwrap reports the hash that worked"
cmp "$tmp/sha1.key" "$keys/cek.raw" || fail "SHA-1 unwrap"
expect 1 wcek unwrap --private-key "$keys/kek4096.key.pem" --wcek "$tmp/sha1.wcek" --oaep sha256 -o "$tmp/x.key"
[[ ! -e $tmp/x.key ]] || fail "a failed unwrap left a CEK file"

# OpenSSL-made WCEKs unwrap (both hashes), and ours unwrap with OpenSSL.
for h in sha256 sha1; do
  openssl pkeyutl -encrypt -pubin -inkey "$keys/kek4096.pub.pem" -in "$keys/cek.raw" \
    -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:$h -pkeyopt rsa_mgf1_md:$h -out "$tmp/ossl.$h"
  expect 0 wcek unwrap --private-key "$keys/kek4096.key.pem" --wcek "$tmp/ossl.$h" --oaep $h -o "$tmp/ossl.$h.key"
  cmp "$tmp/ossl.$h.key" "$keys/cek.raw" || fail "OpenSSL $h WCEK"
done
openssl pkeyutl -decrypt -inkey "$keys/kek4096.key.pem" -in "$wcek" -pkeyopt rsa_padding_mode:oaep \
  -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 -out "$tmp/ossl.dec"
cmp "$tmp/ossl.dec" "$keys/cek.raw" || fail "OpenSSL cannot unwrap our WCEK"

# Refusals: wrong private key, altered WCEK, weak KEK, bad CEK, missing files.
expect 1 wcek unwrap --private-key "$priv" --wcek "$wcek" -o "$tmp/wrong.key"
[[ ! -e $tmp/wrong.key ]] || fail "wrong key: a CEK file was left"
grep -q 'escrow: ' "$tmp/err" || fail "no message on stderr"
cp "$wcek" "$tmp/altered.wcek"
printf '\xff' | dd of="$tmp/altered.wcek" bs=1 seek=100 conv=notrunc status=none
expect 1 wcek unwrap --private-key "$keys/kek4096.key.pem" --wcek "$tmp/altered.wcek" -o "$tmp/alt.key"
[[ ! -e $tmp/alt.key ]] || fail "altered WCEK: a CEK file was left"
head -c 100 "$wcek" >"$tmp/short.wcek"
expect 1 wcek unwrap --private-key "$keys/kek4096.key.pem" --wcek "$tmp/short.wcek" -o "$tmp/short.key"
expect 1 wcek wrap --kek "$keys/weak2048.pub.pem" --cek "$keys/cek.raw" -o "$tmp/weak.wcek"
[[ ! -e $tmp/weak.wcek ]] || fail "weak KEK: a WCEK was written"
head -c 31 "$keys/cek.raw" >"$tmp/short.cek"
expect 1 wcek wrap --kek "$keys/kek4096.pub.der" --cek "$tmp/short.cek" -o "$tmp/bad.wcek"
[[ ! -e $tmp/bad.wcek ]] || fail "bad CEK: a WCEK was written"
expect 2 wcek wrap --kek "$tmp/missing.der" --cek "$keys/cek.raw" -o "$tmp/m.wcek"
expect 2 wcek unwrap --private-key "$keys/kek4096.key.pem" --wcek "$tmp/missing" -o "$tmp/m.key"
expect 2 wcek wrap --kek "$keys/kek4096.pub.der" --cek "$keys/cek.raw" --oaep md5
expect 2 wcek wrap --kek "$keys/kek4096.pub.der" --cek "$keys/cek.raw" -o "$wcek"
[[ $(ls "$tmp" | grep -c '\.tmp\.') == 0 ]] || fail "temporary files left behind"
echo "keys: ok"
