#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Quick start: install what is missing, build (Release), start a local redis-server (or memcached)
# for every loopback backend of the config that is not up, and run laminar in the foreground.
#   scripts/run.sh [CONFIG]        (default: config/laminar.yaml)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CONFIG=${1:-$ROOT/config/laminar.yaml}
install_packages
build "$ROOT/build/release" Release -DLAMINAR_TESTS=OFF
BIN=$ROOT/build/release/laminar
"$BIN" --check-config "$CONFIG" >/dev/null

STARTED=()
cleanup() {
    local pid
    for pid in "${STARTED[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
    return 0
}
trap cleanup EXIT

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

while read -r name type host port; do
    [[ $host == 127.* || $host == localhost || $host == ::1 ]] || continue
    if [[ $type == redis_cluster ]]; then
        port_open "$host" "$port" || log "backend '$name': no cluster node at $host:$port (a cluster is not started here: see docs/backends.md, Redis Cluster)"
        continue
    fi
    if port_open "$host" "$port"; then
        log "backend '$name' is up at $host:$port"
        continue
    fi
    dir=$ROOT/build/run/$name
    mkdir -p "$dir"
    if [[ $type == memcached ]]; then
        log "starting memcached for backend '$name' on $host:$port"
        user=()
        ((EUID == 0)) && user=(-u root)  # memcached refuses to run as root otherwise
        memcached -l "$host" -p "$port" -U 0 -m 64 "${user[@]}" >"$dir/memcached.log" 2>&1 &
    else
        log "starting redis-server for backend '$name' on $host:$port (data in $dir)"
        redis-server --bind "$host" --port "$port" --dir "$dir" --save "" --appendonly no --daemonize no >"$dir/redis.log" 2>&1 &
    fi
    STARTED+=($!)
    for _ in $(seq 50); do port_open "$host" "$port" && break; sleep 0.1; done
done < <("$BIN" --list-backends "$CONFIG")

log "running laminar -c $CONFIG (Ctrl-C to stop)"
"$BIN" -c "$CONFIG"
