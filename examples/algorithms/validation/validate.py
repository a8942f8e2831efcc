"""Example validation algorithm: scores the Data Steward's cohort with the Algorithm Owner's
(secret) logistic-regression model and reports accuracy, sensitivity and specificity, each
with the half-width of its 95% Wilson score interval ("CI") and its n, in the shape of the
manual's validation criteria example (14.6.2; criteria.json here).

Runs inside the TEE and talks only to the Enclave API, through EnclaveSDK. Standard library
only. Runtime parameters (optional): THRESHOLD (default 0.5), LABEL_COLUMN (default "label"),
MODEL (default model/model.json, relative to this folder).
"""
import csv
import io
import json
import math
import os
import sys

import EnclaveSDK

HERE = os.path.dirname(os.path.abspath(__file__))
Z95 = 1.959963984540054


def log(api, message, status="In Progress"):
    api.api_v1_log_post(EnclaveSDK.LogData(message=message, status=status))


def wilson_half_width(successes, n):
    """Half the width of the 95% Wilson score interval of a proportion."""
    p = successes / n
    return Z95 / (1 + Z95 * Z95 / n) * math.sqrt(p * (1 - p) / n + Z95 * Z95 / (4 * n * n))


def metric(successes, n):
    return {"value": float(successes / n), "CI": float(round(wilson_half_width(successes, n), 6)),
            "n": int(n)}


def score(model, row):
    z = model["bias"]
    for f, w, m, s in zip(model["features"], model["weights"], model["mean"], model["std"]):
        z += w * (float(row[f]) - m) / s
    return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0


def csv_names(files):
    return sorted(f.name for f in files if f.name.endswith(".csv") or f.name.endswith(".csv.bkenc"))


def main():
    threshold = float(os.environ.get("THRESHOLD", "0.5"))
    label = os.environ.get("LABEL_COLUMN", "label")
    if not 0.0 < threshold < 1.0:
        raise SystemExit("THRESHOLD must lie strictly between 0 and 1")
    with open(os.path.join(HERE, os.environ.get("MODEL", "model/model.json"))) as f:
        model = json.load(f)

    client = EnclaveSDK.ApiClient(EnclaveSDK.Configuration())  # ENCLAVE_URL, SSL_CERT_FILE
    data, logs = EnclaveSDK.DataApi(client), EnclaveSDK.LogApi(client)
    reports = EnclaveSDK.ReportApi(client)
    names = csv_names(data.api_v1_data_files_get().files)
    if not names:
        log(logs, "no CSV file in the dataset", "Failed")
        return 1
    log(logs, "Validation started: {} CSV file(s)".format(len(names)))

    tp = tn = fp = fn = 0
    for name in names:
        text = data.api_v1_data_file_get(name).decode("utf-8")
        reader = csv.DictReader(io.StringIO(text))
        missing = [c for c in model["features"] + [label] if c not in (reader.fieldnames or [])]
        if missing:
            log(logs, "a file lacks the model's columns: " + ", ".join(missing), "Failed")
            return 1
        for row in reader:
            truth = int(row[label])
            pred = 1 if score(model, row) >= threshold else 0
            tp += truth == 1 and pred == 1
            tn += truth == 0 and pred == 0
            fp += truth == 0 and pred == 1
            fn += truth == 1 and pred == 0
    if tp + fn == 0 or tn + fp == 0:
        log(logs, "the labels hold one class only: sensitivity or specificity is undefined",
            "Failed")
        return 1
    report = {"report": {"accuracy": metric(tp + tn, tp + tn + fp + fn),
                         "sensitivity": metric(tp, tp + fn),
                         "specificity": metric(tn, tn + fp)}}
    log(logs, "Validation finished: {} rows".format(tp + tn + fp + fn))
    reports.api_v1_report_post(EnclaveSDK.Report(
        name="Binary classifier validation", status="Completed", json_data=report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
