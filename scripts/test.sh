#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Install what is missing, build, run every test (unit and integration); then the same suite again
# under AddressSanitizer + UndefinedBehaviorSanitizer; then the libFuzzer targets for a bounded
# time (scripts/fuzz.sh). Exits non-zero on any failure.
#   SANITIZE=0 scripts/test.sh      skip the sanitizer pass
#   FUZZ=0 scripts/test.sh          skip the fuzzing (FUZZ_SECONDS: per target, default 30)
#   CONTAINER=1 scripts/test.sh     also build the container image and check it, and the compose
#                                   demo (scripts/container-test.sh: podman, or docker where a
#                                   daemon answers; 7 to 12 min on 2 cores). Off by default
#                                   and in CI.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

install_packages
build "$ROOT/build/test" RelWithDebInfo
(cd "$ROOT/build/test" && ctest --output-on-failure -j "$JOBS" --timeout 300)

if [[ ${SANITIZE:-1} == 1 ]]; then
    log "sanitizer pass (ASan + UBSan)"
    build "$ROOT/build/asan" Debug -DLAMINAR_SANITIZE=ON
    (cd "$ROOT/build/asan" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        ctest --output-on-failure -j "$JOBS" --timeout 600)
fi
if [[ ${FUZZ:-1} == 1 ]]; then
    log "fuzzing (libFuzzer, ASan + UBSan)"
    bash "$ROOT/scripts/fuzz.sh"
fi
if [[ ${CONTAINER:-0} == 1 ]]; then
    log "container image and compose demo (scripts/container-test.sh)"
    bash "$ROOT/scripts/container-test.sh"
fi
log "all tests passed"
