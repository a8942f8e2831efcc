#!/usr/bin/env python3
"""Drive the EscrowAI Platform API with the escrow bindings: upload validation criteria, request
a run, follow it and read its report. Tokens are made from your private key, as BeeKeeperAI's
API sample makes them.

    platform_api.py --base-url URL --key KEY.pem --email ME --project ID upload-criteria FILE TAG
    platform_api.py ... request ALGORITHM_TAG DATASET_TAG [MACHINE_TYPE]
    platform_api.py ... status ALGORITHM_TAG DATASET_TAG
    platform_api.py ... report ALGORITHM_TAG DATASET_TAG [--wait SECONDS]

Prints one JSON document. Exit 0 done, 1 refused by the platform, 2 usage or network error.
"""
import argparse
import json
import sys
import time

import escrow


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base-url", required=True, help="the API root, e.g. https://host/api/v1")
    ap.add_argument("--key", required=True, help="your RSA private key (PEM file)")
    ap.add_argument("--email", required=True)
    ap.add_argument("--project", required=True)
    ap.add_argument("--ca-file")
    sub = ap.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("upload-criteria")
    u.add_argument("file")
    u.add_argument("tag")
    u.add_argument("--name", default="Validation criteria")
    for name in ("request", "status", "report"):
        p = sub.add_parser(name)
        p.add_argument("algorithm_version")
        p.add_argument("dataset_version")
        if name == "request":
            p.add_argument("machine_type", nargs="?", default="cpu-standard-2")
        if name == "report":
            p.add_argument("--wait", type=float, default=0,
                           help="poll the run's status up to this many seconds first")
    a = ap.parse_args()

    try:
        with escrow.PlatformClient(a.base_url, a.key, a.email, a.project,
                                   ca_file=a.ca_file) as api:
            if a.cmd == "upload-criteria":
                v = api.upload_criteria(a.file, name=a.name, version_tag=a.tag)
                out = {"id": v.id, "version_tag": v.version_tag, "sha256": v.sha256}
            elif a.cmd == "request":
                r = api.run_request(a.algorithm_version, a.dataset_version, a.machine_type)
                out = {"status": r.status, "run_number": r.run_number,
                       "simulated_tee": r.simulated_tee}
            elif a.cmd == "status":
                r = api.run_status(a.algorithm_version, a.dataset_version)
                out = {"status": r.status, "stage": r.stage, "run_number": r.run_number,
                       "simulated_tee": r.simulated_tee}
            else:
                deadline = time.monotonic() + a.wait
                while a.wait:
                    r = api.run_status(a.algorithm_version, a.dataset_version)
                    if r.status in ("Completed", "Failed", "Rejected", "Cancelled") or \
                            time.monotonic() > deadline:
                        break
                    time.sleep(2)
                rep = api.report(a.algorithm_version, a.dataset_version)
                try:
                    out = {"report": rep.json()}
                except ValueError:
                    out = {"report": rep.content}
    except escrow.EscrowError as e:
        print(f"platform_api: {e}", file=sys.stderr)
        refused = isinstance(e, (escrow.InvalidArgumentError, escrow.AuthenticationError,
                                 escrow.NotFoundError, escrow.StateError, escrow.CheckError))
        return 1 if refused and "HTTP 4" in str(e) else 2
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
