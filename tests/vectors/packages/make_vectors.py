#!/usr/bin/env python3
"""Generate the algorithm-package test vectors in this folder, and vectors.json describing them.

Written from the format descriptions (DESIGN.md §3-§4, reference/beekeeper-clients.md §1):
BKENC v1 and legacy v0 are implemented here independently of libescrow with `cryptography`,
and the producer quirks are reproduced with Python's own zipfile / shutil:
  - escrowai-encrypt library: ZIP_STORED, ZipFile.open(name, 'w', force_zip64=True)
    (Zip64 extra in local headers only), v0 secrets, user-written secrets.yaml;
  - escrowai-encrypt 0.0.4 CLI: ZIP_DEFLATED, unquoted "- [enc, orig]" lines;
  - EscrowAICI: shutil.make_archive (directory entries), chained v0 keys.
Salts are random, so regenerating changes the bytes but not the expectations.

Usage: python3 make_vectors.py   (from any folder; writes beside this script)
"""
import hashlib
import hmac
import io
import json
import os
import shutil
import struct
import sys
import tempfile
import zipfile

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

HERE = os.path.dirname(os.path.abspath(__file__))
CEK = open(os.path.join(HERE, "..", "keys", "cek.raw"), "rb").read()
assert len(CEK) == 32
OTHER_CEK = bytes(range(32))

# ---- BKENC v1 (DESIGN §3) ---------------------------------------------------------------------
MAGIC = b"\x89BKENC\r\n"


def hkdf_extract(salt, ikm):
    return hmac.new(salt, ikm, hashlib.sha256).digest()


def hkdf_expand(prk, info, n=32):
    out, t, i = b"", b"", 1
    while len(out) < n:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        out += t
        i += 1
    return out[:n]


def bkenc_v1(cek, plaintext, ctx, log2cs=16):
    tlv = b""
    for t in sorted(ctx):
        v = ctx[t].encode()
        tlv += bytes([t]) + struct.pack(">H", len(v)) + v
    salt = os.urandom(32)
    head = MAGIC + bytes([1, 1, log2cs, 0]) + salt + struct.pack(">H", len(tlv)) + tlv
    prk = hkdf_extract(salt, cek)
    k_hdr = hkdf_expand(prk, b"libescrow/v1/header")
    tag = hmac.new(k_hdr, head, hashlib.sha256).digest()
    k_data = hkdf_expand(prk, b"libescrow/v1/payload" + tag)
    cs = 1 << log2cs
    chunks = [plaintext[i:i + cs] for i in range(0, len(plaintext), cs)] or [b""]
    aes = AESGCM(k_data)
    body = b""
    for i, c in enumerate(chunks):
        nonce = i.to_bytes(11, "big") + bytes([1 if i == len(chunks) - 1 else 0])
        body += aes.encrypt(nonce, c, None)
    return head + tag + body


def ctx_for(path):
    return {1: "proj-42", 2: "ao", 3: "alg-7@v1", 4: path, 5: "wcek-v1"}


# ---- legacy v0 --------------------------------------------------------------------------------
def v0_key_iv(pw, salt):
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=44, salt=salt, iterations=10000)
    d = kdf.derive(pw)
    return d[:32], d[32:]


def bkenc_v0(pw, plaintext):
    salt = os.urandom(8)  # fresh for every file
    key, iv = v0_key_iv(pw, salt)
    return b"Salted__" + salt + AESGCM(key).encrypt(iv, plaintext, None), key


# ---- package contents -------------------------------------------------------------------------
DOCKERFILE = b"""FROM python:3.9.16-slim
WORKDIR /app
COPY . .
RUN pip install -r requirements.txt
RUN chmod +x run.sh
ENTRYPOINT ["/bin/sh", "run.sh"]
"""
RUN_SH = b"#!/bin/sh\nset -e\npython3 app.py\n"
APP_PY = b"print('validating')\n"
MODEL = bytes((i * 7 + 3) & 0xFF for i in range(70000))  # two v1 chunks
WEIGHTS = b"weights " * 1000

