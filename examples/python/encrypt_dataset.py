#!/usr/bin/env python3
"""Encrypt a dataset folder for upload, then check the result as the enclave would.

    python3 encrypt_dataset.py DATASET_DIR OUT_DIR [--cek CEK_FILE] [--version TAG]

Without --cek a new CEK is generated and saved next to OUT_DIR as cek_<uuid>.key (mode 0600).
Every file is encrypted to OUT_DIR/<path>.bkenc with its path in the header, and a MAC'd
manifest pins the set of files, so missing, added, swapped or rolled-back files are refused.
"""
import argparse
import os
import sys
import tempfile

import escrow


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset")
    ap.add_argument("out")
    ap.add_argument("--cek")
    ap.add_argument("--version", default=None, help="dataset version written in the manifest")
    a = ap.parse_args()
    if a.cek:
        cek = escrow.Cek.load(a.cek)
    else:
        cek = escrow.Cek.generate()
        path = os.path.join(os.path.dirname(os.path.abspath(a.out)), escrow.Cek.filename())
        cek.save(path)
        print(f"new CEK saved to {path}")
    try:
        escrow.encrypt_dataset(a.dataset, a.out, cek, dataset_version=a.version, role="ds")
    except escrow.EscrowError as e:
        print(f"encryption failed ({e.code_name}): {e}", file=sys.stderr)
        return 1
    manifest = escrow.Manifest.load(a.out, cek)
    total = sum(e.size for e in manifest)
    print(f"{len(manifest)} files, {total} bytes encrypted; manifest version {manifest.dataset_version}")
    # the check the enclave makes: everything verifies before any plaintext is written
    with tempfile.TemporaryDirectory() as tmp:
        escrow.decrypt_dataset(a.out, os.path.join(tmp, "check"), cek, require_manifest=True)
    print("verified: the encrypted folder decrypts completely")
    return 0


if __name__ == "__main__":
    sys.exit(main())
