#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# laminar beside twemproxy and direct redis, through the shared harness
# (../shared/bench/proxy-bench.sh, relative to the repository root).
#   tests/bench/proxy_bench.sh              laminar on one I/O thread (as twemproxy), PIN=split
#   THREADS=2 PIN=none tests/bench/proxy_bench.sh   laminar on two I/O threads, unpinned
#   RESP3=1 tests/bench/proxy_bench.sh      the RESP3 targets instead (issue 23: GET and SET at -P 16
#                                           at least 0.95x RESP2 in the same run, backend connections
#                                           not growing with RESP3 clients), through resp3_bench.sh:
#                                           the shared harness cannot pass redis-benchmark's -3
# Knobs of the harness (SCALE, REPS, PIPELINES, ...) pass through. Builds laminar (Release) first.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HARNESS=${HARNESS:-$ROOT/../shared/bench/proxy-bench.sh}
[[ -x $HARNESS || -f $HARNESS ]] || { echo "proxy_bench: harness not found at $HARNESS" >&2; exit 2; }
THREADS=${THREADS:-1}
PORT=${LAMINAR_PORT:-7200}

source "$ROOT/scripts/lib.sh"
install_packages
build "$ROOT/build/release" Release -DLAMINAR_TESTS=OFF >/dev/null

export LAMINAR_BIN=$ROOT/build/release/laminar LAMINAR_THREADS=$THREADS
[[ ${RESP3:-0} == 1 ]] && exec bash "$ROOT/tests/bench/resp3_bench.sh"
exec bash "$HARNESS" twemproxy --proxy laminar "$PORT" \
    'printf "listen: 127.0.0.1:%s\nthreads: %s\nlog: {level: warn}\nbackends:\n  old: {type: redis, address: 127.0.0.1:%s}\nroutes:\n  - name: default\n    strategy: {type: proxy, target: old}\n" \
        $PROXY_PORT $LAMINAR_THREADS $REDIS1_PORT >$BENCH_TMP/laminar.yaml &&
     exec $BENCH_WRAP $LAMINAR_BIN -c $BENCH_TMP/laminar.yaml'
