#!/usr/bin/env python3
"""Regenerate tests/vectors/keys/vectors.json (run from anywhere; needs the openssl command).

The manifest is language-neutral: the C unit test (tests/unit/test_keys.c) and the Python and
Go bindings run every case. WCEKs are made by the OpenSSL command line, independently of
libescrow. RSA-OAEP is randomised, so rerunning changes the WCEK bytes (not the expectations).
"""
import base64
import hashlib
import json
import os
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def path(name):
    return os.path.join(HERE, name)


def read(name):
    with open(path(name), "rb") as f:
        return f.read()


def det(n, seed):
    """Deterministic non-key bytes."""
    out = b""
    ctr = 0
    while len(out) < n:
        out += hashlib.sha256(b"keys-vector-%d-%d" % (seed, ctr)).digest()
        ctr += 1
    return out[:n]


def openssl_wrap(pub, payload, md, mgf1=None):
    with tempfile.NamedTemporaryFile() as f:
        f.write(payload)
        f.flush()
        cmd = ["openssl", "pkeyutl", "-encrypt", "-pubin", "-inkey", path(pub), "-in", f.name,
               "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:" + md]
        if mgf1:
            cmd += ["-pkeyopt", "rsa_mgf1_md:" + mgf1]
        return subprocess.run(cmd, check=True, stdout=subprocess.PIPE).stdout


def key_id(pub_pem):
    der = subprocess.run(["openssl", "pkey", "-pubin", "-in", path(pub_pem), "-outform", "DER"],
                         check=True, stdout=subprocess.PIPE).stdout
    return "sha256:" + hashlib.sha256(der).hexdigest()


def b64(b):
    return base64.b64encode(b).decode()


cek = read("cek.raw")
assert len(cek) == 32
cek_b64 = base64.b64encode(cek)
# A key whose base64 holds '+' and '/', for the base64url case.
url_key = next(det(32, s) for s in range(1000)
               if b"+" in base64.b64encode(det(32, s)) and b"/" in base64.b64encode(det(32, s)))
url_b64 = base64.b64encode(url_key)
# Non-canonical: the last data character (before '=') with a low unused bit set.
alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
last = cek_b64[42]
noncanon = cek_b64[:42] + bytes([alphabet[alphabet.index(last) | 1]]) + b"="
if noncanon == cek_b64:
    noncanon = cek_b64[:42] + bytes([alphabet[alphabet.index(last) | 2]]) + b"="
raw_nl = det(31, 7) + b"\n"
raw_ascii = b"A" * 32

KEY = "ESCROW_E_KEY"
cek_cases = [
    ("raw 32 bytes", cek, cek),
    ("base64, no newline", cek_b64, cek),
    ("base64 and LF", cek_b64 + b"\n", cek),
    ("base64 and CRLF", cek_b64 + b"\r\n", cek),
    ("32 raw bytes ending in 0x0a are raw", raw_nl, raw_nl),
    ("32 raw bytes that look like base64 text are raw", raw_ascii, raw_ascii),
    ("base64 with '+' and '/'", url_b64 + b"\n", url_key),
    ("empty", b"", KEY),
    ("31 raw bytes", cek[:31], KEY),
    ("33 raw bytes", cek + b"\x00", KEY),
    ("64 raw bytes", cek + cek, KEY),
    ("raw 32 bytes and LF", cek + b"\n", KEY),
    ("base64 of 31 bytes", base64.b64encode(cek[:31]), KEY),
    ("base64 of 31 bytes and LF", base64.b64encode(cek[:31]) + b"\n", KEY),
    ("base64 of 33 bytes", base64.b64encode(cek + b"\x01"), KEY),
    ("base64 of 33 bytes and LF", base64.b64encode(cek + b"\x01") + b"\n", KEY),
    ("non-canonical base64 (unused bits set)", noncanon + b"\n", KEY),
    ("two newlines", cek_b64 + b"\n\n", KEY),
    ("CR only", cek_b64 + b"\r", KEY),
    ("LF CR LF", cek_b64 + b"\n\r\n", KEY),
    ("leading newline", b"\n" + cek_b64, KEY),
    ("leading space", b" " + cek_b64, KEY),
    ("trailing space", cek_b64 + b" ", KEY),
    ("trailing space before newline", cek_b64 + b" \n", KEY),
    ("space inside", cek_b64[:20] + b" " + cek_b64[20:], KEY),
    ("tab inside", cek_b64[:20] + b"\t" + cek_b64[21:], KEY),
    ("line break inside", cek_b64[:40] + b"\n" + cek_b64[40:] + b"\n", KEY),
    ("base64url alphabet", url_b64.replace(b"+", b"-").replace(b"/", b"_") + b"\n", KEY),
    ("base64 without padding", cek_b64[:43], KEY),
    ("base64 without padding and LF", cek_b64[:43] + b"\n", KEY),
    ("double padding", cek_b64[:42] + b"==", KEY),
    ("padding in the middle", cek_b64[:10] + b"=" + cek_b64[11:], KEY),
    ("NUL inside", cek_b64[:10] + b"\x00" + cek_b64[11:], KEY),
    ("UTF-8 BOM before base64", b"\xef\xbb\xbf" + cek_b64, KEY),
    ("hex text of the key", cek.hex().encode() + b"\n", KEY),
    ("100 bytes of base64 characters", b"A" * 100, KEY),
]

