"""The Platform API client against a real escrowd (ESCROWD_BIN, started on a free loopback port
with `escrowd admin` fixtures), SAS signing on the shared vectors, streaming blob downloads
with progress, client handles in threads, and an RSS-flat loop of client calls."""
import datetime
import io
import json
import os
import shutil
import subprocess
import threading

import pytest

import escrow
from conftest import vectors_dir

ESCROWD = os.environ.get("ESCROWD_BIN")
KEYS = vectors_dir() / "keys"
PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    if not ESCROWD or not os.access(ESCROWD, os.X_OK):
        pytest.skip("ESCROWD_BIN is not set to a built escrowd")
    d = tmp_path_factory.mktemp("escrowd")
    data = str(d / "data")

    def admin(*a):
        return subprocess.run([ESCROWD, "admin", "--data", data, *a], check=True,
                              capture_output=True, text=True).stdout
    admin("create-org", "--name", "AO")
    admin("create-org", "--name", "DS")
    admin("create-user", "--org", "AO", "--email", "ao@x.test", "--public-key", str(KEYS / "kek3072.pub.pem"))
    admin("create-user", "--org", "DS", "--email", "ds@x.test", "--public-key", str(KEYS / "kek4096.pub.pem"))
    pid = json.loads(admin("create-project", "--name", "Py", "--ao-org", "AO", "--ds-org", "DS",
                           "--kek-bits", "3072", "--ao-user", "ao@x.test", "--ds-user", "ds@x.test"))["id"]
    p = subprocess.Popen([ESCROWD, "serve", "--data", data, "--listen", "127.0.0.1:0",
                          "--runners", "0"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        addr = json.loads(p.stdout.readline())["listening"]
        yield {"base": f"http://{addr}/api/v1", "project": pid, "dir": d}
    finally:
        p.terminate()
        p.wait(timeout=30)


def client(platform, who):
    key = KEYS / ("kek3072.key.pem" if who == "ao" else "kek4096.key.pem")
    return escrow.PlatformClient(platform["base"], key, f"{who}@x.test", platform["project"])


def wcek_for(api, tmp_path):
    kek = api.kek_download()
    w = escrow.wrap_cek(escrow.Kek.public_from_bytes(kek.key_content.encode()),
                        escrow.Cek.generate())
    p = tmp_path / "wcek_x.key.bkenc"
    p.write_bytes(w)
    return p


def test_platform_upload_sequence_is_typed(platform, tmp_path):
    with client(platform, "ao") as ao, client(platform, "ds") as ds:
        kek = ao.kek_download()
        assert kek.role == "ao" and "BEGIN PUBLIC KEY" in kek.key_content
        assert ao.upload_wcek(wcek_for(ao, tmp_path), name="AO WCEK", version_tag="w1").artifact_type == "wcek"
        ds.upload_wcek(wcek_for(ds, tmp_path), name="DS WCEK", version_tag="w1")
        crit = tmp_path / "criteria.json"
        crit.write_text(json.dumps({"accuracy": {"type": "float", "min": 0, "max": 1}}))
        seen = []
        a = ao.upload_criteria(crit, name="Criteria", version_tag="v1",
                               progress=lambda d, t: seen.append((d, t)))
        assert a.version_tag == "v1" and a.file_name == "criteria.json" and len(a.sha256) == 64
        assert seen and seen[-1][0] == seen[-1][1] > crit.stat().st_size
        pdf = tmp_path / "spec.pdf"
        pdf.write_bytes(PDF)
        ao.upload_specification(pdf, name="Spec", version_tag="s1")
        ds.upload_attestation(pdf, name="Att", version_tag="a1")
        assert ds.accept_criteria("v1")["validation_criteria_version"] == "v1"
        se = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
        url = escrow.sas_sign_url("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=", account="acct",
                                  container="data", permissions="rl", expiry=se, protocol="https")
        d = ds.add_dataset(url, name="X", version_tag="d1", data_specification_version="s1",
                           data_attestation_version="a1")
        assert d.details["sas_status"] == "valid" and "sig=" not in json.dumps(d.raw)
        alg = ao.upload_algorithm(vectors_dir() / "packages" / "ours-v1.zip", name="Model",
                                  version_tag="alg1", algorithm_type="validation",
                                  validation_criteria_version="v1", data_attestation_version="a1")
        assert alg.details["upload_status"][0]["status"] == "File Validation Succeeded"
        v = ao.versions()
        assert v.role == "ao" and v.simulated_tee is True
        assert {x.artifact_type for x in v} == {"wcek", "validation_criteria", "data_specification",
                                               "data_attestation", "dataset", "algorithm"}
        assert [x.version_tag for x in ds.versions("validation_criteria")] == ["v1"]
        # runs: configuration, request with parameters, status, the DS's rejection, no report
        ao.run_configuration("cfg", "alg1", "d1")
        r = ao.run_request("alg1", "d1", "cpu-standard-2", parameters={"EPOCHS": "3"})
        assert r.status == "Run Requested" and r.simulated_tee is True
        assert r.raw["runtime_parameters"] == {"EPOCHS": "3"}
        assert ds.run_status("alg1", "d1").run_number == r.run_number
        r = ds.reject_run("alg1", "d1", "not now")
        assert (r.status, r.reason) == ("Rejected", "not now")
        with pytest.raises((escrow.NotFoundError, escrow.StateError), match="report-download"):
            ao.report("alg1", "d1")
        assert "not now" in json.dumps(ao.notifications())
        assert ao.call("GET", "notifications/") == ao.notifications()  # any endpoint, same style
        with pytest.raises(escrow.InvalidArgumentError):
            ao.call("GET", "../etc/")
        out = tmp_path / "logs.json"
        ds.download(escrow.client.LOG, "alg1", "d1", out)  # the rejected run's log lines
        assert isinstance(json.loads(out.read_text()), dict)
        with pytest.raises((escrow.NotFoundError, escrow.StateError)):
            ao.download(escrow.client.MODEL, "alg1", "d1", tmp_path / "model.zip.bkenc")
        assert not (tmp_path / "model.zip.bkenc").exists()


def test_platform_refusals_raise_their_family_with_the_servers_message(platform, tmp_path):
    with client(platform, "ao") as ao, client(platform, "ds") as ds:
        bad = tmp_path / "bad.json"
        bad.write_text('{"accuracy": {"type": "flaot"}}')
        with pytest.raises(escrow.CheckError, match="HTTP 422"):
            ao.upload_criteria(bad, name="C", version_tag="bad1")
        assert ao.last_status == 422 and "flaot" in json.dumps(ao.last_error())
        pdf = tmp_path / "s.pdf"
        pdf.write_bytes(PDF)
        with pytest.raises(escrow.AuthenticationError, match="HTTP 403"):
            ds.upload_specification(pdf, name="S", version_tag="s9")
        with pytest.raises(escrow.NotFoundError):
            ds.accept_criteria("never")
        with pytest.raises(escrow.NotFoundError):
            ao.upload_wcek(tmp_path / "missing", name="n", version_tag="t")
    wrong = escrow.PlatformClient(platform["base"], KEYS / "kek4096.key.pem", "ao@x.test",
                                  platform["project"])
    with pytest.raises(escrow.AuthenticationError, match="HTTP 401"):
        wrong.kek_download()
    wrong.close()


def test_progress_callback_exception_is_raised_after_the_call(platform, tmp_path):
    with client(platform, "ao") as ao:
        crit = tmp_path / "c.json"
        crit.write_text('{"a": {"type": "integer"}}')

        def boom(done, total):
            raise ValueError("from the callback")
        with pytest.raises(ValueError, match="from the callback"):
            ao.upload_criteria(crit, name="C", version_tag="cb1", progress=boom)


def test_client_bad_inputs():
    with pytest.raises(escrow.InvalidArgumentError):
        escrow.PlatformClient("http://example.com/api/v1", KEYS / "kek3072.key.pem", "a", "p")
    with pytest.raises(escrow.KeyMaterialError):
        escrow.PlatformClient("https://h/api/v1", KEYS / "kek3072.pub.pem", "a", "p")
    c = escrow.PlatformClient("http://127.0.0.1:9", (KEYS / "kek3072.key.pem").read_bytes(), "a", "p")
    with pytest.raises(escrow.EscrowIOError):
        c.kek_download()
    assert c.last_status == 0
    tok = c.token()
    assert tok.count(".") == 2 and tok.startswith("eyJ")
    c.close()
    with pytest.raises(escrow.StateError):
        c.token()


def test_separate_clients_in_threads(platform):
    errors = []

    def work(who):
        try:
            with client(platform, who) as c:
                for _ in range(10):
                    assert c.kek_download().role == who
                    assert c.versions().role == who
        except Exception as e:  # noqa: BLE001 - collected for the assertion below
            errors.append(e)
    threads = [threading.Thread(target=work, args=("ao" if i % 2 else "ds",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def _rss_kib() -> int:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def test_client_calls_do_not_grow_memory(platform):
    # tokens (a 2048-bit key keeps it quick), refusals before traffic, failed connections and
    # real requests: the client's whole path
    c = escrow.PlatformClient("http://127.0.0.1:9", KEYS / "weak2048.key.pem", "a@x.test", "p")
    with client(platform, "ao") as live:
        def loop(n):
            for i in range(n):
                c.token()
                try:
                    c.run_status("", "")
                except escrow.InvalidArgumentError:
                    pass
                if i % 100 == 0:
                    live.kek_download()
                    try:
                        c.kek_download()
                    except escrow.EscrowIOError:
                        pass
        loop(1_000)
        before = _rss_kib()
        loop(10_000)
        grown = _rss_kib() - before
        # a leak of 200 bytes per call would be 2 MiB here
        assert grown < 2048, f"RSS grew by {grown} KiB over 10,000 client calls"
    c.close()


# ---- SAS signing on the shared vectors -----------------------------------------------------

def sign_cases():
    return json.loads((vectors_dir() / "sas" / "sign.json").read_text())["cases"]


@pytest.mark.parametrize("case", sign_cases(), ids=lambda c: c["name"])
def test_sas_sign_vectors(case):
    o = escrow.SasSignOptions(
        account=case["account"], kind=case.get("kind", "service"), container=case.get("container"),
        blob=case.get("blob"), resource=case.get("resource"), snapshot=case.get("snapshot"),
        identifier=case.get("identifier"), permissions=case.get("permissions"),
        start=case.get("start"), expiry=case.get("expiry"), ip=case.get("ip"),
        protocol=case.get("protocol"), version=case.get("version"),
        services=case.get("services"), resource_types=case.get("resource_types"),
        encryption_scope=case.get("encryption_scope"), cache_control=case.get("rscc"),
        content_disposition=case.get("rscd"), content_encoding=case.get("rsce"),
        content_language=case.get("rscl"), content_type=case.get("rsct"))
    if "error" in case:
        with pytest.raises(escrow.EscrowError):
            escrow.sas_sign(case["key"], o)
        return
    token = escrow.sas_sign(case["key"], o)
    from urllib.parse import parse_qs
    assert parse_qs(token)["sig"] == [case["sig"]]
    if case.get("string_to_sign") is not None:
        assert escrow.sas_string_to_sign(o) == case["string_to_sign"]
    if o.kind == "service" and o.resource in (None, "c", "b"):  # the URL has no snapshot id
        url = escrow.sas_sign_url(case["key"], o)
        assert escrow.sas_verify(url, case["key"]) is True
        other = "AAAA" + case["key"][4:]
        assert escrow.sas_verify(url, other) is False


def test_sas_verify_refuses_a_tampered_url():
    key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
    url = escrow.sas_sign_url(key, account="acct", container="c", permissions="rl",
                              expiry="2099-01-01T00:00:00Z")
    assert escrow.sas_verify(url, key)
    assert not escrow.sas_verify(url.replace("sp=rl", "sp=rwl"), key)
    with pytest.raises(escrow.InvalidArgumentError):
        escrow.sas_sign(key, account="acct", container="c", permissions="q",
                        expiry="2099-01-01T00:00:00Z")


# ---- streaming blob downloads with progress ------------------------------------------------

def test_blob_get_streams_into_a_file_object_with_progress(tmp_path):
    src = tmp_path / "store"
    src.mkdir()
    data = os.urandom(3 * 1024 * 1024 + 17)
    (src / "big.bin").write_bytes(data)
    b = escrow.BlobClient("file://" + str(src))
    out = io.BytesIO()
    seen = []
    b.get_to("big.bin", out, progress=lambda d, t: seen.append((d, t)))
    assert out.getvalue() == data
    assert seen[-1] == (len(data), len(data))
    chunks = []
    b.get_to("big.bin", chunks.append, offset=10, length=100)
    assert b"".join(chunks) == data[10:110]

    class Stop(Exception):
        pass

    def stop(_b):
        raise Stop()
    with pytest.raises(Stop):
        b.get_to("big.bin", stop)
    # uploads and file downloads report progress too
    up = []
    b.put_file("copy.bin", src / "big.bin", progress=lambda d, t: up.append((d, t)))
    assert up[-1] == (len(data), len(data))
    b.get_file("copy.bin", tmp_path / "back.bin", progress=lambda d, t: None)
    assert (tmp_path / "back.bin").read_bytes() == data


def test_blob_get_decrypt_to_streams_verified_plaintext(tmp_path):
    cek = escrow.Cek.generate()
    src = tmp_path / "store"
    src.mkdir()
    pt = os.urandom(200_000)
    (src / "a.csv.bkenc").write_bytes(escrow.encrypt(pt, cek, path="a.csv"))
    b = escrow.BlobClient("file://" + str(src))
    out = io.BytesIO()
    b.get_decrypt_to("a.csv.bkenc", cek, out, expect_path="a.csv")
    assert out.getvalue() == pt
    with pytest.raises(escrow.MismatchError):
        b.get_decrypt_to("a.csv.bkenc", cek, io.BytesIO(), expect_path="b.csv")


def test_platform_api_example_uploads_criteria(platform, tmp_path):
    import sys
    example = vectors_dir().parent.parent / "examples" / "python" / "platform_api.py"
    crit = tmp_path / "criteria.json"
    crit.write_text('{"auc": {"type": "float", "min": 0, "max": 1}}')
    conn = ["--base-url", platform["base"], "--key", str(KEYS / "kek3072.key.pem"),
            "--email", "ao@x.test", "--project", platform["project"]]
    p = subprocess.run([sys.executable, str(example), *conn, "upload-criteria", str(crit), "ex1"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["version_tag"] == "ex1"
    p = subprocess.run([sys.executable, str(example), *conn, "upload-criteria", str(crit), "ex1"],
                       capture_output=True, text=True)
    assert p.returncode == 1 and "HTTP 409" in p.stderr  # the same tag twice is refused
    # the run endpoints: an answer, or the platform's refusal (never a crash or usage error)
    p = subprocess.run([sys.executable, str(example), *conn, "status", "alg1", "d1"],
                       capture_output=True, text=True)
    assert p.returncode in (0, 1), p.stderr
