"""Checks training output, the artifact endpoint and the MLflow relay from inside the sandbox.

MODE (a runtime parameter): "train" (write a model to ESCROW_OUTPUT_DIR and post an artifact),
"cap" (the output folder and the artifacts are size-capped) or "validation" (no output folder,
the artifact endpoint refuses). Posts the checks as a report; the test's criteria require each
one to be true. Prints a marker on stdout and stderr that must never leave the enclave.
"""
import errno
import hashlib
import http.client
import json
import os
import ssl
import sys
import urllib.error
import urllib.request

URL = os.environ["ENCLAVE_URL"].rstrip("/")
MODE = os.environ.get("MODE", "train")
OUT = os.environ.get("ESCROW_OUTPUT_DIR")
checks = {}


def call(method, path, body=None, raw=None, headers=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(URL + path, data=data, method=method, headers=headers or {})
    if data is not None and raw is None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def check(name, fn):
    try:
        checks[name] = bool(fn())
    except Exception as e:
        checks[name] = False
        call("POST", "/api/v1/log", {"message": f"{name}: {type(e).__name__}: {e}"})


def upload(name, size, field="artifact_file", chunk=b"A" * 65536):
    """POST a multipart artifact of size bytes, streamed (no copy of it in memory)."""
    boundary = "escrowprobeboundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; "
            f"filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    conn = http.client.HTTPSConnection("localhost", 5000, context=ssl.create_default_context(),
                                       timeout=120)
    conn.putrequest("POST", "/api/v1/report/artifact")
    conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("Content-Length", str(len(head) + size + len(tail)))
    conn.endheaders()
    try:
        conn.send(head)
        left = size
        while left:
            n = min(left, len(chunk))
            conn.send(chunk[:n])
            left -= n
        conn.send(tail)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may answer 413 and close before the body ends
    r = conn.getresponse()
    code = r.status
    r.read()
    conn.close()
    return code


def upload_two():
    """Two files in one request: refused, and neither is stored."""
    boundary = "twofilesboundary"
    part = lambda name, data: (f"--{boundary}\r\nContent-Disposition: form-data; name=\"artifact_file\"; "
                               f"filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode() + data + b"\r\n"
    body = part("one.bin", b"1" * 100) + part("two.bin", b"2" * 100) + f"--{boundary}--\r\n".encode()
    return call("POST", "/api/v1/report/artifact", raw=body,
                headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})[0]


def mlflow(method, op, body=None, query=""):
    code, raw = call(method, "/api/2.0/mlflow/" + op + query, body)
    return code, json.loads(raw or b"{}")


def mlflow_session():
    """The calls mlflow.set_experiment / start_run / log_* / end_run make."""
    code, _ = mlflow("GET", "experiments/get-by-name", query="?experiment_name=probe-exp")
    assert code == 404, code
    code, d = mlflow("POST", "experiments/create", {"name": "probe-exp"})
    assert code == 200
    exp = d["experiment_id"]
    code, d = mlflow("GET", "experiments/get-by-name", query="?experiment_name=probe-exp")
    assert code == 200 and d["experiment"]["experiment_id"] == exp
    code, d = mlflow("POST", "runs/create", {"experiment_id": exp, "start_time": 1700000000000,
                                             "run_name": "probe-run", "tags": []})
    assert code == 200 and d["run"]["info"]["status"] == "RUNNING"
    run = d["run"]["info"]["run_id"]
    code, d = mlflow("GET", "runs/get", query="?run_id=" + run)
    assert code == 200 and d["run"]["info"]["run_id"] == run, (code, d)
    assert mlflow("GET", "runs/get", query="?run_id=" + "f" * 32)[0] == 404
    assert mlflow("POST", "runs/log-parameter", {"run_id": run, "key": "lr", "value": "0.01"})[0] == 200
    assert mlflow("POST", "runs/log-metric", {"run_id": run, "key": "loss", "value": 0.25,
                                              "timestamp": 1700000000001, "step": 1})[0] == 200
    assert mlflow("POST", "runs/log-batch", {
        "run_id": run, "metrics": [{"key": "acc", "value": 0.9, "timestamp": 1700000000002, "step": 2}],
        "params": [{"key": "epochs", "value": "3"}], "tags": [{"key": "team", "value": "probe"}]})[0] == 200
    code, d = mlflow("POST", "runs/update", {"run_id": run, "status": "FINISHED",
                                             "end_time": 1700000000003})
    assert code == 200 and d["run_info"]["status"] == "FINISHED"
    return run


