#!/usr/bin/env python3
"""Generate the BKENC v1 test vectors (tests/vectors/bkenc/).

An independent second implementation of the format (docs/FORMAT.md, DESIGN section 3), written
from the specification with the `cryptography` package only. It writes one file per vector and
`vectors.json`, the manifest every implementation (C, Python, Go, JS) iterates over.

Run from anywhere:  python3 tests/vectors/bkenc/gen_vectors.py
Everything is deterministic (fixed salts, fixed plaintexts), so re-running it reproduces the
committed files byte for byte.

Manifest entries:
  name, file, description, cek (hex, 32 bytes),
  expect: "ok" or an error code name ("ESCROW_E_AUTH", ...), as the streaming decryptor reports
          it (random-access readers must also fail, possibly with another code),
  plaintext_size, plaintext_seed, plaintext_sha256 (for "ok"): plaintext byte i is
          (i % 251 + seed) % 256,
  options (optional): {"expect_path": str, "expect_hdrtag": hex},
  reproducible (for canonical "ok" files): {"salt": hex, "log2cs": n, "context": {...}}, with
          which a conforming writer produces the file byte for byte.
"""
import hashlib
import hmac
import json
import os
import struct

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

HERE = os.path.dirname(os.path.abspath(__file__))
MAGIC = b"\x89BKENC\r\n"
TAG = 16
CTX_TYPES = {"project_id": 1, "role": 2, "asset": 3, "path": 4, "key_id": 5}

with open(os.path.join(HERE, "..", "keys", "cek.raw"), "rb") as f:
    CEK = f.read()
assert len(CEK) == 32
OTHER_CEK = hashlib.sha256(b"escrow bkenc vectors: another key").digest()


def plaintext(size, seed):
    return bytes((i % 251 + seed) % 256 for i in range(size))


def salt_for(name):
    return hashlib.sha256(b"escrow bkenc vectors salt: " + name.encode()).digest()


def tlvs(fields):
    """fields: list of (type, bytes value) in the order given (no checks: negative vectors)."""
    return b"".join(bytes([t]) + struct.pack(">H", len(v)) + v for t, v in fields)


def ctx_fields(context):
    return [(CTX_TYPES[k], v.encode()) for k, v in sorted(context.items(), key=lambda kv: CTX_TYPES[kv[0]])]


def hkdf_expand(prk, info):
    return HKDFExpand(algorithm=hashes.SHA256(), length=32, info=info).derive(prk)


class Header:
    def __init__(self, salt, log2cs=14, ctx=b"", version=1, suite=1, flags=0, magic=MAGIC,
                 ctxlen=None):
        self.log2cs = log2cs
        self.body = (magic + bytes([version, suite, log2cs, flags]) + salt +
                     struct.pack(">H", len(ctx) if ctxlen is None else ctxlen) + ctx)
        self.salt = salt

    def keys(self, cek):
        prk = hmac.new(self.salt, cek, hashlib.sha256).digest()  # HKDF-Extract(salt, IKM=CEK)
        k_hdr = hkdf_expand(prk, b"libescrow/v1/header")
        hdrtag = hmac.new(k_hdr, self.body, hashlib.sha256).digest()
        k_data = hkdf_expand(prk, b"libescrow/v1/payload" + hdrtag)
        return hdrtag, k_data


def seal(k_data, index, final, pt):
    nonce = index.to_bytes(11, "big") + (b"\x01" if final else b"\x00")
    return AESGCM(k_data).encrypt(nonce, pt, None)


def canonical_chunks(pt, cs):
    if not pt:
        return [(b"", True)]
    parts = [pt[i:i + cs] for i in range(0, len(pt), cs)]
    return [(p, i == len(parts) - 1) for i, p in enumerate(parts)]


