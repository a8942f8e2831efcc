"""The shared vectors of tests/vectors, with the outcomes the C tests expect."""
import base64
import hashlib
import shutil

import pytest

import escrow
from escrow.errors import CODE_NAMES

from conftest import load, vectors_dir

FIXTURE_CEK = "ffb50c4125926d4f9208ab094e82a045bc67f32a8d518928998a589f6e544418"


def code_name(exc: escrow.EscrowError) -> str:
    return CODE_NAMES[exc.code]


def cek(hexkey: str) -> escrow.Cek:
    return escrow.Cek.from_bytes(bytes.fromhex(hexkey))


def outcome(fn):
    try:
        return "ok", fn()
    except escrow.EscrowError as e:
        assert type(e) is escrow.error_class(e.code), "exception class matches its code"
        assert e.message, "every error carries a message"
        return code_name(e), None


KEYS = load("keys")


@pytest.mark.parametrize("v", KEYS["cek"], ids=lambda v: v["name"])
def test_cek_vectors(v):
    got, k = outcome(lambda: escrow.Cek.from_bytes(bytes.fromhex(v["input_hex"])))
    assert got == v.get("error", "ok")
    if k is not None:
        assert k.export().hex() == v["cek_hex"]


def _key_input(v):
    if "file" in v:
        return (vectors_dir() / "keys" / v["file"]).read_bytes()
    return base64.b64decode(v["input_b64"])


@pytest.mark.parametrize("kind", ["kek_public", "kek_private"])
def test_kek_vectors(kind):
    reader = escrow.Kek.public_from_bytes if kind == "kek_public" else escrow.Kek.private_from_bytes
    for v in KEYS[kind]:
        got, k = outcome(lambda: reader(_key_input(v)))
        assert got == v.get("error", "ok"), v["name"]
        if k is not None:
            assert k.bits == v["bits"], v["name"]
            assert k.key_id == v["key_id"], v["name"]
            assert k.has_private == (kind == "kek_private")


OAEP = {"auto": escrow.OaepHash.AUTO, "sha256": escrow.OaepHash.SHA256,
        "sha1": escrow.OaepHash.SHA1}


@pytest.mark.parametrize("v", KEYS["wcek_unwrap"], ids=lambda v: v["name"])
def test_wcek_unwrap_vectors(v):
    kek = escrow.Kek.load_private(vectors_dir() / "keys" / v["private_key"])
    got, r = outcome(lambda: kek.unwrap_ex(base64.b64decode(v["wcek_b64"]), OAEP[v["oaep"]]))
    assert got == v.get("error", "ok")
    if r is not None:
        c, used = r
        assert c.export().hex() == v["cek_hex"]
        if "used" in v:
            assert used == OAEP[v["used"]]


BKENC = load("bkenc")["vectors"]


def _decrypt_split(data, key, opts, step):
    """Feed the decryptor in pieces of `step` bytes; collect what it releases."""
    released = bytearray()
    d = escrow.Decryptor(key, **opts)
    try:
        for i in range(0, len(data), step):
            released += d.update(data[i:i + step])
        released += d.finalize()
        return "ok", bytes(released)
    except escrow.EscrowError as e:
        return code_name(e), bytes(released)
    finally:
        d.close()


@pytest.mark.parametrize("v", BKENC, ids=lambda v: v["name"])
def test_bkenc_vectors(v):
    data = (vectors_dir() / "bkenc" / v["file"]).read_bytes()
    opts = {}
    o = v.get("options", {})
    if "expect_path" in o:
        opts["expect_path"] = o["expect_path"]
    if "expect_hdrtag" in o:
        opts["expect_hdrtag"] = bytes.fromhex(o["expect_hdrtag"])
    for step in (max(1, len(data)), 7, 4096 + 3):
        got, released = _decrypt_split(data, cek(v["cek"]), opts, step)
        assert got == v["expect"], f"{v['name']} split {step}"
        if got == "ok":
            assert len(released) == v["plaintext_size"]
            assert hashlib.sha256(released).hexdigest() == v["plaintext_sha256"]
        else:
            # what was released before the failure is only what earlier chunks verified:
            # never more than a strict prefix of the file's plaintext
            assert len(released) < max(1, len(data))


V0 = load("v0")["vectors"]


@pytest.mark.parametrize("v", [v for v in V0 if "error" in v or "sha256" in v],
                         ids=lambda v: v["name"])
def test_v0_vectors(v):
    data = (vectors_dir() / "v0" / v["file"]).read_bytes()
    got, pt = outcome(lambda: escrow.legacy_decrypt(data, cek(v["cek"])))
    assert got == v.get("error", "ok")
    if pt is not None:
        assert len(pt) == v["size"]
        assert hashlib.sha256(pt).hexdigest() == v["sha256"]


PKG = load("packages")


@pytest.mark.parametrize("v", PKG["vectors"], ids=lambda v: v["name"])
def test_package_vectors(v, tmp_path):
    lim = v.get("limits", {})
    path = vectors_dir() / "packages" / v["zip"]
    got, pkg = outcome(lambda: escrow.AlgorithmPackage(path, **lim))
    assert got == v["open"]
    if pkg is None:
        return
    with pkg:
        if "entries" in v:
            assert sorted(pkg.entries) == sorted(v["entries"])
        if "secrets" in v:
            assert [list(s) for s in pkg.secrets] == v["secrets"]
        if "check" in v:
            passed, checks = pkg.check()
            assert passed == v["check"]["passed"]
            assert {c.name: c.status for c in checks} == v["check"]["statuses"]
        if "extract" in v:
            out = tmp_path / "out"
            got, _ = outcome(lambda: pkg.extract(cek(v.get("cek", PKG["cek"])), out))
            assert got == v["extract"]
            if got == "ok":
                for name, digest in v.get("files", {}).items():
                    assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest, name
            else:
                assert not out.exists(), "a failed extraction leaves nothing behind"
            shutil.rmtree(out, ignore_errors=True)
