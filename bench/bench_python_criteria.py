#!/usr/bin/env python3
"""Per-call cost of criteria validation through the Python bindings, against the C loop.

    <venv>/bin/python bench/bench_python_criteria.py [--corpus tests/vectors/criteria/cases.jsonl]
        [--seconds 3] [--c-bench <build>/bench/bench_criteria]     (from the repository root)

Every corpus case that compiles and validates without an exception is validated in a loop,
as bench_criteria.c does in C: (1) through escrow.Criteria.validate (which also decodes the
error tree into Python objects), (2) through the raw SWIG call (text in, JSON text out).
With --c-bench, the C loop's figure from the same run is printed next to them, and the
per-call overhead of each Python path over C.
"""
import argparse
import json
import re
import subprocess
import time

import escrow
from escrow import core


def load(corpus):
    items = []
    with open(corpus, "rb") as f:
        for line in f:
            try:
                case = json.loads(line)
                opts = case.get("options") or {}
                c = escrow.Criteria(case["schema"], allow_unknown=bool(opts.get("allow_unknown")),
                                    require_all=bool(opts.get("require_all")))
                doc = json.dumps(case["document"]).encode()
                c.validate(doc)
            except (escrow.EscrowError, ValueError, KeyError):
                continue
            items.append((c, doc))
    return items


def rate(items, seconds, fn):
    done, start = 0, time.perf_counter()
    while True:
        for c, doc in items:
            fn(c, doc)
        done += len(items)
        el = time.perf_counter() - start
        if el >= seconds:
            return done / el


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default="tests/vectors/criteria/cases.jsonl")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--c-bench")
    a = ap.parse_args()
    items = load(a.corpus)
    py = rate(items, a.seconds, lambda c, d: c.validate(d))
    rawr = rate(items, a.seconds, lambda c, d: core.pyesc_criteria_validate(c._p, d))
    print(f"corpus {a.corpus} ({len(items)} cases), {a.seconds:.1f} s per loop")
    print(f"Python Criteria.validate   {py:10.0f} docs/s  {1e6 / py:7.2f} us/call")
    print(f"Python raw SWIG call       {rawr:10.0f} docs/s  {1e6 / rawr:7.2f} us/call")
    if a.c_bench:
        out = subprocess.run([a.c_bench, a.corpus, str(a.seconds)], capture_output=True,
                             text=True, check=True).stdout
        m = re.search(r"corpus \((\d+) cases\): escrow (\d+) docs/s", out)
        if m:
            cr = float(m.group(2))
            print(f"C loop (bench_criteria)    {cr:10.0f} docs/s  {1e6 / cr:7.2f} us/call "
                  f"({m.group(1)} cases)")
            print(f"overhead per call: Criteria.validate {1e6 / py - 1e6 / cr:+.2f} us, "
                  f"raw call {1e6 / rawr - 1e6 / cr:+.2f} us")


if __name__ == "__main__":
    main()
