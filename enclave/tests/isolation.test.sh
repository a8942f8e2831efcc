#!/usr/bin/env bash
# Isolation of the sandbox, checked from inside (tests/probe/probe.py): loopback only, no route,
# no DNS, no vsock/packet/raw sockets, no ptrace/mount/unshare, read-only code and runtime,
# writable scratch, host files unreadable, unprivileged, pids capped, foreign SAS URLs refused;
# the algorithm's stdout/stderr and a refused report's field names never reach the outputs; a
# memory bomb ends in a Failed run that names the limit.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cek=$keys/cek.raw
"$ESCROW_BIN" encrypt --cek "$cek" "$examples/dataset" -o "$tmp/ds" >/dev/null
python3 - "$here/probe/probe.py" "$tmp/crit.json" <<'PY'
import json, re, sys
names = re.findall(r'^check\("([a-z_]+)"', open(sys.argv[1]).read(), re.M)
assert len(names) > 15
crit = {"report": {"type": "dict", "schema": {"checks": {"type": "dict", "require_all": True,
        "schema": {n: {"type": "boolean", "allowed": [True]} for n in names}}}}}
json.dump(crit, open(sys.argv[2], "w"))
PY
if [[ $(id -u) == 0 ]]; then cgroups=1; else cgroups=0; fi

rc=0
"$ESCROW_ENCLAVE_BIN" run --package "$here/probe" --dataset "$tmp/ds" --ds-cek "$cek" \
  --criteria "$tmp/crit.json" --param ITERATIONS=7 --param "HOST_KEY_PATH=$(realpath "$cek")" \
  -o "$tmp/out" >"$tmp/stdout" 2>"$tmp/stderr" || rc=$?
if [[ $rc != 0 ]]; then
  grep -h 'check failed\|refused' "$tmp/out/logs.jsonl" >&2 || cat "$tmp/out/logs.jsonl" >&2
  [[ $cgroups == 1 ]] || echo "note: not root, so no cgroup limits: pids_capped cannot hold" >&2
  fail "isolation probe failed (exit $rc): $(cat "$tmp/out/result.json")"
fi
python3 - "$tmp/out/report.json" <<'PY' || fail "probe report: $(cat "$tmp/out/report.json")"
import json, sys
c = json.load(open(sys.argv[1]))["json_data"]["report"]["checks"]
assert len(c) > 15 and all(v is True for v in c.values()), c
PY
[[ $(jfield "$tmp/out/result.json" limits seccomp) == true ]] || fail "seccomp not applied"
for m in PROBE-STDOUT-MARKER PROBE-STDERR-MARKER PROBE-SECRET-FIELD; do
  grep -rqF -- "$m" "$tmp/out" "$tmp/stdout" "$tmp/stderr" && fail "$m left the sandbox"
done
grep -q 'redacted field' "$tmp/out/logs.jsonl" || fail "the refused report's unknown field is not named as redacted"
logs_ok "$tmp/out/logs.jsonl"

# --- memory bomb: a Failed run that names the limit ---------------------------------------------
if [[ $cgroups == 1 ]]; then
  mkdir "$tmp/bomb"
  printf 'FROM python:3.11-slim\nWORKDIR /app\nCOPY . /app\nCMD ["python3", "bomb.py"]\n' >"$tmp/bomb/Dockerfile"
  printf 'b = []\nwhile True:\n    b.append(bytearray(8 << 20))\n' >"$tmp/bomb/bomb.py"
  rc=0
  "$ESCROW_ENCLAVE_BIN" run --package "$tmp/bomb" --dataset "$tmp/ds" --ds-cek "$cek" \
    --memory-mib 64 -o "$tmp/out-bomb" >/dev/null 2>&1 || rc=$?
  [[ $rc == 1 ]] || fail "memory bomb: exit $rc"
  reason=$(jfield "$tmp/out-bomb/result.json" reason)
  [[ $reason == *"out of memory"* && $reason == *"64 MiB"* ]] || fail "memory bomb reason: $reason"
else
  echo "not root: cgroup limits are not applied, memory bomb test skipped" >&2
fi
echo "isolation: ok"
