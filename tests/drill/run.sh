#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The migration drill by hand: builds, then runs both drills (Redis -> Redis, Memcached -> Redis)
# against servers of their own on loopback. DRILL_SECONDS=N keeps the writer N seconds in each
# phase (default 1); each drill is bounded by that and by its own timeouts.
#   tests/drill/run.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
install_packages
build "$ROOT/build/test" RelWithDebInfo >/dev/null
exec "$ROOT/build/test/tests/drill_tests" "$@"