def mlflow_refusals(run):
    bad_key = mlflow("POST", "runs/log-metric", {"run_id": run, "key": "x\ny", "value": 1})[0]
    not_number = mlflow("POST", "runs/log-metric", {"run_id": run, "key": "k", "value": "1; DROP"})[0]
    long_param = mlflow("POST", "runs/log-parameter", {"run_id": run, "key": "p", "value": "v" * 501})[0]
    unknown_run = mlflow("POST", "runs/log-metric", {"run_id": "0" * 32, "key": "k", "value": 1})[0]
    big_batch = mlflow("POST", "runs/log-batch", {
        "run_id": run, "metrics": [{"key": "m", "value": 1, "timestamp": 1, "step": i} for i in range(1001)]})[0]
    return (bad_key, not_number, long_param, unknown_run, big_batch) == (400, 400, 400, 404, 400)


if MODE == "train":
    check("output_dir_env", lambda: OUT == "/output")
    def write_model():
        os.makedirs(OUT + "/sub", exist_ok=True)
        with open(OUT + "/model.txt", "w") as f:
            f.write("weights-v1 " + os.environ.get("ITERATIONS", "0") + "\n")
        with open(OUT + "/sub/w.bin", "wb") as f:
            f.write(hashlib.sha256(b"w").digest() * 1000)
        os.symlink("/etc/passwd", OUT + "/leak-link")   # must not pull a file into the model
        os.mkfifo(OUT + "/pipe")                        # must not block or be packed
        return True
    check("output_written", write_model)
    check("artifact_posted", lambda: upload("../../model.pkl", 3000, chunk=b"PICKLED-MODEL-") == 200)
    check("artifact_needs_field", lambda: upload("x.bin", 10, field="other") == 400)
    check("artifact_one_file_per_request", lambda: upload_two() == 400)
    check("artifact_not_json", lambda: call("POST", "/api/v1/report/artifact", {"a": 1})[0] == 400)
    run = None
    def session():
        global run
        run = mlflow_session()
        return True
    check("mlflow_session", session)
    check("mlflow_refusals", lambda: mlflow_refusals(run))
    check("mlflow_unknown_call", lambda: mlflow("POST", "runs/delete", {"run_id": run})[0] == 404)
elif MODE == "cap":
    def fill():
        try:
            with open(OUT + "/big.bin", "wb") as f:
                for _ in range(80):
                    f.write(b"B" * (1 << 20))
                    f.flush()
        except OSError as e:
            os.unlink(OUT + "/big.bin")
            return e.errno == errno.ENOSPC
        return False
    check("output_dir_capped", fill)
    check("artifact_over_cap_413", lambda: upload("big.bin", 80 << 20) == 413)
    check("small_artifact_after_413", lambda: upload("small.bin", 1000) == 200)
    def small_model():
        with open(OUT + "/model.txt", "w") as f:
            f.write("small\n")
        return True
    check("small_model", small_model)
elif MODE == "validation":
    check("no_output_dir_env", lambda: OUT is None and not os.path.exists("/output"))
    check("artifact_refused_403", lambda: upload("model.pkl", 100) == 403)
    check("mlflow_in_validation", lambda: mlflow_session() is not None)
elif MODE == "flood":
    def mlflood():
        run = mlflow_session()
        for i in range(11):
            code = mlflow("POST", "runs/log-batch", {"run_id": run, "metrics": [
                {"key": "m", "value": j, "timestamp": 1, "step": j} for j in range(1000)]})[0]
            if code != 200:
                return False
        return True
    check("mlflow_flood_answered", mlflood)

print("TRAINPROBE-STDOUT-MARKER")
print("TRAINPROBE-STDERR-MARKER", file=sys.stderr)
code, _ = call("POST", "/api/v1/report", {"name": "train probe", "status": "Completed",
                                          "json_data": {"report": {"checks": checks}}})
sys.exit(0 if code == 200 else 3)
