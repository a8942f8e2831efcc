#!/usr/bin/env python3
"""Streaming encryption throughput of the Python bindings against the C command.

    PYTHONPATH= <venv>/bin/python bench/bench_python_stream.py --escrow <build>/tools/escrow/escrow \
        [--size-mib 1024] [--buffer-kib 1024] [--dir /tmp]

Encrypts the same input file with `escrow encrypt` and with escrow.EncryptWriter fed by
readinto() of --buffer-kib buffers (runs interleaved, best of --runs each, output files removed between runs),
and prints both throughputs and their ratio (goal: >= 0.9 with 1 MiB buffers). Also reports
the Python decrypt throughput (DecryptReader) for reference.
"""
import argparse
import os
import subprocess
import tempfile
import time

import escrow


def best(runs, fn):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--escrow", required=True, help="the C escrow command")
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--buffer-kib", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", default=None)
    a = ap.parse_args()
    size = a.size_mib << 20
    bufsize = a.buffer_kib << 10
    with tempfile.TemporaryDirectory(dir=a.dir) as d:
        src = os.path.join(d, "in.bin")
        block = os.urandom(1 << 20)
        with open(src, "wb") as f:
            for _ in range(a.size_mib):
                f.write(block)
        cek_path = os.path.join(d, "cek.key")
        cek = escrow.Cek.generate()
        cek.save(cek_path)
        out_c = os.path.join(d, "c.bkenc")
        out_py = os.path.join(d, "py.bkenc")

        def run_c():
            if os.path.exists(out_c):
                os.remove(out_c)
            subprocess.run([a.escrow, "encrypt", "--cek", cek_path, src, "-o", out_c],
                           check=True, stdout=subprocess.DEVNULL)

        def run_py():
            if os.path.exists(out_py):
                os.remove(out_py)
            buf = bytearray(bufsize)
            mv = memoryview(buf)
            with open(src, "rb", buffering=0) as fin, open(out_py, "xb", buffering=0) as fout:
                # the command puts the file name in the header (context 0x04): so do we
                with escrow.EncryptWriter(fout, cek, path="in.bin") as w:
                    while True:
                        n = fin.readinto(buf)
                        if not n:
                            break
                        w.write(mv[:n])
                os.fsync(fout.fileno())  # the C command fsyncs its output too

        def run_py_decrypt():
            with open(out_py, "rb", buffering=0) as fin, \
                    escrow.DecryptReader(fin, cek, buffer_size=bufsize) as r:
                buf = bytearray(bufsize)
                while r.readinto(buf):
                    pass

        # interleaved, so that both see the same machine load; best of --runs each
        tc = tp = td = float("inf")
        for _ in range(a.runs):
            tc = min(tc, best(1, run_c))
            tp = min(tp, best(1, run_py))
            td = min(td, best(1, run_py_decrypt))
        assert os.path.getsize(out_c) == os.path.getsize(out_py)
        mib = size / (1 << 20)
        print(f"input {a.size_mib} MiB, Python buffer {a.buffer_kib} KiB, best of {a.runs}")
        print(f"C escrow encrypt      {mib / tc:8.1f} MiB/s  ({tc:.3f} s)")
        print(f"Python EncryptWriter  {mib / tp:8.1f} MiB/s  ({tp:.3f} s)")
        print(f"ratio Python / C      {tc / tp:8.3f}")
        print(f"Python DecryptReader  {mib / td:8.1f} MiB/s  ({td:.3f} s)")


if __name__ == "__main__":
    main()
