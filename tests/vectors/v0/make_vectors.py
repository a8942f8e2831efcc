#!/usr/bin/env python3
"""Generate the legacy v0 ("Salted__") test vectors and their manifest vectors.json.

An independent implementation of the format as written down in DESIGN §3 and
beekeeper-clients.md §0-§2, using only the `cryptography` package:

    file   = b"Salted__" || salt[8] || AES-256-GCM(key, iv, plaintext, no AAD) || tag[16]
    key||iv = PBKDF2-HMAC-SHA-256(password, salt, 10000 iterations, 44 bytes)

The password is normally the 32 raw CEK bytes. Quirks of BeeKeeperAI's producers that readers
must tolerate are covered too:
  - "rstrip": old bkai_encrypt.py read the CEK with bytes.rstrip(), so the password is the CEK
    without its trailing ASCII whitespace (0x09-0x0d, 0x20);
  - "shared-salt": escrowai-encrypt's dataset upload reuses one salt (so one key and IV) for every
    file of a dataset; each file is still a normal v0 file;
  - "chain": EscrowAICI's encrypt_algo overwrites its key with the derived AES key, so secret 1
    uses the CEK and secret n uses the 32-byte AES key of secret n-1 as its password.

Everything is deterministic (seeded from names) so re-running gives the same bytes:
    python3 tests/vectors/v0/make_vectors.py [OUTDIR]
"""
import hashlib
import json
import os
import sys

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

MAGIC = b"Salted__"
ITERATIONS = 10000


def drbg(label: str, n: int) -> bytes:
    """Deterministic bytes (SHA-256 in counter mode); test data only."""
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(f"escrow-v0-vectors/{label}/{i}".encode()).digest()
        i += 1
    return bytes(out[:n])


def key_iv(password: bytes, salt: bytes) -> tuple:
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=44, salt=salt, iterations=ITERATIONS)
    d = kdf.derive(password)
    return d[:32], d[32:]


def encrypt(password: bytes, salt: bytes, plaintext: bytes) -> bytes:
    key, iv = key_iv(password, salt)
    return MAGIC + salt + AESGCM(key).encrypt(iv, plaintext, None)  # ct || tag


def rstrip_ws(b: bytes) -> bytes:
    return b.rstrip(b"\t\n\x0b\x0c\r ")


