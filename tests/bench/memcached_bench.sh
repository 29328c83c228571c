#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# laminar -> memcached beside laminar -> redis, through the shared harness, in one run: what the
# memcached translation (pool hand-offs, libmemcached round trips) costs over forwarding RESP.
#   tests/bench/memcached_bench.sh        (knobs of ../shared/bench/proxy-bench.sh pass through;
#                                          default PIPELINES="1", TESTS="set get")
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HARNESS=${HARNESS:-$ROOT/../shared/bench/proxy-bench.sh}
[[ -f $HARNESS ]] || { echo "memcached_bench: harness not found at $HARNESS" >&2; exit 2; }

source "$ROOT/scripts/lib.sh"
install_packages
build "$ROOT/build/release" Release -DLAMINAR_TESTS=OFF >/dev/null
export LAMINAR_BIN=$ROOT/build/release/laminar PIPELINES=${PIPELINES:-1}

# memcached for laminar -> memcached, beside the harness's redis on the backend CPU; stopped at exit.
export MCB_PORT=${MCB_PORT:-7021}
user=()
((EUID == 0)) && user=(-u root)
taskset -c "${CPU_BACKEND:-0}" memcached -l 127.0.0.1 -p "$MCB_PORT" -U 0 -t 1 -m 512 "${user[@]}" &
MC_PID=$!
trap 'kill $MC_PID 2>/dev/null; wait $MC_PID 2>/dev/null || true' EXIT
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$MCB_PORT) 2>/dev/null && break; sleep 0.1; done

run_cmd() {  # NAME BACKEND_YAML
    echo "printf 'listen: 127.0.0.1:%s\nthreads: 1\nlog: {level: warn}\nbackends:\n  b: $2\nroutes:\n  - name: default\n    strategy: b\n' \
        \$PROXY_PORT \$REDIS1_PORT \$MCB_PORT >\$BENCH_TMP/$1.yaml && exec \$BENCH_WRAP \$LAMINAR_BIN -c \$BENCH_TMP/$1.yaml"
}
# POOLS: the memcached backend's pool sizes to compare (one target each).
targets=(--proxy laminar-redis 7301 "$(run_cmd lr '{type: redis, address: 127.0.0.1:%s}%.0s')")
port=7302
for pool in ${POOLS:-2}; do
    targets+=(--proxy "laminar-mc-pool$pool" $port "$(run_cmd "lm$pool" "%.0s{type: memcached, servers: [127.0.0.1:%s], pool: $pool}")")
    port=$((port + 1))
done
bash "$HARNESS" "${targets[@]}"
