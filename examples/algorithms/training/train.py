"""Example training algorithm: logistic regression by batch gradient descent on the Data
Steward's cohort, standard library only.

Runtime parameters:
  ITERATIONS      number of gradient steps (required; 1..100000), as in the manual's 7.3.2
  LEARNING_RATE   step size (default 0.5)
  L2              ridge penalty (default 0.001)
  LABEL_COLUMN    default "label"
  START_MODEL     a model file of this package to continue from (default model/start.json when
                  it exists): a previous run's model.json, placed in the package by the AO

Output: model.json, sent through the Enclave API's artifact endpoint (it leaves the TEE only
inside model.zip.bkenc, encrypted to the AO's CEK); when the enclave has no artifact endpoint,
written to the output folder ESCROW_OUTPUT_DIR instead. Then a Completed report with the
training figures (criteria.json).
"""
import csv
import io
import json
import math
import os
import sys

import EnclaveSDK

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL_FORMAT = "escrow-example-logreg/1"
FEATURES = ["age", "bmi", "systolic_bp", "glucose", "smoker"]
MAX_ITERATIONS = 100000


def log(api, message, status="In Progress"):
    api.api_v1_log_post(EnclaveSDK.LogData(message=message, status=status))


def param_int(name, lo, hi):
    v = os.environ.get(name)
    if v is None:
        raise SystemExit("the runtime parameter {} is required".format(name))
    try:
        n = int(v)
    except ValueError:
        raise SystemExit("{} must be an integer, not {!r}".format(name, v))
    if not lo <= n <= hi:
        raise SystemExit("{} must lie in {}..{}".format(name, lo, hi))
    return n


def sigmoid(z):
    if z < -700:
        return 0.0
    return 1.0 / (1.0 + math.exp(-z))


def load_rows(data, features, label):
    names = sorted(f.name for f in data.api_v1_data_files_get().files
                   if f.name.endswith(".csv") or f.name.endswith(".csv.bkenc"))
    X, y = [], []
    for name in names:
        reader = csv.DictReader(io.StringIO(data.api_v1_data_file_get(name).decode("utf-8")))
        missing = [c for c in features + [label] if c not in (reader.fieldnames or [])]
        if missing:
            raise SystemExit("{} lacks the columns {}".format(name, ", ".join(missing)))
        for row in reader:
            X.append([float(row[f]) for f in features])
            y.append(int(row[label]))
    return names, X, y


def start_model(features, X):
    path = os.environ.get("START_MODEL")
    if path is None and os.path.exists(os.path.join(HERE, "model", "start.json")):
        path = "model/start.json"
    if path is not None:
        with open(os.path.join(HERE, path)) as f:
            m = json.load(f)
        if m.get("format") != MODEL_FORMAT or m.get("features") != features:
            raise SystemExit("START_MODEL is not a model of this algorithm's format and features")
        return m, path
    n = len(X)
    mean = [sum(r[j] for r in X) / n for j in range(len(features))]
    std = [math.sqrt(sum((r[j] - mean[j]) ** 2 for r in X) / n) or 1.0 for j in range(len(features))]
    return {"format": MODEL_FORMAT, "features": features, "mean": mean, "std": std,
            "weights": [0.0] * len(features), "bias": 0.0, "iterations_total": 0}, None


def loss_and_accuracy(Z, y, w, l2):
    eps = 1e-12
    loss = acc = 0.0
    for zi, yi in zip(Z, y):
        p = sigmoid(zi)
        loss -= yi * math.log(p + eps) + (1 - yi) * math.log(1 - p + eps)
        acc += (p >= 0.5) == (yi == 1)
    return loss / len(y) + l2 / 2 * sum(v * v for v in w), acc / len(y)


def main():
    iterations = param_int("ITERATIONS", 1, MAX_ITERATIONS)
    rate = float(os.environ.get("LEARNING_RATE", "0.5"))
    l2 = float(os.environ.get("L2", "0.001"))
    label = os.environ.get("LABEL_COLUMN", "label")
    if not (0 < rate <= 10 and 0 <= l2 <= 10):
        raise SystemExit("LEARNING_RATE must lie in (0, 10] and L2 in [0, 10]")

    client = EnclaveSDK.ApiClient(EnclaveSDK.Configuration())  # ENCLAVE_URL, SSL_CERT_FILE
    data, logs = EnclaveSDK.DataApi(client), EnclaveSDK.LogApi(client)
    reports = EnclaveSDK.ReportApi(client)
    names, X, y = load_rows(data, FEATURES, label)
    if not y:
        log(logs, "no rows to train on", "Failed")
        return 1
    model, started_from = start_model(FEATURES, X)
    log(logs, "Training started: {} rows from {} file(s), {} iterations{}".format(
        len(y), len(names), iterations, ", from " + started_from if started_from else ""))

    S = [[(v - m) / s for v, m, s in zip(r, model["mean"], model["std"])] for r in X]
    w, b, n, k = list(model["weights"]), model["bias"], len(y), len(FEATURES)
    every = max(1, iterations // 10)
    for it in range(1, iterations + 1):
        gw, gb = [0.0] * k, 0.0
        for xi, yi in zip(S, y):
            e = sigmoid(b + sum(wj * xj for wj, xj in zip(w, xi))) - yi
            gb += e
            for j in range(k):
                gw[j] += e * xi[j]
        w = [wj - rate * (gj / n + l2 * wj) for wj, gj in zip(w, gw)]
        b -= rate * gb / n
        if it % every == 0 or it == iterations:
            loss, _ = loss_and_accuracy([b + sum(wj * xj for wj, xj in zip(w, xi)) for xi in S],
                                        y, w, l2)
            log(logs, "iteration {}/{}: loss {:.5f}".format(it, iterations, loss))
    loss, acc = loss_and_accuracy([b + sum(wj * xj for wj, xj in zip(w, xi)) for xi in S], y, w, l2)

    model.update({"label": label, "weights": w, "bias": b,
                  "iterations_total": int(model.get("iterations_total", 0)) + iterations,
                  "learning_rate": rate, "l2": l2, "trained_rows": n})
    model.pop("note", None)
    blob = (json.dumps(model, indent=1) + "\n").encode()
    try:
        reports.api_v1_report_artifact_post(artifact_file=("model.json", blob, "application/json"))
        where = "the artifact endpoint"
    except EnclaveSDK.ApiException as e:
        out = os.environ.get("ESCROW_OUTPUT_DIR")
        if e.status not in (404, 501) or not out:
            raise
        with open(os.path.join(out, "model.json"), "wb") as f:
            f.write(blob)
        where = "the output folder"
    log(logs, "Training finished: model.json written through " + where)
    reports.api_v1_report_post(EnclaveSDK.Report(
        name="Logistic regression training", status="Completed",
        json_data={"training": {"iterations": iterations,
                                "iterations_total": model["iterations_total"],
                                "n": n, "final_loss": float(round(loss, 6)),
                                "train_accuracy": float(round(acc, 6))}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
