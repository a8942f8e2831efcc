# Shared set-up for escrow-enclave's shell tests: $tmp (removed at exit), $keys, $examples,
# fail, run_enclave CODE ARGS... (stdout to $tmp/stdout, stderr to $tmp/stderr), jfield FILE KEY...
set -euo pipefail
: "${ESCROW_BIN:?set ESCROW_BIN to the escrow command}"
: "${ESCROW_ENCLAVE_BIN:?set ESCROW_ENCLAVE_BIN to the escrow-enclave command}"
: "${ESCROW_TEST_VECTORS:?set ESCROW_TEST_VECTORS to tests/vectors}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# run folders go to a folder of this test (the sandbox user must traverse it when run as root),
# so that a folder left behind is this test's and not a concurrent run's
chmod 711 "$tmp"
mkdir -m 711 "$tmp/rt"
export TMPDIR=$tmp/rt
keys=$ESCROW_TEST_VECTORS/keys
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
examples=$(cd "$here/../../examples" && pwd)

fail() { echo "FAIL: $*" >&2; exit 1; }
run_enclave() {
  local want=$1 rc=0; shift
  "$ESCROW_ENCLAVE_BIN" "$@" >"$tmp/stdout" 2>"$tmp/stderr" || rc=$?
  if [[ $rc != "$want" ]]; then
    cat "$tmp/stdout" "$tmp/stderr" >&2
    for f in "$tmp"/out*/logs.jsonl; do [[ -f $f ]] && cat "$f" >&2; done
    fail "exit $rc, wanted $want: escrow-enclave $*"
  fi
}
jfield() {
  python3 - "$@" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for k in sys.argv[2:]:
    d = d[int(k)] if isinstance(d, list) else d[k]
print(json.dumps(d) if isinstance(d, (dict, list, bool)) or d is None else d)
PY
}
# every line of logs.jsonl is JSON and says the TEE was simulated
logs_ok() {
  python3 - "$1" <<'PY' || fail "logs.jsonl: not JSON lines that all say simulated_tee"
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert lines
for l in lines:
    assert json.loads(l)["simulated_tee"] is True, l
PY
}