def build(hdr, chunks, cek=CEK):
    """chunks: list of (plaintext, final) or (plaintext, final, index). Returns (bytes, hdrtag,
    per-chunk ciphertexts)."""
    hdrtag, k_data = hdr.keys(cek)
    cts = []
    for i, c in enumerate(chunks):
        idx = c[2] if len(c) > 2 else i
        cts.append(seal(k_data, idx, c[1], c[0]))
    return hdr.body + hdrtag + b"".join(cts), hdrtag, cts


VECTORS = []


def emit(name, data, expect, description, cek=CEK, pt=None, seed=None, options=None,
         repro=None):
    fname = name + ".bkenc"
    with open(os.path.join(HERE, fname), "wb") as f:
        f.write(data)
    v = {"name": name, "file": fname, "description": description, "cek": cek.hex(),
         "expect": expect}
    if expect == "ok":
        v["plaintext_size"] = len(pt)
        v["plaintext_seed"] = seed
        v["plaintext_sha256"] = hashlib.sha256(pt).hexdigest()
    if options:
        v["options"] = options
    if repro:
        v["reproducible"] = repro
    VECTORS.append(v)


CS = 1 << 14


def canonical(name, size, description, log2cs=14, context=None, seed=None, options=None,
              expect="ok", extra_fields=None):
    """A file as a conforming writer makes it."""
    seed = (len(VECTORS) * 7 + 3) % 256 if seed is None else seed
    context = context or {}
    pt = plaintext(size, seed)
    fields = ctx_fields(context) + (extra_fields or [])
    hdr = Header(salt_for(name), log2cs, tlvs(fields))
    data, hdrtag, _ = build(hdr, canonical_chunks(pt, 1 << log2cs))
    repro = None
    if not extra_fields:
        repro = {"salt": salt_for(name).hex(), "log2cs": log2cs, "context": context}
    emit(name, data, expect, description, pt=pt, seed=seed, options=options, repro=repro)
    return data, hdrtag


def negative(name, data, expect, description, cek=CEK, options=None):
    emit(name, data, expect, description, cek=cek, options=options)


