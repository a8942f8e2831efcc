"""Behaviour of the Pythonic layer: round trips, file-like streams, files, datasets, errors."""
import io
import os
import threading

import pytest

import escrow

from conftest import vectors_dir


def pattern(n: int, seed: int = 0) -> bytes:
    return bytes((i * 31 + seed) % 251 for i in range(n))


@pytest.fixture
def cek():
    with escrow.Cek.generate() as k:
        yield k


def test_round_trip_in_memory_with_context(cek):
    pt = pattern(200_000)
    ct = escrow.encrypt(pt, cek, log2cs=14, project_id="p1", role="ds", asset="a@v1",
                        path="dir/x.csv", key_id="v1")
    assert escrow.detect_format(ct) == escrow.FileFormat.V1
    h = escrow.Header.parse(ct)
    assert h.log2cs == 14
    assert h.context == {"project_id": "p1", "role": "ds", "asset": "a@v1",
                         "path": "dir/x.csv", "key_id": "v1"}
    h.verify(cek)
    assert escrow.decrypt(ct, cek, expect_path="dir/x.csv", expect_hdrtag=h.hdrtag) == pt
    assert len(ct) == escrow.ciphertext_size(len(pt), 14, h.length)
    assert escrow.plaintext_size(len(ct), 14, h.length) == len(pt)


def test_bytes_in_accepts_bytearray_and_memoryview_but_not_str(cek):
    pt = pattern(1000)
    assert escrow.decrypt(memoryview(escrow.encrypt(bytearray(pt), cek)), cek) == pt
    with pytest.raises(TypeError):
        escrow.encrypt("text", cek)


def test_wrong_key_raises_authentication_error_and_releases_nothing(cek):
    ct = escrow.encrypt(pattern(100_000), cek)
    other = escrow.Cek.generate()
    d = escrow.Decryptor(other)
    with pytest.raises(escrow.AuthenticationError) as e:
        d.update(ct)
    assert e.value.code == -5 and e.value.message
    with pytest.raises(escrow.StateError):  # a dead handle stays dead
        d.update(b"")
    hdr = escrow.Header.parse(ct)
    with pytest.raises(escrow.AuthenticationError):
        hdr.verify(other)


def test_truncated_stream_never_looks_complete(cek):
    ct = escrow.encrypt(pattern(300_000), cek)
    cut = ct[: len(ct) - 20_000]
    r = escrow.open_decrypt(io.BytesIO(cut), cek)
    with pytest.raises(escrow.EscrowError) as e:
        r.read()
    assert isinstance(e.value, (escrow.TruncatedError, escrow.AuthenticationError))


def test_exception_families_are_also_builtin_exceptions():
    with pytest.raises(ValueError):
        escrow.Cek.from_bytes(b"short")
    with pytest.raises(escrow.KeyMaterialError) as e:
        escrow.Cek.from_bytes(b"short")
    assert e.value.code_name == "ESCROW_E_KEY"
    with pytest.raises(escrow.NotFoundError):
        escrow.Cek.load("/nonexistent/escrow/cek.key")
    assert issubclass(escrow.ExistsError, FileExistsError)
    assert issubclass(escrow.EscrowIOError, OSError)
    assert escrow.error_class(-15) is escrow.MismatchError


def test_closed_handles_raise_instead_of_crashing(cek):
    k = escrow.Cek.generate()
    k.close()
    with pytest.raises(escrow.StateError):
        escrow.encrypt(b"x", k)
    with escrow.Encryptor(cek) as e:
        pass
    with pytest.raises(escrow.StateError):
        e.update(b"x")


def test_file_like_writer_and_reader_stream_in_bounded_pieces(cek, tmp_path):
    p = tmp_path / "big.bin.bkenc"
    pt = pattern(3 * 65536 + 123)
    with escrow.open_encrypt(p, cek, path="big.bin") as w:
        for i in range(0, len(pt), 10_000):
            w.write(pt[i:i + 10_000])
    assert w.hdrtag is not None and len(w.hdrtag) == 32
    with escrow.open_decrypt(p, cek, expect_path="big.bin", buffer_size=4096) as r:
        got = b""
        while True:
            b = r.read(777)
            if not b:
                break
            got += b
    assert got == pt
    with open(p, "rb") as f, escrow.DecryptReader(f, cek) as r:
        assert io.BufferedReader(r).read() == pt
    with pytest.raises(FileExistsError):  # a path is created, never replaced
        escrow.open_encrypt(p, cek)


def test_writer_left_with_an_exception_does_not_finalize(cek):
    buf = io.BytesIO()
    with pytest.raises(RuntimeError):
        with escrow.EncryptWriter(buf, cek) as w:
            w.write(pattern(200_000))
            raise RuntimeError("boom")
    with pytest.raises((escrow.TruncatedError, escrow.AuthenticationError)):
        escrow.decrypt(buf.getvalue(), cek)


