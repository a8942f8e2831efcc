#!/usr/bin/env python3
"""Check a dataset SAS URL the way the EscrowAI UI does before accepting it.

    python3 check_sas.py URL [--now 2024-06-01T12:00:00Z]

Exit status 0 for a valid URL, 1 otherwise. The signature is never printed.
"""
import argparse
import sys

import escrow


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--now", help="judge at this time (RFC 3339) instead of the clock")
    a = ap.parse_args()
    r = escrow.check_sas(a.url, a.now)
    print(f"{r.status}: {r.message}\n  {r.reason}")
    return 0 if r.ok else 1


if __name__ == "__main__":
    sys.exit(main())
