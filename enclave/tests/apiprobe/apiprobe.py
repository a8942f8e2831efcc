"""Checks the Enclave API contract (DESIGN §7) from inside escrow-enclave's sandbox.

Expects the sample dataset. EXPECT_PATIENTS_SHA256 (a runtime parameter) is the SHA-256 of
the plaintext patients.csv. Posts the results as a report whose json_data is base64 of JSON;
the test's criteria accept it only when every check is True.
"""
import base64
import hashlib
import json
import os
import sys
import urllib.error
import urllib.request

URL = os.environ["ENCLAVE_URL"].rstrip("/")
checks = {}


def call(method, path, body=None, headers=None, raw=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(URL + path, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def check(name, fn):
    try:
        checks[name] = bool(fn())
    except Exception as e:
        checks[name] = False
        call("POST", "/api/v1/log", {"message": f"{name}: {type(e).__name__}: {e}"})


def listing(q=""):
    code, body, _ = call("GET", "/api/v1/data/files" + q)
    return code, json.loads(body) if code == 200 else None


def listing_ok():
    code, d = listing()
    names = [f["name"] for f in d["files"]]
    return (code == 200 and names == ["labs/results.csv.bkenc", "patients.csv.bkenc"]
            and d["totalFiles"] == 2
            and all({"id", "name", "size", "uploadDate"} <= set(f) for f in d["files"]))


PAT = "patients.csv.bkenc"
whole = call("GET", "/api/v1/data/file?filepath=" + PAT)[1]

check("files_listing", listing_ok)
check("empty_sasurl_is_absent", lambda: listing("?SASUrl=")[1] == listing()[1])
check("file_decrypted", lambda: hashlib.sha256(whole).hexdigest() == os.environ["EXPECT_PATIENTS_SHA256"])
check("file_post_form", lambda: call("POST", "/api/v1/data/file", {"filepath": PAT})[1] == whole)
check("range_prefix", lambda: (lambda r: r[0] == 206 and r[1] == whole[:10]
                                and r[2].get("Content-Range") == f"bytes 0-9/{len(whole)}")(
    call("GET", "/api/v1/data/file?filepath=" + PAT, headers={"Range": "bytes=0-9"})))
check("range_suffix", lambda: (lambda r: r[0] == 206 and r[1] == whole[-5:])(
    call("GET", "/api/v1/data/file?filepath=" + PAT, headers={"Range": "bytes=-5"})))
check("range_unsatisfiable", lambda: call("GET", "/api/v1/data/file?filepath=" + PAT,
                                          headers={"Range": "bytes=999999-"})[0] == 416)
check("unknown_file_404", lambda: call("GET", "/api/v1/data/file?filepath=nope.csv.bkenc")[0] == 404)
check("plaintext_name_404", lambda: call("GET", "/api/v1/data/file?filepath=patients.csv")[0] == 404)
check("manifest_hidden", lambda: call("GET", "/api/v1/data/file?filepath=.escrow-manifest.bkenc")[0] == 404)
check("unknown_endpoint_404", lambda: call("GET", "/api/v1/nothing")[0] == 404)

good = {"report": {"sample": {"x": True}}}
bad = {"report": {"sample": {"x": False}}}


def validate(jd):
    code, body, _ = call("POST", "/api/v1/validate", {"name": "v", "status": "Completed", "json_data": jd})
    return code, json.loads(body)


def b64(doc):
    return base64.b64encode(json.dumps(doc).encode()).decode()


check("validate_object", lambda: validate(good) == (200, {"status": "successful", "message": {}}))
check("validate_json_string", lambda: validate(json.dumps(good))[0] == 200)
check("validate_base64", lambda: validate(b64(good))[0] == 200)
check("validate_refuses", lambda: (lambda r: r[0] == 400 and r[1]["status"] == "failed"
                                   and r[1]["message"] == {"report": [{"sample": [{"x": ["unallowed value <redacted>"]}]}]})(
    validate(bad)))
check("validate_not_an_object", lambda: validate([1, 2])[0] == 400)
check("validate_ignores_sent_schema", lambda: call("POST", "/api/v1/validate", {
    "name": "v", "status": "Completed", "json_data": bad,
    "json_schema": {"report": {"type": "dict", "allow_unknown": True}}})[0] == 400)
check("failed_status_report_not_released", lambda: call("POST", "/api/v1/report", {
    "name": "f", "status": "Failed", "json_data": good})[0] == 200)
check("log_accepts_message_only", lambda: call("POST", "/api/v1/log", {"message": "m"})[0] == 200)
check("log_needs_message", lambda: call("POST", "/api/v1/log", {"status": "x"})[0] == 400)
check("log_long_line", lambda: call("POST", "/api/v1/log", {"message": "L" * 5000})[0] == 200)
check("body_too_large_413", lambda: call("POST", "/api/v1/log", raw=b"x" * (300 << 10))[0] == 413)
check("log_flood_answered", lambda: all(call("POST", "/api/v1/log", {"message": f"flood {i}"})[0] == 200
                                        for i in range(1100)))

print("APIPROBE-STDOUT")
code, body, _ = call("POST", "/api/v1/report", {"name": "api probe", "status": "Completed",
                                                "json_data": b64({"report": {"checks": checks}})})
sys.exit(0 if code == 200 else 3)