pub_cases = [
    {"name": "SPKI DER", "file": "kek4096.pub.der", "bits": 4096},
    {"name": "SPKI PEM", "file": "kek4096.pub.pem", "bits": 4096},
    {"name": "base64 of DER, one line", "file": "kek4096.pub.b64", "bits": 4096},
    {"name": "base64 of DER, wrapped lines", "file": "kek4096.pub.b64-wrapped", "bits": 4096},
    {"name": "PEM text in a .der file (BeeKeeperAI)", "file": "kek4096.pub-pem-text.der",
     "bits": 4096},
    {"name": "RSA-3072 PEM (the minimum)", "file": "kek3072.pub.pem", "bits": 3072},
    {"name": "another RSA-4096 PEM", "file": "other4096.pub.pem", "bits": 4096},
    {"name": "RSA-2048 PEM is too weak", "file": "weak2048.pub.pem", "error": KEY},
    {"name": "RSA-2048 DER is too weak", "file": "weak2048.pub.der", "error": KEY},
    {"name": "EC P-256 is not RSA", "file": "ec256.pub.pem", "error": KEY},
    {"name": "a private key is not a public key", "file": "kek4096.key.pem", "error": KEY},
    {"name": "truncated DER", "input_b64": b64(read("kek4096.pub.der")[:300]), "error": KEY},
    {"name": "DER with a trailing byte", "input_b64": b64(read("kek4096.pub.der") + b"\x00"),
     "error": KEY},
    {"name": "PEM without its END line",
     "input_b64": b64(read("kek4096.pub.pem").split(b"-----END")[0]), "error": KEY},
    {"name": "PEM with a damaged body",
     "input_b64": b64(read("kek4096.pub.pem").replace(b"MII", b"M*I", 1)), "error": KEY},
    {"name": "garbage text", "input_b64": b64(b"this is not a key\n"), "error": KEY},
    {"name": "garbage binary", "input_b64": b64(det(550, 3)), "error": KEY},
    {"name": "empty", "input_b64": "", "error": KEY},
]
for c in pub_cases:
    if "error" not in c:
        # Every accepted file is one of three keys; its id comes from openssl's own DER.
        c["key_id"] = key_id(c["file"].split(".")[0] + ".pub.pem")

priv_cases = [
    {"name": "PKCS#8 PEM", "file": "kek4096.key.pem", "bits": 4096},
    {"name": "PKCS#8 DER", "file": "kek4096.key.der", "bits": 4096},
    {"name": "traditional RSA PRIVATE KEY PEM", "file": "kek4096.rsa.pem", "bits": 4096},
    {"name": "PKCS#1 RSAPrivateKey DER", "file": "kek4096.rsa.der", "bits": 4096},
    {"name": "RSA-3072 PKCS#8 PEM", "file": "kek3072.key.pem", "bits": 3072},
    {"name": "encrypted PKCS#8 PEM", "file": "kek3072.enc.pem", "error": KEY},
    {"name": "encrypted PKCS#8 DER", "file": "kek3072.enc.der", "error": KEY},
    {"name": "encrypted traditional PEM", "file": "kek3072.enc-traditional.pem", "error": KEY},
    {"name": "EC private key", "file": "ec256.key.pem", "error": KEY},
    {"name": "RSA-2048 private key is too weak", "file": "weak2048.key.pem", "error": KEY},
    {"name": "a public key is not a private key", "file": "kek4096.pub.pem", "error": KEY},
    {"name": "public DER is not a private key", "file": "kek4096.pub.der", "error": KEY},
    {"name": "truncated PKCS#8 DER", "input_b64": b64(read("kek4096.key.der")[:1000]),
     "error": KEY},
    {"name": "garbage", "input_b64": b64(det(100, 5)), "error": KEY},
]
for c in priv_cases:
    if "error" not in c:
        pub = "kek4096.pub.pem" if c["bits"] == 4096 else "kek3072.pub.pem"
        c["key_id"] = key_id(pub)

