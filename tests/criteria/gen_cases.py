#!/usr/bin/python3
"""Generate random (schema, document) pairs with Hypothesis, as JSON lines on stdout.

usage: gen_cases.py N [SEED] [--schema-errors]    (deterministic for a given N)
--schema-errors draws schemas with mistakes, to compare the SchemaError trees.
"""
import json
import random
import sys

from hypothesis import given, settings, HealthCheck, strategies as st

FIELDS = ["a", "b", "c", "x", "é", "B1"]
PATTERNS = ["[a-z]+", "[0-9]{1,3}", "a.*", "(?i)abc", "^x$", "\\d+\\.\\d*", "[a-c]*", "a|b"]
TYPES = ["string", "integer", "float", "number", "boolean", "dict", "list", "container"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 12),
    st.integers(-2**70, 2**70),
    st.floats(allow_nan=False, allow_infinity=False, width=64).filter(lambda f: abs(f) < 1e300),
    st.sampled_from([0.0, 1.0, -0.0, 0.5, 1e-05, 1e16, 2.5, 100.0]),
    st.sampled_from([float("nan"), float("inf"), float("-inf")]),
    st.text(alphabet="abcxyz019 .é'\"\n", max_size=6),
    st.sampled_from(["a", "b", "abc", "ABC", "x", "12", "1.5", ""]),
)
values = st.recursive(
    scalars,
    lambda kids: st.one_of(st.lists(kids, max_size=4),
                           st.dictionaries(st.sampled_from(FIELDS), kids, max_size=4)),
    max_leaves=10)


def rules(depth):
    leaf = {
        "type": st.one_of(st.sampled_from(TYPES), st.lists(st.sampled_from(TYPES), min_size=1, max_size=3, unique=True)),
        "required": st.booleans(),
        "nullable": st.booleans(),
        "empty": st.booleans(),
        "min": scalars.filter(lambda v: v is not None),
        "max": scalars.filter(lambda v: v is not None),
        "minlength": st.integers(0, 4),
        "maxlength": st.integers(0, 4),
        "allowed": st.lists(scalars, max_size=4),
        "forbidden": st.lists(scalars, max_size=3),
        "regex": st.sampled_from(PATTERNS),
        "contains": st.one_of(st.sampled_from(["a", "x"]), st.lists(st.sampled_from(["a", "b", 1]), min_size=1, max_size=2)),
        "dependencies": st.one_of(st.sampled_from(FIELDS), st.lists(st.sampled_from(FIELDS), max_size=2),
                                  st.dictionaries(st.sampled_from(FIELDS), st.lists(scalars, min_size=1, max_size=2), min_size=1, max_size=2)),
        "excludes": st.one_of(st.sampled_from(FIELDS), st.lists(st.sampled_from(FIELDS), max_size=2)),
        "meta": values,
        "readonly": st.booleans(),
    }
    if depth > 0:
        sub = st.deferred(lambda: rules(depth - 1))
        leaf.update({
            "schema": st.one_of(st.dictionaries(st.sampled_from(FIELDS), sub, max_size=3), sub),
            "items": st.lists(sub, max_size=3),
            "keysrules": sub,
            "valuesrules": sub,
            "anyof": st.lists(sub, min_size=1, max_size=3),
            "allof": st.lists(sub, min_size=1, max_size=2),
            "oneof": st.lists(sub, min_size=1, max_size=3),
            "noneof": st.lists(sub, min_size=1, max_size=2),
            "anyof_type": st.lists(st.sampled_from(TYPES), min_size=1, max_size=3),
            "allow_unknown": st.booleans(),
            "require_all": st.booleans(),
        })
    names = sorted(leaf)
    return st.lists(st.sampled_from(names), max_size=4, unique=True).flatmap(
        lambda ks: st.fixed_dictionaries({k: leaf[k] for k in ks}))


schemas = st.dictionaries(st.sampled_from(FIELDS), rules(2), min_size=1, max_size=4)

# Schemas with mistakes, for the SchemaError trees: constraints of the wrong type, unknown
# rules and types, misplaced sub-schemas, at any depth.
junk = st.one_of(scalars, st.lists(scalars, max_size=2), st.dictionaries(st.sampled_from(FIELDS + ["type", "min"]), scalars, max_size=2))
RULE_NAMES = ["type", "required", "nullable", "empty", "min", "max", "minlength", "maxlength",
              "allowed", "forbidden", "regex", "contains", "dependencies", "excludes", "meta",
              "readonly", "schema", "items", "keysrules", "valuesrules", "anyof", "allof",
              "oneof", "noneof", "allow_unknown", "require_all", "anyof_type", "oneof_regex",
              "keyschema", "valueschema", "typo", "coerce", "check_with", "default", "rename",
              "purge_unknown", "validator", "Type"]


def bad_rules(depth):
    sub = st.deferred(lambda: bad_rules(depth - 1)) if depth > 0 else junk
    value = st.one_of(junk, sub, st.lists(sub, max_size=2),
                      st.sampled_from(["flaot", "integer", "dict", "list", ["string", "nope"], [], ""]),
                      st.dictionaries(st.sampled_from(FIELDS), sub, max_size=2))
    return st.dictionaries(st.sampled_from(RULE_NAMES), value, min_size=1, max_size=3)


# (a number or null as a field's rules makes Cerberus itself crash with a TypeError)
bad_schemas = st.dictionaries(
    st.sampled_from(FIELDS),
    st.one_of(bad_rules(2), bad_rules(2), bad_rules(2), st.sampled_from(["integer", ""]),
              st.lists(scalars, max_size=2)),
    min_size=1, max_size=3)
options = st.fixed_dictionaries({"allow_unknown": st.booleans(), "require_all": st.booleans()})


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 1000
    seed = int(args[1]) if len(args) > 1 else 0
    out = []
    if "--schema-errors" in sys.argv:
        @settings(max_examples=n, derandomize=True, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck))
        @given(bad_schemas, st.dictionaries(st.sampled_from(FIELDS), values, max_size=3))
        def collect_bad(schema, doc):
            out.append({"schema": schema, "document": doc})

        collect_bad()
        for case in out:
            print(json.dumps(case, ensure_ascii=False))
        return

    @settings(max_examples=n, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(schemas, st.lists(st.dictionaries(st.sampled_from(FIELDS), values, max_size=5), min_size=1, max_size=3),
           options, st.integers(0, 2**30))
    def collect(schema, docs, opts, salt):
        for d in docs:
            out.append({"schema": schema, "document": d, "options": opts})

    random.seed(seed)
    collect()
    for case in out:
        print(json.dumps(case, ensure_ascii=False))


if __name__ == "__main__":
    main()
