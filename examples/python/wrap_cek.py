#!/usr/bin/env python3
"""Wrap a CEK with a project's public KEK, as the data steward does before an upload.

    python3 wrap_cek.py KEK_PUBLIC_FILE [--cek CEK_FILE] [--out DIR]

Writes the WCEK (RSA-OAEP SHA-256) as wcek_<uuid>.key.bkenc in DIR (default: the current
folder), and a new cek_<uuid>.key when no --cek is given. Prints the KEK's key id.
"""
import argparse
import os
import sys

import escrow


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("kek")
    ap.add_argument("--cek")
    ap.add_argument("--out", default=".")
    a = ap.parse_args()
    try:
        with escrow.Kek.load_public(a.kek) as kek:
            if a.cek:
                cek = escrow.Cek.load(a.cek)
            else:
                cek = escrow.Cek.generate()
                cek_path = os.path.join(a.out, escrow.Cek.filename())
                cek.save(cek_path)
                print(f"new CEK: {cek_path}")
            wcek = kek.wrap(cek, escrow.OaepHash.SHA256)
            path = os.path.join(a.out, escrow.wcek_filename())
            with open(path, "xb") as f:
                f.write(wcek)
            print(f"WCEK ({len(wcek)} bytes) for KEK {kek.key_id} ({kek.bits} bits): {path}")
    except escrow.EscrowError as e:
        print(f"failed ({e.code_name}): {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
