"""Sample validation algorithm: a small risk model scored on a data steward's dataset.

It runs inside the TEE and reaches the data only through the Enclave API at $ENCLAVE_URL
(default http://localhost:5000), the way EscrowAI's sample validation template does:

  GET  /api/v1/data/files[?SASUrl=<base64>]          -> {"files": [{"name": ...}, ...]}
  GET  /api/v1/data/file?filepath=<name>[&SASUrl=..]  -> the decrypted bytes of one file
  POST /api/v1/log     {"message": ..., "status": ...}
  POST /api/v1/report  {"json_data": {...}, "name": ..., "status": "Completed"}

The model (model/weights.json) is the algorithm owner's secret: it is encrypted in the package
and decrypted inside the TEE. Only the aggregate report below leaves the TEE, and only if it
passes the project's validation criteria (schema.json is the matching Cerberus schema).
Standard library only.
"""

import base64
import csv
import io
import json
import math
import os
import sys
import urllib.parse
import urllib.request

ENCLAVE_URL = os.environ.get("ENCLAVE_URL", "http://localhost:5000").rstrip("/")
SAS_URL = os.environ.get("SAS_URL", "")
HERE = os.path.dirname(os.path.abspath(__file__))


def _query(params):
    if SAS_URL:  # local testing against a blob container: the API takes it base64-encoded
        params = dict(params, SASUrl=base64.b64encode(SAS_URL.encode()).decode())
    return "?" + urllib.parse.urlencode(params) if params else ""


def _request(method, path, params=None, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(ENCLAVE_URL + path + _query(params or {}), data=data,
                                 method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=300) as resp:
        return resp.read()


def log(message, status="In Progress"):
    try:
        _request("POST", "/api/v1/log", body={"message": message, "status": status})
    except OSError as e:  # logging must never stop the run
        print(f"log failed: {e}", file=sys.stderr)


def list_files():
    return [f["name"] for f in json.loads(_request("GET", "/api/v1/data/files"))["files"]]


def fetch_csv(name):
    text = _request("GET", "/api/v1/data/file", {"filepath": name}).decode("utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def find(names, wanted):
    """The listed name of a dataset file (listings may keep the .bkenc suffix)."""
    for n in names:
        if n == wanted or n == wanted + ".bkenc":
            return n
    raise FileNotFoundError(f"the dataset has no {wanted} (files: {names})")


def main():
    log("Validation started")
    with open(os.path.join(HERE, "model", "weights.json"), encoding="utf-8") as f:
        model = json.load(f)

    names = list_files()
    patients = fetch_csv(find(names, "patients.csv"))
    labs = fetch_csv(find(names, "labs/results.csv"))
    hba1c = {r["patient_id"]: float(r["value"]) for r in labs if r["test"] == "hba1c"}
    log(f"Read {len(patients)} patients and {len(labs)} lab results")

    coef = model["coefficients"]
    high_risk = 0
    for p in patients:
        features = {
            "age": float(p["age"]),
            "bmi": float(p["bmi"]),
            "systolic_bp": float(p["systolic_bp"]),
            "smoker": float(p["smoker"]),
            "hba1c": hba1c.get(p["patient_id"], 5.5),
        }
        z = model["intercept"] + sum(coef[k] * v for k, v in features.items())
        if 1.0 / (1.0 + math.exp(-z)) >= model["threshold"]:
            high_risk += 1

    n = len(patients)
    report = {
        "model": model["model"],
        "patients": n,
        "mean_age": round(sum(float(p["age"]) for p in patients) / n, 2) if n else 0.0,
        "high_risk_fraction": round(high_risk / n, 4) if n else 0.0,
        "lab_results": len(labs),
    }
    answer = _request("POST", "/api/v1/report", body={
        "json_data": {"report": report},
        "name": "Sample risk model validation report",
        "status": "Completed",
    })
    print(answer.decode("utf-8", "replace"))
    log("Validation completed", "Completed")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # report the failure to the platform, then fail the run
        log(f"Validation failed: {type(e).__name__}: {e}", "Failed")
        raise