def test_random_access_reader(cek, tmp_path):
    pt = pattern(5 * 16384 + 7)
    p = tmp_path / "r.bkenc"
    p.write_bytes(escrow.encrypt(pt, cek, log2cs=14, path="r"))
    with escrow.Reader(p, cek, expect_path="r") as r:
        assert r.size == len(pt)
        assert r.pread(100, 16380) == pt[16380:16480]
        assert r.pread(50, len(pt) - 10) == pt[-10:]
        assert r.header.context["path"] == "r"
    with pytest.raises(escrow.MismatchError):
        escrow.Reader(p, cek, expect_path="other")


def test_files_are_atomic_and_leave_no_plaintext_on_failure(cek, tmp_path):
    src = tmp_path / "in.txt"
    src.write_bytes(pattern(70_000))
    enc = tmp_path / "in.txt.bkenc"
    tag = escrow.encrypt_file(cek, src, enc, path="in.txt")
    assert len(tag) == 32
    out = tmp_path / "out.txt"
    escrow.decrypt_file(cek, enc, out, expect_path="in.txt", expect_hdrtag=tag)
    assert out.read_bytes() == src.read_bytes()
    data = bytearray(enc.read_bytes())
    data[-5] ^= 1
    enc.write_bytes(bytes(data))
    bad = tmp_path / "bad.txt"
    with pytest.raises(escrow.AuthenticationError):
        escrow.decrypt_file(cek, enc, bad)
    assert not bad.exists()
    v0 = tmp_path / "in.v0"
    assert escrow.encrypt_file(cek, src, v0, format=escrow.FileFormat.V0) is None
    assert escrow.legacy_decrypt(v0.read_bytes(), cek) == src.read_bytes()


def test_descriptors(cek, tmp_path):
    src = tmp_path / "a"
    src.write_bytes(pattern(100_000))
    with open(src, "rb") as i, open(tmp_path / "a.bkenc", "wb") as o:
        tag = escrow.encrypt_fd(cek, i.fileno(), o.fileno(), path="a")
    with open(tmp_path / "a.bkenc", "rb") as i, open(tmp_path / "b", "wb") as o:
        escrow.decrypt_fd(cek, i.fileno(), o.fileno(), expect_hdrtag=tag)
    assert (tmp_path / "b").read_bytes() == src.read_bytes()


def test_keys_wrap_export_and_save(tmp_path):
    priv = escrow.Kek.load_private(vectors_dir() / "keys" / "kek3072.key.pem")
    pub = escrow.Kek.public_from_bytes(priv.public_bytes(escrow.KeyEncoding.DER))
    assert not pub.has_private and pub.key_id == priv.key_id
    c = escrow.Cek.generate()
    for h in (escrow.OaepHash.SHA256, escrow.OaepHash.SHA1):
        w = pub.wrap(c, h)
        back, used = priv.unwrap_ex(w)
        assert back == c and used == h
    with pytest.raises(escrow.InvalidArgumentError):
        pub.unwrap(pub.wrap(c))
    c.save(tmp_path / "c.key", escrow.CekEncoding.BASE64)
    assert escrow.Cek.load(tmp_path / "c.key") == c
    assert oct((tmp_path / "c.key").stat().st_mode & 0o777) == "0o600"
    with pytest.raises(escrow.ExistsError):
        c.save(tmp_path / "c.key")
    assert priv.private_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert escrow.wcek_filename().startswith("wcek_")


def test_dataset_folder_round_trip_and_manifest(cek, tmp_path):
    src = tmp_path / "ds"
    (src / "sub").mkdir(parents=True)
    (src / "a.csv").write_bytes(pattern(1000))
    (src / "sub" / "b.csv").write_bytes(pattern(70_000, 3))
    enc = tmp_path / "enc"
    escrow.encrypt_dataset(src, enc, cek, dataset_version="v7", project_id="p")
    m = escrow.Manifest.load(enc, cek)
    assert [e.path for e in m] == ["a.csv", "sub/b.csv"]
    assert m[1].size == 70_000 and len(m[1].hdrtag) == 32
    assert m.dataset_version == "v7" and "a.csv" in m and "zzz" not in m
    out = tmp_path / "out"
    escrow.decrypt_dataset(enc, out, cek, require_manifest=True, project_id="p")
    assert (out / "sub" / "b.csv").read_bytes() == pattern(70_000, 3)
    # swap two files: authentic data in the wrong place
    a, b = enc / "a.csv.bkenc", enc / "sub" / "b.csv.bkenc"
    da, db = a.read_bytes(), b.read_bytes()
    a.write_bytes(db)
    b.write_bytes(da)
    out2 = tmp_path / "out2"
    with pytest.raises(escrow.MismatchError):
        escrow.decrypt_dataset(enc, out2, cek)
    assert not out2.exists()


