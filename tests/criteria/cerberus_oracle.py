#!/usr/bin/python3
import json, sys, os, warnings
if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)
warnings.simplefilter("ignore")
import cerberus
for line in sys.stdin:
    line=line.strip()
    if not line: continue
    r = json.loads(line)
    o = r.get("options") or {}
    # Cerberus caches schemas it has checked by a hash in which 0 == False and 1 == True, so
    # {"empty": 0} passes once {"empty": false} was seen: answer every line from a clean cache
    cerberus.Validator.clear_caches()
    try:
        v = cerberus.Validator(r["schema"], allow_unknown=o.get("allow_unknown", False), require_all=o.get("require_all", False))
        ok = v.validate(r["document"])
        out = {"valid": ok, "errors": v.errors}
    except cerberus.SchemaError as e:
        out = {"valid": None, "exception": "SchemaError", "message": str(e), "schema_errors": e.args[0] if e.args and isinstance(e.args[0], dict) else str(e)}
    except Exception as e:
        out = {"valid": None, "exception": type(e).__name__, "message": str(e)[:300]}
    try:
        text = json.dumps(out)
    except (TypeError, ValueError) as e:  # e.g. an error tree keyed by a tuple
        text = json.dumps({"valid": None, "exception": "Unserializable", "message": str(e)[:300]})
    print(text)