def main() -> None:
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "keys", "cek.raw"), "rb") as f:
        fixture_cek = f.read()
    assert len(fixture_cek) == 32
    other_cek = drbg("other-cek", 32)
    vectors = []

    def add(name, data, cek, expect, description, **extra):
        path = os.path.join(outdir, name)
        with open(path, "wb") as f:
            f.write(data)
        v = {"name": name[:-len(".bkenc")] if name.endswith(".bkenc") else name,
             "file": name, "cek": cek.hex(), "description": description}
        v.update(extra)
        if isinstance(expect, bytes):
            v["size"] = len(expect)
            v["sha256"] = hashlib.sha256(expect).hexdigest()
        else:
            v["error"] = expect
        vectors.append(v)

    # Positive: plain files of several sizes under the fixture CEK (tests/vectors/keys/cek.raw).
    for size in (0, 1, 31, 32, 1000, 70000):
        pt = drbg(f"plain-{size}", size)
        salt = drbg(f"salt-{size}", 8)
        add(f"size-{size}.bkenc", encrypt(fixture_cek, salt, pt), fixture_cek, pt,
            f"{size}-byte plaintext under the fixture CEK")

    # Negative cases, derived from one good file.
    pt = drbg("plain-neg", 1000)
    good = encrypt(fixture_cek, drbg("salt-neg", 8), pt)

    def flip(b, i):
        b = bytearray(b)
        b[i] ^= 0x01
        return bytes(b)

    add("bad-tag.bkenc", flip(good, len(good) - 1), fixture_cek, "ESCROW_E_AUTH",
        "last tag byte flipped")
    add("bad-salt.bkenc", flip(good, 8), fixture_cek, "ESCROW_E_AUTH",
        "first salt byte flipped (derives another key and IV)")
    add("bad-ciphertext.bkenc", flip(good, 16 + 500), fixture_cek, "ESCROW_E_AUTH",
        "one ciphertext byte flipped")
    add("truncated-1.bkenc", good[:-1], fixture_cek, "ESCROW_E_AUTH",
        "last byte cut off (the tag is read from the wrong place)")
    add("truncated-31.bkenc", good[:31], fixture_cek, "ESCROW_E_FORMAT",
        "31 bytes: shorter than magic + salt + tag")
    add("magic-only.bkenc", MAGIC, fixture_cek, "ESCROW_E_FORMAT", "just the magic")
    add("empty.bkenc", b"", fixture_cek, "ESCROW_E_FORMAT", "an empty file")
    add("no-magic.bkenc", b"Salted_!" + good[8:], fixture_cek, "ESCROW_E_FORMAT",
        "magic altered")
    add("wrong-cek.bkenc", encrypt(other_cek, drbg("salt-wrong", 8), pt), fixture_cek,
        "ESCROW_E_AUTH", "made under another CEK")
    add("appended.bkenc", good + b"\x00", fixture_cek, "ESCROW_E_AUTH", "one byte appended")

    # Quirk: bkai_encrypt.py before 260ec8f rstripped the CEK. This CEK ends in " \n".
    ws_cek = drbg("rstrip-cek", 30) + b" \n"
    pt = drbg("plain-rstrip", 1000)
    add("quirk-rstrip.bkenc", encrypt(rstrip_ws(ws_cek), drbg("salt-rstrip", 8), pt), ws_cek,
        "ESCROW_E_AUTH",
        "made by old bkai_encrypt.py with the CEK rstripped: the CEK alone fails, the "
        "rstripped CEK (password_length bytes) decrypts", quirk="rstrip",
        password_length=len(rstrip_ws(ws_cek)), quirk_size=len(pt),
        quirk_sha256=hashlib.sha256(pt).hexdigest())

    # Quirk: escrowai-encrypt's dataset upload shares one salt across the files of a dataset.
    shared = drbg("salt-shared", 8)
    for i, size in enumerate((500, 1500)):
        pt = drbg(f"plain-shared-{i}", size)
        add(f"quirk-shared-salt-{i}.bkenc", encrypt(other_cek, shared, pt), other_cek, pt,
            "dataset file sharing its salt (and so key and IV) with the other "
            "quirk-shared-salt file: reading it must work", quirk="shared-salt")

    # Quirk: EscrowAICI's chained keys. Secret 1 under the CEK; secret n under the AES key
    # derived for secret n-1.
    password = fixture_cek
    for i in range(1, 4):
        salt = drbg(f"salt-chain-{i}", 8)
        pt = drbg(f"plain-chain-{i}", 100 * i)
        data = encrypt(password, salt, pt)
        chained_key = key_iv(password, salt)[0]
        extra = {"quirk": "chain", "chain_index": i, "derived_key": chained_key.hex()}
        if i == 1:
            add(f"quirk-chain-{i}.bkenc", data, fixture_cek, pt,
                "EscrowAICI secret 1: under the CEK itself; derived_key is its AES key", **extra)
        else:
            add(f"quirk-chain-{i}.bkenc", data, fixture_cek, "ESCROW_E_AUTH",
                f"EscrowAICI secret {i}: the CEK alone fails; the password is derived_key of "
                f"secret {i - 1}", quirk_size=len(pt),
                quirk_sha256=hashlib.sha256(pt).hexdigest(), **extra)
        password = chained_key

    manifest = {
        "format": "escrow-v0-vectors/1",
        "description": "Legacy v0 (Salted__) files. cek: hex of the 32-byte CEK to decrypt "
                       "with. sha256/size: the expected plaintext; error: the ESCROW_E_* code "
                       "a plain decrypt with the CEK returns. quirk entries say how the file "
                       "was really made (see make_vectors.py).",
        "generator": "tests/vectors/v0/make_vectors.py",
        "vectors": vectors,
    }
    with open(os.path.join(outdir, "vectors.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
