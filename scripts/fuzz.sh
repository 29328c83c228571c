#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Build the libFuzzer targets (clang 14, ASan + UBSan) in build/fuzz and run each for FUZZ_SECONDS
# over a copy of its seed corpus, tests/fuzz/corpus/<target>/ (what the fuzzer adds stays out of
# the repository). Exits non-zero on the first crash, sanitizer report, leak or hang; the input is
# kept as build/fuzz/artifacts/<target>-crash-<sha1> (re-run: build/fuzz/tests/fuzz/<target> FILE).
#   FUZZ_SECONDS=300 scripts/fuzz.sh        longer runs (default 30 s per target)
#   scripts/fuzz.sh fuzz_config             some targets only
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PACKAGES+=(clang-14 libclang-rt-14-dev)
install_packages

DIR=$ROOT/build/fuzz
SECONDS_EACH=${FUZZ_SECONDS:-30}
if (($#)); then
    targets=("$@")
else
    targets=()
    for f in "$ROOT"/tests/fuzz/fuzz_*.cpp; do targets+=("$(basename "$f" .cpp)"); done
fi

# -O1 as libFuzzer's docs advise: fast enough to fuzz, quick to build.
CC=clang-14 CXX=clang++-14 cmake -S "$ROOT" -B "$DIR" -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_CXX_FLAGS_DEBUG="-O1 -gline-tables-only" -DLAMINAR_FUZZ=ON -DLAMINAR_TESTS=OFF >/dev/null
cmake --build "$DIR" -j "$JOBS" --target "${targets[@]}"

mkdir -p "$DIR/artifacts"
for t in "${targets[@]}"; do
    work=$DIR/corpus/$t
    rm -rf "$work"
    mkdir -p "$work"
    cp "$ROOT/tests/fuzz/corpus/$t"/* "$work/"
    log "fuzzing $t for ${SECONDS_EACH}s"
    if ! ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$DIR/tests/fuzz/$t" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$DIR/artifacts/$t-" "$work" >"$DIR/$t.log" 2>&1; then
        tail -n 80 "$DIR/$t.log" >&2
        log "$t failed; the input is in $DIR/artifacts/"
        exit 1
    fi
    grep -E '^stat::number_of_executed_units' "$DIR/$t.log" | sed "s/^/laminar: $t: /" >&2 || true
done
log "fuzzing passed"