vectors = []


def sha(b):
    return hashlib.sha256(b).hexdigest()


def add(name, **kw):
    v = {"name": name, "zip": name + ".zip"}
    v.update(kw)
    vectors.append(v)


def write_zip(name, members, compression=zipfile.ZIP_DEFLATED):
    """members: list of (arcname, bytes) or (ZipInfo, bytes)."""
    with zipfile.ZipFile(os.path.join(HERE, name + ".zip"), "w", compression) as z:
        for arc, data in members:
            z.writestr(arc, data)


def quoted_yaml(pairs):
    lines = ["secretFiles:"]
    for e, o in pairs:
        lines.append("  - [%s, %s]" % (json.dumps(e), json.dumps(o)))
    return ("\n".join(lines) + "\n").encode()


CHECK_ALL_PASS = {"passed": True, "statuses": {
    "Dockerfile is present": "passed", "Secrets file is present": "passed",
    "WCEK file is present": "not checked", "Secret files are present": "passed",
    "Entry point is present": "passed"}}


def check_with(**over):
    st = dict(CHECK_ALL_PASS["statuses"])
    st.update(over)
    return {"passed": "failed" not in st.values(), "statuses": st}


# 1. Our own layout: v1 secret, quoted secrets.yaml, deflated.
ours_pairs = [("models/model.pkl.bkenc", "models/model.pkl")]
ours = [("Dockerfile", DOCKERFILE), ("app.py", APP_PY),
        ("models/model.pkl.bkenc", bkenc_v1(CEK, MODEL, ctx_for("models/model.pkl"))),
        ("run.sh", RUN_SH), ("secrets.yaml", quoted_yaml(ours_pairs))]
write_zip("ours-v1", ours)
add("ours-v1", open="ok", entries=[m[0] for m in ours], secrets=ours_pairs, check=CHECK_ALL_PASS,
    extract="ok", files={"Dockerfile": sha(DOCKERFILE), "app.py": sha(APP_PY),
                         "models/model.pkl": sha(MODEL), "run.sh": sha(RUN_SH),
                         "secrets.yaml": sha(quoted_yaml(ours_pairs))})

# 2. escrowai-encrypt library (§1.1): stored, force_zip64 local headers, v0, fresh salts.
lib_yaml = b"secretFiles:\n  - [model.pkl.bkenc, model.pkl]\n  - [weights.bin.bkenc, weights.bin]\n"
lib_df = DOCKERFILE.replace(b'["/bin/sh", "run.sh"]', b'["./run.sh"]')
lib_members = [(".dockerignore", b".venv\n"), ("Dockerfile", lib_df), ("app.py", APP_PY),
               ("model.pkl.bkenc", bkenc_v0(CEK, MODEL)[0]), ("run.sh", RUN_SH),
               ("secrets.yaml", lib_yaml), ("weights.bin.bkenc", bkenc_v0(CEK, WEIGHTS)[0])]
with zipfile.ZipFile(os.path.join(HERE, "escrowai-encrypt-lib.zip"), "w", allowZip64=True) as z:
    for arc, data in lib_members:
        with z.open(arc, "w", force_zip64=True) as f:
            f.write(data)
add("escrowai-encrypt-lib", open="ok", entries=[m[0] for m in lib_members],
    secrets=[["model.pkl.bkenc", "model.pkl"], ["weights.bin.bkenc", "weights.bin"]],
    check=CHECK_ALL_PASS, extract="ok",
    files={"model.pkl": sha(MODEL), "weights.bin": sha(WEIGHTS), "run.sh": sha(RUN_SH),
           ".dockerignore": sha(b".venv\n")})

