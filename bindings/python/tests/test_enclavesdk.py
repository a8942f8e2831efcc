"""EnclaveSDK against a local TLS server that plays the Enclave API (loopback only).

The server's certificate comes from a CA made for the test with the openssl command; the SDK
must trust it only through SSL_CERT_FILE or Configuration.ssl_ca_cert, as inside an enclave.
"""
import base64
import hashlib
import http.client
import http.server
import json
import os
import shutil
import ssl
import subprocess
import threading
import urllib.parse

import pytest

import EnclaveSDK
from EnclaveSDK import exceptions

BIG = bytes(range(256)) * (5 * 4096 + 7)  # a 5 MiB + body for the streaming tests

FILES = {
    "patients.csv.bkenc": b"id,age,label\n1,50,1\n2,40,0\n",
    "sub dir/r&d=1.csv.bkenc": b"x\n1\n",
    "big.bin.bkenc": BIG,
}


def _make_pki(d, name):
    """A CA and a server certificate for localhost/127.0.0.1 signed by it."""
    ca_key, ca = os.path.join(d, name + "-ca.key"), os.path.join(d, name + "-ca.pem")
    key, csr, crt = (os.path.join(d, name + ext) for ext in (".key", ".csr", ".pem"))
    ext = os.path.join(d, name + ".ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
                "basicConstraints=CA:FALSE\n")
    run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True)  # noqa: E731
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-subj", "/CN=test run CA " + name, "-days", "1", "-keyout", ca_key, "-out", ca,
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-subj", "/CN=localhost", "-keyout", key, "-out", csr)
    run("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-days", "1",
        "-extfile", ext, "-out", crt)
    return ca, crt, key


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _send(self, code, body, ctype="application/json"):
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _record(self, body):
        u = urllib.parse.urlsplit(self.path)
        self.server.seen.append({"method": self.command, "path": u.path,
                                 "query": urllib.parse.parse_qs(u.query, keep_blank_values=True),
                                 "headers": dict(self.headers), "body": body})
        return u.path, urllib.parse.parse_qs(u.query)

    def do_GET(self):
        path, q = self._record(b"")
        if path == "/api/v1/data/files":
            self._send(200, {"files": [{"id": str(i), "name": n, "size": len(c) + 40,
                                        "uploadDate": "2023-12-08T21:30:58.830Z"}
                                       for i, (n, c) in enumerate(FILES.items())], "totalFiles": len(FILES)})
        elif path == "/api/v1/data/file":
            name = q.get("filepath", [""])[0]
            if name == "cut.bin.bkenc":  # announces more than it sends, then closes
                self.send_response(200)
                self.send_header("Content-Length", "100000")
                self.end_headers()
                self.wfile.write(b"a" * 1000)
                self.wfile.flush()
                self.close_connection = True
                return
            if name == "err-cut.bin.bkenc":  # an error status whose body never comes
                self.send_response(500)
                self.send_header("Content-Length", "100")
                self.end_headers()
                self.wfile.flush()
                self.close_connection = True
                return
            if name == "drop.bin.bkenc":  # reads the request, closes without an answer
                self.close_connection = True
                return
            if name not in FILES:
                return self._send(404, {"status": "failed", "message": "no such file"})
            self._send(200, FILES[name], "application/octet-stream")
        elif path == "/health":
            self._send(200, {"enclave": "ok", "simulated_tee": True})
        else:
            self._send(404, {"status": "failed", "message": "no such endpoint"})

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        path, _ = self._record(body)
        if path in ("/api/v1/report", "/api/v1/validate"):
            doc = json.loads(body)
            jd = doc.get("json_data")
            if isinstance(jd, dict) and isinstance(jd.get("accuracy"), (int, float)) \
                    and jd["accuracy"] > 1:
                return self._send(400, {"status": "failed",
                                        "message": {"accuracy": ["max value is 1"]}})
            self._send(200, {"status": "successful", "message": {}})
        elif path == "/api/v1/log":
            if json.loads(body).get("message") == "drop":  # processed, but no answer comes back
                self.close_connection = True
                return
            self._send(200, {"status": "successful", "message": {}})
        elif path == "/api/v1/data/file":
            name = json.loads(body).get("filepath")
            if name not in FILES:
                return self._send(404, {"status": "failed", "message": "no such file"})
            self._send(200, FILES[name], "application/octet-stream")
        elif path == "/api/v1/report/artifact":
            self._send(200, {"status": "successful", "message": {}, "size": len(body)})
        else:
            self._send(404, {"status": "failed", "message": "no such endpoint"})


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.fail("the openssl command is needed (tools/install-deps.sh)")
    d = str(tmp_path_factory.mktemp("pki"))
    ca, crt, key = _make_pki(d, "run")
    other_ca, _, _ = _make_pki(d, "other")
    return {"ca": ca, "crt": crt, "key": key, "other_ca": other_ca}


