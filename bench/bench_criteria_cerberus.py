#!/usr/bin/python3
"""Cerberus 1.3 side of bench_criteria: documents per second on the same corpus.

usage: bench_criteria_cerberus.py CORPUS.jsonl SECONDS
Prints one line: {"docs_per_sec": N, "docs": N, "cases": N}. Each case's Validator is built
once (as a server would keep it); every document is json.loads'ed, validated and its error
tree rendered, as escrow does.
"""
import json
import sys
import time
import warnings

warnings.simplefilter("ignore")
import cerberus  # noqa: E402


def main():
    corpus, seconds = sys.argv[1], float(sys.argv[2])
    work = []
    for line in open(corpus, encoding="utf-8"):
        if not line.strip():
            continue
        case = json.loads(line)
        opts = case.get("options") or {}
        try:
            v = cerberus.Validator(case["schema"], allow_unknown=opts.get("allow_unknown", False),
                                   require_all=opts.get("require_all", False))
            doc = json.dumps(case["document"])
            v.validate(json.loads(doc))
            v.errors
        except Exception:
            continue
        work.append((v, doc))
    done = 0
    start = time.perf_counter()
    while True:
        for v, doc in work:
            v.validate(json.loads(doc))
            v.errors
        done += len(work)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            break
    print(json.dumps({"docs_per_sec": done / elapsed, "docs": done, "cases": len(work)}))


if __name__ == "__main__":
    main()