# 3. escrowai-encrypt 0.0.4 CLI (§1.2): deflated, unquoted lines, names YAML would mangle.
cli_names = ["007", "true", "a, b.txt", "notes #1.txt", "key: value.txt", "1.5e3"]
cli_yaml = "secretFiles:\n" + "".join(" - [%s.bkenc, %s]\n" % (n, n) for n in cli_names)
cli_df = DOCKERFILE.replace(b'["/bin/sh", "run.sh"]', b'["bash", "run.sh"]')
cli_members = [("Dockerfile", cli_df), ("run.sh", RUN_SH), ("secrets.yaml", cli_yaml.encode())]
cli_files = {}
for i, n in enumerate(cli_names):
    data = ("secret %d\n" % i).encode()
    cli_members.append((n + ".bkenc", bkenc_v0(CEK, data)[0]))
    cli_files[n] = sha(data)
write_zip("escrowai-encrypt-cli", cli_members)
add("escrowai-encrypt-cli", open="ok", entries=[m[0] for m in cli_members],
    secrets=[[n + ".bkenc", n] for n in cli_names], check=CHECK_ALL_PASS, extract="ok",
    files=cli_files)

# 4. EscrowAICI (§1.4): shutil.make_archive with folder entries, chained keys.
with tempfile.TemporaryDirectory() as td:
    root = os.path.join(td, "algo")
    os.makedirs(os.path.join(root, "models"))
    chain_pairs = [["models/a.pkl.bkenc", "models/a.pkl"], ["models/b.pkl.bkenc", "models/b.pkl"],
                   ["models/c.pkl.bkenc", "models/c.pkl"]]
    plain = {"models/a.pkl": b"A" * 100, "models/b.pkl": b"B" * 200, "models/c.pkl": b"C" * 300}
    key = CEK
    for e, o in chain_pairs:
        ct, key = bkenc_v0(key, plain[o])  # the bug: the next secret derives from this AES key
        open(os.path.join(root, e), "wb").write(ct)
    for n, d in (("Dockerfile", DOCKERFILE), ("run.sh", RUN_SH), ("app.py", APP_PY)):
        open(os.path.join(root, n), "wb").write(d)
    open(os.path.join(root, "secrets.yaml"), "w").write(
        "secretFiles:\n" + "".join("  - [%s, %s]\n" % (e, o) for e, o in chain_pairs))
    arch = shutil.make_archive(os.path.join(td, "algo"), "zip", root)
    shutil.copy(arch, os.path.join(HERE, "escrowaici-chained.zip"))
    with zipfile.ZipFile(arch) as z:
        aici_entries = [i.filename for i in z.infolist() if not i.filename.endswith("/")]
add("escrowaici-chained", open="ok", entries=aici_entries, secrets=chain_pairs,
    check=CHECK_ALL_PASS, extract="ok", files={o: sha(d) for o, d in plain.items()})

# 5. Unsafe zips, refused at open.
def raw_zip(name, entries):
    """entries: list of (ZipInfo or name, data). Python's zipfile writes names as given."""
    with zipfile.ZipFile(os.path.join(HERE, name + ".zip"), "w", zipfile.ZIP_DEFLATED) as z:
        for info, data in entries:
            z.writestr(info, data)


base = [("Dockerfile", DOCKERFILE), ("run.sh", RUN_SH)]


def zi(name, mode=None):
    i = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    i.compress_type = zipfile.ZIP_DEFLATED
    if mode is not None:
        i.create_system = 3
        i.external_attr = mode << 16
    return i


