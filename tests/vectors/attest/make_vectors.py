#!/usr/bin/env python3
"""Regenerate the attest vectors made by an independent implementation (Python cryptography):

  python-release-256.json   a Key-Vault-shaped release ({"value": JWS}) of kek3072's private key
  python-release-sha1.json  wrapped to enclave-a's key with RSA_AES_KEY_WRAP_256 and with
                            CKM_RSA_AES_KEY_WRAP (OAEP SHA-1), signed RS256 by platform.key.pem
  python-sim-token.txt      a "sim" token by issuer.key.pem (kid "sim-issuer-1") for the runtime
  python-runtime.json       data in python-runtime.json, issued at 2026-01-01T00:00:00Z

Run from this folder: python3 make_vectors.py (the AES key and OAEP padding are random, so the
outputs change on every run; the tests only check that they open and verify).
"""
import base64
import hashlib
import json
import os

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

NOW = 1767225600
ISS = "http://127.0.0.1:8443/sim"


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def canon(o):
    return json.dumps(o, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def load(path):
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), None)


def uint(n):
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


def jwk(pub):
    nums = pub.public_numbers()
    return {"e": b64u(uint(nums.e)), "kty": "RSA", "n": b64u(uint(nums.n))}


def thumbprint(pub):
    return b64u(hashlib.sha256(canon(jwk(pub)).encode()).digest())


def sign(key, header, payload):
    data = b64u(canon(header).encode()) + "." + b64u(canon(payload).encode())
    sig = key.sign(data.encode(), padding.PKCS1v15(), hashes.SHA256())
    return data + "." + b64u(sig)


platform = load("platform.key.pem")
enclave = load("enclave-a.key.pem").public_key()
issuer = load("issuer.key.pem")
kek = load("../keys/kek3072.key.pem")
pkcs8 = kek.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption())
platform_kid = thumbprint(platform.public_key())

for enc, md, name in (("RSA_AES_KEY_WRAP_256", hashes.SHA256(), "python-release-256.json"),
                      ("CKM_RSA_AES_KEY_WRAP", hashes.SHA1(), "python-release-sha1.json")):
    k = os.urandom(32)
    ct = enclave.encrypt(k, padding.OAEP(padding.MGF1(md), md, None)) + \
        aes_key_wrap_with_padding(k, pkcs8)
    hsm = {"schema_version": "1.0",
           "header": {"kid": thumbprint(enclave), "alg": "dir", "enc": enc},
           "ciphertext": b64u(ct)}
    key = dict(jwk(kek.public_key()), kid="https://vault.example/keys/kek3072",
               key_ops=["decrypt", "unwrapKey"], key_hsm=b64u(json.dumps(hsm).encode()))
    payload = {"request": {"api-version": "7.3", "enc": enc, "kid": key["kid"]},
               "response": {"key": {"key": key,
                                    "attributes": {"enabled": True, "exportable": True}}}}
    jws = sign(platform, {"alg": "RS256", "kid": platform_kid, "typ": "JWT"}, payload)
    with open(name, "w") as f:
        f.write(json.dumps({"value": jws}) + "\n")

runtime = {"keys": [dict(jwk(enclave), key_ops=["encrypt"], kid=thumbprint(enclave))],
           "nonce": "py-nonce", "project_id": "proj-py", "role": "ao", "run_id": "run-py"}
rt = canon(runtime)
with open("python-runtime.json", "w") as f:
    f.write(rt)
report = hashlib.sha256(rt.encode()).hexdigest() + "0" * 64
claims = {"iss": ISS, "iat": NOW, "nbf": NOW, "exp": NOW + 600, "jti": "py",
          "x-ms-attestation-type": "sim", "x-ms-ver": "sim-1", "x-escrow-simulated": True,
          "x-escrow-reportdata": report, "x-ms-runtime": runtime}
with open("python-sim-token.txt", "w") as f:
    f.write(sign(issuer, {"alg": "RS256", "kid": "sim-issuer-1", "typ": "JWT"}, claims) + "\n")
