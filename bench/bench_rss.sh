#!/usr/bin/env bash
# Peak resident memory of `escrow encrypt` and `escrow decrypt` on a large file (goal: <= 16 MiB
# whatever the file size, since the envelope streams one chunk at a time).
#
# usage: bench/bench_rss.sh [ESCROW_BIN] [SIZE]
#   ESCROW_BIN  the escrow command (default: build/tools/escrow/escrow under the repository)
#   SIZE        file size as head -c understands it (default 4G)
#   TMPDIR      where the files go (needs 3 x SIZE free); everything is deleted at the end
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-$here/../build/tools/escrow/escrow}
size=${2:-4G}
if [[ ! -x $bin ]]; then
  echo "bench_rss: no escrow command at '$bin' (build it, or pass its path as \$1)" >&2
  exit 2
fi
if [[ ! -x /usr/bin/time ]]; then
  echo "bench_rss: /usr/bin/time (GNU time) is needed for -v" >&2
  exit 2
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/escrow-rss.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "command: $0 $bin $size"
head -c 32 /dev/urandom >"$work/cek.key"
# Incompressible content fast: AES-CTR keystream (falls back to /dev/urandom).
if ! openssl enc -aes-256-ctr -nosalt -pbkdf2 -pass pass:escrow-bench-rss </dev/zero 2>/dev/null |
  head -c "$size" >"$work/plain.bin" || [[ ! -s $work/plain.bin ]]; then
  head -c "$size" /dev/urandom >"$work/plain.bin"
fi
bytes=$(stat -c %s "$work/plain.bin")
echo "input: $bytes bytes"

measure() { # label, then the command
  local label=$1
  shift
  /usr/bin/time -v "$@" 2>"$work/time.txt" >/dev/null || {
    echo "bench_rss: $label failed:" >&2
    cat "$work/time.txt" >&2
    exit 1
  }
  local kb wall
  kb=$(sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): //p' "$work/time.txt")
  wall=$(sed -n 's/^[[:space:]]*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$work/time.txt")
  printf '%-8s peak RSS %7d KiB (%.1f MiB)  wall %s   goal <= 16 MiB\n' "$label" "$kb" \
    "$(echo "$kb / 1024" | bc -l)" "$wall"
  echo "         ran: /usr/bin/time -v $* (temporary files, deleted at the end: rerun the script)"
}

measure encrypt "$bin" encrypt --cek "$work/cek.key" "$work/plain.bin" -o "$work/plain.bin.bkenc"
rm -f "$work/time.txt"
measure decrypt "$bin" decrypt --cek "$work/cek.key" "$work/plain.bin.bkenc" -o "$work/back.bin"
if cmp -s "$work/plain.bin" "$work/back.bin"; then
  echo "round trip: identical"
else
  echo "bench_rss: the decrypted file differs from the input" >&2
  exit 1
fi
