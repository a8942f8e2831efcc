# Shared set-up for the escrow command's tests: source it from a tests/cli/*.test.sh script.
# Gives $tmp (removed at exit), $keys (fixture keys), $examples, and:
#   fail MSG              stop the test with a message
#   expect CODE ARGS...   run `escrow ARGS...` (stdout to $tmp/out, stderr to $tmp/err) and
#                         require exit status CODE
#   json_ok               the last stdout is one JSON document
#   jget KEY...           a value from the last stdout JSON (list indexes as numbers)
set -euo pipefail
: "${ESCROW_BIN:?set ESCROW_BIN to the escrow command}"
: "${ESCROW_TEST_VECTORS:?set ESCROW_TEST_VECTORS to tests/vectors}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
keys=$ESCROW_TEST_VECTORS/keys
examples=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../examples" && pwd)

fail() { echo "FAIL: $*" >&2; exit 1; }
expect() {
  local want=$1 rc=0; shift
  "$ESCROW_BIN" "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
  [[ $rc == "$want" ]] || { cat "$tmp/out" "$tmp/err" >&2; fail "exit $rc, wanted $want: escrow $*"; }
}
json_ok() { python3 -m json.tool "$tmp/out" >/dev/null || fail "stdout is not one JSON document: $(cat "$tmp/out")"; }
jget() {
  python3 - "$tmp/out" "$@" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for k in sys.argv[2:]:
    d = d[int(k)] if isinstance(d, list) else d[k]
print(json.dumps(d) if isinstance(d, (dict, list, bool)) or d is None else d)
PY
}