def main():
    for f in os.listdir(HERE):
        if f.endswith(".bkenc"):
            os.remove(os.path.join(HERE, f))

    # ---- valid files -------------------------------------------------------------------------
    canonical("empty", 0, "empty plaintext: one empty final chunk")
    canonical("one_byte", 1, "one byte")
    canonical("chunk_minus_one", CS - 1, "2^14 - 1 bytes: one short final chunk")
    canonical("one_chunk", CS, "exactly one chunk: the final chunk is full")
    canonical("one_chunk_plus_one", CS + 1, "one full chunk and a 1-byte final chunk")
    canonical("two_chunks_full", 2 * CS, "two full chunks, the second final")
    canonical("several_chunks", 3 * CS + 100, "three full chunks and a short final chunk")
    ctx = {"project_id": "proj-42", "role": "ds", "asset": "dataset-7@v3",
           "path": "train/images/0001.png", "key_id": "sha256:" + "ab" * 32}
    canonical("with_context", 1000, "all five context fields", context=ctx)
    canonical("with_context_chunks", 2 * CS + 5, "context and several chunks",
              context={"path": "data/part-0.csv", "role": "ao"})
    canonical("unicode_path", 33, "UTF-8 path", context={"path": "donn\u00e9es/\u00e9t\u00e9 \u2603.csv"})
    canonical("log2cs_16", 70000, "64 KiB chunks (the writer default)", log2cs=16)
    canonical("log2cs_24_small", 10, "the largest chunk size readers accept", log2cs=24)
    canonical("unknown_noncritical_tlv", 64, "unknown non-critical context field 0x06 (ignored)",
              context={"path": "a.txt"}, extra_fields=[(0x06, b"future"), (0x7f, b"x")])
    canonical("expect_path_ok", 20, "decrypted with the matching expect_path",
              context={"path": "dir/file.bin"}, options={"expect_path": "dir/file.bin"})

    # ---- stream structure (after age's CCTV stream cases) -------------------------------------
    def stream(name, chunks, expect, description, log2cs=14):
        hdr = Header(salt_for(name), log2cs)
        data, _, _ = build(hdr, chunks)
        if expect == "ok":
            emit(name, data, expect, description, pt=b"".join(c[0] for c in chunks), seed=11)
        else:
            negative(name, data, expect, description)
        return data

    P = plaintext(4 * CS, 11)
    full0, full1, full2 = P[:CS], P[CS:2 * CS], P[2 * CS:3 * CS]
    stream("no_final_one_full", [(full0, False)], "ESCROW_E_TRUNCATED",
           "one full chunk not marked final")
    stream("no_final_one_short", [(P[:100], False)], "ESCROW_E_TRUNCATED",
           "one short chunk not marked final")
    stream("no_final_two_full", [(full0, False), (full1, False)], "ESCROW_E_TRUNCATED",
           "two full chunks, none final")
    stream("no_final_two_short", [(full0, False), (P[CS:CS + 100], False)], "ESCROW_E_TRUNCATED",
           "a full and a short chunk, none final")
    stream("two_final_chunks", [(full0, True), (P[CS:CS + 100], True)], "ESCROW_E_FORMAT",
           "a full final chunk followed by a second final chunk")
    stream("two_final_chunks_full", [(full0, True), (full1, True)], "ESCROW_E_FORMAT",
           "two full chunks both marked final")
    stream("last_chunk_empty", [(full0, False), (b"", True)], "ESCROW_E_FORMAT",
           "an empty final chunk after a full one (only an empty file may end so)")
    stream("short_nonfinal_chunk", [(P[:100], False), (P[100:150], True)], "ESCROW_E_AUTH",
           "a short chunk not marked final, then a final chunk")
    stream("short_nonfinal_second", [(full0, False), (P[CS:CS + 100], False),
                                     (P[CS + 100:CS + 150], True)], "ESCROW_E_AUTH",
           "second chunk short and not final, then a final chunk")
    stream("wrong_index", [(full0, False), (P[CS:CS + 10], True, 2)], "ESCROW_E_AUTH",
           "second chunk sealed with index 2")
    good = stream("good_three", [(full0, False), (full1, False), (P[2 * CS:2 * CS + 300], True)],
                  "ok", "a valid three-chunk file (base of the cases below)")
    hlen = 78
    cts = CS + TAG

    def flip(data, off, bit=0x01):
        b = bytearray(data)
        b[off] ^= bit
        return bytes(b)

    negative("bad_tag_chunk0", flip(good, hlen + cts - 1), "ESCROW_E_AUTH", "chunk 0 tag altered")
    negative("bad_tag_chunk1", flip(good, hlen + 2 * cts - 1), "ESCROW_E_AUTH",
             "chunk 1 tag altered")
    negative("bad_ciphertext_final", flip(good, hlen + 2 * cts + 5), "ESCROW_E_AUTH",
             "final chunk ciphertext altered")
    negative("missing_tag", good[:-TAG], "ESCROW_E_AUTH", "the final chunk's tag is cut off")
    negative("truncated_in_tag", good[:hlen + 2 * cts + 10], "ESCROW_E_TRUNCATED",
             "the file ends 10 bytes into the last chunk")
    negative("truncated_at_chunk", good[:hlen + 2 * cts], "ESCROW_E_TRUNCATED",
             "the final chunk is missing entirely")
    negative("header_only", good[:hlen], "ESCROW_E_TRUNCATED", "a header and no chunk")
    negative("truncated_header", good[:50], "ESCROW_E_TRUNCATED", "the file ends in the header")
    negative("empty_file", b"", "ESCROW_E_TRUNCATED", "zero bytes")
    swap = good[:hlen] + good[hlen + cts:hlen + 2 * cts] + good[hlen:hlen + cts] + good[hlen + 2 * cts:]
    negative("chunk_swap", swap, "ESCROW_E_AUTH", "chunks 0 and 1 swapped")
    # A second file under the same CEK: splice its chunk 1 into the first at the same index.
    other, _, _ = build(Header(salt_for("other")), [(full2, False), (full1, False), (b"zz", True)])
    splice = good[:hlen + cts] + other[hlen + cts:hlen + 2 * cts] + good[hlen + 2 * cts:]
    negative("chunk_spliced", splice, "ESCROW_E_AUTH",
             "chunk 1 replaced by chunk 1 of another file under the same CEK")
    negative("wrong_cek", good, "ESCROW_E_AUTH", "a valid file read with another CEK",
             cek=OTHER_CEK)

    full_final = stream("last_chunk_full_base", [(full0, True)], "ok", "one full final chunk")
    negative("trailing_garbage_short", full_final + b"\x00", "ESCROW_E_FORMAT",
             "one byte after a full final chunk")
    negative("trailing_garbage_long", full_final + bytes(cts + 1), "ESCROW_E_FORMAT",
             "more than a chunk of zeros after a full final chunk")
    short_final = stream("short_final_base", [(P[:500], True)], "ok", "one short final chunk")
    negative("trailing_after_short_final", short_final + b"12345", "ESCROW_E_AUTH",
             "bytes after a short final chunk (the chunk boundary cannot be seen)")

    # ---- header fields --------------------------------------------------------------------------
    negative("hdrtag_flipped", flip(good, hlen - 1), "ESCROW_E_AUTH", "last hdrtag byte altered")
    negative("magic_altered", flip(good, 1), "ESCROW_E_FORMAT", "magic byte 1 altered")
    negative("version_altered", flip(good, 8, 0x03), "ESCROW_E_UNSUPPORTED", "version 2 (tag stale)")
    negative("suite_altered", flip(good, 9, 0x03), "ESCROW_E_UNSUPPORTED", "suite 2 (tag stale)")
    negative("log2cs_altered", flip(good, 10, 0x01), "ESCROW_E_AUTH",
             "log2cs 15: a readable value, but the header tag no longer verifies")
    negative("flags_altered", flip(good, 11, 0x80), "ESCROW_E_UNSUPPORTED", "flags 0x80 (tag stale)")
    negative("salt_altered", flip(good, 20), "ESCROW_E_AUTH", "a salt byte altered")
    negative("ctxlen_altered", flip(good, 45), "ESCROW_E_FORMAT",
             "ctxlen 1 on a file without context: the context overruns")
    ctxfile, _ = canonical("ctx_base", 10, "base for the context alteration below",
                           context={"path": "x/y.txt"})
    negative("context_altered", flip(ctxfile, 46 + 3 + 1), "ESCROW_E_AUTH",
             "a context value byte altered (x/y.txt -> x.y.txt is still clean)")

    # Headers with a valid tag but rejected fields.
    def header_case(name, expect, description, **kw):
        salt = salt_for(name)
        hdr = Header(salt, **kw)
        data, _, _ = build(hdr, [(b"hello", True)])
        negative(name, data, expect, description)

    header_case("version_2", "ESCROW_E_UNSUPPORTED", "version 2 with a valid tag", version=2)
    header_case("suite_2", "ESCROW_E_UNSUPPORTED", "suite 2 with a valid tag", suite=2)
    header_case("flags_1", "ESCROW_E_UNSUPPORTED", "flag bit 0 set, valid tag", flags=1)
    header_case("log2cs_13", "ESCROW_E_UNSUPPORTED", "log2cs 13 (below the minimum)", log2cs=13)
    header_case("log2cs_25", "ESCROW_E_UNSUPPORTED", "log2cs 25 (above the maximum)", log2cs=25)
    big = tlvs([(4, b"a" * (4097 - 3))])
    header_case("ctxlen_4097", "ESCROW_E_LIMIT", "a 4097-byte context", ctx=big)
    ok4096 = tlvs([(4, b"a" * (4096 - 3))])
    data, _, _ = build(Header(salt_for("ctxlen_4096"), ctx=ok4096), [(plaintext(7, 1), True)])
    emit("ctxlen_4096", data, "ok", "the largest context (4096 bytes)", pt=plaintext(7, 1), seed=1)
    header_case("critical_tlv", "ESCROW_E_UNSUPPORTED", "unknown critical context field 0x80",
                ctx=tlvs([(4, b"a.txt"), (0x80, b"must-understand")]))
    header_case("tlv_out_of_order", "ESCROW_E_FORMAT", "field 0x04 before 0x01",
                ctx=tlvs([(4, b"a.txt"), (1, b"p")]))
    header_case("tlv_duplicate", "ESCROW_E_FORMAT", "field 0x04 twice",
                ctx=tlvs([(4, b"a.txt"), (4, b"b.txt")]))
    header_case("tlv_zero_type", "ESCROW_E_FORMAT", "field type 0x00", ctx=tlvs([(0, b"x")]))
    header_case("tlv_zero_length", "ESCROW_E_FORMAT", "a zero-length field",
                ctx=tlvs([(1, b"")]))
    header_case("tlv_overrun", "ESCROW_E_FORMAT", "a field longer than the context",
                ctx=bytes([1, 0, 10]) + b"abc")
    header_case("tlv_truncated_header", "ESCROW_E_FORMAT", "two stray bytes after a field",
                ctx=tlvs([(1, b"p")]) + b"\x02\x00")
    header_case("tlv_bad_utf8", "ESCROW_E_FORMAT", "a value that is not UTF-8",
                ctx=tlvs([(3, b"\xff\xfe")]))
    header_case("tlv_nul", "ESCROW_E_FORMAT", "a value containing a NUL byte",
                ctx=tlvs([(1, b"a\x00b")]))
    header_case("path_dotdot", "ESCROW_E_FORMAT", "path with '..'", ctx=tlvs([(4, b"../etc/passwd")]))
    header_case("path_absolute", "ESCROW_E_FORMAT", "absolute path", ctx=tlvs([(4, b"/etc/passwd")]))
    header_case("path_empty_component", "ESCROW_E_FORMAT", "path with '//'",
                ctx=tlvs([(4, b"a//b")]))

    # ---- decrypt options --------------------------------------------------------------------------
    canonical("expect_path_mismatch", 20, "the file says dir/file.bin, the reader expects "
              "dir/other.bin", context={"path": "dir/file.bin"},
              options={"expect_path": "dir/other.bin"}, expect="ESCROW_E_MISMATCH")
    canonical("expect_path_absent", 20, "the reader expects a path the file does not carry",
              options={"expect_path": "a.bin"}, expect="ESCROW_E_MISMATCH")
    _, tag = canonical("expect_hdrtag_ok", 20, "the expected header tag matches")
    VECTORS[-1]["options"] = {"expect_hdrtag": tag.hex()}
    canonical("expect_hdrtag_mismatch", 20, "another file's header tag is expected",
              options={"expect_hdrtag": tag.hex()}, expect="ESCROW_E_MISMATCH")
    for v in VECTORS:
        if v["expect"] != "ok":
            for k in ("plaintext_size", "plaintext_seed", "plaintext_sha256", "reproducible"):
                v.pop(k, None)

    manifest = {
        "format": "escrow-bkenc-vectors/1",
        "generator": "gen_vectors.py (Python, cryptography)",
        "plaintext": "byte i = (i % 251 + plaintext_seed) % 256",
        "vectors": VECTORS,
    }
    with open(os.path.join(HERE, "vectors.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    print(f"{len(VECTORS)} vectors, "
          f"{sum(os.path.getsize(os.path.join(HERE, v['file'])) for v in VECTORS)} bytes")


if __name__ == "__main__":
    main()
