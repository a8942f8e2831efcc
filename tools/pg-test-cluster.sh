#!/bin/sh
# A throwaway PostgreSQL cluster for escrowd's tests and benchmarks.
#   tools/pg-test-cluster.sh start   initdb in a temporary folder and start it; prints the URL
#   tools/pg-test-cluster.sh url     prints the URL of the running cluster (exit 1 if none)
#   tools/pg-test-cluster.sh stop    stops it and removes the folder
# The cluster listens on a Unix socket in its folder only (no TCP), trusts local connections
# and is owned by the `postgres` user when run as root (PostgreSQL refuses to run as root, and
# CI runs as root). Folder: $ESCROW_PG_DIR (default /tmp/escrow-pg-test-<uid>).
# The URL names the maintenance database "postgres"; tests create their own databases in it.
set -eu

DIR=${ESCROW_PG_DIR:-/tmp/escrow-pg-test-$(id -u)}
DATA=$DIR/data

find_bin() {
  for d in "$(command -v pg_ctl 2>/dev/null | xargs -r dirname)" /usr/lib/postgresql/*/bin; do
    if [ -n "$d" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/initdb" ]; then
      echo "$d"
      return 0
    fi
  done
  echo "pg-test-cluster: PostgreSQL's server programs (initdb, pg_ctl) are not installed;" \
    "run tools/install-deps.sh" >&2
  return 1
}

# Run a command as the cluster's owner.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

url() { echo "postgresql:///postgres?host=$DIR&user=postgres"; }

running() {
  [ -f "$DATA/postmaster.pid" ] && as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

case "${1:-}" in
start)
  BIN=$(find_bin)
  if running; then
    url
    exit 0
  fi
  if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    echo "pg-test-cluster: running as root needs the postgres user (the postgresql package makes it)" >&2
    exit 1
  fi
  rm -rf "$DIR"
  mkdir -p "$DIR"
  chmod 0755 "$DIR"
  if [ "$(id -u)" = 0 ]; then chown postgres "$DIR"; fi
  as_owner "$BIN/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C \
    --no-sync >"$DIR/initdb.log" 2>&1 || {
    cat "$DIR/initdb.log" >&2
    echo "pg-test-cluster: initdb failed" >&2
    exit 1
  }
  # no TCP at all; the socket in $DIR; enough connections for the benchmark's pool and the
  # tests running side by side
  as_owner "$BIN/pg_ctl" -D "$DATA" -l "$DIR/server.log" -w -t 60 \
    -o "-c listen_addresses='' -k $DIR -c max_connections=200 -c shared_buffers=64MB" \
    start >/dev/null || {
    cat "$DIR/server.log" >&2
    echo "pg-test-cluster: the server did not start" >&2
    exit 1
  }
  url
  ;;
url)
  BIN=$(find_bin)
  if ! running; then
    echo "pg-test-cluster: no cluster is running in $DIR (tools/pg-test-cluster.sh start)" >&2
    exit 1
  fi
  url
  ;;
stop)
  BIN=$(find_bin)
  if running; then as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null; fi
  rm -rf "$DIR"
  ;;
*)
  echo "usage: tools/pg-test-cluster.sh start|url|stop" >&2
  exit 2
  ;;
esac
