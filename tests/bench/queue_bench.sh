#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# queued_write (ack: queued) beside proxy mode and direct redis, through the shared harness, in one
# run: SET throughput and latency with the queue's fsync at everysec and at always (group commit).
# Two redis-servers (BACKENDS=2): the queue applies every SET to both.
#   tests/bench/queue_bench.sh          (knobs of ../shared/bench/proxy-bench.sh pass through;
#                                        default TESTS="set")
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HARNESS=${HARNESS:-$ROOT/../shared/bench/proxy-bench.sh}
[[ -f $HARNESS ]] || { echo "queue_bench: harness not found at $HARNESS" >&2; exit 2; }

source "$ROOT/scripts/lib.sh"
install_packages
build "$ROOT/build/release" Release -DLAMINAR_TESTS=OFF >/dev/null
export LAMINAR_BIN=$ROOT/build/release/laminar BACKENDS=${BACKENDS:-2} TESTS=${TESTS:-set}

# run_cmd NAME STRATEGY_YAML [QUEUE_YAML]: the harness command for one laminar target; the queue
# lives in the harness's scratch dir, emptied before each start.
run_cmd() {
    echo "rm -rf \$BENCH_TMP/$1.q && printf 'listen: 127.0.0.1:%s\nthreads: 1\nlog: {level: warn}\nqueue: {dir: %s, ${3:-fsync: no}}\nbackends:\n  old: {address: 127.0.0.1:%s}\n  new: {address: 127.0.0.1:%s}\nroutes:\n  - name: default\n    strategy: $2\n' \
        \$PROXY_PORT \$BENCH_TMP/$1.q \$REDIS1_PORT \$REDIS2_PORT >\$BENCH_TMP/$1.yaml && exec \$BENCH_WRAP \$LAMINAR_BIN -c \$BENCH_TMP/$1.yaml"
}
queued='{type: queued_write, primary: old, queued: [new], ack: queued}'
exec bash "$HARNESS" \
    --proxy proxy 7401 "$(run_cmd proxy '{type: proxy, target: old}')" \
    --proxy queued-everysec 7402 "$(run_cmd qe "$queued" 'fsync: everysec')" \
    --proxy queued-always 7403 "$(run_cmd qa "$queued" 'fsync: always')"
