#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# What io_scheduling buys and what it risks, for each mode (adaptive, batch, normal), one run:
#   1. CPU per request: laminar (one I/O thread) and redis-benchmark share one core, redis has the
#      other (the harness's PIN=split); 50 clients, -P 1 GET. laminar's user+system CPU from
#      /proc/PID/stat over the run, per request.
#   2. Latency beside CPU-bound work: laminar shares its core with a busy loop; one client on the
#      other core sends GETs one at a time: redis-benchmark's latency percentiles.
# Loopback only; every process it starts is stopped by PID; each load is bounded by -n and timeout.
#   tests/bench/sched_bench.sh          MODES="adaptive normal" N=200000 HOG_N=10000 (defaults below)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$ROOT/scripts/lib.sh"
install_packages
build "$ROOT/build/release" Release -DLAMINAR_TESTS=OFF >/dev/null
BIN=$ROOT/build/release/laminar
MODES=${MODES:-adaptive batch normal}
N=${N:-200000}
HOG_N=${HOG_N:-10000}
REDIS_PORT=${REDIS_PORT:-7311}
PORT=${LAMINAR_PORT:-7312}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/sched-bench.XXXXXX")
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

taskset -c 0 redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no >"$TMP/redis.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-benchmark -p "$REDIS_PORT" -t set -n 100000 -r 100000 -P 16 -q >/dev/null 2>&1

printf '%-9s %12s %12s %10s %10s %10s %10s\n' mode "-P1 ops/s" "-P1 cpu_us" "hog p50ms" "hog p95ms" "hog p99ms" "hog max_ms"
for mode in $MODES; do
    printf 'listen: 127.0.0.1:%s\nthreads: 1\nio_scheduling: %s\nlog: {level: warn}\nbackends:\n  old: {type: redis, address: 127.0.0.1:%s}\nroutes:\n  - name: default\n    strategy: {type: proxy, target: old}\n' \
        "$PORT" "$mode" "$REDIS_PORT" >"$TMP/$mode.yaml"
    taskset -c 1 "$BIN" -c "$TMP/$mode.yaml" &
    lam=$!
    PIDS+=("$lam")
    for _ in $(seq 50); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done

    # 1. CPU per request, client on laminar's core.
    t0=$(cpu_ticks "$lam")
    ops=$(taskset -c 1 timeout 120 redis-benchmark -p "$PORT" -t get -n "$N" -c 50 -P 1 -r 100000 --csv 2>/dev/null | awk -F'"' '/GET/ {print $4}')
    t1=$(cpu_ticks "$lam")
    cpu=$(awk -v a="$t0" -v b="$t1" -v n="$N" -v hz="$hz" 'BEGIN { printf "%.2f", (b - a) * 1e6 / hz / n }')

    # 2. Latency beside a busy loop on laminar's core (the loop ends by itself).
    taskset -c 1 timeout 60 sh -c 'while :; do :; done' &
    hog=$!
    PIDS+=("$hog")
    sleep 1
    lat=$(taskset -c 0 timeout 120 redis-benchmark -p "$PORT" -t get -n "$HOG_N" -c 1 -P 1 -r 100000 --csv 2>/dev/null |
        awk -F'"' '/GET/ {printf "%10s %10s %10s %10s", $10, $12, $14, $16}')
    kill "$hog" "$lam" 2>/dev/null || true
    wait "$hog" "$lam" 2>/dev/null || true
    printf '%-9s %12s %12s %s\n' "$mode" "$ops" "$cpu" "$lat"
done
