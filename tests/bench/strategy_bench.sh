#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# laminar's strategies side by side through the shared harness, with two redis-servers
# (BACKENDS=2): proxy mode, dual_write (mode: command and mode: sync) and dual_lookup on hits;
# dw-command-normal and dw-command-batch (not in the default set) run dual_write's laminar under
# io_scheduling: normal and batch instead of adaptive.
#   tests/bench/strategy_bench.sh           (knobs of ../shared/bench/proxy-bench.sh pass through)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HARNESS=${HARNESS:-$ROOT/../shared/bench/proxy-bench.sh}
[[ -f $HARNESS ]] || { echo "strategy_bench: harness not found at $HARNESS" >&2; exit 2; }

source "$ROOT/scripts/lib.sh"
install_packages
build "$ROOT/build/release" Release -DLAMINAR_TESTS=OFF >/dev/null
export LAMINAR_BIN=$ROOT/build/release/laminar BACKENDS=${BACKENDS:-2}

# run_cmd NAME STRATEGY_YAML [IO_SCHEDULING]: the harness command for one laminar target.
run_cmd() {
    echo "printf 'listen: 127.0.0.1:%s\nthreads: 1\nio_scheduling: ${3:-adaptive}\nlog: {level: warn}\nbackends:\n  old: {address: 127.0.0.1:%s}\n  new: {address: 127.0.0.1:%s}\nroutes:\n  - name: default\n    strategy: $2\n' \
        \$PROXY_PORT \$REDIS1_PORT \$REDIS2_PORT >\$BENCH_TMP/$1.yaml && exec \$BENCH_WRAP \$LAMINAR_BIN -c \$BENCH_TMP/$1.yaml"
}

# STRATEGIES picks targets (default: all). KEYSPACE=1000 makes every GET a hit (the SETs before it
# cover the key space), which is how dual_lookup's cost on hits is measured.
targets=()
for s in ${STRATEGIES:-proxy dw-command dw-sync dual-lookup}; do
    case $s in
        proxy) targets+=(--proxy proxy 7201 "$(run_cmd proxy '{type: proxy, target: old}')") ;;
        dw-command) targets+=(--proxy dw-command 7202 "$(run_cmd dwc '{type: dual_write, primary: old, secondary: new, mode: command}')") ;;
        # dual_write under each io_scheduling mode: does the policy of laminar's thread move it?
        dw-command-normal) targets+=(--proxy dw-cmd-normal 7205 "$(run_cmd dwcn '{type: dual_write, primary: old, secondary: new, mode: command}' normal)") ;;
        dw-command-batch) targets+=(--proxy dw-cmd-batch 7206 "$(run_cmd dwcb '{type: dual_write, primary: old, secondary: new, mode: command}' batch)") ;;
        dw-sync) targets+=(--proxy dw-sync 7203 "$(run_cmd dws '{type: dual_write, primary: old, secondary: new, mode: sync}')") ;;
        dual-lookup) targets+=(--proxy dual-lookup 7204 "$(run_cmd dl '{type: dual_lookup, first: old, second: new}')") ;;
        *) echo "strategy_bench: unknown strategy '$s'" >&2; exit 2 ;;
    esac
done
exec bash "$HARNESS" "${targets[@]}"