@pytest.fixture(scope="module")
def server(pki):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki["crt"], pki["key"])
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.seen = []
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def client(server, pki, monkeypatch):
    """An ApiClient as an algorithm makes it inside the enclave: the host given, the CA from
    SSL_CERT_FILE."""
    monkeypatch.setenv("SSL_CERT_FILE", pki["ca"])
    server.seen.clear()
    return EnclaveSDK.ApiClient(EnclaveSDK.Configuration(
        "https://localhost:{}".format(server.server_address[1])))


def test_listing_gives_file_models_with_the_wire_fields(client, server):
    r = EnclaveSDK.DataApi(client).api_v1_data_files_get()
    assert isinstance(r, EnclaveSDK.FileList)
    assert [f.name for f in r.files] == list(FILES)
    assert r.total_files == 3
    f = r.files[0]
    assert isinstance(f, EnclaveSDK.File) and f.id == "0" and f.size == len(FILES[f.name]) + 40
    assert f.upload_date.year == 2023 and f.upload_date.utcoffset().total_seconds() == 0
    assert server.seen[-1]["method"] == "GET" and server.seen[-1]["query"] == {}


def test_listing_passes_sas_url_as_the_SASUrl_query_parameter(client, server):
    b64 = base64.b64encode(b"https://acct.blob.core.windows.net/c?sp=rl&sig=a%2Bb").decode()
    EnclaveSDK.DataApi(client).api_v1_data_files_get(sas_url=b64)
    assert server.seen[-1]["query"] == {"SASUrl": [b64]}


def test_file_get_returns_the_exact_bytes_for_names_with_folders_and_reserved_characters(client, server):
    api = EnclaveSDK.DataApi(client)
    for name, content in FILES.items():
        got = api.api_v1_data_file_get(name)
        assert got == content, name
        assert server.seen[-1]["query"]["filepath"] == [name]


def test_file_post_form_returns_the_bytes(client):
    got = EnclaveSDK.DataApi(client).api_v1_data_file_post(
        EnclaveSDK.RequestFileData(filepath="patients.csv.bkenc"))
    assert got == FILES["patients.csv.bkenc"]


def test_unknown_file_raises_not_found_with_status_and_body(client):
    with pytest.raises(EnclaveSDK.NotFoundException) as e:
        EnclaveSDK.DataApi(client).api_v1_data_file_get("nope.csv.bkenc")
    assert e.value.status == 404 and e.value.data == {"status": "failed", "message": "no such file"}
    assert isinstance(e.value, EnclaveSDK.rest.ApiException)


def test_with_http_info_gives_status_headers_and_raw_bytes(client):
    r = EnclaveSDK.DataApi(client).api_v1_data_file_get_with_http_info("patients.csv.bkenc")
    assert isinstance(r, EnclaveSDK.ApiResponse)
    assert r.status_code == 200 and r.raw_data == r.data == FILES["patients.csv.bkenc"]
    assert r.headers["Content-Type"] == "application/octet-stream"


