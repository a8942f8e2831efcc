#!/usr/bin/env bash
# escrowd under load (issue 6): wrk with 200 concurrent keep-alive connections reading
#   - the project page      GET /api/v1/project?project_id=P       (project, parties, members)
#   - the artifact listing  GET /api/v1/artifact/?project_id=P     (the versions a DS sees)
# each request with an RS256 JWT made as the API sample makes it (the same token on every
# request, as a client sends it during its life: escrowd checks its signature with RSA once and
# its claims and the caller's membership every time; BENCH_TOKENS=N sends N distinct tokens in
# turn, N > 8 making every request an RSA check), on SQLite and on PostgreSQL (a throwaway cluster of
# tools/pg-test-cluster.sh, started and stopped here when none runs). Prints p50/p99 latency,
# requests/s and errors (non-2xx answers, socket errors), and the command that reproduces them.
# Goal: p99 <= 50 ms with no errors at 200 connections on two cores.
#
#   bench/bench_server.sh BUILD_DIR [sqlite|pg|both] [SECONDS] [CONNECTIONS]
#
# Build in a release-like mode first (cmake -DCMAKE_BUILD_TYPE=RelWithDebInfo). wrk and
# escrowd share the machine's cores: on two cores the figures include wrk's own CPU use.
# Needs wrk and python3 with `cryptography` (tools/install-deps.sh installs both).
# ESCROWD_BENCH_ARGS adds serve options (e.g. "--workers 4").
# Besides latency it prints escrowd's own CPU time per request (from /proc), the figure that
# does not depend on what else the machine runs.
set -euo pipefail
build=${1:?usage: bench/bench_server.sh BUILD_DIR [sqlite|pg|both] [SECONDS] [CONNECTIONS]}
which=${2:-both}
secs=${3:-15}
conns=${4:-200}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
escrowd=$build/server/escrowd
keys=$root/tests/vectors/keys
[[ -x $escrowd ]] || { echo "bench_server: no $escrowd (build first)" >&2; exit 2; }
command -v wrk >/dev/null || { echo "bench_server: wrk is not installed (tools/install-deps.sh)" >&2; exit 2; }
work=$(mktemp -d)
pid=""
started_pg=0
cleanup() {
  [[ -n $pid ]] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  ((started_pg)) && bash "$root/tools/pg-test-cluster.sh" stop >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
cmd="bench/bench_server.sh $build $which $secs $conns"
[[ -n ${ESCROWD_BENCH_ARGS:-} ]] && cmd="ESCROWD_BENCH_ARGS=\"$ESCROWD_BENCH_ARGS\" $cmd"
[[ -n ${BENCH_TOKENS:-} ]] && cmd="BENCH_TOKENS=$BENCH_TOKENS $cmd"

# pg_cpu DB: user + system CPU ticks of the PostgreSQL backends connected to database DB
pg_cpu() {
  local t=0 p
  for p in $(pgrep -f "postgres: [^ ]+ $1 " || true); do
    t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$t"
}
# pg_xacts URL DB: the transactions DB has seen (busy backends report them every second, so
# over a run of SECONDS the count is right to about one second's worth)
pg_xacts() {
  psql -X -qtA "$1" -c "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '$2'"
}

# run BACKEND: set up a data folder (and database) with one project, upload versions, load it.
run() {
  local backend=$1 data=$work/$1 db=() base="" name=""
  if [[ $backend == pg ]]; then
    if ! base=$(bash "$root/tools/pg-test-cluster.sh" url 2>/dev/null); then
      base=$(bash "$root/tools/pg-test-cluster.sh" start)
      started_pg=1
    fi
    name=escrowd_bench_$$
    psql -X -q "$base" -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" -c "CREATE DATABASE $name"
    db=(--database "${base/\/postgres\?//$name?}")
  fi
  local a=("$escrowd" admin --data "$data" "${db[@]}")
  "${a[@]}" create-org --name AO >/dev/null
  "${a[@]}" create-org --name DS >/dev/null
  "${a[@]}" create-user --org AO --email ao@bench.test --public-key "$keys/kek3072.pub.pem" >/dev/null
  "${a[@]}" create-user --org DS --email ds@bench.test --public-key "$keys/kek4096.pub.pem" >/dev/null
  local project
  "${a[@]}" create-project --name Bench --ao-org AO --ds-org DS --kek-bits 3072 \
    --ao-user ao@bench.test --ds-user ds@bench.test >"$work/project.json"
  project=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$work/project.json")
  # --runners 0: the benchmark reads; no run is started
  "$escrowd" serve --data "$data" "${db[@]}" --listen 127.0.0.1:0 --runners 0 ${ESCROWD_BENCH_ARGS:-} \
    >"$work/listen" 2>"$work/$backend.log" &
  pid=$!
  for _ in $(seq 600); do
    [[ -s $work/listen ]] && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/$backend.log" >&2; pid=""; exit 2; }
    sleep 0.1
  done
  [[ -s $work/listen ]] || { echo "bench_server: escrowd did not start in 60 s" >&2; cat "$work/$backend.log" >&2; exit 2; }
  local addr
  addr=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["listening"])' "$work/listen")
  # 20 attestation versions (DS) and 10 specification versions (AO) to list, and a token
  python3 - "$addr" "$project" "$keys" "$work/token" <<'EOF'
import base64, json, os, sys, time, urllib.request, uuid
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
addr, project, keys, out = sys.argv[1:]
def b64u(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
def jwt(keyfile, email, life):
    with open(f"{keys}/{keyfile}", "rb") as f:
        key = serialization.load_pem_private_key(f.read(), None)
    si = b64u(json.dumps({"alg": "RS256", "typ": "JWT"}).encode()) + "." + b64u(json.dumps(
        {"iss": "EscrowAI-API", "exp": int(time.time()) + life, "sub": project, "user": email,
         "aud": "frontoffice.beekeeperai"}).encode())
    return si + "." + b64u(key.sign(si.encode(), padding.PKCS1v15(), hashes.SHA256()))
def upload(tok, path, fields, fname, data):
    bd = uuid.uuid4().hex
    body = b"".join(f"--{bd}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n".encode()
                    for k, v in fields.items())
    body += (f"--{bd}\r\nContent-Disposition: form-data; name=\"file_name\"; filename=\"{fname}\"\r\n"
             "Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{bd}--\r\n".encode()
    rq = urllib.request.Request(f"http://{addr}{path}", body, method="POST", headers={
        "Authorization": "Bearer " + tok, "Content-Type": "multipart/form-data; boundary=" + bd})
    assert urllib.request.urlopen(rq).status == 201
ds, ao = jwt("kek4096.key.pem", "ds@bench.test", 600), jwt("kek3072.key.pem", "ao@bench.test", 600)
for i in range(20):
    upload(ds, "/api/v1/data-attestation/", {"project_id": project, "name": "Attestation",
           "version_tag": f"a{i}", "description": "bench"}, "att.pdf", b"%PDF-1.4\n" + bytes([i]) * 1000)
for i in range(10):
    upload(ao, "/api/v1/data-specification/", {"project_id": project, "name": "Specification",
           "version_tag": f"s{i}", "description": "bench"}, "spec.pdf", b"%PDF-1.4\n" + bytes([i]) * 1000)
# the Lua script wrk sends with: one token (as a client sends its token until it expires), or
# BENCH_TOKENS distinct ones in turn (more than escrowd remembers per user: an RSA check each)
n = int(os.environ.get("BENCH_TOKENS", "1"))
toks = [jwt("kek4096.key.pem", "ds@bench.test", 3500 - i) for i in range(n)]
with open(out, "w") as f:
    if n == 1:
        f.write('wrk.headers["Authorization"] = "Bearer %s"\n' % toks[0])
    else:
        f.write("tokens = {%s}\ni = 0\nrequest = function()\n  i = i %% #tokens + 1\n"
                "  return wrk.format(nil, nil, {Authorization = \"Bearer \" .. tokens[i]})\nend\n"
                % ",".join('"%s"' % t for t in toks))
EOF
  cp "$work/token" "$work/auth.lua"
  local what path
  for what in project artifacts; do
    if [[ $what == project ]]; then path="/api/v1/project?project_id=$project"; else path="/api/v1/artifact/?project_id=$project"; fi
    # a short warm-up (connections, statement caches), then the measured run
    wrk -t2 -c"$conns" -d2s -s "$work/auth.lua" "http://$addr$path" >/dev/null 2>&1 || true
    sleep 1 # the warm-up's connections are gone before the measured run opens its own
    local cpu0 cpu1 pgcpu0=0 pgcpu1=0 xact0=0 xact1=0
    cpu0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    if [[ $backend == pg ]]; then pgcpu0=$(pg_cpu "$name"); xact0=$(pg_xacts "$base" "$name"); fi
    wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$work/auth.lua" "http://$addr$path" >"$work/wrk.out" 2>&1
    cpu1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    if [[ $backend == pg ]]; then pgcpu1=$(pg_cpu "$name"); xact1=$(pg_xacts "$base" "$name"); fi
    python3 - "$work/wrk.out" "$backend" "$what" "$((cpu1 - cpu0))" "$(getconf CLK_TCK)" \
      "$((pgcpu1 - pgcpu0))" "$((xact1 - xact0))" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
def lat(q):
    m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s)\s*$" % q, text, re.M)
    if not m: return float("nan")
    return float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
total = re.search(r"(\d+) requests in", text)
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
errs = (int(non2xx.group(1)) if non2xx else 0) + (sum(int(x) for x in sock.groups()) if sock else 0)
detail = ""
if errs:
    detail = " (non-2xx %s; connect/read/write/timeout %s)" % (
        non2xx.group(1) if non2xx else 0, "/".join(sock.groups()) if sock else "0/0/0/0")
p99 = lat(99)
n = int(total.group(1)) if total else 0
# escrowd's own CPU time per request (user + system, from /proc): independent of other load
cpu_us = int(sys.argv[4]) / int(sys.argv[5]) * 1e6 / n if n else float("nan")
print(f"{sys.argv[2]:6} {sys.argv[3]:9} p50 {lat(50):7.2f} ms  p99 {p99:7.2f} ms  "
      f"{float(rps.group(1)) if rps else 0:6.0f} req/s  {n:6d} requests  errors {errs}{detail}  "
      f"escrowd CPU {cpu_us:4.0f} us/request  goal p99<=50ms: {'met' if p99 <= 50 and errs == 0 else 'NOT met'}")
if sys.argv[2] == "pg" and n:
    # the PostgreSQL backends serving escrowd (their CPU from /proc) and their statements (each
    # autocommit statement is one transaction in pg_stat_database, a transaction block one)
    print(f"{'':6} {'':9} PostgreSQL backend CPU {int(sys.argv[6]) / int(sys.argv[5]) * 1e6 / n:4.0f} us/request,"
          f" {int(sys.argv[7]) / n:4.2f} transactions/request (about)")
EOF
  done
  kill -TERM "$pid"
  wait "$pid" || true
  pid=""
  if [[ $backend == pg ]]; then
    psql -X -q "${base}" -c "DROP DATABASE IF EXISTS escrowd_bench_$$ WITH (FORCE)" || true
  fi
}

echo "escrowd ${ESCROWD_BENCH_ARGS:-(defaults)} on $(nproc) cores (load average" \
  "$(cut -d' ' -f1-3 /proc/loadavg) before the run), wrk -t2 -c$conns -d${secs}s," \
  "${BENCH_TOKENS:-1} RS256 token(s) (4096-bit key) in turn"
case $which in
sqlite) run sqlite ;;
pg) run pg ;;
both) run sqlite; run pg ;;
*) echo "bench_server: sqlite, pg or both" >&2; exit 2 ;;
esac
echo "reproduce: $cmd"