raw_zip("bad-absolute", base + [(zi("/etc/passwd"), b"x")])
add("bad-absolute", open="ESCROW_E_FORMAT")
raw_zip("bad-dotdot", base + [(zi("models/../../evil.sh"), b"x")])
add("bad-dotdot", open="ESCROW_E_FORMAT")
raw_zip("bad-backslash", base + [(zi("models\\evil.sh"), b"x")])
add("bad-backslash", open="ESCROW_E_FORMAT")
raw_zip("bad-empty-component", base + [(zi("models//m.pkl"), b"x")])
add("bad-empty-component", open="ESCROW_E_FORMAT")
raw_zip("bad-control-char", base + [(zi("models/a\x01b.pkl"), b"x")])
add("bad-control-char", open="ESCROW_E_FORMAT")
raw_zip("bad-symlink", base + [(zi("link", 0o120777), b"/etc/shadow")])
add("bad-symlink", open="ESCROW_E_FORMAT")
import warnings
warnings.simplefilter("ignore")  # zipfile warns about duplicate names: that is the point
raw_zip("bad-duplicate", base + [(zi("app.py"), b"one"), (zi("app.py"), b"two")])
add("bad-duplicate", open="ESCROW_E_FORMAT")
raw_zip("bad-duplicate-dotslash", base + [(zi("app.py"), b"one"), (zi("./app.py"), b"two")])
add("bad-duplicate-dotslash", open="ESCROW_E_FORMAT")
raw_zip("bad-file-and-folder", base + [(zi("models"), b"one"), (zi("models/m.pkl"), b"two")])
add("bad-file-and-folder", open="ESCROW_E_FORMAT")
raw_zip("limit-entries", base + [(zi("a"), b"1"), (zi("b"), b"2")])
add("limit-entries", open="ESCROW_E_LIMIT", limits={"max_entries": 3})
add("limit-entries-ok", zip="limit-entries.zip", open="ok", limits={"max_entries": 4},
    entries=["Dockerfile", "run.sh", "a", "b"], secrets=[],
    check=check_with(**{"Secrets file is present": "failed", "Secret files are present": "not checked"}))
raw_zip("limit-entry-size", base + [(zi("big.bin"), b"z" * 5000)])
add("limit-entry-size", open="ESCROW_E_LIMIT", limits={"max_entry_size": 4096})
add("limit-total-size", zip="limit-entry-size.zip", open="ESCROW_E_LIMIT",
    limits={"max_total_size": 5100})
raw_zip("bomb-ratio", base + [(zi("zeros.bin"), b"\0" * (2 << 20))])
add("bomb-ratio", open="ESCROW_E_LIMIT")