@pytest.mark.parametrize("form", ["without_preload_content", "_preload_content=False"])
def test_large_file_streams_in_bounded_pieces(client, form):
    api = EnclaveSDK.DataApi(client)
    if form == "without_preload_content":
        r = api.api_v1_data_file_get_without_preload_content("big.bin.bkenc")
    else:
        r = api.api_v1_data_file_get("big.bin.bkenc", _preload_content=False)
    h, n, biggest = hashlib.sha256(), 0, 0
    try:
        assert r.status == 200
        for piece in r.stream(65536):
            biggest = max(biggest, len(piece))
            h.update(piece)
            n += len(piece)
    finally:
        r.release_conn()
    assert n == len(BIG) and h.digest() == hashlib.sha256(BIG).digest()
    assert biggest <= 65536


def test_a_body_cut_short_is_an_error_never_a_short_file(client):
    with pytest.raises(EnclaveSDK.ApiException) as e:
        EnclaveSDK.DataApi(client).api_v1_data_file_get("cut.bin.bkenc")
    assert e.value.status == 0 and "cut short after 1000 bytes" in e.value.reason


@pytest.mark.parametrize("how", ["stream", "read", "readinto"])
def test_a_streamed_body_cut_short_raises_instead_of_ending_early(client, how):
    """The enclave cuts a file short (Content-Length announced, fewer bytes sent) when it
    cannot finish it: reading it in pieces must not end quietly as if the file were whole."""
    r = EnclaveSDK.DataApi(client).api_v1_data_file_get_without_preload_content("cut.bin.bkenc")
    got = 0
    try:
        with pytest.raises(http.client.IncompleteRead):
            if how == "stream":
                for piece in r.stream(4096):
                    got += len(piece)
            elif how == "read":
                while True:
                    piece = r.read(4096)
                    if not piece:
                        break
                    got += len(piece)
            else:
                buf = bytearray(4096)
                while True:
                    n = r.readinto(buf)
                    if not n:
                        break
                    got += n
    finally:
        r.release_conn()
    assert got == 1000


def test_a_post_that_got_no_answer_is_never_sent_twice_but_a_get_is_retried(client, server):
    """With retries configured, only a request that cannot have had an effect twice is sent
    again: a POST the server may have acted on (a log line, a report) is not repeated."""
    client.configuration.retries = 2
    with pytest.raises(EnclaveSDK.ApiException) as e:
        EnclaveSDK.LogApi(client).api_v1_log_post({"message": "drop", "status": "Progress"})
    assert e.value.status == 0
    assert [s["path"] for s in server.seen] == ["/api/v1/log"]
    server.seen.clear()
    with pytest.raises(EnclaveSDK.ApiException):
        EnclaveSDK.DataApi(client).api_v1_data_file_get("drop.bin.bkenc")
    assert [s["path"] for s in server.seen] == ["/api/v1/data/file"] * 3


def test_an_error_status_whose_body_is_cut_short_is_still_an_api_exception(client):
    with pytest.raises(EnclaveSDK.ApiException) as e:
        EnclaveSDK.DataApi(client).api_v1_data_file_get("err-cut.bin.bkenc")
    assert e.value.status == 500


def test_template_report_is_sent_as_posted(client, server):
    final = {"json_data": {"report": "Performance Report"}, "name": "EscrowAI Algorithm Package",
             "status": "Completed"}
    report = EnclaveSDK.Report.from_dict(final)
    r = EnclaveSDK.ReportApi(client).api_v1_report_post(report)
    assert isinstance(r, EnclaveSDK.ReportResponse) and r.status == "successful"
    seen = server.seen[-1]
    assert seen["path"] == "/api/v1/report" and json.loads(seen["body"]) == final
    assert seen["headers"]["Content-Type"] == "application/json"


def test_report_refused_by_the_criteria_raises_bad_request_with_the_errors(client):
    report = EnclaveSDK.Report(name="r", status="Completed", json_data={"accuracy": 1.5})
    with pytest.raises(EnclaveSDK.BadRequestException) as e:
        EnclaveSDK.ReportApi(client).api_v1_report_post(report)
    assert e.value.status == 400
    assert e.value.data == {"status": "failed", "message": {"accuracy": ["max value is 1"]}}


