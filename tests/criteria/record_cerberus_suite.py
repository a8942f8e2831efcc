#!/usr/bin/python3
"""Turn Cerberus's own test suite into differential cases (cerberus.md §11).

usage: record_cerberus_suite.py OUT.jsonl
Runs Debian's cerberus/tests under pytest with a plugin that records every top-level
Validator.validate() call whose schema and document survive a JSON round trip, with a plain
Validator and default options apart from allow_unknown/require_all, then writes them as
{"schema","document","options","test"} lines. Needs python3-pytest.
"""
import json
import os
import subprocess
import sys
import tempfile

PLUGIN = r'''
import copy, json, os
import pytest
from cerberus import Validator
from cerberus.validator import BareValidator

OUT = open(os.environ["CERB_RECORD"], "w")
_current = [None]
_orig = BareValidator.validate

def _sanitize(x):
    if isinstance(x, dict): return {k: _sanitize(v) for k, v in x.items()}
    if isinstance(x, (set, frozenset)):
        try: return sorted(_sanitize(v) for v in x)
        except TypeError: return [_sanitize(v) for v in x]
    if isinstance(x, (list, tuple)): return [_sanitize(v) for v in x]
    return x

def _plain(schema):
    if schema is None: return None
    if hasattr(schema, "schema"): schema = schema.schema
    return _sanitize(copy.deepcopy(dict(schema)))

def _jsonable(x):
    try: return json.loads(json.dumps(x)) == x
    except Exception: return False

def recording_validate(self, document, schema=None, update=False, normalize=True):
    top = not self.is_child
    doc_in = schema_in = None
    if top:
        try:
            doc_in = copy.deepcopy(document)
            schema_in = _plain(schema) if schema is not None else _plain(self.schema)
        except Exception:
            top = False
    result = _orig(self, document, schema, update, normalize)
    if top:
        cfg = {k: self._config.get(k) for k in ("allow_unknown", "require_all",
               "ignore_none_values", "purge_unknown", "purge_readonly")}
        ok = (type(self) is Validator and not update and normalize and _jsonable(doc_in)
              and _jsonable(schema_in) and isinstance(doc_in, dict)
              and cfg["allow_unknown"] in (None, False, True) and cfg["require_all"] in (None, False, True)
              and not cfg["ignore_none_values"] and not cfg["purge_unknown"] and not cfg["purge_readonly"]
              and "test_registries" not in (_current[0] or ""))
        if ok:
            OUT.write(json.dumps({"test": _current[0], "schema": schema_in, "document": doc_in,
                                  "options": {"allow_unknown": bool(cfg["allow_unknown"]),
                                              "require_all": bool(cfg["require_all"])}}) + "\n")
            OUT.flush()
    return result

BareValidator.validate = recording_validate
BareValidator.__call__ = recording_validate

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    _current[0] = item.nodeid
    yield
'''


def main():
    out = sys.argv[1]
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "conftest_record.py"), "w") as f:
            f.write(PLUGIN)
        raw = os.path.join(d, "raw.jsonl")
        env = dict(os.environ, PYTHONHASHSEED="0", PYTHONPATH=d, CERB_RECORD=raw)
        import cerberus
        tests = os.path.join(os.path.dirname(cerberus.__file__), "tests")
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p",
                        "conftest_record", tests], env=env, stdout=subprocess.DEVNULL,
                       check=False)
        seen = set()
        with open(raw) as src, open(out, "w") as dst:
            for line in src:
                rec = json.loads(line)
                key = json.dumps([rec["schema"], rec["document"], rec["options"]], sort_keys=True)
                if key in seen:
                    continue
                seen.add(key)
                dst.write(json.dumps(rec, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
