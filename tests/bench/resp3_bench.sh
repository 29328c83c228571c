#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# RESP3 clients beside RESP2 ones through one laminar (issue 23, point 4): redis-benchmark GET and
# SET at -P 16 (PIPELINE), with and without -3, interleaved REPS times in one run. Prints the
# median ops/s and laminar's CPU per request of each, the RESP3/RESP2 ratios, and the connections
# redis-server counts once both have run (laminar's shared, bulk-less RESP2 and RESP3 lanes).
#   tests/bench/resp3_bench.sh                 builds laminar (Release) first
#   LAMINAR_BIN=build/test/laminar tests/bench/resp3_bench.sh
# Only loopback; redis on cpu0, laminar and the client on cpu1 (PIN=none: no taskset).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
REPS=${REPS:-5}
N=${N:-400000}
CLIENTS=${CLIENTS:-50}
PIPELINE=${PIPELINE:-16}
TARGET=${TARGET:-0.95}  # issue 23: RESP3 GET and SET at -P 16 at least 0.95x the RESP2 figures of the same run
verdicts=
REDIS_PORT=${REDIS_PORT:-7301}
PORT=${LAMINAR_PORT:-7300}
if [[ -z ${LAMINAR_BIN:-} ]]; then
    source "$ROOT/scripts/lib.sh"
    install_packages
    build "$ROOT/build/release" Release -DLAMINAR_TESTS=OFF >/dev/null
    LAMINAR_BIN=$ROOT/build/release/laminar
fi
# Runs "${@:2}" on cpu $1; in a background subshell it execs, so $! is the process itself.
pin() { if [[ ${PIN:-split} == none ]]; then "${@:2}"; else taskset -c "$1" "${@:2}"; fi; }
pinned_exec() { if [[ ${PIN:-split} == none ]]; then exec "${@:2}"; else exec taskset -c "$1" "${@:2}"; fi; }

tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
(pinned_exec 0 redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no >"$tmp/redis.log" 2>&1) &
pids+=($!)
printf 'listen: 127.0.0.1:%s\nthreads: 1\nlog: {level: warn}\nbackends:\n  old: {type: redis, address: 127.0.0.1:%s}\nroutes:\n  - name: default\n    strategy: {type: proxy, target: old}\n' \
    "$PORT" "$REDIS_PORT" >"$tmp/laminar.yaml"
(pinned_exec 1 "$LAMINAR_BIN" -c "$tmp/laminar.yaml" >"$tmp/laminar.log" 2>&1) &
lpid=$!
pids+=($lpid)
for _ in $(seq 100); do
    redis-cli -p "$PORT" ping >/dev/null 2>&1 && break
    sleep 0.1
done
redis-cli -p "$PORT" ping >/dev/null

ticks() { awk '{print $14 + $15}' "/proc/$lpid/stat"; }
hz=$(getconf CLK_TCK)
declare -A ops cpu
for rep in $(seq "$REPS"); do
    for test in set get; do
        for proto in 2 3; do
            flag=()
            [[ $proto == 3 ]] && flag=(-3)
            before=$(ticks)
            rps=$(pin 1 timeout 120 redis-benchmark -p "$PORT" "${flag[@]}" -t "$test" -n "$N" -c "$CLIENTS" -P "$PIPELINE" -d 64 \
                -r 100000 --csv </dev/null 2>/dev/null | tail -1 | cut -d, -f2 | tr -d '"')
            after=$(ticks)
            ops[$test.$proto]+="$rps "
            cpu[$test.$proto]+="$(awk -v t=$((after - before)) -v hz="$hz" -v n="$N" 'BEGIN { printf "%.3f", t / hz * 1e6 / n }') "
        done
    done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
printf '%-5s %12s %12s %8s %14s %14s %8s\n' test resp2_ops resp3_ops ratio resp2_us/req resp3_us/req ratio
for test in set get; do
    o2=$(median <<<"${ops[$test.2]}") o3=$(median <<<"${ops[$test.3]}")
    c2=$(median <<<"${cpu[$test.2]}") c3=$(median <<<"${cpu[$test.3]}")
    ratio=$(awk -v a="$o3" -v b="$o2" 'BEGIN { print a / b }')
    printf '%-5s %12.0f %12.0f %8.3f %14.3f %14.3f %8.3f\n' "$test" "$o2" "$o3" "$ratio" \
        "$c2" "$c3" "$(awk -v a="$c3" -v b="$c2" 'BEGIN { print (b > 0 ? a / b : 0) }')"
    verdicts+="$test RESP3/RESP2 $ratio: $(awk -v r="$ratio" -v t="$TARGET" 'BEGIN { print (r >= t ? "meets" : "BELOW") }') the target $TARGET"$'\n'
done
printf '%s' "$verdicts"
echo "redis connected_clients after both (1 I/O thread, connections: 1, plus this redis-cli): $(redis-cli -p "$REDIS_PORT" info clients | tr -d '\r' | awk -F: '/^connected_clients/ { print $2 }')"
echo "laminar pinned_clients: $(redis-cli -p "$PORT" info laminar | tr -d '\r' | awk -F: '/^pinned_clients/ { print $2 }')"