def test_validate_answers_a_validation_response_on_both_classes(client, server):
    rep = {"name": "r", "status": "Completed", "json_data": {"accuracy": 0.5}}
    for api in (EnclaveSDK.ReportApi(client), EnclaveSDK.ValidateApi(client)):
        v = api.api_v1_validate_post(EnclaveSDK.Report.from_dict(rep))
        assert isinstance(v, EnclaveSDK.ValidationResponse)
        assert v.status == "successful" and v.message == {}
        assert server.seen[-1]["path"] == "/api/v1/validate"


def test_log_posts_message_and_status(client, server):
    EnclaveSDK.LogApi(client).api_v1_log_post(EnclaveSDK.LogData(message="50% done",
                                                                 status="In Progress"))
    assert json.loads(server.seen[-1]["body"]) == {"message": "50% done", "status": "In Progress"}


@pytest.mark.parametrize("kind", ["bytes", "tuple", "path", "file"])
def test_artifact_is_sent_as_multipart_field_artifact_file(client, server, tmp_path, kind):
    content = b"model\x00bytes" * 1000
    p = tmp_path / "model.json"
    p.write_bytes(content)
    arg = {"bytes": content, "tuple": ("model.json", content), "path": str(p)}.get(kind)
    api = EnclaveSDK.ReportApi(client)
    if kind == "file":
        with open(p, "rb") as f:
            api.api_v1_report_artifact_post(artifact_file=f)
    else:
        api.api_v1_report_artifact_post(artifact_file=arg)
    seen = server.seen[-1]
    ctype = seen["headers"]["Content-Type"]
    assert ctype.startswith("multipart/form-data; boundary=")
    boundary = ctype.split("boundary=", 1)[1].encode()
    parts = seen["body"].split(b"--" + boundary)
    assert parts[-1] == b"--\r\n" and len(parts) == 3
    head, _, data = parts[1].partition(b"\r\n\r\n")
    assert b'name="artifact_file"' in head
    assert data[:-2] == content and data[-2:] == b"\r\n"
    if kind != "bytes":
        assert b'filename="model.json"' in head