def size_lie(name, declared):
    """A deflated entry whose declared size (both headers) is smaller than what it inflates to."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("Dockerfile", DOCKERFILE)
        z.writestr("payload.bin", b"A" * 100000)
    data = bytearray(buf.getvalue())
    real = struct.pack("<I", 100000)
    # local header: sig PK\3\4, usize at offset 22; central: sig PK\1\2, usize at 24
    for sig, off in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        p = 0
        while True:
            p = data.find(sig, p)
            if p < 0:
                break
            if data[p + off:p + off + 4] == real:
                data[p + off:p + off + 4] = struct.pack("<I", declared)
            p += 4
    open(os.path.join(HERE, name + ".zip"), "wb").write(bytes(data))


size_lie("bad-size-lie", 1000)
add("bad-size-lie", open="ok", entries=["Dockerfile", "payload.bin"], secrets=[],
    extract="ESCROW_E_FORMAT", check=check_with(**{
        "Secrets file is present": "failed", "Secret files are present": "not checked",
        "Entry point is present": "failed"}))
open(os.path.join(HERE, "bad-not-a-zip.zip"), "wb").write(b"this is not a zip file\n" * 10)
add("bad-not-a-zip", open="ESCROW_E_FORMAT")
write_zip("bad-secrets-path", base + [
    ("x.bkenc", bkenc_v1(CEK, b"x", ctx_for("x"))),
    ("secrets.yaml", b"secretFiles:\n  - [x.bkenc, ../x]\n")])
add("bad-secrets-path", open="ESCROW_E_FORMAT")
write_zip("bad-secrets-yaml", base + [("secrets.yaml", b"secretFiles: [[a.bkenc, a]\n")])
add("bad-secrets-yaml", open="ESCROW_E_FORMAT")

# 6. Upload-check failures.
def pkg(name, members, pairs, check, extract, files=None):
    write_zip(name, members)
    v = dict(open="ok", entries=[m[0] for m in members], secrets=pairs, check=check,
             extract=extract)
    if files is not None:
        v["files"] = files
    add(name, **v)


sec = ("app.py.bkenc", bkenc_v1(CEK, APP_PY, ctx_for("app.py")))
pairs = [["app.py.bkenc", "app.py"]]
pkg("check-no-dockerfile", [("run.sh", RUN_SH), sec, ("secrets.yaml", quoted_yaml(pairs))], pairs,
    check_with(**{"Dockerfile is present": "failed", "Entry point is present": "not checked"}),
    "ok", {"app.py": sha(APP_PY)})
pkg("check-plaintext-leak", base + [("app.py", APP_PY), sec, ("secrets.yaml", quoted_yaml(pairs))],
    pairs, check_with(**{"Secret files are present": "failed"}), "ESCROW_E_FORMAT")
pkg("check-secret-missing", base + [("secrets.yaml", quoted_yaml(pairs))], pairs,
    check_with(**{"Secret files are present": "failed"}), "ESCROW_E_FORMAT")
pkg("check-secret-not-encrypted", base + [("app.py.bkenc", APP_PY),
                                          ("secrets.yaml", quoted_yaml(pairs))], pairs,
    check_with(**{"Secret files are present": "failed"}), "ESCROW_E_FORMAT")
pkg("check-entry-missing", [("Dockerfile", DOCKERFILE), sec, ("secrets.yaml", quoted_yaml(pairs))],
    pairs, check_with(**{"Entry point is present": "failed"}), "ok", {"app.py": sha(APP_PY)})
run_pairs = [["run.sh.bkenc", "run.sh"]]
pkg("check-entry-secret", [("Dockerfile", DOCKERFILE),
                           ("run.sh.bkenc", bkenc_v1(CEK, RUN_SH, ctx_for("run.sh"))),
                           ("secrets.yaml", quoted_yaml(run_pairs))], run_pairs,
    check_with(**{"Entry point is present": "failed"}), "ok", {"run.sh": sha(RUN_SH)})

# 7. Extraction failures: swapped v1 secret, wrong key, altered ciphertext.
sw_pairs = [["a.bin.bkenc", "a.bin"], ["b.bin.bkenc", "b.bin"]]
pkg("extract-swapped", base + [("a.bin.bkenc", bkenc_v1(CEK, b"bbb", ctx_for("b.bin"))),
                               ("b.bin.bkenc", bkenc_v1(CEK, b"aaa", ctx_for("a.bin"))),
                               ("secrets.yaml", quoted_yaml(sw_pairs))], sw_pairs, CHECK_ALL_PASS,
    "ESCROW_E_MISMATCH")
add("extract-wrong-key", zip="ours-v1.zip", cek=OTHER_CEK.hex(), open="ok",
    entries=[m[0] for m in ours], secrets=ours_pairs, check=CHECK_ALL_PASS,
    extract="ESCROW_E_AUTH")
add("extract-wrong-key-v0", zip="escrowai-encrypt-lib.zip", cek=OTHER_CEK.hex(), open="ok",
    entries=[m[0] for m in lib_members], secrets=[["model.pkl.bkenc", "model.pkl"],
                                                  ["weights.bin.bkenc", "weights.bin"]],
    check=CHECK_ALL_PASS, extract="ESCROW_E_AUTH")
tampered = bytearray(bkenc_v1(CEK, MODEL, ctx_for("models/model.pkl")))
tampered[-100] ^= 1
pkg("extract-tampered", base + [("app.py", APP_PY), ("models/model.pkl.bkenc", bytes(tampered)),
                                ("secrets.yaml", quoted_yaml(ours_pairs))], ours_pairs,
    CHECK_ALL_PASS, "ESCROW_E_AUTH")

with open(os.path.join(HERE, "vectors.json"), "w") as f:
    json.dump({"description": "Algorithm-package vectors: see make_vectors.py. open/extract: "
                              "'ok' or the ESCROW_E_* code name; check: the expected status of "
                              "each upload check with wcek_present = -1; files: sha256 of "
                              "extracted files (a subset).",
               "cek": CEK.hex(), "vectors": vectors}, f, indent=1)
print("wrote %d vectors" % len(vectors), file=sys.stderr)
