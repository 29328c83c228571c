#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Shared by scripts/run.sh and scripts/test.sh: install what is missing, build.

set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
JOBS=${JOBS:-$(nproc)}

# Debian 12 packages laminar builds and tests with. Nothing is downloaded at build time.
PACKAGES=(
    build-essential cmake pkg-config
    libboost-dev libboost-system-dev libhiredis-dev libxxhash-dev libyaml-cpp-dev libspdlog-dev libfmt-dev libcli11-dev
    libmemcached-dev liblzf-dev zlib1g-dev libssl-dev openssl
    libgtest-dev
    redis-server redis-tools memcached
)

log() { echo "laminar: $*" >&2; }

install_packages() {
    local missing=() p
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    ((${#missing[@]})) || return 0
    log "installing Debian packages: ${missing[*]}"
    local sudo=()
    ((EUID == 0)) || sudo=(sudo)
    # Package scripts must not start system-wide redis/memcached: laminar's scripts and tests run their own.
    local made_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee /usr/sbin/policy-rc.d >/dev/null
        "${sudo[@]}" chmod +x /usr/sbin/policy-rc.d
        made_policy=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    if ! "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
        "${sudo[@]}" apt-get update -q >/dev/null
        "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
    fi
    ((made_policy)) && "${sudo[@]}" rm -f /usr/sbin/policy-rc.d
    return 0
}

# build DIR BUILD_TYPE [extra cmake args...]
build() {
    local dir=$1 type=$2
    shift 2
    cmake -S "$ROOT" -B "$dir" -DCMAKE_BUILD_TYPE="$type" "$@" >/dev/null
    cmake --build "$dir" -j "$JOBS"
}
