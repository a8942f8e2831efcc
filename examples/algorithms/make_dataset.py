#!/usr/bin/env python3
"""Write a synthetic cohort for the example algorithms: CSV files of patients with five
features and a binary label drawn from a known logistic model. Deterministic by seed: the same
arguments give the same bytes on every machine (Python's random.Random, fixed formatting).

    make_dataset.py -o DIR [--seed N] [--rows N] [--files K] [--name cohort]
    make_dataset.py --write-model model.json     the generating model, in the examples' format

Columns: id, age, bmi, systolic_bp, glucose, smoker, label. With --files K the rows are split
over DIR/<name>-001.csv ... (else DIR/<name>.csv). The data is made up: no real person.
"""
import argparse
import json
import math
import os
import random
import sys

FEATURES = ["age", "bmi", "systolic_bp", "glucose", "smoker"]
# population means and spreads used to standardise, and the true coefficients on that scale
MEAN = [55.0, 27.0, 130.0, 100.0, 0.25]
STD = [14.43, 5.0, 15.0, 20.0, 0.433]
WEIGHTS = [0.9, 0.6, 0.4, 1.1, 0.8]
BIAS = -0.4
MODEL_FORMAT = "escrow-example-logreg/1"


def generating_model():
    """The model the labels are drawn from, in the format the example algorithms read."""
    return {"format": MODEL_FORMAT, "features": FEATURES, "label": "label",
            "mean": MEAN, "std": STD, "weights": WEIGHTS, "bias": BIAS,
            "iterations_total": 0, "note": "the synthetic generator's own coefficients"}


def rows(seed, n):
    rnd = random.Random(seed)
    for i in range(n):
        x = [round(rnd.uniform(30, 80), 1),
             round(min(50.0, max(15.0, rnd.gauss(27, 5))), 1),
             round(min(220.0, max(80.0, rnd.gauss(130, 15))), 0),
             round(min(300.0, max(50.0, rnd.gauss(100, 20))), 0),
             1 if rnd.random() < 0.25 else 0]
        z = BIAS + sum(w * (v - m) / s for w, v, m, s in zip(WEIGHTS, x, MEAN, STD))
        label = 1 if rnd.random() < 1.0 / (1.0 + math.exp(-z)) else 0
        yield [i + 1] + x + [label]


def fmt(v):
    if isinstance(v, float):
        return ("%.1f" % v).rstrip("0").rstrip(".") if v != int(v) else "%d" % v
    return str(v)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--out", help="output folder (created)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--files", type=int, default=1)
    ap.add_argument("--name", default="cohort")
    ap.add_argument("--write-model", metavar="FILE", help="write the generating model as JSON")
    a = ap.parse_args(argv)
    if a.write_model:
        with open(a.write_model, "w") as f:
            json.dump(generating_model(), f, indent=1)
            f.write("\n")
        if not a.out:
            return 0
    if not a.out:
        ap.error("-o DIR is required")
    if a.rows < 1 or a.files < 1 or a.files > a.rows:
        ap.error("need --rows >= 1 and 1 <= --files <= --rows")
    if not a.name or "/" in a.name or a.name.startswith("."):
        ap.error("--name must be a plain file name")
    os.makedirs(a.out, exist_ok=True)
    allrows = list(rows(a.seed, a.rows))
    per = -(-a.rows // a.files)
    for k in range(a.files):
        part = allrows[k * per:(k + 1) * per]
        name = a.name + ".csv" if a.files == 1 else "%s-%03d.csv" % (a.name, k + 1)
        with open(os.path.join(a.out, name), "w", newline="") as f:
            f.write(",".join(["id"] + FEATURES + ["label"]) + "\n")
            for r in part:
                f.write(",".join(fmt(v) for v in r) + "\n")
    print(json.dumps({"rows": a.rows, "files": a.files, "seed": a.seed, "output": a.out,
                      "positives": sum(r[-1] for r in allrows)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
