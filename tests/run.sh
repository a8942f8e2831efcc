#!/usr/bin/env bash
# Run every test of the project: the README's test command, and what CI runs.
#
#   1. a normal build (warnings as errors) and its ctest suite: CMocka unit tests over the
#      shared vectors, the escrow command's tests, Node Web Crypto interoperability tests;
#   2. the same suite built with AddressSanitizer + UndefinedBehaviorSanitizer;
#   3. the unit tests under valgrind (memcheck, leaks as errors);
#   4. every libFuzzer target for a bounded time (FUZZ_SECONDS, default 30) from its seed corpus,
#      JOBS of them at a time.
#
# Environment: FUZZ_SECONDS (0 skips fuzzing), SKIP_VALGRIND=1, JOBS (default: nproc).
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash tools/install-deps.sh || { echo "tests: installing dependencies failed" >&2; exit 2; }

# PostgreSQL for escrowd's server_*_pg tests: a throwaway cluster of this run (Unix socket in
# a temporary folder, no TCP), stopped and removed on exit. The pg tests fail, not skip, when
# it is not running (ESCROWD_PG_REQUIRED=1).
export ESCROW_PG_DIR
ESCROW_PG_DIR=$(mktemp -d /tmp/escrow-pg.XXXXXX)
export ESCROWD_PG_REQUIRED=1
trap 'bash tools/pg-test-cluster.sh stop >/dev/null 2>&1 || true' EXIT
if pg_url=$(bash tools/pg-test-cluster.sh start); then
  echo "tests: PostgreSQL test cluster at $pg_url"
else
  echo "tests: the PostgreSQL test cluster did not start; the server_*_pg tests will fail" >&2
fi

jobs=${JOBS:-$(nproc)}
fuzz_seconds=${FUZZ_SECONDS:-30}
passed=0
failed=0
failures=()

stage() { printf '\n==== %s ====\n' "$*"; }
record() { # record NAME STATUS
  if [[ $2 -eq 0 ]]; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("$1"); fi
}

# ctest_stage NAME BUILD_DIR: run the suite, count its tests.
ctest_stage() {
  local name=$1 dir=$2 log
  log=$(mktemp)
  ctest --test-dir "$dir" -j "$jobs" --output-on-failure 2>&1 | tee "$log"
  local total fail
  total=$(sed -nE 's/.*tests passed, ([0-9]+) tests? failed out of ([0-9]+).*/\2/p' "$log" | tail -1)
  fail=$(sed -nE 's/.*tests passed, ([0-9]+) tests? failed out of ([0-9]+).*/\1/p' "$log" | tail -1)
  if [[ -z $total ]]; then
    record "$name: ctest did not run" 1
  else
    passed=$((passed + total - fail))
    failed=$((failed + fail))
    ((fail == 0)) || failures+=("$name: $fail ctest test(s), see above")
  fi
  rm -f "$log"
}

build() { # build DIR CMAKE_ARGS...
  local dir=$1
  shift
  cmake -S . -B "$dir" -G Ninja "$@" >/dev/null && ninja -C "$dir"
}

stage "build (RelWithDebInfo, -Werror)"
if build build -DESCROW_BUILD_TESTS=ON -DESCROW_BUILD_TOOLS=ON -DESCROW_BUILD_BENCH=ON \
     -DESCROW_SANITIZE=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo; then
  stage "tests"
  ctest_stage "tests" build
else
  record "build" 1
fi

stage "build with AddressSanitizer + UndefinedBehaviorSanitizer"
if build build-asan -DESCROW_SANITIZE=ON -DESCROW_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug; then
  stage "tests under ASan + UBSan"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest_stage "asan" build-asan
else
  record "asan build" 1
fi

if [[ ${SKIP_VALGRIND:-0} != 1 && -d build/tests ]]; then
  stage "unit tests under valgrind"
  # Every CMocka program: the library's (build/tests) and the programs' (build/server, ...).
  for t in $(find build -path '*/CMakeFiles' -prune -o -type f -executable -name 'test_*' -print | sort); do
    name=$(basename "$t")
    if valgrind -q --error-exitcode=99 --leak-check=full \
         --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
         "$t" >"build/$name.valgrind.log" 2>&1; then
      echo "valgrind $name: clean"
      record "valgrind $name" 0
    else
      cat "build/$name.valgrind.log"
      echo "valgrind $name: FAILED"
      record "valgrind $name" 1
    fi
  done
fi

if ((fuzz_seconds > 0)); then
  stage "fuzz targets, ${fuzz_seconds}s each"
  if build build-fuzz -DESCROW_FUZZ=ON -DCMAKE_C_COMPILER=clang -DESCROW_BUILD_TOOLS=OFF \
       -DESCROW_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug; then
    # one target per core at a time; each writes its own log, read back in order below
    fuzz_one() { # fuzz_one TARGET: exit status of the fuzzer
      local f=$1 name corpus seeds rc
      name=$(basename "$f")
      corpus=$(mktemp -d)
      seeds="tests/fuzz/corpus/${name#fuzz_}"
      [[ -d $seeds ]] && cp -r "$seeds/." "$corpus/"
      "$f" -max_total_time="$fuzz_seconds" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="build-fuzz/$name-" "$corpus" >"build-fuzz/$name.log" 2>&1
      rc=$?
      rm -rf "$corpus"
      echo "$rc" >"build-fuzz/$name.rc"
    }
    targets=()
    for f in build-fuzz/tests/fuzz_*; do [[ -x $f ]] && targets+=("$f"); done
    for f in "${targets[@]}"; do
      while (($(jobs -rp | wc -l) >= jobs)); do wait -n; done
      fuzz_one "$f" &
    done
    wait
    for f in "${targets[@]}"; do
      name=$(basename "$f")
      if [[ $(cat "build-fuzz/$name.rc" 2>/dev/null) == 0 ]]; then
        echo "$name: $(grep -E '^Done [0-9]+ runs' "build-fuzz/$name.log" || echo ok)"
        record "$name" 0
      else
        tail -40 "build-fuzz/$name.log"
        echo "$name: FAILED (crash input kept as build-fuzz/$name-*)"
        record "$name" 1
      fi
    done
  else
    record "fuzz build" 1
  fi
fi

stage "summary"
for f in "${failures[@]}"; do echo "failed: $f"; done
echo "tests: $passed passed, $failed failed"
((failed == 0))
