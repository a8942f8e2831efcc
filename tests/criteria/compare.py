#!/usr/bin/python3
"""Compare escrow's answers with Cerberus's on the same JSON lines.

usage: compare.py CASES.jsonl EXPECTED.jsonl ACTUAL.jsonl [--min-agreement 0.995] [--show N]

A case agrees when validity is the same and the error trees are equal, comparing the
messages whose element order is Python set order (or tie order) as multisets. Cases where
Cerberus itself crashes (an exception other than SchemaError/DocumentError) are counted
apart: docs/CRITERIA.md says what escrow does there. Schema errors agree when both refuse
the schema and the SchemaError trees are equal.
"""
import ast
import io
import json
import re
import sys
import tokenize

SET_MSG = re.compile(r"^(unallowed values |missing members )(.*)$", re.S)


def _names_to_strings(text):
    """inf, nan (and any other bare name) in a repr become string literals for literal_eval."""
    out = []
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.NAME and tok.string not in ("True", "False", "None"):
            sign = ""
            if out and out[-1] == (tokenize.OP, "-"):
                out.pop()
                sign = "-"
            out.append((tokenize.STRING, repr("<%s%s>" % (sign, tok.string))))
        else:
            out.append((tok.type, tok.string))
    return tokenize.untokenize(out)


def canon_msg(m):
    if isinstance(m, str):
        g = SET_MSG.match(m)
        if g:
            body = g.group(2)
            try:  # a Python list or set literal: compare its elements' reprs as a multiset
                elems = ast.literal_eval(_names_to_strings(body))
                parts = sorted(repr(e) for e in elems)
            except (ValueError, SyntaxError, TypeError, tokenize.TokenError):
                parts = [body]
            return g.group(1) + "|".join(parts)
    return m


def canon(tree):
    if isinstance(tree, dict):
        return {k: canon(v) for k, v in tree.items()}
    if isinstance(tree, list):
        msgs = [canon_msg(x) for x in tree if not isinstance(x, dict)]
        dicts = [canon(x) for x in tree if isinstance(x, dict)]
        # messages that tie in Cerberus's sort (several dependencies errors) come out in an
        # order that depends on insertion history: compare them as a multiset
        deps = sorted(x for x in msgs if isinstance(x, str) and x.startswith("field '") and x.endswith("' is required"))
        others = [x for x in msgs if not (isinstance(x, str) and x.startswith("field '") and x.endswith("' is required"))]
        return others + deps + dicts
    return tree


NORMALIZATION = ("coerce", "default", "default_setter", "purge_unknown", "rename", "rename_handler")


def verdict(exp, act):
    if act.get("exception") == "SchemaError" and "normalization rule" in (act.get("message") or ""):
        return "intentional-normalization"
    if exp.get("exception") not in (None, "SchemaError", "DocumentError"):
        return "oracle-crash"
    if exp.get("exception") == "SchemaError":
        if act.get("exception") != "SchemaError":
            return "differ"
        return "agree" if canon(exp.get("schema_errors")) == canon(act.get("schema_errors")) else "differ-schema-tree"
    if exp.get("exception") == "DocumentError":
        return "agree" if act.get("exception") == "DocumentError" else "differ"
    if exp.get("valid") != act.get("valid"):
        return "differ"
    return "agree" if canon(exp.get("errors")) == canon(act.get("errors")) else "differ-tree"


def main():
    args = sys.argv[1:]
    minimum = 0.995
    show = 5
    if "--min-agreement" in args:
        i = args.index("--min-agreement"); minimum = float(args[i + 1]); del args[i:i + 2]
    if "--show" in args:
        i = args.index("--show"); show = int(args[i + 1]); del args[i:i + 2]
    cases = [json.loads(l) for l in open(args[0], encoding="utf-8") if l.strip()]
    exp = [json.loads(l) for l in open(args[1], encoding="utf-8") if l.strip()]
    act = [json.loads(l) for l in open(args[2], encoding="utf-8") if l.strip()]
    if not (len(cases) == len(exp) == len(act)):
        print("line counts differ: %d cases, %d expected, %d actual" % (len(cases), len(exp), len(act)))
        return 2
    counts = {}
    shown = 0
    for c, e, a in zip(cases, exp, act):
        v = verdict(e, a)
        counts[v] = counts.get(v, 0) + 1
        if v.startswith("differ") and shown < show:
            shown += 1
            print("DIFFER (%s):\n  case     %s\n  cerberus %s\n  escrow   %s" % (
                v, json.dumps(c), json.dumps(e), json.dumps(a)))
    compared = sum(n for k, n in counts.items() if k not in ("oracle-crash", "intentional-normalization"))
    agree = counts.get("agree", 0)
    rate = agree / compared if compared else 1.0
    print("cases %d, compared %d, agree %d (%.4f), %s" % (len(cases), compared, agree, rate,
          ", ".join("%s %d" % kv for kv in sorted(counts.items()))))
    return 0 if rate >= minimum else 1


if __name__ == "__main__":
    sys.exit(main())
