#!/usr/bin/env python3
"""Validate a report against a project's validation criteria, as the enclave does.

    python3 validate_report.py CRITERIA.json REPORT.json

Exit status 0 when the report passes, 1 when it breaks the criteria (Cerberus's error tree is
printed), 2 when the criteria or the report cannot be read.
"""
import json
import sys

import escrow


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        with open(sys.argv[1], "rb") as f:
            criteria = escrow.Criteria(f.read())
    except escrow.SchemaError as e:
        print(f"the criteria are not a valid schema: {e}", file=sys.stderr)
        if e.schema_errors is not None:
            print(json.dumps(e.schema_errors, indent=2), file=sys.stderr)
        return 2
    try:
        with criteria:
            result = criteria.validate_file(sys.argv[2])
    except escrow.EscrowError as e:
        print(f"cannot validate ({e.code_name}): {e}", file=sys.stderr)
        return 2
    if result.valid:
        print("report passes the criteria")
        return 0
    print("report breaks the criteria:")
    print(json.dumps(result.errors, indent=2))
    return 1


if __name__ == "__main__":
    sys.exit(main())