w1 = openssl_wrap("kek4096.pub.pem", cek, "sha1")
w256 = openssl_wrap("kek4096.pub.pem", cek, "sha256", "sha256")
tampered = bytearray(w256)
tampered[100] ^= 0x01
AUTH = "ESCROW_E_AUTH"
wcek_cases = [
    {"name": "OAEP SHA-1 (BeeKeeperAI's tool), auto", "wcek": w1, "oaep": "auto", "used": "sha1"},
    {"name": "OAEP SHA-1, explicit", "wcek": w1, "oaep": "sha1", "used": "sha1"},
    {"name": "OAEP SHA-256 (Web Crypto), auto", "wcek": w256, "oaep": "auto", "used": "sha256"},
    {"name": "OAEP SHA-256, explicit", "wcek": w256, "oaep": "sha256", "used": "sha256"},
    {"name": "SHA-1 WCEK with explicit SHA-256", "wcek": w1, "oaep": "sha256", "error": AUTH},
    {"name": "SHA-256 WCEK with explicit SHA-1", "wcek": w256, "oaep": "sha1", "error": AUTH},
    {"name": "one bit flipped", "wcek": bytes(tampered), "oaep": "auto", "error": AUTH},
    {"name": "WCEK for another KEK",
     "wcek": openssl_wrap("other4096.pub.pem", cek, "sha256"), "oaep": "auto", "error": AUTH},
    {"name": "OAEP SHA-256 with MGF1-SHA-1 (Java default)",
     "wcek": openssl_wrap("kek4096.pub.pem", cek, "sha256", "sha1"), "oaep": "auto",
     "error": AUTH},
    {"name": "wrapped 31 bytes", "wcek": openssl_wrap("kek4096.pub.pem", cek[:31], "sha256"),
     "oaep": "auto", "error": AUTH},
    {"name": "wrapped 33 bytes",
     "wcek": openssl_wrap("kek4096.pub.pem", cek + b"\x00", "sha1"), "oaep": "auto",
     "error": AUTH},
    {"name": "511 bytes", "wcek": w256[:511], "oaep": "auto", "error": "ESCROW_E_FORMAT"},
    {"name": "513 bytes", "wcek": w256 + b"\x00", "oaep": "auto", "error": "ESCROW_E_FORMAT"},
    {"name": "a WCEK for an RSA-3072 KEK",
     "wcek": openssl_wrap("kek3072.pub.pem", cek, "sha256"), "oaep": "auto",
     "error": "ESCROW_E_FORMAT"},
    {"name": "all zero", "wcek": bytes(512), "oaep": "auto", "error": AUTH},
    {"name": "all 0xff (above the modulus)", "wcek": b"\xff" * 512, "oaep": "auto",
     "error": AUTH},
]
for c in wcek_cases:
    c["private_key"] = "kek4096.key.pem"
    c["wcek_b64"] = b64(c.pop("wcek"))
    if "error" not in c:
        c["cek_hex"] = cek.hex()

manifest = {
    "description": "libescrow keys vectors (DESIGN §2): CEK encodings, KEK readers, WCEK "
                   "unwrap. Files are relative to this folder. Byte inputs are hex "
                   "(input_hex) or base64 (input_b64, wcek_b64). A case with 'error' must fail "
                   "with that code; otherwise it must succeed with the given result. Made by "
                   "make_vectors.py with the openssl command line.",
    "cek": [
        dict({"name": n, "input_hex": i.hex()},
             **({"error": r} if isinstance(r, str) else {"cek_hex": r.hex()}))
        for n, i, r in cek_cases
    ],
    "kek_public": pub_cases,
    "kek_private": priv_cases,
    "wcek_unwrap": wcek_cases,
}
with open(path("vectors.json"), "w") as f:
    json.dump(manifest, f, indent=1)
    f.write("\n")
