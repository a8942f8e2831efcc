#!/usr/bin/env python3
"""Streamed blob download through the Python bindings vs the C command, same input, same run.

Python: BlobClient.get_to(name, file) (the library streams, Python writes each chunk) into a
file that is then fsynced; C: `escrow blob get URL NAME -o OUT` (which also fsyncs and renames).
Both read a file:// container holding one blob of --size-mib MiB (page-cached after the first
run). Runs interleave C and Python; the best of each is kept. Prints MiB/s, the ratio and the
command that reproduces it.

    build/bindings/python/venv/bin/python bench/bench_python_blob.py \\
        --escrow build/tools/escrow/escrow --size-mib 512 --runs 3
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import escrow


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--escrow", required=True, help="the escrow command")
    ap.add_argument("--size-mib", type=int, default=512)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    size = a.size_mib << 20
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as d:
        store = os.path.join(d, "store")
        os.mkdir(store)
        with open(os.path.join(store, "big.bin"), "wb") as f:
            block = os.urandom(1 << 20)
            for _ in range(a.size_mib):
                f.write(block)
        url = "file://" + store
        client = escrow.BlobClient(url)
        best_c = best_py = float("inf")
        for i in range(a.runs):
            out = os.path.join(d, f"c{i}.bin")
            t = time.perf_counter()
            subprocess.run([a.escrow, "blob", "get", url, "big.bin", "-o", out], check=True,
                           stdout=subprocess.DEVNULL)
            best_c = min(best_c, time.perf_counter() - t)
            os.unlink(out)
            out = os.path.join(d, f"p{i}.bin")
            t = time.perf_counter()
            with open(out, "wb", buffering=0) as f:
                client.get_to("big.bin", f)
                os.fsync(f.fileno())
            best_py = min(best_py, time.perf_counter() - t)
            if os.path.getsize(out) != size:
                print("wrong size", file=sys.stderr)
                return 1
            os.unlink(out)
        mc, mp = a.size_mib / best_c, a.size_mib / best_py
        print(f"C `escrow blob get`: {mc:.1f} MiB/s; Python BlobClient.get_to: {mp:.1f} MiB/s; "
              f"ratio {mp / mc:.2f} ({a.size_mib} MiB, best of {a.runs})")
        print("command: " + " ".join([sys.executable, *sys.argv]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