def test_bearer_token_is_sent_when_configured(server, pki, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", pki["ca"])
    c = EnclaveSDK.Configuration("https://localhost:{}".format(server.server_address[1]))
    c.access_token = "tok123"
    EnclaveSDK.HealthApi(EnclaveSDK.ApiClient(c)).health_get()
    assert server.seen[-1]["headers"]["Authorization"] == "Bearer tok123"


def test_certificate_from_another_ca_is_refused_by_default(server, pki, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", pki["other_ca"])
    c = EnclaveSDK.Configuration("https://localhost:{}".format(server.server_address[1]))
    with pytest.raises(EnclaveSDK.ApiException) as e:
        EnclaveSDK.DataApi(EnclaveSDK.ApiClient(c)).api_v1_data_files_get()
    assert e.value.status == 0 and "certificate verification failed" in e.value.reason


def test_ssl_ca_cert_is_trusted_without_SSL_CERT_FILE(server, pki, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", pki["other_ca"])
    c = EnclaveSDK.Configuration("https://localhost:{}".format(server.server_address[1]),
                                 ssl_ca_cert=pki["ca"])
    assert EnclaveSDK.DataApi(EnclaveSDK.ApiClient(c)).api_v1_data_files_get().total_files == 3


def test_host_name_is_checked(server, pki, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", pki["ca"])
    port = server.server_address[1]
    # the certificate names localhost and 127.0.0.1: the IP works, another name does not
    c = EnclaveSDK.Configuration("https://127.0.0.1:{}".format(port))
    assert EnclaveSDK.HealthApi(EnclaveSDK.ApiClient(c)).health_get()["enclave"] == "ok"
    c = EnclaveSDK.Configuration("https://127.0.0.1:{}".format(port))
    c.tls_server_name = "enclave.other.test"
    with pytest.raises(EnclaveSDK.ApiException) as e:
        EnclaveSDK.HealthApi(EnclaveSDK.ApiClient(c)).health_get()
    assert e.value.status == 0 and "certificate verification failed" in e.value.reason


def test_verify_ssl_false_is_an_explicit_opt_out(server, pki, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", pki["other_ca"])
    c = EnclaveSDK.Configuration("https://localhost:{}".format(server.server_address[1]))
    assert c.verify_ssl is True
    client = EnclaveSDK.ApiClient(c)
    with pytest.raises(EnclaveSDK.ApiException):
        EnclaveSDK.HealthApi(client).health_get()
    c.verify_ssl = False   # a change after the first request counts
    assert EnclaveSDK.HealthApi(client).health_get()["enclave"] == "ok"


def test_no_server_is_an_api_exception_with_status_0(pki, monkeypatch):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    c = EnclaveSDK.Configuration("https://localhost:{}".format(port))
    with pytest.raises(EnclaveSDK.ApiException) as e:
        EnclaveSDK.HealthApi(EnclaveSDK.ApiClient(c)).health_get()
    assert e.value.status == 0 and "no answer" in e.value.reason


def test_default_host_comes_from_ENCLAVE_URL_then_the_documented_default(monkeypatch):
    monkeypatch.delenv("ESCROW_RUNTIME_LOCATION", raising=False)
    monkeypatch.setenv("ENCLAVE_URL", "https://enclave.test:5001/")
    assert EnclaveSDK.Configuration().host == "https://enclave.test:5001"
    monkeypatch.delenv("ENCLAVE_URL")
    monkeypatch.setenv("ESCROW_RUNTIME_LOCATION", "https://old.test:5002")
    assert EnclaveSDK.Configuration().host == "https://old.test:5002"
    monkeypatch.delenv("ESCROW_RUNTIME_LOCATION")
    assert EnclaveSDK.Configuration().host == "https://localhost:5000"


def test_report_model_round_trips_and_ignores_unknown_fields():
    d = {"name": "n", "status": "Completed", "json_data": "eyJhIjogMX0=", "project": "p",
         "run": "r", "run_configuration": "rc", "upload_location": "u",
         "json_schema": {"a": {"type": "integer"}}}
    r = EnclaveSDK.Report.from_dict(dict(d, unknown_field=1))
    assert r.to_dict() == d
    assert EnclaveSDK.Report.from_json(r.to_json()) == r
    assert EnclaveSDK.Report.from_dict(None) is None
    assert EnclaveSDK.Report(name="x").to_dict() == {"name": "x"}


def test_models_refuse_wrong_types_and_missing_required_fields():
    with pytest.raises(EnclaveSDK.ApiTypeError):
        EnclaveSDK.Report.from_dict({"name": 5})
    with pytest.raises(EnclaveSDK.ApiTypeError):
        EnclaveSDK.Report.from_dict(["not", "a", "dict"])
    with pytest.raises(EnclaveSDK.ApiValueError):
        EnclaveSDK.RequestFileData()
    with pytest.raises(exceptions.ApiTypeError):
        EnclaveSDK.LogData(message=["not", "text"])
    # unknown fields are ignored, as by the generated models
    assert EnclaveSDK.Report(name="x", nonsense=1).to_dict() == {"name": "x"}


def test_json_schema_model_is_sent_as_given():
    schema = {"report": {"type": "dict", "schema": {"n": {"type": "integer", "min": 1}}}}
    r = EnclaveSDK.Report(name="x", json_schema=EnclaveSDK.ReportJsonSchema.from_dict(schema))
    assert r.to_dict() == {"name": "x", "json_schema": schema}


def test_operations_refuse_wrong_argument_types_before_sending(client, server):
    api = EnclaveSDK.DataApi(client)
    with pytest.raises(EnclaveSDK.ApiValueError):
        api.api_v1_data_file_get(None)
    with pytest.raises(EnclaveSDK.ApiTypeError):
        api.api_v1_data_file_get(b"bytes-name")
    with pytest.raises(EnclaveSDK.ApiTypeError):
        api.api_v1_data_files_get(unknown_kw=1)
    assert server.seen == []


def test_package_uses_the_standard_library_only():
    import ast
    import pathlib
    import sys
    root = pathlib.Path(EnclaveSDK.__file__).parent
    stdlib = set(sys.stdlib_module_names)
    for py in root.rglob("*.py"):
        for node in ast.walk(ast.parse(py.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            for n in names:
                assert n.split(".")[0] in stdlib, (py.name, n)