def test_pack_algorithm_and_extract(cek, tmp_path):
    alg = tmp_path / "alg"
    alg.mkdir()
    (alg / "Dockerfile").write_text('FROM python:3.11\nENTRYPOINT ["python", "app.py"]\n')
    (alg / "app.py").write_text("print('hi')\n")
    (alg / "model.pkl").write_bytes(pattern(5000))
    z = tmp_path / "alg.zip"
    escrow.pack_algorithm(alg, cek, z, ["model.pkl"])
    with escrow.AlgorithmPackage(z) as p:
        assert "model.pkl.bkenc" in p.entries and "model.pkl" not in p.entries
        assert p.secrets == [("model.pkl.bkenc", "model.pkl")]
        passed, checks = p.check(wcek_present=True)
        assert passed, checks
        p.extract(cek, tmp_path / "x")
    assert (tmp_path / "x" / "model.pkl").read_bytes() == pattern(5000)


def test_threads_with_separate_handles_give_correct_results():
    errors = []

    def work(seed):
        try:
            with escrow.Cek.generate() as k:
                for i in range(30):
                    pt = pattern(50_000 + i * 100, seed)
                    assert escrow.decrypt(escrow.encrypt(pt, k, path=f"t{seed}"), k,
                                          expect_path=f"t{seed}") == pt
                    with pytest.raises(escrow.MismatchError) as e:
                        escrow.decrypt(escrow.encrypt(pt, k, path="x"), k, expect_path="y")
                    # the message is this thread's own, not another thread's
                    assert "'x'" in e.value.message and "'y'" in e.value.message
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def _rss_kib() -> int:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def test_100k_encrypt_decrypt_calls_do_not_grow_memory():
    k = escrow.Cek.generate()
    pt = pattern(256)
    bad = bytearray(escrow.encrypt(pt, k))
    bad[-1] ^= 1
    bad = bytes(bad)

    def loop(n):
        for _ in range(n):
            ct = escrow.encrypt(pt, k, path="p")
            assert escrow.decrypt(ct, k, expect_path="p") == pt
        for _ in range(n // 10):
            try:
                escrow.decrypt(bad, k)
            except escrow.AuthenticationError:
                pass

    loop(5_000)  # warm up allocators
    before = _rss_kib()
    loop(100_000)
    grown = _rss_kib() - before
    # a leak of even 64 bytes per call would be > 6 MiB here
    assert grown < 4096, f"RSS grew by {grown} KiB over 100,000 calls"


def test_closing_the_key_under_a_live_decryptor_is_safe():
    k = escrow.Cek.generate()
    pt = pattern(300_000)
    ct = escrow.encrypt(pt, k)
    d = escrow.Decryptor(k)
    k.close()  # the decryptor still holds the key; the Cek itself is unusable now
    with pytest.raises(escrow.StateError):
        escrow.encrypt(b"x", k)
    assert d.update(ct[:100]) == b""  # the header is verified with the borrowed key
    assert d.update(ct[100:]) + d.finalize() == pt
    d.close()
    assert k._pending is None  # freed with the decryptor


def test_blob_client_on_a_file_folder(cek, tmp_path):
    store = tmp_path / "store"
    (store / "a").mkdir(parents=True)
    (store / "a" / "one.bin").write_bytes(pattern(1000))
    src = tmp_path / "data.csv"
    src.write_bytes(pattern(70_000, 5))
    with escrow.BlobClient(store.as_uri()) as b:
        assert b.put_file("b/two.csv", src) is False
        assert b.put_file("b/two.csv", src, skip_same=True) is True
        items = list(b.list())
        assert [(i.name, i.size) for i in items] == [("a/one.bin", 1000), ("b/two.csv", 70_000)]
        assert [i.name for i in b.list("b/")] == ["b/two.csv"]
        assert b.stat("b/two.csv")[0] == 70_000  # (a file:// folder stores no MD5)
        assert b.get("a/one.bin", 10, 20) == pattern(1000)[10:30]
        enc = tmp_path / "data.csv.bkenc"
        tag = escrow.encrypt_file(cek, src, enc, path="data.csv")
        b.put_file("data.csv.bkenc", enc)
        out = tmp_path / "back.csv"
        b.get_decrypt_file("data.csv.bkenc", cek, out, expect_path="data.csv", expect_hdrtag=tag)
        assert out.read_bytes() == src.read_bytes()
        bad = tmp_path / "bad.csv"
        with pytest.raises(escrow.MismatchError):
            b.get_decrypt_file("data.csv.bkenc", cek, bad, expect_path="other.csv")
        assert not bad.exists()
        with pytest.raises(escrow.NotFoundError):
            b.stat("missing")
        assert b.stats.requests > 0
    with pytest.raises(escrow.NotFoundError):
        escrow.BlobClient((tmp_path / "nope").as_uri())
